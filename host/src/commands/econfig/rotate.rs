//! `poof econfig --rotate`: replace the master key. A new key is made in the
//! guest and wrapped with the same passphrase, every object of every
//! configured path is re-encrypted under it, and only then do both copies
//! of the wrapped key change.
//!
//! The steps, each of which a rerun after a kill repeats or skips:
//! 1. the new wrapped key is written beside the old one, as `.poof/key.next`
//!    in the remote and `CONFDIR/poof.key.next` here; a run that finds one
//!    of them continues with that key (docs/FORMAT.md, "Key rotation");
//! 2. per path: the guest's sync plan, by content (each old header's
//!    SHA-256 against each new copy read back in full), names the files to
//!    re-encrypt under the new key, each read back in full as it is made;
//!    when all are, the new key's manifest is written; then the old objects
//!    the guest's wipe policy allows (those whose new copy proved equal)
//!    are deleted, and the old manifest last;
//! 3. when no path holds anything of the old key, the new wrapped key
//!    replaces `.poof/key` and `poof.key`, and the `.next` copies go.
//!
//! Invariants: an old object is deleted only after its new copy was read
//! back in full under the new key with the old header's SHA-256, size,
//! time and mode; no plaintext is written to disk; the key copies change
//! only when nothing of the old key is left in any configured path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, anyhow};
use serde_json::json;
use zeroize::Zeroizing;

use super::super::Context;
use crate::config::{Locations, PoofConf};
use crate::crypt::keys;
use crate::crypt::{Crypt, describe, entropy};
use crate::engine::Instance;
use crate::engine::sync::{Direction, Hashed, PlanInput, SourceState};
use crate::engine::wipe::{CheckedFile, RemoteCheck, WipeInput};
use crate::exit::{ConfigError, Exit};
use crate::fsx;
use crate::layout::freshness::Memory;
use crate::layout::plain::PlainRemote;
use crate::layout::sealed::SealedRemote;
use crate::output::human_bytes;
use crate::remote::{RESERVED_KEY, Remote};
use crate::store::Store;

/// The reserved name of the new wrapped key while a rotation runs.
pub const RESERVED_NEXT: &str = ".poof/key.next";

/// The local copy of the new wrapped key while a rotation runs.
pub const LOCAL_NEXT: &str = "poof.key.next";

/// Where the local copy of the new key is kept.
pub fn local_next(locations: &Locations) -> PathBuf {
    locations.confdir.join(LOCAL_NEXT)
}

/// What a rotation did (or, on a dry run, would do) in one path.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Files re-encrypted under the new key.
    pub resealed: u64,
    /// Files whose copy under the new key was already there (an earlier,
    /// interrupted run) and read back correctly.
    pub already: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Old objects deleted.
    pub deleted: u64,
    /// Files that failed, with the reason; the path is then not done.
    pub failed: Vec<String>,
    /// What the listings reported (unreadable objects, files the old
    /// manifest records whose objects are gone).
    pub problems: Vec<String>,
}

/// What `rotate_path` tells its caller as it goes, for the progress bar
/// and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    /// The old key's listing of the path: how many files, and their bytes,
    /// are to be re-encrypted or read back.
    Listed {
        /// Files.
        files: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// One file is under the new key and was read back.
    File {
        /// Its path in the cloud folder.
        path: &'a str,
        /// Its size.
        bytes: u64,
        /// True when re-encrypted in this run, false when an earlier run's
        /// copy was already there.
        resealed: bool,
    },
}

/// Runs `poof econfig --rotate` (`dry_run`: only say what would be re-encrypted).
pub fn run(ctx: &mut Context, conf: &PoofConf, dry_run: bool) -> Result<Exit> {
    if !conf.encrypted {
        return Err(ConfigError(format!(
            "{} says \"encrypted\": false: there is no encrypted backup whose key could be rotated \
             (run `poof econfig` and `poof cryptoggle` to encrypt)",
            conf.file.display()
        ))
        .into());
    }
    let store = crate::remote::open_store(conf, &ctx.locations)?;
    let plain = PlainRemote::new(store.clone());
    plain.check_ready()?;
    let _lock = super::super::lock_unless_dry_run(ctx, conf, dry_run)?;
    let keys = Keys::read(ctx, &plain)?;
    let Some((old_wrapped, old_source)) = keys.old.clone() else {
        // Only the new key is left: the rotation ended but for the clean-up.
        return finish(ctx, &plain, &keys, &[]);
    };
    let pass = keys::passphrase(keys::existing(&ctx.locations))?;
    let old_crypt = Arc::new(Crypt::unlock(
        ctx.pool,
        old_wrapped,
        pass.clone(),
        &old_source,
    )?);
    let old = sealed(ctx, &store, old_crypt.clone())?;
    if dry_run {
        return dry(ctx, conf, &old, &keys);
    }
    let next = match &keys.next {
        Some((w, _)) => w.clone(),
        None => new_key(ctx, &pass)?,
    };
    // Both copies before any object is touched (again on a resumed run,
    // where one of them may be missing).
    plain.write_reserved(RESERVED_NEXT, &next)?;
    let local = local_next(&ctx.locations);
    fsx::write_private(&local, &next).with_context(|| format!("writing {}", local.display()))?;
    let new_crypt = Arc::new(Crypt::unlock(
        ctx.pool,
        next.clone(),
        pass,
        &format!("the new key ({RESERVED_NEXT})"),
    )?);
    ctx.out.line(&format!(
        "rotating key {} to key {}: every object is re-encrypted and read back before the old one is deleted; \
         if this is interrupted, run `poof econfig --rotate` again to continue",
        old_crypt.key_id(),
        new_crypt.key_id()
    ));
    ctx.out.event(
        json!({"event": "rotation", "old_key": old_crypt.key_id(), "new_key": new_crypt.key_id()}),
    );
    let new = sealed(ctx, &store, new_crypt.clone())?;
    let mut guest = ctx.pool.lease()?;
    let mut unfinished = Vec::new();
    for p in &conf.paths {
        let out = ctx.out;
        // Drawn on stderr only when it is a terminal (`Output::progress`).
        let mut bar = None;
        let (mut done, mut total) = (0, 0);
        let tally = rotate_path(&mut guest, &old, &new, &p.cloud, &mut |step| match step {
            Step::Listed { files, bytes } => {
                total = files;
                bar = Some(out.progress(bytes, files));
            }
            Step::File {
                path,
                bytes,
                resealed,
            } => {
                done += 1;
                if let Some(bar) = &bar {
                    bar.inc(bytes);
                    bar.set_message(format!("{done}/{total}"));
                }
                if resealed {
                    out.verbose(&format!("  re-encrypted  {}/{path}", p.cloud));
                    out.event(json!({"event": "resealed", "cloud": p.cloud, "file": path, "bytes": bytes}));
                }
            }
        });
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let tally = match tally {
            Ok(t) => t,
            Err(e) => Tally {
                failed: vec![format!("{e:#}")],
                ..Tally::default()
            },
        };
        for w in &tally.problems {
            ctx.out.warn(&format!("{}: {w}", p.cloud));
        }
        for f in &tally.failed {
            ctx.out.error(&format!("{}: {f}", p.cloud));
        }
        ctx.out.line(&format!(
            "{}: {} re-encrypted, {} already under the new key ({}), {} old objects deleted{}",
            p.cloud,
            tally.resealed,
            tally.already,
            human_bytes(tally.bytes),
            tally.deleted,
            if tally.failed.is_empty() {
                String::new()
            } else {
                format!("; {} failed, the old objects are kept", tally.failed.len())
            }
        ));
        ctx.out.event(json!({
            "event": "rotated_path", "cloud": p.cloud, "resealed": tally.resealed,
            "already": tally.already, "bytes": tally.bytes, "deleted": tally.deleted,
            "failed": tally.failed,
        }));
        if !tally.failed.is_empty() {
            unfinished.push(p.cloud.clone());
        }
    }
    if !unfinished.is_empty() {
        ctx.out.error(&format!(
            "the key was not rotated yet: {} still hold objects of the old key; fix what was reported \
             and run `poof econfig --rotate` again (it continues where this run stopped; \
             both keys open with your passphrase until then)",
            unfinished.join(", ")
        ));
        return Ok(Exit::Partial);
    }
    finish(ctx, &plain, &keys, &next)
}

/// The copies of the wrapped key a rotation starts from.
struct Keys {
    /// The old key and where it came from; `None` when every copy already
    /// holds the new one.
    old: Option<(Vec<u8>, String)>,
    /// The new key of a rotation already begun, and where it came from.
    next: Option<(Vec<u8>, String)>,
}

impl Keys {
    /// Reads the four copies. With no `.next` copy, the current key is the
    /// one every command uses (`keys::find`); with one, the old key is the
    /// copy of `poof.key` or `.poof/key` that is not the new key.
    fn read(ctx: &Context, plain: &PlainRemote) -> Result<Keys> {
        let locations = &ctx.locations;
        let remote_next = plain.read_reserved(RESERVED_NEXT)?;
        let local_name = local_next(locations).display().to_string();
        let remote_name = |n: &str| format!("{} ({n})", plain.describe());
        let next = match (
            fsx::read_optional(&local_next(locations))
                .with_context(|| format!("reading {}", local_next(locations).display()))?,
            remote_next,
        ) {
            (Some(l), Some(r)) if l != r => {
                return Err(ConfigError(format!(
                    "{} and {} differ: two rotations were begun with different new keys. \
                     Keep the one of the machine that began the rotation you want to finish, \
                     delete the other, and run `poof econfig --rotate` again",
                    local_name,
                    remote_name(RESERVED_NEXT)
                ))
                .into());
            }
            (Some(l), _) => Some((l, local_name)),
            (None, Some(r)) => Some((r, remote_name(RESERVED_NEXT))),
            (None, None) => None,
        };
        let Some((next_wrapped, next_source)) = next else {
            let Some(old) = keys::find(ctx.pool, locations, plain)? else {
                return Err(ConfigError(format!(
                    "there is no key yet, neither in {} nor in {}: nothing to rotate; run `poof econfig` to create one",
                    keys::local_path(locations).display(),
                    remote_name(RESERVED_KEY)
                ))
                .into());
            };
            return Ok(Keys {
                old: Some(old),
                next: None,
            });
        };
        let next_id = keys::key_id(ctx.pool, &next_wrapped, &next_source)?;
        let mut old: Option<(Vec<u8>, String, String)> = None;
        let copies = [
            (
                keys::read_local(locations)?,
                keys::local_path(locations).display().to_string(),
            ),
            (
                plain.read_reserved(RESERVED_KEY)?,
                remote_name(RESERVED_KEY),
            ),
        ];
        for (wrapped, source) in copies {
            let Some(wrapped) = wrapped else { continue };
            let id = keys::key_id(ctx.pool, &wrapped, &source)?;
            if id == next_id {
                continue;
            }
            match &old {
                Some((_, other, other_id)) if *other_id != id => {
                    return Err(ConfigError(format!(
                        "{other} (key id {other_id}) and {source} (key id {id}) hold two different keys, \
                         and neither is the new key of the rotation begun in {next_source} (key id {next_id}); \
                         move away the copy that is not the old key of this rotation and run `poof econfig --rotate` again"
                    ))
                    .into());
                }
                Some(_) => {}
                None => old = Some((wrapped, source, id)),
            }
        }
        Ok(Keys {
            old: old.map(|(w, s, _)| (w, s)),
            next: Some((next_wrapped, next_source)),
        })
    }
}

/// A sealed remote over `store` under `crypt`, with what this machine
/// remembers of that key's folders.
fn sealed(ctx: &Context, store: &Arc<dyn Store>, crypt: Arc<Crypt>) -> Result<SealedRemote> {
    let remote = format!("{} key {}", store.describe(), crypt.key_id());
    let memory = Memory::open(ctx.locations.freshness_file(), remote, ctx.trust_remote)?;
    SealedRemote::new(store.clone(), crypt, memory)
}

/// Makes a new master key in a guest instance of its own (dropped after,
/// with the memory Argon2id took) and wraps it with `pass`.
fn new_key(ctx: &Context, pass: &Zeroizing<Vec<u8>>) -> Result<Vec<u8>> {
    let mut inst = ctx.pool.take()?;
    let key = inst
        .keyring_generate(&entropy()?)?
        .map_err(|e| anyhow!(describe(&e)))?;
    let wrapped = inst
        .keyring_wrap(&key, pass, &entropy()?)?
        .map_err(|e| anyhow!(describe(&e)))?;
    inst.drop_handle(key)?;
    Ok(wrapped)
}

/// Re-encrypts what the old key keeps of `cloud` under the new key (see
/// the module's steps); `on` hears of the listing and of each file under
/// the new key (`Step`). An error
/// stops the path (a listing refused, a manifest not written); a file that
/// fails is in `failed`, and then nothing of the path is deleted.
pub fn rotate_path(
    guest: &mut Instance,
    old: &SealedRemote,
    new: &SealedRemote,
    cloud: &str,
    on: &mut dyn FnMut(Step),
) -> Result<Tally> {
    let mut t = Tally::default();
    let (objects, manifest) = old.leftovers(cloud)?;
    if objects.is_empty() && manifest.is_none() {
        return Ok(t);
    }
    let old_list = old.list(cloud)?;
    let new_list = new.list(cloud)?;
    t.problems.extend(old_list.problems.iter().cloned());
    t.problems.extend(
        new_list
            .problems
            .iter()
            .map(|p| format!("under the new key: {p}")),
    );
    on(Step::Listed {
        files: old_list.entries.len() as u64,
        bytes: old_list.entries.iter().map(|e| e.size).sum(),
    });
    // The facts the guest plans on: each old object's SHA-256 from its
    // authenticated header, and each copy already under the new key (an
    // interrupted run's) read back in full.
    let old_sha: HashMap<&str, Result<Vec<u8>, String>> = old_list
        .entries
        .iter()
        .map(|e| {
            let sha = old
                .header_meta(cloud, &e.path)
                .map(|m| m.sha256)
                .map_err(|e| format!("{e:#}"));
            (e.path.as_str(), sha)
        })
        .collect();
    let mut new_sha: HashMap<&str, Vec<u8>> = HashMap::new();
    for e in &new_list.entries {
        if let Ok(Some((meta, _))) = new.read_back(cloud, &e.path) {
            new_sha.insert(e.path.as_str(), meta.sha256);
        }
    }
    let hashed = |m: &HashMap<&str, Vec<u8>>| -> Vec<Hashed> {
        m.iter()
            .map(|(p, sha)| Hashed {
                path: p.to_string(),
                sha256: sha.clone(),
            })
            .collect()
    };
    let known_old: HashMap<&str, Vec<u8>> = old_sha
        .iter()
        .filter_map(|(p, r)| r.as_ref().ok().map(|s| (*p, s.clone())))
        .collect();
    // The sync plan, by content: a copy under the new key that is missing,
    // or does not read back as the old object, is made (again).
    let plan = guest
        .plan_sync(&PlanInput {
            direction: Direction::Up,
            source_state: SourceState::Present,
            source: old_list.entries.clone(),
            source_complete: old_list.problems.is_empty(),
            never_delete: true,
            restore_elsewhere: false,
            target: new_list.entries.clone(),
            mtime_window_ns: 0,
            max_delete: None,
            max_overwrite: None,
            confirmed: true,
            checksum: true,
            source_hashes: hashed(&known_old),
            target_hashes: hashed(&new_sha),
        })?
        .map_err(|e| anyhow!(describe(&e)))?;
    let redo: HashMap<&str, ()> = plan
        .copy
        .iter()
        .chain(&plan.set_mode)
        .map(|e| (e.path.as_str(), ()))
        .collect();
    let mut checked = Vec::with_capacity(old_list.entries.len());
    for e in &old_list.entries {
        let local = old_sha[e.path.as_str()].clone();
        let resealed = redo.contains_key(e.path.as_str());
        let remote = if resealed {
            // Read back inside, with the old header's hash.
            match new.reseal_from(old, cloud, e) {
                Ok(()) => local
                    .clone()
                    .map_or_else(RemoteCheck::Failed, RemoteCheck::Hash),
                Err(err) => {
                    t.failed.push(format!("{}: {err:#}", e.path));
                    RemoteCheck::Failed(format!("{err:#}"))
                }
            }
        } else {
            match new_sha.get(e.path.as_str()) {
                Some(sha) => RemoteCheck::Hash(sha.clone()),
                None => RemoteCheck::Missing,
            }
        };
        if !matches!(remote, RemoteCheck::Failed(_)) {
            if resealed {
                t.resealed += 1;
            } else {
                t.already += 1;
            }
            t.bytes += e.size;
            on(Step::File {
                path: &e.path,
                bytes: e.size,
                resealed,
            });
        }
        checked.push(CheckedFile {
            path: e.path.clone(),
            local,
            remote,
        });
    }
    if !t.failed.is_empty() {
        return Ok(t);
    }
    new.finish(cloud)?;
    // Which old objects may go: the guest's wipe policy, the one `poof
    // upload` wipes local files by: only those whose new copy proved equal.
    let verdict = guest
        .plan_wipe(&WipeInput {
            // Every copy was made (a failure returned above). Listing
            // problems (objects gone or unreadable) block no file
            // proved equal; what they leave is
            // found by `leftovers` below.
            sync_complete: true,
            files: checked,
            links: Vec::new(),
        })?
        .map_err(|e| anyhow!(describe(&e)))?;
    for k in &verdict.keep {
        t.failed
            .push(format!("{}: kept under the old key: {}", k.path, k.reason));
    }
    let (deleted, failed) = old.retire(cloud, &verdict.wipe)?;
    t.deleted += deleted;
    t.failed.extend(failed);
    if !t.failed.is_empty() {
        return Ok(t);
    }
    let (left, _) = old.leftovers(cloud)?;
    if !left.is_empty() {
        t.failed.push(format!(
            "{} objects of the old key are left that poof could not read: {}",
            left.len(),
            left.join(", ")
        ));
        return Ok(t);
    }
    old.delete_manifest(cloud)?;
    Ok(t)
}

/// `--dry-run`: per path, how many files would be re-encrypted.
fn dry(ctx: &Context, conf: &PoofConf, old: &SealedRemote, keys: &Keys) -> Result<Exit> {
    if let Some((_, source)) = &keys.next {
        ctx.out.line(&format!(
            "a rotation was begun ({source}); a run continues it, reading back what is already under the new key"
        ));
    }
    for p in &conf.paths {
        let (objects, manifest) = old.leftovers(&p.cloud)?;
        let (files, bytes) = if objects.is_empty() && manifest.is_none() {
            (0, 0)
        } else {
            let l = old.list(&p.cloud)?;
            (l.entries.len(), l.entries.iter().map(|e| e.size).sum())
        };
        ctx.out.line(&format!(
            "{}: would re-encrypt {files} files ({})",
            p.cloud,
            human_bytes(bytes)
        ));
        ctx.out.event(
            json!({"event": "would_rotate", "cloud": p.cloud, "files": files, "bytes": bytes}),
        );
    }
    ctx.out.line("dry run: nothing was changed");
    Ok(Exit::Success)
}

/// The last step: the new key replaces both copies, the `.next` copies go,
/// and the user hears what poof cannot reach.
fn finish(ctx: &Context, plain: &PlainRemote, keys: &Keys, next: &[u8]) -> Result<Exit> {
    let next = match (&keys.next, next.is_empty()) {
        (_, false) => next.to_vec(),
        (Some((w, _)), true) => w.clone(),
        (None, true) => unreachable!("a rotation without an old key has a new one"),
    };
    let locations = &ctx.locations;
    let id = keys::key_id(ctx.pool, &next, "the new key")?;
    plain.write_reserved(RESERVED_KEY, &next)?;
    keys::write_local(locations, &next)?;
    match plain.store().delete(RESERVED_NEXT) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e).with_context(|| plain.store().show(RESERVED_NEXT)),
    }
    match std::fs::remove_file(local_next(locations)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("removing {}", local_next(locations).display()));
        }
    }
    ctx.out.event(json!({"event": "rotated", "key": id}));
    ctx.out.line(&format!(
        "rotated: every object of the configured paths is now encrypted under key {id}, kept in {} \
         and {} ({}), wrapped with the same passphrase.\n\
         What poof cannot reach, and which still opens the old key with the old passphrase:\n\
         - objects of cloud folders that are no longer among the paths of poof.conf (they were not \
         re-encrypted; add the path back and rotate again, or delete them);\n\
         - older versions of {RESERVED_KEY} and of every object, if the bucket keeps versions: \
         they stay readable with the old key until they expire; delete them (e.g. `aws s3api \
         list-object-versions` then `delete-object --version-id`, or a lifecycle rule that expires \
         noncurrent versions);\n\
         - backups or copies of the config folder holding the old poof.key;\n\
         - other machines' poof.key: there, delete the old poof.key and run `poof econfig` to \
         fetch the new key (poof refuses to run with the two different keys until then)",
        keys::local_path(locations).display(),
        plain.describe(),
        RESERVED_KEY
    ));
    Ok(Exit::Success)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::{Arc, OnceLock};

    use zeroize::Zeroizing;

    use super::{Step, Tally, rotate_path};
    use crate::crypt::Crypt;
    use crate::engine::sync::Entry;
    use crate::layout::freshness::Memory;
    use crate::layout::sealed::SealedRemote;
    use crate::remote::Remote;
    use crate::store::Store;
    use crate::store::memory::{Fault, MemoryStore, Op};
    use crate::testkit;

    /// The test's two keys, wrapped once (a remote takes one of a key's
    /// unlocked instances for good, so each remote gets its own `Crypt`).
    fn wrapped(which: usize) -> Vec<u8> {
        static WRAPPED: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
        WRAPPED[which]
            .get_or_init(|| {
                let mut inst = testkit::pool().lease().unwrap();
                let seed = [7 + which as u8; 32];
                let key = inst.keyring_generate(&seed).unwrap().unwrap();
                let wrapped = inst
                    .keyring_wrap(&key, b"test passphrase", &[9; 32])
                    .unwrap()
                    .unwrap();
                inst.drop_handle(key).unwrap();
                wrapped
            })
            .clone()
    }

    const OLD: usize = 0;
    const NEW: usize = 1;

    /// A sealed remote over `store` under key `which`, remembering in `dir`.
    fn remote(store: &Arc<MemoryStore>, which: usize, dir: &Path) -> SealedRemote {
        let crypt = Crypt::unlock(
            testkit::pool(),
            wrapped(which),
            Zeroizing::new(b"test passphrase".to_vec()),
            "test key",
        )
        .unwrap();
        let memory = Memory::open(
            dir.join("freshness.json"),
            format!("memory key {}", crypt.key_id()),
            false,
        )
        .unwrap();
        let s: Arc<dyn Store> = store.clone();
        SealedRemote::new(s, Arc::new(crypt), memory).unwrap()
    }

    /// A step in words, to compare.
    fn step(s: Step) -> String {
        match s {
            Step::Listed { files, bytes } => format!("listed {files} {bytes}"),
            Step::File {
                path,
                bytes,
                resealed,
            } => format!("{path} {bytes} {resealed}"),
        }
    }

    /// Three files, the last above `SMALL_OBJECT` (streamed through a
    /// second thread), backed up under the old key.
    const FILES: [(&str, usize); 3] = [("a.txt", 5), ("sub/b.bin", 70_000), ("big.bin", 5 << 20)];

    fn content(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| ((j * 7 + i) % 251) as u8).collect()
    }

    struct Setup {
        dir: tempfile::TempDir,
        store: Arc<MemoryStore>,
        old_keys: Vec<String>,
    }

    fn setup() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let store = Arc::new(MemoryStore::new());
        let r = remote(&store, OLD, dir.path());
        for (i, (rel, len)) in FILES.iter().enumerate() {
            let p = src.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content(i, *len)).unwrap();
            let m = std::fs::metadata(&p).unwrap();
            let mtime = m
                .modified()
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            let entry = Entry {
                path: rel.to_string(),
                size: *len as u64,
                mtime_ns: mtime.as_nanos() as i64,
                mode: Some(0o640),
            };
            r.upload("Docs", &entry, &p).unwrap();
        }
        r.finish("Docs").unwrap();
        let old_keys = store.keys();
        assert_eq!(
            old_keys.iter().filter(|k| !k.starts_with(".poof/")).count(),
            3
        );
        Setup {
            dir,
            store,
            old_keys,
        }
    }

    /// Every file restores byte for byte under the new key, and nothing
    /// the old key wrote is left.
    fn check_rotated(s: &Setup) {
        let new = remote(&s.store, NEW, s.dir.path());
        let listing = new.list("Docs").unwrap();
        assert_eq!(listing.entries.len(), 3, "{:?}", listing.problems);
        assert!(listing.problems.is_empty(), "{:?}", listing.problems);
        let out = s.dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        for e in &listing.entries {
            new.download("Docs", e, &out).unwrap();
            let i = FILES.iter().position(|(r, _)| *r == e.path).unwrap();
            assert_eq!(
                std::fs::read(out.join(&e.path)).unwrap(),
                content(i, FILES[i].1)
            );
            assert_eq!(e.mode, Some(0o640));
        }
        let now = s.store.keys();
        assert!(
            s.old_keys.iter().all(|k| !now.contains(k)),
            "old objects left: {now:?}"
        );
        let old = remote(&s.store, OLD, s.dir.path());
        let (left, manifest) = old.leftovers("Docs").unwrap();
        assert!(
            left.is_empty() && manifest.is_none(),
            "{left:?} {manifest:?}"
        );
    }

    /// One run of the rotation of `Docs`, as a new process would make it
    /// (new remotes over the same store and memory file): its tally and
    /// each step it reported, in words.
    fn rotate(s: &Setup) -> (Tally, Vec<String>) {
        let old = remote(&s.store, OLD, s.dir.path());
        let new = remote(&s.store, NEW, s.dir.path());
        let mut heard = Vec::new();
        let t = rotate_path(
            &mut testkit::pool().lease().unwrap(),
            &old,
            &new,
            "Docs",
            &mut |s| heard.push(step(s)),
        )
        .unwrap();
        (t, heard)
    }

    #[test]
    fn a_path_is_re_encrypted_read_back_and_the_old_objects_deleted() {
        let s = setup();
        let (t, heard) = rotate(&s);
        assert!(t.failed.is_empty(), "{:?}", t.failed);
        assert_eq!((t.resealed, t.already, t.deleted), (3, 0, 3));
        // The progress bar's total first, then each file with its bytes.
        let total: u64 = FILES.iter().map(|(_, n)| *n as u64).sum();
        assert_eq!(heard[0], format!("listed 3 {total}"));
        let mut files = heard[1..].to_vec();
        files.sort();
        assert_eq!(
            files,
            [
                "a.txt 5 true",
                "big.bin 5242880 true",
                "sub/b.bin 70000 true"
            ]
        );
        check_rotated(&s);
        // Done is done: a second run finds nothing of the old key.
        let (t, _) = rotate(&s);
        assert_eq!((t.resealed, t.already, t.deleted), (0, 0, 0));
    }

    #[test]
    fn a_failed_read_back_never_deletes_the_old_object_and_a_rerun_finishes() {
        let s = setup();
        // The first re-encrypted object is answered as stored, but is not:
        // three uploads and a manifest were written before it.
        s.store.inject(Fault::LoseWrite { n: 5 });
        let (t, _) = rotate(&s);
        assert_eq!(t.failed.len(), 1, "{t:?}");
        assert!(t.failed[0].contains("read back"), "{:?}", t.failed);
        assert_eq!(t.deleted, 0);
        let now = s.store.keys();
        assert!(
            s.old_keys.iter().all(|k| now.contains(k)),
            "an old object went"
        );
        s.store.heal();
        // The rerun (a new process: new remotes, the same memory file)
        // reads back the two copies already made and re-encrypts the third.
        let (t, heard) = rotate(&s);
        assert!(t.failed.is_empty(), "{:?}", t.failed);
        assert_eq!((t.resealed, t.already, t.deleted), (1, 2, 3));
        // Copies read back count toward the bar as much as new ones.
        assert_eq!(heard.len(), 4, "{heard:?}");
        assert_eq!(heard.iter().filter(|h| h.ends_with(" false")).count(), 2);
        check_rotated(&s);
    }

    #[test]
    fn a_failed_deletion_keeps_the_path_unfinished_until_a_rerun() {
        let s = setup();
        s.store.inject(Fault::Fail {
            op: Some(Op::Delete),
            n: 1,
        });
        let (t, _) = rotate(&s);
        assert_eq!((t.failed.len(), t.deleted), (1, 2), "{t:?}");
        let old = remote(&s.store, OLD, s.dir.path());
        let (left, manifest) = old.leftovers("Docs").unwrap();
        assert_eq!(left.len(), 1);
        assert!(
            manifest.is_some(),
            "the old manifest stays while an object is left"
        );
        s.store.heal();
        let (t, _) = rotate(&s);
        assert!(t.failed.is_empty(), "{:?}", t.failed);
        assert_eq!((t.resealed, t.already, t.deleted), (0, 1, 1));
        // The old manifest was rewritten before the deletions: it records
        // none of the two objects that went, so the rerun reports nothing
        // as deleted by someone else.
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        check_rotated(&s);
    }
}
