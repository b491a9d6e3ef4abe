//! `poof check`: compare every configured folder with its remote copy, file
//! by file and by content (SHA-256 of both sides, the remote one read back in
//! full), and report the differences. It changes nothing: no copy, no
//! deletion, no manifest written.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use serde_json::json;

use super::Context;
use crate::cli::CheckArgs;
use crate::config::{PoofConf, SyncPath};
use crate::exit::Exit;
use crate::output::Output;
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
    ctx.out
        .event(json!({"event": "summary", "differences": differences}));
    if differences > 0 {
        ctx.out.line(&format!(
            "{differences} differences; run `poof backup` or `poof download` to settle them"
        ));
        return Ok(Exit::Partial);
    }
    ctx.out.line("every file matches its remote copy");
    Ok(Exit::Success)
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
    out.line(&format!(
        "{} <-> {}/{}",
        path.local.display(),
        remote.describe(),
        path.cloud
    ));
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
    let mut report = |kind: &str, file: &str, words: String| {
        differences += 1;
        out.line(&format!("  {words}"));
        out.event(json!({"event": "difference", "path": path.local, "file": file, "kind": kind}));
    };
    for p in local.problems.iter().chain(&stored.problems) {
        report("unreadable", "", format!("not checked: {p}"));
    }
    for f in local_files
        .keys()
        .filter(|f| !stored_files.contains_key(*f))
    {
        report("missing-remotely", f, format!("only here:        {f}"));
    }
    for f in stored_files
        .keys()
        .filter(|f| !local_files.contains_key(*f))
    {
        report("only-remotely", f, format!("only on the copy: {f}"));
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
            Finding::Differs => report("content", file, format!("differs:          {file}")),
            Finding::Failed(why) => report(
                "unreadable",
                file,
                format!("not checked:      {file}: {why}"),
            ),
        }
    }
    out.line(&format!("  {same} identical, {differences} differences"));
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
