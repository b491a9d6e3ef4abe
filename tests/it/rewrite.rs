//! The mass-rewrite guard: poof keeps a mirror, not a history, so a backup
//! that would overwrite most of a copy (files encrypted by ransomware) is
//! refused (exit code 3) until `--yes` or `--max-overwrite`, and the copy
//! keeps its old content meanwhile; a restore is never refused for its
//! overwrites. `poof verify`'s report on bucket versioning is here too.

use crate::common::{Kind, World, snapshot};

crate::on_both_remotes!(
    a_mass_rewrite_is_refused_until_confirmed,
    upload_is_guarded_too,
    verify_reports_versioning,
);

/// Ten files, backed up.
fn ten_files(w: &World) {
    for i in 0..10 {
        w.file(&format!("src/f{i}"), b"good", 1_600_000_000, 0o644);
    }
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
}

/// Rewrites the first `n` files as ransomware would: other bytes, a new time.
fn encrypt(w: &World, n: usize) {
    for i in 0..n {
        w.file(
            &format!("src/f{i}"),
            b"\x8f\x11encrypted!",
            1_700_000_000,
            0o644,
        );
    }
}

fn a_mass_rewrite_is_refused_until_confirmed(kind: Kind) {
    let w = World::on(kind);
    ten_files(&w);
    let good = w.stored("Docs");
    encrypt(&w, 8);
    w.file("src/new", b"n", 1_700_000_000, 0o644);

    let run = w.poof(&["backup"]).expect(3);
    for words in [
        "refused by the mass-rewrite guard",
        "the plan overwrites 8 of the 10 files the copy holds",
        "never overwrite more than half of the files",
        "ransomware",
        "--yes or a larger --max-overwrite",
    ] {
        assert!(run.stderr.contains(words), "{words:?}: {}", run.stderr);
    }
    assert_eq!(
        w.stored("Docs"),
        good,
        "the copy keeps its old content, and a refused plan runs not even its new files"
    );

    // The dry run shows the plan and the verdict.
    let run = w.poof(&["backup", "--dry-run"]).expect(3);
    assert!(run.stdout.contains("copy    f0"), "{}", run.stdout);
    assert!(run.stdout.contains("copy    new"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("would be refused by the mass-rewrite guard"),
        "{}",
        run.stderr
    );

    // Scripts read which guard and the counts.
    let run = w.poof(&["--json", "backup"]).expect(3);
    let refused: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["event"] == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{}", run.stdout);
    assert_eq!(refused[0]["kind"], "overwrite");
    assert_eq!(
        (
            &refused[0]["count"],
            &refused[0]["target_files"],
            &refused[0]["limit"]
        ),
        (&8.into(), &10.into(), &5.into())
    );

    // A limit of the user's own holds even with --yes; a large enough one passes.
    let run = w
        .poof(&["backup", "--yes", "--max-overwrite", "5"])
        .expect(3);
    assert!(run.stderr.contains("--max-overwrite 5"), "{}", run.stderr);
    assert_eq!(w.stored("Docs"), good);
    let run = w.poof(&["backup", "--max-overwrite", "ten"]).expect(2);
    assert!(
        run.stderr
            .contains("is not a count (like 100) or a percentage (like 10%)"),
        "{}",
        run.stderr
    );
    w.poof(&["backup", "--yes"]).expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
}

fn upload_is_guarded_too(kind: Kind) {
    let w = World::on(kind);
    ten_files(&w);
    let good = w.stored("Docs");
    encrypt(&w, 10);
    let before = snapshot(&w.path("src"));
    let run = w.poof(&["upload"]).expect(3);
    assert!(
        run.stderr
            .contains("the plan overwrites 10 of the 10 files the copy holds"),
        "{}",
        run.stderr
    );
    assert_eq!(w.stored("Docs"), good);
    assert_eq!(snapshot(&w.path("src")), before, "nothing was wiped");
    w.poof(&["upload", "--max-overwrite", "100%"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), Default::default());
}

#[test]
fn everyday_edits_and_new_files_pass() {
    let w = World::new();
    ten_files(&w);
    // Half of the files may change.
    encrypt(&w, 5);
    w.poof(&["backup"]).expect(0);
    // Any number of new files.
    for i in 0..30 {
        w.file(&format!("src/more/n{i}"), b"n", 1_700_000_000, 0o644);
    }
    w.poof(&["backup"]).expect(0);
    // A small folder may change whole.
    let small = World::new();
    for i in 0..3 {
        small.file(&format!("src/f{i}"), b"v1", 1_600_000_000, 0o644);
    }
    small.conf(&[("src", "Docs")]);
    small.poof(&["backup"]).expect(0);
    for i in 0..3 {
        small.file(&format!("src/f{i}"), b"v2", 1_700_000_000, 0o644);
    }
    small.poof(&["backup"]).expect(0);
    assert_eq!(
        snapshot(&small.path("remote/Docs")),
        snapshot(&small.path("src"))
    );
}

#[test]
fn a_restore_may_overwrite_every_file() {
    let w = World::new();
    ten_files(&w);
    let good = snapshot(&w.path("src"));
    encrypt(&w, 10);
    w.poof(&["download"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), good);
    // The flag is not offered where it would mean nothing.
    let run = w.poof(&["download", "--max-overwrite", "5"]).expect(2);
    assert!(
        run.stderr.contains("unexpected argument '--max-overwrite'"),
        "{}",
        run.stderr
    );
}

fn verify_reports_versioning(kind: Kind) {
    let on_s3 = matches!(kind, Kind::S3(_));
    let w = World::on(kind);
    ten_files(&w);
    let run = w.poof(&["verify"]).expect(0);
    let json = w.poof(&["--json", "verify"]).expect(0);
    let check = |what: &str| -> serde_json::Value {
        json.stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|e| e["what"] == what)
            .unwrap_or_else(|| panic!("no {what:?} check in {}", json.stdout))
    };
    let versioning = check("versioning");
    if on_s3 {
        // Garage keeps no versions and answers GetBucketVersioning with an
        // empty configuration: never enabled. It does not implement
        // GetObjectLockConfiguration (501 NotImplemented).
        assert_eq!(versioning["state"], "off", "{versioning}");
        let advice = versioning["advice"].as_str().unwrap();
        assert!(
            advice.contains(&format!(
                "aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled --endpoint-url http://127.",
                w.bucket
            )),
            "{advice}"
        );
        // Garage refuses to turn it on, so the advice names the way out too.
        assert!(advice.contains("another copy elsewhere"), "{advice}");
        assert_eq!(check("object lock")["state"], "not-offered");
        assert!(
            run.stdout.contains("versioning     off: "),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("object lock    not offered by this server"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("put-bucket-versioning"),
            "{}",
            run.stdout
        );
    } else {
        assert_eq!(versioning["state"], "not-applicable", "{versioning}");
        assert!(
            run.stdout
                .contains("versioning     does not apply to folder "),
            "{}",
            run.stdout
        );
        assert!(
            versioning["advice"]
                .as_str()
                .unwrap()
                .contains("keep another copy"),
            "{versioning}"
        );
    }
}
