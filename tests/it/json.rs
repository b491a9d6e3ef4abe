//! docs/JSON.md is the contract of `--json`: every command that prints
//! events runs with `--json` (on folder remotes; migrate on the S3 test
//! server, through rclone), and every event it prints must have exactly the
//! fields of one of the page's tables for that event and command. A field
//! added or removed in the code without the page changing fails here, and
//! so does a documented event that the commands run here no longer print.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{Run, World};
use crate::schedule::poof_sched;

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

/// One event's section of docs/JSON.md.
#[derive(Debug)]
struct Documented {
    /// The event's name (the heading's first backquoted word).
    name: String,
    /// The commands that print it (its `Commands:` line).
    commands: Vec<String>,
    /// The fields of its table.
    fields: BTreeSet<String>,
}

/// The sections of docs/JSON.md, one per event shape.
fn documented() -> Vec<Documented> {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/JSON.md"))
        .expect("docs/JSON.md");
    let mut out: Vec<Documented> = Vec::new();
    for line in page.lines() {
        if let Some(h) = line.strip_prefix("### `") {
            out.push(Documented {
                name: h[..h.find('`').unwrap()].to_string(),
                commands: Vec::new(),
                fields: BTreeSet::new(),
            });
        } else if let Some(rest) = line.strip_prefix("Commands: ") {
            let list = &rest[..rest.find('.').unwrap_or(rest.len())];
            out.last_mut().unwrap().commands =
                list.split(',').map(|c| c.trim().to_string()).collect();
        } else if let Some(row) = line.strip_prefix("| `") {
            out.last_mut()
                .unwrap()
                .fields
                .insert(row[..row.find('`').unwrap()].to_string());
        }
    }
    out
}

/// The fields of every `--json` event a run printed: (command, event) to
/// each distinct set of fields seen.
type Seen = BTreeMap<(String, String), BTreeSet<BTreeSet<String>>>;

fn record(seen: &mut Seen, command: &str, stdout: &str) {
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{command}: not JSON on stdout: {line:?}: {e}"));
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        let name = obj["event"].as_str().expect("an event name").to_string();
        seen.entry((command.to_string(), name))
            .or_default()
            .insert(obj.keys().cloned().collect());
    }
}

/// The events runs printed, and which commands ran (the labels of the
/// docs' `Commands:` lines; `any` stands for the sections every command
/// may print, the warning and the error).
#[derive(Default)]
struct Runs {
    seen: Seen,
    ran: BTreeSet<String>,
}

impl Runs {
    /// Records a run of `command` that exited with `code`.
    #[track_caller]
    fn record(&mut self, command: &str, run: Run, code: i32) {
        let run = run.expect(code);
        self.ran.insert(command.to_string());
        record(&mut self.seen, command, &run.stdout);
    }

    /// What differs from docs/JSON.md: an event printed with fields that no
    /// table of its name and command lists, or a section none of the runs
    /// printed although a command it names ran.
    fn problems(&self) -> Vec<String> {
        let docs = documented();
        let mut problems = Vec::new();
        let mut used = BTreeSet::new();
        for ((command, name), shapes) in &self.seen {
            let candidates: Vec<(usize, &Documented)> = docs
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    &d.name == name && d.commands.iter().any(|c| c == command || c == "any")
                })
                .collect();
            if candidates.is_empty() {
                problems.push(format!("{command}: event {name:?} is not in docs/JSON.md"));
                continue;
            }
            for fields in shapes {
                match candidates.iter().find(|(_, d)| &d.fields == fields) {
                    Some((i, _)) => {
                        used.insert(*i);
                    }
                    None => {
                        for (_, doc) in &candidates {
                            let extra: Vec<_> = fields.difference(&doc.fields).collect();
                            let missing: Vec<_> = doc.fields.difference(fields).collect();
                            problems.push(format!(
                                "{command}: event {name:?}: fields not documented {extra:?}, documented but absent {missing:?}"
                            ));
                        }
                    }
                }
            }
        }
        // Every section of a command that ran was printed.
        for (i, doc) in docs.iter().enumerate() {
            let ran = doc.commands.iter().any(|c| self.ran.contains(c));
            if ran && !used.contains(&i) {
                problems.push(format!(
                    "docs/JSON.md documents {:?} ({}), which these runs never printed",
                    doc.name,
                    doc.commands.join(", ")
                ));
            }
        }
        problems
    }
}

#[test]
fn every_json_event_has_the_fields_docs_json_lists() {
    let w = World::new();
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/b.txt", b"bravo", 1_600_000_000, 0o644);
    w.file("src/cache/x.tmp", b"tmp", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs"), ("gone", "Gone")]);
    let mut runs = Runs::default();
    runs.ran.insert("any".into());
    let json = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend(args);
        w.poof(&all)
    };

    // backup: plan, excluded, copied, result, summary, and a warning (the
    // missing path).
    runs.record("backup", json(&["backup", "--exclude", "cache/"]), 0);
    // A deletion beyond --max-delete: refused, with an error.
    std::fs::remove_file(w.path("src/b.txt")).unwrap();
    runs.record("backup", json(&["backup", "--max-delete", "0"]), 3);
    // deleted (remotely).
    runs.record("backup", json(&["backup"]), 0);
    // download: copied and deleted (locally).
    std::fs::remove_file(w.path("src/a.txt")).unwrap();
    w.file("src/extra.txt", b"extra", 1_600_000_000, 0o644);
    runs.record("download", json(&["download", "--yes"]), 0);
    // check: a difference, and check's summary.
    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    runs.record("check", json(&["check"]), 1);
    // upload: the sync's events, then kept (a.txt changed in place, with
    // its size and time, so the sync left it and its copy reads back
    // other), wiped and upload. Only the path that exists: a skipped one
    // is not verified.
    w.conf(&[("src", "Docs")]);
    runs.record("upload", json(&["upload", "--yes"]), 1);

    // The other commands, on a world of their own.
    let o = World::new();
    o.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    o.file("src/sub/b.txt", b"bravo", 1_600_000_000, 0o644);
    o.conf(&[("src", "Docs")]);
    let json = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend(args);
        o.poof_env(&all, &[PASS])
    };
    o.poof(&["backup"]).expect(0);
    // ls: folder, then file.
    runs.record("ls", json(&["ls"]), 0);
    runs.record("ls", json(&["ls", "Docs"]), 0);
    // verify: check, in both shapes (a folder remote's versioning and
    // object lock are the remote's properties).
    runs.record("verify", json(&["verify"]), 0);
    runs.record("paths", json(&["paths"]), 0);
    runs.record("config", json(&["config"]), 0);
    runs.record("cconfig", json(&["cconfig"]), 0);
    // schedule, with the fake crontab.
    runs.record(
        "schedule install",
        poof_sched(
            &o,
            &[
                "--json",
                "schedule",
                "install",
                "--kind",
                "cron",
                "--dry-run",
            ],
        ),
        0,
    );
    runs.record(
        "schedule status",
        poof_sched(&o, &["--json", "schedule", "status"]),
        0,
    );
    // cryptoggle --purge-plain: would_purge, then switched, the encrypted
    // backup's events, purged and purge.
    o.poof_env(&["econfig"], &[PASS]).expect(0);
    let purge = "cryptoggle --purge-plain";
    runs.record(
        purge,
        json(&["cryptoggle", "--purge-plain", "--dry-run"]),
        0,
    );
    runs.record(purge, json(&["cryptoggle", "--purge-plain"]), 0);
    // econfig --rotate: would_rotate, then rotation, resealed,
    // rotated_path and rotated.
    let rotate = "econfig --rotate";
    runs.record(rotate, json(&["econfig", "--rotate", "--dry-run"]), 0);
    runs.record(rotate, json(&["econfig", "--rotate"]), 0);
    // neuter: what it would remove (done) and the binary it keeps (left).
    runs.record(
        "neuter",
        poof_sched(&o, &["--json", "neuter", "--keep-binary", "--dry-run"]),
        0,
    );

    let problems = runs.problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// migrate's events, on poof 1.x's rclone crypt tree on the S3 test server.
#[test]
fn migrate_json_events_have_the_fields_docs_json_lists() {
    let Some(w) = crate::legacy::setup() else {
        return;
    };
    crate::legacy::tree(&w);
    crate::legacy::legacy_conf(&w, "");
    crate::legacy::upload_with_rclone(&w);
    w.poof_env(&["econfig"], &[PASS]).expect(0);
    let mut runs = Runs::default();
    let json = |args: &[&str]| {
        let mut all = vec!["--json"];
        all.extend(args);
        w.poof_env(&all, &[PASS])
    };
    runs.record("migrate", json(&["migrate", "--dry-run"]), 0);
    runs.record("migrate", json(&["migrate", "--delete-old"]), 0);
    let problems = runs.problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
