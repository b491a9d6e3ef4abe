//! `poof cryptoggle`: switch the config between the plain and the encrypted
//! layout, as poof 1.x did, by setting `"encrypted": true|false` in poof.conf.
//!
//! Invariants: every other key of poof.conf, its order and its permission
//! bits stay as they were (the file is rewritten through a temporary file
//! and a rename); the new text is validated before it replaces the old; no
//! file is touched: the next backup uploads everything under the other
//! layout and leaves the old layout's objects where they are. Switching to
//! plain records the choice in the remote (`.poof/plain`), so that plain
//! copies beside poof's key are accepted there; switching to encrypted
//! removes that record (docs/FORMAT.md, "No downgrade").

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

use anyhow::{Context as _, Result};

use super::Context;
use crate::config::PoofConf;
use crate::crypt::keys;
use crate::exit::{ConfigError, Exit};
use crate::remote::{self, RESERVED_PLAIN};
use crate::store::StoreError;

/// Runs `poof cryptoggle`.
pub fn run(ctx: &mut Context, dry_run: bool) -> Result<Exit> {
    let file = ctx.locations.poofconf.clone();
    let conf = PoofConf::load(&file)?;
    let on = !conf.encrypted;
    let remote = remote::open(&conf, &ctx.locations)?;
    if on && keys::find(ctx.pool, &ctx.locations, remote.as_ref())?.is_none() {
        return Err(ConfigError(format!(
            "there is no key yet, neither in {} nor in {}; run `poof econfig` first",
            keys::local_path(&ctx.locations).display(),
            remote.describe()
        ))
        .into());
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let new = set_encrypted(&text, on);
    PoofConf::parse(&file, &new)?;
    if dry_run {
        ctx.out.line(&format!(
            "dry run: would switch encryption {} in {}; nothing was changed",
            if on { "on" } else { "off" },
            file.display()
        ));
        return Ok(Exit::Success);
    }
    let mode = std::fs::metadata(&file)
        .with_context(|| format!("reading {}", file.display()))?
        .permissions()
        .mode()
        & 0o7777;
    let tmp = file.with_file_name(format!(".poof.conf.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(new.as_bytes())?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", file.display()))?;
    if on {
        match remote.store().delete(RESERVED_PLAIN) {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => {
                return Err(anyhow::Error::from(e).context(format!(
                    "encryption is on in {}, but removing {RESERVED_PLAIN} from {} failed; \
                     run `poof cryptoggle` twice to retry",
                    file.display(),
                    remote.describe()
                )));
            }
        }
    } else {
        remote
            .write_reserved(
                RESERVED_PLAIN,
                b"plain copies beside poof's key are intended (written by poof cryptoggle)\n",
            )
            .with_context(|| {
                format!(
                    "encryption is off in {}, but recording that choice in {} failed, so plain \
                     backups there will be refused; run `poof cryptoggle` twice to retry",
                    file.display(),
                    remote.describe()
                )
            })?;
    }
    let (now, before) = if on {
        ("on", "plain")
    } else {
        ("off", "encrypted")
    };
    ctx.out.line(&format!(
        "encryption is now {now} in {}. The next `poof backup` uploads every file again under the {} layout to {}; \
         the {before} copies already there stay until you remove them (poof leaves them, so switching back loses nothing)",
        file.display(),
        if on { "encrypted" } else { "plain" },
        remote.describe()
    ));
    Ok(Exit::Success)
}

/// `text` with its top-level `"encrypted"` set to `on`: the value replaced
/// where the key is, else the key added first, so nothing else moves.
fn set_encrypted(text: &str, on: bool) -> String {
    let value = if on { "true" } else { "false" };
    let mut from = 0;
    while let Some(i) = text[from..].find("\"encrypted\"") {
        let start = from + i;
        let after = &text[start + "\"encrypted\"".len()..];
        let rest = after.trim_start();
        if let Some(v) = rest.strip_prefix(':') {
            let v = v.trim_start();
            for old in ["true", "false"] {
                if v.starts_with(old) {
                    let at = text.len() - v.len();
                    return format!("{}{value}{}", &text[..at], &text[at + old.len()..]);
                }
            }
        }
        from = start + 1;
    }
    // Added first, indented like the key that follows it.
    match text.find('{') {
        Some(i) => {
            let rest = &text[i + 1..];
            let ws = &rest[..rest.len() - rest.trim_start().len()];
            let sep = if ws.is_empty() { " " } else { ws };
            format!(
                "{}{ws}\"encrypted\": {value},{sep}{}",
                &text[..=i],
                rest.trim_start()
            )
        }
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::set_encrypted;

    #[test]
    fn only_the_encrypted_key_changes() {
        let t = "{\"paths\": {\"/encrypted\": \"encrypted\"},\n \"remote\": \"x\"}";
        let on = set_encrypted(t, true);
        assert_eq!(
            on,
            "{\"encrypted\": true, \"paths\": {\"/encrypted\": \"encrypted\"},\n \"remote\": \"x\"}"
        );
        let pretty = set_encrypted("{\n  \"paths\": {}\n}", true);
        assert_eq!(pretty, "{\n  \"encrypted\": true,\n  \"paths\": {}\n}");
        let off = set_encrypted(&on, false);
        assert_eq!(off, on.replace("true", "false"));
        assert_eq!(set_encrypted(&off, true), on);
    }
}
