//! The passphrase and the wrapped key: where they come from, where they are
//! kept, and how a run gets its unlocked `Crypt`.
//!
//! Invariants: the passphrase is held in `Zeroizing` from the moment it is
//! read and is never printed; an empty passphrase is refused; the wrapped
//! key (100 bytes, not secret without the passphrase, docs/FORMAT.md) is kept
//! in `CONFDIR/poof.key` (mode 0600) and in the remote at `.poof/key`, and a
//! local key and a remote key with different key ids are never mixed.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use zeroize::Zeroizing;

use super::{Crypt, describe};
use crate::config::{Locations, PoofConf};
use crate::engine::crypto::{FoundKey, KeySource};
use crate::engine::pool::Pool;
use crate::exit::ConfigError;
use crate::remote::{RESERVED_KEY, Remote};

/// The name of the local copy of the wrapped key, in the config folder.
pub const LOCAL_KEY: &str = "poof.key";

/// The environment variable that may hold the passphrase.
pub const ENV: &str = "POOF_PASSPHRASE";

/// The environment variable that may hold the new passphrase of
/// `poof econfig --change-passphrase`.
pub const ENV_NEW: &str = "POOF_NEW_PASSPHRASE";

/// Where a passphrase comes from, first match wins.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// A file holding it (one trailing newline is stripped).
    pub file: Option<&'a Path>,
    /// An environment variable holding it.
    pub env: &'a str,
    /// The prompt's words, e.g. `passphrase`.
    pub prompt: &'a str,
    /// Ask twice when prompting (a new passphrase).
    pub confirm: bool,
}

impl Source<'_> {
    /// True when a passphrase can be had without a terminal.
    pub fn non_interactive(&self) -> bool {
        self.file.is_some() || std::env::var_os(self.env).is_some_and(|v| !v.is_empty())
    }
}

/// Reads a passphrase from `src`: the file, the environment, or a prompt
/// on the terminal without echo.
pub fn passphrase(src: Source<'_>) -> Result<Zeroizing<Vec<u8>>> {
    // Before any secret enters this process's memory.
    crate::harden::keep_secrets_out_of_dumps()?;
    if let Some(file) = src.file {
        let mut bytes = Zeroizing::new(
            std::fs::read(file)
                .map_err(|e| ConfigError(format!("{}: cannot read it: {e}", file.display())))?,
        );
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        if bytes.is_empty() {
            return Err(ConfigError(format!(
                "{}: the passphrase file is empty; write the passphrase into it",
                file.display()
            ))
            .into());
        }
        return Ok(bytes);
    }
    if let Some(v) = std::env::var_os(src.env) {
        use std::os::unix::ffi::OsStringExt;
        let bytes = Zeroizing::new(v.into_vec());
        if bytes.is_empty() {
            return Err(ConfigError(format!(
                "{} is set but empty; set it to the passphrase or unset it",
                src.env
            ))
            .into());
        }
        return Ok(bytes);
    }
    let no_tty = |e: std::io::Error| {
        ConfigError(format!(
            "cannot ask for the {} ({e}); pass --passphrase-file FILE or set {}",
            src.prompt, src.env
        ))
    };
    let first = Zeroizing::new(
        rpassword::prompt_password(format!("{}: ", src.prompt))
            .map_err(no_tty)?
            .into_bytes(),
    );
    if first.is_empty() {
        return Err(ConfigError(format!("the {} must not be empty", src.prompt)).into());
    }
    if src.confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password(format!("{} again: ", src.prompt))
                .map_err(no_tty)?
                .into_bytes(),
        );
        if again != first {
            return Err(
                ConfigError("the two passphrases differ; nothing was changed".into()).into(),
            );
        }
    }
    Ok(first)
}

/// A warning when the passphrase file `file` can be read (or written) by
/// the file's group or by others; `None` when it is private, or cannot be
/// examined (reading it will then say why).
pub fn exposed(file: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} holds a passphrase and can be read by other users (mode {mode:04o}); run `chmod 600 {}`",
            file.display(),
            file.display()
        )
    })
}

/// The usual passphrase source: `--passphrase-file`, `POOF_PASSPHRASE`, the prompt.
pub fn existing(locations: &Locations) -> Source<'_> {
    Source {
        file: locations.passphrase_file.as_deref(),
        env: ENV,
        prompt: "passphrase",
        confirm: false,
    }
}

/// The local copy of the wrapped key.
pub fn local_path(locations: &Locations) -> PathBuf {
    locations.confdir.join(LOCAL_KEY)
}

/// Reads the local copy of the wrapped key, `None` when there is none.
pub fn read_local(locations: &Locations) -> Result<Option<Vec<u8>>> {
    let path = local_path(locations);
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes the local copy of the wrapped key (mode 0600), replacing it atomically.
pub fn write_local(locations: &Locations, wrapped: &[u8]) -> Result<()> {
    let path = local_path(locations);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&locations.confdir)
        .with_context(|| format!("creating {}", locations.confdir.display()))?;
    let tmp = locations
        .confdir
        .join(format!(".{LOCAL_KEY}.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(wrapped)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

/// The key id of a wrapped key, or an error naming where it came from.
pub fn key_id(pool: &Pool, wrapped: &[u8], source: &str) -> Result<String> {
    let info = pool
        .lease()?
        .inspect_wrapped_key(wrapped)?
        .map_err(|e| ConfigError(format!("{source}: {}", describe(&e))))?;
    Ok(info.key_id)
}

/// The wrapped key to use with `remote`, and where it came from. Which
/// copy is used (the local one, else the remote's) and refusing two copies
/// of different keys are the guest's decisions (`choose-wrapped-key`).
pub fn find(
    pool: &Pool,
    locations: &Locations,
    remote: &dyn Remote,
) -> Result<Option<(Vec<u8>, String)>> {
    let local = read_local(locations)?;
    let stored = remote
        .read_reserved(RESERVED_KEY)
        .with_context(|| format!("reading the key from {}", remote.describe()))?;
    let found =
        |name: String, wrapped: Option<Vec<u8>>| wrapped.map(|wrapped| FoundKey { name, wrapped });
    let local = found(local_path(locations).display().to_string(), local);
    let remote = found(format!("{} ({RESERVED_KEY})", remote.describe()), stored);
    let choice = pool
        .lease()?
        .choose_wrapped_key(local.as_ref(), remote.as_ref())?
        .map_err(|e| ConfigError(describe(&e)))?;
    let pick = match choice {
        None => None,
        Some(KeySource::Local) => local,
        Some(KeySource::Remote) => remote,
    };
    Ok(pick.map(|k| (k.wrapped, k.name)))
}

/// The unlocked key of an encrypted config, for a sync over `remote`.
pub fn for_sync(
    pool: &'static Pool,
    conf: &PoofConf,
    locations: &Locations,
    remote: &dyn Remote,
) -> Result<Arc<Crypt>> {
    let Some((wrapped, source)) = find(pool, locations, remote)? else {
        return Err(ConfigError(format!(
            "{} says \"encrypted\": true, but there is no key in {} or in {}; run `poof econfig` \
             (or `poof cryptoggle` to go back to the plain layout)",
            conf.file.display(),
            local_path(locations).display(),
            remote.describe()
        ))
        .into());
    };
    let pass = passphrase(existing(locations))?;
    Ok(Arc::new(Crypt::unlock(pool, wrapped, pass, &source)?))
}
