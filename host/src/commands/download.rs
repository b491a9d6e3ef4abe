//! `poof download`: sync every configured path down, deleting local files
//! the remote copy does not have; or, with `--to DIR`, restore into another
//! folder and delete nothing there; `--path CLOUDDIR` restores one path.
//!
//! Invariants: what a restore into another folder may delete (nothing) is
//! the guest's decision (the plan's `restore-elsewhere` mode), not a step
//! the host leaves out; the filters of each path are read from its
//! configured folder (poof.conf's `"exclude"`, its `.poofignore`), wherever
//! it is restored to, so a restore selects what the backup selected.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Context;
use crate::cli::DownloadArgs;
use crate::config::{PoofConf, SyncPath};
use crate::engine::sync::Direction;
use crate::exit::{ConfigError, Exit};
use crate::filters::Filters;

/// Runs `poof download`.
pub fn run(ctx: &mut Context, args: &DownloadArgs) -> Result<Exit> {
    if let (Some(dir), true) = (&args.to, args.sync.filter.delete_excluded) {
        return Err(ConfigError(format!(
            "--delete-excluded with --to {}: a restore into another folder deletes nothing, \
             excluded files included; leave out --delete-excluded, or restore into the \
             configured folders (without --to) to delete the files the filters leave out there",
            dir.display()
        ))
        .into());
    }
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let chosen = chosen_paths(&conf, args.path.as_deref())?;
    let filters = Filters::from_args(&args.sync.filter)?;
    let remote = crate::remote::open_for_sync(&conf, &ctx.locations, ctx.pool, ctx.trust_remote)?;
    let _lock = super::lock_unless_dry_run(ctx, &conf, args.sync.dry_run)?;
    let mut guest = ctx.pool.lease()?;
    let only = PoofConf {
        paths: chosen,
        ..conf.clone()
    };
    let path_filters = crate::sync::path_filters(&only, &filters, &mut guest)?;
    // A restore's overwrites are what it is for: no overwrite limit.
    let mut opts = super::sync_options(&args.sync, None, Direction::Down, false);
    let mut jobs: Vec<(SyncPath, _)> = only.paths.into_iter().zip(path_filters).collect();
    if let Some(dir) = &args.to {
        let dir = restore_root(dir)?;
        for (path, _) in &mut jobs {
            path.local = if args.path.is_some() {
                dir.clone()
            } else {
                dir.join(&path.cloud)
            };
            if let Some(w) = inside_a_source(&conf, path) {
                ctx.out.warn(&w);
            }
        }
        opts.restore_elsewhere = true;
    }
    Ok(crate::sync::run_paths(&jobs, remote.as_ref(), &mut guest, opts, &ctx.out)?.exit)
}

/// The configured paths a download restores: every one, or the one
/// `--path` names (exactly: a part of it is chosen with --include).
fn chosen_paths(conf: &PoofConf, cloud: Option<&str>) -> Result<Vec<SyncPath>, ConfigError> {
    let Some(cloud) = cloud else {
        return Ok(conf.paths.clone());
    };
    match super::find_cloud(conf, cloud)? {
        (path, "") => Ok(vec![path.clone()]),
        (path, sub) => Err(ConfigError(format!(
            "--path {cloud}: --path takes a configured cloud folder ({}); to restore a part of \
             it, add --include '/{sub}/**' (a folder) or --include '/{sub}' (a file)",
            path.cloud
        ))),
    }
}

/// `--to DIR` as an absolute folder (relative to the working folder);
/// refused when it exists and is not a folder.
fn restore_root(dir: &Path) -> Result<PathBuf, ConfigError> {
    let abs = std::path::absolute(dir)
        .map_err(|e| ConfigError(format!("--to {}: {e}", dir.display())))?;
    match std::fs::metadata(&abs) {
        Ok(m) if !m.is_dir() => Err(ConfigError(format!(
            "--to {}: not a folder; give a folder to restore into (it is created if missing)",
            dir.display()
        ))),
        _ => Ok(abs),
    }
}

/// A warning when `job` restores into a configured folder other than its
/// own (or into a sub-folder of one): the next backup would upload the
/// restored files again, as part of that path.
fn inside_a_source(conf: &PoofConf, job: &SyncPath) -> Option<String> {
    let target = resolved(&job.local);
    conf.paths.iter().find_map(|p| {
        let source = resolved(&p.local);
        let own = target == source && p.cloud == job.cloud;
        (target.starts_with(&source) && !own).then(|| {
            format!(
                "{} is inside {}, which poof backs up (cloud folder {}): the next backup would \
                 upload the restored files again as part of it; restore outside it, or move \
                 them out once checked",
                job.local.display(),
                p.local.display(),
                p.cloud
            )
        })
    })
}

/// `path` with its longest existing part resolved (links, `..`), so that
/// two spellings of one folder compare equal.
fn resolved(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut head = path;
    loop {
        if let Ok(real) = head.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                head = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests;
