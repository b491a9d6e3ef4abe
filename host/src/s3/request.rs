//! One S3 request: its URL, its SigV4 signature, sending it, retrying it,
//! and turning an error answer into an `Error` that says what is wrong.
//!
//! Invariants:
//! - the URL and the signature are built from the same encoded path, in
//!   which every key segment is percent-encoded the way S3 canonicalises it
//!   (`/` kept, everything but `A-Z a-z 0-9 - . _ ~` encoded);
//! - every request is signed afresh per attempt (the signature holds the time);
//! - a retried request sends the same bytes: file bodies are re-read from
//!   their offset, never from a shared file position.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::blocking::Response;
use reqwest::header::HeaderMap;

use super::retry::{Verdict, classify_status, classify_transport};
use super::{Addressing, Client, Endpoint, Error, Result, xml};

/// Everything but S3's unreserved characters is encoded.
const S3_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes an object key for a URL path the way SigV4 canonicalises
/// it for S3: each segment encoded, the `/` between segments kept.
pub fn encode_key(key: &str) -> String {
    key.split('/')
        .map(|seg| utf8_percent_encode(seg, S3_ENCODE).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// Percent-encodes a query parameter name or value.
pub(super) fn encode_query(v: &str) -> String {
    utf8_percent_encode(v, S3_ENCODE).to_string()
}

/// One attempt's outcome: its result, or the error and whether a retry may help.
type Attempt<T> = std::result::Result<T, (Verdict, Error)>;

/// What a request sends.
#[derive(Clone)]
pub(super) enum Body {
    /// Nothing.
    Empty,
    /// Bytes in memory; their SHA-256 is signed. Shared, so that a retry
    /// sends them again without copying them.
    Bytes(bytes::Bytes),
    /// A slice of a file, streamed; signed with `Request::body_sha256`
    /// when the caller hashed it first, else sent as `UNSIGNED-PAYLOAD`.
    File {
        /// The open file, shared by the parts that read it.
        file: Arc<File>,
        /// Where the slice starts.
        offset: u64,
        /// How many bytes it holds.
        len: u64,
    },
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }
}

/// One request, ready to be sent (and re-sent).
#[derive(Clone)]
pub(super) struct Request<'a> {
    /// GET, PUT, ...
    pub method: Method,
    /// The object, or `None` for the bucket itself.
    pub key: Option<&'a str>,
    /// Query parameters, not yet encoded.
    pub query: Vec<(&'a str, String)>,
    /// Extra headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
    /// The body's SHA-256 when the caller already hashed it: signing does
    /// not hash `Body::Bytes` again, and a `Body::File` is signed with it
    /// instead of going unsigned. The server checks the body against it.
    pub body_sha256: Option<[u8; 32]>,
    /// What this is, for messages: `PUT docs/a.txt`.
    pub op: String,
}

impl<'a> Request<'a> {
    /// A request without query, headers or body.
    pub fn new(method: Method, key: Option<&'a str>, op: impl Into<String>) -> Self {
        Request {
            method,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::Empty,
            body_sha256: None,
            op: op.into(),
        }
    }
}

/// Whether the store refused a request for want of `Content-MD5`: AWS says
/// `InvalidRequest` "Content-MD5 OR x-amz-checksum- HTTP header is required
/// for Put Object requests with Object Lock parameters" (older answers name
/// Content-MD5 alone; UploadPart's say Upload Part).
fn wants_content_md5(e: &Error) -> bool {
    matches!(e, Error::Service { status: 400, code, message, .. }
        if code == "InvalidRequest" && message.to_ascii_lowercase().contains("content-md5"))
}

/// `req` with the `Content-MD5` of its body added, or `None` when it has no
/// body or already carries one. A file's slice is read once more for it.
fn with_content_md5<'a>(req: &Request<'a>) -> Result<Option<Request<'a>>> {
    use md5::{Digest, Md5};
    if req.headers.iter().any(|(k, _)| k == "content-md5") {
        return Ok(None);
    }
    let md5 = match &req.body {
        Body::Empty => return Ok(None),
        Body::Bytes(b) => Md5::digest(b),
        Body::File { file, offset, len } => {
            let mut md5 = Md5::new();
            super::ops::read_through(file, *offset, *len, &mut |b| md5.update(b)).map_err(
                |source| Error::Io {
                    path: req.op.clone().into(),
                    source,
                },
            )?;
            md5.finalize()
        }
    };
    let mut again = req.clone();
    again.headers.push((
        "content-md5".into(),
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, md5),
    ));
    Ok(Some(again))
}

/// Reads a slice of a file with positioned reads, so that parts and retries
/// never disturb each other.
struct SliceReader {
    file: Arc<File>,
    pos: u64,
    end: u64,
}

impl Read for SliceReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being uploaded",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Client {
    /// True when the bucket is named in the host (virtual-hosted style),
    /// false when it is the first segment of the path.
    pub(super) fn virtual_hosted(&self) -> bool {
        let c = &self.config;
        match c.addressing {
            Addressing::Auto => c.endpoint == Endpoint::Aws && !c.bucket.contains('.'),
            Addressing::Path => false,
            Addressing::Virtual => true,
        }
    }

    /// The bucket's own URL, without a trailing slash:
    /// `https://BUCKET.s3.REGION.amazonaws.com`, `http://127.0.0.1:3900/BUCKET`,
    /// `http://BUCKET.s3.example.com:3900`.
    pub(super) fn bucket_url(&self) -> String {
        let c = &self.config;
        let bucket = encode_query(&c.bucket);
        match (&c.endpoint, self.virtual_hosted()) {
            (Endpoint::Aws, true) => format!("https://{bucket}.s3.{}.amazonaws.com", c.region),
            (Endpoint::Aws, false) => format!("https://s3.{}.amazonaws.com/{bucket}", c.region),
            (Endpoint::Custom(base), false) => {
                format!("{}/{bucket}", base.as_str().trim_end_matches('/'))
            }
            (Endpoint::Custom(base), true) => {
                let mut url = base.clone();
                let host = format!("{bucket}.{}", base.host_str().unwrap_or_default());
                // `Client::new` refused endpoints whose host is an IP address.
                let _ = url.set_host(Some(&host));
                url.as_str().trim_end_matches('/').to_string()
            }
        }
    }

    /// The URL of the bucket or of one of its objects, query included.
    pub(super) fn url(&self, key: Option<&str>, query: &[(&str, String)]) -> String {
        let path_key = key.map(encode_key).unwrap_or_default();
        let mut url = format!("{}/{path_key}", self.bucket_url());
        if key.is_none() && !self.virtual_hosted() && self.config.endpoint != Endpoint::Aws {
            // `/bucket/` and `/bucket` are the same bucket; S3 clients send the latter.
            url.pop();
        }
        if !query.is_empty() {
            url.push('?');
            let q: Vec<String> = query
                .iter()
                .map(|(k, v)| match v.is_empty() {
                    // `?uploads`, `?delete`: S3's sub-resources have no value.
                    true => encode_query(k),
                    false => format!("{}={}", encode_query(k), encode_query(v)),
                })
                .collect();
            url.push_str(&q.join("&"));
        }
        url
    }

    /// Sends a request, retrying transient failures; returns the successful
    /// answer, or the error that says what went wrong.
    pub(super) fn send(&self, req: &Request<'_>) -> Result<Response> {
        self.retrying(req, |req| self.send_once(req))
    }

    /// Sends a request like `send`, for its answer's headers only. A file
    /// body goes in large pieces through the async client (`streamed`),
    /// except with --bwlimit, whose limiter paces it in small reads anyway.
    pub(super) fn send_for_headers(&self, req: &Request<'_>) -> Result<HeaderMap> {
        match &req.body {
            Body::File { file, offset, len } if !crate::knobs::limited() => {
                self.retrying(req, |req| {
                    let reader = SliceReader {
                        file: file.clone(),
                        pos: *offset,
                        end: offset + len,
                    };
                    self.stream_once(req, reader, *len)
                })
            }
            _ => self.send(req).map(|resp| resp.headers().clone()),
        }
    }

    /// Runs `once` until it succeeds, fails for good, or the retry policy
    /// gives up. A body goes without `Content-MD5` (uploads are signed with
    /// their SHA-256, which the server checks) until the store refuses one
    /// for want of it; then that request and every later one carry it.
    fn retrying<T>(
        &self,
        req: &Request<'_>,
        once: impl Fn(&Request<'_>) -> Attempt<T>,
    ) -> Result<T> {
        use std::sync::atomic::Ordering::Relaxed;
        let policy = self.config.retry;
        let mut with_md5 = match self.content_md5.load(Relaxed) {
            true => with_content_md5(req)?,
            false => None,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = with_md5.as_ref().unwrap_or(req);
            log::trace!(target: "poof::s3", "request {} (attempt {attempt})", req.op);
            let (verdict, err) = match once(req) {
                Ok(resp) => return Ok(resp),
                Err(failure) => failure,
            };
            if with_md5.is_none()
                && wants_content_md5(&err)
                && let Some(again) = with_content_md5(req)?
            {
                if !self.content_md5.swap(true, Relaxed) {
                    log::debug!(
                        "{} asks for Content-MD5 on uploads (AWS does on a bucket with Object Lock \
                         retention): poof now computes each body's MD5 and sends it",
                        self.endpoint_name()
                    );
                }
                with_md5 = Some(again);
                continue;
            }
            if verdict == Verdict::Fail {
                return Err(err);
            }
            if attempt >= policy.attempts {
                return Err(Error::GaveUp {
                    attempts: attempt,
                    last: Box::new(err),
                });
            }
            std::thread::sleep(policy.delay(attempt));
        }
    }

    /// The URL and signed headers of one attempt.
    fn prepare(&self, req: &Request<'_>) -> Attempt<(String, Vec<(String, String)>)> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let url = self.url(req.key, &req.query);
        let signed = self
            .sign(req, &url, self.now())
            .map_err(|e| (Verdict::Fail, e))?;
        Ok((url, signed))
    }

    /// The error for a transport failure.
    fn transport_error(&self, e: &reqwest::Error) -> (Verdict, Error) {
        (
            classify_transport(e),
            Error::Connect {
                endpoint: self.endpoint_name(),
                detail: describe_transport(e),
            },
        )
    }

    /// The error for an error answer whose body is `text`.
    fn answer_error(&self, req: &Request<'_>, status: u16, text: &str) -> (Verdict, Error) {
        let (code, message) = xml::parse_error(text).unwrap_or_default();
        let verdict = classify_status(status, &code);
        (verdict, self.error_for(req, status, code, message))
    }

    /// One attempt of a file body through the async client: sign, send
    /// `len` bytes of `reader`, and classify a failure.
    fn stream_once(&self, req: &Request<'_>, reader: impl Read, len: u64) -> Attempt<HeaderMap> {
        let (url, signed) = self.prepare(req)?;
        let streamer = match self.streamer.get() {
            Some(s) => s,
            None => {
                let s = super::streamed::Streamer::new(self.http_async.clone()).map_err(|e| {
                    let e = Error::Config(format!("cannot start the HTTP client: {e}"));
                    (Verdict::Fail, e)
                })?;
                // Another thread may have started one meanwhile; either serves.
                let _ = self.streamer.set(s);
                self.streamer.get().expect("set above")
            }
        };
        let mut builder = streamer
            .http()
            .request(req.method.clone(), &url)
            .timeout(timeout_for(len));
        for (name, value) in req.headers.iter().chain(&signed) {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let answer = streamer
            .send(builder, reader, len)
            .map_err(|e| self.transport_error(&e))?;
        if (200..300).contains(&answer.status) {
            return Ok(answer.headers);
        }
        let text = String::from_utf8_lossy(&answer.body);
        Err(self.answer_error(req, answer.status, &text))
    }

    /// One attempt: sign, send, and classify a failure.
    fn send_once(&self, req: &Request<'_>) -> Attempt<Response> {
        let (url, signed) = self.prepare(req)?;
        let http = if req.method == Method::GET {
            &self.http_get
        } else {
            &self.http
        };
        let mut builder = http
            .request(req.method.clone(), &url)
            .timeout(timeout_for(req.body.len()));
        for (name, value) in req.headers.iter().chain(&signed) {
            builder = builder.header(name.as_str(), value.as_str());
        }
        // With --bwlimit, every body is read through the shared limiter.
        let limited = crate::knobs::limited();
        builder = match &req.body {
            Body::Empty => builder,
            Body::Bytes(b) if limited => builder.body(reqwest::blocking::Body::sized(
                crate::knobs::Throttled(std::io::Cursor::new(b.clone())),
                b.len() as u64,
            )),
            Body::Bytes(b) => builder.body(b.clone()),
            Body::File { file, offset, len } => {
                let reader = SliceReader {
                    file: file.clone(),
                    pos: *offset,
                    end: offset + len,
                };
                if limited {
                    builder.body(reqwest::blocking::Body::sized(
                        crate::knobs::Throttled(reader),
                        *len,
                    ))
                } else {
                    builder.body(reqwest::blocking::Body::sized(reader, *len))
                }
            }
        };
        let resp = builder.send().map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        let text = resp.text().unwrap_or_default();
        Err(self.answer_error(req, status, &text))
    }

    /// The signed headers for one attempt: `authorization`, `x-amz-date`,
    /// `x-amz-content-sha256` and, for temporary credentials, the token.
    pub(super) fn sign(
        &self,
        req: &Request<'_>,
        url: &str,
        time: SystemTime,
    ) -> Result<Vec<(String, String)>> {
        let c = &self.config;
        let mut settings = SigningSettings::default();
        // S3 signs the path as sent (encoded once) and never normalises it:
        // `a/../b` and `a//b` are keys of their own.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let keys = c.credentials.current()?;
        let identity = aws_credential_types::Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            keys.session_token.clone(),
            // The provider renews keys before they expire.
            None,
            "poof",
        )
        .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&c.region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| Error::Config(format!("cannot sign requests: {e}")))?
            .into();
        let body = match (&req.body, req.body_sha256) {
            (Body::Empty, _) => SignableBody::Bytes(&[]),
            (Body::Bytes(_) | Body::File { .. }, Some(sha256)) => {
                SignableBody::Precomputed(hex::encode(sha256))
            }
            (Body::Bytes(b), None) => SignableBody::Bytes(&b[..]),
            (Body::File { .. }, None) => SignableBody::UnsignedPayload,
        };
        let signable = SignableRequest::new(
            req.method.as_str(),
            url,
            req.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            body,
        )
        .map_err(|e| Error::Config(format!("cannot sign {}: {e}", req.op)))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| Error::Config(format!("cannot sign {}: {e}", req.op)))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    fn now(&self) -> SystemTime {
        let now = SystemTime::now();
        match self.clock_shift_secs {
            0 => now,
            s if s > 0 => now + Duration::from_secs(s as u64),
            s => now - Duration::from_secs(s.unsigned_abs()),
        }
    }

    fn endpoint_name(&self) -> String {
        match (&self.config.endpoint, self.virtual_hosted()) {
            (Endpoint::Aws, _) => format!("s3.{}.amazonaws.com", self.config.region),
            (Endpoint::Custom(_), true) => self.bucket_url(),
            (Endpoint::Custom(u), false) => u.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// Names the problem behind an error answer.
    fn error_for(&self, req: &Request<'_>, status: u16, code: String, message: String) -> Error {
        let bucket = self.config.bucket.clone();
        let what = match req.key {
            Some(k) => format!("s3://{bucket}/{k}"),
            None => format!("bucket {bucket:?}"),
        };
        let lower = message.to_ascii_lowercase();
        match code.as_str() {
            "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "InvalidToken" | "ExpiredToken" => {
                return Error::BadCredentials { code, message };
            }
            // Garage says AccessDenied for both, and tells them apart in the message.
            "AccessDenied" if lower.contains("signature") || lower.contains("no such key") => {
                return Error::BadCredentials { code, message };
            }
            "AccessDenied" => return Error::AccessDenied { what, message },
            "RequestTimeTooSkewed" => return Error::ClockSkew { message },
            _ if lower.contains("date is too old") => return Error::ClockSkew { message },
            "NoSuchBucket" => return Error::NoSuchBucket { bucket },
            "NoSuchKey" => {
                return Error::NoSuchKey {
                    key: req.key.unwrap_or_default().into(),
                };
            }
            _ => {}
        }
        match (status, code.is_empty(), req.key) {
            // A HEAD answer has no body to say more.
            (404, true, Some(k)) => Error::NoSuchKey { key: k.into() },
            (404, true, None) => Error::NoSuchBucket { bucket },
            (403, true, _) => Error::AccessDenied {
                what,
                message: "HTTP 403 without details; the key may be wrong or lack access".into(),
            },
            _ => Error::Service {
                op: req.op.clone(),
                status,
                code,
                message,
            },
        }
    }
}

/// A request may take 5 minutes plus the time to move its body at 256 KiB/s.
fn timeout_for(len: u64) -> Duration {
    Duration::from_secs(300 + len / (256 * 1024))
}

/// Words for a transport failure, with its causes.
fn describe_transport(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timed out".to_string());
    }
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    let joined = parts.join(": ");
    let lower = joined.to_ascii_lowercase();
    if lower.contains("connection refused") {
        format!("connection refused ({joined})")
    } else if lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("name or service not known")
    {
        format!("unknown host ({joined})")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Credentials, Endpoint};
    use super::*;

    fn keys(id: &str, secret: &str) -> Credentials {
        Credentials {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            session_token: None,
            expires: None,
        }
    }

    fn client(endpoint: Endpoint, bucket: &str) -> Client {
        styled(endpoint, bucket, Addressing::Auto)
    }

    fn styled(endpoint: Endpoint, bucket: &str, addressing: Addressing) -> Client {
        let mut config = Config::new(
            endpoint,
            "us-east-1",
            bucket,
            keys("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        );
        config.addressing = addressing;
        Client::new(config).unwrap()
    }

    #[test]
    fn keys_are_encoded_per_segment() {
        assert_eq!(
            encode_key("Documents/a b/ü+=.txt"),
            "Documents/a%20b/%C3%BC%2B%3D.txt"
        );
        assert_eq!(encode_key("a/~x_y-z.1"), "a/~x_y-z.1");
        assert_eq!(encode_key("odd%name?#&"), "odd%25name%3F%23%26");
        assert_eq!(encode_query("a b+c/d"), "a%20b%2Bc%2Fd");
    }

    #[test]
    fn urls_follow_the_endpoint_style() {
        let aws = client(Endpoint::Aws, "my-bucket");
        assert_eq!(
            aws.url(Some("Docs/a b"), &[]),
            "https://my-bucket.s3.us-east-1.amazonaws.com/Docs/a%20b"
        );
        let dotted = client(Endpoint::Aws, "my.bucket");
        assert_eq!(
            dotted.url(None, &[("list-type", "2".into())]),
            "https://s3.us-east-1.amazonaws.com/my.bucket/?list-type=2"
        );
        let garage = client(Endpoint::parse("http://127.0.0.1:3900").unwrap(), "bkt");
        assert_eq!(
            garage.url(Some("x/y"), &[]),
            "http://127.0.0.1:3900/bkt/x/y"
        );
        assert_eq!(
            garage.url(
                None,
                &[("prefix", "Docs/".into()), ("max-keys", "2".into())]
            ),
            "http://127.0.0.1:3900/bkt?prefix=Docs%2F&max-keys=2"
        );
    }

    #[test]
    fn addressing_can_be_forced_either_way() {
        let aws = styled(Endpoint::Aws, "my-bucket", Addressing::Path);
        assert_eq!(
            aws.url(Some("a"), &[]),
            "https://s3.us-east-1.amazonaws.com/my-bucket/a"
        );
        let minio = styled(
            Endpoint::parse("https://s3.example.com:9000/base/").unwrap(),
            "bkt",
            Addressing::Virtual,
        );
        assert_eq!(
            minio.url(Some("x/y z"), &[]),
            "https://bkt.s3.example.com:9000/base/x/y%20z"
        );
        assert_eq!(
            minio.url(None, &[("list-type", "2".into())]),
            "https://bkt.s3.example.com:9000/base/?list-type=2"
        );
        let garage = styled(
            Endpoint::parse("http://s3.garage.localhost:3900").unwrap(),
            "bkt",
            Addressing::Virtual,
        );
        assert_eq!(
            garage.url(Some("k"), &[]),
            "http://bkt.s3.garage.localhost:3900/k"
        );
        assert_eq!(garage.describe(), "http://bkt.s3.garage.localhost:3900");
        // A host that is an IP address cannot carry the bucket's name.
        let mut config = Config::new(
            Endpoint::parse("http://127.0.0.1:3900").unwrap(),
            "",
            "bkt",
            keys("a", "b"),
        );
        config.addressing = Addressing::Virtual;
        let e = Client::new(config).unwrap_err().to_string();
        assert!(e.contains("force_path_style"), "{e}");
    }

    fn header<'a>(h: &'a [(String, String)], name: &str) -> &'a str {
        h.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {h:?}"))
    }

    #[test]
    fn signing_is_deterministic_and_has_the_sigv4_shape() {
        let c = client(Endpoint::Aws, "examplebucket");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
        let mut req = Request::new(Method::GET, Some("test.txt"), "GET test.txt");
        req.headers.push(("range".into(), "bytes=0-9".into()));
        let url = c.url(req.key, &[]);
        let a = c.sign(&req, &url, time).unwrap();
        let b = c.sign(&req, &url, time).unwrap();
        assert_eq!(a, b);
        assert_eq!(header(&a, "x-amz-date"), "20130524T000000Z");
        assert_eq!(
            header(&a, "x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let auth = header(&a, "authorization");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20130524/us-east-1/s3/aws4_request, \
                 SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature="
            ),
            "{auth}"
        );
        let sig = auth.rsplit('=').next().unwrap();
        assert_eq!(sig.len(), 64);
        assert!(sig.bytes().all(|b| b.is_ascii_hexdigit()));
        // Another secret gives another signature.
        let mut other = client(Endpoint::Aws, "examplebucket");
        other.config.credentials = keys("AKIDEXAMPLE", "different").into();
        assert_ne!(other.sign(&req, &url, time).unwrap(), a);
    }

    /// The "GET Object" example of the AWS S3 SigV4 documentation
    /// ("Signature Calculations for the Authorization Header: Transferring
    /// Payload in a Single Chunk"), with its published signature.
    #[test]
    fn signing_matches_the_aws_documentation_example() {
        let mut c = client(Endpoint::Aws, "examplebucket");
        c.config.credentials = keys(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .into();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600);
        let mut req = Request::new(Method::GET, Some("test.txt"), "GET test.txt");
        req.headers.push(("range".into(), "bytes=0-9".into()));
        // The example predates regional host names.
        let url = "https://examplebucket.s3.amazonaws.com/test.txt";
        let h = c.sign(&req, url, time).unwrap();
        assert!(
            header(&h, "authorization").ends_with(
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{h:?}"
        );
    }

    #[test]
    fn file_bodies_are_signed_with_their_hash_when_the_caller_has_it() {
        let c = client(Endpoint::Aws, "examplebucket");
        let f = tempfile::tempfile().unwrap();
        let mut req = Request::new(Method::PUT, Some("k"), "PUT k");
        req.body = Body::File {
            file: Arc::new(f),
            offset: 0,
            len: 0,
        };
        let url = c.url(req.key, &[]);
        let h = c.sign(&req, &url, SystemTime::now()).unwrap();
        assert_eq!(header(&h, "x-amz-content-sha256"), "UNSIGNED-PAYLOAD");
        req.body_sha256 = Some([0xab; 32]);
        let h = c.sign(&req, &url, SystemTime::now()).unwrap();
        assert_eq!(header(&h, "x-amz-content-sha256"), "ab".repeat(32));
    }

    /// A loopback server that reads each request whole (its headers and
    /// its `Content-Length` body), then gives the canned answers in turn,
    /// one per connection, with an ETag; returns its URL and the bodies
    /// that arrived whole (a connection that ends early gets no answer).
    fn recording_server(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
        use std::io::BufReader;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for (status, answer) in answers {
                let Ok((conn, _)) = listener.accept() else {
                    return;
                };
                let mut r = BufReader::new(conn);
                let len = crate::s3::retry::tests::request_head(&mut r)
                    .iter()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_err() {
                    // The client gave up before the whole body: no answer.
                    continue;
                }
                seen.lock().unwrap().push(body);
                write_answer(r.get_mut(), status, answer);
            }
        });
        (url, bodies)
    }

    /// Writes an answer with an ETag and `body`, and says the connection ends.
    fn write_answer(w: &mut impl std::io::Write, status: u16, body: &str) {
        let _ = write!(
            w,
            "HTTP/1.1 {status} X\r\nETag: \"e\"\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// A loopback server that answers as AWS does on a bucket with Object
    /// Lock retention: a body without `Content-MD5` is refused, one with
    /// the wrong one too; returns its URL and, per request, whether it
    /// carried the body's MD5.
    fn md5_demanding_server(requests: usize) -> (String, Arc<std::sync::Mutex<Vec<bool>>>) {
        use std::io::BufReader;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for _ in 0..requests {
                let Ok((conn, _)) = listener.accept() else {
                    return;
                };
                let mut r = BufReader::new(conn);
                let head = crate::s3::retry::tests::request_head(&mut r);
                let field = |name: &str| {
                    head.iter()
                        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
                };
                let len = field("content-length:").map_or(0, |v| v.parse().unwrap());
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                // Header values were lower-cased with the names; base64 is not.
                let md5 = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    <md5::Md5 as md5::Digest>::digest(&body),
                )
                .to_ascii_lowercase();
                let ok = field("content-md5:") == Some(md5);
                record.lock().unwrap().push(ok);
                let (status, answer) = if ok {
                    (200, String::new())
                } else {
                    (
                        400,
                        "<Error><Code>InvalidRequest</Code><Message>Content-MD5 OR \
                         x-amz-checksum- HTTP header is required for Put Object requests \
                         with Object Lock parameters</Message></Error>"
                            .to_string(),
                    )
                };
                write_answer(r.get_mut(), status, &answer);
            }
        });
        (url, seen)
    }

    #[test]
    fn a_store_that_asks_for_content_md5_gets_it_from_then_on() {
        let (url, seen) = md5_demanding_server(3);
        let c = crate::s3::retry::tests::client_for(&url);
        let (file, data) = patterned_file(300_000);
        // Refused without it, sent again at once with it.
        let mut req = Request::new(Method::PUT, Some("a"), "PUT a");
        req.body = Body::Bytes(data[..1000].to_vec().into());
        c.send_for_headers(&req).unwrap();
        // From then on every body carries it, a streamed file's too.
        let mut req = Request::new(Method::PUT, Some("b"), "PUT b");
        req.body = Body::File {
            file,
            offset: 7,
            len: 250_000,
        };
        req.body_sha256 = Some(<sha2::Sha256 as sha2::Digest>::digest(&data[7..250_007]).into());
        c.send_for_headers(&req).unwrap();
        assert_eq!(*seen.lock().unwrap(), [false, true, true]);
        assert_eq!(c.requests(), 3);
    }

    #[test]
    fn other_refusals_do_not_bring_content_md5() {
        let e = |code: &str, message: &str| Error::Service {
            op: "PUT k".into(),
            status: 400,
            code: code.into(),
            message: message.into(),
        };
        assert!(wants_content_md5(&e(
            "InvalidRequest",
            "Content-MD5 HTTP header is required for Put Object requests with Object Lock parameters"
        )));
        assert!(!wants_content_md5(&e(
            "InvalidRequest",
            "Invalid part number"
        )));
        assert!(!wants_content_md5(&e(
            "BadDigest",
            "The Content-MD5 you specified did not match"
        )));
    }

    /// A file of `n` bytes that differ from their neighbours.
    fn patterned_file(n: usize) -> (Arc<File>, Vec<u8>) {
        use std::io::Write;
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&data).unwrap();
        (Arc::new(f), data)
    }

    #[test]
    fn a_file_that_shrank_under_its_streamed_body_fails_the_upload() {
        // The body is said to be longer than the file now is: the reader
        // comes short, the request is not completed, and the upload fails
        // instead of sending fewer bytes than promised.
        let (url, bodies) = recording_server(vec![(200, ""); 3]);
        let c = crate::s3::retry::tests::client_for(&url);
        let piece = super::super::streamed::PIECE;
        let (file, _) = patterned_file(2 * piece);
        let mut req = Request::new(Method::PUT, Some("k"), "PUT k");
        req.body = Body::File {
            file,
            offset: 0,
            len: 3 * piece as u64,
        };
        let err = c.send_for_headers(&req).unwrap_err().to_string();
        assert!(err.contains("the file shrank"), "{err}");
        assert!(bodies.lock().unwrap().is_empty(), "no whole body arrived");
    }

    #[test]
    fn a_retried_file_body_is_read_again_from_its_offset() {
        let failed = "<Error><Code>InternalError</Code><Message>x</Message></Error>";
        let (url, bodies) = recording_server(vec![(500, failed), (200, "")]);
        let c = crate::s3::retry::tests::client_for(&url);
        let piece = super::super::streamed::PIECE;
        let (file, data) = patterned_file(3 * piece);
        let (offset, len) = (1000, 2 * piece + 77);
        let mut req = Request::new(Method::PUT, Some("k"), "PUT k");
        req.body = Body::File {
            file,
            offset: offset as u64,
            len: len as u64,
        };
        let headers = c.send_for_headers(&req).unwrap();
        assert_eq!(headers.get("etag").unwrap(), "\"e\"");
        let bodies = bodies.lock().unwrap();
        assert_eq!(bodies.len(), 2);
        for body in bodies.iter() {
            assert!(body[..] == data[offset..offset + len], "a body differs");
        }
    }

    #[test]
    fn a_file_body_is_read_in_large_pieces() {
        /// Records the size of each read.
        struct Counted(std::io::Cursor<Vec<u8>>, Arc<std::sync::Mutex<Vec<usize>>>);
        impl Read for Counted {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.read(buf)?;
                self.1.lock().unwrap().push(n);
                Ok(n)
            }
        }
        let (url, bodies) = recording_server(vec![(200, "")]);
        let c = crate::s3::retry::tests::client_for(&url);
        let piece = super::super::streamed::PIECE;
        let (_, data) = patterned_file(3 * piece + 5);
        let reads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut req = Request::new(Method::PUT, Some("k"), "PUT k");
        req.body = Body::File {
            file: Arc::new(tempfile::tempfile().unwrap()),
            offset: 0,
            len: data.len() as u64,
        };
        let reader = Counted(std::io::Cursor::new(data.clone()), reads.clone());
        c.stream_once(&req, reader, data.len() as u64)
            .map_err(|(_, e)| e)
            .unwrap();
        // Four reads for three pieces and five bytes, not one per 8 KiB.
        assert_eq!(*reads.lock().unwrap(), [piece, piece, piece, 5]);
        assert!(bodies.lock().unwrap()[0] == data, "the body differs");
    }

    #[test]
    fn error_answers_become_words() {
        let c = client(Endpoint::Aws, "bkt");
        let req = Request::new(Method::GET, None, "ListObjectsV2");
        let e = |status, code: &str, msg: &str| {
            c.error_for(&req, status, code.into(), msg.into())
                .to_string()
        };
        assert!(e(403, "SignatureDoesNotMatch", "x").contains("refused the credentials"));
        assert!(e(403, "InvalidAccessKeyId", "x").contains("refused the credentials"));
        assert!(
            e(403, "AccessDenied", "Forbidden: Invalid signature")
                .contains("refused the credentials")
        );
        assert!(e(403, "AccessDenied", "nope").contains("access denied"));
        assert!(e(404, "NoSuchBucket", "x").contains("does not exist"));
        assert!(e(404, "", "").contains("bucket \"bkt\" does not exist"));
        assert!(e(403, "RequestTimeTooSkewed", "x").contains("clock is wrong"));
        assert!(
            e(400, "InvalidRequest", "Bad request: Date is too old").contains("clock is wrong")
        );
        assert!(e(500, "InternalError", "boom").contains("HTTP 500 InternalError: boom"));
    }
}
