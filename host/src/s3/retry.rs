//! Which S3 failures are worth another try, and how long to wait before it.
//!
//! Invariant: only failures that another attempt can cure are retried
//! (server errors, throttling, timeouts, dropped connections), and never
//! more than `RetryPolicy::attempts` times in all; a refusal (403, 404, 400)
//! fails at once.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// How transient failures are retried: exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt, doubled for each later one.
    pub base_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1): a
    /// random duration between half and all of `base * 2^(attempt-1)`,
    /// capped at `max_delay`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = exp / 2;
        // Jitter needs no cryptographic randomness: a freshly keyed hasher
        // gives a different number each time, without another dependency.
        let r = RandomState::new().hash_one(attempt);
        let frac = (r % 1_000_001) as f64 / 1_000_000.0;
        half + half.mul_f64(frac)
    }
}

/// What to do about a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Another attempt may succeed.
    Retry,
    /// Another attempt would fail the same way.
    Fail,
}

/// Classifies an error answer by its HTTP status and S3 error code.
pub fn classify_status(status: u16, code: &str) -> Verdict {
    match code {
        "SlowDown"
        | "RequestTimeout"
        | "InternalError"
        | "ServiceUnavailable"
        | "Throttling"
        | "ThrottlingException"
        | "RequestThrottled"
        | "TooManyRequests"
        // The body was damaged on the way (its Content-MD5 or SHA-256 did
        // not match): the file itself is fine, so sending it again can work.
        // Garage answers a SHA-256 that does not match with InvalidDigest
        // (AWS says that of a malformed Content-MD5: retried in vain, but
        // only as often as the policy allows).
        | "BadDigest"
        | "InvalidDigest"
        | "XAmzContentSHA256Mismatch" => return Verdict::Retry,
        _ => {}
    }
    match status {
        429 | 408 => Verdict::Retry,
        // A server that does not implement a request (Garage's answer to
        // GetObjectLockConfiguration) will not implement it a moment later.
        501 => Verdict::Fail,
        500..=599 => Verdict::Retry,
        _ => Verdict::Fail,
    }
}

/// Classifies a failure to get an answer at all.
pub fn classify_transport(e: &reqwest::Error) -> Verdict {
    if e.is_builder() || e.is_redirect() {
        return Verdict::Fail;
    }
    // Connection refused, reset, timed out, or the body broke off: the
    // server may be restarting or the network hiccuped. An unknown host
    // is retried too; it costs a few seconds and DNS does fail briefly.
    if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode() {
        return Verdict::Retry;
    }
    Verdict::Fail
}

/// Classifies an I/O error met while streaming a body.
pub fn classify_io(e: &std::io::Error) -> Verdict {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | TimedOut | UnexpectedEof
        | Interrupted => Verdict::Retry,
        // reqwest wraps its own errors in `Other` when a body is read.
        Other
            if e.get_ref()
                .is_some_and(|inner| inner.is::<reqwest::Error>()) =>
        {
            Verdict::Retry
        }
        _ => Verdict::Fail,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::s3::{Client, Config, Endpoint};

    #[test]
    fn server_trouble_is_retried_and_refusals_are_not() {
        assert_eq!(classify_status(500, "InternalError"), Verdict::Retry);
        assert_eq!(classify_status(503, "SlowDown"), Verdict::Retry);
        assert_eq!(classify_status(502, ""), Verdict::Retry);
        assert_eq!(classify_status(429, ""), Verdict::Retry);
        assert_eq!(classify_status(400, "RequestTimeout"), Verdict::Retry);
        // A body damaged on the way, in AWS's words and in Garage's.
        assert_eq!(classify_status(400, "BadDigest"), Verdict::Retry);
        assert_eq!(
            classify_status(400, "XAmzContentSHA256Mismatch"),
            Verdict::Retry
        );
        assert_eq!(classify_status(400, "InvalidDigest"), Verdict::Retry);
        assert_eq!(classify_status(403, "SignatureDoesNotMatch"), Verdict::Fail);
        assert_eq!(classify_status(403, "RequestTimeTooSkewed"), Verdict::Fail);
        assert_eq!(classify_status(404, "NoSuchKey"), Verdict::Fail);
        assert_eq!(classify_status(400, "InvalidArgument"), Verdict::Fail);
        assert_eq!(classify_status(501, "NotImplemented"), Verdict::Fail);
    }

    #[test]
    fn dropped_connections_are_retried() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            classify_io(&Error::from(ErrorKind::ConnectionReset)),
            Verdict::Retry
        );
        assert_eq!(
            classify_io(&Error::from(ErrorKind::PermissionDenied)),
            Verdict::Fail
        );
    }

    /// A one-shot HTTP server on loopback that gives the canned answers in
    /// turn, one per connection; returns its URL and the request count.
    pub(in crate::s3) fn canned_server(
        answers: Vec<(u16, &'static str)>,
    ) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                let mut req = Vec::new();
                let mut byte = [0u8; 1];
                while !req.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                    req.push(byte[0]);
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, count)
    }

    /// The header lines of one request read from `r`, lowercased, up to the
    /// blank line that ends them (the request line first); the body, if
    /// any, is left to read.
    pub(in crate::s3) fn request_head(r: &mut impl std::io::BufRead) -> Vec<String> {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                return head;
            }
            head.push(line.to_ascii_lowercase());
        }
    }

    /// A client for a test server at `url`, retrying 3 times quickly.
    pub(in crate::s3) fn client_for(url: &str) -> Client {
        let mut config = Config::for_tests(Endpoint::parse(url).unwrap(), "garage");
        config.retry.base_delay = Duration::from_millis(1);
        config.retry.attempts = 3;
        Client::new(config).unwrap()
    }

    const LISTING: &str = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";

    #[test]
    fn a_slow_down_is_retried_until_it_passes() {
        let slow = "<Error><Code>SlowDown</Code><Message>easy</Message></Error>";
        let (url, count) = canned_server(vec![(503, slow), (500, ""), (200, LISTING)]);
        client_for(&url).check_bucket().unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn retries_stop_at_the_bound_and_refusals_at_once() {
        let (url, count) = canned_server(vec![(503, ""), (503, ""), (503, ""), (200, LISTING)]);
        let e = client_for(&url).check_bucket().unwrap_err();
        assert!(e.to_string().starts_with("gave up after 3 attempts"), "{e}");
        assert_eq!(count.load(Ordering::SeqCst), 3);
        let denied = "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>";
        let (url, count) = canned_server(vec![(403, denied), (200, LISTING)]);
        let e = client_for(&url).check_bucket().unwrap_err();
        assert!(matches!(e, crate::s3::Error::BadCredentials { .. }), "{e}");
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn delays_grow_with_jitter_and_stay_bounded() {
        let p = RetryPolicy::default();
        for attempt in 1..=20 {
            let d = p.delay(attempt);
            let exp = p
                .base_delay
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(p.max_delay);
            assert!(d >= exp / 2 && d <= exp, "attempt {attempt}: {d:?}");
        }
        assert!(p.delay(1) <= Duration::from_millis(200));
        assert!(p.delay(30) <= p.max_delay);
        // Jitter: twenty draws are not all the same.
        let draws: std::collections::BTreeSet<_> = (0..20).map(|_| p.delay(3)).collect();
        assert!(draws.len() > 1);
    }
}
