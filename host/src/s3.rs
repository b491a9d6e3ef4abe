//! A small blocking S3 client: just what poof needs, against AWS and every
//! S3-compatible store (Garage, MinIO, Ceph, Backblaze B2, Cloudflare R2,
//! Wasabi).
//!
//! Requests are signed with SigV4 by the AWS SDK's own signer (`aws-sigv4`)
//! and sent with reqwest over rustls, trusting Mozilla's roots compiled into
//! the binary plus an optional extra CA file: through its blocking client,
//! except a single PUT's file body, which its async client sends in large
//! pieces (`streamed`).
//!
//! Invariants:
//! - every request carries `x-amz-content-sha256` (the body's hash, or
//!   `UNSIGNED-PAYLOAD` for a streamed file) and is signed;
//! - file contents are streamed, never loaded whole, except files of at most
//!   1 MiB (`ops::READ_ONCE`), and of at most a part's size while the parts'
//!   budget has room for them, read once and sent from memory: another
//!   single PUT reads the file as it sends it, a multipart upload holds at most `concurrency`
//!   parts in memory, and all uploads together at most
//!   `budget::PART_BUFFERS` bytes of parts;
//! - transient failures are retried a bounded number of times with
//!   exponential backoff and jitter; permanent ones fail at once;
//! - a multipart upload that fails is aborted, so it leaves no parts behind;
//! - secrets never appear in `Debug` output or in messages.

mod budget;
pub mod credentials;
mod listing;
mod multipart;
mod ops;
mod ranged;
mod request;
mod retry;
mod streamed;
mod xml;

#[cfg(test)]
mod live_tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use credentials::{Provider, Refresh};
pub use ops::{Created, DeleteFailure, Head, ListPage, Object, ObjectLock, Upload, Versioning};
pub use request::encode_key;
pub use retry::RetryPolicy;

/// Everything that can go wrong talking to S3.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work (a bad endpoint URL, an unreadable CA file).
    #[error("{0}")]
    Config(String),
    /// The server could not be reached: connection refused, unknown host,
    /// TLS failure or timeout.
    #[error(
        "cannot reach {endpoint}: {detail}; check the endpoint, your network and that the server runs"
    )]
    Connect {
        /// The endpoint, without credentials.
        endpoint: String,
        /// What the network layer said.
        detail: String,
    },
    /// The server does not know the access key, or the signature does not
    /// match (a wrong secret key).
    #[error(
        "the server refused the credentials ({code}: {message}); check the access key id and the secret access key"
    )]
    BadCredentials {
        /// `InvalidAccessKeyId` or `SignatureDoesNotMatch`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The bucket does not exist.
    #[error(
        "bucket {bucket:?} does not exist; create it (`poof verify --create-bucket`), or fix the bucket name"
    )]
    NoSuchBucket {
        /// The bucket asked for.
        bucket: String,
    },
    /// The object does not exist.
    #[error("object {key:?} does not exist")]
    NoSuchKey {
        /// The key asked for.
        key: String,
    },
    /// The local clock is too far from the server's for signatures to be accepted.
    #[error(
        "the server says this computer's clock is wrong ({message}); set the date and time (enable NTP), then run poof again"
    )]
    ClockSkew {
        /// The server's message.
        message: String,
    },
    /// The credentials are valid but not allowed to do this.
    #[error(
        "access denied to {what} ({message}); give this key read and write access to the bucket"
    )]
    AccessDenied {
        /// The bucket or object.
        what: String,
        /// The server's message.
        message: String,
    },
    /// Any other error answer from the server.
    #[error("{op} failed: HTTP {status} {code}: {message}")]
    Service {
        /// The operation, with the object it was about.
        op: String,
        /// The HTTP status code.
        status: u16,
        /// The S3 error code, e.g. `InternalError`; empty when the answer had no body.
        code: String,
        /// The server's message.
        message: String,
    },
    /// An answer the client could not understand.
    #[error("{op}: unexpected answer from the server: {detail}")]
    BadResponse {
        /// The operation.
        op: String,
        /// What was wrong with it.
        detail: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Temporary credentials expired and their source could not renew them.
    #[error("{0}")]
    Credentials(String),
    /// A transient failure outlasted every retry.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        last: Box<Error>,
    },
}

impl Error {
    /// The error itself, or the last failure behind a `GaveUp`.
    pub fn root(&self) -> &Error {
        match self {
            Error::GaveUp { last, .. } => last.root(),
            e => e,
        }
    }

    /// True for a server's error answer with this S3 error code.
    pub fn is_code(&self, want: &str) -> bool {
        matches!(self, Error::Service { code, .. } if code == want)
    }
}

/// A `Result` with this module's `Error`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An access key pair, with an optional session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key id (not secret, but kept out of messages anyway).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
    /// When temporary credentials stop working; `None` for keys that do not expire.
    pub expires: Option<std::time::SystemTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &redact(&self.access_key_id))
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expires", &self.expires)
            .finish()
    }
}

/// Shows the first four characters of a key id, enough to tell two apart.
pub fn redact(key_id: &str) -> String {
    let head: String = key_id.chars().take(4).collect();
    format!("{head}…")
}

/// Where the S3 API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// AWS in a region: `s3.REGION.amazonaws.com`.
    Aws,
    /// Any other store at this base URL, e.g. `http://127.0.0.1:3900`.
    Custom(reqwest::Url),
}

/// How a bucket is named in request URLs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Addressing {
    /// Virtual-hosted style on AWS (`https://BUCKET.s3.REGION.amazonaws.com/KEY`,
    /// but path style for bucket names with dots, which the wildcard
    /// certificate does not cover); path style on every other endpoint
    /// (`http://127.0.0.1:3900/BUCKET/KEY`), which every S3-compatible store
    /// understands.
    #[default]
    Auto,
    /// Always path style: `ENDPOINT/BUCKET/KEY` (rclone's `force_path_style = true`).
    Path,
    /// Always virtual-hosted style: the bucket is the first label of the
    /// host name, `BUCKET.ENDPOINT-HOST/KEY` (rclone's `force_path_style = false`).
    Virtual,
}

impl Addressing {
    /// Reads rclone's `force_path_style` (`true` or `false`).
    pub fn from_force_path_style(v: &str) -> Option<Addressing> {
        match v.trim().to_ascii_lowercase().as_str() {
            "true" => Some(Addressing::Path),
            "false" => Some(Addressing::Virtual),
            _ => None,
        }
    }

    /// Reads the AWS CLI's `addressing_style` (`auto`, `path` or `virtual`).
    pub fn from_addressing_style(v: &str) -> Option<Addressing> {
        match v.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Addressing::Auto),
            "path" => Some(Addressing::Path),
            "virtual" => Some(Addressing::Virtual),
            _ => None,
        }
    }
}

impl Endpoint {
    /// Parses an endpoint as written in a config: empty means AWS; a URL
    /// without a scheme gets `https://`.
    pub fn parse(endpoint: &str) -> Result<Endpoint> {
        let endpoint = endpoint.trim();
        if endpoint.is_empty() {
            return Ok(Endpoint::Aws);
        }
        let with_scheme = if endpoint.contains("://") {
            endpoint.to_string()
        } else {
            format!("https://{endpoint}")
        };
        let url = reqwest::Url::parse(&with_scheme).map_err(|e| {
            Error::Config(format!(
                "endpoint {endpoint:?} is not a URL ({e}); write it like https://s3.example.com or http://127.0.0.1:3900"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Config(format!(
                "endpoint {endpoint:?} must be an http:// or https:// URL with a host"
            )));
        }
        if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config(format!(
                "endpoint {endpoint:?} must not carry a query or credentials"
            )));
        }
        Ok(Endpoint::Custom(url))
    }
}

/// Everything needed to talk to one bucket.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the API is.
    pub endpoint: Endpoint,
    /// The signing region (`us-east-1` when the config names none; Garage
    /// wants its `s3_region`).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// The keys, fixed or refreshed before they expire.
    pub credentials: Provider,
    /// How the bucket is named in URLs.
    pub addressing: Addressing,
    /// The region `create_bucket` asks for (`LocationConstraint`), if any.
    pub location_constraint: Option<String>,
    /// `x-amz-acl` on `create_bucket` (`private`, ...), if any.
    pub bucket_acl: Option<String>,
    /// `x-amz-server-side-encryption` on uploads (`AES256`, `aws:kms`), if any.
    pub server_side_encryption: Option<String>,
    /// `x-amz-storage-class` on uploads (`STANDARD_IA`, ...), if any.
    pub storage_class: Option<String>,
    /// `x-amz-acl` on uploads (`private`, ...), if any.
    pub acl: Option<String>,
    /// Files of at least this size are sent as multipart uploads.
    pub multipart_threshold: u64,
    /// The size of each part (at least 5 MiB, S3's minimum).
    pub part_size: u64,
    /// How many parts of one file are sent at once, and how many ranges of
    /// one large object are fetched at once.
    pub concurrency: usize,
    /// Objects of at least this size are downloaded in parallel ranges.
    pub ranged_get_from: u64,
    /// The size of each range of a ranged download.
    pub range_size: u64,
    /// An extra CA certificate file (PEM), trusted besides the bundled roots.
    pub ca_file: Option<PathBuf>,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// The user metadata key under which a multipart upload's MD5 (base64)
    /// is written, and read back to check downloads whose ETag is no MD5;
    /// `None`: not written, and such downloads are checked by length only.
    /// The client has no convention of its own: the remote sets rclone's.
    pub md5_meta: Option<String>,
    /// The user metadata key under which an uploaded file's SHA-256 (hex) is
    /// written; `None`: not written.
    pub sha256_meta: Option<String>,
}

/// S3's smallest part (except the last one).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// S3's largest number of parts in one upload.
pub const MAX_PARTS: u64 = 10_000;
/// Objects of at least this size are downloaded in parallel ranges
/// (docs/BENCHMARKS.md, "Ranged downloads").
pub const RANGED_GET_FROM: u64 = 32 * 1024 * 1024;
/// The size of each range of a ranged download.
pub const RANGE_SIZE: u64 = 8 * 1024 * 1024;

impl Config {
    /// For tests that never reach a real server: bucket `bkt` in `region`
    /// at `endpoint`, with keys no server accepts.
    #[cfg(test)]
    pub fn for_tests(endpoint: Endpoint, region: &str) -> Config {
        Config::new(
            endpoint,
            region,
            "bkt",
            Credentials {
                access_key_id: "AK".into(),
                secret_access_key: "s".into(),
                session_token: None,
                expires: None,
            },
        )
    }

    /// A config with rclone's defaults for the transfer settings: 200 MiB
    /// threshold, 5 MiB parts, 4 parts at once.
    pub fn new(
        endpoint: Endpoint,
        region: &str,
        bucket: &str,
        credentials: impl Into<Provider>,
    ) -> Self {
        Config {
            endpoint,
            region: if region.is_empty() {
                "us-east-1".into()
            } else {
                region.into()
            },
            bucket: bucket.into(),
            credentials: credentials.into(),
            addressing: Addressing::Auto,
            location_constraint: None,
            bucket_acl: None,
            server_side_encryption: None,
            storage_class: None,
            acl: None,
            multipart_threshold: 200 * 1024 * 1024,
            part_size: MIN_PART_SIZE,
            concurrency: 4,
            ranged_get_from: RANGED_GET_FROM,
            range_size: RANGE_SIZE,
            ca_file: None,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(15),
            md5_meta: None,
            sha256_meta: None,
        }
    }

    /// The upload headers the config asks for (encryption, storage class, ACL).
    fn upload_headers(&self) -> Vec<(String, String)> {
        let mut h = Vec::new();
        let mut add = |name: &str, v: &Option<String>| {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                h.push((name.to_string(), v.to_string()));
            }
        };
        add("x-amz-server-side-encryption", &self.server_side_encryption);
        add("x-amz-storage-class", &self.storage_class);
        add("x-amz-acl", &self.acl);
        h
    }
}

/// A client for one bucket. Cheap to share between threads.
pub struct Client {
    config: Config,
    http: reqwest::blocking::Client,
    /// Seconds added to the clock when signing; tests use it to fake skew.
    clock_shift_secs: i64,
    /// The client for GETs: on plain-HTTP endpoints it opens a connection per
    /// request (see `Client::new`); otherwise the same pooled client.
    http_get: reqwest::blocking::Client,
    /// The async client for file bodies without --bwlimit, started on the
    /// first such upload (see `streamed`).
    streamer: std::sync::OnceLock<streamed::Streamer>,
    /// `streamer`'s client, built with the same settings as `http`.
    http_async: reqwest::Client,
    /// Requests sent so far, retries included (reported in `--json` summaries).
    requests: std::sync::atomic::AtomicU64,
    /// The store refused an upload for want of `Content-MD5` (AWS does on a
    /// bucket with Object Lock retention): every body goes with it from then on.
    content_md5: std::sync::atomic::AtomicBool,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// How many requests this client has sent, retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Builds a client; reads the extra CA file, if the config names one.
    pub fn new(config: Config) -> Result<Client> {
        if config.part_size < MIN_PART_SIZE {
            return Err(Error::Config(format!(
                "the part size must be at least 5 MiB (S3's minimum); it is {} bytes",
                config.part_size
            )));
        }
        if config.bucket.len() < 3 {
            return Err(Error::Config(format!(
                "bucket name {:?} is too short; S3 bucket names have 3 to 63 characters",
                config.bucket
            )));
        }
        let vhost = match (&config.endpoint, config.addressing) {
            (Endpoint::Custom(url), Addressing::Virtual) => {
                let host = url.host_str().unwrap_or_default();
                if host
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok()
                {
                    return Err(Error::Config(format!(
                        "virtual-hosted addressing (force_path_style = false) puts the bucket's \
                         name in front of the endpoint's host, and {host} is an IP address; use a \
                         host name, or path style (force_path_style = true)"
                    )));
                }
                Some((format!("{}.{host}", config.bucket), host.to_string()))
            }
            _ => None,
        };
        let certs = match &config.ca_file {
            Some(ca) => read_ca_file(ca)?,
            None => Vec::new(),
        };
        // The same settings for the blocking clients and the async one.
        macro_rules! configure {
            ($builder:expr, $idle_per_host:expr) => {{
                let mut builder = $builder
                    .connect_timeout(config.connect_timeout)
                    .tcp_keepalive(Duration::from_secs(30))
                    .pool_max_idle_per_host($idle_per_host)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("poof/", env!("CARGO_PKG_VERSION")))
                    .https_only(false);
                for cert in &certs {
                    builder = builder.add_root_certificate(cert.clone());
                }
                if let Endpoint::Custom(url) = &config.endpoint
                    && url.host_str().is_some_and(is_loopback)
                {
                    // A store on this machine is never reached through a proxy.
                    builder = builder.no_proxy();
                }
                if let Some((name, host)) = &vhost
                    && is_loopback(host)
                {
                    // `BUCKET.localhost` is this machine (RFC 6761, as curl
                    // resolves it), whatever the system resolver knows.
                    builder = builder.resolve(name, (std::net::Ipv4Addr::LOCALHOST, 0).into());
                }
                builder
                    .build()
                    .map_err(|e| Error::Config(format!("cannot set up the HTTP client: {e}")))
            }};
        }
        let build = |idle_per_host: usize| {
            // Whole-request timeouts are set per request: a large upload may
            // rightly take hours. (The async client has none by default.)
            configure!(
                reqwest::blocking::Client::builder().timeout(None),
                idle_per_host
            )
        };
        let http_async = configure!(reqwest::Client::builder(), 64)?;
        let http = build(64)?;
        // A plain-HTTP endpoint is a store on this machine or the LAN, where a
        // connection costs one round trip. There, a small GET on a reused
        // connection can stall for the 40 ms of a delayed ACK meeting the
        // server's Nagle (seen with Garage: restoring 10,000 files of 4 KiB
        // took 56 s with 8 transfers on reused connections, 5.3 s on fresh
        // ones), so GETs use a fresh connection each. Over TLS a handshake
        // costs more than that, and connections are reused.
        let plain_http =
            matches!(&config.endpoint, Endpoint::Custom(url) if url.scheme() == "http");
        let http_get = if plain_http { build(0)? } else { http.clone() };
        Ok(Client {
            config,
            http,
            http_get,
            streamer: std::sync::OnceLock::new(),
            http_async,
            clock_shift_secs: 0,
            requests: std::sync::atomic::AtomicU64::new(0),
            content_md5: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The config this client was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A short description for messages: `s3://bucket` on AWS, the
    /// path-style URL of the bucket elsewhere (`http://127.0.0.1:3900/bucket`),
    /// so that appending `/KEY` names an object.
    pub fn describe(&self) -> String {
        match &self.config.endpoint {
            Endpoint::Aws => format!("s3://{}", self.config.bucket),
            Endpoint::Custom(_) => self.bucket_url(),
        }
    }
}

/// True for `localhost`, names under `.localhost` (RFC 6761) and loopback addresses.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The certificates of a PEM file, or an error that says what is wrong with it.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the CA file {}: {e}; fix the path or leave the option out",
            path.display()
        ))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        Error::Config(format!(
            "{} holds no usable PEM certificate ({e}); give a file with -----BEGIN CERTIFICATE----- blocks",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "{} holds no PEM certificate; give a file with -----BEGIN CERTIFICATE----- blocks",
            path.display()
        )));
    }
    Ok(certs)
}

/// User metadata (`x-amz-meta-*`), keys in lower case without the prefix.
pub type Metadata = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("token-secret".into()),
            expires: None,
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = Config::new(Endpoint::Aws, "", "bucket", creds());
        let shown = format!("{c:?} {:?}", Client::new(c.clone()).unwrap());
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("token-secret"), "{shown}");
        assert!(!shown.contains("AKIDEXAMPLE"), "{shown}");
        assert!(shown.contains("AKID…"), "{shown}");
        assert_eq!(c.region, "us-east-1");
    }

    #[test]
    fn endpoints_parse_or_say_why_not() {
        assert_eq!(Endpoint::parse("").unwrap(), Endpoint::Aws);
        let Endpoint::Custom(u) = Endpoint::parse("s3.wasabisys.com").unwrap() else {
            panic!()
        };
        assert_eq!(u.as_str(), "https://s3.wasabisys.com/");
        let Endpoint::Custom(u) = Endpoint::parse("http://127.0.0.1:3900").unwrap() else {
            panic!()
        };
        assert_eq!(u.port(), Some(3900));
        let e = Endpoint::parse("ftp://x").unwrap_err().to_string();
        assert!(e.contains("http:// or https://"), "{e}");
        let e = Endpoint::parse("http://a b").unwrap_err().to_string();
        assert!(e.contains("is not a URL"), "{e}");
    }

    #[test]
    fn small_parts_and_bad_ca_files_are_refused() {
        let mut c = Config::new(Endpoint::Aws, "", "bucket", creds());
        c.part_size = 1024;
        let e = Client::new(c.clone()).unwrap_err().to_string();
        assert!(e.contains("at least 5 MiB"), "{e}");
        c.part_size = MIN_PART_SIZE;
        c.ca_file = Some("/nonexistent/ca.pem".into());
        let e = Client::new(c.clone()).unwrap_err().to_string();
        assert!(e.contains("cannot read the CA file"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("ca.pem");
        std::fs::write(&f, "not a certificate").unwrap();
        c.ca_file = Some(f);
        let e = Client::new(c).unwrap_err().to_string();
        assert!(e.contains("PEM certificate"), "{e}");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("[::1]"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("bkt.s3.garage.localhost"));
        assert!(!is_loopback("localhost.example.com"));
        assert!(!is_loopback("s3.amazonaws.com"));
    }
}
