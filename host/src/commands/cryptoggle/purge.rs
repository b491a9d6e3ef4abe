//! `poof cryptoggle --purge-plain`: once the config says encrypted, back up
//! every path encrypted, prove each plain object equal to its encrypted
//! copy, and delete the plain objects of every path where all of them are.
//!
//! Invariants: the encrypted backup runs first, in the same run, so no
//! plain object goes before its encrypted copy exists; what may be deleted
//! is the guest's decision (`wit/check.wit`, `plan-purge`): a path's plain
//! objects go all together, and only when each one, read back in full, has
//! the SHA-256 of its encrypted copy, read back and authenticated in full
//! too; the plain manifest goes last, and only when every object went; a
//! path where anything did not verify keeps all its plain objects and is
//! named with the reasons.

use std::collections::HashMap;

use anyhow::{Context as _, Result, anyhow};
use serde_json::json;

use super::super::Context;
use crate::config::PoofConf;
use crate::engine::Instance;
use crate::engine::check::{
    ListedFile, Listing, PlainObject, PurgeCheck, PurgeListings, PurgePair,
};
use crate::engine::sync::Direction;
use crate::exit::Exit;
use crate::layout::plain::{self, PlainRemote};
use crate::output::{Output, human_bytes};
use crate::remote::Remote;
use crate::store::Store;
use crate::{pool, sync};

/// Objects read (or deleted) at once, and files transferred by the backup:
/// the default of `--transfers` elsewhere.
const TRANSFERS: usize = 8;

/// What the purge did in one path.
#[derive(Debug, Default)]
pub struct Tally {
    /// Plain objects found under the path's cloud folder.
    pub objects: u64,
    /// Plain objects proved equal to their encrypted copies.
    pub verified: u64,
    /// Plain objects deleted.
    pub deleted: u64,
    /// Their bytes.
    pub bytes: u64,
    /// True when the plain manifest was deleted too.
    pub manifest_deleted: bool,
    /// Why the path's plain objects stay, in words (empty when they went).
    pub held: Vec<String>,
    /// What failed: a listing, or a deletion.
    pub failed: Vec<String>,
}

impl Tally {
    /// True when plain objects of the path are left.
    fn kept(&self) -> bool {
        !self.held.is_empty() || !self.failed.is_empty()
    }
}

/// Backs up every path of `conf` (encrypted) to `sealed`, then purges the
/// plain objects of each path in `plain` (the same store), path by path.
pub fn run(
    ctx: &Context,
    conf: &PoofConf,
    plain: &PlainRemote,
    sealed: &dyn Remote,
) -> Result<Exit> {
    let mut guest = ctx.pool.lease()?;
    let opts = sync::Options {
        direction: Direction::Up,
        dry_run: false,
        max_delete: None,
        max_overwrite: None,
        confirmed: false,
        transfers: TRANSFERS,
        checksum: false,
        keep_target_extras: false,
        restore_elsewhere: false,
    };
    // No filter flags here, but each path's own excludes (poof.conf,
    // .poofignore) hold, as in any backup.
    let filters = crate::filters::Filters::default();
    let backup = sync::run(conf, sealed, &mut guest, opts, &filters, &ctx.out)?;
    let mut kept = Vec::new();
    for p in &conf.paths {
        let t =
            purge_path(plain, sealed, &p.cloud, &mut guest, &ctx.out).unwrap_or_else(|e| Tally {
                failed: vec![format!("{e:#}")],
                ..Tally::default()
            });
        report(&ctx.out, &p.cloud, &t);
        if t.kept() {
            kept.push(p.cloud.clone());
        }
    }
    if kept.is_empty() {
        return Ok(backup.exit);
    }
    ctx.out.error(&format!(
        "plain copies were kept in {} (reasons above). Encryption stays on. To try again once \
         they are fixed (a file backed up again, a path restored), run `poof cryptoggle` (back \
         to plain) and then `poof cryptoggle --purge-plain`; or remove them yourself",
        kept.join(", ")
    ));
    Ok(match backup.exit {
        Exit::Refused => Exit::Refused,
        _ => Exit::Partial,
    })
}

/// Says what the purge of one path did.
fn report(out: &Output, cloud: &str, t: &Tally) {
    for h in &t.held {
        out.error(&format!("{cloud}: kept: {h}"));
    }
    for f in &t.failed {
        out.error(&format!("{cloud}: {f}"));
    }
    let line = if !t.held.is_empty() {
        format!(
            "{cloud}: {} of {} plain objects proved equal to their encrypted copies; all {} kept",
            t.verified, t.objects, t.objects
        )
    } else if !t.failed.is_empty() {
        format!(
            "{cloud}: {} of {} plain objects deleted; the others are kept",
            t.deleted, t.objects
        )
    } else if t.objects == 0 && !t.manifest_deleted {
        format!("{cloud}: no plain copies")
    } else {
        format!(
            "{cloud}: {} plain objects deleted ({}), each read back equal to its encrypted copy{}",
            t.deleted,
            human_bytes(t.bytes),
            if t.manifest_deleted {
                ", and the plain manifest"
            } else {
                ""
            }
        )
    };
    out.line(&line);
    out.event(json!({
        "event": "purge", "cloud": cloud, "objects": t.objects, "verified": t.verified,
        "deleted": t.deleted, "bytes": t.bytes, "manifest_deleted": t.manifest_deleted,
        "held": t.held, "failed": t.failed,
    }));
}

/// What the store holds of the plain folder `cloud`: every object under its
/// prefix, what could not be listed, and its manifest if there is one; the
/// encrypted side is left empty.
fn plain_side(plain: &PlainRemote, cloud: &str) -> Result<PurgeListings> {
    let store = plain.store();
    let (prefix, manifest) = plain.names(cloud)?;
    let listing = store
        .list(&prefix)
        .with_context(|| format!("listing {}", store.show(&prefix)))?;
    let manifest = match manifest {
        Some(key) => match store.head(&key) {
            Ok(_) => Some(key),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", store.show(&key))),
        },
        None => None,
    };
    Ok(PurgeListings {
        prefix,
        plain: listing
            .objects
            .into_iter()
            .map(|o| PlainObject {
                key: o.key,
                size: o.size,
            })
            .collect(),
        plain_problems: listing
            .problems
            .into_iter()
            .chain(listing.skipped)
            .collect(),
        manifest,
        sealed: Listing {
            files: Vec::new(),
            problems: Vec::new(),
        },
    })
}

/// Purges one path: lists both sides, reads back what the guest pairs, and
/// deletes what its plan allows (the manifest last, only when every object
/// went).
pub fn purge_path(
    plain: &PlainRemote,
    sealed: &dyn Remote,
    cloud: &str,
    guest: &mut Instance,
    out: &Output,
) -> Result<Tally> {
    let store = plain.store();
    let mut listings = plain_side(plain, cloud)?;
    let copy = sealed.list(cloud)?;
    listings.sealed = Listing {
        files: copy
            .entries
            .iter()
            .map(|e| ListedFile {
                path: e.path.clone(),
                size: e.size,
            })
            .collect(),
        problems: copy.problems,
    };
    let refused = |e| anyhow!("the guest refused the listings of {cloud}: {e:?}");
    let pairs = guest.pair_purge(&listings)?.map_err(refused)?;
    let sizes: HashMap<&str, u64> = listings
        .plain
        .iter()
        .map(|o| (o.key.as_str(), o.size))
        .collect();
    let size = |key: &str| sizes.get(key).copied().unwrap_or_default();
    let bar = out.progress(pairs.iter().map(|p| size(&p.key)).sum(), pairs.len() as u64);
    let mut read = 0;
    let mut checks = Vec::with_capacity(pairs.len());
    pool::for_each(
        &pairs,
        TRANSFERS,
        |p| read_both(store, sealed, cloud, p),
        |p, c| {
            read += 1;
            bar.inc(size(&p.key));
            bar.set_message(format!("{read}/{}", pairs.len()));
            checks.push(c);
        },
    );
    bar.finish_and_clear();
    let plan = guest.plan_purge(&listings, &checks)?.map_err(refused)?;
    let mut t = Tally {
        objects: listings.plain.len() as u64,
        verified: plan.verified,
        held: plan
            .holds
            .iter()
            .map(|h| match &h.key {
                Some(key) => format!("{}: {}", store.show(key), h.reason),
                None => h.reason.clone(),
            })
            .collect(),
        ..Tally::default()
    };
    pool::for_each(
        &plan.delete,
        TRANSFERS,
        |key| gone(store.delete(key)),
        |key, r| match r {
            Ok(()) => {
                t.deleted += 1;
                t.bytes += size(key);
                out.verbose(&format!("  deleted  {}", store.show(key)));
                out.event(json!({"event": "purged", "cloud": cloud, "key": key}));
            }
            Err(e) => t
                .failed
                .push(format!("deleting {}: {e:#}", store.show(key))),
        },
    );
    if let Some(manifest) = plan.then_delete.as_deref().filter(|_| t.failed.is_empty()) {
        match gone(store.delete(manifest)) {
            Ok(()) => t.manifest_deleted = true,
            Err(e) => t
                .failed
                .push(format!("deleting {}: {e:#}", store.show(manifest))),
        }
    }
    Ok(t)
}

/// A deletion's result, where an object already gone counts as deleted.
fn gone(r: std::result::Result<(), crate::store::StoreError>) -> Result<()> {
    match r {
        Err(e) if !e.is_not_found() => Err(e.into()),
        _ => Ok(()),
    }
}

/// Reads the plain object of `pair` and its encrypted copy back in full,
/// for their SHA-256 (the encrypted one authenticated segment by segment).
fn read_both(store: &dyn Store, sealed: &dyn Remote, cloud: &str, pair: &PurgePair) -> PurgeCheck {
    let plain = match plain::sha256_of(store, &pair.key) {
        Ok(Some(h)) => Ok(h.to_vec()),
        Ok(None) => Err(format!(
            "{} was not there when read back",
            store.show(&pair.key)
        )),
        Err(e) => Err(format!("{e:#}")),
    };
    PurgeCheck {
        key: pair.key.clone(),
        plain,
        sealed: super::super::check::remote_check(sealed.read_sha256(cloud, &pair.path)),
    }
}

/// `--purge-plain --dry-run`: the plain objects each path holds, which a
/// run deletes (all of a path, or none of it) once each is proved equal to
/// its encrypted copy.
pub fn dry_run(ctx: &Context, conf: &PoofConf, plain: &PlainRemote) -> Result<()> {
    let store = plain.store();
    ctx.out.line(
        "with --purge-plain, a run would then back up every path encrypted, read each plain \
         object back with its encrypted copy, and delete a path's plain objects only when every \
         one of them matches:",
    );
    for p in &conf.paths {
        let found = plain_side(plain, &p.cloud)?;
        let bytes: u64 = found.plain.iter().map(|o| o.size).sum();
        ctx.out.line(&format!(
            "{}: would delete {} plain objects ({}){}",
            p.cloud,
            found.plain.len(),
            human_bytes(bytes),
            if found.manifest.is_some() {
                " and the plain manifest"
            } else {
                ""
            }
        ));
        for key in found.plain.iter().map(|o| &o.key).chain(&found.manifest) {
            ctx.out
                .line(&format!("  would delete  {}", store.show(key)));
        }
        for problem in &found.plain_problems {
            ctx.out.warn(&format!(
                "{}: {problem}; this alone keeps every plain object of {}",
                p.cloud, p.cloud
            ));
        }
        ctx.out.event(json!({
            "event": "would_purge", "cloud": p.cloud, "bytes": bytes,
            "objects": found.plain.iter().map(|o| &o.key).collect::<Vec<_>>(),
            "manifest": found.manifest, "problems": found.plain_problems,
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
