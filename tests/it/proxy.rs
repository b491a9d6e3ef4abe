//! A fault-injecting HTTP/1.1 proxy on loopback, between poof and the test
//! S3 server, for the fault and kill tests.
//!
//! It parses just enough HTTP to count requests on keep-alive connections
//! (request line, headers, `Content-Length` or chunked bodies) and, for each
//! request that its `Faults` select, drops the connection, answers an error
//! without forwarding, stalls, holds the request until released, cuts the
//! answer mid-body or flips a byte of it (or of the request body). Which
//! requests fail is a pure function of the seed and of the request's number,
//! so a failing run can be replayed.
//!
//! Invariants: it only ever listens on and connects to 127.0.0.1; every
//! thread it starts ends once the proxy is dropped (reads time out, holds
//! are released); request bytes are forwarded unchanged (unless the fault is
//! `FlipRequest`), so SigV4 signatures stay valid.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One thing that can go wrong with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection without forwarding the request.
    Drop,
    /// Forward the request (the server acts on it), then close the
    /// connection instead of passing the answer on.
    DropAfterForward,
    /// Answer with this status (500, 503, ...) and an S3 error body, without forwarding.
    Status(u16),
    /// Answer 503 with S3's `SlowDown` error body, without forwarding.
    SlowDown,
    /// Wait this many milliseconds, then forward.
    Stall(u64),
    /// Forward, pass on the answer's head and half of its body, then close.
    CutBody,
    /// Forward, and flip one byte of the answer's body (when it has one).
    FlipByte,
    /// Flip one byte of the request's body (when it has one), then forward.
    FlipRequest,
    /// Hold the request, unforwarded, until the proxy is dropped or `release`d.
    Hold,
}

/// Which requests a schedule counts and may fail.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this method (`GET`, `PUT`, ...), when set.
    pub method: Option<&'static str>,
    /// Only requests whose path (after the bucket) names an object, not the
    /// bucket itself, and not poof's manifests.
    pub objects_only: bool,
}

/// When a selected request fails.
#[derive(Debug, Clone)]
pub enum When {
    /// Never: the proxy only forwards and counts.
    Never,
    /// The k-th selected requests (counting from 1).
    Nth(Vec<usize>),
    /// Every selected request from the k-th on.
    From(usize),
    /// Each selected request with this probability, drawn from the seed.
    Probability(f64),
}

/// What the proxy does to which requests.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Picks the failing requests (with `Probability`) and the fault of each.
    pub seed: u64,
    /// Which requests are counted.
    pub filter: Filter,
    /// When a counted request fails.
    pub when: When,
    /// The faults to choose from, by the seed.
    pub what: Vec<Fault>,
    /// At most this many faults in all, when set.
    pub max: Option<usize>,
}

impl Faults {
    /// Forward everything.
    pub fn none() -> Self {
        Faults {
            seed: 0,
            filter: Filter::default(),
            when: When::Never,
            what: Vec::new(),
            max: None,
        }
    }

    /// Each request fails with probability `p`, with one of `what`.
    pub fn random(seed: u64, p: f64, what: &[Fault]) -> Self {
        Faults {
            seed,
            when: When::Probability(p),
            what: what.to_vec(),
            ..Faults::none()
        }
    }

    /// The fault (if any) for the `k`-th selected request.
    fn pick(&self, k: usize, injected: usize) -> Option<Fault> {
        if self.what.is_empty() || self.max.is_some_and(|m| injected >= m) {
            return None;
        }
        let h = mix(self.seed ^ mix(k as u64));
        let hit = match &self.when {
            When::Never => false,
            When::Nth(ks) => ks.contains(&k),
            When::From(first) => k >= *first,
            When::Probability(p) => ((h % 1_000_000) as f64) < p * 1_000_000.0,
        };
        hit.then(|| self.what[((h >> 32) % self.what.len() as u64) as usize])
    }
}

/// SplitMix64's finaliser: a well-spread hash of a number, for seeded choices.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A small deterministic random generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `n` pseudo-random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n + 8);
        while out.len() < n {
            out.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        out.truncate(n);
        out
    }
}

/// What the proxy saw and did.
#[derive(Debug, Default)]
struct State {
    faults: Mutex<Option<Faults>>,
    /// Requests seen, all of them.
    requests: AtomicUsize,
    /// Requests the filter selected.
    selected: AtomicUsize,
    /// Faults injected.
    injected: AtomicUsize,
    /// Requests held right now.
    held: AtomicUsize,
    /// Set to let held requests go on.
    released: AtomicBool,
    /// Set when the proxy is dropped.
    stopping: AtomicBool,
    /// One line per injected fault, for failure messages.
    log: Mutex<Vec<String>>,
    /// One line per selected request: method, target and `Range` header.
    selected_log: Mutex<Vec<String>>,
    /// Selected requests being served right now (from their arrival to
    /// the end of their answer), and the most there were at once.
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

/// Counts a selected request in flight while it lives.
struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    fn new(st: &'a State) -> Self {
        let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        st.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(st)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, faults: Faults) -> Proxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("the upstream is http://IP:PORT");
        assert!(
            upstream.ip().is_loopback(),
            "the proxy only talks to loopback"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        *state.faults.lock().unwrap() = Some(faults);
        let st = state.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &st);
                });
            }
        });
        Proxy {
            addr,
            state,
            accept: Some(accept),
        }
    }

    /// `http://127.0.0.1:PORT`, for the cloud config's `endpoint`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the fault schedule, and starts counting selected requests
    /// and injected faults afresh (`requests` goes on); holds hold again.
    pub fn set(&self, faults: Faults) {
        let mut f = self.state.faults.lock().unwrap();
        self.state.selected.store(0, Ordering::SeqCst);
        self.state.injected.store(0, Ordering::SeqCst);
        self.state.log.lock().unwrap().clear();
        self.state.selected_log.lock().unwrap().clear();
        self.state.peak.store(0, Ordering::SeqCst);
        self.state.released.store(false, Ordering::SeqCst);
        *f = Some(faults);
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Faults injected since the last `set`.
    pub fn injected(&self) -> usize {
        self.state.injected.load(Ordering::SeqCst)
    }

    /// Requests held right now.
    pub fn held(&self) -> usize {
        self.state.held.load(Ordering::SeqCst)
    }

    /// Lets every held request (and any later `Hold`, until the next `set`) go on.
    pub fn release(&self) {
        self.state.released.store(true, Ordering::SeqCst);
    }

    /// The injected faults, one line each.
    pub fn log(&self) -> String {
        self.state.log.lock().unwrap().join("\n")
    }

    /// The most selected requests served at once since the last `set`.
    pub fn peak(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// The requests the filter selected since the last `set`, one line
    /// each: `METHOD TARGET RANGE` (`-` without a `Range` header).
    pub fn selected(&self) -> Vec<String> {
        self.state.selected_log.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop up.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// A parsed message head (also read by the fake credential services of
/// credentials.rs).
pub struct Head {
    raw: Vec<u8>,
    /// Request: method; response: the status code as text.
    pub first: String,
    /// Request: the target; response: unused.
    pub second: String,
    /// The header fields, as sent.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// The `Content-Length`, when the message has one.
    pub fn content_length(&self) -> Option<usize> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }
}

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one client connection, request after request.
fn serve(client: TcpStream, upstream: SocketAddr, st: &State) -> io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_nodelay(true)?;
    let mut to_client = client.try_clone()?;
    let mut from_client = BufReader::new(client);
    let mut up: Option<(TcpStream, BufReader<TcpStream>)> = None;
    loop {
        if st.stopping.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(head) = read_head(&mut from_client)? else {
            return Ok(());
        };
        let mut body = if head.chunked() {
            read_chunked(&mut from_client, true)?
        } else {
            read_exact_vec(&mut from_client, head.content_length().unwrap_or(0))?
        };
        let k = st.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let (selected, fault) = choose(&head, st);
        let _in_flight = selected.then(|| InFlight::new(st));
        if let Some(f) = fault {
            st.log.lock().unwrap().push(format!(
                "request {k}: {} {} -> {f:?}",
                head.first, head.second
            ));
        }
        match fault {
            Some(Fault::Drop) => {
                let _ = to_client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::Status(code)) => {
                answer_error(&mut to_client, &head, code, status_code(code))?;
                continue;
            }
            Some(Fault::SlowDown) => {
                answer_error(&mut to_client, &head, 503, "SlowDown")?;
                continue;
            }
            Some(Fault::Stall(ms)) => std::thread::sleep(Duration::from_millis(ms)),
            Some(Fault::Hold) => {
                st.held.fetch_add(1, Ordering::SeqCst);
                // Bounded: a held request ends when the proxy goes or after five minutes.
                for _ in 0..30_000 {
                    if st.released.load(Ordering::SeqCst) || st.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                st.held.fetch_sub(1, Ordering::SeqCst);
                if st.stopping.load(Ordering::SeqCst) {
                    return Ok(());
                }
            }
            Some(Fault::FlipRequest) if !body.is_empty() && !head.chunked() => {
                let at = (mix(k as u64) % body.len() as u64) as usize;
                body[at] ^= 0x20;
            }
            _ => {}
        }
        // Forward, reconnecting once when a kept-alive upstream connection went stale.
        let mut answer = None;
        for _ in 0..2 {
            if up.is_none() {
                let s = TcpStream::connect(upstream)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                up = Some((s.try_clone()?, BufReader::new(s)));
            }
            let (w, r) = up.as_mut().unwrap();
            let sent = w.write_all(&head.raw).and_then(|_| w.write_all(&body));
            let got = sent.and_then(|_| read_head(r));
            match got {
                Ok(Some(h)) => {
                    answer = Some(h);
                    break;
                }
                _ => up = None,
            }
        }
        let Some(resp) = answer else {
            let _ = to_client.shutdown(Shutdown::Both);
            return Ok(());
        };
        let (_, r) = up.as_mut().unwrap();
        let status: u16 = resp.first.parse().unwrap_or(0);
        let no_body = head.first == "HEAD" || status == 204 || status == 304 || status < 200;
        let mut close_upstream = false;
        let mut rbody = if no_body {
            Vec::new()
        } else if resp.chunked() {
            read_chunked(r, false)?
        } else if let Some(n) = resp.content_length() {
            read_exact_vec(r, n)?
        } else {
            close_upstream = true;
            let mut v = Vec::new();
            r.read_to_end(&mut v)?;
            v
        };
        if close_upstream
            || resp
                .header("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            up = None;
        }
        match fault {
            Some(Fault::DropAfterForward) => {
                let _ = to_client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Fault::FlipByte) if !rbody.is_empty() => {
                let at = (mix(k as u64 ^ 0x5eed) % rbody.len() as u64) as usize;
                rbody[at] ^= 0x01;
            }
            _ => {}
        }
        // The answer's head, with its body framed by Content-Length.
        let mut out = Vec::with_capacity(resp.raw.len() + 32);
        let text = String::from_utf8_lossy(&resp.raw);
        let mut lines = text.split("\r\n");
        out.extend_from_slice(lines.next().unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        for line in lines.filter(|l| !l.is_empty()) {
            let name = line.split(':').next().unwrap_or("").trim();
            if !no_body
                && (name.eq_ignore_ascii_case("transfer-encoding")
                    || name.eq_ignore_ascii_case("content-length"))
            {
                continue;
            }
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !no_body {
            out.extend_from_slice(format!("content-length: {}\r\n", rbody.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if fault == Some(Fault::CutBody) && !rbody.is_empty() {
            to_client.write_all(&out)?;
            to_client.write_all(&rbody[..rbody.len() / 2])?;
            to_client.flush()?;
            let _ = to_client.shutdown(Shutdown::Both);
            return Ok(());
        }
        out.extend_from_slice(&rbody);
        to_client.write_all(&out)?;
        to_client.flush()?;
    }
}

/// Whether the filter selects this request, and its fault (if any),
/// counting it when selected.
fn choose(head: &Head, st: &State) -> (bool, Option<Fault>) {
    let guard = st.faults.lock().unwrap();
    let Some(faults) = guard.as_ref() else {
        return (false, None);
    };
    if let Some(m) = faults.filter.method
        && m != head.first
    {
        return (false, None);
    }
    if faults.filter.objects_only {
        // `/bucket/key?query`: an object has a key, and manifests are poof's own.
        let path = head.second.split('?').next().unwrap_or("");
        let key = path.trim_start_matches('/').split_once('/').map(|x| x.1);
        if key.is_none_or(|k| k.is_empty() || k.starts_with(".poof")) {
            return (false, None);
        }
    }
    let k = st.selected.fetch_add(1, Ordering::SeqCst) + 1;
    st.selected_log.lock().unwrap().push(format!(
        "{} {} {}",
        head.first,
        head.second,
        head.header("range").unwrap_or("-")
    ));
    let f = faults.pick(k, st.injected.load(Ordering::SeqCst));
    if f.is_some() {
        st.injected.fetch_add(1, Ordering::SeqCst);
    }
    (true, f)
}

fn status_code(code: u16) -> &'static str {
    match code {
        500 => "InternalError",
        503 => "ServiceUnavailable",
        _ => "InternalError",
    }
}

/// Answers an S3 error without forwarding (no body for HEAD, as HTTP wants).
fn answer_error(out: &mut TcpStream, head: &Head, status: u16, code: &str) -> io::Result<()> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected by the test proxy</Message><Resource>{}</Resource><RequestId>proxy</RequestId></Error>",
        head.second.replace('&', "&amp;").replace('<', "&lt;")
    );
    let mut msg = format!(
        "HTTP/1.1 {status} Injected\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if head.first != "HEAD" {
        msg.extend_from_slice(body.as_bytes());
    }
    out.write_all(&msg)?;
    out.flush()
}

/// Reads one message head; `None` at a clean end of stream.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut raw = Vec::new();
    loop {
        let before = raw.len();
        let n = r.read_until(b'\n', &mut raw)?;
        if n == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if raw.len() > 1 << 20 {
            return Err(io::Error::other("message head over 1 MiB"));
        }
        let line = &raw[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                // Stray empty line between messages.
                raw.clear();
                continue;
            }
            break;
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("");
    let mut parts = start.splitn(3, ' ');
    let a = parts.next().unwrap_or("").to_string();
    let b = parts.next().unwrap_or("").to_string();
    let (first, second) = if a.starts_with("HTTP/") {
        (b, String::new())
    } else {
        (a, b)
    };
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Some(Head {
        raw,
        first,
        second,
        headers,
    }))
}

/// Reads exactly `n` bytes.
pub fn read_exact_vec(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok(v)
}

/// Reads a chunked body: raw (framing kept) or decoded.
fn read_chunked(r: &mut impl BufRead, raw: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        if raw {
            out.extend_from_slice(line.as_bytes());
        }
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::other(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t == "\r\n" || t == "\n" {
                    if raw {
                        out.extend_from_slice(t.as_bytes());
                    }
                    return Ok(out);
                }
                if raw {
                    out.extend_from_slice(t.as_bytes());
                }
            }
        }
        let data = read_exact_vec(r, size)?;
        out.extend_from_slice(&data);
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
        if raw {
            out.extend_from_slice(&crlf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_are_deterministic() {
        let f = Faults::random(7, 0.3, &[Fault::Drop, Fault::SlowDown]);
        let a: Vec<_> = (1..200).map(|k| f.pick(k, 0)).collect();
        let b: Vec<_> = (1..200).map(|k| f.pick(k, 0)).collect();
        assert_eq!(a, b);
        let hits = a.iter().filter(|x| x.is_some()).count();
        assert!((30..90).contains(&hits), "{hits}");
        let nth = Faults {
            when: When::Nth(vec![3]),
            what: vec![Fault::Drop],
            ..Faults::none()
        };
        assert_eq!(nth.pick(3, 0), Some(Fault::Drop));
        assert_eq!(nth.pick(4, 0), None);
        let capped = Faults {
            max: Some(1),
            ..nth
        };
        assert_eq!(capped.pick(3, 1), None);
    }
}
