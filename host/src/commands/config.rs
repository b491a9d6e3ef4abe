//! `poof config` and `poof cconfig`: create poof's two config files from a
//! scaffold when they are missing, and print them.
//!
//! The scaffolds are poof 1.x's, so that a 1.x user recognises them: a
//! `poof.conf` with a unique bucket name and the remote `poof-backup`, and a
//! cloud config file (`rclone-poof.conf`) with an S3 section whose secrets
//! are placeholders (`BOGUS-...`) that count as not configured until they
//! are filled in. Unlike poof 1.x's, the `poof.conf` scaffold's one path is
//! a placeholder too: poof's own config folder holds the cloud keys, and is
//! backed up only when asked (`--with-config-folder`).
//! Invariants: an existing file is never overwritten; new files are created
//! with mode 0600 (and a new config folder with 0700); secrets are printed
//! only with `--show-secrets`.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::ConfigArgs;
use crate::exit::Exit;

/// Keys whose values are secrets in the cloud config file.
pub const SECRET_KEYS: &[&str] = &[
    "secret_access_key",
    "session_token",
    "password",
    "password2",
];

/// Runs `poof config`.
pub fn run_config(ctx: &mut Context, args: &ConfigArgs) -> Result<Exit> {
    let file = ctx.locations.poofconf.clone();
    if create_if_missing(&file, &ctx.locations.confdir, || {
        poof_scaffold(ctx, args.with_config_folder)
    })? {
        ctx.out.line(&format!(
            "created {}; in `paths`, replace {PLACEHOLDER_PATH} with the folders to back up, \
             check `remote`, then run `poof verify`",
            file.display()
        ));
    }
    print_file(ctx, &file, args.show.show_secrets)
}

/// The scaffold's placeholder path (under the home) and its cloud folder:
/// `poof verify` refuses them until they are replaced.
pub const PLACEHOLDER_PATH: &str = "BOGUS-FOLDER-TO-BACK-UP";

/// Runs `poof cconfig`.
pub fn run_cconfig(ctx: &mut Context, show_secrets: bool) -> Result<Exit> {
    let file = ctx.locations.cloudconf.clone();
    if create_if_missing(&file, &ctx.locations.confdir, || {
        Ok(CLOUD_SCAFFOLD.to_string())
    })? {
        ctx.out.line(&format!(
            "created {}; replace the BOGUS-... values with your S3 credentials, then run `poof verify`",
            file.display()
        ));
    }
    print_file(ctx, &file, show_secrets)
}

/// poof 1.x's cloud config scaffold: one S3 section named `poof-backup`.
pub const CLOUD_SCAFFOLD: &str = "[poof-backup]
type = s3
provider = AWS
env_auth = false
access_key_id = BOGUS-KEY-USE-YOURS
secret_access_key = BOGUS-SECRET-KEY-USE-YOURS
region = eu-west-1
location_constraint = eu-west-1
acl = private
storage_class = STANDARD_IA
chunk_size = 8M
upload_concurrency = 2
server_side_encryption = AES256
";

/// A new `poof.conf`: a unique bucket name, a placeholder path (and poof's
/// own config folder with `with_config_folder`, as poof 1.x had it), and
/// the remote `poof-backup`.
fn poof_scaffold(ctx: &Context, with_config_folder: bool) -> Result<String> {
    let mut id = [0u8; 6];
    getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("cannot get random bytes: {e}"))?;
    let user = std::env::var("USER")
        .ok()
        .map(|u| {
            u.to_lowercase()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
        })
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "user".into());
    let home = dirs::home_dir().unwrap_or_else(|| "/home/you".into());
    let mut paths = serde_json::Map::new();
    paths.insert(
        home.join(PLACEHOLDER_PATH).display().to_string(),
        PLACEHOLDER_PATH.into(),
    );
    if with_config_folder {
        // poof 1.x's cloud folder name for it.
        paths.insert(
            ctx.locations.confdir.display().to_string(),
            "unittest".into(),
        );
    }
    let conf = serde_json::json!({
        "bucket": format!("poofbackup-{user}-{}", hex::encode(id)),
        "confFile": ctx.locations.cloudconf,
        "paths": paths,
        "remote": "poof-backup",
    });
    Ok(serde_json::to_string_pretty(&conf)? + "\n")
}

/// Creates `file` (mode 0600, and its folder with 0700) from `scaffold` when
/// it does not exist; returns whether it did.
fn create_if_missing(
    file: &Path,
    confdir: &Path,
    scaffold: impl FnOnce() -> Result<String>,
) -> Result<bool> {
    if file.exists() {
        return Ok(false);
    }
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(confdir);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let text = scaffold()?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(true)
}

fn print_file(ctx: &Context, file: &Path, show_secrets: bool) -> Result<Exit> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let shown = if show_secrets { text } else { redact(&text) };
    if ctx.out.json {
        ctx.out
            .event(serde_json::json!({"event": "config", "file": file, "text": shown}));
    } else {
        crate::output::write_stdout(&shown);
    }
    Ok(Exit::Success)
}

/// Replaces the value of every secret key (`key = value` lines) with `<redacted>`.
pub fn redact(text: &str) -> String {
    text.lines()
        .map(|line| match line.split_once('=') {
            Some((key, value)) if SECRET_KEYS.contains(&key.trim()) && !value.trim().is_empty() => {
                format!("{}= <redacted>", &line[..key.len()])
            }
            _ => line.to_string(),
        })
        .map(|l| l + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_nothing_else() {
        let text = "[s]\ntype = s3\naccess_key_id = AKIA\nsecret_access_key = hunter2\nsession_token=tok\npassword =\n";
        let r = redact(text);
        assert_eq!(
            r,
            "[s]\ntype = s3\naccess_key_id = AKIA\nsecret_access_key = <redacted>\nsession_token= <redacted>\npassword =\n"
        );
    }
}
