//! `poof upload`: back up, verify every file against its remote copy, then
//! wipe the local files that matched (threat levels 2 and 4).
//!
//! Invariants:
//! - only paths whose backup completed are verified; the others keep all
//!   their files;
//! - files the path's filter leaves out (the guest says which, with the
//!   filter the backup used) are neither verified nor wiped;
//! - a file is wiped only when the guest's wipe policy says so, which needs
//!   the local file's SHA-256 to equal the remote copy's (read back in full,
//!   or the stored hash with `--verify=stored`); so are the symbolic links
//!   and emptied folders removed (the host tells the guest which folders on
//!   the files' paths are links); every file kept is named;
//! - the files are hashed as they are when verified, and the wipe checks
//!   again that each is still that file (inode, size, time) before removing it;
//! - the run is partial (exit 1) when anything was left unwiped or unverified;
//! - when poof's config folder is a path and everything succeeded, the run
//!   ends with a neuter; the outcome is recorded for `poof neuter`.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow};

use super::Context;
use crate::cli::{UploadArgs, VerifyMode};
use crate::config::{PoofConf, SyncPath};
use crate::engine::Instance;
use crate::engine::sync::{Direction, Filter};
use crate::engine::wipe::{CheckedFile, WipeInput};
use crate::exit::{ConfigError, Exit};
use crate::filters::Filters;
use crate::output::{Event, Output};
use crate::remote::Remote;
use crate::walk::{self, Links};
use crate::wipe::{self, Stamp};
use crate::{fsx, neuter, pool, remote, sync};

/// Runs `poof upload`.
pub fn run(ctx: &mut Context, args: &UploadArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    if args.backup.sync.filter.delete_excluded {
        return Err(ConfigError(
            "--delete-excluded: upload never deletes remote copies; \
             run `poof backup --delete-excluded` to remove excluded files from the copy"
                .into(),
        )
        .into());
    }
    let filters = Filters::from_args(&args.backup.sync.filter)?;
    let remote = remote::open_for_sync(&conf, &ctx.locations, ctx.pool, ctx.trust_remote)?;
    remote.check_writable()?;
    let s = &args.backup.sync;
    let lock = super::lock_unless_dry_run(ctx, &conf, s.dry_run)?;
    let mut guest = ctx.pool.lease()?;
    // Like `rclone move`: nothing is deleted remotely, so files an earlier
    // upload wiped locally keep their only copy.
    let opts = super::sync_options(s, args.backup.max_overwrite, Direction::Up, true);
    let outcome = sync::run(&conf, remote.as_ref(), &mut guest, opts, &filters, &ctx.out)?;
    let own = |p: &SyncPath| same_folder(&p.local, &ctx.locations.confdir);
    if s.dry_run {
        for p in outcome.paths.iter().filter(|p| p.complete) {
            ctx.out.emit(&Event::WouldWipe {
                path: &p.path.local,
            });
        }
        if conf.paths.iter().any(own) {
            ctx.out.emit(&Event::WouldNeuter);
        }
        return Ok(outcome.exit);
    }

    let mut exit = outcome.exit;
    let (mut wiped, mut kept) = (0usize, 0usize);
    for p in &outcome.paths {
        if !p.complete {
            ctx.out.error(&format!(
                "{}: not verified and not wiped, because its backup did not complete (see above)",
                p.path.local.display()
            ));
            exit = worse(exit, Exit::Partial);
            continue;
        }
        match verify_and_wipe(
            &p.path,
            &p.filter,
            remote.as_ref(),
            &mut guest,
            args,
            &ctx.out,
        ) {
            Ok(r) => {
                wiped += r.wiped;
                kept += r.kept.len();
                if !r.kept.is_empty() {
                    exit = worse(exit, Exit::Partial);
                }
            }
            Err(e) => {
                ctx.out.error(&format!(
                    "{}: {e:#}; nothing more was wiped there",
                    p.path.local.display()
                ));
                exit = worse(exit, Exit::Partial);
            }
        }
    }
    ctx.out.emit(&Event::UploadSummary { wiped, kept, exit });
    neuter::record_upload(&ctx.locations, exit as u8);

    if conf.paths.iter().any(own) {
        if exit == Exit::Success {
            ctx.out.emit(&Event::Neutering);
            drop(lock);
            let r = neuter::run(
                &ctx.locations,
                neuter::Options {
                    keep_binary: args.keep_binary,
                    yes: true,
                    dry_run: false,
                },
                &ctx.out,
            )?;
            if !neuter::print(&r, &ctx.out) {
                exit = worse(exit, Exit::Partial);
            }
        } else {
            ctx.out.warn(&format!(
                "poof's config folder {} is a path, but the upload did not fully succeed, so poof did not neuter itself; \
                 fix the problems above and run upload again, or run `poof neuter --yes`",
                ctx.locations.confdir.display()
            ));
        }
    }
    Ok(exit)
}

/// The worse of two exit codes.
fn worse(a: Exit, b: Exit) -> Exit {
    if (b as u8) > (a as u8) { b } else { a }
}

/// True when `a` and `b` name the same folder.
fn same_folder(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// What `verify_and_wipe` did on one path.
#[derive(Debug)]
struct PathWipe {
    /// Files verified and wiped.
    wiped: usize,
    /// Every file kept, with why: by name when the guest kept it or its
    /// removal failed; with an empty name when the walk could not read it or
    /// skipped it, the walk's words naming it.
    kept: Vec<(String, String)>,
}

/// Verifies every file of one backed-up path, asks the guest what may go,
/// and wipes it; returns how many files were wiped and which were kept.
fn verify_and_wipe(
    path: &SyncPath,
    filter: &Filter,
    remote: &dyn Remote,
    guest: &mut Instance,
    args: &UploadArgs,
    out: &Output,
) -> Result<PathWipe> {
    let root = &path.local;
    // The same walk as the backup's, so every file it copied is checked,
    // and the same filter, so every file it left out stays as it is.
    let mut local = walk::walk(root, Links::Follow)?;
    sync::set_aside_excluded(&mut local, filter, guest)?;
    sync::retain_selected(&mut local.entries, filter, guest)?;
    let mut kept = Vec::new();
    for p in &local.problems {
        out.error(&format!("kept: {p}"));
        kept.push((String::new(), p.clone()));
    }
    for s in &local.skipped {
        let why = format!("kept {s}: poof does not back it up");
        out.warn(&why);
        kept.push((String::new(), why));
    }
    let bar = out.progress(
        local.entries.iter().map(|e| e.size).sum(),
        local.entries.len() as u64,
    );
    let transfers = usize::from(args.backup.sync.transfers);
    let mut checked = pool::map(&local.entries, transfers, |e| {
        let checked = check(root, &path.cloud, &e.path, remote, args.verify);
        bar.inc(e.size);
        checked
    });
    bar.finish_and_clear();
    checked.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    let stamps: HashMap<String, Option<Stamp>> = checked
        .iter()
        .map(|(f, s, _)| (f.path.clone(), *s))
        .collect();
    let links: BTreeSet<String> = checked.iter().filter_map(|(_, _, l)| l.clone()).collect();
    let input = WipeInput {
        sync_complete: true,
        files: checked.into_iter().map(|(f, _, _)| f).collect(),
        links: links.into_iter().collect(),
    };
    let plan = guest
        .plan_wipe(&input)?
        .map_err(|e| anyhow!("the guest refused the wipe plan: {e:?}"))?;
    for k in plan.keep {
        out.emit(&Event::Kept {
            path: root,
            file: &k.path,
            reason: &k.reason,
            removal_failed: false,
        });
        kept.push((k.path, k.reason));
    }
    let to_wipe = wipe::Plan {
        files: plan
            .wipe
            .iter()
            .map(|p| (p.clone(), stamps.get(p).copied().flatten()))
            .collect(),
        links: plan.links.into_iter().map(|l| (l.link, l.files)).collect(),
        folders: plan.folders,
    };
    let report = wipe::wipe(root, &to_wipe, wipe::Options { shred: args.shred })
        .with_context(|| format!("wiping {}", root.display()))?;
    for n in &report.notes {
        out.warn(n);
    }
    for (rel, e) in &report.failures {
        let reason = e.to_string();
        out.emit(&Event::Kept {
            path: root,
            file: rel,
            reason: &reason,
            removal_failed: true,
        });
        kept.push((rel.clone(), reason));
    }
    for l in &report.links_removed {
        out.emit(&Event::LinkRemoved {
            link: &root.join(l),
        });
    }
    let wiped = report.removed.len() + report.gone.len();
    out.emit(&Event::Wiped {
        path: root,
        wiped,
        kept: kept.len(),
        folders_removed: report.folders_removed,
        shred: args.shred,
    });
    Ok(PathWipe { wiped, kept })
}

/// Hashes the local file, asks the remote for its copy's hash, and notes
/// the symbolic link on the file's path, if any (a fact for the guest).
fn check(
    root: &Path,
    cloud: &str,
    rel: &str,
    remote: &dyn Remote,
    how: VerifyMode,
) -> (CheckedFile, Option<Stamp>, Option<String>) {
    let full = root.join(rel);
    // Read as the backup read it: through links (the wipe never follows them).
    let local = (|| -> std::io::Result<([u8; 32], Stamp)> {
        let m = std::fs::metadata(&full)?;
        if !m.is_file() {
            return Err(std::io::Error::other("not a regular file"));
        }
        let mut f = File::open(&full)?;
        let before = Stamp::of(&f.metadata()?);
        let h = fsx::sha256_of(&mut f)?;
        if Stamp::of(&f.metadata()?) != before {
            return Err(std::io::Error::other("it changed while it was read"));
        }
        Ok((h, before))
    })();
    let (local, stamp) = match local {
        Ok((h, s)) => (Ok(h.to_vec()), Some(s)),
        Err(e) => (Err(e.to_string()), None),
    };
    // A link's stamp is its target's; the wipe removes the link itself.
    let stamp = stamp
        .filter(|_| std::fs::symlink_metadata(&full).is_ok_and(|m| !m.file_type().is_symlink()));
    let remote = match how {
        VerifyMode::Read => remote.read_sha256(cloud, rel),
        VerifyMode::Stored => remote.stored_sha256(cloud, rel),
    };
    let remote = super::check::remote_check(remote);
    (
        CheckedFile {
            path: rel.to_string(),
            local,
            remote,
        },
        stamp,
        wipe::link_on_path(root, rel),
    )
}

#[cfg(test)]
mod tests;
