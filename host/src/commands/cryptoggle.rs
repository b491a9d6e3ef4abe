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
//!
//! `--purge-plain`, on a switch to encrypted only, then backs up every path
//! encrypted and removes the plain objects proved equal to their encrypted
//! copies (`purge`).
//!
//! A switch that fails half way leaves a state that refuses plain backups
//! beside the key unless the user chose them, and that one more
//! `poof cryptoggle` repairs: switching on removes the record before the
//! config says so; switching off writes the config first and puts it back
//! when the record cannot be written (`switch`).

use std::path::Path;

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::CryptoggleArgs;
use crate::config::PoofConf;
use crate::crypt::keys;
use crate::exit::{ConfigError, Exit};
use crate::layout::plain::PlainRemote;
use crate::layout::session::Beside;
use crate::layout::write_reserved;
use crate::remote::{self, RESERVED_PLAIN, Remote};
use crate::store::{Store, StoreError};

mod purge;

/// Runs `poof cryptoggle`.
pub fn run(ctx: &mut Context, args: &CryptoggleArgs) -> Result<Exit> {
    let file = ctx.locations.poofconf.clone();
    let conf = PoofConf::load(&file)?;
    let on = !conf.encrypted;
    if args.purge_plain && !on {
        return Err(ConfigError(format!(
            "--purge-plain removes the plain copies a switch to encrypted leaves behind, but {} \
             is encrypted already, so this would switch it to plain; nothing was changed. To \
             remove plain copies an earlier switch left: `poof cryptoggle` (back to plain), then \
             `poof cryptoggle --purge-plain`",
            file.display()
        ))
        .into());
    }
    let store = remote::open_store(&conf, &ctx.locations)?;
    // The plain folders' names come from a guest session; it never lists,
    // so what the store holds beside them does not matter here.
    let plain = PlainRemote::new(store).with_session(ctx.pool.take()?, Beside::default());
    if on && keys::find(ctx.pool, &ctx.locations, &plain)?.is_none() {
        return Err(ConfigError(format!(
            "there is no key yet, neither in {} nor in {}; run `poof econfig` first",
            keys::local_path(&ctx.locations).display(),
            plain.describe()
        ))
        .into());
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let new = set_encrypted(&text, on);
    let switched = PoofConf::parse(&file, &new)?;
    if args.dry_run {
        ctx.out.line(&format!(
            "dry run: would switch encryption {} in {}; nothing was changed",
            if on { "on" } else { "off" },
            file.display()
        ));
        if args.purge_plain {
            purge::dry_run(ctx, &conf, &plain)?;
        }
        return Ok(Exit::Success);
    }
    if args.purge_plain {
        let _lock = super::lock_unless_dry_run(ctx, &conf, false)?;
        // The key is unlocked before anything changes: a wrong passphrase
        // switches nothing.
        let sealed = remote::open_for_sync(&switched, &ctx.locations, ctx.pool, ctx.trust_remote)?;
        switch(&file, &text, &new, on, plain.store())?;
        ctx.out.line(&format!(
            "encryption is now on in {}; backing up every path encrypted to {}, then removing \
             the plain copies proved equal to their encrypted ones",
            file.display(),
            plain.describe()
        ));
        ctx.out
            .event(serde_json::json!({"event": "switched", "encrypted": true}));
        return purge::run(ctx, &switched, &plain, sealed.as_ref());
    }
    switch(&file, &text, &new, on, plain.store())?;
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
        plain.describe()
    ));
    Ok(Exit::Success)
}

/// What `.poof/plain` holds.
const PLAIN_RECORD: &[u8] =
    b"plain copies beside poof's key are intended (written by poof cryptoggle)\n";

/// Replaces poof.conf `file` (now `old`) with `new`, and records (`on`
/// false) or removes (`on` true) the choice of plain copies in `store`.
///
/// The order keeps every failure closed and repairable by a rerun:
/// - on: the record goes first; if it cannot, nothing changed. If the
///   config then cannot be written, it still says plain with no record,
///   so plain backups beside the key are refused, and a rerun switches on;
/// - off: the config is written first; if the record then cannot be
///   written, the old config is put back (encryption stays on), so plain
///   copies never go beside the key unrecorded, and a rerun switches off.
///   Only when putting it back fails too does the config stay plain
///   without the record: plain backups are then refused (still closed).
fn switch(file: &Path, old: &str, new: &str, on: bool, store: &dyn Store) -> Result<()> {
    let remote = store.describe();
    if on {
        match store.delete(RESERVED_PLAIN) {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => {
                return Err(anyhow::Error::from(e).context(format!(
                    "nothing was switched: removing {RESERVED_PLAIN} from {remote} failed; \
                     run `poof cryptoggle` again"
                )));
            }
        }
        return crate::config::edit::replace_file(file, new).with_context(|| {
            format!(
                "{RESERVED_PLAIN} was removed from {remote}, but writing {} failed: it still says \
                 plain, and plain backups there are refused; run `poof cryptoggle` again",
                file.display()
            )
        });
    }
    crate::config::edit::replace_file(file, new)
        .with_context(|| format!("nothing was switched: writing {} failed", file.display()))?;
    let Err(e) = write_reserved(store, RESERVED_PLAIN, PLAIN_RECORD) else {
        return Ok(());
    };
    Err(match crate::config::edit::replace_file(file, old) {
        Ok(()) => e.context(format!(
            "nothing was switched: recording the choice of plain copies in {remote} failed, so {} \
             was put back as it was (encryption stays on); run `poof cryptoggle` again",
            file.display()
        )),
        Err(back) => e.context(format!(
            "encryption is off in {}, but recording that choice in {remote} failed, and putting \
             the file back failed too ({back:#}): plain backups there are refused until \
             `poof cryptoggle` switches encryption on again",
            file.display()
        )),
    })
}

/// `text` with its top-level `"encrypted"` set to `on`: the value replaced
/// where the key is, else the key added first, so nothing else moves.
fn set_encrypted(text: &str, on: bool) -> String {
    let value = if on { "true" } else { "false" };
    crate::config::edit::set_top_level(text, "encrypted", value).unwrap_or_else(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::{set_encrypted, switch};
    use crate::remote::RESERVED_PLAIN;
    use crate::store::memory::{Fault, MemoryStore, Op};

    const ON: &str = "{\"encrypted\": true, \"paths\": {}}";

    /// A poof.conf holding `text` (mode 0640, which every rewrite keeps).
    fn conf(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("poof.conf");
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        (dir, file)
    }

    fn read(file: &std::path::Path) -> String {
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        std::fs::read_to_string(file).unwrap()
    }

    /// Switching off when the store refuses to keep `.poof/plain`: the
    /// config is put back, so nothing can go in the clear beside the key
    /// unrecorded; the rerun switches.
    #[test]
    fn a_record_the_store_refuses_switches_nothing_and_a_rerun_works() {
        let off = set_encrypted(ON, false);
        let (_dir, file) = conf(ON);
        let store = MemoryStore::new();
        store.inject(Fault::Fail {
            op: Some(Op::Put),
            n: 1,
        });
        let err = format!("{:#}", switch(&file, ON, &off, false, &store).unwrap_err());
        assert!(
            err.contains("nothing was switched") && err.contains("encryption stays on"),
            "{err}"
        );
        assert_eq!(read(&file), ON, "the config is as it was");
        assert!(store.keys().is_empty());
        let leftovers = std::fs::read_dir(file.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left");

        store.heal();
        switch(&file, ON, &off, false, &store).unwrap();
        assert_eq!(read(&file), off);
        assert_eq!(store.keys(), [RESERVED_PLAIN]);
    }

    /// Switching on when the store refuses to delete `.poof/plain`: the
    /// config stays plain with its record (as the user chose); the rerun
    /// switches.
    #[test]
    fn a_record_the_store_keeps_switches_nothing_and_a_rerun_works() {
        let off = set_encrypted(ON, false);
        let (_dir, file) = conf(&off);
        let store = MemoryStore::new();
        switch(&file, ON, &off, false, &store).unwrap();
        assert_eq!(store.keys(), [RESERVED_PLAIN]);
        store.inject(Fault::Fail {
            op: Some(Op::Delete),
            n: 1,
        });
        let err = format!("{:#}", switch(&file, &off, ON, true, &store).unwrap_err());
        assert!(err.contains("nothing was switched"), "{err}");
        assert_eq!(read(&file), off);
        assert_eq!(store.keys(), [RESERVED_PLAIN]);

        store.heal();
        switch(&file, &off, ON, true, &store).unwrap();
        assert_eq!(read(&file), ON);
        assert!(store.keys().is_empty());
        // Switching on where there is no record is no failure.
        switch(&file, &off, ON, true, &store).unwrap();
    }

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
