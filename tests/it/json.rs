//! docs/JSON.md is the contract of `--json`: backup, download, check and
//! upload run with `--json` on a folder remote, and every event they print
//! must have exactly the fields that the page's table for it lists. A field
//! added or removed in the code without the page changing fails here, and
//! so does a documented event that these runs no longer print.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::World;

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

/// The sections of docs/JSON.md before "## Other commands" (the events
/// the runs below pin).
fn documented() -> Vec<Documented> {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/JSON.md"))
        .expect("docs/JSON.md");
    let page = &page[..page
        .find("\n## Other commands")
        .expect("the page's last part")];
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

#[test]
fn every_json_event_has_the_fields_docs_json_lists() {
    let w = World::new();
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/b.txt", b"bravo", 1_600_000_000, 0o644);
    w.file("src/cache/x.tmp", b"tmp", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs"), ("gone", "Gone")]);
    let mut seen = Seen::new();
    let mut run = |command: &str, args: &[&str], code: i32| {
        let mut all = vec!["--json"];
        all.extend(args);
        let r = w.poof(&all).expect(code);
        record(&mut seen, command, &r.stdout);
    };

    // backup: plan, excluded, copied, result, summary, and a warning (the
    // missing path).
    run("backup", &["backup", "--exclude", "cache/"], 0);
    // A deletion beyond --max-delete: refused, with an error.
    std::fs::remove_file(w.path("src/b.txt")).unwrap();
    run("backup", &["backup", "--max-delete", "0"], 3);
    // deleted (remotely).
    run("backup", &["backup"], 0);
    // download: copied and deleted (locally).
    std::fs::remove_file(w.path("src/a.txt")).unwrap();
    w.file("src/extra.txt", b"extra", 1_600_000_000, 0o644);
    run("download", &["download", "--yes"], 0);
    // check: a difference, and check's summary.
    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    run("check", &["check"], 1);
    // upload: the sync's events, then kept (a.txt changed in place, with
    // its size and time, so the sync left it and its copy reads back
    // other), wiped and upload. Only the path that exists: a skipped one
    // is not verified.
    w.conf(&[("src", "Docs")]);
    run("upload", &["upload", "--yes"], 1);

    let docs = documented();
    let mut problems = Vec::new();
    let mut used = BTreeSet::new();
    for ((command, name), shapes) in &seen {
        let Some((i, doc)) = docs.iter().enumerate().find(|(_, d)| {
            &d.name == name && d.commands.iter().any(|c| c == command || c == "any")
        }) else {
            problems.push(format!("{command}: event {name:?} is not in docs/JSON.md"));
            continue;
        };
        used.insert(i);
        for fields in shapes {
            if fields != &doc.fields {
                let extra: Vec<_> = fields.difference(&doc.fields).collect();
                let missing: Vec<_> = doc.fields.difference(fields).collect();
                problems.push(format!(
                    "{command}: event {name:?}: fields not documented {extra:?}, documented but absent {missing:?}"
                ));
            }
        }
    }
    // Every pinned section was printed by these runs.
    for (i, doc) in docs.iter().enumerate() {
        if !used.contains(&i) {
            problems.push(format!(
                "docs/JSON.md documents {:?} ({}), which these runs never printed",
                doc.name,
                doc.commands.join(", ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
