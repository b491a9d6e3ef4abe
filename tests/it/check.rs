//! `poof check`: content comparison of each folder with its copy, on both
//! remotes; it reports, and changes nothing. `check --quick` on each kind
//! of remote (the encrypted folder remote is in knobs.rs): what it reads,
//! counted through the proxy on S3.

use crate::common::{Kind, World, listing};
use crate::harness::route_through;
use crate::proxy::{Faults, Filter, Proxy};

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

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
    assert_eq!(
        run.stderr,
        "poof: error: poof check deletes nothing: --delete-excluded does not apply to it\n"
    );
}

/// A file of 300 KiB, so that a header read is told apart from a content read.
fn big() -> Vec<u8> {
    (0..300 * 1024u32).map(|i| (i % 251) as u8).collect()
}

/// A world on S3 with `a.txt` and `big.bin` mapped to `Docs`, routed
/// through a proxy that counts; `None` without a test server.
fn quick_world() -> Option<(World, Proxy)> {
    let kind = Kind::s3()?;
    let Kind::S3(s3) = &kind else { unreachable!() };
    let proxy = Proxy::start(&s3.endpoint, Faults::none());
    let w = World::on(kind.clone());
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/big.bin", &big(), 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    route_through(&w, &proxy.url());
    Some((w, proxy))
}

/// From now on, the proxy records each request of `method` on an object
/// (not poof's manifests).
fn count(proxy: &Proxy, method: &'static str) {
    proxy.set(Faults {
        filter: Filter {
            method: Some(method),
            objects_only: true,
        },
        ..Faults::none()
    });
}

/// The bytes a `Range: bytes=A-B` header asks for.
fn range_len(line: &str) -> u64 {
    let r = line.rsplit(' ').next().unwrap();
    let (a, b) = r
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .unwrap_or_else(|| panic!("not a ranged read: {line}"));
    b.parse::<u64>().unwrap() - a.parse::<u64>().unwrap() + 1
}

#[test]
fn check_quick_on_plain_s3_reads_the_sha256_metadata_only() {
    let Some((w, proxy)) = quick_world() else {
        return;
    };
    w.poof(&["backup"]).expect(0);

    // One HEAD per file, no GET of an object.
    count(&proxy, "GET");
    let run = w.poof(&["check", "--quick"]).expect(0);
    assert!(
        run.stdout.contains("2 identical, 0 differences"),
        "{}",
        run.stdout
    );
    assert_eq!(proxy.selected(), Vec::<String>::new(), "no content read");
    count(&proxy, "HEAD");
    w.poof(&["check", "--quick"]).expect(0);
    assert_eq!(proxy.selected().len(), 2, "{:?}", proxy.selected());
    // Plain check reads the copies.
    count(&proxy, "GET");
    w.poof(&["check"]).expect(0);
    assert!(proxy.selected().len() >= 2, "{:?}", proxy.selected());

    // A local file changed in place (same size and time): found from the
    // recorded hash.
    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    count(&proxy, "GET");
    let run = w.poof(&["--json", "check", "--quick"]).expect(1);
    assert!(
        run.stdout
            .contains(r#""event":"difference","file":"a.txt","kind":"content""#),
        "{}",
        run.stdout
    );
    assert_eq!(proxy.selected(), Vec::<String>::new(), "no content read");

    // An object written by rclone has no recorded hash: --quick does not
    // guess, it reports the file as not checked, and says what can check it.
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/c.txt", b"charlie", 1_600_000_000, 0o644);
    let c = w.path("src/c.txt").display().to_string();
    crate::crypt::rclone(
        &w,
        &[
            "copyto",
            &c,
            &format!("poof-backup:{}/Docs/c.txt", w.bucket),
        ],
        None,
    );
    let run = w.poof(&["check", "--quick"]).expect(1);
    assert!(
        run.stdout.contains("not checked:      c.txt: ")
            && run.stdout.contains(
                "has no stored sha256 (rclone or an older poof wrote it), so only reading it back can check it: plain `poof check`"
            ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("2 identical, 1 differences"),
        "{}",
        run.stdout
    );
    // Plain check reads it back and finds it equal.
    let run = w.poof(&["check"]).expect(0);
    assert!(
        run.stdout.contains("3 identical, 0 differences"),
        "{}",
        run.stdout
    );
}

#[test]
fn check_quick_on_encrypted_s3_reads_each_header_with_one_ranged_get() {
    let Some((w, proxy)) = quick_world() else {
        return;
    };
    w.poof_env(&["econfig"], &[PASS]).expect(0);
    w.poof_env(&["cryptoggle"], &[PASS]).expect(0);
    w.poof_env(&["backup"], &[PASS]).expect(0);

    count(&proxy, "GET");
    let run = w.poof_env(&["check", "--quick"], &[PASS]).expect(0);
    assert!(
        run.stdout.contains("2 identical, 0 differences"),
        "{}",
        run.stdout
    );
    // One ranged GET per file, each far shorter than big.bin.
    let reads = proxy.selected();
    assert_eq!(reads.len(), 2, "{reads:?}");
    for r in &reads {
        assert!(range_len(r) < 64 * 1024, "{r}");
    }
    // Plain check reads each object whole: GETs without a range.
    count(&proxy, "GET");
    w.poof_env(&["check"], &[PASS]).expect(0);
    let reads = proxy.selected();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads.iter().all(|r| r.ends_with(" -")), "{reads:?}");

    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    let run = w.poof_env(&["check", "--quick"], &[PASS]).expect(1);
    assert!(
        run.stdout.contains("differs:          a.txt"),
        "{}",
        run.stdout
    );
}

/// A plain folder remote records no hash: `--quick` reads the copies (a
/// local disk), so it sees a copy altered in place, as plain check does.
#[test]
fn check_quick_on_a_plain_folder_reads_the_copies() {
    let w = World::new();
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/big.bin", &big(), 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let run = w.poof(&["check", "--quick"]).expect(0);
    assert!(
        run.stdout.contains("2 identical, 0 differences"),
        "{}",
        run.stdout
    );
    // The copy's bytes change, not its size or time.
    let copy = w.path("remote/Docs/big.bin");
    let facts = std::fs::metadata(&copy).unwrap();
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes[1000] ^= 0x55;
    std::fs::write(&copy, &bytes).unwrap();
    filetime::set_file_mtime(
        &copy,
        filetime::FileTime::from_last_modification_time(&facts),
    )
    .unwrap();
    let run = w.poof(&["check", "--quick"]).expect(1);
    assert!(
        run.stdout.contains("differs:          big.bin"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 identical, 1 differences"),
        "{}",
        run.stdout
    );
}
