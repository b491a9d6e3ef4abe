//! `poof check`: content comparison of each folder with its copy, on both
//! remotes; it reports, and changes nothing.

use crate::common::{Kind, World, listing};

crate::on_both_remotes!(check_finds_what_differs_and_changes_nothing);

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
