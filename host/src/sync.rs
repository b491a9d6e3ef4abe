//! Carries out the guest's sync plan for every configured path.
//!
//! The host lists both sides, hands the facts to the guest, shows the plan,
//! and (unless it is a dry run) runs it phase by phase, transfers in
//! parallel. Invariants:
//! - the host adds no decision of its own about what to copy or delete;
//!   what the filters leave out is the guest's decision too: the host only
//!   reads the rules (`filters.rs`) and hands them over with the listings;
//! - a plan on which one of the guest's guards tripped (mass delete, mass
//!   rewrite) is not run at all;
//! - the `delete` phase of a path runs only when every earlier action of that
//!   path succeeded: after any error, nothing more is deleted;
//! - on a remote, the manifest that no longer records the files to delete is
//!   written before their objects go (`Remote::before_deletions`), so a run
//!   cut short leaves objects the next listing reads again, never records of
//!   objects already gone;
//! - one path's failure does not stop the others, and makes the run partial.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::config::{PoofConf, SyncPath};
use crate::engine::Instance;
use crate::engine::sync::{
    Direction, Entry, Filter, Hashed, Limit, Plan, PlanInput, Selection, SourceState, Withheld,
};
use crate::exit::{ConfigError, Exit};
use crate::filters::Filters;
use crate::output::{Event, Output};
use crate::remote::Remote;
use crate::walk::{self, Links};
use crate::{fsx, pool};

/// How to run a sync.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// `Up` for backup, `Down` for download.
    pub direction: Direction,
    /// Print the plan and change nothing.
    pub dry_run: bool,
    /// The user's limit on deletions per path.
    pub max_delete: Option<Limit>,
    /// The user's limit on overwrites per path (the guest guards them on
    /// the way up only).
    pub max_overwrite: Option<Limit>,
    /// `--yes`: lifts the default mass-delete and mass-rewrite rules.
    pub confirmed: bool,
    /// Files transferred at once.
    pub transfers: usize,
    /// `--checksum`: compare content by SHA-256 rather than size and time.
    pub checksum: bool,
    /// `upload`: files the target has and the source lacks are kept, since
    /// they may be files an earlier (or interrupted) upload moved there. The
    /// guest plans in its `never-delete` mode, so its plan deletes nothing.
    pub keep_target_extras: bool,
    /// `download --to`: each path is restored into a folder other than its
    /// own, whose files are the user's. The guest plans in its
    /// `restore-elsewhere` mode, so its plan deletes nothing there.
    pub restore_elsewhere: bool,
}

/// How a sync ended, overall and per path.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code the run deserves.
    pub exit: Exit,
    /// One entry per configured path, in order.
    pub paths: Vec<PathOutcome>,
}

/// How the sync of one configured path ended.
#[derive(Debug, Clone)]
pub struct PathOutcome {
    /// The path.
    pub path: SyncPath,
    /// True when the path was synced in full: its source existed, its plan
    /// was not refused, and every action of it succeeded.
    pub complete: bool,
    /// The path's whole filter, as the plan used it.
    pub filter: Filter,
}

/// What happened to one path.
#[derive(Debug, Default)]
struct Tally {
    source_missing: bool,
    copied: u64,
    copied_bytes: u64,
    modes_set: u64,
    deleted: u64,
    unchanged: u64,
    excluded: u64,
    failures: Vec<String>,
    refused: bool,
}

/// Syncs every configured path in the given direction, leaving out what
/// the filters exclude.
pub fn run(
    conf: &PoofConf,
    remote: &dyn Remote,
    guest: &mut Instance,
    opts: Options,
    filters: &Filters,
    out: &Output,
) -> Result<Outcome> {
    let path_filters = path_filters(conf, filters, guest)?;
    let jobs: Vec<_> = conf.paths.iter().cloned().zip(path_filters).collect();
    run_paths(&jobs, remote, guest, opts, out)
}

/// Syncs each path with its whole filter (`path_filters`), in order. A
/// path's `local` is the folder synced, which `download --to` sets to the
/// folder it restores into.
pub fn run_paths(
    jobs: &[(SyncPath, Filter)],
    remote: &dyn Remote,
    guest: &mut Instance,
    opts: Options,
    out: &Output,
) -> Result<Outcome> {
    remote.check_ready()?;
    if opts.dry_run {
        out.emit(&Event::DryRun);
    }
    let started = Instant::now();
    let mut total = Tally::default();
    let (mut failed_paths, mut refused_paths) = (0, 0);
    let mut outcomes = Vec::new();
    for (path, filter) in jobs {
        let tally = sync_path(path, filter, remote, guest, opts, out).unwrap_or_else(|e| Tally {
            // A safety rule that stopped the whole path (a stale encrypted
            // manifest) makes the run's exit code 3.
            refused: crate::exit::classify(&e) == Exit::Refused,
            failures: vec![format!("{}: {e:#}", path.local.display())],
            ..Tally::default()
        });
        for f in &tally.failures {
            out.error(f);
        }
        outcomes.push(PathOutcome {
            path: path.clone(),
            complete: tally.failures.is_empty() && !tally.refused && !tally.source_missing,
            filter: filter.clone(),
        });
        failed_paths += usize::from(!tally.failures.is_empty());
        refused_paths += usize::from(tally.refused);
        total.copied += tally.copied;
        total.copied_bytes += tally.copied_bytes;
        total.modes_set += tally.modes_set;
        total.deleted += tally.deleted;
        total.unchanged += tally.unchanged;
    }

    let secs = started.elapsed().as_secs_f64();
    let exit = if refused_paths > 0 {
        Exit::Refused
    } else if failed_paths > 0 {
        Exit::Partial
    } else {
        Exit::Success
    };
    out.emit(&Event::Summary {
        dry_run: opts.dry_run,
        paths: jobs.len(),
        failed_paths,
        refused_paths,
        copied: total.copied,
        copied_bytes: total.copied_bytes,
        modes_set: total.modes_set,
        deleted: total.deleted,
        unchanged: total.unchanged,
        seconds: secs,
        requests: remote.requests(),
        exit,
    });
    Ok(Outcome {
        exit,
        paths: outcomes,
    })
}

/// Every path's whole filter, each read by the guest before anything runs:
/// a pattern or rule it cannot read stops the run as a configuration error
/// (exit 2), naming the pattern and where it came from.
pub fn path_filters(
    conf: &PoofConf,
    filters: &Filters,
    guest: &mut Instance,
) -> Result<Vec<Filter>> {
    let mut all = Vec::new();
    for path in &conf.paths {
        let filter = filters.for_path(path)?;
        if let Err(e) = guest.select(&filter, &[])? {
            return Err(ConfigError(format!(
                "{}: {}",
                path.local.display(),
                crate::crypt::describe(&e)
            ))
            .into());
        }
        all.push(filter);
    }
    Ok(all)
}

/// Sets aside the walk's problems and skipped entries that lie where the
/// filter leaves everything out (the guest says which): an unreadable
/// folder the user excluded neither makes the listing incomplete (which
/// would hold back every deletion) nor is warned about.
pub fn set_aside_excluded(
    local: &mut walk::Listing,
    filter: &Filter,
    guest: &mut Instance,
) -> Result<()> {
    let keep = kept(guest, filter, &local.problem_paths)?;
    retain_pairs(&mut local.problems, &mut local.problem_paths, keep);
    let keep = kept(guest, filter, &local.skipped_paths)?;
    retain_pairs(&mut local.skipped, &mut local.skipped_paths, keep);
    Ok(())
}

/// Keeps the entries of one listing that `filter` keeps (the guest's
/// `select`), in their order.
pub fn retain_selected(
    entries: &mut Vec<Entry>,
    filter: &Filter,
    guest: &mut Instance,
) -> Result<()> {
    let places: Vec<String> = entries.iter().map(|e| e.path.clone()).collect();
    let mut keep = kept(guest, filter, &places)?.into_iter();
    // `retain` visits the entries once each, in order.
    entries.retain(|_| keep.next().unwrap_or(false));
    Ok(())
}

/// Whether `filter` keeps each of `places`, in their order (the guest's `select`).
fn kept(guest: &mut Instance, filter: &Filter, places: &[String]) -> Result<Vec<bool>> {
    if places.is_empty() {
        return Ok(Vec::new());
    }
    let selection = select(guest, filter, places)?;
    // `included` keeps the order of `places`, so one pass pairs them.
    let mut included = selection.included.iter().peekable();
    Ok(places
        .iter()
        .map(|p| included.next_if(|i| *i == p).is_some())
        .collect())
}

/// The guest's split of `paths` (one listing) by `filter`.
fn select(guest: &mut Instance, filter: &Filter, paths: &[String]) -> Result<Selection> {
    guest
        .select(filter, paths)?
        .map_err(|e| anyhow::anyhow!(crate::crypt::describe(&e)))
}

/// Keeps the `what[i]` and `at[i]` whose `keep[i]` is true.
fn retain_pairs(what: &mut Vec<String>, at: &mut Vec<String>, keep: Vec<bool>) {
    let pairs = std::mem::take(what).into_iter().zip(std::mem::take(at));
    (*what, *at) = pairs.zip(keep).filter(|(_, k)| *k).map(|(p, _)| p).unzip();
}

/// At most this many names of a source's top folder are read as hints
/// for the listing: enough to cut it into the few ranges listed at once.
const TOP_NAMES: usize = 10_000;

/// The names right under `root` (folders end in `/`), up to `TOP_NAMES`,
/// as hints for the listing: none when it cannot be read (the walk says
/// why), and those that are not UTF-8 left out. One `readdir`, no `stat`.
fn top_names(root: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name().into_string().ok()?;
        let folder = e.file_type().is_ok_and(|t| t.is_dir());
        Some(if folder { format!("{name}/") } else { name })
    })
    .take(TOP_NAMES)
    .collect()
}

fn sync_path(
    path: &SyncPath,
    filter: &Filter,
    remote: &dyn Remote,
    guest: &mut Instance,
    opts: Options,
    out: &Output,
) -> Result<Tally> {
    let up = opts.direction == Direction::Up;
    let local_links = if up { Links::Follow } else { Links::AsEntries };
    // The local walk and the remote listing are independent: side by side.
    let (local, stored) = std::thread::scope(|s| {
        // Held compactly while the listing runs.
        let walking = s.spawn(|| walk::walk_compact(&path.local, local_links));
        // Backing up, the stored keys are probably under the source's own
        // names: where the listing may be cut.
        let names = if up {
            top_names(&path.local)
        } else {
            Vec::new()
        };
        // The plan is made where the listing is: with `--checksum` the
        // host needs the remote's entries to hash them.
        let stored = if opts.checksum {
            remote.list_hinted(&path.cloud, &names)
        } else {
            remote.list_for_plan(&path.cloud, &names)
        };
        let stored =
            stored.with_context(|| format!("listing {} on {}", path.cloud, remote.describe()));
        let local = walking.join().expect("the walk does not panic");
        (local, stored)
    });
    // The walk's entries stay compact until the plan takes them in parts.
    let (mut local, local_entries) = local?.split();
    let stored = stored?;
    set_aside_excluded(&mut local, filter, guest)?;
    for p in &local.leftovers {
        out.warn(&format!(
            "skipped {}, a temporary file left by an interrupted poof run; delete it",
            p.display()
        ));
    }
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
        never_delete: opts.keep_target_extras,
        restore_elsewhere: opts.restore_elsewhere,
        target,
        mtime_window_ns: remote.mtime_window_ns(),
        max_delete: opts.max_delete,
        max_overwrite: opts.max_overwrite,
        confirmed: opts.confirmed,
        checksum: opts.checksum,
        source_hashes: Vec::new(),
        target_hashes: Vec::new(),
    };
    // `--checksum` hashes the local files: it takes them as one list.
    let (input, local_entries) = if opts.checksum {
        let input = crate::remote::with_local(input, local_entries);
        let input = with_hashes(input, path, filter, remote, guest, opts, out)?;
        (input, walk::Local::default())
    } else {
        (input, local_entries)
    };
    // The listing's pages and the manifest's bytes are freed by now: back
    // to the system before the plan, where the run's memory peaks.
    crate::alloc::give_back_freed();
    // Both sides' listings go to the plan, and are freed with it before
    // the transfers.
    let plan = remote
        .plan(&path.cloud, guest, input, local_entries, filter)?
        .map_err(|e| anyhow::anyhow!(crate::crypt::describe(&e)))
        .with_context(|| format!("the plan for {} was refused", path.local.display()))?;

    out.emit(&Event::Plan {
        path: &path.local,
        remote: &remote.describe(),
        cloud: &path.cloud,
        up,
        plan: &plan,
    });
    if !source_exists {
        let what = if up {
            format!("local folder {} does not exist", path.local.display())
        } else {
            format!("{} holds no copy of {}", remote.describe(), path.cloud)
        };
        out.warn(&format!("{what}; skipped, and nothing was deleted"));
    }
    if plan.withheld_reason == Some(Withheld::NeverDelete) {
        out.emit(&Event::ExtrasKept {
            path: &path.local,
            count: plan.withheld_deletions,
        });
    } else if let Some(why) = plan.withheld_reason {
        out.emit(&Event::Withheld {
            path: &path.local,
            count: plan.withheld_deletions,
            why,
        });
    }
    for (excluded, on_target) in plan
        .excluded_source
        .iter()
        .map(|x| (x, false))
        .chain(plan.excluded_target.iter().map(|x| (x, true)))
    {
        out.emit(&Event::Excluded {
            path: &path.local,
            excluded,
            on_target,
            up,
            dry_run: opts.dry_run,
        });
    }
    if opts.dry_run || out.verbose {
        out.emit(&Event::PlanActions(&plan));
    }
    if !plan.guard_trips.is_empty() {
        for trip in &plan.guard_trips {
            out.emit(&Event::Refused {
                path: &path.local,
                trip,
                dry_run: opts.dry_run,
            });
        }
        return Ok(Tally {
            refused: true,
            ..Tally::default()
        });
    }
    if opts.dry_run {
        return Ok(Tally {
            source_missing: !source_exists,
            ..Tally::default()
        });
    }

    let mut tally = execute(path, remote, &plan, opts, out);
    tally.source_missing = !source_exists;
    tally.excluded = plan.excluded_source.iter().map(|x| x.files).sum();
    // The manifest only speeds up the next listing; failing to write it is
    // worth a warning, not an error.
    if let Err(e) = remote.finish(&path.cloud) {
        out.warn(&format!("{}: {e:#}", path.local.display()));
    }
    out.emit(&Event::PathResult {
        path: &path.local,
        copied: tally.copied,
        copied_bytes: tally.copied_bytes,
        modes_set: tally.modes_set,
        deleted: tally.deleted,
        unchanged: tally.unchanged,
        excluded: tally.excluded,
        failed: tally.failures.len(),
    });
    Ok(tally)
}

fn execute(
    path: &SyncPath,
    remote: &dyn Remote,
    plan: &Plan,
    opts: Options,
    out: &Output,
) -> Tally {
    let up = opts.direction == Direction::Up;
    let local = path.local.as_path();
    let mut t = Tally {
        unchanged: plan.unchanged,
        ..Tally::default()
    };
    let delete = |rel: &String| -> Result<()> {
        if up {
            remote.delete(&path.cloud, rel)
        } else {
            fsx::remove(local, rel)
                .with_context(|| format!("removing {}", local.join(rel).display()))
        }
    };
    let record_delete = |t: &mut Tally, rel: &String, r: Result<()>| match r {
        Ok(()) => {
            t.deleted += 1;
            out.emit(&Event::Deleted {
                path: local,
                file: rel,
            });
        }
        Err(e) => t.failures.push(format!("{rel}: {e:#}")),
    };

    pool::for_each(&plan.make_room, opts.transfers, delete, |rel, r| {
        record_delete(&mut t, rel, r)
    });
    if !up
        && !plan.copy.is_empty()
        && let Err(e) = std::fs::create_dir_all(local)
    {
        t.failures
            .push(format!("cannot create {}: {e}", local.display()));
        return t;
    }

    let bytes: u64 = plan.copy.iter().map(|e| e.size).sum();
    let bar = out.progress(bytes, plan.copy.len() as u64);
    let files = plan.copy.len();
    pool::for_each(
        &plan.copy,
        opts.transfers,
        |entry| copy(path, remote, entry, up),
        |entry, r| match r {
            Ok(()) => {
                t.copied += 1;
                t.copied_bytes += entry.size;
                bar.inc(entry.size);
                bar.set_message(format!("{}/{files}", t.copied));
                out.emit(&Event::Copied {
                    path: local,
                    file: &entry.path,
                    bytes: entry.size,
                    done_files: t.copied,
                    done_bytes: t.copied_bytes,
                    total_files: files,
                    total_bytes: bytes,
                });
            }
            Err(e) => t
                .failures
                .push(format!("{}: {e:#}", describe(local, entry, up))),
        },
    );
    bar.finish_and_clear();

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
    if t.failures.is_empty()
        && up
        && !plan.delete.is_empty()
        && let Err(e) = remote.before_deletions(&path.cloud, &plan.delete)
    {
        t.failures.push(format!("{e:#}"));
    }
    if !t.failures.is_empty() {
        if !plan.delete.is_empty() {
            out.emit(&Event::DeletionsNotRun {
                path: local,
                count: plan.delete.len(),
            });
        }
        return t;
    }
    pool::for_each(&plan.delete, opts.transfers, delete, |rel, r| {
        record_delete(&mut t, rel, r)
    });
    t
}

/// Adds the content hashes `--checksum` compares: the hash of every local
/// file the filter keeps (the guest says which), read here, and the stored
/// hash of every remote file that has such a local file of the same size
/// (the others differ anyway). A hash that cannot be had stays unknown, and
/// the guest then counts the file as changed.
fn with_hashes(
    mut input: PlanInput,
    path: &SyncPath,
    filter: &Filter,
    remote: &dyn Remote,
    guest: &mut Instance,
    opts: Options,
    out: &Output,
) -> Result<PlanInput> {
    let up = opts.direction == Direction::Up;
    let (local, stored) = if up {
        (&input.source, &input.target)
    } else {
        (&input.target, &input.source)
    };
    let names: Vec<String> = local.iter().map(|e| e.path.clone()).collect();
    let keep = kept(guest, filter, &names)?;
    let local: Vec<&Entry> = local
        .iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect();
    let sizes: std::collections::HashMap<&str, u64> =
        local.iter().map(|e| (e.path.as_str(), e.size)).collect();
    let wanted: Vec<&Entry> = stored
        .iter()
        .filter(|e| sizes.get(e.path.as_str()) == Some(&e.size))
        .collect();
    // Results are gathered (and warnings printed) on this thread as the
    // hashes come in.
    let mut local_hashes = Vec::new();
    pool::for_each(
        &local,
        opts.transfers,
        |e| std::fs::File::open(path.local.join(&e.path)).and_then(|mut f| fsx::sha256_of(&mut f)),
        |e, r| match r {
            Ok(h) => local_hashes.push(Hashed {
                path: e.path.clone(),
                sha256: h.to_vec(),
            }),
            Err(err) => out.warn(&format!(
                "cannot hash {}: {err}; it counts as changed",
                path.local.join(&e.path).display()
            )),
        },
    );
    let mut stored_hashes = Vec::new();
    // Metadata reads (a HEAD, or an encrypted header): `--checkers` at once.
    pool::for_each(
        &wanted,
        crate::knobs::checkers(),
        |e| remote.stored_sha256(&path.cloud, &e.path),
        |e, r| match r {
            Ok(Some(h)) => stored_hashes.push(Hashed {
                path: e.path.clone(),
                sha256: h.to_vec(),
            }),
            Ok(None) => {}
            Err(err) => out.warn(&format!(
                "cannot hash {} on {}: {err:#}; it counts as changed",
                e.path,
                remote.describe()
            )),
        },
    );
    if up {
        input.source_hashes = local_hashes;
        input.target_hashes = stored_hashes;
    } else {
        input.source_hashes = stored_hashes;
        input.target_hashes = local_hashes;
    }
    Ok(input)
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

#[cfg(test)]
mod tests;
