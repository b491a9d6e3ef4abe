//! poof killed with SIGKILL at many points of a backup and of a download,
//! chosen by deterministic seeds: either while the k-th request is in
//! flight (the proxy holds it, then poof is killed), or after a seeded
//! delay calibrated on an unkilled run (tried again earlier when the run
//! had already ended, so that a busy machine does not fail the test).
//!
//! After each kill: the local source of a backup is untouched, every local
//! file of a download is a whole version (old or new); then a rerun is not
//! blocked by the dead run's lock, and converges: the remote equals the
//! source (backup), the local tree equals the remote (download), and no
//! `.poof-tmp-` file is left on either side.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::{FileFacts, Kind, World, listing, snapshot};
use crate::harness::{data_set, each_file_is_one_of, kill, route_through, spawn, temp_files};
use crate::proxy::{Fault, Faults, Proxy, Rng, When};

/// Kill points per direction on S3, and on the folder remote.
const S3_POINTS: u64 = 24;
const FOLDER_POINTS: u64 = 6;

/// Files of the data set (64 KiB each) besides the big one.
const FILES: usize = 300;
/// The big file's size.
const BIG: usize = 20 << 20;

/// Changes the local tree for one round: rewrites 12 files, deletes 2, adds
/// 2, and rewrites the big file; returns how many files the next sync
/// copies or deletes.
fn mutate(w: &World, rng: &mut Rng, round: u64) -> u64 {
    let files: Vec<String> = snapshot(&w.path("src"))
        .into_keys()
        .filter(|p| p != "big.bin" && !p.contains(".poof-tmp-"))
        .collect();
    let mut changes = 0;
    for _ in 0..12 {
        let p = &files[rng.below(files.len() as u64) as usize];
        let content = rng.bytes(64 << 10);
        w.file(
            &format!("src/{p}"),
            &content,
            1_700_000_000 + round as i64,
            0o644,
        );
        changes += 1;
    }
    for _ in 0..2 {
        let p = &files[rng.below(files.len() as u64) as usize];
        if std::fs::remove_file(w.path(&format!("src/{p}"))).is_ok() {
            changes += 1;
        }
    }
    for j in 0..2 {
        let content = rng.bytes(64 << 10);
        w.file(
            &format!("src/new/r{round}-{j}.bin"),
            &content,
            1_700_000_000,
            0o644,
        );
        changes += 1;
    }
    let content = rng.bytes(BIG);
    w.file("src/big.bin", &content, 1_700_000_000 + round as i64, 0o600);
    changes + 1
}

/// How poof is killed in one round.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// While the k-th request (and every later one) is held by the proxy.
    Request(usize),
    /// After this many milliseconds.
    After(u64),
}

/// Runs poof with `args` and kills it at `point`; returns whether it was
/// still running when killed.
fn run_and_kill(
    w: &World,
    proxy: Option<&Proxy>,
    args: &[&str],
    point: Point,
    rng: &mut Rng,
) -> bool {
    if let (Some(p), Point::Request(k)) = (proxy, point) {
        p.set(Faults {
            when: When::From(k),
            what: vec![Fault::Hold],
            ..Faults::none()
        });
    }
    let mut child = spawn(w, args);
    match point {
        Point::Request(_) => {
            let p = proxy.expect("request points need the proxy");
            let start = Instant::now();
            while p.held() == 0
                && child.try_wait().ok().flatten().is_none()
                && start.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            // Let the other workers run into the hold too, or not.
            std::thread::sleep(Duration::from_millis(rng.below(20)));
        }
        Point::After(ms) => std::thread::sleep(Duration::from_millis(ms)),
    }
    let killed = kill(&mut child);
    if let Some(p) = proxy {
        p.set(Faults::none());
        p.release();
    }
    killed
}

/// Tries of a round whose kill came after the end of the run.
const TRIES: u32 = 4;

/// A point for round `i`, try `attempt`: even rounds by request, odd rounds
/// by time. A time point that came after the end of the run is tried again
/// earlier (the run took less than its calibration, say on a busy machine),
/// down to a kill right after the start, so that the kills land in the run
/// whatever the machine's speed.
fn point(
    i: u64,
    attempt: u32,
    rng: &mut Rng,
    requests: u64,
    calibrated_ms: u64,
    proxy: bool,
) -> Point {
    if proxy && i.is_multiple_of(2) {
        Point::Request(1 + rng.below(requests.max(1)) as usize)
    } else if attempt + 1 >= TRIES {
        Point::After(0)
    } else {
        // Three quarters of an unkilled run: most points land inside the run.
        Point::After(rng.below(((calibrated_ms * 3 / 4) >> attempt).max(20)))
    }
}

/// A world with the data set; on S3 its poof goes through a proxy.
fn world(kind: Kind) -> (World, Option<Proxy>) {
    let proxy = match &kind {
        Kind::S3(s3) => Some(Proxy::start(&s3.endpoint, Faults::none())),
        Kind::Folder => None,
    };
    let w = World::on(kind);
    data_set(&w, "src", 77, FILES, 64 << 10);
    w.file("src/big.bin", &Rng(78).bytes(BIG), 1_600_000_000, 0o600);
    w.conf(&[("src", "Docs")]);
    if let Some(p) = &proxy {
        route_through(&w, &p.url());
    }
    (w, proxy)
}

/// Where the remote keeps files, when it is a folder.
fn remote_temp_files(w: &World) -> Vec<std::path::PathBuf> {
    temp_files(&w.path("remote"))
}

fn backup_killed(kind: Kind, points: u64) {
    let (w, proxy) = world(kind);
    let on_s3 = proxy.is_some();
    w.poof(&["backup", "--transfers", "8"]).expect(0);
    // Calibration: one unkilled round.
    let mut rng = Rng(4242);
    let changes = mutate(&w, &mut rng, 1000);
    let t = Instant::now();
    w.poof(&["backup", "--transfers", "8"]).expect(0);
    let calibrated = t.elapsed().as_millis() as u64;
    let (mut killed, mut finished) = (0, 0);
    for i in 0..points {
        let mut rng = Rng(9000 + i);
        let mut attempt = 0;
        let p = loop {
            // A round of its own for each try: its rewrites get their own
            // modification time, so the next run sees them as changes.
            let round = i * u64::from(TRIES) + u64::from(attempt);
            let changes_now = mutate(&w, &mut rng, round);
            let requests = changes_now.max(changes) + 4;
            let p = point(i, attempt, &mut rng, requests, calibrated, on_s3);
            let before = listing(&w.path("src"));
            let was_running = run_and_kill(
                &w,
                proxy.as_ref(),
                &["backup", "--transfers", "8"],
                p,
                &mut rng,
            );
            assert_eq!(
                listing(&w.path("src")),
                before,
                "round {i} ({p:?}): the source changed"
            );
            attempt += 1;
            if was_running {
                killed += 1;
                break p;
            }
            eprintln!("round {i}: {p:?} came after the end of the run");
            if matches!(p, Point::Request(_)) || attempt >= TRIES {
                finished += 1;
                break p;
            }
        };
        // The dead run's lock does not block the rerun, which converges.
        let rerun = w.poof(&["backup", "--transfers", "8"]);
        assert_eq!(rerun.code, 0, "round {i} ({p:?}): rerun\n{}", rerun.stderr);
        assert!(
            !rerun.stderr.contains("right now"),
            "round {i}: the lock blocked the rerun"
        );
        assert!(
            remote_temp_files(&w).is_empty(),
            "round {i} ({p:?}): temporary files left in the remote: {:?}",
            remote_temp_files(&w)
        );
        // Every few rounds, and at the end, the remote's content is compared in full.
        if i % 5 == 4 || i + 1 == points {
            assert_eq!(
                w.stored("Docs"),
                snapshot(&w.path("src")),
                "round {i} ({p:?})"
            );
        } else {
            let again = w.poof(&["backup"]).expect(0);
            assert!(
                again.stdout.contains("0 copied (0 B), 0 deleted"),
                "round {i}: {}",
                again.stdout
            );
        }
    }
    eprintln!(
        "backup on {}: {points} kill points ({killed} killed mid-run, {finished} had finished), calibrated run {calibrated} ms",
        if on_s3 { "s3" } else { "folder" }
    );
    assert!(killed * 2 >= points, "most points must kill a running poof");
}

/// Makes the local tree an older version of the remote for one round;
/// returns the old local snapshot.
fn stage_old(w: &World, rng: &mut Rng, round: u64) -> BTreeMap<String, FileFacts> {
    let files: Vec<String> = snapshot(&w.path("src"))
        .into_keys()
        .filter(|p| p != "big.bin")
        .collect();
    for _ in 0..12 {
        let p = &files[rng.below(files.len() as u64) as usize];
        w.file(
            &format!("src/{p}"),
            format!("old {round}").as_bytes(),
            1_500_000_000,
            0o644,
        );
    }
    for _ in 0..2 {
        let p = &files[rng.below(files.len() as u64) as usize];
        let _ = std::fs::remove_file(w.path(&format!("src/{p}")));
    }
    w.file(
        &format!("src/extra-{round}.txt"),
        b"local only",
        1_500_000_000,
        0o644,
    );
    w.file("src/big.bin", b"old big", 1_500_000_000, 0o600);
    snapshot(&w.path("src"))
}

fn download_killed(kind: Kind, points: u64) {
    let (w, proxy) = world(kind);
    let on_s3 = proxy.is_some();
    w.poof(&["backup", "--transfers", "8"]).expect(0);
    let remote = snapshot(&w.path("src"));
    // Calibration: one unkilled round.
    let mut rng = Rng(4343);
    stage_old(&w, &mut rng, 0);
    let t = Instant::now();
    w.poof(&["download", "--transfers", "8"]).expect(0);
    let calibrated = t.elapsed().as_millis() as u64;
    let (mut killed, mut finished, mut temps_after_kill) = (0, 0, 0);
    for i in 0..points {
        let mut rng = Rng(7000 + i);
        let mut attempt = 0;
        let (p, old) = loop {
            let old = stage_old(&w, &mut rng, i);
            // check, list, manifest, then at most 12 files and the big one.
            let p = point(i, attempt, &mut rng, 16, calibrated, on_s3);
            let was_running = run_and_kill(
                &w,
                proxy.as_ref(),
                &["download", "--transfers", "8"],
                p,
                &mut rng,
            );
            attempt += 1;
            if was_running {
                killed += 1;
                break (p, old);
            }
            eprintln!("round {i}: {p:?} came after the end of the run");
            if matches!(p, Point::Request(_)) || attempt >= TRIES {
                finished += 1;
                break (p, old);
            }
        };
        let temps = temp_files(&w.path("src"));
        temps_after_kill += temps.len();
        let now: BTreeMap<_, _> = snapshot(&w.path("src"))
            .into_iter()
            .filter(|(p, _)| !p.contains(".poof-tmp-"))
            .collect();
        each_file_is_one_of(
            &now,
            &[&old, &remote],
            &format!("round {i} ({p:?}), after the kill"),
        );
        let rerun = w.poof(&["download", "--transfers", "8"]);
        assert_eq!(rerun.code, 0, "round {i} ({p:?}): rerun\n{}", rerun.stderr);
        assert_eq!(snapshot(&w.path("src")), remote, "round {i} ({p:?})");
        assert!(
            temp_files(&w.path("src")).is_empty(),
            "round {i} ({p:?}): the rerun left temporary files: {:?}",
            temp_files(&w.path("src"))
        );
    }
    eprintln!(
        "download on {}: {points} kill points ({killed} killed mid-run, {finished} had finished; {temps_after_kill} temporary files found after kills, all removed by the rerun), calibrated run {calibrated} ms",
        if on_s3 { "s3" } else { "folder" }
    );
    assert!(killed * 2 >= points, "most points must kill a running poof");
}

#[test]
fn s3_backup_killed_at_many_points_converges() {
    if let Some(kind) = Kind::s3() {
        backup_killed(kind, S3_POINTS);
    }
}

#[test]
fn s3_download_killed_at_many_points_converges() {
    if let Some(kind) = Kind::s3() {
        download_killed(kind, S3_POINTS);
    }
}

#[test]
fn folder_backup_killed_at_many_points_converges() {
    backup_killed(Kind::Folder, FOLDER_POINTS);
}

#[test]
fn folder_download_killed_at_many_points_converges() {
    download_killed(Kind::Folder, FOLDER_POINTS);
}

/// A download killed mid-file leaves its temporary file; a backup run next
/// (instead of the download) must not store that fragment as user data.
#[test]
fn a_killed_download_leaves_nothing_a_backup_would_store() {
    let Some(kind) = Kind::s3() else { return };
    let (w, proxy) = world(kind);
    let proxy = proxy.unwrap();
    w.poof(&["backup"]).expect(0);
    std::fs::remove_file(w.path("src/big.bin")).unwrap();
    // Hold the big file's GET: its temporary file exists, then poof dies.
    proxy.set(Faults {
        filter: crate::proxy::Filter {
            method: Some("GET"),
            objects_only: true,
        },
        when: When::From(1),
        what: vec![Fault::Hold],
        ..Faults::none()
    });
    let mut child = spawn(&w, &["download"]);
    let start = Instant::now();
    while proxy.held() == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(&mut child);
    proxy.release();
    proxy.set(Faults::none());
    let temps = temp_files(&w.path("src"));
    assert!(!temps.is_empty(), "the kill left a temporary file (setup)");
    w.poof(&["backup"]).expect(0);
    let stored = w.stored("Docs");
    let leaked: Vec<_> = stored.keys().filter(|k| k.contains(".poof-tmp-")).collect();
    assert!(
        leaked.is_empty(),
        "temporary fragments stored as user files: {leaked:?}"
    );
}

/// `poof upload` killed at many points (during the backup, the read-back or
/// the wipe): no local file is ever gone without a whole copy on the remote,
/// and a rerun finishes the job.
#[test]
fn s3_upload_killed_at_many_points_wipes_only_verified_files() {
    let Some(kind) = Kind::s3() else { return };
    if !crate::harness::has_upload() {
        eprintln!("skipped: this poof has no `upload` command yet");
        return;
    }
    let (w, proxy) = upload_world(kind);
    let proxy = proxy.expect("an S3 world has a proxy");
    let original = snapshot(&w.path("src"));
    let mut killed = 0;
    for i in 0..S3_POINTS {
        let mut rng = Rng(5000 + i);
        // Put back whatever an earlier round wiped.
        restore_upload_tree(&w, &original);
        // check, list, manifest, up to 61 PUTs, a manifest, then one GET per
        // file: well over 120 requests, so a kill at any of the first 120 lands
        // inside the run, whatever the machine's speed.
        let p = Point::Request(1 + rng.below(120) as usize);
        if run_and_kill(
            &w,
            Some(&proxy),
            &["upload", "--yes", "--transfers", "4"],
            p,
            &mut rng,
        ) {
            killed += 1;
        }
        let local = snapshot(&w.path("src"));
        each_file_is_one_of(&local, &[&original], &format!("round {i} ({p:?}): local"));
        let stored = w.stored("Docs");
        each_file_is_one_of(&stored, &[&original], &format!("round {i} ({p:?}): remote"));
        for (path, facts) in &original {
            assert!(
                local.contains_key(path) || stored.get(path) == Some(facts),
                "round {i} ({p:?}): {path} was wiped without a whole remote copy"
            );
        }
        // The rerun a user would type: no --yes.
        let rerun = w.poof(&["upload"]);
        let local = snapshot(&w.path("src"));
        let stored = w.stored("Docs");
        for path in original.keys() {
            assert!(
                local.contains_key(path) || stored.contains_key(path),
                "round {i} ({p:?}): after the rerun (exit {}), {path} is neither local nor remote\n{}",
                rerun.code,
                rerun.stderr
            );
        }
        assert_eq!(rerun.code, 0, "round {i} ({p:?}): rerun\n{}", rerun.stderr);
        assert!(local.is_empty(), "round {i}: the rerun wiped everything");
        assert_eq!(stored, original, "round {i} ({p:?})");
    }
    eprintln!("upload on s3: {S3_POINTS} kill points ({killed} killed mid-run)");
    assert!(
        killed * 2 >= S3_POINTS,
        "most points must kill a running poof"
    );
}

/// A smaller world for upload rounds: 60 files of 64 KiB and one of 4 MiB.
fn upload_world(kind: Kind) -> (World, Option<Proxy>) {
    let Kind::S3(s3) = &kind else {
        unreachable!("upload rounds run on S3")
    };
    let proxy = Proxy::start(&s3.endpoint, Faults::none());
    let w = World::on(kind.clone());
    data_set(&w, "src", 88, 60, 64 << 10);
    w.file("src/big.bin", &Rng(89).bytes(4 << 20), 1_600_000_000, 0o600);
    w.conf(&[("src", "Docs")]);
    route_through(&w, &proxy.url());
    (w, Some(proxy))
}

/// Writes back every file of `original` that is missing locally, with its
/// content, time and mode (read from the remote copy, which a wiped file has).
fn restore_upload_tree(w: &World, original: &BTreeMap<String, FileFacts>) {
    let local = snapshot(&w.path("src"));
    if original.keys().all(|k| local.contains_key(k)) {
        return;
    }
    // The remote holds every wiped file: a download restores them exactly.
    w.poof(&["download", "--yes"]).expect(0);
    assert_eq!(&snapshot(&w.path("src")), original);
}

/// An upload interrupted in its wipe phase (here while it shreds a big
/// file, after it wiped the small ones sorted before it), then run again as
/// a user would: the files the first run wiped must keep their remote copies.
#[test]
fn an_interrupted_upload_rerun_keeps_the_wiped_files() {
    let Some(kind) = Kind::s3() else { return };
    if !crate::harness::has_upload() {
        eprintln!("skipped: this poof has no `upload` command yet");
        return;
    }
    let w = World::on(kind);
    for i in 0..5 {
        w.file(
            &format!("src/a{i}.txt"),
            format!("early {i}").as_bytes(),
            1_600_000_000,
            0o644,
        );
    }
    w.file("src/m-big.bin", &vec![7u8; 256 << 20], 1_600_000_000, 0o644);
    for i in 0..20 {
        w.file(
            &format!("src/z{i:02}.txt"),
            format!("late {i}").as_bytes(),
            1_600_000_000,
            0o644,
        );
    }
    w.conf(&[("src", "Docs")]);
    let original = snapshot(&w.path("src"));
    let mut child = spawn(&w, &["upload", "--shred"]);
    let start = Instant::now();
    // Kill once the early files are gone and the big one is being shredded.
    while w.path("src/a4.txt").exists() && start.elapsed() < Duration::from_secs(120) {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(kill(&mut child), "poof was killed in its wipe phase");
    assert!(
        !w.path("src/a0.txt").exists() && w.path("src/z19.txt").exists(),
        "setup: a partial wipe"
    );
    let rerun = w.poof(&["upload"]);
    let local = snapshot(&w.path("src"));
    let stored = w.stored("Docs");
    let lost: Vec<&String> = original
        .keys()
        .filter(|p| !local.contains_key(*p) && !stored.contains_key(*p))
        .collect();
    assert!(
        lost.is_empty(),
        "lost on both sides after the rerun (exit {}): {lost:?}\n{}",
        rerun.code,
        rerun.stdout
    );
}
