//! `poof ls [CLOUDDIR[/SUBPATH]]`: what the remote holds for the configured
//! paths, with sizes and modification times, decrypted where the remote is
//! encrypted. Changes nothing: no lock, no manifest written.
//!
//! Invariant: a listing comes from `Remote::list`, the one reading path
//! download plans from, so what `ls` shows, and whether an encrypted
//! folder's manifest may be trusted, is what a download would restore.

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::LsArgs;
use crate::config::{PoofConf, SyncPath};
use crate::engine::sync::Entry;
use crate::exit::Exit;
use crate::output::{Event, Output};
use crate::remote::{self, Remote, RemoteListing};

/// Runs `poof ls`.
pub fn run(ctx: &mut Context, args: &LsArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let wanted = match &args.target {
        Some(arg) => Some(super::find_cloud(&conf, arg)?),
        None => None,
    };
    let remote = remote::open_for_sync(&conf, &ctx.locations, ctx.pool, ctx.trust_remote)?;
    remote.check_ready()?;
    match wanted {
        Some((path, sub)) => list_files(path, sub, remote.as_ref(), &ctx.out),
        None => list_paths(&conf, remote.as_ref(), &ctx.out),
    }
}

/// One summary line per configured path, sorted by cloud folder; exit 1
/// when a listing was incomplete.
pub fn list_paths(conf: &PoofConf, remote: &dyn Remote, out: &Output) -> Result<Exit> {
    let mut exit = Exit::Success;
    let mut paths: Vec<&SyncPath> = conf.paths.iter().collect();
    paths.sort_by(|a, b| a.cloud.cmp(&b.cloud));
    for path in paths {
        let listing = listed(path, remote, out)?;
        if !listing.problems.is_empty() {
            exit = Exit::Partial;
        }
        out.emit(&Event::LsPath {
            cloud: &path.cloud,
            path: &path.local,
            exists: listing.exists,
            files: listing.entries.len(),
            bytes: listing.entries.iter().map(|e| e.size).sum(),
            newest_ns: listing.entries.iter().map(|e| e.mtime_ns).max(),
        });
    }
    Ok(exit)
}

/// Every file of `path` (under `sub`, a file or a folder, when not empty),
/// sorted by path; exit 1 when the listing was incomplete or `sub` names
/// nothing the remote holds.
pub fn list_files(path: &SyncPath, sub: &str, remote: &dyn Remote, out: &Output) -> Result<Exit> {
    let listing = listed(path, remote, out)?;
    let mut files: Vec<&Entry> = listing
        .entries
        .iter()
        .filter(|e| under(&e.path, sub))
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for entry in &files {
        out.emit(&Event::LsFile {
            cloud: &path.cloud,
            entry,
        });
    }
    if !listing.exists {
        out.warn(&format!(
            "{} holds no copy of {} yet (nothing was backed up there)",
            remote.describe(),
            path.cloud
        ));
    } else if files.is_empty() && !sub.is_empty() {
        out.error(&format!(
            "{}/{sub}: no such file or folder on {}; `poof ls {}` lists what it holds",
            path.cloud,
            remote.describe(),
            path.cloud
        ));
        return Ok(Exit::Partial);
    }
    Ok(if listing.problems.is_empty() {
        Exit::Success
    } else {
        Exit::Partial
    })
}

/// The remote's listing of `path`, its skipped objects and problems warned about.
fn listed(path: &SyncPath, remote: &dyn Remote, out: &Output) -> Result<RemoteListing> {
    let listing = remote
        .list(&path.cloud)
        .with_context(|| format!("listing {} on {}", path.cloud, remote.describe()))?;
    for s in &listing.skipped {
        out.warn(&format!("skipped {s}"));
    }
    for p in &listing.problems {
        out.warn(p);
    }
    Ok(listing)
}

/// True when `file` is `sub` or lies under the folder `sub` (always, for an empty `sub`).
fn under(file: &str, sub: &str) -> bool {
    sub.is_empty()
        || file
            .strip_prefix(sub)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests;
