//! The sync plan: the one place that decides what a sync copies and deletes.
//!
//! Given the source and target listings of one configured path, `plan` returns
//! the actions that make the target equal to the source. Invariants:
//! - every path in the input is checked (`paths::check`) before anything is
//!   planned, so a hostile listing cannot steer the host outside its root;
//! - a missing source, an empty source or a source that could not be read in
//!   full never causes a deletion, and neither does a restore into a folder
//!   other than the configured one (`restore_elsewhere`, `download --to`);
//! - a plan that deletes more than the user's limit (by default: more than
//!   half of the target's files, or all of them) carries a guard trip, and
//!   the host runs none of it;
//! - so does a plan going up (backup, upload) that overwrites more than the
//!   user's limit of the target's files (by default: more than half of them,
//!   and more than `OVERWRITE_FLOOR`): the remote is a mirror, not a
//!   history, so a mass rewrite (ransomware) would replace the only copy;
//! - deletions that must happen before a copy can land (a file standing where
//!   the source has a folder, or the reverse) are in `make_room`; every other
//!   deletion is in `delete`, which the host runs only after every copy
//!   succeeded;
//! - what the filter leaves out (`filter.rs`) is neither copied nor deleted,
//!   nor counted by the guards, unless `delete_excluded` asks for the
//!   target's excluded files to be deleted; a source whose every file is
//!   left out never wipes its copy.

use std::collections::{BTreeMap, BTreeSet};

use crate::filter::{self, Excluded, Filter};
use crate::paths;

/// Which way data flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Local folder to remote.
    Up,
    /// Remote to local folder.
    Down,
}

/// One regular file as one side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Permission bits, when the side keeps them.
    pub mode: Option<u32>,
}

/// The facts for one configured path.
#[derive(Debug, Clone)]
pub struct Input {
    /// Which way data flows.
    pub direction: Direction,
    /// True when the source folder or prefix does not exist at all.
    pub source_missing: bool,
    /// Every regular file of the source.
    pub source: Vec<Entry>,
    /// False when some source entries could not be read.
    pub source_complete: bool,
    /// `poof upload`: the target's files the source lacks are kept; the
    /// plan deletes nothing.
    pub never_delete: bool,
    /// `poof download --to`: the target is a folder chosen for this restore,
    /// holding the user's own files, not an old state of the source; the
    /// plan deletes nothing there.
    pub restore_elsewhere: bool,
    /// Every regular file of the target.
    pub target: Vec<Entry>,
    /// Modification times closer than this are equal.
    pub mtime_window_ns: u64,
    /// The user's limit on deletions; `None` for the default rule.
    pub max_delete: Option<Limit>,
    /// The user's limit on overwrites (`Up` only); `None` for the default rule.
    pub max_overwrite: Option<Limit>,
    /// The user confirmed destructive runs: lifts the default rules only,
    /// never the user's own limits.
    pub confirmed: bool,
    /// Compare content by SHA-256 instead of size and time.
    pub checksum: bool,
    /// With `checksum`: source files' SHA-256, where known.
    pub source_hashes: BTreeMap<String, Vec<u8>>,
    /// With `checksum`: target files' SHA-256, where known.
    pub target_hashes: BTreeMap<String, Vec<u8>>,
}

/// A limit on the deletions or the overwrites of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this many files.
    Count(u64),
    /// At most this percentage of the target's files.
    Percent(u8),
}

/// Overwrites the default rule always allows on a path going up, however
/// few files the path has: a folder of one to three files is often edited
/// whole between two backups, and refusing each such backup would teach the
/// user to pass `--yes` by habit. Deletions have no such floor (removing
/// every file of a small folder is rare and looks like a wrong source).
pub const OVERWRITE_FLOOR: u64 = 3;

/// What a guard counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardKind {
    /// Target files the plan deletes (`make_room` and `delete`).
    Delete,
    /// Target files the plan replaces with other content (copies onto a
    /// path the target holds), on the way up only.
    Overwrite,
}

/// Why a guard stopped a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardTrip {
    /// Which guard tripped.
    pub kind: GuardKind,
    /// Deletions or overwrites (per `kind`) the plan holds.
    pub count: u64,
    /// Files the target holds.
    pub target_files: u64,
    /// The most allowed.
    pub limit: u64,
    /// Which rule tripped and how to go on, in words.
    pub reason: String,
}

/// Why deletions were held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The source is missing.
    SourceMissing,
    /// The source is empty.
    SourceEmpty,
    /// The source could not be read in full.
    SourceIncomplete,
    /// The run never deletes (`poof upload`).
    NeverDelete,
    /// A restore into another folder (`poof download --to`) never deletes.
    RestoreElsewhere,
    /// The source has files, but the filter leaves every one out.
    NothingSelected,
}

/// Which files a plan leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filtering {
    /// The user's patterns.
    pub spec: filter::Spec,
    /// `--delete-excluded`: the target is planned unfiltered, so its
    /// excluded files are deleted like any file the source lacks.
    pub delete_excluded: bool,
}

/// The plan for one configured path, in the phases the host runs in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Target paths in the way of a copy, removed first.
    pub make_room: Vec<String>,
    /// Source files to copy to the target.
    pub copy: Vec<Entry>,
    /// Unchanged files whose permission bits differ.
    pub set_mode: Vec<Entry>,
    /// Target paths the source no longer has; run only after every copy succeeded.
    pub delete: Vec<String>,
    /// Files equal on both sides.
    pub unchanged: u64,
    /// Deletions left out, and why.
    pub withheld_deletions: u64,
    /// Set when `withheld_deletions` is not zero.
    pub withheld_reason: Option<Withheld>,
    /// Every guard that tripped (deletions first); when there is one, the
    /// plan must not be run.
    pub guard_trips: Vec<GuardTrip>,
    /// Source files the filter left out: not copied.
    pub excluded_source: Vec<Excluded>,
    /// Target files the filter left out: kept as they are (none with
    /// `delete_excluded`).
    pub excluded_target: Vec<Excluded>,
}

/// Why no plan could be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// A listing holds a path that is unsafe, duplicated or contradictory.
    InvalidInput(String),
}

/// Computes the plan that makes the target equal to the source, unfiltered.
pub fn plan(input: Input) -> Result<Plan, PlanError> {
    plan_filtered(input, &Filtering::default())
}

/// Computes the plan that makes the target equal to the source, leaving
/// out on both sides what the filter excludes.
pub fn plan_filtered(mut input: Input, filtering: &Filtering) -> Result<Plan, PlanError> {
    let filter = Filter::new(&filtering.spec).map_err(PlanError::InvalidInput)?;
    let (source_side, target_side) = match input.direction {
        Direction::Up => ("local file", "remote object"),
        Direction::Down => ("remote object", "local file"),
    };
    let source = index(std::mem::take(&mut input.source), source_side)?;
    let target = index(std::mem::take(&mut input.target), target_side)?;
    let source_listed = !source.is_empty();
    let kept = filter.select(source.0, |e| &e.path);
    let source = Index(kept.included);
    let (target, excluded_target) = if filtering.delete_excluded {
        (target, Vec::new())
    } else {
        let kept = filter.select(target.0, |e| &e.path);
        (Index(kept.included), kept.excluded)
    };
    check_tree(&source, source_side)?;

    let mut plan = Plan {
        excluded_source: kept.excluded,
        excluded_target,
        ..Plan::default()
    };
    let mut overwrites = 0u64;
    for src in source.entries() {
        let path = &src.path;
        match target.get(path) {
            Some(dst)
                if if input.checksum {
                    src.size == dst.size
                        && matches!(
                            (input.source_hashes.get(path), input.target_hashes.get(path)),
                            (Some(a), Some(b)) if a.len() == 32 && a == b
                        )
                } else {
                    same_content(src, dst, input.mtime_window_ns)
                } =>
            {
                if src.mode.is_some() && dst.mode.is_some() && src.mode != dst.mode {
                    plan.set_mode.push(src.clone());
                } else {
                    plan.unchanged += 1;
                }
            }
            dst => {
                overwrites += u64::from(dst.is_some());
                plan.copy.push(src.clone());
            }
        }
    }

    // Folders the source needs, so that target files standing in their way go first.
    let source_dirs: BTreeSet<&str> = source.keys().flat_map(|p| paths::ancestors(p)).collect();
    for path in target.keys().filter(|p| !source.contains_key(p)) {
        let blocks = source_dirs.contains(path.as_str())
            || paths::ancestors(path).any(|dir| source.contains_key(dir));
        if blocks {
            plan.make_room.push(path.clone());
        } else {
            plan.delete.push(path.clone());
        }
    }

    let withheld = if input.never_delete {
        Some(Withheld::NeverDelete)
    } else if input.restore_elsewhere {
        Some(Withheld::RestoreElsewhere)
    } else if input.source_missing {
        Some(Withheld::SourceMissing)
    } else if source.is_empty() && source_listed {
        Some(Withheld::NothingSelected)
    } else if source.is_empty() {
        Some(Withheld::SourceEmpty)
    } else if !input.source_complete {
        Some(Withheld::SourceIncomplete)
    } else {
        None
    };
    let deletions = plan.make_room.len() + plan.delete.len();
    if let (Some(reason), true) = (withheld, deletions > 0) {
        plan.withheld_deletions = deletions as u64;
        plan.withheld_reason = Some(reason);
        plan.make_room.clear();
        plan.delete.clear();
    }
    let target_files = target.len() as u64;
    let deletions = (plan.make_room.len() + plan.delete.len()) as u64;
    plan.guard_trips.extend(guard(
        GuardKind::Delete,
        deletions,
        target_files,
        input.max_delete,
        input.confirmed,
    ));
    // A download's overwrites are not guarded: they replace local files
    // with the copy the user asked to restore, and a restore after a local
    // mass rewrite (ransomware) must overwrite every file to undo it.
    if input.direction == Direction::Up {
        plan.guard_trips.extend(
            guard(
                GuardKind::Overwrite,
                overwrites,
                target_files,
                input.max_overwrite,
                input.confirmed,
            )
            .map(|mut trip| {
                if !input.checksum {
                    trip.reason +=
                        "; if only their modification times changed, --checksum copies none of them";
                }
                trip
            }),
        );
    }
    Ok(plan)
}

/// One guard: `None` when `count` deletions or overwrites (per `kind`) out
/// of `target_files` are allowed.
///
/// The user's limit holds even with `confirmed` (`--yes`); without one, the
/// default rule applies unless `confirmed`. The default rule for deletions:
/// at most half of the target's files, and never all of them. For
/// overwrites: at most half of the target's files, or `OVERWRITE_FLOOR`
/// when that is more (so every file of a tiny path may change).
fn guard(
    kind: GuardKind,
    count: u64,
    target_files: u64,
    user: Option<Limit>,
    confirmed: bool,
) -> Option<GuardTrip> {
    if count == 0 {
        return None;
    }
    let flag = match kind {
        GuardKind::Delete => "--max-delete",
        GuardKind::Overwrite => "--max-overwrite",
    };
    let (limit, rule) = match (user, kind) {
        (Some(Limit::Count(n)), _) => (n, format!("{flag} {n}")),
        (Some(Limit::Percent(p)), _) => (
            target_files * u64::from(p.min(100)) / 100,
            format!("{flag} {p}%"),
        ),
        (None, _) if confirmed => return None,
        (None, GuardKind::Delete) if count == target_files => (
            target_files - 1,
            "the default rule: never delete every file without --yes".to_string(),
        ),
        (None, GuardKind::Delete) => (
            target_files / 2,
            "the default rule: never delete more than half of the files without --yes".to_string(),
        ),
        (None, GuardKind::Overwrite) => (
            (target_files / 2).max(OVERWRITE_FLOOR),
            format!(
                "the default rule: never overwrite more than half of the files \
                 (any {OVERWRITE_FLOOR} may) without --yes"
            ),
        ),
    };
    if count <= limit {
        return None;
    }
    let reason = match kind {
        GuardKind::Delete => format!(
            "the plan deletes {count} of {target_files} files, more than {rule} allows; \
             check that the source is the right one (a missing disk, a wrong folder), then \
             run again with --yes or a larger --max-delete if the deletions are wanted"
        ),
        GuardKind::Overwrite => format!(
            "the plan overwrites {count} of the {target_files} files the copy holds, more \
             than {rule} allows; the copy is a mirror, not a history, so a mass rewrite \
             (ransomware, a tool gone wrong) would replace the only copy: check that the \
             files open as they should, then run again with --yes or a larger \
             --max-overwrite if the changes are wanted"
        ),
    };
    Some(GuardTrip {
        kind,
        count,
        target_files,
        limit,
        reason,
    })
}

/// True when size matches and the times differ by no more than the window.
fn same_content(a: &Entry, b: &Entry, window_ns: u64) -> bool {
    a.size == b.size && a.mtime_ns.abs_diff(b.mtime_ns) <= window_ns
}

/// A side's entries sorted by path, each path once: looked up by binary
/// search, so that a listing is held once, not again as a map's keys.
struct Index(Vec<Entry>);

impl Index {
    fn get(&self, path: &str) -> Option<&Entry> {
        self.0
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.0[i])
    }

    fn contains_key(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.0.iter()
    }

    fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|e| &e.path)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks every path and indexes the listing by path, refusing duplicates.
fn index(mut entries: Vec<Entry>, side: &str) -> Result<Index, PlanError> {
    for e in &entries {
        if let Err(why) = paths::check(&e.path) {
            return Err(PlanError::InvalidInput(format!(
                "{side} {:?} is not a safe relative path: {why}",
                e.path
            )));
        }
    }
    // Listings usually come sorted. Sorted in place when not: a stable sort
    // would take a scratch buffer of half the list first, and equal paths
    // are refused just below whatever their order.
    if !entries.is_sorted_by(|a, b| a.path <= b.path) {
        entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    }
    if let Some(twice) = entries.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(PlanError::InvalidInput(format!(
            "{side} {:?} is listed twice",
            twice[0].path
        )));
    }
    Ok(Index(entries))
}

/// Refuses a source where one path is both a file and a folder (`a` and `a/b`):
/// such a tree cannot be written to a file system.
fn check_tree(source: &Index, side: &str) -> Result<(), PlanError> {
    for path in source.keys() {
        if let Some(dir) = paths::ancestors(path).find(|d| source.contains_key(d)) {
            return Err(PlanError::InvalidInput(format!(
                "{side} {dir:?} is both a file and the folder of {path:?}; rename one of them at the source"
            )));
        }
    }
    Ok(())
}

/// An input going up with the defaults of a plain sync (tests here and in
/// the session's).
#[cfg(test)]
pub(crate) fn test_input(source: Vec<Entry>, target: Vec<Entry>) -> Input {
    Input {
        direction: Direction::Up,
        source_missing: false,
        source,
        source_complete: true,
        never_delete: false,
        restore_elsewhere: false,
        target,
        mtime_window_ns: 1,
        max_delete: None,
        max_overwrite: None,
        confirmed: false,
        checksum: false,
        source_hashes: BTreeMap::new(),
        target_hashes: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, size: u64, mtime: i64) -> Entry {
        Entry {
            path: path.into(),
            size,
            mtime_ns: mtime,
            mode: Some(0o644),
        }
    }

    use super::test_input as input;

    #[test]
    fn copies_new_and_changed_deletes_extras_skips_equal() {
        let p = plan(input(
            vec![
                e("new", 1, 10),
                e("same", 2, 20),
                e("changed", 3, 30),
                e("touched", 4, 40),
            ],
            vec![
                e("same", 2, 20),
                e("changed", 5, 30),
                e("touched", 4, 99),
                e("gone", 1, 1),
            ],
        ))
        .unwrap();
        assert_eq!(
            p.copy,
            vec![e("changed", 3, 30), e("new", 1, 10), e("touched", 4, 40)]
        );
        assert_eq!(p.delete, ["gone"]);
        assert!(p.make_room.is_empty() && p.set_mode.is_empty());
        assert_eq!(p.unchanged, 1);
        assert_eq!(p.withheld_reason, None);
    }

    #[test]
    fn times_within_the_window_are_equal() {
        let mut i = input(
            vec![e("a", 1, 1_000_000_000)],
            vec![e("a", 1, 1_000_000_999)],
        );
        i.mtime_window_ns = 1_000;
        assert_eq!(plan(i.clone()).unwrap().unchanged, 1);
        i.mtime_window_ns = 998;
        assert_eq!(plan(i).unwrap().copy.len(), 1);
    }

    #[test]
    fn checksum_mode_compares_content_not_times() {
        let h = |b: u8| vec![b; 32];
        let mut i = input(
            vec![
                e("same", 1, 1),
                e("touched", 1, 1),
                e("edited", 1, 1),
                e("unknown", 1, 1),
            ],
            vec![
                e("same", 1, 1),
                e("touched", 1, 999),
                e("edited", 1, 1),
                e("unknown", 1, 1),
            ],
        );
        i.checksum = true;
        for (p, s, t) in [("same", 1, 1), ("touched", 2, 2), ("edited", 3, 4)] {
            i.source_hashes.insert(p.into(), h(s));
            i.target_hashes.insert(p.into(), h(t));
        }
        i.source_hashes.insert("unknown".into(), h(5));
        let p = plan(i).unwrap();
        // A new time with the same content is unchanged; the same time with
        // other content, or a hash that is not known, is copied.
        let copied: Vec<_> = p.copy.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(copied, ["edited", "unknown"]);
        assert_eq!(p.unchanged, 2);
    }

    #[test]
    fn mode_change_alone_sets_mode() {
        let mut src = e("a", 1, 1);
        src.mode = Some(0o600);
        let p = plan(input(vec![src.clone()], vec![e("a", 1, 1)])).unwrap();
        assert_eq!(p.set_mode, vec![src]);
        assert!(p.copy.is_empty());
        // A side that keeps no mode never triggers a change.
        let mut dst = e("a", 1, 1);
        dst.mode = None;
        assert_eq!(
            plan(input(vec![e("a", 1, 1)], vec![dst]))
                .unwrap()
                .unchanged,
            1
        );
    }

    #[test]
    fn missing_source_never_deletes() {
        let mut i = input(vec![], vec![e("a", 1, 1), e("b", 1, 1)]);
        i.source_missing = true;
        let p = plan(i).unwrap();
        assert_eq!(
            p,
            Plan {
                withheld_deletions: 2,
                withheld_reason: p.withheld_reason,
                ..Plan::default()
            }
        );
        assert_eq!(p.withheld_deletions, 2);
        assert_eq!(p.withheld_reason, Some(Withheld::SourceMissing));
    }

    #[test]
    fn empty_source_never_deletes() {
        let p = plan(input(vec![], vec![e("a", 1, 1)])).unwrap();
        assert!(p.delete.is_empty() && p.copy.is_empty());
        assert_eq!(p.withheld_reason, Some(Withheld::SourceEmpty));
    }

    #[test]
    fn incomplete_source_copies_but_never_deletes() {
        let mut i = input(vec![e("a", 1, 1)], vec![e("b", 1, 1)]);
        i.source_complete = false;
        let p = plan(i).unwrap();
        assert_eq!(p.copy, vec![e("a", 1, 1)]);
        assert!(p.delete.is_empty());
        assert_eq!(p.withheld_reason, Some(Withheld::SourceIncomplete));
        assert_eq!(p.withheld_deletions, 1);
    }

    #[test]
    fn never_delete_copies_and_keeps_the_targets_extras() {
        // A rerun of an upload: `b` was uploaded and wiped locally before.
        let mut i = input(vec![e("a", 1, 1)], vec![e("b", 1, 1), e("c", 1, 1)]);
        i.never_delete = true;
        let p = plan(i).unwrap();
        assert_eq!(p.copy, vec![e("a", 1, 1)]);
        assert!(p.delete.is_empty() && p.make_room.is_empty());
        assert_eq!(p.withheld_reason, Some(Withheld::NeverDelete));
        assert_eq!(p.withheld_deletions, 2);
        assert_eq!(p.guard_trips, [], "nothing to delete, nothing to guard");
    }

    #[test]
    fn deletions_in_the_way_of_a_copy_come_first() {
        // The target has a file `d` where the source now has a folder `d`,
        // and a folder `f` where the source now has a file `f`.
        let p = plan(input(
            vec![e("d/x", 1, 1), e("f", 1, 1), e("keep", 1, 1)],
            vec![
                e("d", 1, 1),
                e("f/y", 1, 1),
                e("keep", 1, 1),
                e("old", 1, 1),
            ],
        ))
        .unwrap();
        assert_eq!(p.make_room, ["d", "f/y"]);
        assert_eq!(p.copy, vec![e("d/x", 1, 1), e("f", 1, 1)]);
        assert_eq!(p.delete, ["old"]);
    }

    #[test]
    fn unsafe_remote_keys_are_refused_by_name() {
        let mut i = input(vec![e("../../etc/passwd", 1, 1)], vec![]);
        i.direction = Direction::Down;
        let PlanError::InvalidInput(msg) = plan(i).unwrap_err();
        assert!(msg.contains("remote object \"../../etc/passwd\""), "{msg}");
        let i = input(vec![e("ok", 1, 1)], vec![e("/abs", 1, 1)]);
        let PlanError::InvalidInput(msg) = plan(i).unwrap_err();
        assert!(msg.contains("remote object \"/abs\""), "{msg}");
    }

    #[test]
    fn duplicates_and_file_folder_clashes_are_refused() {
        let PlanError::InvalidInput(msg) =
            plan(input(vec![e("a", 1, 1), e("a", 2, 2)], vec![])).unwrap_err();
        assert!(msg.contains("listed twice"), "{msg}");
        let PlanError::InvalidInput(msg) =
            plan(input(vec![e("a", 1, 1), e("a/b", 2, 2)], vec![])).unwrap_err();
        assert!(msg.contains("both a file and the folder"), "{msg}");
    }

    fn deleting(n_target: usize, n_keep: usize) -> Input {
        let target: Vec<Entry> = (0..n_target).map(|i| e(&format!("f{i}"), 1, 1)).collect();
        input(target[..n_keep].to_vec(), target)
    }

    #[test]
    fn the_default_guard_stops_deleting_more_than_half() {
        // 10 files, keep 5: deleting half is allowed.
        assert_eq!(plan(deleting(10, 5)).unwrap().guard_trips, []);
        // Keep 4: deleting 6 of 10 trips.
        let p = plan(deleting(10, 4)).unwrap();
        let [trip] = &p.guard_trips[..] else {
            panic!("one trip: {:?}", p.guard_trips)
        };
        assert_eq!(
            (trip.kind, trip.count, trip.target_files, trip.limit),
            (GuardKind::Delete, 6, 10, 5)
        );
        assert!(trip.reason.contains("more than half"), "{}", trip.reason);
        assert!(trip.reason.contains("--yes"), "{}", trip.reason);
        // The plan is still shown in full, for a dry run.
        assert_eq!(p.delete.len(), 6);
        // --yes lifts the default rule.
        let mut i = deleting(10, 4);
        i.confirmed = true;
        assert_eq!(plan(i).unwrap().guard_trips, []);
    }

    #[test]
    fn the_default_guard_never_deletes_every_file() {
        // The source has one unrelated file; every target file would go.
        let mut i = deleting(2, 0);
        i.source = vec![e("other", 1, 1)];
        let trip = plan(i).unwrap().guard_trips.remove(0);
        assert!(
            trip.reason.contains("never delete every file"),
            "{}",
            trip.reason
        );
    }

    #[test]
    fn an_explicit_limit_holds_even_with_yes() {
        let mut i = deleting(100, 90);
        i.max_delete = Some(Limit::Count(5));
        i.confirmed = true;
        let trip = plan(i.clone()).unwrap().guard_trips.remove(0);
        assert!(trip.reason.contains("--max-delete 5"), "{}", trip.reason);
        i.max_delete = Some(Limit::Count(10));
        assert_eq!(plan(i.clone()).unwrap().guard_trips, []);
        i.max_delete = Some(Limit::Percent(9));
        assert_eq!(plan(i.clone()).unwrap().guard_trips.len(), 1);
        i.max_delete = Some(Limit::Percent(10));
        assert_eq!(plan(i).unwrap().guard_trips, []);
    }

    /// `n_target` files on both sides, the first `n_rewritten` of them with
    /// other content at the source.
    fn rewriting(n_target: usize, n_rewritten: usize) -> Input {
        let target: Vec<Entry> = (0..n_target).map(|i| e(&format!("f{i}"), 1, 1)).collect();
        let mut source = target.clone();
        for s in &mut source[..n_rewritten] {
            s.size = 2;
        }
        input(source, target)
    }

    fn trips(i: Input) -> Vec<(GuardKind, u64, u64, u64)> {
        plan(i)
            .unwrap()
            .guard_trips
            .iter()
            .map(|t| (t.kind, t.count, t.target_files, t.limit))
            .collect()
    }

    #[test]
    fn the_default_guard_stops_overwriting_more_than_half() {
        // 10 files, 5 rewritten: half is allowed.
        assert_eq!(trips(rewriting(10, 5)), []);
        // 6 of 10 trips, with its own words.
        let p = plan(rewriting(10, 6)).unwrap();
        let [trip] = &p.guard_trips[..] else {
            panic!("one trip: {:?}", p.guard_trips)
        };
        assert_eq!(
            (trip.kind, trip.count, trip.target_files, trip.limit),
            (GuardKind::Overwrite, 6, 10, 5)
        );
        for words in [
            "the plan overwrites 6 of the 10 files the copy holds",
            "never overwrite more than half of the files (any 3 may) without --yes",
            "ransomware",
            "--yes or a larger --max-overwrite",
            "--checksum copies none of them",
        ] {
            assert!(trip.reason.contains(words), "{words:?}: {}", trip.reason);
        }
        // The plan is still shown in full, for a dry run.
        assert_eq!(p.copy.len(), 6);
        assert_eq!(p.unchanged, 4);
        // An upload (never-delete mode) is guarded the same way.
        let mut i = rewriting(10, 6);
        i.never_delete = true;
        assert_eq!(trips(i), [(GuardKind::Overwrite, 6, 10, 5)]);
        // --yes lifts the default rule.
        let mut i = rewriting(10, 6);
        i.confirmed = true;
        assert_eq!(trips(i), []);
        // With --checksum there is no hint about times.
        let mut i = rewriting(10, 6);
        i.checksum = true;
        let trip = plan(i).unwrap().guard_trips.remove(0);
        assert!(!trip.reason.contains("--checksum"), "{}", trip.reason);
    }

    #[test]
    fn a_few_files_may_all_change_without_yes() {
        // Up to OVERWRITE_FLOOR files may change whatever the share.
        for n in 1..=OVERWRITE_FLOOR as usize {
            assert_eq!(trips(rewriting(n, n)), [], "{n} of {n}");
        }
        assert_eq!(trips(rewriting(6, 3)), []);
        // One more than the floor, and more than half, trips.
        assert_eq!(
            trips(rewriting(4, 4)),
            [(GuardKind::Overwrite, 4, 4, OVERWRITE_FLOOR)]
        );
        assert_eq!(
            trips(rewriting(7, 4)),
            [(GuardKind::Overwrite, 4, 7, OVERWRITE_FLOOR)]
        );
        // Above the floor, half of the files is the limit.
        assert_eq!(trips(rewriting(1000, 500)), []);
        assert_eq!(
            trips(rewriting(1000, 812)),
            [(GuardKind::Overwrite, 812, 1000, 500)]
        );
    }

    #[test]
    fn new_files_and_a_first_backup_are_no_overwrites() {
        // A first backup: the target is empty.
        let source: Vec<Entry> = (0..50).map(|i| e(&format!("f{i}"), 1, 1)).collect();
        assert_eq!(trips(input(source.clone(), vec![])), []);
        // Many new files beside a few old ones, one of them changed.
        let mut i = input(source, vec![e("f0", 9, 9), e("f1", 1, 1)]);
        assert_eq!(trips(i.clone()), []);
        // Unchanged files, and files whose permissions alone changed, are
        // not overwritten either.
        i.source = vec![e("f0", 9, 9), e("f1", 1, 1)];
        i.source[0].mode = Some(0o600);
        let p = plan(i).unwrap();
        assert_eq!((p.set_mode.len(), p.unchanged), (1, 1));
        assert_eq!(p.guard_trips, []);
    }

    #[test]
    fn the_users_overwrite_limit_holds_even_with_yes() {
        let mut i = rewriting(100, 10);
        i.max_overwrite = Some(Limit::Count(5));
        i.confirmed = true;
        let trip = plan(i.clone()).unwrap().guard_trips.remove(0);
        assert_eq!(
            (trip.kind, trip.count, trip.limit),
            (GuardKind::Overwrite, 10, 5)
        );
        assert!(trip.reason.contains("--max-overwrite 5"), "{}", trip.reason);
        i.max_overwrite = Some(Limit::Count(10));
        assert_eq!(trips(i.clone()), []);
        i.max_overwrite = Some(Limit::Percent(9));
        assert_eq!(trips(i.clone()), [(GuardKind::Overwrite, 10, 100, 9)]);
        assert!(
            plan(i.clone()).unwrap().guard_trips[0]
                .reason
                .contains("--max-overwrite 9%")
        );
        i.max_overwrite = Some(Limit::Percent(10));
        assert_eq!(trips(i.clone()), []);
        // A user limit replaces the default rule: 80 of 100 may go with 80%,
        // and a limit of 0 refuses every overwrite, even below the floor.
        let mut i = rewriting(100, 80);
        i.max_overwrite = Some(Limit::Percent(80));
        assert_eq!(trips(i), []);
        let mut i = rewriting(2, 1);
        i.max_overwrite = Some(Limit::Count(0));
        assert_eq!(trips(i), [(GuardKind::Overwrite, 1, 2, 0)]);
        // The deletion limit does not govern overwrites, nor the reverse.
        let mut i = rewriting(10, 8);
        i.max_delete = Some(Limit::Count(100));
        assert_eq!(trips(i.clone()).len(), 1);
        i.max_overwrite = Some(Limit::Count(8));
        i.max_delete = Some(Limit::Count(0));
        assert_eq!(trips(i), []);
    }

    #[test]
    fn both_guards_can_trip_at_once() {
        // 10 files: 6 rewritten and the other 4 gone, one new. Under the
        // default rules only one can trip (the two counts add up to at most
        // the target's files); with the user's limits both do, deletions first.
        let mut i = rewriting(10, 6);
        i.source.truncate(6);
        i.source.push(e("new", 1, 1));
        assert_eq!(trips(i.clone()), [(GuardKind::Overwrite, 6, 10, 5)]);
        i.max_delete = Some(Limit::Count(3));
        assert_eq!(
            trips(i),
            [
                (GuardKind::Delete, 4, 10, 3),
                (GuardKind::Overwrite, 6, 10, 5)
            ]
        );
    }

    fn excluding(patterns: &[&str]) -> Filtering {
        Filtering {
            spec: filter::Spec {
                exclude: patterns
                    .iter()
                    .map(|p| filter::Line {
                        text: p.to_string(),
                        from_file: false,
                        origin: "--exclude".into(),
                    })
                    .collect(),
                ..filter::Spec::default()
            },
            delete_excluded: false,
        }
    }

    fn paths(excluded: &[Excluded]) -> Vec<(&str, u64)> {
        excluded
            .iter()
            .map(|x| (x.path.as_str(), x.files))
            .collect()
    }

    #[test]
    fn excluded_files_are_neither_copied_nor_deleted() {
        let i = input(
            vec![e("a.txt", 1, 1), e("b.log", 1, 1), e("cache/x", 1, 1)],
            vec![e("old.log", 1, 1), e("cache/y", 1, 1), e("gone.txt", 1, 1)],
        );
        let p = plan_filtered(i, &excluding(&["*.log", "cache/"])).unwrap();
        assert_eq!(p.copy, vec![e("a.txt", 1, 1)]);
        assert_eq!(p.delete, ["gone.txt"]);
        assert_eq!(paths(&p.excluded_source), [("b.log", 1), ("cache/", 1)]);
        assert_eq!(paths(&p.excluded_target), [("cache/", 1), ("old.log", 1)]);
        let rule = &p.excluded_source[0].rule;
        assert_eq!(
            (rule.pattern.as_str(), rule.origin.as_str()),
            ("*.log", "--exclude")
        );
        // Deleting the one target file the filter keeps would be all of
        // them: the guard counts only what the filter keeps.
        assert_eq!(p.guard_trips[0].target_files, 1);
    }

    #[test]
    fn delete_excluded_deletes_the_targets_excluded_files() {
        let i = input(
            vec![e("a.txt", 1, 1), e("b.log", 1, 1)],
            vec![e("a.txt", 1, 1), e("b.log", 1, 1), e("c.log", 1, 1)],
        );
        let mut f = excluding(&["*.log"]);
        f.delete_excluded = true;
        let mut i2 = i.clone();
        i2.confirmed = true;
        let p = plan_filtered(i2, &f).unwrap();
        assert_eq!(p.delete, ["b.log", "c.log"]);
        assert!(p.copy.is_empty() && p.excluded_target.is_empty());
        assert_eq!(paths(&p.excluded_source), [("b.log", 1)]);
        // The guard sees the whole target: 2 of 3 is more than half.
        let trip = &plan_filtered(i, &f).unwrap().guard_trips[0];
        assert_eq!(
            (trip.kind, trip.count, trip.target_files, trip.limit),
            (GuardKind::Delete, 2, 3, 1)
        );
    }

    #[test]
    fn a_source_whose_every_file_is_excluded_never_wipes_its_copy() {
        let i = input(vec![e("a.log", 1, 1)], vec![e("b.txt", 1, 1)]);
        let mut f = excluding(&["*.log"]);
        let p = plan_filtered(i.clone(), &f).unwrap();
        assert!(p.delete.is_empty() && p.copy.is_empty());
        assert_eq!(p.withheld_reason, Some(Withheld::NothingSelected));
        // Not even with --delete-excluded.
        f.delete_excluded = true;
        let p = plan_filtered(i, &f).unwrap();
        assert!(p.delete.is_empty());
        assert_eq!(p.withheld_reason, Some(Withheld::NothingSelected));
    }

    #[test]
    fn a_restore_of_one_file_touches_nothing_else() {
        let mut i = input(
            vec![
                e("notes/todo.txt", 5, 5),
                e("notes/done.txt", 1, 1),
                e("pic.jpg", 1, 1),
            ],
            vec![
                e("notes/todo.txt", 9, 9),
                e("mine.txt", 1, 1),
                e("pic.jpg", 2, 2),
            ],
        );
        i.direction = Direction::Down;
        let f = Filtering {
            spec: filter::Spec {
                include: vec![filter::Line {
                    text: "/notes/todo.txt".into(),
                    from_file: false,
                    origin: "--include".into(),
                }],
                ..filter::Spec::default()
            },
            delete_excluded: false,
        };
        let p = plan_filtered(i, &f).unwrap();
        assert_eq!(p.copy, vec![e("notes/todo.txt", 5, 5)]);
        assert!(p.delete.is_empty() && p.make_room.is_empty());
        assert_eq!(paths(&p.excluded_target), [("mine.txt", 1), ("pic.jpg", 1)]);
        assert_eq!(
            paths(&p.excluded_source),
            [("notes/done.txt", 1), ("pic.jpg", 1)]
        );
        assert_eq!(p.guard_trips, []);
    }

    #[test]
    fn a_restore_elsewhere_deletes_nothing_there() {
        // `download --to`: the folder holds the user's own files; one of
        // them (`d`) stands where the copy has a folder.
        let target = vec![e("mine.txt", 1, 1), e("d", 1, 1), e("a", 9, 9)];
        let mut i = input(vec![e("a", 1, 1), e("d/x", 1, 1)], target);
        i.direction = Direction::Down;
        i.restore_elsewhere = true;
        let p = plan(i.clone()).unwrap();
        assert_eq!(p.copy, vec![e("a", 1, 1), e("d/x", 1, 1)]);
        assert!(p.delete.is_empty() && p.make_room.is_empty());
        assert_eq!(p.withheld_reason, Some(Withheld::RestoreElsewhere));
        assert_eq!(p.withheld_deletions, 2);
        assert_eq!(p.guard_trips, []);
        // Nor with a filter and --delete-excluded, nor from an empty copy.
        let mut f = excluding(&["a"]);
        f.delete_excluded = true;
        let p = plan_filtered(i.clone(), &f).unwrap();
        assert_eq!(p.copy, vec![e("d/x", 1, 1)]);
        assert!(p.delete.is_empty() && p.make_room.is_empty());
        assert_eq!(p.withheld_reason, Some(Withheld::RestoreElsewhere));
        i.source.clear();
        let p = plan(i).unwrap();
        assert!(p.delete.is_empty() && p.copy.is_empty());
        // Without it, the same download makes the folder equal to the copy.
        let mut i = input(
            vec![e("a", 1, 1), e("d/x", 1, 1)],
            vec![e("d", 1, 1), e("b", 1, 1)],
        );
        i.direction = Direction::Down;
        let p = plan(i).unwrap();
        assert_eq!(
            (p.make_room, p.delete),
            (vec!["d".to_string()], vec!["b".to_string()])
        );
    }

    #[test]
    fn a_bad_pattern_or_an_unsafe_excluded_path_is_refused() {
        let i = input(vec![e("a", 1, 1)], vec![]);
        let PlanError::InvalidInput(msg) = plan_filtered(i, &excluding(&["a["])).unwrap_err();
        assert!(
            msg.starts_with("the filter pattern \"a[\" (--exclude) is not valid"),
            "{msg}"
        );
        // Paths are checked before the filter: excluding one does not hide it.
        let i = input(vec![e("ok", 1, 1)], vec![e("../x.log", 1, 1)]);
        let PlanError::InvalidInput(msg) = plan_filtered(i, &excluding(&["*.log"])).unwrap_err();
        assert!(msg.contains("not a safe relative path"), "{msg}");
    }

    #[test]
    fn a_download_may_overwrite_every_local_file() {
        // A restore after a local mass rewrite replaces every file.
        let mut i = rewriting(100, 100);
        i.direction = Direction::Down;
        assert_eq!(trips(i.clone()), []);
        // Even a user limit is for the way up only.
        i.max_overwrite = Some(Limit::Count(0));
        assert_eq!(trips(i), []);
    }
}
