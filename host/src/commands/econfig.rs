//! `poof econfig`: set up encryption. Creates a random master key inside the
//! guest, wraps it with a passphrase, and keeps the wrapped key in
//! `CONFDIR/poof.key` and in the remote (`.poof/key`); or restores the local
//! copy from the remote's; or, with `--change-passphrase`, rewraps it; or,
//! with `--rotate`, replaces the master key and re-encrypts every object
//! (`econfig/rotate.rs`).
//!
//! Invariants: the master key never leaves the guest; nothing is written
//! before the passphrase was checked (a wrong one changes nothing); a copy
//! holding another key than the other copy is never overwritten; changing
//! the passphrase rewrites only the two 100-byte copies, never an object.

pub mod rotate;

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::EconfigArgs;
use crate::config::PoofConf;
use crate::crypt::keys::{self, Source};
use crate::crypt::{describe, entropy};
use crate::engine::{GuestError, Handle, Instance};
use crate::exit::{ConfigError, Exit};
use crate::remote::{self, RESERVED_KEY};

/// Runs `poof econfig`.
pub fn run(ctx: &mut Context, args: &EconfigArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    if args.rotate {
        return rotate::run(ctx, &conf, args.dry_run);
    }
    let remote = remote::open(&conf, &ctx.locations)?;
    remote.check_ready()?;
    let local_name = keys::local_path(&ctx.locations).display().to_string();
    let remote_name = format!("{} ({RESERVED_KEY})", remote.describe());
    let local = keys::read_local(&ctx.locations)?;
    let stored = remote
        .read_reserved(RESERVED_KEY)
        .with_context(|| format!("reading the key from {}", remote.describe()))?;
    if let (Some(l), Some(r)) = (&local, &stored) {
        let (a, b) = (
            keys::key_id(ctx.pool, l, &local_name)?,
            keys::key_id(ctx.pool, r, &remote_name)?,
        );
        if a != b {
            return Err(ConfigError(format!(
                "the key in {local_name} (key id {a}) is not the key of {remote_name} (key id {b}). If the key was rotated \
                 on another machine (`poof econfig --rotate`), this machine's copy is the old one: \
                 delete {local_name} and run `poof econfig` again to fetch the new key (the passphrase \
                 is the same). If you did not rotate the key, someone else changed {remote_name}: \
                 keep your copy, and put it back with `poof econfig` after moving the remote's away"
            ))
            .into());
        }
    }
    // Refuses two copies that hold different keys, before anything else.
    let found = keys::find(ctx.pool, &ctx.locations, remote.as_ref())?;
    if args.dry_run {
        let what = match (&found, args.change_passphrase) {
            (None, true) => {
                format!("nothing: there is no key yet in {local_name} or {remote_name}")
            }
            (None, false) => {
                format!("create a new key and write it to {local_name} and {remote_name}")
            }
            (Some(_), true) => {
                format!("rewrap the key with a new passphrase in {local_name} and {remote_name}")
            }
            (Some(_), false) => format!(
                "keep the existing key, and copy it to {local_name} and {remote_name} where it is missing"
            ),
        };
        ctx.out
            .line(&format!("dry run: would {what}; nothing was changed"));
        return Ok(Exit::Success);
    }
    let mut inst = ctx.pool.lease()?;

    if args.change_passphrase {
        let Some((wrapped, source)) = found else {
            return Err(ConfigError(format!(
                "there is no key yet, neither in {local_name} nor in {remote_name}; run `poof econfig` to create one"
            ))
            .into());
        };
        let key = unlock(&mut inst, &wrapped, &source, keys::existing(&ctx.locations))?;
        if let Some(w) = args.new_passphrase_file.as_deref().and_then(keys::exposed) {
            ctx.out.warn(&w);
        }
        let new = keys::passphrase(keys::new_passphrase(args.new_passphrase_file.as_deref()))?;
        if let Some(w) = keys::weak(&new) {
            ctx.out.warn(&w);
        }
        let rewrapped = inst
            .keyring_wrap(&key, &new, &entropy()?)?
            .map_err(|e| anyhow::anyhow!(describe(&e)))?;
        let id = inst.key_id(&key)?;
        inst.drop_handle(key)?;
        remote.write_reserved(RESERVED_KEY, &rewrapped)?;
        keys::write_local(&ctx.locations, &rewrapped)?;
        ctx.out.line(&format!(
            "changed the passphrase of key {id} in {local_name} and {remote_name}; nothing was uploaded again. \
             The master key is the same: an old copy of the key file (an older version of {RESERVED_KEY} \
             if the bucket keeps versions, a backup of the config folder) still opens it with the old \
             passphrase. To cut those copies off, run `poof econfig --rotate`, which re-encrypts every \
             object under a new key"
        ));
        return Ok(Exit::Success);
    }

    match (local, stored) {
        (None, None) => {
            let pass = keys::passphrase(Source {
                confirm: true,
                prompt: "new passphrase",
                ..keys::existing(&ctx.locations)
            })?;
            if let Some(w) = keys::weak(&pass) {
                ctx.out.warn(&w);
            }
            let seed = entropy()?;
            let key = inst
                .keyring_generate(&seed)?
                .map_err(|e| anyhow::anyhow!(describe(&e)))?;
            let wrapped = inst
                .keyring_wrap(&key, &pass, &entropy()?)?
                .map_err(|e| anyhow::anyhow!(describe(&e)))?;
            let id = inst.key_id(&key)?;
            inst.drop_handle(key)?;
            remote.write_reserved(RESERVED_KEY, &wrapped)?;
            keys::write_local(&ctx.locations, &wrapped)?;
            ctx.out.line(&format!(
                "created key {id}, wrapped with your passphrase, in {local_name} and {remote_name}. \
                 Without the passphrase nobody can read the encrypted backups, you included: keep it safe. \
                 Run `poof cryptoggle` to switch backups to the encrypted layout"
            ));
        }
        (Some(l), Some(_)) => {
            let key = unlock(&mut inst, &l, &local_name, keys::existing(&ctx.locations))?;
            let id = inst.key_id(&key)?;
            inst.drop_handle(key)?;
            ctx.out.line(&format!(
                "key {id} is already set up in {local_name} and {remote_name}, and the passphrase opens it; nothing was changed"
            ));
        }
        (None, Some(r)) => {
            let key = unlock(&mut inst, &r, &remote_name, keys::existing(&ctx.locations))?;
            let id = inst.key_id(&key)?;
            inst.drop_handle(key)?;
            keys::write_local(&ctx.locations, &r)?;
            ctx.out.line(&format!(
                "copied key {id} from {remote_name} to {local_name}; the passphrase opens it"
            ));
        }
        (Some(l), None) => {
            let key = unlock(&mut inst, &l, &local_name, keys::existing(&ctx.locations))?;
            let id = inst.key_id(&key)?;
            inst.drop_handle(key)?;
            remote.write_reserved(RESERVED_KEY, &l)?;
            ctx.out.line(&format!(
                "stored key {id} from {local_name} in {remote_name}, so a new machine can restore with the passphrase"
            ));
        }
    }
    Ok(Exit::Success)
}

/// Unlocks `wrapped` (read from `source`) with the passphrase from `pass`.
fn unlock(inst: &mut Instance, wrapped: &[u8], source: &str, pass: Source<'_>) -> Result<Handle> {
    let pass = keys::passphrase(pass)?;
    match inst.keyring_unlock(wrapped, &pass)? {
        Ok(k) => Ok(k),
        Err(GuestError::WrongPassphrase) => Err(ConfigError(format!(
            "{source}: the passphrase does not open this key; check it and try again (nothing was changed)"
        ))
        .into()),
        Err(e) => Err(ConfigError(format!("{source}: {}", describe(&e))).into()),
    }
}
