//! A large object downloaded in parallel ranged GETs, each written in place
//! (positioned writes into the file, sized to the object first), and hashed
//! in order as the ranges arrive (docs/BENCHMARKS.md, "Ranged downloads").
//!
//! The first range comes from the plain GET that told the object's size, so
//! a small object costs no extra request; the others are asked for with
//! `Range` and `If-Match` (the ETag of that first answer), so every range
//! is of the same object.
//!
//! Invariants:
//! - every byte written is checked as a plain download's are: each range
//!   must be answered with exactly its `Content-Range` and length, and the
//!   whole file's digest must match the one `ops::Expected::of` finds (poof's
//!   `sha256` metadata, else the ETag when it is an MD5, else the
//!   `md5chksum` metadata); without one, only the lengths are checked, as
//!   for a plain download;
//! - the digest is of the bytes read back from the file, so it covers what
//!   will be renamed into place;
//! - a range that breaks off or comes short is asked for again, alone, up
//!   to the retry policy's attempts; any other failure ends the download
//!   with an error and the caller (`fsx::write_atomically`) removes the
//!   temporary file, so the user's file is never touched;
//! - at most `Config::concurrency` ranges of one object are in flight, each
//!   streamed through a 256 KiB buffer (no range is held in memory).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use reqwest::Method;
use reqwest::blocking::Response;

use super::ops::{Expected, Hashing, header};
use super::request::Request;
use super::retry::{Verdict, classify_io};
use super::{Client, Error};

/// What a ranged download's steps give: a value, or a failure with whether
/// another attempt could help.
type Step<T> = std::result::Result<T, (Verdict, Error)>;

/// The streaming buffer of one range, as for a plain download.
const STREAM_BUFFER: usize = 256 * 1024;

impl Client {
    /// Whether an answer of `len` bytes is fetched in ranges.
    pub(super) fn ranged(&self, len: u64) -> bool {
        let c = &self.config;
        c.concurrency > 1 && len >= c.ranged_get_from && len > c.range_size
    }

    /// Downloads the object `key`, whose plain GET answered `first` with
    /// `len` bytes, into `file` in ranges of `Config::range_size`; returns
    /// `len` once every range arrived and the MD5 matched.
    pub(super) fn get_ranged(
        &self,
        key: &str,
        first: Response,
        len: u64,
        file: &File,
        dest: &Path,
    ) -> Step<u64> {
        let range_size = self.config.range_size;
        let checksum = Expected::of(first.headers(), &self.config);
        // With quotes, as `If-Match` wants it.
        let etag = header(first.headers(), "etag").map(str::to_string);
        let io = |source| {
            (
                Verdict::Fail,
                Error::Io {
                    path: dest.to_owned(),
                    source,
                },
            )
        };
        file.set_len(len).map_err(io)?;
        let ranges = len.div_ceil(range_size);
        let workers = (self.config.concurrency as u64).min(ranges);
        let next = AtomicU64::new(1);
        let failed = AtomicBool::new(false);
        let first = Mutex::new(Some(first));
        let (done_tx, done_rx) = mpsc::channel::<Step<u64>>();
        let span = |i: u64| (i * range_size, range_size.min(len - i * range_size));
        std::thread::scope(|s| {
            for _ in 0..workers {
                let done = done_tx.clone();
                let (next, failed, first, etag) = (&next, &failed, &first, etag.as_deref());
                s.spawn(move || {
                    // Range 0 is the start of the plain GET's answer, read
                    // by whichever worker takes it; asked for again if it
                    // breaks off.
                    let taken = first.lock().expect("no panics while locked").take();
                    if let Some(resp) = taken {
                        let (start, n) = span(0);
                        let got = match write_range(resp, file, start, n, dest) {
                            Err((Verdict::Retry, _)) => {
                                self.fetch_range(key, etag, start, n, len, file, dest)
                            }
                            other => other,
                        };
                        let stop = got.is_err();
                        let _ = done.send(got.map(|()| 0));
                        if stop {
                            return;
                        }
                    }
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= ranges || failed.load(Ordering::Relaxed) {
                            return;
                        }
                        let (start, n) = span(i);
                        let got = self.fetch_range(key, etag, start, n, len, file, dest);
                        let stop = got.is_err();
                        let _ = done.send(got.map(|()| i));
                        if stop {
                            return;
                        }
                    }
                });
            }
            drop(done_tx);
            // Hash the ranges in order as they arrive, reading them back.
            let mut arrived = vec![false; ranges as usize];
            let mut hashed = 0u64;
            let mut hashing = checksum.as_ref().map(Expected::hashing);
            let mut buf = Vec::new();
            let mut first_error = None;
            for got in done_rx {
                match got {
                    Ok(i) => arrived[i as usize] = true,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        first_error.get_or_insert(e);
                    }
                }
                while first_error.is_none() && hashed < ranges && arrived[hashed as usize] {
                    let (start, n) = span(hashed);
                    if let Some(h) = hashing.as_mut()
                        && let Err(e) = hash_back(file, start, n, h, &mut buf)
                    {
                        failed.store(true, Ordering::Relaxed);
                        first_error.get_or_insert(io(e));
                    }
                    // In order, as the disk likes it.
                    crate::fsx::start_writeback(file, start, n);
                    hashed += 1;
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            if hashed != ranges {
                return Err((
                    Verdict::Fail,
                    Error::BadResponse {
                        op: format!("downloading to {}", dest.display()),
                        detail: "a range was never fetched".into(),
                    },
                ));
            }
            if let (Some(want), Some(h)) = (&checksum, hashing)
                && !h.matches(want)
            {
                return Err((Verdict::Retry, corrupted(dest, want)));
            }
            Ok(len)
        })
    }

    /// Asks for the `n` bytes from `start` of an object of `total` bytes
    /// (as it was when its ETag was `etag`) and writes them in place,
    /// trying again when the answer breaks off or is not that range.
    #[allow(clippy::too_many_arguments)] // One range's coordinates; a struct would only rename them.
    fn fetch_range(
        &self,
        key: &str,
        etag: Option<&str>,
        start: u64,
        n: u64,
        total: u64,
        file: &File,
        dest: &Path,
    ) -> Step<()> {
        let end = start + n - 1;
        let mut req = Request::new(Method::GET, Some(key), format!("GET {key} (range)"));
        req.headers
            .push(("range".into(), format!("bytes={start}-{end}")));
        if let Some(etag) = etag {
            req.headers.push(("if-match".into(), etag.into()));
        }
        let policy = self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = match self.send(&req) {
                Ok(resp) => resp,
                Err(e) if e.root().is_code("PreconditionFailed") => {
                    return Err((
                        Verdict::Fail,
                        Error::BadResponse {
                            op: format!("downloading to {}", dest.display()),
                            detail:
                                "the object changed while it was being downloaded; run poof again"
                                    .into(),
                        },
                    ));
                }
                Err(e) => return Err((Verdict::Fail, e)),
            };
            let want = format!("bytes {start}-{end}/{total}");
            let status = resp.status().as_u16();
            let answered = header(resp.headers(), "content-range")
                .unwrap_or("no Content-Range")
                .to_string();
            let got = if status == 206 && answered == want {
                write_range(resp, file, start, n, dest)
            } else {
                Err((
                    Verdict::Retry,
                    Error::BadResponse {
                        op: format!("downloading to {}", dest.display()),
                        detail: format!(
                            "asked for {want}, the server answered {status} with {answered}"
                        ),
                    },
                ))
            };
            match got {
                Err((Verdict::Retry, e)) if attempt >= policy.attempts => {
                    return Err((
                        Verdict::Fail,
                        Error::GaveUp {
                            attempts: attempt,
                            last: Box::new(e),
                        },
                    ));
                }
                Err((Verdict::Retry, _)) => std::thread::sleep(policy.delay(attempt)),
                other => return other,
            }
        }
    }
}

/// Streams exactly `n` bytes of `resp` into `file` from `start`; a body
/// that breaks off or ends short is worth another attempt, one that goes
/// on past `n` bytes (for range 0, the rest of the object) is left unread.
fn write_range(mut resp: Response, file: &File, start: u64, n: u64, dest: &Path) -> Step<()> {
    let mut buf = vec![0u8; STREAM_BUFFER.min(n as usize)];
    let mut got = 0u64;
    let broke = |detail: String| {
        (
            Verdict::Retry,
            Error::BadResponse {
                op: format!("downloading to {}", dest.display()),
                detail,
            },
        )
    };
    while got < n {
        let want = buf.len().min((n - got) as usize);
        let k = match resp.read(&mut buf[..want]) {
            Ok(0) => return Err(broke(format!("got {got} bytes of a range of {n}"))),
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let (_, err) = broke(format!("the transfer broke off after {got} bytes: {e}"));
                return Err((classify_io(&e), err));
            }
        };
        crate::knobs::throttle(k);
        file.write_all_at(&buf[..k], start + got)
            .map_err(|source| {
                (
                    Verdict::Fail,
                    Error::Io {
                        path: dest.to_owned(),
                        source,
                    },
                )
            })?;
        got += k as u64;
    }
    Ok(())
}

/// Feeds `n` bytes of `file` from `start` to `hashing`, through `buf`.
fn hash_back(
    file: &File,
    start: u64,
    n: u64,
    hashing: &mut Hashing,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    buf.resize(STREAM_BUFFER * 4, 0);
    let mut pos = 0u64;
    while pos < n {
        let want = buf.len().min((n - pos) as usize);
        file.read_exact_at(&mut buf[..want], start + pos)?;
        hashing.update(&buf[..want]);
        pos += want as u64;
    }
    Ok(())
}

/// The error of a download whose digest did not match `want`.
pub(super) fn corrupted(dest: &Path, want: &Expected) -> Error {
    Error::BadResponse {
        op: format!("downloading to {}", dest.display()),
        detail: format!(
            "the content does not match the object's {} (corrupted on the way); it was not accepted",
            want.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    use md5::{Digest, Md5};

    use super::*;
    use crate::engine::sync::Entry;

    /// What the fake server does wrong, once, to the range starting at a
    /// given byte.
    #[derive(Clone, Copy)]
    enum Fault {
        /// Promises the whole range, sends this many bytes, hangs up.
        BreakAfter(usize),
        /// Says and sends this many bytes fewer than the range.
        Short(usize),
    }

    struct Fake {
        body: Vec<u8>,
        etag: String,
        /// poof's `sha256` metadata, sent with every answer when set.
        sha256: Option<String>,
        faults: Mutex<Vec<(u64, Fault)>>,
        /// The `Range` of every request, `None` for a plain GET.
        seen: Mutex<Vec<Option<(u64, u64)>>>,
    }

    /// A loopback server for one object, with ranges and faults; one
    /// thread per connection, each closed after one answer.
    fn serve(fake: Arc<Fake>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let fake = fake.clone();
                std::thread::spawn(move || answer(&fake, conn));
            }
        });
        url
    }

    fn answer(fake: &Fake, mut conn: std::net::TcpStream) {
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let range = crate::s3::retry::tests::request_head(&mut reader)
            .iter()
            .find_map(|l| l.strip_prefix("range: bytes="))
            .map(|v| {
                let (a, b) = v.trim().split_once('-').unwrap();
                (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap())
            });
        fake.seen.lock().unwrap().push(range);
        let total = fake.body.len() as u64;
        let (status, start, end) = match range {
            Some((a, b)) => ("206 Partial Content", a, b.min(total - 1)),
            None => ("200 OK", 0, total - 1),
        };
        let mut slice = &fake.body[start as usize..=end as usize];
        let mut promised = slice.len();
        let fault = {
            let mut faults = fake.faults.lock().unwrap();
            let at = faults
                .iter()
                .position(|(s, _)| *s == start && range.is_some());
            at.map(|i| faults.remove(i).1)
        };
        match fault {
            Some(Fault::BreakAfter(k)) => slice = &slice[..k],
            Some(Fault::Short(k)) => {
                slice = &slice[..slice.len() - k];
                promised = slice.len();
            }
            None => {}
        }
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {promised}\r\nETag: \"{}\"\r\nConnection: close\r\n",
            fake.etag
        );
        if range.is_some() {
            head += &format!("Content-Range: bytes {start}-{end}/{total}\r\n");
        }
        if let Some(sha256) = &fake.sha256 {
            head += &format!("x-amz-meta-sha256: {sha256}\r\n");
        }
        head += "\r\n";
        // The client may hang up once it has what it wanted.
        let _ = conn.write_all(head.as_bytes());
        let _ = conn.write_all(slice);
    }

    fn fake(len: usize, etag_of: Option<&[u8]>) -> Arc<Fake> {
        let body: Vec<u8> = (0..len as u64).map(|i| (i * 7 + i / 251) as u8).collect();
        let etag = hex::encode(Md5::digest(etag_of.unwrap_or(&body)));
        Arc::new(Fake {
            body,
            etag,
            sha256: None,
            faults: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn client(url: &str) -> Client {
        let mut c = crate::s3::retry::tests::client_for(url);
        c.config.ranged_get_from = 100_000;
        c.config.range_size = 64 * 1024;
        c.config.sha256_meta = Some("sha256".into());
        c
    }

    /// `fake` with poof's `sha256` metadata: that of `sha256_of` (else the
    /// body's), and an ETag that is no MD5 of the body (a multipart one).
    fn fake_with_sha256(len: usize, sha256_of: Option<&[u8]>) -> Arc<Fake> {
        let f = fake(len, Some(b"not the body"));
        let sha256 = hex::encode(sha2::Sha256::digest(sha256_of.unwrap_or(&f.body)));
        Arc::new(Fake {
            body: f.body.clone(),
            etag: format!("{}-3", f.etag),
            sha256: Some(sha256),
            faults: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Downloads `k` as `f` under a fresh folder that already has an `f`,
    /// as a restore does; returns the result and the folder.
    fn restore(c: &Client, len: u64) -> (std::io::Result<u64>, tempfile::TempDir) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), b"the user's file").unwrap();
        let entry = Entry {
            path: "f".into(),
            size: len,
            mtime_ns: 1_600_000_000_000_000_000,
            mode: Some(0o644),
        };
        let dest = d.path().join("f");
        let got = crate::fsx::write_atomically(d.path(), &entry, |out| {
            c.get_to_file("k", out, &dest)
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
        (got, d)
    }

    fn only_the_file(d: &tempfile::TempDir) -> Vec<u8> {
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"], "no temporary file is left");
        std::fs::read(d.path().join("f")).unwrap()
    }

    /// 1 MiB and a bit: 17 ranges of 64 KiB, the last one short.
    const LEN: usize = 1024 * 1024 + 123;

    #[test]
    fn a_large_object_arrives_in_ranges_byte_for_byte() {
        let f = fake(LEN, None);
        let c = client(&serve(f.clone()));
        let (got, d) = restore(&c, LEN as u64);
        assert_eq!(got.unwrap(), LEN as u64);
        assert_eq!(only_the_file(&d), f.body);
        let seen = f.seen.lock().unwrap();
        assert_eq!(seen.len(), 17, "one plain GET and 16 ranges: {seen:?}");
        assert_eq!(seen.iter().filter(|r| r.is_none()).count(), 1);
        assert!(
            seen.contains(&Some((16 * 65536, LEN as u64 - 1))),
            "the short last range"
        );
    }

    #[test]
    fn a_small_object_is_one_plain_get() {
        let f = fake(99_999, None);
        let c = client(&serve(f.clone()));
        let (got, d) = restore(&c, 99_999);
        assert_eq!(got.unwrap(), 99_999);
        assert_eq!(only_the_file(&d), f.body);
        assert_eq!(*f.seen.lock().unwrap(), [None]);
    }

    #[test]
    fn a_range_that_breaks_off_or_comes_short_is_fetched_again_alone() {
        let f = fake(LEN, None);
        f.faults.lock().unwrap().extend([
            (65536 * 3, Fault::BreakAfter(1000)),
            (65536 * 9, Fault::Short(10)),
        ]);
        let c = client(&serve(f.clone()));
        let (got, d) = restore(&c, LEN as u64);
        assert_eq!(got.unwrap(), LEN as u64);
        assert_eq!(only_the_file(&d), f.body);
        let seen = f.seen.lock().unwrap();
        assert_eq!(seen.len(), 19, "two ranges asked for twice: {seen:?}");
        let asked = |start: u64| {
            seen.iter()
                .filter(|r| r.is_some_and(|(a, _)| a == start))
                .count()
        };
        assert_eq!(
            (asked(65536 * 3), asked(65536 * 9), asked(65536 * 4)),
            (2, 2, 1)
        );
        assert!(f.faults.lock().unwrap().is_empty());
    }

    #[test]
    fn a_range_that_keeps_failing_leaves_the_users_file_untouched() {
        let f = fake(LEN, None);
        f.faults
            .lock()
            .unwrap()
            .extend([(65536 * 5, Fault::BreakAfter(10)); 3]);
        let c = client(&serve(f.clone()));
        let (got, d) = restore(&c, LEN as u64);
        let err = got.unwrap_err().to_string();
        assert!(
            err.contains("3 attempts") || err.contains("broke off"),
            "{err}"
        );
        assert_eq!(only_the_file(&d), b"the user's file");
    }

    #[test]
    fn a_wrong_checksum_renames_nothing_into_place() {
        let f = fake(LEN, Some(b"other content"));
        let c = client(&serve(f.clone()));
        let (got, d) = restore(&c, LEN as u64);
        let err = got.unwrap_err().to_string();
        assert!(err.contains("MD5"), "{err}");
        assert_eq!(only_the_file(&d), b"the user's file");
        // Each of the 3 attempts fetched the whole object again.
        assert_eq!(f.seen.lock().unwrap().len(), 3 * 17);
    }

    #[test]
    fn the_stored_sha256_is_what_a_download_is_checked_against() {
        // Ranged and plain: accepted on the SHA-256 alone (the ETag is a
        // multipart one, no MD5).
        for len in [LEN, 99_999] {
            let f = fake_with_sha256(len, None);
            let c = client(&serve(f.clone()));
            let (got, d) = restore(&c, len as u64);
            assert_eq!(got.unwrap(), len as u64);
            assert_eq!(only_the_file(&d), f.body);
        }
        // A SHA-256 the content does not have: refused, ranged and plain,
        // with the user's file untouched.
        for len in [LEN, 99_999] {
            let f = fake_with_sha256(len, Some(b"other content"));
            let c = client(&serve(f.clone()));
            let (got, d) = restore(&c, len as u64);
            let err = got.unwrap_err().to_string();
            assert!(err.contains("object's SHA-256"), "{err}");
            assert_eq!(only_the_file(&d), b"the user's file");
        }
    }
}
