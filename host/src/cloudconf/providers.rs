//! Temporary credentials from the sources the AWS CLI asks when no keys are
//! written down: a profile's `credential_process`, web identity (STS
//! `AssumeRoleWithWebIdentity`), the container endpoint (ECS, EKS Pod
//! Identity) and the EC2 instance metadata service (IMDSv2). Each is a
//! `Refresh`, so the S3 client asks it again before its keys expire.
//!
//! Invariants: every answer is checked (both keys present, a version or a
//! status where the protocol has one, an expiration that parses) before it
//! is used; secrets never appear in messages; the instance metadata service
//! and the container endpoint are never reached through a proxy; a
//! container endpoint over plain HTTP must be on this machine or one of the
//! link-local addresses AWS documents.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use reqwest::blocking::Client;
use serde::Deserialize;

use crate::s3::{Credentials, Refresh};

/// How long a `credential_process` may run.
pub const PROCESS_TIMEOUT: Duration = Duration::from_secs(120);

/// The most a `credential_process` may print.
const PROCESS_MAX_OUTPUT: u64 = 1024 * 1024;

/// The instance metadata service, over IPv4 and over IPv6.
pub const IMDS_IPV4: &str = "http://169.254.169.254";
/// The instance metadata service over IPv6 (Nitro instances).
pub const IMDS_IPV6: &str = "http://[fd00:ec2::254]";

/// The ECS task endpoint `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` is relative to.
pub const ECS_HOST: &str = "http://169.254.170.2";

/// The JSON fields the instance metadata service, the container endpoint
/// and `credential_process` answer with (each uses some of them).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    version: Option<serde_json::Value>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    session_token: Option<String>,
    expiration: Option<String>,
    code: Option<String>,
    message: Option<String>,
}

/// Parses an ISO 8601 time (`2026-01-02T03:04:05Z`).
fn parse_time(s: &str) -> Result<SystemTime, String> {
    let t = aws_smithy_types::DateTime::from_str(
        s.trim(),
        aws_smithy_types::date_time::Format::DateTime,
    )
    .map_err(|_| format!("its Expiration {s:?} is not an ISO 8601 time"))?;
    SystemTime::try_from(t).map_err(|_| format!("its Expiration {s:?} is out of range"))
}

/// The keys in a JSON answer, checked.
fn keys_from(answer: Answer) -> Result<Credentials, String> {
    let (Some(id), Some(secret)) = (
        answer.access_key_id.filter(|v| !v.is_empty()),
        answer.secret_access_key.filter(|v| !v.is_empty()),
    ) else {
        return Err("its answer lacks AccessKeyId or SecretAccessKey".into());
    };
    Ok(Credentials {
        access_key_id: id,
        secret_access_key: secret,
        session_token: answer
            .session_token
            .or(answer.token)
            .filter(|v| !v.is_empty()),
        expires: answer.expiration.as_deref().map(parse_time).transpose()?,
    })
}

fn parse_answer(text: &[u8]) -> Result<Answer, String> {
    serde_json::from_slice(text).map_err(|e| format!("its answer is not the expected JSON ({e})"))
}

/// An HTTP client for a credentials endpoint: `timeout` for the whole
/// request, no proxy for the link-local services, an extra CA file if given.
fn http(timeout: Duration, proxy: bool, ca_file: Option<&Path>) -> Result<Client, String> {
    let mut b = Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("poof/", env!("CARGO_PKG_VERSION")));
    if !proxy {
        b = b.no_proxy();
    }
    if let Some(ca) = ca_file {
        for cert in crate::s3::read_ca_file(ca).map_err(|e| e.to_string())? {
            b = b.add_root_certificate(cert);
        }
    }
    b.build()
        .map_err(|e| format!("cannot set up the HTTP client ({e})"))
}

/// The body of an answer, or an error naming `what` and the status.
fn body_of(
    resp: reqwest::Result<reqwest::blocking::Response>,
    what: &str,
) -> Result<(u16, Vec<u8>), String> {
    let resp = resp.map_err(|e| format!("{what}: {}", describe(&e)))?;
    let status = resp.status().as_u16();
    let mut body = Vec::new();
    resp.take(PROCESS_MAX_OUTPUT)
        .read_to_end(&mut body)
        .map_err(|e| format!("{what}: the answer broke off ({e})"))?;
    Ok((status, body))
}

/// A transport error in words, with its causes.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut words = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !words.contains(&text) {
            words = format!("{words}: {text}");
        }
        source = s.source();
    }
    words
}

/// A profile's `credential_process`: a program that prints keys as JSON
/// (`Version` 1, `AccessKeyId`, `SecretAccessKey`, optional `SessionToken`
/// and `Expiration`), run again before they expire.
#[derive(Debug, Clone)]
pub struct Process {
    /// The command line, split into words as a POSIX shell would (quotes,
    /// backslashes), then run without a shell, as the AWS CLI runs it.
    pub command: String,
    /// The profile and file it comes from, for messages.
    pub origin: String,
}

impl Refresh for Process {
    fn fetch(&self) -> Result<Credentials, String> {
        let cmd = &self.command;
        let argv = shlex::split(cmd)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| format!("`{cmd}` cannot be split into words (an unclosed quote?)"))?;
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .stdin(Stdio::inherit())
            .stderr(Stdio::inherit());
        let out = crate::child::capture(command, PROCESS_TIMEOUT, |out| {
            let mut buf = Vec::new();
            out.take(PROCESS_MAX_OUTPUT).read_to_end(&mut buf)?;
            Ok(buf)
        })
        .map_err(|why| format!("`{cmd}` {why}"))?;
        let answer = parse_answer(&out).map_err(|why| format!("`{cmd}`: {why}"))?;
        match &answer.version {
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => return Err(format!("`{cmd}` printed Version {v}; poof reads Version 1")),
            None => {
                return Err(format!(
                    "`{cmd}` printed no Version; it must print \"Version\": 1"
                ));
            }
        }
        keys_from(answer).map_err(|why| format!("`{cmd}`: {why}"))
    }

    fn describe(&self) -> String {
        format!("credential_process of {}", self.origin)
    }
}

/// The EC2 instance metadata service, version 2: a session token first
/// (`PUT /latest/api/token`), then the role's name and its keys.
#[derive(Debug, Clone)]
pub struct Imds {
    /// `http://169.254.169.254`, or what `AWS_EC2_METADATA_SERVICE_ENDPOINT` says.
    pub endpoint: String,
    /// How long each request may take (`AWS_METADATA_SERVICE_TIMEOUT`, 1 s).
    pub timeout: Duration,
    /// How many times each request is tried (`AWS_METADATA_SERVICE_NUM_ATTEMPTS`, 1).
    pub attempts: u32,
    /// Whether to carry on without a token (IMDSv1) when the service
    /// refuses to give one; off with `AWS_EC2_METADATA_V1_DISABLED=true`.
    pub v1_allowed: bool,
}

/// Why the instance metadata service gave no keys.
#[derive(Debug)]
pub enum ImdsMiss {
    /// Nothing answers there (not on EC2), or the instance has no role.
    Absent(String),
    /// It answered, but not with keys.
    Failed(String),
}

const IMDS_CREDENTIALS: &str = "/latest/meta-data/iam/security-credentials/";

impl Imds {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.trim_end_matches('/'))
    }

    /// Sends a request built by `build` up to `attempts` times while the
    /// service cannot be reached.
    fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::blocking::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ImdsMiss> {
        let mut last = String::new();
        for _ in 0..self.attempts.max(1) {
            match build().send() {
                Ok(resp) => return body_of(Ok(resp), what).map_err(ImdsMiss::Failed),
                Err(e) => last = format!("{what}: {}", describe(&e)),
            }
        }
        Err(ImdsMiss::Absent(last))
    }

    /// The keys of the instance's role.
    pub fn get(&self) -> Result<Credentials, ImdsMiss> {
        let client = http(self.timeout, false, None).map_err(ImdsMiss::Failed)?;
        let (status, token) = self.send("asking it for a session token", || {
            client
                .put(self.url("/latest/api/token"))
                .header("x-aws-ec2-metadata-token-ttl-seconds", "21600")
        })?;
        let token = match status {
            200 => Some(String::from_utf8_lossy(&token).trim().to_string()),
            // No IMDSv2 here: version 1 takes no token (the AWS CLI does the same).
            403..=405 if self.v1_allowed => None,
            _ => {
                return Err(ImdsMiss::Absent(format!(
                    "it gave no session token (HTTP {status})"
                )));
            }
        };
        let get = |path: String, what: &str| {
            self.send(what, || {
                let req = client.get(self.url(&path));
                match &token {
                    Some(t) => req.header("x-aws-ec2-metadata-token", t),
                    None => req,
                }
            })
        };
        let (status, roles) = get(IMDS_CREDENTIALS.into(), "asking it for the instance's role")?;
        let roles = String::from_utf8_lossy(&roles);
        let role = roles.lines().map(str::trim).find(|l| !l.is_empty());
        let role = match (status, role) {
            (200, Some(role)) => role.to_string(),
            (404, _) | (200, None) => {
                return Err(ImdsMiss::Absent(
                    "the instance has no IAM role (instance profile)".into(),
                ));
            }
            (status, _) => {
                return Err(ImdsMiss::Failed(format!(
                    "asking it for the instance's role: HTTP {status}"
                )));
            }
        };
        let what = format!("asking it for the keys of role {role}");
        let (status, body) = get(format!("{IMDS_CREDENTIALS}{role}"), &what)?;
        if status != 200 {
            return Err(ImdsMiss::Failed(format!("{what}: HTTP {status}")));
        }
        let answer =
            parse_answer(&body).map_err(|why| ImdsMiss::Failed(format!("{what}: {why}")))?;
        if let Some(code) = answer.code.as_deref().filter(|c| *c != "Success") {
            let message = answer.message.as_deref().unwrap_or("");
            return Err(ImdsMiss::Failed(format!("{what}: {code} {message}")));
        }
        keys_from(answer).map_err(|why| ImdsMiss::Failed(format!("{what}: {why}")))
    }
}

impl Refresh for Imds {
    fn fetch(&self) -> Result<Credentials, String> {
        self.get().map_err(|miss| match miss {
            ImdsMiss::Absent(why) | ImdsMiss::Failed(why) => why,
        })
    }

    fn describe(&self) -> String {
        format!("the EC2 instance metadata service at {}", self.endpoint)
    }
}

/// The container credentials endpoint (ECS tasks, EKS Pod Identity).
#[derive(Debug, Clone)]
pub struct Container {
    /// The full URL asked.
    pub url: String,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: read at every request (EKS rotates it).
    pub token_file: Option<PathBuf>,
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, when there is no token file.
    pub token: Option<String>,
    /// An extra CA file for an https:// endpoint.
    pub ca_file: Option<PathBuf>,
}

impl Container {
    /// Checks a full URI the way the AWS SDKs do: any https:// URL, or an
    /// http:// one on this machine or on the ECS and EKS addresses.
    pub fn check_url(url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
        let host = parsed.host_str().unwrap_or_default();
        let allowed = match parsed.scheme() {
            "https" => true,
            "http" => {
                matches!(host, "169.254.170.2" | "169.254.170.23" | "[fd00:ec2::23]")
                    || host == "localhost"
                    || host
                        .trim_matches(|c| c == '[' || c == ']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{url} is not allowed: over http:// the container endpoint must be on this \
                 machine (127.0.0.1, ::1, localhost) or 169.254.170.2 / 169.254.170.23; use https://"
            ))
        }
    }
}

impl Refresh for Container {
    fn fetch(&self) -> Result<Credentials, String> {
        let token = match (&self.token_file, &self.token) {
            (Some(file), _) => Some(std::fs::read_to_string(file).map_err(|e| {
                format!(
                    "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}",
                    file.display()
                )
            })?),
            (None, token) => token.clone(),
        };
        let token = token.map(|t| t.trim().to_string());
        if token.as_deref().is_some_and(|t| t.contains(['\r', '\n'])) {
            return Err("the authorization token holds a line break".into());
        }
        let client = http(Duration::from_secs(5), false, self.ca_file.as_deref())?;
        let mut req = client.get(&self.url);
        if let Some(t) = &token {
            req = req.header("authorization", t);
        }
        let (status, body) = body_of(req.send(), "asking it for keys")?;
        if status != 200 {
            let text = String::from_utf8_lossy(&body);
            return Err(format!("it answered HTTP {status}: {}", text.trim()));
        }
        keys_from(parse_answer(&body)?)
    }

    fn describe(&self) -> String {
        format!("the container credentials endpoint {}", self.url)
    }
}

/// Web identity: an OIDC token from a file, exchanged for a role's keys
/// through STS `AssumeRoleWithWebIdentity` (an unsigned request).
#[derive(Debug, Clone)]
pub struct WebIdentity {
    /// The file holding the token (read at every request: it is rotated).
    pub token_file: PathBuf,
    /// The role to assume.
    pub role_arn: String,
    /// The session's name.
    pub session_name: String,
    /// The STS endpoint, e.g. `https://sts.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    /// An extra CA file.
    pub ca_file: Option<PathBuf>,
}

/// The text of the first element named `name` under `node`.
fn xml_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or("").trim())
}

/// Reads STS's answer: the `Credentials` of an
/// `AssumeRoleWithWebIdentityResponse`, or the `Error` of an `ErrorResponse`.
pub fn parse_sts(body: &str) -> Result<Credentials, String> {
    let doc =
        roxmltree::Document::parse(body).map_err(|e| format!("its answer is not XML ({e})"))?;
    let root = doc.root_element();
    if let Some(error) = root
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "Error")
    {
        return Err(format!(
            "{}: {}",
            xml_text(error, "Code").unwrap_or("an error"),
            xml_text(error, "Message").unwrap_or("")
        ));
    }
    let creds = root
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "Credentials")
        .ok_or("its answer holds no Credentials")?;
    let field = |name| xml_text(creds, name).map(str::to_string);
    keys_from(Answer {
        version: None,
        access_key_id: field("AccessKeyId"),
        secret_access_key: field("SecretAccessKey"),
        token: None,
        session_token: field("SessionToken"),
        expiration: field("Expiration"),
        code: None,
        message: None,
    })
}

impl Refresh for WebIdentity {
    fn fetch(&self) -> Result<Credentials, String> {
        let token = std::fs::read_to_string(&self.token_file).map_err(|e| {
            format!(
                "cannot read the web identity token {}: {e}",
                self.token_file.display()
            )
        })?;
        let client = http(Duration::from_secs(30), true, self.ca_file.as_deref())?;
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.session_name.as_str()),
            ("WebIdentityToken", token.trim()),
        ];
        let req = client.post(&self.endpoint).form(&form);
        let (status, body) = body_of(req.send(), "asking STS")?;
        let text = String::from_utf8_lossy(&body);
        match parse_sts(&text) {
            Ok(keys) if status == 200 => Ok(keys),
            Ok(_) => Err(format!("STS answered HTTP {status}")),
            Err(why) => Err(format!("STS (HTTP {status}): {why}")),
        }
    }

    fn describe(&self) -> String {
        format!(
            "web identity (role {}, token {}) through STS at {}",
            self.role_arn,
            self.token_file.display(),
            self.endpoint
        )
    }
}

#[cfg(test)]
mod tests;
