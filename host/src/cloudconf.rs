//! Where an S3 remote's credentials and endpoint come from. First match wins:
//!
//! 1. the cloud config file poof 1.x used (`rclone-poof.conf`, rclone's INI
//!    format): the section poof.conf's `remote` names, or, for an
//!    `s3://BUCKET` remote, the file's only `type = s3` section;
//! 2. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!    `AWS_SESSION_TOKEN`, `AWS_REGION` / `AWS_DEFAULT_REGION`,
//!    `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`;
//! 3. `~/.aws/credentials` and `~/.aws/config`, profile `AWS_PROFILE` or `default`.
//!
//! A section with rclone's `env_auth = true` and no keys of its own takes
//! its keys from 2 and 3, and keeps its other settings.
//!
//! Invariants: secrets never appear in messages or `Debug` output; a
//! scaffold's `BOGUS…` placeholder is refused, naming the key and the file;
//! every refusal is a `ConfigError` (exit code 2) that says what to do.

pub mod ini;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::exit::ConfigError;
use crate::s3::{Credentials, redact};
use ini::Section;

/// Environment variables, captured once so that tests can pass their own.
#[derive(Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values may be secrets.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Env {
    /// The variables poof reads, from this process.
    pub fn from_process() -> Env {
        Env(std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect())
    }

    /// Variables given by hand.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// The value of `name`, if set and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// What to look in.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    /// The cloud config file (`confFile`, or `CONFDIR/rclone-poof.conf`).
    pub file: &'a Path,
    /// The section poof.conf's `remote` names; `None` for an `s3://` remote.
    pub section: Option<&'a str>,
    /// The environment.
    pub env: &'a Env,
    /// The home folder, for `~/.aws`; `None` when unknown.
    pub home: Option<&'a Path>,
}

/// An S3 remote's settings, as found.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The keys.
    pub credentials: Credentials,
    /// The region, if one was given.
    pub region: Option<String>,
    /// The endpoint, if one was given (none means AWS).
    pub endpoint: Option<String>,
    /// rclone's `provider` (`AWS`, `Minio`, `Other`, ...), informative.
    pub provider: Option<String>,
    /// `x-amz-server-side-encryption` for uploads.
    pub server_side_encryption: Option<String>,
    /// `x-amz-storage-class` for uploads.
    pub storage_class: Option<String>,
    /// `x-amz-acl` for uploads.
    pub acl: Option<String>,
    /// rclone's `chunk_size`: the multipart part size, in bytes.
    pub chunk_size: Option<u64>,
    /// rclone's `upload_concurrency`: parts sent at once.
    pub upload_concurrency: Option<usize>,
    /// An extra CA file (`ca_cert` in the section, or `AWS_CA_BUNDLE`).
    pub ca_file: Option<PathBuf>,
    /// Where the keys came from, for messages (never the keys themselves).
    pub source: String,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("provider", &self.provider)
            .field("server_side_encryption", &self.server_side_encryption)
            .field("storage_class", &self.storage_class)
            .field("acl", &self.acl)
            .field("chunk_size", &self.chunk_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("ca_file", &self.ca_file)
            .field("source", &self.source)
            .finish()
    }
}

impl S3Settings {
    /// One line for `poof verify`: where the keys came from, which key id.
    pub fn describe(&self) -> String {
        format!(
            "access key {} from {}",
            redact(&self.credentials.access_key_id),
            self.source
        )
    }
}

/// A `type = crypt` section, poof 1.x's encrypted remote (read only; see
/// docs/RCLONE-CRYPT.md): its options as written, and the S3 bucket it
/// wraps (`remote = S3SECTION:BUCKET[/PREFIX]`) with that section's settings.
#[derive(Clone)]
pub struct CryptConf {
    /// The crypt section's name.
    pub name: String,
    /// Its options (lower-case keys), passwords still obscured.
    pub options: BTreeMap<String, String>,
    /// The name of the S3 section it wraps.
    pub s3_section: String,
    /// The bucket it wraps.
    pub bucket: String,
    /// The prefix inside the bucket, without slashes at either end; may be empty.
    pub prefix: String,
    /// The wrapped S3 section's settings.
    pub s3: S3Settings,
}

impl fmt::Debug for CryptConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Option names only: the passwords are secrets, obscured or not.
        f.debug_struct("CryptConf")
            .field("name", &self.name)
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("s3_section", &self.s3_section)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("s3", &self.s3)
            .finish()
    }
}

/// What a remote resolves to.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// An S3 bucket, with these settings.
    S3(S3Settings),
    /// An rclone crypt section over an S3 bucket.
    Crypt(CryptConf),
}

/// Finds the settings of a remote, first match wins (see the module docs).
pub fn resolve(l: &Lookup<'_>) -> Result<Resolved, ConfigError> {
    if let Some(found) = from_cloud_file(l)? {
        return Ok(found);
    }
    if let Some(found) = from_env_chain(l)? {
        return Ok(Resolved::S3(found));
    }
    Err(ConfigError(format!(
        "no S3 credentials found; put them in {} (a [section] with type = s3, access_key_id and \
         secret_access_key), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them to ~/.aws/credentials",
        l.file.display()
    )))
}

fn from_cloud_file(l: &Lookup<'_>) -> Result<Option<Resolved>, ConfigError> {
    let file = l.file;
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match l.section {
                None => Ok(None),
                Some(name) => Err(ConfigError(format!(
                    "{}: no such file, and poof.conf's remote {name:?} names a section of it; \
                     create it with a [{name}] section (type = s3), point `confFile` at yours, \
                     or use an s3://BUCKET remote",
                    file.display()
                ))),
            };
        }
        Err(e) => {
            return Err(ConfigError(format!(
                "{}: cannot read it: {e}",
                file.display()
            )));
        }
    };
    // rclone writes comment lines before the marker.
    if text
        .lines()
        .any(|line| line.trim_start().starts_with("RCLONE_ENCRYPT_V0:"))
    {
        return Err(ConfigError(format!(
            "{}: is an encrypted rclone config (rclone's `config encryption`), which poof cannot \
             read; decrypt it with `rclone config encryption remove --config {}` (it asks for the \
             config password), or give poof a plain copy with --cloudconf",
            file.display(),
            file.display()
        )));
    }
    let sections = ini::parse(&text)
        .map_err(|why| ConfigError(format!("{}: {why}; fix the file", file.display())))?;
    let section = match l.section {
        Some(name) => match ini::find(&sections, name) {
            Some(s) => s,
            None => {
                return Err(ConfigError(format!(
                    "{}: has no [{name}] section, which poof.conf's `remote` names; add it \
                     (type = s3, access_key_id, secret_access_key, region) or fix `remote`",
                    file.display()
                )));
            }
        },
        None => {
            let mut s3 = sections.iter().filter(|s| s.get("type") == Some("s3"));
            match (s3.next(), s3.next()) {
                (Some(one), None) => one,
                _ => return Ok(None),
            }
        }
    };
    if section.get("type") == Some("crypt") && l.section.is_some() {
        return read_crypt(section, &sections, file, l).map(|c| Some(Resolved::Crypt(c)));
    }
    read_section(section, file, l).map(|s| Some(Resolved::S3(s)))
}

/// A crypt section and the S3 section it wraps.
fn read_crypt(
    s: &Section,
    sections: &[Section],
    file: &Path,
    l: &Lookup<'_>,
) -> Result<CryptConf, ConfigError> {
    let name = &s.name;
    let bad = |what: String| ConfigError(format!("{}: [{name}] {what}", file.display()));
    let Some(wrapped) = s.get("remote") else {
        return Err(bad(
            "is an rclone crypt section without `remote`; add remote = S3SECTION:BUCKET".into(),
        ));
    };
    let Some((s3_section, path)) = wrapped.split_once(':').filter(|(n, _)| !n.is_empty()) else {
        return Err(bad(format!(
            "remote = {wrapped}: poof reads a crypt section over an S3 section of the same \
             file, written S3SECTION:BUCKET[/PREFIX]"
        )));
    };
    let path = path.trim_matches('/');
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    if bucket.is_empty() {
        return Err(bad(format!(
            "remote = {wrapped} names no bucket; write {s3_section}:BUCKET"
        )));
    }
    crate::config::check_bucket(bucket).map_err(|why| bad(format!("remote = {wrapped}: {why}")))?;
    let prefix = prefix.trim_matches('/');
    if !prefix.is_empty() {
        crate::pathguard::check(prefix).map_err(|why| {
            bad(format!(
                "remote = {wrapped}: the prefix is not usable: {why}"
            ))
        })?;
    }
    let Some(under) = ini::find(sections, s3_section) else {
        return Err(bad(format!(
            "wraps remote {s3_section:?}, but {} has no [{s3_section}] section; add it \
             (type = s3, with its keys) or fix the crypt section's `remote`",
            file.display()
        )));
    };
    if under.get("type") == Some("crypt") {
        return Err(bad(format!(
            "wraps [{s3_section}], another crypt section; poof reads one crypt section over an S3 section"
        )));
    }
    let s3 = read_section(under, file, l)?;
    Ok(CryptConf {
        name: name.clone(),
        options: s.values.clone(),
        s3_section: s3_section.to_string(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        s3,
    })
}

fn read_section(s: &Section, file: &Path, l: &Lookup<'_>) -> Result<S3Settings, ConfigError> {
    let name = &s.name;
    let bad = |what: String| ConfigError(format!("{}: [{name}] {what}", file.display()));
    match s.get("type") {
        Some("s3") => {}
        Some("crypt") => {
            return Err(bad(
                "is an rclone crypt section; name it in poof.conf's `remote` (poof reads poof \
                 1.x's encrypted buckets through it, read only) rather than an s3:// remote"
                    .into(),
            ));
        }
        Some(other) => {
            return Err(bad(format!(
                "has type = {other}; poof reads only type = s3 sections"
            )));
        }
        None => return Err(bad("has no `type`; add type = s3".into())),
    }
    for (key, value) in &s.values {
        refuse_placeholder(value, || format!("{}: [{name}] `{key}`", file.display()))?;
    }
    let env_auth = s
        .get("env_auth")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (credentials, source, chain) = match (s.get("access_key_id"), s.get("secret_access_key")) {
        (Some(id), Some(secret)) => (
            Credentials {
                access_key_id: id.into(),
                secret_access_key: secret.into(),
                session_token: s.get("session_token").map(str::to_string),
            },
            format!("{} [{name}]", file.display()),
            None,
        ),
        (None, None) if env_auth => match from_env_chain(l)? {
            Some(found) => (
                found.credentials.clone(),
                format!("{} (env_auth in {} [{name}])", found.source, file.display()),
                Some(found),
            ),
            None => {
                return Err(bad(
                    "says env_auth = true, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are \
                     not set and ~/.aws/credentials has no keys; set them, or write the keys into the section"
                        .into(),
                ));
            }
        },
        (Some(_), None) => {
            return Err(bad(
                "has access_key_id but no secret_access_key; fill in secret_access_key".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(bad(
                "has secret_access_key but no access_key_id; fill in access_key_id".into(),
            ));
        }
        (None, None) => {
            return Err(bad(
                "has no keys; fill in access_key_id and secret_access_key (or set env_auth = true)"
                    .into(),
            ));
        }
    };
    let owned = |k: &str| s.get(k).map(str::to_string);
    let chunk_size = s
        .get("chunk_size")
        .map(|v| parse_size(v).map_err(|why| bad(format!("chunk_size = {v}: {why}"))))
        .transpose()?;
    let upload_concurrency = s
        .get("upload_concurrency")
        .map(|v| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(format!(
                "upload_concurrency = {v}: must be a whole number from 1 up"
            ))),
        })
        .transpose()?;
    let chain_value =
        |f: fn(&S3Settings) -> &Option<String>| chain.as_ref().and_then(|c| f(c).clone());
    Ok(S3Settings {
        credentials,
        region: owned("region").or_else(|| chain_value(|c| &c.region)),
        endpoint: owned("endpoint").or_else(|| chain_value(|c| &c.endpoint)),
        provider: owned("provider"),
        server_side_encryption: owned("server_side_encryption"),
        storage_class: owned("storage_class"),
        acl: owned("acl"),
        chunk_size,
        upload_concurrency,
        ca_file: s
            .get("ca_cert")
            .map(PathBuf::from)
            .or_else(|| l.env.get("AWS_CA_BUNDLE").map(PathBuf::from)),
        source,
    })
}

/// Steps 2 and 3: the environment, then the AWS shared files.
fn from_env_chain(l: &Lookup<'_>) -> Result<Option<S3Settings>, ConfigError> {
    let env = l.env;
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
    ] {
        if let Some(v) = env.get(var) {
            refuse_placeholder(v, || format!("environment variable {var}"))?;
        }
    }
    let profile = env.get("AWS_PROFILE").unwrap_or("default");
    let aws_dir = l.home.map(|h| h.join(".aws"));
    let credentials_file = env
        .get("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| aws_dir.as_ref().map(|d| d.join("credentials")));
    let config_file = env
        .get("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| aws_dir.as_ref().map(|d| d.join("config")));
    // `~/.aws/config` names profiles `[profile NAME]`, except `[default]`.
    let config = read_aws_file(config_file.as_deref(), profile, true)?;
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .map(str::to_string)
        .or_else(|| {
            config
                .as_ref()
                .and_then(|(s, _)| s.get("region").map(str::to_string))
        });
    let endpoint = env
        .get("AWS_ENDPOINT_URL_S3")
        .or_else(|| env.get("AWS_ENDPOINT_URL"))
        .map(str::to_string)
        .or_else(|| {
            config.as_ref().and_then(|(s, _)| {
                s.get("s3.endpoint_url")
                    .or_else(|| s.get("endpoint_url"))
                    .map(str::to_string)
            })
        });
    let ca_file = env.get("AWS_CA_BUNDLE").map(PathBuf::from);
    let settings = |credentials, source| S3Settings {
        credentials,
        region: region.clone(),
        endpoint: endpoint.clone(),
        provider: None,
        server_side_encryption: None,
        storage_class: None,
        acl: None,
        chunk_size: None,
        upload_concurrency: None,
        ca_file: ca_file.clone(),
        source,
    };

    match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(id), Some(secret)) => {
            return Ok(Some(settings(
                Credentials {
                    access_key_id: id.into(),
                    secret_access_key: secret.into(),
                    session_token: env.get("AWS_SESSION_TOKEN").map(str::to_string),
                },
                "the environment (AWS_ACCESS_KEY_ID)".into(),
            )));
        }
        (Some(_), None) => {
            return Err(ConfigError(
                "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or neither"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError(
                "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both, or neither"
                    .into(),
            ));
        }
        (None, None) => {}
    }

    let Some((creds, path)) = read_aws_file(credentials_file.as_deref(), profile, false)? else {
        return Ok(None);
    };
    let where_ = || format!("{} [{profile}]", path.display());
    for (key, value) in &creds.values {
        refuse_placeholder(value, || format!("{}: [{profile}] `{key}`", path.display()))?;
    }
    match (
        creds.get("aws_access_key_id"),
        creds.get("aws_secret_access_key"),
    ) {
        (Some(id), Some(secret)) => Ok(Some(settings(
            Credentials {
                access_key_id: id.into(),
                secret_access_key: secret.into(),
                session_token: creds.get("aws_session_token").map(str::to_string),
            },
            where_(),
        ))),
        (None, None) => Ok(None),
        _ => Err(ConfigError(format!(
            "{}: needs both aws_access_key_id and aws_secret_access_key; fill in the missing one",
            where_()
        ))),
    }
}

/// The profile's section of an AWS shared file, with the file's path.
fn read_aws_file(
    path: Option<&Path>,
    profile: &str,
    config_style: bool,
) -> Result<Option<(Section, PathBuf)>, ConfigError> {
    let Some(path) = path else { return Ok(None) };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError(format!(
                "{}: cannot read it: {e}",
                path.display()
            )));
        }
    };
    let sections = ini::parse(&text)
        .map_err(|why| ConfigError(format!("{}: {why}; fix the file", path.display())))?;
    let wanted = if config_style && profile != "default" {
        format!("profile {profile}")
    } else {
        profile.to_string()
    };
    Ok(ini::find(&sections, &wanted).map(|s| (s.clone(), path.to_owned())))
}

/// Refuses a scaffold's placeholder (`BOGUS…`), naming where it is.
fn refuse_placeholder(value: &str, place: impl Fn() -> String) -> Result<(), ConfigError> {
    if value.trim().to_ascii_uppercase().starts_with("BOGUS") {
        return Err(ConfigError(format!(
            "{} still holds the placeholder from the generated file; fill in your real value",
            place()
        )));
    }
    Ok(())
}

/// Parses an rclone size: a number with an optional unit `b`, `k`, `M`,
/// `G`, `T`, `P` (powers of 1024, an `i` or `iB` may follow); no unit means KiB.
pub fn parse_size(v: &str) -> Result<u64, String> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| "not a size; write it like 64M or 5Mi".to_string())?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("iB")
        .or_else(|| unit.strip_suffix('i'))
        .or_else(|| unit.strip_suffix('B').filter(|u| !u.is_empty()))
        .unwrap_or(unit);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "b" => 0,
        "" | "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(format!("unknown unit {unit:?}; use b, k, M, G, T or P")),
    };
    let bytes = num * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err("out of range".into());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests;
