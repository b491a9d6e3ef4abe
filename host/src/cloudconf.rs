//! Where an S3 remote's credentials and endpoint come from. First match wins:
//!
//! 1. the cloud config file poof 1.x used (`rclone-poof.conf`, rclone's INI
//!    format): the section poof.conf's `remote` names, or, for an
//!    `s3://BUCKET` remote, the file's only `type = s3` section (not with
//!    `--profile`, which names where the keys come from);
//! 2. the environment, and 3. the AWS CLI's files and services, in the AWS
//!    CLI's order (`aws.rs`): `AWS_ACCESS_KEY_ID`, web identity,
//!    `~/.aws/credentials`, `credential_process`, `~/.aws/config`, the
//!    container endpoint, the EC2 instance metadata service; the profile
//!    is `--profile`, else `AWS_PROFILE`, else `default`.
//!
//! A section with rclone's `env_auth = true` and no keys of its own takes
//! its keys from 2 and 3 (with its own `profile` and
//! `shared_credentials_file`), and keeps its other settings. A section that
//! still holds a scaffold's `BOGUS…` placeholder counts as not configured:
//! the chain goes on to 2 and 3, and only when they find nothing either does
//! the error name the placeholder.
//!
//! Invariants: secrets never appear in messages or `Debug` output; an
//! option of the section that poof does not use is named in a note, never
//! dropped silently; every refusal is a `ConfigError` (exit code 2) that
//! says what to do.

pub mod aws;
pub mod ini;
pub mod providers;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::exit::ConfigError;
use crate::s3::{Addressing, Provider};
use ini::Section;

/// The options of an rclone `type = s3` section that poof reads; any other
/// is named in a note. `description` is rclone's own label, and
/// `no_check_bucket` is what poof does anyway (a sync never creates the
/// bucket).
pub const KNOWN_S3_OPTIONS: &[&str] = &[
    "type",
    "provider",
    "env_auth",
    "access_key_id",
    "secret_access_key",
    "session_token",
    "region",
    "endpoint",
    "location_constraint",
    "acl",
    "bucket_acl",
    "server_side_encryption",
    "storage_class",
    "chunk_size",
    "upload_cutoff",
    "upload_concurrency",
    "force_path_style",
    "ca_cert",
    "profile",
    "shared_credentials_file",
    "no_check_bucket",
    "description",
];

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
    /// `--profile`: the AWS profile to take keys from.
    pub profile: Option<&'a str>,
}

/// An S3 remote's settings, as found.
#[derive(Clone)]
pub struct S3Settings {
    /// The keys, fixed or refreshed before they expire.
    pub credentials: Provider,
    /// The region, if one was given.
    pub region: Option<String>,
    /// The endpoint, if one was given (none means AWS).
    pub endpoint: Option<String>,
    /// How buckets are named in URLs (rclone's `force_path_style`, the AWS
    /// config's `addressing_style`).
    pub addressing: Addressing,
    /// rclone's `provider` (`AWS`, `Minio`, `Other`, ...), informative.
    pub provider: Option<String>,
    /// The region `poof verify --create-bucket` creates the bucket in.
    pub location_constraint: Option<String>,
    /// `x-amz-acl` for uploads.
    pub acl: Option<String>,
    /// `x-amz-acl` for a new bucket (rclone's `bucket_acl`, else `acl`).
    pub bucket_acl: Option<String>,
    /// `x-amz-server-side-encryption` for uploads.
    pub server_side_encryption: Option<String>,
    /// `x-amz-storage-class` for uploads.
    pub storage_class: Option<String>,
    /// rclone's `chunk_size`: the multipart part size, in bytes.
    pub chunk_size: Option<u64>,
    /// rclone's `upload_cutoff`: files of this size or more go in parts.
    pub upload_cutoff: Option<u64>,
    /// rclone's `upload_concurrency`: parts sent at once.
    pub upload_concurrency: Option<usize>,
    /// An extra CA file (`ca_cert` in the section, or `AWS_CA_BUNDLE`).
    pub ca_file: Option<PathBuf>,
    /// Where the keys came from, for messages (never the keys themselves).
    pub source: String,
    /// What the user should know about these settings (options poof does
    /// not use, a `--profile` that is not used), to be said once.
    pub notes: Vec<String>,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("credentials", &self.credentials)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("addressing", &self.addressing)
            .field("provider", &self.provider)
            .field("location_constraint", &self.location_constraint)
            .field("acl", &self.acl)
            .field("bucket_acl", &self.bucket_acl)
            .field("server_side_encryption", &self.server_side_encryption)
            .field("storage_class", &self.storage_class)
            .field("chunk_size", &self.chunk_size)
            .field("upload_cutoff", &self.upload_cutoff)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("ca_file", &self.ca_file)
            .field("source", &self.source)
            .field("notes", &self.notes)
            .finish()
    }
}

impl S3Settings {
    /// Settings with these keys and nothing else set.
    pub fn new(credentials: Provider, source: String) -> S3Settings {
        S3Settings {
            credentials,
            region: None,
            endpoint: None,
            addressing: Addressing::Auto,
            provider: None,
            location_constraint: None,
            acl: None,
            bucket_acl: None,
            server_side_encryption: None,
            storage_class: None,
            chunk_size: None,
            upload_cutoff: None,
            upload_concurrency: None,
            ca_file: None,
            source,
            notes: Vec::new(),
        }
    }

    /// One line for `poof verify`: where the keys came from, which key id.
    pub fn describe(&self) -> String {
        format!(
            "access key {} from {}",
            self.credentials.key_id(),
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
    let mut skipped = None;
    if let Some(found) = from_cloud_file(l, &mut skipped)? {
        return Ok(found);
    }
    if let Some(found) = aws::chain(l, aws::Overrides::default())? {
        return Ok(Resolved::S3(found));
    }
    Err(nothing_found(l, skipped.as_deref()))
}

/// The error when no source has keys; `skipped` names a placeholder that
/// made the cloud config file's section count as not configured.
fn nothing_found(l: &Lookup<'_>, skipped: Option<&str>) -> ConfigError {
    let profile = l
        .profile
        .map_or(String::new(), |p| format!(" (profile {p})"));
    match skipped {
        Some(place) => ConfigError(format!(
            "no S3 credentials found: {place} still holds the placeholder from the generated \
             file, so poof looked for keys elsewhere (the environment, ~/.aws{profile}, a \
             container or EC2 role) and found none; fill in your real values, or set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them to ~/.aws/credentials"
        )),
        None => ConfigError(format!(
            "no S3 credentials found; put them in {} (a [section] with type = s3, access_key_id and \
             secret_access_key), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add them to \
             ~/.aws/credentials{profile}",
            l.file.display()
        )),
    }
}

/// The first key of a section that still holds a scaffold's placeholder,
/// named with the file and section (`FILE: [NAME] `KEY``).
fn placeholder(s: &Section, file: &Path) -> Option<String> {
    s.values
        .iter()
        .find(|(_, v)| is_placeholder(v))
        .map(|(key, _)| format!("{}: [{}] `{key}`", file.display(), s.name))
}

fn from_cloud_file(
    l: &Lookup<'_>,
    skipped: &mut Option<String>,
) -> Result<Option<Resolved>, ConfigError> {
    if l.section.is_none() && l.profile.is_some() {
        // `--profile` names where the keys of an s3:// remote come from.
        return Ok(None);
    }
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
    if section.get("type") == Some("s3")
        && let Some(place) = placeholder(section, file)
    {
        *skipped = Some(place);
        return Ok(None);
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
    let s3 = match placeholder(under, file) {
        Some(place) => aws::chain(l, aws::Overrides::default())?
            .ok_or_else(|| nothing_found(l, Some(&place)))?,
        None => read_section(under, file, l)?,
    };
    Ok(CryptConf {
        name: name.clone(),
        options: s.values.clone(),
        s3_section: s3_section.to_string(),
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        s3,
    })
}

/// An S3 section's settings (its placeholders already ruled out).
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
    let env_auth = s
        .get("env_auth")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut notes = Vec::new();
    let mut settings = match (s.get("access_key_id"), s.get("secret_access_key")) {
        (Some(id), Some(secret)) => {
            if let Some(p) = l.profile {
                notes.push(format!(
                    "--profile {p} is not used: the keys come from {} [{name}], which poof.conf's \
                     `remote` names; to take them from the profile, remove the section's keys and \
                     set env_auth = true",
                    file.display()
                ));
            }
            let keys = crate::s3::Credentials {
                access_key_id: id.into(),
                secret_access_key: secret.into(),
                session_token: s.get("session_token").map(str::to_string),
                expires: None,
            };
            let source = format!("{} [{name}]", file.display());
            S3Settings::new(Provider::fixed(keys), source)
        }
        (None, None) if env_auth => {
            let overrides = aws::Overrides {
                profile: s.get("profile"),
                credentials_file: s.get("shared_credentials_file").map(Path::new),
            };
            match aws::chain(l, overrides)? {
                Some(mut found) => {
                    found.source =
                        format!("{} (env_auth in {} [{name}])", found.source, file.display());
                    found
                }
                None => {
                    return Err(bad(
                        "says env_auth = true, but no keys were found: AWS_ACCESS_KEY_ID and \
                         AWS_SECRET_ACCESS_KEY are not set, and ~/.aws, a container or EC2 role \
                         gave none; set them, or write the keys into the section"
                            .into(),
                    ));
                }
            }
        }
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
    let size = |k: &str| {
        s.get(k)
            .map(|v| parse_size(v).map_err(|why| bad(format!("{k} = {v}: {why}"))))
            .transpose()
    };
    settings.chunk_size = size("chunk_size")?;
    settings.upload_cutoff = size("upload_cutoff")?;
    settings.upload_concurrency = s
        .get("upload_concurrency")
        .map(|v| match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(format!(
                "upload_concurrency = {v}: must be a whole number from 1 up"
            ))),
        })
        .transpose()?;
    if let Some(v) = s.get("force_path_style") {
        settings.addressing = Addressing::from_force_path_style(v)
            .ok_or_else(|| bad(format!("force_path_style = {v}: write true or false")))?;
    }
    // The section's own values win over what the chain found (env_auth).
    settings.region = owned("region").or(settings.region);
    settings.endpoint = owned("endpoint").or(settings.endpoint);
    settings.provider = owned("provider");
    settings.location_constraint = owned("location_constraint");
    settings.acl = owned("acl");
    settings.bucket_acl = owned("bucket_acl").or_else(|| owned("acl"));
    settings.server_side_encryption = owned("server_side_encryption");
    settings.storage_class = owned("storage_class");
    settings.ca_file = s
        .get("ca_cert")
        .map(PathBuf::from)
        .or(settings.ca_file)
        .or_else(|| l.env.get("AWS_CA_BUNDLE").map(PathBuf::from));
    let unknown: Vec<&str> = s
        .values
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_S3_OPTIONS.contains(k))
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "{}: [{name}] has options poof does not use, which are ignored: {} (docs/USAGE.md \
             lists the options poof reads)",
            file.display(),
            unknown.join(", ")
        ));
    }
    settings.notes.extend(notes);
    Ok(settings)
}

fn is_placeholder(value: &str) -> bool {
    value.trim().to_ascii_uppercase().starts_with("BOGUS")
}

/// Refuses a scaffold's placeholder (`BOGUS…`), naming where it is.
fn refuse_placeholder(value: &str, place: impl Fn() -> String) -> Result<(), ConfigError> {
    if is_placeholder(value) {
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
