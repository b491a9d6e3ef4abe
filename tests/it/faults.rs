//! Backup, download and upload through a faulty network (the proxy in
//! `proxy.rs`, between poof and the S3 server): dropped connections, 5xx
//! and `SlowDown` answers, stalls, answers cut mid-body, flipped bytes.
//!
//! Every test ends the same way: the run either succeeded (and the result is
//! exact) or failed with a clear error; the local source of a backup is
//! untouched; every file on either side holds a complete version (old or
//! new), never a torn or corrupt one; no `.poof-tmp-` file is left; and a
//! rerun without faults converges.

use std::collections::BTreeMap;

use crate::common::{FileFacts, Kind, Run, World, listing, snapshot};
use crate::harness::{data_set, each_file_is_one_of, has_upload, route_through, temp_files};
use crate::proxy::{Fault, Faults, Filter, Proxy, When};

/// Every fault that makes sense on any request.
const ALL: &[Fault] = &[
    Fault::Drop,
    Fault::DropAfterForward,
    Fault::Status(500),
    Fault::Status(503),
    Fault::SlowDown,
    Fault::Stall(150),
    Fault::CutBody,
    Fault::FlipByte,
    Fault::FlipRequest,
];

/// A world on S3 whose poof goes through a fresh proxy, with a data set in
/// `src` mapped to `Docs`; `None` (with a notice) without a test server.
fn world(seed: u64) -> Option<(World, Proxy)> {
    let kind = Kind::s3()?;
    let Kind::S3(s3) = &kind else { unreachable!() };
    let proxy = Proxy::start(&s3.endpoint, Faults::none());
    let w = World::on(kind.clone());
    data_set(&w, "src", seed, 24, 16 << 10);
    w.file("src/empty", b"", 1_600_000_000, 0o600);
    w.file(
        "src/big.bin",
        &vec![seed as u8; 3 << 20],
        1_600_000_500,
        0o640,
    );
    w.conf(&[("src", "Docs")]);
    route_through(&w, &proxy.url());
    Some((w, proxy))
}

/// A failed run must say what failed, in words, and exit with 1.
#[track_caller]
fn clear_failure(run: &Run, log: &str) {
    assert_eq!(
        run.code, 1,
        "a failed run exits with 1\n--- stdout\n{}\n--- stderr\n{}\n--- faults\n{log}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("error"),
        "the failure is explained: {}",
        run.stderr
    );
}

/// Prints what one faulty run met and how it ended (for docs/RELIABILITY.md).
fn report(what: &str, seed: u64, proxy: &Proxy, run: &Run) {
    let why = run
        .stderr
        .lines()
        .find(|l| l.contains("error"))
        .unwrap_or("")
        .chars()
        .take(160)
        .collect::<String>();
    eprintln!(
        "{what}, seed {seed}: {} requests so far, {} faults, exit {} {why}",
        proxy.requests(),
        proxy.injected(),
        run.code
    );
}

/// Checks one faulty backup: local untouched, remote made of whole versions,
/// exact when the run succeeded.
fn check_backup(
    w: &World,
    run: &Run,
    before: &[String],
    prev: &BTreeMap<String, FileFacts>,
    log: &str,
) {
    assert_eq!(listing(&w.path("src")), before, "the local source changed");
    let now = snapshot(&w.path("src"));
    let stored = w.stored("Docs");
    each_file_is_one_of(&stored, &[&now, prev], "remote after a faulty backup");
    if run.code == 0 {
        assert_eq!(stored, now, "a successful backup is exact; faults:\n{log}");
    } else {
        clear_failure(run, log);
    }
}

#[test]
fn backup_under_random_faults_loses_nothing() {
    for seed in 1..=8u64 {
        let Some((w, proxy)) = world(seed) else {
            return;
        };
        let before = listing(&w.path("src"));
        proxy.set(Faults::random(seed, 0.2, ALL));
        let run = w.poof(&["backup", "--transfers", "4"]);
        check_backup(&w, &run, &before, &BTreeMap::new(), &proxy.log());
        report("backup", seed, &proxy, &run);
        proxy.set(Faults::none());
        w.poof(&["backup"]).expect(0);
        let prev = w.stored("Docs");

        // Then changes and deletions, under faults again.
        w.file("src/d0/f0000.bin", b"changed", 1_700_000_000, 0o644);
        std::fs::remove_file(w.path("src/d1/f0001.bin")).unwrap();
        w.file("src/new.txt", b"new", 1_700_000_000, 0o644);
        let before = listing(&w.path("src"));
        proxy.set(Faults::random(seed + 100, 0.25, ALL));
        let run = w.poof(&["backup", "--transfers", "4"]);
        check_backup(&w, &run, &before, &prev, &proxy.log());
        report("backup of changes", seed, &proxy, &run);
        proxy.set(Faults::none());
        w.poof(&["backup"]).expect(0);
        assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
    }
}

/// Backs the data set up directly, then makes the local folder an older,
/// different version of it (changed, missing and extra files); returns
/// (old local, remote).
fn stage_download(
    w: &World,
    proxy: &Proxy,
) -> (BTreeMap<String, FileFacts>, BTreeMap<String, FileFacts>) {
    proxy.set(Faults::none());
    w.poof(&["backup"]).expect(0);
    let remote = w.stored("Docs");
    for i in [2, 5, 9, 14] {
        w.file(
            &format!("src/d{}/f{i:04}.bin", i % 7),
            format!("old version {i}").as_bytes(),
            1_500_000_000,
            0o644,
        );
    }
    std::fs::remove_file(w.path("src/d3/f0003.bin")).unwrap();
    std::fs::remove_file(w.path("src/big.bin")).unwrap();
    w.file("src/local-only.txt", b"extra", 1_500_000_000, 0o644);
    (snapshot(&w.path("src")), remote)
}

/// Checks one faulty download: every local file old or new, whole; exact on success.
fn check_download(
    w: &World,
    run: &Run,
    old: &BTreeMap<String, FileFacts>,
    remote: &BTreeMap<String, FileFacts>,
    log: &str,
) {
    let tmp = temp_files(&w.path("src"));
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}\n{log}");
    let now = snapshot(&w.path("src"));
    each_file_is_one_of(&now, &[old, remote], "local after a faulty download");
    if run.code == 0 {
        assert_eq!(
            &now, remote,
            "a successful download is exact; faults:\n{log}"
        );
    } else {
        clear_failure(run, log);
        // Nothing is deleted after an error.
        assert!(
            now.contains_key("local-only.txt"),
            "a deletion ran after an error"
        );
    }
    assert_eq!(&w.stored("Docs"), remote, "a download changed the remote");
}

#[test]
fn download_under_random_faults_never_leaves_a_torn_file() {
    for seed in 11..=18u64 {
        let Some((w, proxy)) = world(seed) else {
            return;
        };
        let (old, remote) = stage_download(&w, &proxy);
        proxy.set(Faults::random(seed, 0.25, ALL));
        let run = w.poof(&["download", "--transfers", "4"]);
        check_download(&w, &run, &old, &remote, &proxy.log());
        report("download", seed, &proxy, &run);
        proxy.set(Faults::none());
        w.poof(&["download"]).expect(0);
        assert_eq!(snapshot(&w.path("src")), remote);
    }
}

#[test]
fn a_corrupted_download_is_never_accepted() {
    let Some((w, proxy)) = world(21) else { return };
    let (old, remote) = stage_download(&w, &proxy);
    let flip_gets = |max| Faults {
        seed: 21,
        filter: Filter {
            method: Some("GET"),
            objects_only: true,
        },
        when: When::From(1),
        what: vec![Fault::FlipByte],
        max,
    };
    // Every object GET corrupted: nothing is accepted, and the error says why.
    proxy.set(flip_gets(None));
    let run = w.poof(&["download"]);
    check_download(&w, &run, &old, &remote, &proxy.log());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("does not match the object's SHA-256")
            || run.stderr.contains("does not match the object's MD5"),
        "{}",
        run.stderr
    );
    assert_eq!(
        snapshot(&w.path("src")),
        old,
        "a corrupt file replaced a good one"
    );
    // A few corrupted answers: retried, and the result is exact.
    proxy.set(flip_gets(Some(3)));
    let run = w.poof(&["download"]);
    check_download(&w, &run, &old, &remote, &proxy.log());
    run.expect(0);
}

#[test]
fn answers_cut_mid_body_are_retried() {
    let Some((w, proxy)) = world(22) else { return };
    let (old, remote) = stage_download(&w, &proxy);
    proxy.set(Faults {
        seed: 22,
        filter: Filter {
            method: Some("GET"),
            objects_only: true,
        },
        when: When::Nth(vec![1, 2, 4]),
        what: vec![Fault::CutBody],
        max: None,
    });
    let run = w.poof(&["download", "--transfers", "2"]);
    check_download(&w, &run, &old, &remote, &proxy.log());
    run.expect(0);
    assert_eq!(proxy.injected(), 3);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let Some((w, proxy)) = world(23) else { return };
    proxy.set(Faults {
        seed: 23,
        filter: Filter::default(),
        when: When::Nth(vec![1, 2, 3, 5, 8, 13, 21]),
        what: vec![Fault::SlowDown, Fault::Status(500), Fault::Status(503)],
        max: None,
    });
    let before = listing(&w.path("src"));
    let run = w.poof(&["backup"]);
    check_backup(&w, &run, &before, &BTreeMap::new(), &proxy.log());
    run.expect(0);
    assert_eq!(proxy.injected(), 7);
}

#[test]
fn a_server_that_never_recovers_gives_a_clear_error() {
    let Some((w, proxy)) = world(24) else { return };
    let before = listing(&w.path("src"));
    proxy.set(Faults {
        when: When::From(1),
        what: vec![Fault::Status(503)],
        ..Faults::none()
    });
    let run = w.poof(&["backup"]);
    clear_failure(&run, &proxy.log());
    assert!(run.stderr.contains("gave up after"), "{}", run.stderr);
    assert_eq!(listing(&w.path("src")), before);
    proxy.set(Faults::none());
    assert!(w.stored("Docs").is_empty());

    let (old, remote) = stage_download(&w, &proxy);
    proxy.set(Faults {
        when: When::From(1),
        what: vec![Fault::Drop],
        ..Faults::none()
    });
    let run = w.poof(&["download"]);
    assert!(run.stderr.contains("gave up after"), "{}", run.stderr);
    check_download(&w, &run, &old, &remote, &proxy.log());
    assert_eq!(snapshot(&w.path("src")), old);
}

#[test]
fn answers_lost_after_the_server_acted_are_retried_safely() {
    let Some((w, proxy)) = world(25) else { return };
    proxy.set(Faults::none());
    w.poof(&["backup"]).expect(0);
    let prev = w.stored("Docs");
    for i in [0, 1, 2] {
        std::fs::remove_file(w.path(&format!("src/d{i}/f{i:04}.bin"))).unwrap();
    }
    w.file("src/d4/f0004.bin", b"edited", 1_700_000_000, 0o644);
    let before = listing(&w.path("src"));
    proxy.set(Faults {
        seed: 25,
        when: When::Probability(0.5),
        what: vec![Fault::DropAfterForward],
        max: Some(8),
        ..Faults::none()
    });
    let run = w.poof(&["backup"]);
    check_backup(&w, &run, &before, &prev, &proxy.log());
    proxy.set(Faults::none());
    w.poof(&["backup"]).expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
}

#[test]
fn stalls_slow_the_run_down_but_lose_nothing() {
    let Some((w, proxy)) = world(26) else { return };
    proxy.set(Faults::random(26, 0.3, &[Fault::Stall(300)]));
    let before = listing(&w.path("src"));
    let run = w.poof(&["backup", "--transfers", "4"]);
    check_backup(&w, &run, &before, &BTreeMap::new(), &proxy.log());
    run.expect(0);
    let (old, remote) = stage_download(&w, &proxy);
    proxy.set(Faults::random(27, 0.3, &[Fault::Stall(300)]));
    let run = w.poof(&["download", "--transfers", "4"]);
    check_download(&w, &run, &old, &remote, &proxy.log());
    run.expect(0);
}

#[test]
fn upload_under_random_faults_wipes_only_verified_files() {
    if !has_upload() {
        eprintln!("skipped: this poof has no `upload` command yet");
        return;
    }
    for seed in 31..=33u64 {
        let Some((w, proxy)) = world(seed) else {
            return;
        };
        let original = snapshot(&w.path("src"));
        proxy.set(Faults::random(seed, 0.2, ALL));
        let run = w.poof(&["upload", "--yes", "--transfers", "4"]);
        let log = proxy.log();
        proxy.set(Faults::none());
        let local = snapshot(&w.path("src"));
        each_file_is_one_of(&local, &[&original], "local after a faulty upload");
        let stored = w.stored("Docs");
        each_file_is_one_of(&stored, &[&original], "remote after a faulty upload");
        for (path, facts) in &original {
            assert!(
                local.contains_key(path) || stored.get(path) == Some(facts),
                "{path} was wiped without a verified remote copy (exit {}); faults:\n{log}\n{}",
                run.code,
                run.stderr
            );
        }
        if run.code != 0 {
            clear_failure(&run, &log);
        }
    }
}

/// One request body corrupted on the way: the server refuses it (the
/// SHA-256 it was signed with does not match), and another attempt would
/// succeed.
#[test]
fn an_upload_corrupted_on_the_way_is_retried() {
    let Some((w, proxy)) = world(41) else { return };
    proxy.set(Faults {
        filter: Filter {
            method: Some("PUT"),
            objects_only: true,
        },
        when: When::Nth(vec![1]),
        what: vec![Fault::FlipRequest],
        ..Faults::none()
    });
    let run = w.poof(&["backup"]);
    proxy.set(Faults::none());
    run.expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
}

/// A listing (or another small XML answer) cut mid-body: the request is
/// worth another attempt, as a cut GET of an object is.
#[test]
fn a_listing_cut_mid_body_is_retried() {
    let Some((w, proxy)) = world(42) else { return };
    proxy.set(Faults {
        filter: Filter {
            method: Some("GET"),
            objects_only: false,
        },
        when: When::Nth(vec![1, 2]),
        what: vec![Fault::CutBody],
        ..Faults::none()
    });
    let run = w.poof(&["backup"]);
    proxy.set(Faults::none());
    run.expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
}
