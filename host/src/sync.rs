//! Carries out the guest's sync plan for every configured path.
//!
//! The host lists both sides, hands the facts to the guest, prints the plan,
//! and (unless it is a dry run) runs it phase by phase. Invariants:
//! - the host adds no decision of its own about what to copy or delete;
//! - the `delete` phase of a path runs only when every earlier action of that
//!   path succeeded: after any error, nothing more is deleted;
//! - one path's failure does not stop the others, and makes the run partial.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::config::{PoofConf, SyncPath};
use crate::engine::Instance;
use crate::engine::sync::{Direction, Entry, Plan, PlanInput, SourceState, Withheld};
use crate::exit::Exit;
use crate::fsx;
use crate::output::{Output, human_bytes};
use crate::remote::Remote;
use crate::walk::{self, Links};

/// How to run a sync.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `Up` for backup, `Down` for download.
    pub direction: Direction,
    /// Print the plan and change nothing.
    pub dry_run: bool,
}

/// What happened to one path.
#[derive(Debug, Default)]
struct Tally {
    copied: u64,
    copied_bytes: u64,
    modes_set: u64,
    deleted: u64,
    failures: Vec<String>,
}

/// Syncs every configured path in the given direction.
pub fn run(
    conf: &PoofConf,
    remote: &dyn Remote,
    guest: &mut Instance,
    opts: Options,
    out: &mut Output,
) -> Result<Exit> {
    remote.check_ready()?;
    if opts.dry_run {
        out.line("dry run: nothing will be changed");
    }
    let started = Instant::now();
    let mut failed_paths = 0;
    for path in &conf.paths {
        match sync_path(path, remote, guest, opts, out) {
            Ok(tally) if tally.failures.is_empty() => {}
            Ok(tally) => {
                failed_paths += 1;
                for f in &tally.failures {
                    out.error(f);
                }
            }
            Err(e) => {
                failed_paths += 1;
                out.error(&format!("{}: {e:#}", path.local.display()));
            }
        }
    }
    if failed_paths > 0 {
        out.error(&format!(
            "{failed_paths} of {} paths had errors (see above); nothing was deleted on those paths. Fix the cause and run poof again",
            conf.paths.len()
        ));
        return Ok(Exit::Partial);
    }
    if !opts.dry_run {
        out.line(&format!("done in {:.1} s", started.elapsed().as_secs_f64()));
    }
    Ok(Exit::Success)
}

fn sync_path(
    path: &SyncPath,
    remote: &dyn Remote,
    guest: &mut Instance,
    opts: Options,
    out: &mut Output,
) -> Result<Tally> {
    let up = opts.direction == Direction::Up;
    let local_links = if up { Links::Follow } else { Links::AsEntries };
    let local = walk::walk(&path.local, local_links)?;
    let stored = remote
        .list(&path.cloud)
        .with_context(|| format!("listing {} on {}", path.cloud, remote.describe()))?;
    for s in local.skipped.iter().chain(&stored.skipped) {
        out.warn(&format!("skipped {s}"));
    }
    for p in local.problems.iter().chain(&stored.problems) {
        out.warn(p);
    }

    let (source_exists, source, source_problems, target) = if up {
        (local.exists, local.entries, &local.problems, stored.entries)
    } else {
        (
            stored.exists,
            stored.entries,
            &stored.problems,
            local.entries,
        )
    };
    let input = PlanInput {
        direction: opts.direction,
        source_state: if source_exists {
            SourceState::Present
        } else {
            SourceState::Missing
        },
        source,
        source_complete: source_problems.is_empty(),
        target,
        mtime_window_ns: remote.mtime_window_ns(),
    };
    let plan = guest
        .plan_sync(&input)?
        .with_context(|| format!("the plan for {} was refused", path.local.display()))?;

    let arrow = if up { "->" } else { "<-" };
    out.line(&format!(
        "{} {arrow} {}/{}",
        path.local.display(),
        remote.describe(),
        path.cloud
    ));
    if !source_exists {
        let what = if up {
            format!("local folder {} does not exist", path.local.display())
        } else {
            format!("{} holds no copy of {}", remote.describe(), path.cloud)
        };
        out.warn(&format!("{what}; skipped, and nothing was deleted"));
    }
    if let Some(reason) = plan.withheld_reason {
        let why = match reason {
            Withheld::SourceMissing => "the source is missing",
            Withheld::SourceEmpty => {
                "the source is empty, and an empty source never wipes its copy"
            }
            Withheld::SourceIncomplete => "some source files could not be read",
        };
        out.warn(&format!(
            "{}: {} deletions held back because {why}",
            path.local.display(),
            plan.withheld_deletions
        ));
    }

    if opts.dry_run {
        print_plan(&plan, out);
        return Ok(Tally::default());
    }
    let tally = execute(path, remote, &plan, opts, out);
    let mut line = format!(
        "  {} copied ({}), {} deleted, {} unchanged",
        tally.copied,
        human_bytes(tally.copied_bytes),
        tally.deleted,
        plan.unchanged
    );
    if tally.modes_set > 0 {
        let _ = write!(line, ", {} permissions updated", tally.modes_set);
    }
    if !tally.failures.is_empty() {
        let _ = write!(line, ", {} failed", tally.failures.len());
    }
    out.line(&line);
    Ok(tally)
}

fn print_plan(plan: &Plan, out: &mut Output) {
    for p in &plan.make_room {
        out.line(&format!("  delete  {p}  (in the way)"));
    }
    for e in &plan.copy {
        out.line(&format!("  copy    {}  ({})", e.path, human_bytes(e.size)));
    }
    for e in &plan.set_mode {
        out.line(&format!(
            "  chmod   {}  ({:04o})",
            e.path,
            e.mode.unwrap_or(0)
        ));
    }
    for p in &plan.delete {
        out.line(&format!("  delete  {p}"));
    }
    let bytes: u64 = plan.copy.iter().map(|e| e.size).sum();
    out.line(&format!(
        "  would copy {} ({}), delete {}, update permissions of {}; {} unchanged",
        plan.copy.len(),
        human_bytes(bytes),
        plan.make_room.len() + plan.delete.len(),
        plan.set_mode.len(),
        plan.unchanged
    ));
}

fn execute(
    path: &SyncPath,
    remote: &dyn Remote,
    plan: &Plan,
    opts: Options,
    out: &mut Output,
) -> Tally {
    let up = opts.direction == Direction::Up;
    let local = path.local.as_path();
    let mut t = Tally::default();
    let delete = |rel: &str| -> Result<()> {
        if up {
            remote.delete(&path.cloud, rel)
        } else {
            fsx::remove(local, rel)
                .with_context(|| format!("removing {}", local.join(rel).display()))
        }
    };

    for rel in &plan.make_room {
        match delete(rel) {
            Ok(()) => t.deleted += 1,
            Err(e) => t.failures.push(format!("{rel}: {e:#}")),
        }
    }
    if !up && !plan.copy.is_empty() {
        if let Err(e) = std::fs::create_dir_all(local) {
            t.failures
                .push(format!("cannot create {}: {e}", local.display()));
            return t;
        }
    }
    for entry in &plan.copy {
        match copy(path, remote, entry, up) {
            Ok(()) => {
                t.copied += 1;
                t.copied_bytes += entry.size;
                out.verbose(&format!("  copied  {}", entry.path));
            }
            Err(e) => t
                .failures
                .push(format!("{}: {e:#}", describe(local, entry, up))),
        }
    }
    for entry in &plan.set_mode {
        let r = if up {
            remote.set_mode(&path.cloud, entry)
        } else {
            fsx::set_mode(local, entry).map_err(Into::into)
        };
        match r {
            Ok(()) => t.modes_set += 1,
            Err(e) => t
                .failures
                .push(format!("{}: {e:#}", describe(local, entry, up))),
        }
    }
    if !t.failures.is_empty() {
        if !plan.delete.is_empty() {
            out.warn(&format!(
                "{}: {} deletions not run because of the errors below",
                local.display(),
                plan.delete.len()
            ));
        }
        return t;
    }
    for rel in &plan.delete {
        match delete(rel) {
            Ok(()) => {
                t.deleted += 1;
                out.verbose(&format!("  deleted {rel}"));
            }
            Err(e) => t.failures.push(format!("{rel}: {e:#}")),
        }
    }
    t
}

fn copy(path: &SyncPath, remote: &dyn Remote, entry: &Entry, up: bool) -> Result<()> {
    if up {
        remote.upload(&path.cloud, entry, &path.local.join(&entry.path))
    } else {
        remote.download(&path.cloud, entry, &path.local)
    }
}

fn describe(local: &Path, entry: &Entry, up: bool) -> String {
    if up {
        local.join(&entry.path).display().to_string()
    } else {
        format!("{} (restoring)", local.join(&entry.path).display())
    }
}
