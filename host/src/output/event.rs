//! What poof reports while it syncs, uploads, downloads, checks or lists: one
//! `Event` per thing worth telling, rendered by `Output::emit` either as the
//! text lines people read or as the JSON objects `--json` prints.
//!
//! Invariant: an event's text and its JSON come from the same fields, in one
//! place, so the two outputs cannot drift apart; both are part of poof's
//! interface (tests and scripts read them), so a change here is a change of
//! that interface.

use std::path::Path;

use serde_json::{Value, json};

use super::human_bytes;
use crate::engine::sync::{Entry, Excluded, GuardKind, GuardTrip, Plan, Withheld};
use crate::exit::Exit;

/// One thing poof reports during a sync, an upload or a check.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Something the user should know; the run goes on.
    Warning(&'a str),
    /// Something failed (an action, a path, a step); the run goes on when it can.
    Error(&'a str),

    /// A sync starts with `--dry-run`.
    DryRun,
    /// The guest's plan for one path, before anything is done.
    Plan {
        /// The local folder.
        path: &'a Path,
        /// The remote, as `Remote::describe` names it.
        remote: &'a str,
        /// The folder on the remote.
        cloud: &'a str,
        /// True for backup and upload, false for download.
        up: bool,
        /// The plan.
        plan: &'a Plan,
    },
    /// Every action of a plan, one line each (shown with `--dry-run` or `--verbose`).
    PlanActions(&'a Plan),
    /// A file, or a folder of files, that a filter left out of a plan: a
    /// line with `--dry-run` or `--verbose`, always a JSON event.
    Excluded {
        /// The local folder.
        path: &'a Path,
        /// What was left out, and by which rule.
        excluded: &'a Excluded,
        /// True for the target's files (kept as they are), false for the
        /// source's (not copied).
        on_target: bool,
        /// True for backup and upload, false for download.
        up: bool,
        /// The run changes nothing.
        dry_run: bool,
    },
    /// `upload` keeps the remote files the local folder lacks.
    ExtrasKept {
        /// The local folder.
        path: &'a Path,
        /// How many remote files are kept.
        count: u64,
    },
    /// The guest held back a plan's deletions.
    Withheld {
        /// The local folder.
        path: &'a Path,
        /// How many deletions were held back.
        count: u64,
        /// Why.
        why: Withheld,
    },
    /// A guard (mass delete, mass rewrite) refused a path's plan, which is
    /// therefore not run; one event per guard that tripped.
    Refused {
        /// The local folder.
        path: &'a Path,
        /// The guest's finding: which guard, the counts, and in words which
        /// rule tripped and how to go on.
        trip: &'a GuardTrip,
        /// True when nothing would have run anyway.
        dry_run: bool,
    },
    /// A file was copied.
    Copied {
        /// The local folder.
        path: &'a Path,
        /// The file, relative to it.
        file: &'a str,
        /// Its size.
        bytes: u64,
        /// Files copied so far on this path, this one included.
        done_files: u64,
        /// Bytes copied so far on this path, this file included.
        done_bytes: u64,
        /// Files the plan copies on this path.
        total_files: usize,
        /// Bytes the plan copies on this path.
        total_bytes: u64,
    },
    /// A file was deleted (from the remote on backup, locally on download).
    Deleted {
        /// The local folder.
        path: &'a Path,
        /// The file, relative to it.
        file: &'a str,
    },
    /// A path's deletions were not run because an earlier action failed.
    DeletionsNotRun {
        /// The local folder.
        path: &'a Path,
        /// How many deletions the plan held.
        count: usize,
    },
    /// How the sync of one path ended.
    PathResult {
        /// The local folder.
        path: &'a Path,
        /// Files copied.
        copied: u64,
        /// Bytes copied.
        copied_bytes: u64,
        /// Files whose permissions were updated.
        modes_set: u64,
        /// Files deleted.
        deleted: u64,
        /// Files already equal.
        unchanged: u64,
        /// Source files the filters left out.
        excluded: u64,
        /// Actions that failed.
        failed: usize,
    },
    /// How a whole sync ended. With failed paths it also carries the error
    /// that says so.
    Summary {
        /// The run changed nothing.
        dry_run: bool,
        /// Paths configured.
        paths: usize,
        /// Paths with at least one failure.
        failed_paths: usize,
        /// Paths whose plan was refused.
        refused_paths: usize,
        /// Files copied, over all paths.
        copied: u64,
        /// Bytes copied, over all paths.
        copied_bytes: u64,
        /// Permission updates, over all paths.
        modes_set: u64,
        /// Files deleted, over all paths.
        deleted: u64,
        /// Files already equal, over all paths.
        unchanged: u64,
        /// The run's duration.
        seconds: f64,
        /// Requests sent to the remote, when it counts them.
        requests: Option<u64>,
        /// The exit code the run ends with.
        exit: Exit,
    },

    /// `check` starts on one path.
    CheckPath {
        /// The local folder.
        path: &'a Path,
        /// The remote, as `Remote::describe` names it.
        remote: &'a str,
        /// The folder on the remote.
        cloud: &'a str,
    },
    /// `check` found a difference.
    Difference {
        /// The local folder.
        path: &'a Path,
        /// The file, relative to it (empty for a listing problem).
        file: &'a str,
        /// What differs.
        found: Found<'a>,
    },
    /// How `check` ended on one path.
    CheckResult {
        /// Files identical on both sides.
        same: usize,
        /// Differences found.
        differences: usize,
    },
    /// How `check` ended over all paths.
    CheckSummary {
        /// Differences found.
        differences: usize,
    },

    /// `upload --dry-run`: this path's verified files would be wiped.
    WouldWipe {
        /// The local folder.
        path: &'a Path,
    },
    /// `upload --dry-run`: poof would neuter itself at the end.
    WouldNeuter,
    /// `upload` keeps a local file: the guest's wipe plan says so, or its
    /// removal failed.
    Kept {
        /// The local folder.
        path: &'a Path,
        /// The file, relative to it.
        file: &'a str,
        /// Why it is kept.
        reason: &'a str,
        /// True when the wipe tried and failed, false when the guest kept it.
        removal_failed: bool,
    },
    /// `upload` removed a link, not what it points to.
    LinkRemoved {
        /// The link.
        link: &'a Path,
    },
    /// How the wipe of one path ended.
    Wiped {
        /// The local folder.
        path: &'a Path,
        /// Files verified and wiped.
        wiped: usize,
        /// Files kept.
        kept: usize,
        /// Folders removed because the wipe emptied them.
        folders_removed: usize,
        /// The files were overwritten before removal.
        shred: bool,
    },
    /// How `upload` ended over all paths.
    UploadSummary {
        /// Files verified and wiped.
        wiped: usize,
        /// Files kept.
        kept: usize,
        /// The exit code the run ends with.
        exit: Exit,
    },
    /// `upload` goes on to neuter poof.
    Neutering,

    /// `poof ls` without an argument: what the remote holds for one path.
    LsPath {
        /// The cloud folder.
        cloud: &'a str,
        /// The local folder.
        path: &'a Path,
        /// False when nothing was ever stored under the cloud folder.
        exists: bool,
        /// Files it holds.
        files: usize,
        /// Their total size.
        bytes: u64,
        /// The newest modification time among them, in nanoseconds.
        newest_ns: Option<i64>,
    },
    /// `poof ls CLOUDDIR`: one file the remote holds.
    LsFile {
        /// The cloud folder.
        cloud: &'a str,
        /// The file, its path relative to the cloud folder.
        entry: &'a Entry,
    },
}

/// What `check` found about one file.
#[derive(Debug, Clone, Copy)]
pub enum Found<'a> {
    /// A listing problem: something could not be checked at all.
    Unlisted(&'a str),
    /// The file is here and not on the remote.
    OnlyHere,
    /// The file is on the remote and not here.
    OnlyOnCopy,
    /// The contents differ.
    Differs,
    /// One side could not be read, for the reason given.
    Unreadable(&'a str),
}

/// One piece of an event's rendering; `Output::emit` writes them in order.
#[derive(Debug, PartialEq)]
pub(super) enum Piece {
    /// A result line on stdout; hidden by `--quiet` and `--json`.
    Line(String),
    /// A result line shown only with `--verbose`.
    Verbose(String),
    /// `poof: warning: ..` on stderr, and a `warning` event with `--json`.
    Warning(String),
    /// `poof: error: ..` on stderr, and an `error` event with `--json`.
    Error(String),
    /// A JSON object, printed only with `--json`.
    Json(Value),
}

impl Event<'_> {
    /// The pieces this event is written as, in order.
    pub(super) fn pieces(&self) -> Vec<Piece> {
        use Piece::{Error, Json, Line, Verbose, Warning};
        match *self {
            Event::Warning(s) => vec![Warning(s.to_string())],
            Event::Error(s) => vec![Error(s.to_string())],
            Event::DryRun => vec![Line("dry run: nothing will be changed".into())],
            Event::Plan {
                path,
                remote,
                cloud,
                up,
                plan,
            } => vec![
                Line(format!(
                    "{} {} {remote}/{cloud}",
                    path.display(),
                    if up { "->" } else { "<-" }
                )),
                Json(json!({
                    "event": "plan",
                    "path": path,
                    "cloud": cloud,
                    "direction": if up { "up" } else { "down" },
                    "copy": plan.copy.len(),
                    "copy_bytes": plan.copy.iter().map(|e| e.size).sum::<u64>(),
                    "set_mode": plan.set_mode.len(),
                    "delete": plan.make_room.len() + plan.delete.len(),
                    "unchanged": plan.unchanged,
                    "excluded": plan.excluded_source.iter().map(|x| x.files).sum::<u64>(),
                    "excluded_on_target": plan.excluded_target.iter().map(|x| x.files).sum::<u64>(),
                    "withheld_deletions": plan.withheld_deletions,
                    // Every tripped guard's words; the `refused` events
                    // that follow give each one's kind and counts.
                    "guard": (!plan.guard_trips.is_empty()).then(|| {
                        let reasons: Vec<&str> =
                            plan.guard_trips.iter().map(|g| g.reason.as_str()).collect();
                        reasons.join("; ")
                    }),
                })),
            ],
            Event::PlanActions(plan) => plan_actions(plan),
            Event::Excluded {
                path,
                excluded,
                on_target,
                up,
                dry_run,
            } => {
                let files = if excluded.path.ends_with('/') {
                    format!(" ({} files)", excluded.files)
                } else {
                    String::new()
                };
                let why = format!("`{}` from {}", excluded.pattern, excluded.origin);
                let line = if on_target {
                    let side = if up { "the copy" } else { "this machine" };
                    format!(
                        "  keep    {}{files}  on {side}: excluded by {why}",
                        excluded.path
                    )
                } else {
                    format!("  exclude {}{files}  by {why}", excluded.path)
                };
                // The local side is the source going up, the target going down.
                let side = if on_target == up { "remote" } else { "local" };
                vec![
                    if dry_run { Line(line) } else { Verbose(line) },
                    Json(json!({
                        "event": "excluded", "path": path, "file": excluded.path,
                        "files": excluded.files, "side": side,
                        "kept": on_target, "pattern": excluded.pattern,
                        "origin": excluded.origin,
                    })),
                ]
            }
            Event::ExtrasKept { path, count } => vec![Line(format!(
                "  {count} files on the remote that {} lacks are kept: upload never deletes remote copies",
                path.display()
            ))],
            // A restore with --to keeps the folder's other files by design:
            // a result line, not a warning.
            Event::Withheld {
                path,
                count,
                why: Withheld::RestoreElsewhere,
            } => vec![Line(format!(
                "  {count} files in {} that the copy lacks are kept: a restore with --to deletes nothing",
                path.display()
            ))],
            Event::Withheld { path, count, why } => {
                let why = match why {
                    Withheld::SourceMissing => "the source is missing",
                    Withheld::SourceEmpty => {
                        "the source is empty, and an empty source never wipes its copy"
                    }
                    Withheld::SourceIncomplete => "some source files could not be read",
                    Withheld::NeverDelete => "upload never deletes remote copies",
                    Withheld::RestoreElsewhere => "a restore with --to deletes nothing",
                    Withheld::NothingSelected => {
                        "the filters leave out every source file, and a source with nothing \
                         selected never wipes its copy"
                    }
                };
                vec![Warning(format!(
                    "{}: {count} deletions held back because {why}",
                    path.display()
                ))]
            }
            Event::Refused {
                path,
                trip,
                dry_run,
            } => {
                let what = if dry_run {
                    "would be refused"
                } else {
                    "refused"
                };
                let (kind, guard) = match trip.kind {
                    GuardKind::Delete => ("delete", "mass-delete guard"),
                    GuardKind::Overwrite => ("overwrite", "mass-rewrite guard"),
                };
                vec![
                    Error(format!(
                        "{}: {what} by the {guard}: {}",
                        path.display(),
                        trip.reason
                    )),
                    Json(json!({
                        "event": "refused", "path": path, "kind": kind,
                        "count": trip.count, "target_files": trip.target_files,
                        "limit": trip.limit, "reason": trip.reason, "dry_run": dry_run,
                    })),
                ]
            }
            Event::Copied {
                path,
                file,
                bytes,
                done_files,
                done_bytes,
                total_files,
                total_bytes,
            } => vec![
                Verbose(format!("  copied  {file}")),
                Json(json!({
                    "event": "copied", "path": path, "file": file, "bytes": bytes,
                    "done_files": done_files, "done_bytes": done_bytes,
                    "total_files": total_files, "total_bytes": total_bytes,
                })),
            ],
            Event::Deleted { path, file } => vec![
                Verbose(format!("  deleted {file}")),
                Json(json!({"event": "deleted", "path": path, "file": file})),
            ],
            Event::DeletionsNotRun { path, count } => vec![Warning(format!(
                "{}: {count} deletions not run because of the errors below",
                path.display()
            ))],
            Event::PathResult {
                path,
                copied,
                copied_bytes,
                modes_set,
                deleted,
                unchanged,
                excluded,
                failed,
            } => {
                let mut line = format!(
                    "  {copied} copied ({}), {deleted} deleted, {unchanged} unchanged",
                    human_bytes(copied_bytes)
                );
                if modes_set > 0 {
                    line += &format!(", {modes_set} permissions updated");
                }
                if excluded > 0 {
                    line += &format!(", {excluded} excluded");
                }
                if failed > 0 {
                    line += &format!(", {failed} failed");
                }
                vec![
                    Line(line),
                    Json(json!({
                        "event": "result",
                        "path": path,
                        "copied": copied,
                        "copied_bytes": copied_bytes,
                        "permissions_updated": modes_set,
                        "deleted": deleted,
                        "unchanged": unchanged,
                        "excluded": excluded,
                        "failed": failed,
                    })),
                ]
            }
            Event::Summary {
                dry_run,
                paths,
                failed_paths,
                refused_paths,
                copied,
                copied_bytes,
                modes_set,
                deleted,
                unchanged,
                seconds,
                requests,
                exit,
            } => {
                let mut pieces = vec![Json(json!({
                    "event": "summary",
                    "dry_run": dry_run,
                    "paths": paths,
                    "failed_paths": failed_paths,
                    "refused_paths": refused_paths,
                    "copied": copied,
                    "copied_bytes": copied_bytes,
                    "permissions_updated": modes_set,
                    "deleted": deleted,
                    "unchanged": unchanged,
                    "seconds": seconds,
                    "requests": requests,
                    "exit_code": exit as u8,
                }))];
                if failed_paths > 0 {
                    pieces.push(Error(format!(
                        "{failed_paths} of {paths} paths had errors (see above); nothing was deleted on those paths after the error. Fix the cause and run poof again"
                    )));
                }
                if !dry_run {
                    pieces.push(Line(format!(
                        "done: {copied} copied ({}), {deleted} deleted, {unchanged} unchanged in {seconds:.1} s ({}/s)",
                        human_bytes(copied_bytes),
                        human_bytes((copied_bytes as f64 / seconds.max(1e-3)) as u64)
                    )));
                }
                pieces
            }
            Event::CheckPath {
                path,
                remote,
                cloud,
            } => vec![Line(format!("{} <-> {remote}/{cloud}", path.display()))],
            Event::Difference { path, file, found } => {
                let (kind, words) = match found {
                    Found::Unlisted(why) => ("unreadable", format!("not checked: {why}")),
                    Found::OnlyHere => ("missing-remotely", format!("only here:        {file}")),
                    Found::OnlyOnCopy => ("only-remotely", format!("only on the copy: {file}")),
                    Found::Differs => ("content", format!("differs:          {file}")),
                    Found::Unreadable(why) => {
                        ("unreadable", format!("not checked:      {file}: {why}"))
                    }
                };
                vec![
                    Line(format!("  {words}")),
                    Json(json!({"event": "difference", "path": path, "file": file, "kind": kind})),
                ]
            }
            Event::CheckResult { same, differences } => vec![Line(format!(
                "  {same} identical, {differences} differences"
            ))],
            Event::CheckSummary { differences } => vec![
                Json(json!({"event": "summary", "differences": differences})),
                Line(if differences > 0 {
                    format!(
                        "{differences} differences; run `poof backup` or `poof download` to settle them"
                    )
                } else {
                    "every file matches its remote copy".into()
                }),
            ],
            Event::WouldWipe { path } => vec![Line(format!(
                "then every file of {} whose copy reads back equal would be wiped",
                path.display()
            ))],
            Event::WouldNeuter => vec![Line(
                "then, if everything succeeded, poof would neuter itself (poof's config folder is a path)"
                    .into(),
            )],
            Event::Kept {
                path,
                file,
                reason,
                removal_failed,
            } => vec![
                Error(if removal_failed {
                    format!("not removed: {} ({file}): {reason}", path.display())
                } else {
                    format!("kept {}: {reason}", path.join(file).display())
                }),
                Json(json!({"event": "kept", "path": path, "file": file, "reason": reason})),
            ],
            Event::LinkRemoved { link } => vec![Verbose(format!(
                "  removed the link {} (not what it points to)",
                link.display()
            ))],
            Event::Wiped {
                path,
                wiped,
                kept,
                folders_removed,
                shred,
            } => vec![
                Line(format!(
                    "  {}: {wiped} verified and wiped, {kept} kept, {folders_removed} emptied folders removed (the folder itself stays)",
                    path.display()
                )),
                Json(json!({
                    "event": "wiped", "path": path, "wiped": wiped, "kept": kept,
                    "folders_removed": folders_removed, "shred": shred,
                })),
            ],
            Event::UploadSummary { wiped, kept, exit } => vec![
                Line(format!(
                    "upload: {wiped} files verified and wiped, {kept} kept"
                )),
                Json(
                    json!({"event": "upload", "wiped": wiped, "kept": kept, "exit_code": exit as u8}),
                ),
            ],
            Event::Neutering => vec![Line(
                "poof's config folder was uploaded: neutering poof".into(),
            )],
            Event::LsPath {
                cloud,
                path,
                exists,
                files,
                bytes,
                newest_ns,
            } => vec![
                Line(match (exists, newest_ns) {
                    (false, _) => format!("{cloud}/  no copy yet  {}", path.display()),
                    (true, None) => format!("{cloud}/  0 files  {}", path.display()),
                    (true, Some(t)) => format!(
                        "{cloud}/  {files} files  {}  newest {}  {}",
                        human_bytes(bytes),
                        utc(t, ' ', ""),
                        path.display()
                    ),
                }),
                Json(json!({
                    "event": "folder", "cloud": cloud, "path": path, "exists": exists,
                    "files": files, "bytes": bytes,
                    "newest": newest_ns.map(|t| utc(t, 'T', "Z")), "newest_ns": newest_ns,
                })),
            ],
            Event::LsFile { cloud, entry } => vec![
                Line(format!(
                    "{:>12} {} {}",
                    entry.size,
                    utc(entry.mtime_ns, ' ', ""),
                    entry.path
                )),
                Json(json!({
                    "event": "file", "cloud": cloud, "path": entry.path, "size": entry.size,
                    "mtime": utc(entry.mtime_ns, 'T', "Z"), "mtime_ns": entry.mtime_ns,
                    "mode": entry.mode,
                })),
            ],
        }
    }
}

/// A time in nanoseconds since the epoch as a UTC date and time with nine
/// decimals, the date and time joined by `sep` and followed by `zone`:
/// `2020-09-13 12:26:40.123456789` as `rclone lsl` prints it (there in
/// local time), `2020-09-13T12:26:40.123456789Z` in RFC 3339.
fn utc(ns: i64, sep: char, zone: &str) -> String {
    use aws_smithy_types::date_time::{DateTime, Format};
    let (secs, nanos) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
    match DateTime::from_secs(secs).fmt(Format::DateTime) {
        // Whole seconds print as `YYYY-MM-DDTHH:MM:SSZ`.
        Ok(t) => format!(
            "{}.{nanos:09}{zone}",
            t.trim_end_matches('Z').replacen('T', &sep.to_string(), 1)
        ),
        Err(_) => ns.to_string(),
    }
}

/// One line per action of a plan, then a line of totals.
fn plan_actions(plan: &Plan) -> Vec<Piece> {
    let mut lines = Vec::new();
    for p in &plan.make_room {
        lines.push(format!("  delete  {p}  (in the way)"));
    }
    for e in &plan.copy {
        lines.push(format!("  copy    {}  ({})", e.path, human_bytes(e.size)));
    }
    for e in &plan.set_mode {
        lines.push(format!(
            "  chmod   {}  ({:04o})",
            e.path,
            e.mode.unwrap_or(0)
        ));
    }
    for p in &plan.delete {
        lines.push(format!("  delete  {p}"));
    }
    let bytes: u64 = plan.copy.iter().map(|e| e.size).sum();
    let mut totals = format!(
        "  would copy {} ({}), delete {}, update permissions of {}; {} unchanged",
        plan.copy.len(),
        human_bytes(bytes),
        plan.make_room.len() + plan.delete.len(),
        plan.set_mode.len(),
        plan.unchanged
    );
    let excluded: u64 = plan.excluded_source.iter().map(|x| x.files).sum();
    let kept: u64 = plan.excluded_target.iter().map(|x| x.files).sum();
    if excluded + kept > 0 {
        totals += &format!("; {excluded} excluded, {kept} excluded on the other side and kept");
    }
    lines.push(totals);
    lines.into_iter().map(Piece::Line).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{Event, Found, Piece};
    use crate::exit::Exit;

    fn json(p: &Piece) -> String {
        match p {
            Piece::Json(v) => v.to_string(),
            other => panic!("not JSON: {other:?}"),
        }
    }

    #[test]
    fn a_sync_summary_reads_as_before_in_text_and_json() {
        let summary = Event::Summary {
            dry_run: false,
            paths: 2,
            failed_paths: 1,
            refused_paths: 0,
            copied: 3,
            copied_bytes: 3 << 20,
            modes_set: 0,
            deleted: 1,
            unchanged: 4,
            seconds: 2.0,
            requests: Some(7),
            exit: Exit::Partial,
        };
        let pieces = summary.pieces();
        assert_eq!(
            json(&pieces[0]),
            r#"{"copied":3,"copied_bytes":3145728,"deleted":1,"dry_run":false,"event":"summary","exit_code":1,"failed_paths":1,"paths":2,"permissions_updated":0,"refused_paths":0,"requests":7,"seconds":2.0,"unchanged":4}"#
        );
        assert_eq!(
            pieces[1],
            Piece::Error("1 of 2 paths had errors (see above); nothing was deleted on those paths after the error. Fix the cause and run poof again".into())
        );
        assert_eq!(
            pieces[2],
            Piece::Line(
                "done: 3 copied (3.0 MiB), 1 deleted, 4 unchanged in 2.0 s (1.5 MiB/s)".into()
            )
        );
        assert_eq!(pieces.len(), 3);
    }

    #[test]
    fn a_path_result_names_what_happened() {
        let result = Event::PathResult {
            path: Path::new("/data"),
            copied: 1,
            copied_bytes: 10,
            modes_set: 2,
            deleted: 0,
            unchanged: 5,
            excluded: 3,
            failed: 1,
        };
        let pieces = result.pieces();
        assert_eq!(
            pieces[0],
            Piece::Line(
                "  1 copied (10 B), 0 deleted, 5 unchanged, 2 permissions updated, 3 excluded, 1 failed"
                    .into()
            )
        );
        assert_eq!(
            json(&pieces[1]),
            r#"{"copied":1,"copied_bytes":10,"deleted":0,"event":"result","excluded":3,"failed":1,"path":"/data","permissions_updated":2,"unchanged":5}"#
        );
    }

    #[test]
    fn check_differences_keep_their_words_and_kinds() {
        let path = Path::new("/data");
        let cases = [
            (
                Found::OnlyHere,
                "a",
                "  only here:        a",
                "missing-remotely",
            ),
            (
                Found::OnlyOnCopy,
                "a",
                "  only on the copy: a",
                "only-remotely",
            ),
            (Found::Differs, "a", "  differs:          a", "content"),
            (
                Found::Unreadable("denied"),
                "a",
                "  not checked:      a: denied",
                "unreadable",
            ),
            (
                Found::Unlisted("x: denied"),
                "",
                "  not checked: x: denied",
                "unreadable",
            ),
        ];
        for (found, file, words, kind) in cases {
            let pieces = Event::Difference { path, file, found }.pieces();
            assert_eq!(pieces[0], Piece::Line(words.into()));
            assert_eq!(
                json(&pieces[1]),
                format!(
                    r#"{{"event":"difference","file":"{file}","kind":"{kind}","path":"/data"}}"#
                )
            );
        }
    }

    #[test]
    fn a_refusal_names_its_guard_in_words_and_json() {
        use crate::engine::sync::{GuardKind, GuardTrip};
        let trip = |kind| GuardTrip {
            kind,
            count: 8,
            target_files: 10,
            limit: 5,
            reason: "the plan overwrites 8 of the 10 files".into(),
        };
        let overwrite = trip(GuardKind::Overwrite);
        let pieces = Event::Refused {
            path: Path::new("/data"),
            trip: &overwrite,
            dry_run: true,
        }
        .pieces();
        assert_eq!(
            pieces[0],
            Piece::Error(
                "/data: would be refused by the mass-rewrite guard: the plan overwrites 8 of the 10 files"
                    .into()
            )
        );
        assert_eq!(
            json(&pieces[1]),
            r#"{"count":8,"dry_run":true,"event":"refused","kind":"overwrite","limit":5,"path":"/data","reason":"the plan overwrites 8 of the 10 files","target_files":10}"#
        );
        let delete = trip(GuardKind::Delete);
        let pieces = Event::Refused {
            path: Path::new("/data"),
            trip: &delete,
            dry_run: false,
        }
        .pieces();
        assert!(
            matches!(&pieces[0], Piece::Error(s) if s.starts_with("/data: refused by the mass-delete guard: ")),
            "{pieces:?}"
        );
        assert!(json(&pieces[1]).contains(r#""kind":"delete""#));
    }

    #[test]
    fn an_excluded_file_or_folder_names_its_rule() {
        use crate::engine::sync::Excluded;
        let folder = Excluded {
            path: "cache/".into(),
            files: 12,
            pattern: "cache/".into(),
            origin: "/data/.poofignore line 2".into(),
        };
        let file = Excluded {
            path: "a.tmp".into(),
            files: 1,
            pattern: "*.tmp".into(),
            origin: "--exclude".into(),
        };
        let event = |excluded, on_target, up, dry_run| {
            Event::Excluded {
                path: Path::new("/data"),
                excluded,
                on_target,
                up,
                dry_run,
            }
            .pieces()
        };
        let pieces = event(&folder, false, true, true);
        assert_eq!(
            pieces[0],
            Piece::Line(
                "  exclude cache/ (12 files)  by `cache/` from /data/.poofignore line 2".into()
            )
        );
        assert_eq!(
            json(&pieces[1]),
            r#"{"event":"excluded","file":"cache/","files":12,"kept":false,"origin":"/data/.poofignore line 2","path":"/data","pattern":"cache/","side":"local"}"#
        );
        // The copy's excluded files are kept; without --dry-run the line is
        // for --verbose only.
        let pieces = event(&file, true, true, false);
        assert_eq!(
            pieces[0],
            Piece::Verbose(
                "  keep    a.tmp  on the copy: excluded by `*.tmp` from --exclude".into()
            )
        );
        assert!(json(&pieces[1]).contains(r#""kept":true"#));
        assert!(json(&pieces[1]).contains(r#""side":"remote""#));
        // Going down, the source is the copy and the target this machine.
        assert!(json(&event(&file, false, false, true)[1]).contains(r#""side":"remote""#));
        let pieces = event(&file, true, false, true);
        assert!(json(&pieces[1]).contains(r#""side":"local""#));
        assert_eq!(
            pieces[0],
            Piece::Line(
                "  keep    a.tmp  on this machine: excluded by `*.tmp` from --exclude".into()
            )
        );
    }

    #[test]
    fn a_kept_file_is_an_error_and_a_kept_event() {
        let kept = |removal_failed| {
            Event::Kept {
                path: Path::new("/data"),
                file: "a/b",
                reason: "differs",
                removal_failed,
            }
            .pieces()
        };
        assert_eq!(
            kept(false)[0],
            Piece::Error("kept /data/a/b: differs".into())
        );
        assert_eq!(
            kept(true)[0],
            Piece::Error("not removed: /data (a/b): differs".into())
        );
        assert_eq!(
            json(&kept(true)[1]),
            r#"{"event":"kept","file":"a/b","path":"/data","reason":"differs"}"#
        );
    }
}
