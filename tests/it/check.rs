//! `poof check`: content comparison of each folder with its copy, on both
//! remotes; it reports, and changes nothing.

use crate::common::{Kind, World, listing};

crate::on_both_remotes!(
    check_finds_what_differs_and_changes_nothing,
    check_leaves_out_what_backup_leaves_out,
);

fn check_finds_what_differs_and_changes_nothing(kind: Kind) {
    let w = World::on(kind);
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/sub/b.txt", b"bravo", 1_600_000_000, 0o644);
    w.file("src/c.txt", b"charlie", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let run = w.poof(&["check"]).expect(0);
    assert!(
        run.stdout.contains("every file matches its remote copy"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("3 identical, 0 differences"),
        "{}",
        run.stdout
    );

    // Same size and time, other content: only a content check sees it.
    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    w.file("src/new.txt", b"n", 1_600_000_000, 0o644);
    std::fs::remove_file(w.path("src/c.txt")).unwrap();
    let before = (listing(&w.path("src")), w.stored("Docs"));
    let run = w.poof(&["check"]).expect(1);
    assert!(
        run.stdout.contains("differs:          a.txt"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("only here:        new.txt"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("only on the copy: c.txt"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 identical, 3 differences"),
        "{}",
        run.stdout
    );
    assert_eq!(
        (listing(&w.path("src")), w.stored("Docs")),
        before,
        "check changed something"
    );

    let run = w.poof(&["--json", "check"]).expect(1);
    let kinds: Vec<String> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "difference")
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["file"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "missing-remotely new.txt",
            "only-remotely c.txt",
            "content a.txt"
        ]
    );
}

/// What a backup leaves out (`.poofignore`, `--exclude`) is not reported
/// missing by check; what it keeps is still compared.
fn check_leaves_out_what_backup_leaves_out(kind: Kind) {
    let w = World::on(kind);
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/build/out.o", b"object", 1_600_000_000, 0o644);
    w.file("src/notes.tmp", b"scratch", 1_600_000_000, 0o644);
    w.file("src/.poofignore", b"/build/\n", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup", "--exclude", "*.tmp"]).expect(0);
    // The same rules: nothing differs, though two files were never copied.
    let run = w.poof(&["check", "--exclude", "*.tmp"]).expect(0);
    assert!(
        run.stdout.contains("2 identical, 0 differences"),
        "{}",
        run.stdout
    );
    // Without the flag, the file it left out is only here.
    let run = w.poof(&["check"]).expect(1);
    assert!(
        run.stdout.contains("only here:        notes.tmp"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("out.o"), "{}", run.stdout);
    // A kept file that changed is still a difference.
    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    let run = w.poof(&["check", "--exclude", "*.tmp"]).expect(1);
    assert!(
        run.stdout.contains("differs:          a.txt"),
        "{}",
        run.stdout
    );
    // check deletes nothing, so --delete-excluded is a usage error.
    let run = w.poof(&["check", "--delete-excluded"]).expect(2);
    assert!(run.stderr.contains("--delete-excluded"), "{}", run.stderr);
}
