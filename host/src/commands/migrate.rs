//! `poof migrate`: move poof 1.x's encrypted tree (rclone crypt, read only)
//! to poof's own encrypted format in the same bucket, then switch poof.conf
//! to it (docs/USAGE.md, "Coming from poof 1.x").
//!
//! Per path: the guest plans the copies (the sync plan, going up, deleting
//! nothing), each file is decrypted from rclone crypt into a private
//! temporary folder, sealed under poof's key, and read back; only a copy
//! whose plaintext SHA-256 matches counts as migrated. With `--delete-old`,
//! once every copy of the path succeeded, every file of the path is compared
//! (old copy decrypted, new copy read back), the guest's wipe policy (the
//! one `poof upload` wipes by) says which old objects may go, only those
//! proved equal, and only those are deleted. poof.conf is switched once every path migrated.
//!
//! Invariants: nothing of the old tree is deleted before its new copy was
//! read back equal; a run killed at any point leaves the old tree readable
//! and poof.conf pointing at it, and the next run continues (copies already
//! made are planned as unchanged); plaintext touches the disk only inside
//! `CONFDIR/migrate-transit` (private to the owner), one file per transfer
//! at a time, removed right after, the folder emptied at the start of every
//! run (after a kill) and removed at its end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, anyhow, bail};

use super::Context;
use crate::cli::MigrateArgs;
use crate::config::{PoofConf, edit};
use crate::crypt::keys;
use crate::engine::sync::{Direction, Entry, PlanInput, SourceState};
use crate::engine::wipe::{CheckedFile, RemoteCheck, WipeInput};
use crate::exit::{ConfigError, Exit};
use crate::fsx;
use crate::layout::legacy::LegacyRemote;
use crate::remote::{self, Remote};

/// A folder private to the owner for the plaintext in transit, removed when dropped.
struct Transit(PathBuf);

impl Transit {
    /// `CONFDIR/migrate-transit`, emptied first: what a killed run left
    /// there goes (the run lock keeps a second run out).
    fn new(confdir: &Path) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = confdir.join("migrate-transit");
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("emptying {}", dir.display())),
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        Ok(Transit(dir))
    }
}

impl Drop for Transit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// poof.conf's text once migrated: `remote` names the S3 section the crypt
/// section wraps, `bucket` its bucket, `encrypted` is true.
fn migrated_text(text: &str, s3_section: &str, bucket: &str) -> Option<String> {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let t = edit::set_top_level(text, "remote", &quoted(s3_section))?;
    let t = edit::set_top_level(&t, "bucket", &quoted(bucket))?;
    edit::set_top_level(&t, "encrypted", "true")
}

/// Copies one file from the old tree to the new, through `transit`, and
/// reads the new copy back; returns its plaintext SHA-256.
fn migrate_one(
    old: &LegacyRemote,
    new: &dyn Remote,
    cloud: &str,
    entry: &Entry,
    transit: &Path,
) -> Result<[u8; 32]> {
    old.download(cloud, entry, transit)?;
    let local = fsx::safe_join(transit, &entry.path)?;
    let copied = (|| {
        let sha = fsx::sha256_file(transit, &entry.path)?
            .ok_or_else(|| anyhow!("{} vanished from the transit folder", local.display()))?;
        new.upload(cloud, entry, &local)?;
        match new.read_sha256(cloud, &entry.path)? {
            Some(back) if back == sha => Ok(sha),
            Some(_) => bail!("its new copy reads back different from the old one"),
            None => bail!("its new copy is not there when read back"),
        }
    })();
    let _ = std::fs::remove_file(&local);
    copied
}

/// Runs `poof migrate`.
pub fn run(ctx: &mut Context, args: &MigrateArgs) -> Result<Exit> {
    let file = ctx.locations.poofconf.clone();
    let conf = PoofConf::load(&file)?;
    let Some((old, section)) = remote::open_legacy(&conf, &ctx.locations, ctx.pool)? else {
        return Err(ConfigError(format!(
            "{}: `remote` does not name an rclone crypt section, so there is nothing to migrate \
             (poof migrate moves poof 1.x's encrypted tree to poof's own format)",
            file.display()
        ))
        .into());
    };
    if !section.prefix.is_empty() {
        return Err(ConfigError(format!(
            "[{}] wraps {}:{}/{}: poof.conf can name a bucket but no prefix inside it with a \
             section; move the tree with rclone to the bucket's root first, or ask for this case",
            section.name, section.s3_section, section.bucket, section.prefix
        ))
        .into());
    }
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let new_text = migrated_text(&text, &section.s3_section, &section.bucket)
        .ok_or_else(|| anyhow!("{}: not a JSON object", file.display()))?;
    let target = PoofConf::parse(&file, &new_text)?;
    let plain_target = remote::open(&target, &ctx.locations)?;
    if keys::find(ctx.pool, &ctx.locations, plain_target.as_ref())?.is_none() {
        return Err(ConfigError(format!(
            "there is no poof key yet, neither in {} nor in {}; run `poof econfig` first: \
             poof migrate encrypts the new copies with it",
            keys::local_path(&ctx.locations).display(),
            plain_target.describe()
        ))
        .into());
    }
    let new = remote::open_for_sync(&target, &ctx.locations, ctx.pool, ctx.trust_remote)?;
    let _lock = super::lock_unless_dry_run(ctx, &conf, args.dry_run)?;
    let transit = match args.dry_run {
        true => None,
        false => Some(Transit::new(&ctx.locations.confdir)?),
    };
    let mut failed = 0usize;
    for path in &conf.paths {
        let cloud = &path.cloud;
        let transit = transit.as_ref().map(|t| t.0.as_path());
        match migrate_path(ctx, args, &old, new.as_ref(), cloud, transit) {
            Ok(()) => {}
            Err(e) => {
                failed += 1;
                ctx.out.error(&format!("{cloud}: {e:#}"));
            }
        }
    }
    if args.dry_run {
        ctx.out.line(&format!(
            "dry run: nothing was copied or deleted, and {} still names [{}]",
            file.display(),
            section.name
        ));
        return Ok(Exit::Success);
    }
    if failed > 0 {
        ctx.out.line(&format!(
            "{failed} of {} paths did not migrate completely; {} still names [{}]. Run `poof migrate` \
             again to continue: what was copied stays",
            conf.paths.len(),
            file.display(),
            section.name
        ));
        return Ok(Exit::Partial);
    }
    edit::replace_file(&file, &new_text)?;
    ctx.out.line(&format!(
        "every path migrated; {} now names [{}] with bucket {} and \"encrypted\": true, so \
         `poof backup` and `poof download` use poof's own format{}",
        file.display(),
        section.s3_section,
        section.bucket,
        if args.delete_old {
            ""
        } else {
            ". The rclone crypt copies stay in the bucket: run `poof migrate --delete-old` before \
             switching, or remove them with rclone, once you no longer need them"
        }
    ));
    Ok(Exit::Success)
}

/// Migrates one path: copies what its new tree lacks, then (with
/// `--delete-old`) compares every file and deletes the old objects the
/// guest allows.
fn migrate_path(
    ctx: &Context,
    args: &MigrateArgs,
    old: &LegacyRemote,
    new: &dyn Remote,
    cloud: &str,
    transit: Option<&Path>,
) -> Result<()> {
    let from = old.list(cloud)?;
    let to = new.list(cloud)?;
    for s in &from.skipped {
        ctx.out.warn(&format!("{cloud}: skipped {s}"));
    }
    if !from.problems.is_empty() {
        bail!(
            "the old tree could not be listed completely ({}); nothing of it was copied",
            from.problems.join("; ")
        );
    }
    let mut guest = ctx.pool.lease()?;
    let plan = guest
        .plan_sync(&PlanInput {
            direction: Direction::Up,
            source_state: if from.exists {
                SourceState::Present
            } else {
                SourceState::Missing
            },
            source: from.entries.clone(),
            source_complete: true,
            never_delete: true,
            restore_elsewhere: false,
            target: to.entries.clone(),
            mtime_window_ns: old.mtime_window_ns().max(new.mtime_window_ns()),
            max_delete: None,
            max_overwrite: None,
            confirmed: args.yes,
            checksum: false,
            source_hashes: Vec::new(),
            target_hashes: Vec::new(),
        })?
        .map_err(|e| anyhow!(crate::crypt::describe(&e)))?;
    drop(guest);
    if let Some(trip) = plan.guard_trips.first() {
        bail!("{}", trip.reason);
    }
    let bytes: u64 = plan.copy.iter().map(|e| e.size).sum();
    ctx.out.line(&format!(
        "{cloud}: {} files ({}) to copy, {} already migrated",
        plan.copy.len(),
        crate::output::human_bytes(bytes),
        plan.unchanged
    ));
    ctx.out.event(serde_json::json!({
        "event": "migrate-plan", "cloud": cloud, "copy": plan.copy.len(),
        "copy_bytes": bytes, "unchanged": plan.unchanged,
    }));
    let Some(transit) = transit else {
        return Ok(());
    };
    let bar = ctx.out.progress(bytes, plan.copy.len() as u64);
    let mut done = 0u64;
    let mut errors = Vec::new();
    let mut copied = HashMap::new();
    crate::pool::for_each(
        &plan.copy,
        usize::from(args.transfers),
        |entry| migrate_one(old, new, cloud, entry, transit),
        |entry, result| {
            done += 1;
            bar.inc(entry.size);
            bar.set_message(format!("{done}/{}", plan.copy.len()));
            match result {
                Ok(sha) => {
                    copied.insert(entry.path.clone(), sha);
                    ctx.out.event(serde_json::json!({
                        "event": "migrated", "cloud": cloud, "path": entry.path, "size": entry.size,
                    }));
                }
                Err(e) => errors.push(format!("{}: {e:#}", entry.path)),
            }
        },
    );
    bar.finish_and_clear();
    // The manifest records what was copied, even when some copies failed.
    new.finish(cloud)?;
    if !errors.is_empty() {
        for e in &errors {
            ctx.out.error(&format!("{cloud}/{e}"));
        }
        bail!("{} files were not migrated", errors.len());
    }
    ctx.out.line(&format!(
        "{cloud}: {} files copied and read back",
        plan.copy.len()
    ));
    if args.delete_old {
        delete_old(ctx, args, old, new, cloud, &from.entries, &copied)?;
    }
    Ok(())
}

/// Compares every file of the path (the old copy's plaintext with the new
/// copy read back; files copied in this run were compared as they were
/// copied), lets the guest's wipe policy say which old objects may go (only
/// those proved equal), and deletes those.
fn delete_old(
    ctx: &Context,
    args: &MigrateArgs,
    old: &LegacyRemote,
    new: &dyn Remote,
    cloud: &str,
    files: &[Entry],
    copied: &HashMap<String, [u8; 32]>,
) -> Result<()> {
    let check = |e: &Entry| -> CheckedFile {
        let (local, remote) = match copied.get(&e.path) {
            Some(sha) => (Ok(sha.to_vec()), RemoteCheck::Hash(sha.to_vec())),
            None => {
                let local = match old.read_sha256(cloud, &e.path) {
                    Ok(Some(h)) => Ok(h.to_vec()),
                    Ok(None) => Err("the old copy is gone".to_string()),
                    Err(e) => Err(format!("{e:#}")),
                };
                let remote = match new.read_sha256(cloud, &e.path) {
                    Ok(Some(h)) => RemoteCheck::Hash(h.to_vec()),
                    Ok(None) => RemoteCheck::Missing,
                    Err(e) => RemoteCheck::Failed(format!("{e:#}")),
                };
                (local, remote)
            }
        };
        CheckedFile {
            path: e.path.clone(),
            local,
            remote,
        }
    };
    let bar = ctx
        .out
        .progress(files.iter().map(|e| e.size).sum(), files.len() as u64);
    let checked = crate::pool::map(files, usize::from(args.transfers), |e| {
        let c = check(e);
        bar.inc(e.size);
        c
    });
    bar.finish_and_clear();
    let plan = ctx
        .pool
        .lease()?
        .plan_wipe(&WipeInput {
            sync_complete: true,
            files: checked,
            links: Vec::new(),
        })?
        .map_err(|e| anyhow!(crate::crypt::describe(&e)))?;
    let mut failed = Vec::new();
    for path in &plan.wipe {
        if let Err(e) = old.remove(cloud, path) {
            failed.push(format!("{path}: {e:#}"));
        }
    }
    ctx.out.line(&format!(
        "{cloud}: {} rclone crypt objects deleted, their new copies read back equal",
        plan.wipe.len() - failed.len()
    ));
    ctx.out.event(serde_json::json!({
        "event": "old-deleted", "cloud": cloud, "deleted": plan.wipe.len() - failed.len(),
        "kept": plan.keep.len(),
    }));
    for k in &plan.keep {
        failed.push(format!("{}: kept: {}", k.path, k.reason));
    }
    if !failed.is_empty() {
        for f in &failed {
            ctx.out.error(&format!("{cloud}/{f}"));
        }
        bail!("{} old objects were kept", failed.len());
    }
    Ok(())
}
