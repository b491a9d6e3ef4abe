//! The passphrase and the wrapped key: where they come from, where they are
//! kept, and how a run gets its unlocked `Crypt`.
//!
//! Invariants: the passphrase is held in `Zeroizing` from the moment it is
//! read and is never printed; an empty passphrase is refused; the secret
//! environment variables (`POOF_PASSPHRASE`, `POOF_NEW_PASSPHRASE`) are
//! taken out of the environment when poof starts, before any thread, so no
//! program poof runs inherits them; the wrapped key (100 bytes, not secret
//! without the passphrase, docs/FORMAT.md) is kept in `CONFDIR/poof.key`
//! (mode 0600) and in the remote at `.poof/key`, and a local key and a
//! remote key with different key ids are never mixed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// The environment variable that may name a file holding the passphrase.
pub const ENV_FILE: &str = "POOF_PASSPHRASE_FILE";

/// The environment variable that may hold the new passphrase of
/// `poof econfig --change-passphrase`.
pub const ENV_NEW: &str = "POOF_NEW_PASSPHRASE";

/// How long `--passphrase-command` may run before poof gives up on it.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// The most a passphrase file or command may hold: a passphrase is short,
/// and the buffer it is read into is allocated once, so that no copy of a
/// part of it is left behind by a reallocation.
const MAX_LEN: usize = 64 * 1024;

/// The secret variables taken out of the environment at start-up, by name,
/// until a run reads them (`take_env`).
static TAKEN: Mutex<BTreeMap<&'static str, Zeroizing<Vec<u8>>>> = Mutex::new(BTreeMap::new());

/// Moves `POOF_PASSPHRASE` and `POOF_NEW_PASSPHRASE` out of the environment
/// into this process's memory (in `Zeroizing`, wiped once read), so that no
/// program poof starts (a passphrase command, `crontab`, `systemctl`, a
/// shell) inherits them. Turns core dumps off first when one is set.
///
/// # Safety
///
/// Call it once, first thing in `main`, while the process has one thread:
/// removing a variable is unsound while another thread may read the
/// environment (`std::env::remove_var`). On Linux it also checks
/// `/proc/self/task` and leaves the environment alone when it sees more
/// than one thread.
#[allow(unsafe_code)]
pub unsafe fn take_from_env() {
    let mut taken = TAKEN.lock().expect("no panics while locked");
    for name in [ENV, ENV_NEW] {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        use std::os::unix::ffi::OsStringExt;
        taken.insert(name, Zeroizing::new(value.into_vec()));
        if one_thread() {
            // SAFETY: the caller promises that this process has one thread
            // (this runs first in `main`, before clap, the guest engine or
            // any worker pool starts one), and `one_thread` has just seen
            // one on Linux; so no other thread can read the environment
            // while it changes.
            unsafe { std::env::remove_var(name) };
        }
    }
    if !taken.is_empty() {
        // A failure here fails again, and refuses, in `passphrase` before
        // the secret is used.
        let _ = crate::harden::keep_secrets_out_of_dumps();
    }
}

/// False when this process is seen to have more than one thread (Linux's
/// `/proc/self/task`); true otherwise, including where that cannot be seen.
fn one_thread() -> bool {
    match std::fs::read_dir("/proc/self/task") {
        Ok(tasks) => tasks.count() <= 1,
        Err(_) => true,
    }
}

/// The value of the secret variable `name` as taken at start-up, removed
/// from this process's keeping: a run reads its passphrase once.
fn take_env(name: &str) -> Option<Zeroizing<Vec<u8>>> {
    TAKEN.lock().expect("no panics while locked").remove(name)
}

/// True when the secret variable `name` was set when poof started and is
/// not read yet.
fn env_is_set(name: &str) -> bool {
    TAKEN
        .lock()
        .expect("no panics while locked")
        .contains_key(name)
}

/// Where a passphrase comes from, first match wins: `file`, `command`,
/// `env_file`, the variable `env`, the prompt.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// A file holding it (one trailing newline is stripped): `--passphrase-file`.
    pub file: Option<&'a Path>,
    /// A shell command that prints it: `--passphrase-command`.
    pub command: Option<&'a str>,
    /// A file holding it, named by `POOF_PASSPHRASE_FILE`.
    pub env_file: Option<&'a Path>,
    /// The secret environment variable holding it (taken at start-up).
    pub env: &'a str,
    /// The prompt's words, e.g. `passphrase`.
    pub prompt: &'a str,
    /// Ask twice when prompting (a new passphrase).
    pub confirm: bool,
}

/// Which of a `Source`'s places a passphrase is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place<'a> {
    File(&'a Path),
    Command(&'a str),
    EnvFile(&'a Path),
    Env,
    Prompt,
}

impl<'a> Source<'a> {
    /// True when a passphrase can be had without a terminal.
    pub fn non_interactive(&self) -> bool {
        self.place(env_is_set(self.env)) != Place::Prompt
    }

    /// The first place that holds a passphrase; `env_set` says whether the
    /// variable `env` was set.
    fn place(&self, env_set: bool) -> Place<'a> {
        if let Some(f) = self.file {
            Place::File(f)
        } else if let Some(c) = self.command {
            Place::Command(c)
        } else if let Some(f) = self.env_file {
            Place::EnvFile(f)
        } else if env_set {
            Place::Env
        } else {
            Place::Prompt
        }
    }
}

/// Reads a passphrase from `src`: a file, a command's output, the
/// environment, or a prompt on the terminal without echo.
pub fn passphrase(src: Source<'_>) -> Result<Zeroizing<Vec<u8>>> {
    // Before any secret enters this process's memory.
    crate::harden::keep_secrets_out_of_dumps()?;
    match src.place(env_is_set(src.env)) {
        Place::File(file) => read_file(file, ""),
        Place::Command(cmd) => run_command(cmd, COMMAND_TIMEOUT),
        Place::EnvFile(file) => read_file(file, &format!(" (named by {ENV_FILE})")),
        Place::Env => {
            let bytes = take_env(src.env).unwrap_or_default();
            if bytes.is_empty() {
                return Err(ConfigError(format!(
                    "{} is set but empty; set it to the passphrase or unset it",
                    src.env
                ))
                .into());
            }
            Ok(bytes)
        }
        Place::Prompt => prompt(&src),
    }
}

/// Reads a passphrase file; `named` says how it was named, for messages.
fn read_file(file: &Path, named: &str) -> Result<Zeroizing<Vec<u8>>> {
    let cannot = |e: String| ConfigError(format!("{}{named}: cannot read it: {e}", file.display()));
    let f = std::fs::File::open(file).map_err(|e| cannot(e.to_string()))?;
    let mut bytes = read_capped(f).map_err(|e| cannot(e.to_string()))?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(ConfigError(format!(
            "{}{named}: the passphrase file is empty; write the passphrase into it",
            file.display()
        ))
        .into());
    }
    Ok(bytes)
}

/// Everything `r` gives, up to `MAX_LEN` bytes, into one buffer allocated
/// once; more than that is an error.
fn read_capped(mut r: impl Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_LEN + 1]);
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if n > MAX_LEN {
        return Err(std::io::Error::other(format!(
            "more than {} KiB, which is no passphrase",
            MAX_LEN / 1024
        )));
    }
    buf.truncate(n);
    Ok(buf)
}

/// Runs `sh -c CMD` with no input, and takes what it prints on standard
/// output as the passphrase (one trailing newline stripped). Its errors go
/// to poof's standard error; its output is never shown. A command that
/// fails, prints nothing, or runs longer than `timeout` is an error naming
/// the command.
fn run_command(command: &str, timeout: Duration) -> Result<Zeroizing<Vec<u8>>> {
    let failed = |why: String| -> anyhow::Error {
        ConfigError(format!(
            "--passphrase-command `{command}` {why}; no passphrase was read from it"
        ))
        .into()
    };
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let mut bytes = crate::child::capture(cmd, timeout, read_capped).map_err(failed)?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(failed(
            "printed nothing; it must print the passphrase on its standard output".into(),
        ));
    }
    Ok(bytes)
}

/// Asks on the terminal, without echo (twice when `src.confirm`).
fn prompt(src: &Source<'_>) -> Result<Zeroizing<Vec<u8>>> {
    let no_tty = |e: std::io::Error| {
        ConfigError(format!(
            "cannot ask for the {} ({e}); pass --passphrase-file FILE or --passphrase-command CMD, \
             or set {ENV_FILE} or {}",
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

/// A warning when `pass`, a passphrase being set, is easy to guess by
/// zxcvbn's estimate (a score under 3 of 4), with zxcvbn's own advice;
/// `None` when it is not. Only a warning: poof uses the passphrase all the
/// same. zxcvbn copies the passphrase (its first 100 characters) into
/// strings of its own, freed unwiped, in this non-dumpable process.
pub fn weak(pass: &[u8]) -> Option<String> {
    // zxcvbn reads text; bytes that are not UTF-8 are judged as the
    // replacement characters they read as.
    let text = Zeroizing::new(String::from_utf8_lossy(pass).into_owned());
    let estimate = zxcvbn::zxcvbn(&text, &["poof", "backup", "passphrase"]);
    let score = u8::from(estimate.score());
    if score >= 3 {
        return None;
    }
    let advice = estimate
        .feedback()
        .map(|f| f.to_string())
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| "Add another word or two. Uncommon words are better.".into());
    Some(format!(
        "this passphrase is weak: zxcvbn scores it {score} of 4 (about 10^{:.0} guesses). {}. \
         poof uses it all the same; `poof econfig --change-passphrase` replaces it",
        estimate.guesses_log10(),
        advice.trim().trim_end_matches('.')
    ))
}

/// The usual passphrase source: `--passphrase-file`, `--passphrase-command`,
/// `POOF_PASSPHRASE_FILE`, `POOF_PASSPHRASE`, the prompt.
pub fn existing(locations: &Locations) -> Source<'_> {
    Source {
        file: locations.passphrase_file.as_deref(),
        command: locations.passphrase_command.as_deref(),
        env_file: locations.passphrase_env_file.as_deref(),
        env: ENV,
        prompt: "passphrase",
        confirm: false,
    }
}

/// The source of the new passphrase of `econfig --change-passphrase`:
/// `--new-passphrase-file`, `POOF_NEW_PASSPHRASE`, the prompt (asked twice).
pub fn new_passphrase(file: Option<&Path>) -> Source<'_> {
    Source {
        file,
        command: None,
        env_file: None,
        env: ENV_NEW,
        prompt: "new passphrase",
        confirm: true,
    }
}

/// The local copy of the wrapped key.
pub fn local_path(locations: &Locations) -> PathBuf {
    locations.confdir.join(LOCAL_KEY)
}

/// Reads the local copy of the wrapped key, `None` when there is none.
pub fn read_local(locations: &Locations) -> Result<Option<Vec<u8>>> {
    let path = local_path(locations);
    crate::fsx::read_optional(&path).with_context(|| format!("reading {}", path.display()))
}

/// Writes the local copy of the wrapped key (mode 0600), replacing it atomically.
pub fn write_local(locations: &Locations, wrapped: &[u8]) -> Result<()> {
    let path = local_path(locations);
    crate::fsx::write_private(&path, wrapped).with_context(|| format!("writing {}", path.display()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn all<'a>(file: &'a Path, env_file: &'a Path) -> Source<'a> {
        Source {
            file: Some(file),
            command: Some("echo cmd"),
            env_file: Some(env_file),
            env: "POOF_TEST_UNSET",
            prompt: "passphrase",
            confirm: false,
        }
    }

    #[test]
    fn sources_are_tried_in_order() {
        let (f, e) = (Path::new("/flag"), Path::new("/env"));
        let mut s = all(f, e);
        assert_eq!(s.place(true), Place::File(f));
        s.file = None;
        assert_eq!(s.place(true), Place::Command("echo cmd"));
        s.command = None;
        assert_eq!(s.place(true), Place::EnvFile(e));
        s.env_file = None;
        assert_eq!(s.place(true), Place::Env);
        assert_eq!(s.place(false), Place::Prompt);
        assert!(!s.non_interactive(), "POOF_TEST_UNSET was never taken");
        assert!(all(f, e).non_interactive());
    }

    #[test]
    fn a_variable_taken_at_start_up_is_read_once() {
        let name = "POOF_TEST_TAKEN";
        TAKEN
            .lock()
            .unwrap()
            .insert(name, Zeroizing::new(b"from the environment".to_vec()));
        let src = Source {
            file: None,
            command: None,
            env_file: None,
            env: name,
            prompt: "passphrase",
            confirm: false,
        };
        assert!(src.non_interactive());
        assert_eq!(&passphrase(src).unwrap()[..], b"from the environment");
        assert!(!env_is_set(name), "wiped once read");
        assert!(!src.non_interactive());
    }

    #[test]
    fn a_passphrase_file_loses_one_newline_and_must_not_be_empty() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pass");
        std::fs::write(&f, "two words\n\n").unwrap();
        assert_eq!(&read_file(&f, "").unwrap()[..], b"two words\n");
        std::fs::write(&f, "\n").unwrap();
        let e = read_file(&f, " (named by X)").unwrap_err().to_string();
        assert!(
            e.contains("(named by X): the passphrase file is empty"),
            "{e}"
        );
        let e = read_file(&dir.path().join("none"), "")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read it"), "{e}");
        std::fs::write(&f, vec![b'x'; MAX_LEN + 1]).unwrap();
        let e = read_file(&f, "").unwrap_err().to_string();
        assert!(e.contains("no passphrase"), "{e}");
    }

    #[test]
    fn a_passphrase_command_gives_its_output_less_one_newline() {
        let t = Duration::from_secs(30);
        let got = run_command("printf 'pass word\\n\\n'", t).unwrap();
        assert_eq!(&got[..], b"pass word\n");
        // No input: a command that reads standard input gets nothing.
        let got = run_command("cat; echo done", t).unwrap();
        assert_eq!(&got[..], b"done");
    }

    #[test]
    fn a_failing_command_is_named_and_its_output_never_shown() {
        let t = Duration::from_secs(30);
        let e = run_command("echo $((6 * 7)); exit 3", t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`echo $((6 * 7)); exit 3` failed"), "{e}");
        assert!(!e.contains("42"), "the output is not shown: {e}");
        let e = run_command("true", t).unwrap_err().to_string();
        assert!(e.contains("`true` printed nothing"), "{e}");
        let e = run_command("echo", t).unwrap_err().to_string();
        assert!(e.contains("printed nothing"), "one newline alone: {e}");
        let e = run_command("head -c 70000 /dev/zero", t)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no passphrase"), "{e}");
        let e = run_command("sleep 20", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not finish"), "{e}");
        let e = run_command("(sleep 20 &); echo x", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(e.contains("still holds its output open"), "{e}");
    }

    #[test]
    fn weak_passphrases_get_zxcvbn_advice() {
        let w = weak(b"password1").unwrap();
        assert!(
            w.starts_with("this passphrase is weak: zxcvbn scores it"),
            "{w}"
        );
        assert!(w.contains("--change-passphrase"), "{w}");
        assert!(weak(b"poof backup").is_some(), "the words poof is about");
        assert_eq!(weak(b"correct horse battery staple"), None);
        assert_eq!(weak(b"violet tractor umbrella minnow"), None);
        assert!(weak(&[0xff, 0xfe]).is_some(), "not UTF-8, and short");
    }
}
