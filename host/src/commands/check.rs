//! `poof check`: compare every configured folder with its remote copy, file
//! by file and by content (SHA-256 of both sides, the remote one read back in
//! full; with `--quick`, the one recorded with the copy), and report the
//! differences. It changes nothing: no copy, no deletion, no manifest written.
//!
//! Invariant: the host lists, reads, hashes and prints; what differs is the
//! guest's finding (`wit/check.wit`): which files are on one side only,
//! which differ by size, which are hashed, and what two hashes mean.

use anyhow::{Context as _, Result, anyhow};

use super::Context;
use crate::cli::CheckArgs;
use crate::config::{PoofConf, SyncPath};
use crate::engine::Instance;
use crate::engine::check::{ListedFile, Listing, Verdict};
use crate::engine::sync::Filter;
use crate::engine::wipe::RemoteCheck;
use crate::exit::{ConfigError, Exit};
use crate::filters::Filters;
use crate::output::{Event, Found, Output};
use crate::remote::{self, Remote};
use crate::walk::{self, Links};
use crate::{fsx, pool, sync};

/// Runs `poof check`.
pub fn run(ctx: &mut Context, args: &CheckArgs) -> Result<Exit> {
    if args.filter.delete_excluded {
        return Err(ConfigError(
            "poof check deletes nothing: --delete-excluded does not apply to it".into(),
        )
        .into());
    }
    let filters = Filters::from_args(&args.filter)?;
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let remote = remote::open_for_sync(&conf, &ctx.locations, ctx.pool, ctx.trust_remote)?;
    remote.check_ready()?;
    let mut guest = ctx.pool.lease()?;
    let mut differences = 0;
    for path in &conf.paths {
        let filter = filters.for_path(path)?;
        differences += check_path(
            path,
            &filter,
            remote.as_ref(),
            &mut guest,
            Reads {
                quick: args.quick,
                transfers: usize::from(args.transfers),
            },
            &ctx.out,
        )
        .with_context(|| format!("checking {}", path.local.display()))?;
    }
    ctx.out.emit(&Event::CheckSummary { differences });
    Ok(if differences > 0 {
        Exit::Partial
    } else {
        Exit::Success
    })
}

/// How the copy's side of each file is read.
#[derive(Debug, Clone, Copy)]
struct Reads {
    /// `--quick`: the SHA-256 recorded with the copy, `--checkers` at once;
    /// else the copy read back in full, `--transfers` at once.
    quick: bool,
    /// `--transfers`.
    transfers: usize,
}

/// Lists both sides of one path, asks the guest what pairs up, hashes what
/// it says to, and reports its findings; returns how many differences.
fn check_path(
    path: &SyncPath,
    filter: &Filter,
    remote: &dyn Remote,
    guest: &mut Instance,
    reads: Reads,
    out: &Output,
) -> Result<usize> {
    let mut local = walk::walk(&path.local, Links::Follow)?;
    let mut stored = remote.list(&path.cloud)?;
    // What the filter leaves out is compared on neither side, and an
    // unreadable folder it leaves out is no problem (the guest's `select`).
    sync::set_aside_excluded(&mut local, filter, guest)?;
    sync::retain_selected(&mut local.entries, filter, guest)?;
    sync::retain_selected(&mut stored.entries, filter, guest)?;
    out.emit(&Event::CheckPath {
        path: &path.local,
        remote: &remote.describe(),
        cloud: &path.cloud,
    });
    let file = |path: &String, size: u64| ListedFile {
        path: path.clone(),
        size,
    };
    let local = Listing {
        files: local
            .entries
            .iter()
            .map(|e| file(&e.path, e.size))
            .collect(),
        problems: local.problems,
    };
    let stored = Listing {
        files: stored
            .entries
            .iter()
            .map(|e| file(&e.path, e.size))
            .collect(),
        problems: stored.problems,
    };
    let pairing = guest
        .pair_listings(&local, &stored)?
        .map_err(|e| anyhow!("the guest refused the listings: {e:?}"))?;
    let mut differences = 0;
    let mut report = |file: &str, found: Found| {
        differences += 1;
        out.emit(&Event::Difference {
            path: &path.local,
            file,
            found,
        });
    };
    for p in &pairing.unlisted {
        report("", Found::Unlisted(p));
    }
    for f in &pairing.only_here {
        report(f, Found::OnlyHere);
    }
    for f in &pairing.only_on_copy {
        report(f, Found::OnlyOnCopy);
    }
    let threads = if reads.quick {
        crate::knobs::checkers()
    } else {
        reads.transfers
    };
    let hashes = pool::map(&pairing.to_hash, threads, |file| {
        hash_both(path, remote, file, reads.quick)
    });
    let mut verdicts: Vec<(&str, Verdict)> = pairing
        .differs_by_size
        .iter()
        .map(|f| (f.as_str(), Verdict::Differs))
        .collect();
    for (file, (local, copy)) in pairing.to_hash.iter().zip(hashes) {
        let local = local.as_ref().map(|h| &h[..]).map_err(String::as_str);
        verdicts.push((file, guest.judge_hashes(local, &copy)?));
    }
    // Reported in file order, as both sides list them.
    verdicts.sort_by(|a, b| a.0.cmp(b.0));
    let mut same = 0;
    for (file, verdict) in verdicts {
        match verdict {
            Verdict::Same => same += 1,
            Verdict::Differs => report(file, Found::Differs),
            Verdict::Failed(why) => report(file, Found::Unreadable(&why)),
        }
    }
    out.emit(&Event::CheckResult { same, differences });
    Ok(differences)
}

/// The SHA-256 of the local file (read through links, as backups follow
/// them) and of its copy, read back in full (`quick`: the one recorded
/// with it); each with why it failed.
fn hash_both(
    path: &SyncPath,
    remote: &dyn Remote,
    file: &str,
    quick: bool,
) -> (Result<Vec<u8>, String>, RemoteCheck) {
    let local = std::fs::File::open(path.local.join(file))
        .and_then(|mut f| fsx::sha256_of(&mut f))
        .map(|h| h.to_vec())
        .map_err(|e| format!("{}: {e}", path.local.join(file).display()));
    let copy = if quick {
        remote.recorded_sha256(&path.cloud, file)
    } else {
        remote.read_sha256(&path.cloud, file)
    };
    (local, remote_check(copy))
}

/// What a copy's side says of one file, for the guest, from the copy's
/// SHA-256 (`Remote::read_sha256` or `stored_sha256`).
pub fn remote_check(sha256: Result<Option<[u8; 32]>>) -> RemoteCheck {
    match sha256 {
        Ok(Some(h)) => RemoteCheck::Hash(h.to_vec()),
        Ok(None) => RemoteCheck::Missing,
        Err(e) => RemoteCheck::Failed(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests;
