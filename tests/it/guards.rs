//! The guards around destructive runs: the mass-delete guard, one run per
//! config, and machine-readable output for scripts.

use crate::common::{World, listing, snapshot};

fn ten_files(w: &World) {
    for i in 0..10 {
        w.file(&format!("src/f{i}"), b"x", 1_600_000_000, 0o644);
    }
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
}

#[test]
fn deleting_more_than_half_is_refused_until_confirmed() {
    let w = World::new();
    ten_files(&w);
    for i in 0..6 {
        std::fs::remove_file(w.path(&format!("src/f{i}"))).unwrap();
    }
    w.file("src/new", b"n", 1_600_000_000, 0o644);
    let before = (listing(&w.path("src")), listing(&w.path("remote")));
    let run = w.poof(&["backup"]).expect(3);
    assert!(
        run.stderr.contains("the plan deletes 6 of 10 files"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("never delete more than half"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(
        (listing(&w.path("src")), listing(&w.path("remote"))),
        before,
        "a refused plan runs not even its copies"
    );

    // The dry run shows what would go, and says it would be refused.
    let run = w.poof(&["backup", "--dry-run"]).expect(3);
    assert!(run.stdout.contains("delete  f0"), "{}", run.stdout);
    assert!(run.stderr.contains("would be refused"), "{}", run.stderr);

    // An explicit limit below the deletions still refuses, even with --yes.
    let run = w.poof(&["backup", "--yes", "--max-delete", "5"]).expect(3);
    assert!(run.stderr.contains("--max-delete 5"), "{}", run.stderr);
    w.poof(&["backup", "--max-delete", "60%"]).expect(0);
    assert_eq!(snapshot(&w.path("remote/Docs")), snapshot(&w.path("src")));
}

#[test]
fn yes_confirms_a_large_deletion() {
    let w = World::new();
    ten_files(&w);
    for i in 0..9 {
        std::fs::remove_file(w.path(&format!("src/f{i}"))).unwrap();
    }
    w.poof(&["backup", "--yes"]).expect(0);
    assert_eq!(snapshot(&w.path("remote/Docs")), snapshot(&w.path("src")));
}

#[test]
fn download_is_guarded_too() {
    let w = World::new();
    ten_files(&w);
    for i in 0..8 {
        w.file(
            &format!("src/local-only-{i}"),
            b"mine",
            1_600_000_000,
            0o644,
        );
    }
    // 8 of 18 local files would go: fine. Add more and it trips.
    for i in 8..12 {
        w.file(
            &format!("src/local-only-{i}"),
            b"mine",
            1_600_000_000,
            0o644,
        );
    }
    let before = snapshot(&w.path("src"));
    let run = w.poof(&["download"]).expect(3);
    assert!(
        run.stderr.contains("the plan deletes 12 of 22 files"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&w.path("src")), before);
}

#[test]
fn bad_max_delete_values_are_refused_by_name() {
    let w = World::new();
    ten_files(&w);
    for bad in ["ten", "101%", "-3"] {
        let run = w
            .poof(&["backup", &format!("--max-delete={bad}")])
            .expect(2);
        assert!(
            run.stderr
                .contains("is not a count (like 100) or a percentage (like 10%)"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_second_run_on_the_same_config_is_refused() {
    let w = World::new();
    ten_files(&w);
    // Hold the lock as a running poof would.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(w.path("conf/poof.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    std::fs::write(
        w.path("conf/poof.lock"),
        "poof (pid 4242, started at unix time 1)",
    )
    .unwrap();
    w.file("src/new", b"n", 1_600_000_000, 0o644);
    for cmd in ["backup", "download"] {
        let run = w.poof(&[cmd]).expect(3);
        assert!(
            run.stderr
                .contains("poof (pid 4242, started at unix time 1) is using"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("wait for it to finish"),
            "{}",
            run.stderr
        );
    }
    assert!(!w.path("remote/Docs/new").exists());
    // A dry run only reads, and may look while another run works.
    w.poof(&["backup", "--dry-run"]).expect(0);
    drop(lock);
    w.poof(&["backup"]).expect(0);
    assert!(w.path("remote/Docs/new").exists());
}

#[test]
fn a_lock_left_by_a_killed_run_is_cleared() {
    let w = World::new();
    ten_files(&w);
    std::fs::write(
        w.path("conf/poof.lock"),
        "poof (pid 999999, started at unix time 1)",
    )
    .unwrap();
    w.file("src/new", b"n", 1_600_000_000, 0o644);
    let run = w.poof(&["backup", "--verbose"]).expect(0);
    assert!(
        run.stdout
            .contains("an earlier run ended without cleaning up"),
        "{}",
        run.stdout
    );
    assert!(w.path("remote/Docs/new").exists());
    assert!(
        !w.path("conf/poof.lock").exists(),
        "the lock file is removed at the end"
    );
}

#[test]
fn json_gives_one_event_per_line_and_a_summary() {
    let w = World::new();
    ten_files(&w);
    w.file("src/new", b"new!", 1_600_000_000, 0o644);
    std::fs::remove_file(w.path("src/f0")).unwrap();
    let run = w.poof(&["--json", "backup"]).expect(0);
    let events: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["plan", "copied", "deleted", "result", "summary"]);
    assert_eq!(events[0]["copy"], 1);
    assert_eq!(events[0]["delete"], 1);
    assert_eq!(events[0]["unchanged"], 9);
    assert_eq!(events[1]["file"], "new");
    let summary = &events[4];
    assert_eq!(summary["copied"], 1);
    assert_eq!(summary["copied_bytes"], 4);
    assert_eq!(summary["deleted"], 1);
    assert_eq!(summary["exit_code"], 0);
}
