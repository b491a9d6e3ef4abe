//! `poof check`: compare every configured folder with its remote copy, file
//! by file and by content (SHA-256 of both sides, the remote one read back in
//! full), and report the differences. It changes nothing: no copy, no
//! deletion, no manifest written.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};

use super::Context;
use crate::cli::CheckArgs;
use crate::config::{PoofConf, SyncPath};
use crate::exit::Exit;
use crate::output::{Event, Found, Output};
use crate::remote::{self, Remote};
use crate::walk::{self, Links};
use crate::{fsx, pool};

/// Runs `poof check`.
pub fn run(ctx: &mut Context, args: &CheckArgs) -> Result<Exit> {
    let conf = PoofConf::load(&ctx.locations.poofconf)?;
    let remote = remote::open_for_sync(&conf, &ctx.locations, ctx.guest)?;
    remote.check_ready()?;
    let mut differences = 0;
    for path in &conf.paths {
        differences += check_path(path, remote.as_ref(), usize::from(args.transfers), &ctx.out)
            .with_context(|| format!("checking {}", path.local.display()))?;
    }
    ctx.out.emit(&Event::CheckSummary { differences });
    Ok(if differences > 0 {
        Exit::Partial
    } else {
        Exit::Success
    })
}

/// What a comparison of one file found.
enum Finding {
    Same,
    Differs,
    Failed(String),
}

fn check_path(
    path: &SyncPath,
    remote: &dyn Remote,
    transfers: usize,
    out: &Output,
) -> Result<usize> {
    let local = walk::walk(&path.local, Links::Follow)?;
    let stored = remote.list(&path.cloud)?;
    out.emit(&Event::CheckPath {
        path: &path.local,
        remote: &remote.describe(),
        cloud: &path.cloud,
    });
    let local_files: BTreeMap<&str, u64> = local
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.size))
        .collect();
    let stored_files: BTreeMap<&str, u64> = stored
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.size))
        .collect();
    let mut differences = 0;
    let mut report = |file: &str, found: Found| {
        differences += 1;
        out.emit(&Event::Difference {
            path: &path.local,
            file,
            found,
        });
    };
    for p in local.problems.iter().chain(&stored.problems) {
        report("", Found::Unlisted(p));
    }
    for f in local_files
        .keys()
        .filter(|f| !stored_files.contains_key(*f))
    {
        report(f, Found::OnlyHere);
    }
    for f in stored_files
        .keys()
        .filter(|f| !local_files.contains_key(*f))
    {
        report(f, Found::OnlyOnCopy);
    }
    let common: Vec<(&str, bool)> = local_files
        .iter()
        .filter_map(|(f, size)| stored_files.get(f).map(|s| (*f, s == size)))
        .collect();
    // `common` is in file order, and so are the findings.
    let findings = pool::map(&common, transfers, |(file, same_size)| {
        if *same_size {
            compare(path, remote, file)
        } else {
            Finding::Differs
        }
    });
    let mut same = 0;
    for ((file, _), finding) in common.iter().zip(findings) {
        match finding {
            Finding::Same => same += 1,
            Finding::Differs => report(file, Found::Differs),
            Finding::Failed(why) => report(file, Found::Unreadable(&why)),
        }
    }
    out.emit(&Event::CheckResult { same, differences });
    Ok(differences)
}

fn compare(path: &SyncPath, remote: &dyn Remote, file: &str) -> Finding {
    // Backups follow links, so the check reads through them too.
    let local = std::fs::File::open(path.local.join(file))
        .and_then(|mut f| fsx::sha256_of(&mut f))
        .map_err(|e| format!("{}: {e}", path.local.join(file).display()));
    let stored = remote
        .read_sha256(&path.cloud, file)
        .map_err(|e| format!("{e:#}"));
    match (local, stored) {
        (Ok(a), Ok(Some(b))) if a == b => Finding::Same,
        (Ok(_), Ok(_)) => Finding::Differs,
        (Err(e), _) | (_, Err(e)) => Finding::Failed(e),
    }
}
