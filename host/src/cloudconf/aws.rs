//! The AWS CLI's credential chain, steps 2 and 3 of `cloudconf`: the keys,
//! region and endpoint the AWS CLI would use, in its order.
//!
//! The profile is `--profile`, else the rclone section's `profile` (with
//! `env_auth`), else `AWS_PROFILE`, else `default`; its values come from
//! `~/.aws/credentials` (`[NAME]`) over `~/.aws/config` (`[profile NAME]`).
//! Keys come from the first of:
//!
//! 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!    `AWS_SESSION_TOKEN` (skipped when `--profile` names a profile, as the
//!    AWS CLI skips them for its own `--profile`);
//! 2. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` (or the
//!    profile's `web_identity_token_file` and `role_arn`), through STS;
//! 3. the profile's keys in `~/.aws/credentials`;
//! 4. the profile's `credential_process`;
//! 5. the profile's keys in `~/.aws/config`;
//! 6. the container endpoint (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or
//!    `_FULL_URI`);
//! 7. the EC2 instance metadata service (IMDSv2), unless
//!    `AWS_EC2_METADATA_DISABLED=true`.
//!
//! Invariants: a profile named on purpose that neither file has is an error,
//! never a silent fall-back to `default`; a profile that asks for what poof
//! does not do (assuming a role from other keys, SSO) is refused, naming the
//! way round; a source that is configured but fails is an error naming it,
//! while an instance metadata service that does not answer only means
//! "not on EC2".

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::ini::{self, Section};
use super::providers::{
    Container, ECS_HOST, IMDS_IPV4, IMDS_IPV6, Imds, ImdsMiss, Process, WebIdentity,
};
use super::{Env, Lookup, S3Settings, refuse_placeholder};
use crate::exit::ConfigError;
use crate::s3::{Addressing, Credentials, Provider, Refresh};

/// What an rclone section with `env_auth = true` may add to the chain.
#[derive(Debug, Default, Clone, Copy)]
pub struct Overrides<'a> {
    /// The section's `profile`.
    pub profile: Option<&'a str>,
    /// The section's `shared_credentials_file`.
    pub credentials_file: Option<&'a Path>,
}

/// One profile, as the two AWS files give it.
struct Profile {
    name: String,
    /// Where the name came from, when it was given on purpose.
    named_by: Option<&'static str>,
    credentials: Option<(Section, PathBuf)>,
    config: Option<(Section, PathBuf)>,
}

impl Profile {
    /// A value of the profile: `~/.aws/credentials` first, then
    /// `~/.aws/config` (the AWS CLI merges them in that order).
    fn get(&self, key: &str) -> Option<(&str, &Path)> {
        [&self.credentials, &self.config]
            .into_iter()
            .flatten()
            .find_map(|(s, path)| s.get(key).map(|v| (v, path.as_path())))
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(|(v, _)| v)
    }

    /// `profile NAME in FILE`, for messages.
    fn origin(&self, file: &Path) -> String {
        format!("profile {} in {}", self.name, file.display())
    }
}

/// The environment's value of `var`, else the profile's value of `key`.
fn setting<'a>(env: &'a Env, var: &str, profile: &'a Profile, key: &str) -> Option<&'a str> {
    env.get(var).or_else(|| profile.value(key))
}

fn is_true(v: Option<&str>) -> bool {
    v.is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Steps 2 and 3 of `cloudconf`: the settings the AWS CLI would use, or
/// `None` when no source has keys.
pub fn chain(l: &Lookup<'_>, o: Overrides<'_>) -> Result<Option<S3Settings>, ConfigError> {
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
    let profile = load_profile(l, o)?;
    let region = env
        .get("AWS_REGION")
        .or_else(|| env.get("AWS_DEFAULT_REGION"))
        .or_else(|| profile.value("region"))
        .map(str::to_string);
    let endpoint = env
        .get("AWS_ENDPOINT_URL_S3")
        .or_else(|| env.get("AWS_ENDPOINT_URL"))
        .or_else(|| profile.value("s3.endpoint_url"))
        .or_else(|| profile.value("endpoint_url"))
        .map(str::to_string);
    let addressing = match profile.get("s3.addressing_style") {
        None => Addressing::Auto,
        Some((v, file)) => Addressing::from_addressing_style(v).ok_or_else(|| {
            ConfigError(format!(
                "{}: [{}] s3 addressing_style = {v}: write auto, path or virtual",
                file.display(),
                profile.name
            ))
        })?,
    };
    let ca_file = setting(env, "AWS_CA_BUNDLE", &profile, "ca_bundle").map(PathBuf::from);
    let Some((credentials, source)) = keys(l, &profile, region.as_deref(), ca_file.as_deref())?
    else {
        return Ok(None);
    };
    let mut settings = S3Settings::new(credentials, source);
    settings.region = region;
    settings.endpoint = endpoint;
    settings.addressing = addressing;
    settings.ca_file = ca_file;
    Ok(Some(settings))
}

/// Finds the profile's sections in both files.
fn load_profile(l: &Lookup<'_>, o: Overrides<'_>) -> Result<Profile, ConfigError> {
    let env = l.env;
    let (name, named_by) = match (l.profile, o.profile, env.get("AWS_PROFILE")) {
        (Some(p), _, _) => (p, Some("--profile")),
        (None, Some(p), _) => (p, Some("the rclone section's `profile`")),
        (None, None, Some(p)) => (p, Some("AWS_PROFILE")),
        (None, None, None) => ("default", None),
    };
    let aws_dir = l.home.map(|h| h.join(".aws"));
    let credentials_file = o
        .credentials_file
        .map(Path::to_path_buf)
        .or_else(|| env.get("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from))
        .or_else(|| aws_dir.as_ref().map(|d| d.join("credentials")));
    let config_file = env
        .get("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| aws_dir.as_ref().map(|d| d.join("config")));
    // `~/.aws/config` names profiles `[profile NAME]`, except `[default]`.
    let config_name = match name {
        "default" => "default".to_string(),
        other => format!("profile {other}"),
    };
    let profile = Profile {
        name: name.to_string(),
        named_by,
        credentials: read_aws_file(credentials_file.as_deref(), name)?,
        config: read_aws_file(config_file.as_deref(), &config_name)?,
    };
    for (section, path) in [&profile.credentials, &profile.config]
        .into_iter()
        .flatten()
    {
        for (key, value) in &section.values {
            refuse_placeholder(value, || {
                format!("{}: [{}] `{key}`", path.display(), section.name)
            })?;
        }
    }
    if let Some(by) = named_by
        && profile.credentials.is_none()
        && profile.config.is_none()
        && name != "default"
    {
        let shown = |f: &Option<PathBuf>| {
            f.as_ref()
                .map_or("~/.aws/…".to_string(), |p| p.display().to_string())
        };
        return Err(ConfigError(format!(
            "profile {name:?} (named by {by}) is in neither {} ([{name}]) nor {} ([{config_name}]); \
             add it (`aws configure --profile {name}`), or name another profile",
            shown(&credentials_file),
            shown(&config_file)
        )));
    }
    Ok(profile)
}

/// The keys, by the AWS CLI's order (see the module docs), and where they came from.
fn keys(
    l: &Lookup<'_>,
    profile: &Profile,
    region: Option<&str>,
    ca_file: Option<&Path>,
) -> Result<Option<(Provider, String)>, ConfigError> {
    let env = l.env;
    if profile.named_by != Some("--profile")
        && let Some(found) = env_keys(env)?
    {
        return Ok(Some(found));
    }
    refuse_unsupported(profile)?;
    if let Some(web) = web_identity(env, profile, region, ca_file)? {
        return first(Box::new(web)).map(Some);
    }
    if let Some(found) = file_keys(&profile.credentials, false)? {
        return Ok(Some(found));
    }
    if let Some((command, file)) = profile.get("credential_process") {
        let process = Process {
            command: command.to_string(),
            origin: profile.origin(file),
        };
        return first(Box::new(process)).map(Some);
    }
    if let Some(found) = file_keys(&profile.config, true)? {
        return Ok(Some(found));
    }
    if let Some(container) = container(env, ca_file)? {
        return first(Box::new(container)).map(Some);
    }
    if is_true(setting(
        env,
        "AWS_EC2_METADATA_DISABLED",
        profile,
        "ec2_metadata_disabled",
    )) {
        return Ok(None);
    }
    let imds = imds(env, profile)?;
    match imds.get() {
        Ok(keys) => {
            let source = imds.describe();
            Ok(Some((Provider::refreshing(keys, Box::new(imds)), source)))
        }
        Err(ImdsMiss::Absent(_)) => Ok(None),
        Err(ImdsMiss::Failed(why)) => Err(ConfigError(format!(
            "{}: {why}; check the instance's IAM role, or set AWS_EC2_METADATA_DISABLED=true \
             to skip it",
            imds.describe()
        ))),
    }
}

/// Fetches a source's first keys: a configured source that fails is an
/// error naming it.
fn first(source: Box<dyn Refresh>) -> Result<(Provider, String), ConfigError> {
    let described = source.describe();
    match source.fetch() {
        Ok(keys) => Ok((Provider::refreshing(keys, source), described)),
        Err(why) => Err(ConfigError(format!(
            "no S3 credentials from {described}: {why}"
        ))),
    }
}

/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`).
fn env_keys(env: &Env) -> Result<Option<(Provider, String)>, ConfigError> {
    match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(id), Some(secret)) => Ok(Some((
            Provider::fixed(Credentials {
                access_key_id: id.into(),
                secret_access_key: secret.into(),
                session_token: env.get("AWS_SESSION_TOKEN").map(str::to_string),
                expires: None,
            }),
            "the environment (AWS_ACCESS_KEY_ID)".into(),
        ))),
        (Some(_), None) => Err(ConfigError(
            "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set both, or neither"
                .into(),
        )),
        (None, Some(_)) => Err(ConfigError(
            "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set both, or neither"
                .into(),
        )),
        (None, None) => Ok(None),
    }
}

/// A profile that assumes a role from other keys or signs in with SSO: the
/// AWS CLI would do more than poof does, so poof says so rather than use
/// other keys.
fn refuse_unsupported(profile: &Profile) -> Result<(), ConfigError> {
    let web = profile.value("web_identity_token_file").is_some();
    let found = [
        "source_profile",
        "credential_source",
        "sso_session",
        "sso_start_url",
    ]
    .into_iter()
    .find(|k| profile.value(k).is_some())
    .or((profile.value("role_arn").is_some() && !web).then_some("role_arn"));
    let Some(key) = found else { return Ok(()) };
    let name = &profile.name;
    Err(ConfigError(format!(
        "profile {name} uses `{key}`: poof does not assume roles or sign in with SSO itself; \
         give it keys through another profile with credential_process = aws configure \
         export-credentials --profile {name} --format process, and use that one (--profile)"
    )))
}

/// The keys written in one of the two files, if the profile has both.
fn file_keys(
    section: &Option<(Section, PathBuf)>,
    config: bool,
) -> Result<Option<(Provider, String)>, ConfigError> {
    let Some((s, path)) = section else {
        return Ok(None);
    };
    let place = || format!("{} [{}]", path.display(), s.name);
    match (s.get("aws_access_key_id"), s.get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some((
            Provider::fixed(Credentials {
                access_key_id: id.into(),
                secret_access_key: secret.into(),
                session_token: s.get("aws_session_token").map(str::to_string),
                expires: None,
            }),
            place(),
        ))),
        (None, None) => Ok(None),
        _ => Err(ConfigError(format!(
            "{}: needs both aws_access_key_id and aws_secret_access_key; fill in the missing one{}",
            place(),
            if config {
                " (in this file or in ~/.aws/credentials)"
            } else {
                ""
            }
        ))),
    }
}

/// Web identity, from the environment or the profile.
fn web_identity(
    env: &Env,
    profile: &Profile,
    region: Option<&str>,
    ca_file: Option<&Path>,
) -> Result<Option<WebIdentity>, ConfigError> {
    let (file, role) = match (
        env.get("AWS_WEB_IDENTITY_TOKEN_FILE"),
        env.get("AWS_ROLE_ARN"),
    ) {
        (Some(f), Some(r)) => (f, r),
        (Some(_), None) | (None, Some(_)) => {
            return Err(ConfigError(
                "web identity needs both AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN; set the \
                 missing one, or neither"
                    .into(),
            ));
        }
        (None, None) => match (
            profile.value("web_identity_token_file"),
            profile.value("role_arn"),
        ) {
            (Some(f), Some(r)) => (f, r),
            _ => return Ok(None),
        },
    };
    let session_name = setting(env, "AWS_ROLE_SESSION_NAME", profile, "role_session_name")
        .map(str::to_string)
        .unwrap_or_else(|| {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("poof-{secs}")
        });
    let endpoint = env
        .get("AWS_ENDPOINT_URL_STS")
        .or_else(|| env.get("AWS_ENDPOINT_URL"))
        .or_else(|| profile.value("sts.endpoint_url"))
        .or_else(|| profile.value("endpoint_url"))
        .map(str::to_string)
        .unwrap_or_else(|| match region {
            Some(r) if r.starts_with("cn-") => format!("https://sts.{r}.amazonaws.com.cn"),
            Some(r) => format!("https://sts.{r}.amazonaws.com"),
            None => "https://sts.amazonaws.com".into(),
        });
    Ok(Some(WebIdentity {
        token_file: PathBuf::from(file),
        role_arn: role.to_string(),
        session_name,
        endpoint,
        ca_file: ca_file.map(Path::to_path_buf),
    }))
}

/// The container endpoint, when the environment names one.
fn container(env: &Env, ca_file: Option<&Path>) -> Result<Option<Container>, ConfigError> {
    let url = match (
        env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ) {
        (Some(relative), _) => format!("{ECS_HOST}/{}", relative.trim_start_matches('/')),
        (None, Some(full)) => {
            Container::check_url(full)
                .map_err(|why| ConfigError(format!("AWS_CONTAINER_CREDENTIALS_FULL_URI: {why}")))?;
            full.to_string()
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(Container {
        url,
        token_file: env
            .get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            .map(PathBuf::from),
        token: env
            .get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
            .map(str::to_string),
        ca_file: ca_file.map(Path::to_path_buf),
    }))
}

/// The instance metadata service's settings.
fn imds(env: &Env, profile: &Profile) -> Result<Imds, ConfigError> {
    let endpoint = match setting(
        env,
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        profile,
        "ec2_metadata_service_endpoint",
    ) {
        Some(e) => e.to_string(),
        None => match setting(
            env,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
            profile,
            "ec2_metadata_service_endpoint_mode",
        ) {
            Some(m) if m.eq_ignore_ascii_case("ipv6") => IMDS_IPV6.into(),
            Some(m) if m.eq_ignore_ascii_case("ipv4") => IMDS_IPV4.into(),
            Some(m) => {
                return Err(ConfigError(format!(
                    "the instance metadata endpoint mode {m:?} is neither IPv4 nor IPv6"
                )));
            }
            None => IMDS_IPV4.into(),
        },
    };
    let number = |var: &str, key: &str, default: f64| -> Result<f64, ConfigError> {
        match setting(env, var, profile, key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0 && *n <= 3600.0)
                .ok_or_else(|| ConfigError(format!("{var} = {v:?} is not a positive number"))),
        }
    };
    let timeout = number(
        "AWS_METADATA_SERVICE_TIMEOUT",
        "metadata_service_timeout",
        1.0,
    )?;
    let attempts = number(
        "AWS_METADATA_SERVICE_NUM_ATTEMPTS",
        "metadata_service_num_attempts",
        1.0,
    )?;
    Ok(Imds {
        endpoint,
        timeout: Duration::from_secs_f64(timeout),
        attempts: attempts as u32,
        v1_allowed: !is_true(setting(
            env,
            "AWS_EC2_METADATA_V1_DISABLED",
            profile,
            "ec2_metadata_v1_disabled",
        )),
    })
}

/// The section `name` of an AWS shared file, with the file's path; `None`
/// when there is no such file or section.
fn read_aws_file(
    path: Option<&Path>,
    name: &str,
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
    Ok(ini::find(&sections, name).map(|s| (s.clone(), path.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The URL `container` resolves, for these variables (nothing is sent).
    fn url(pairs: &[(&str, &str)]) -> Option<String> {
        container(&Env::from_pairs(pairs.iter().copied()), None)
            .unwrap()
            .map(|c| c.url)
    }

    #[test]
    fn a_relative_container_uri_is_resolved_against_the_ecs_host() {
        let relative = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
        assert_eq!(
            url(&[(relative, "/v2/credentials/abc-123")]).as_deref(),
            Some("http://169.254.170.2/v2/credentials/abc-123")
        );
        // Without its leading slash, the same URL.
        assert_eq!(
            url(&[(relative, "v2/credentials/abc-123")]).as_deref(),
            Some("http://169.254.170.2/v2/credentials/abc-123")
        );
        // The relative URI wins over a full one, as in the AWS SDKs.
        assert_eq!(
            url(&[
                (relative, "/creds"),
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/x"),
            ])
            .as_deref(),
            Some("http://169.254.170.2/creds")
        );
        assert_eq!(
            url(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/x")]).as_deref(),
            Some("http://127.0.0.1:9/x")
        );
        assert_eq!(url(&[]), None);
    }
}
