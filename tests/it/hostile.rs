//! Hostile input on both sides: a bucket whose object keys try to leave
//! the target folder (or cannot be file names at all), and a local tree
//! built to hurt (deep, wide, odd names, files that change or vanish during
//! the run, unreadable files and folders).
//!
//! Invariants checked: `poof download` never writes outside the target
//! folder and names every key it refused; no torn file is ever stored as
//! good; an error leaves everything else done and deletes nothing.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Kind, S3Server, World, listing, poof_bin, snapshot};
use crate::harness::{kill, route_through, spawn, spawned_stderr, temp_files};
use crate::proxy::{Fault, Faults, Filter, Proxy, When};

/// Puts one object straight into the world's bucket with curl (SigV4), the
/// key given percent-encoded and sent as is (no dot-segment clean-up), so
/// keys no well-behaved client would write get in.
fn put_raw(s3: &S3Server, w: &World, encoded_key: &str, body: &[u8]) {
    let file = w.path("raw-body");
    std::fs::write(&file, body).unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--path-as-is",
        ])
        .args(["--aws-sigv4", &format!("aws:amz:{}:s3", s3.region)])
        .args(["--user", &format!("{}:{}", s3.key, s3.secret)])
        .args(["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-X", "PUT"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("{}/{}/{encoded_key}", s3.endpoint, w.bucket))
        .output()
        .expect("curl runs");
    let code = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code,
        "200",
        "PUT {encoded_key}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(file).unwrap();
}

fn s3_world() -> Option<(World, S3Server)> {
    let kind = Kind::s3()?;
    let Kind::S3(s3) = kind.clone() else {
        unreachable!()
    };
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("skipped: no curl to put hostile keys");
        return None;
    }
    Some((World::on(kind), s3))
}

/// Everything in the world except the target folder, to prove nothing was
/// written outside it.
fn outside_target(w: &World) -> Vec<String> {
    listing(w.dir.path())
        .into_iter()
        // poof's own config folder changes (its run lock comes and goes).
        .filter(|l| !l.starts_with("src") && !l.starts_with("conf"))
        .collect()
}

#[test]
fn hostile_remote_keys_never_lead_outside_the_target() {
    let Some((w, s3)) = s3_world() else { return };
    w.file("src/good.txt", b"good", 1_600_000_000, 0o644);
    w.file("src/keep/me.txt", b"keep", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    std::fs::create_dir(w.path("outside")).unwrap();
    let abs = w.path("outside/abs");
    let refused = [
        "Docs/../escape".to_string(),
        "Docs/../../escape2".to_string(),
        "Docs/sub/../../escape3".to_string(),
        "Docs/./dot".to_string(),
        format!("Docs/{}", abs.display()).replace("Docs/", "Docs//"),
        "Docs/a//b".to_string(),
    ];
    for k in &refused {
        put_raw(&s3, &w, k, b"evil");
    }
    // Odd but safe names: kept inside the target. (Garage's LMDB refuses
    // keys over about 500 bytes, so the long one stays below.)
    put_raw(&s3, &w, "Docs/new%0Aline", b"nl");
    put_raw(&s3, &w, "Docs/tab%09and%20space", b"tab");
    let deep: Vec<String> = (0..2).map(|i| format!("{i}").repeat(180)).collect();
    put_raw(&s3, &w, &format!("Docs/{}", deep.join("/")), b"deep");
    // Both a file and a folder in the bucket.
    put_raw(&s3, &w, "Docs/both", b"file");
    put_raw(&s3, &w, "Docs/both/inner", b"inner");

    std::fs::remove_dir_all(w.path("src")).unwrap();
    let before = outside_target(&w);
    let run = w.poof(&["download"]);
    assert_eq!(
        outside_target(&w),
        before,
        "download wrote outside the target\n{}",
        run.stderr
    );
    assert!(!abs.exists() && !w.path("escape").exists());
    for k in &refused {
        assert!(
            run.stderr.contains(&format!("s3://{}/{k}", w.bucket)),
            "the message names {k:?}: {}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("both"), "{}", run.stderr);
    let run = run.expect(0);
    let got = snapshot(&w.path("src"));
    assert_eq!(std::fs::read(w.path("src/good.txt")).unwrap(), b"good");
    assert_eq!(std::fs::read(w.path("src/new\nline")).unwrap(), b"nl");
    assert_eq!(std::fs::read(w.path("src/tab\tand space")).unwrap(), b"tab");
    assert_eq!(
        std::fs::read(w.path(&format!("src/{}", deep.join("/")))).unwrap(),
        b"deep"
    );
    assert_eq!(std::fs::read(w.path("src/both/inner")).unwrap(), b"inner");
    assert_eq!(got.len(), 6, "{got:?}\n{}", run.stdout);
    // Refused keys are left alone: a backup does not delete what it cannot name.
    w.poof(&["backup"]).expect(0);
}

/// Keys with control characters XML 1.0 cannot carry (`\u{1}`) or
/// normalises (`\r` reads back as `\n`): poof's listing must still work and
/// keep those files.
#[test]
fn control_characters_in_keys_neither_block_nor_lose_files() {
    let Some((w, s3)) = s3_world() else { return };
    w.file("src/good.txt", b"good", 1_600_000_000, 0o644);
    w.file("src/cr\rname", b"cr", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let run = w.poof(&["download"]).expect(0);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    assert_eq!(
        w.stored("Docs"),
        snapshot(&w.path("src")),
        "the file with \\r is restored"
    );
    put_raw(&s3, &w, "Docs/ctl%01name", b"ctl");
    let run = w.poof(&["download"]);
    assert_eq!(
        run.code, 0,
        "one odd key blocks the whole folder: {}",
        run.stderr
    );
    assert_eq!(std::fs::read(w.path("src/ctl\u{1}name")).unwrap(), b"ctl");
}

#[test]
fn a_remote_name_too_long_for_the_disk_fails_clearly() {
    let Some((w, s3)) = s3_world() else { return };
    for f in ["a", "b", "c", "d"] {
        w.file(&format!("src/{f}.txt"), f.as_bytes(), 1_600_000_000, 0o644);
    }
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let long = "L".repeat(300);
    put_raw(&s3, &w, &format!("Docs/{long}"), b"long");
    w.file("src/local-only.txt", b"mine", 1_600_000_000, 0o644);
    std::fs::remove_file(w.path("src/a.txt")).unwrap();
    let run = w.poof(&["download"]).expect(1);
    assert!(
        run.stderr.contains(&long),
        "names the object: {}",
        run.stderr
    );
    assert_eq!(std::fs::read(w.path("src/a.txt")).unwrap(), b"a");
    assert!(
        w.path("src/local-only.txt").exists(),
        "nothing is deleted after an error"
    );
    assert!(temp_files(&w.path("src")).is_empty());
}

#[test]
fn names_equal_after_unicode_normalisation_stay_apart() {
    let Some((w, s3)) = s3_world() else { return };
    w.file("src/x", b"x", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    put_raw(&s3, &w, "Docs/caf%C3%A9", b"nfc");
    put_raw(&s3, &w, "Docs/cafe%CC%81", b"nfd");
    w.poof(&["download"]).expect(0);
    assert_eq!(std::fs::read(w.path("src/caf\u{e9}")).unwrap(), b"nfc");
    assert_eq!(std::fs::read(w.path("src/cafe\u{301}")).unwrap(), b"nfd");
    // And back up again: both stay, neither overwrites the other.
    w.file("src/cafe\u{301}", b"nfd edited", 1_700_000_000, 0o644);
    w.poof(&["backup"]).expect(0);
    let stored = w.stored("Docs");
    assert_eq!(stored, snapshot(&w.path("src")));
}

crate::on_both_remotes!(
    a_thousand_levels_of_nesting,
    ten_thousand_entries_in_one_folder,
    names_with_newlines_and_invalid_utf8,
    unreadable_files_and_folders,
);

fn a_thousand_levels_of_nesting(kind: Kind) {
    let on_s3 = matches!(kind, Kind::S3(_));
    let w = World::on(kind);
    w.file("src/top.txt", b"top", 1_600_000_000, 0o644);
    let deep = vec!["d"; 1000].join("/");
    w.file(
        &format!("src/{deep}/bottom.txt"),
        b"bottom",
        1_600_000_000,
        0o644,
    );
    w.conf(&[("src", "Docs")]);
    let run = w.poof(&["backup"]);
    if on_s3 {
        // S3 keys end at 1024 bytes: the deep file fails, by name, and the rest is done.
        let run = run.expect(1);
        assert!(run.stderr.contains("bottom.txt"), "{}", run.stderr);
        assert!(w.stored("Docs").contains_key("top.txt"));
    } else {
        run.expect(0);
        let original = snapshot(&w.path("src"));
        assert_eq!(w.stored("Docs"), original);
        std::fs::remove_dir_all(w.path("src")).unwrap();
        w.poof(&["download"]).expect(0);
        assert_eq!(snapshot(&w.path("src")), original);
    }
}

fn ten_thousand_entries_in_one_folder(kind: Kind) {
    let on_s3 = matches!(kind, Kind::S3(_));
    let w = World::on(kind);
    // 100,000 empty files on a folder remote; 10,000 small ones on S3
    // (each is one PUT to the local Garage).
    let n = if on_s3 { 10_000 } else { 100_000 };
    std::fs::create_dir_all(w.path("src/wide")).unwrap();
    for i in 0..n {
        let p = w.path(&format!("src/wide/{i:06}"));
        if on_s3 {
            std::fs::write(&p, i.to_string()).unwrap();
        } else {
            std::fs::File::create(&p).unwrap();
        }
    }
    w.conf(&[("src", "Docs")]);
    let t = Instant::now();
    let run = w.poof(&["backup", "--transfers", "32"]).expect(0);
    let up = t.elapsed();
    assert!(
        run.stdout.contains(&format!("{n} copied")),
        "{}",
        run.stdout
    );
    let t = Instant::now();
    let run = w.poof(&["backup"]).expect(0);
    let noop = t.elapsed();
    assert!(run.stdout.contains("0 copied"), "{}", run.stdout);
    std::fs::remove_dir_all(w.path("src/wide")).unwrap();
    w.file("src/other", b"o", 1_600_000_000, 0o644);
    let t = Instant::now();
    w.poof(&["download", "--yes", "--transfers", "32"])
        .expect(0);
    let down = t.elapsed();
    assert_eq!(
        std::fs::read_dir(w.path("src/wide")).unwrap().count(),
        n,
        "every entry restored"
    );
    eprintln!(
        "{n} entries in one folder on {}: backup {up:.1?}, no-op backup {noop:.1?}, download {down:.1?}",
        if on_s3 { "s3" } else { "folder" }
    );
}

fn names_with_newlines_and_invalid_utf8(kind: Kind) {
    let w = World::on(kind);
    w.file("src/line\nbreak", b"nl", 1_600_000_000, 0o644);
    w.file("src/\ttab", b"tab", 1_600_000_000, 0o644);
    w.file("src/dir\nwith newline/f", b"f", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let good = snapshot(&w.path("src"));
    assert_eq!(w.stored("Docs"), good);
    // A name that is not UTF-8 cannot be stored; it is reported by name and
    // makes the listing incomplete, so nothing is deleted.
    std::fs::write(w.path("src").join(OsStr::from_bytes(b"bad-\xc3\x28")), "x").unwrap();
    std::fs::remove_file(w.path("src/line\nbreak")).unwrap();
    let run = w.poof(&["backup"]).expect(0);
    assert!(run.stderr.contains("not valid UTF-8"), "{}", run.stderr);
    assert!(w.stored("Docs").contains_key("line\nbreak"));
    std::fs::remove_dir_all(w.path("src")).unwrap();
    w.poof(&["download"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), good);
}

/// Runs poof as user `nobody` with the world handed over to it, when the
/// tests run as root; `None` otherwise.
fn poof_as_nobody(w: &World, args: &[&str]) -> Option<crate::common::Run> {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(poof_bin())
        .arg("--confdir")
        .arg(w.path("conf"))
        .args(args)
        .env("HOME", w.path("home"))
        .current_dir(w.dir.path())
        .output()
        .ok()?;
    Some(crate::common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn unreadable_files_and_folders(kind: Kind) {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        eprintln!(
            "skipped: needs root to run poof as `nobody` (unreadable files are readable to root)"
        );
        return;
    }
    let w = World::on(kind);
    w.file("src/ok.txt", b"ok", 1_600_000_000, 0o644);
    w.file("src/old.txt", b"old", 1_600_000_000, 0o644);
    w.file("src/secret.txt", b"secret", 1_600_000_000, 0o000);
    w.file("src/closed/inside.txt", b"in", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    std::fs::create_dir_all(w.path("home")).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(w.dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let Some(first) = poof_as_nobody(&w, &["backup"]) else {
        eprintln!("skipped: setpriv is not available");
        return;
    };
    // The unreadable file fails by name; the rest is stored.
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert!(first.stderr.contains("secret.txt"), "{}", first.stderr);
    std::fs::set_permissions(w.path("src/closed"), std::fs::Permissions::from_mode(0o000)).unwrap();
    std::fs::remove_file(w.path("src/old.txt")).unwrap();
    let run = poof_as_nobody(&w, &["backup"]).unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("closed"),
        "names the folder: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("deletions held back"),
        "an unreadable folder stops deletions: {}",
        run.stderr
    );
    std::fs::set_permissions(w.path("src/closed"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let stored = w.stored("Docs");
    assert!(stored.contains_key("ok.txt") && stored.contains_key("closed/inside.txt"));
    assert!(stored.contains_key("old.txt"), "nothing deleted");
    assert!(!stored.contains_key("secret.txt"));
}

/// A file rewritten in place while poof copies it to a folder remote: what
/// lands on the remote must be a whole version, never a mix of two.
#[test]
fn a_file_changed_while_copied_is_never_stored_torn() {
    const SIZE: u64 = 256 << 20;
    let w = World::new();
    let big = w.path("src/big.bin");
    std::fs::create_dir_all(w.path("src")).unwrap();
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(SIZE).unwrap();
    f.write_all_at(&[1u8; 1 << 20], 0).unwrap();
    drop(f);
    // How long one copy takes here, to change the file half-way through one.
    let t = Instant::now();
    std::fs::copy(&big, w.path("calibrate")).unwrap();
    let copy_time = t.elapsed();
    std::fs::remove_file(w.path("calibrate")).unwrap();
    w.conf(&[("src", "Docs")]);
    let mut torn = Vec::new();
    for attempt in 0..5u8 {
        let version = snapshot(&w.path("src"));
        let remote_dir = w.path("remote/Docs");
        let mut child = spawn(&w, &["backup"]);
        // Watch for the temporary file, wait half a copy, then rewrite 64
        // places from start to end in one pass.
        let start = Instant::now();
        while temp_files(&w.path("remote")).is_empty() && start.elapsed() < Duration::from_secs(20)
        {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
        }
        std::thread::sleep(copy_time / 2);
        let f = std::fs::OpenOptions::new().write(true).open(&big).unwrap();
        for i in 0..64u64 {
            f.write_all_at(&[attempt + 2; 4096], i * (SIZE / 64))
                .unwrap();
        }
        drop(f);
        let _ = child.wait();
        kill(&mut child);
        let after = snapshot(&w.path("src"));
        if let Some(stored) = snapshot(&remote_dir).get("big.bin") {
            let whole = [&version, &after]
                .iter()
                .any(|v| v.get("big.bin").is_some_and(|f| f.0 == stored.0));
            if !whole {
                torn.push(attempt);
            }
        }
        let _ = std::fs::remove_dir_all(&remote_dir);
        let _ = remote_dir;
    }
    assert!(
        torn.is_empty(),
        "attempts {torn:?} stored a torn big.bin on the remote"
    );
}

/// A file that grows while its upload is in flight, and one that vanishes
/// before its turn: both reported by name, nothing torn stored, the rest done.
#[test]
fn files_that_grow_or_vanish_during_an_s3_backup() {
    let Some(kind) = Kind::s3() else { return };
    let Kind::S3(s3) = &kind else { unreachable!() };
    let proxy = Proxy::start(&s3.endpoint, Faults::none());
    let w = World::on(kind.clone());
    w.file("src/a-grows.log", &[b'a'; 100_000], 1_600_000_000, 0o644);
    w.file("src/b-stays.txt", b"b", 1_600_000_000, 0o644);
    w.file("src/c-vanishes.txt", b"c", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    route_through(&w, &proxy.url());
    // Hold the first object PUT (one transfer at a time: `a-grows.log`).
    proxy.set(Faults {
        filter: Filter {
            method: Some("PUT"),
            objects_only: true,
        },
        when: When::Nth(vec![1]),
        what: vec![Fault::Hold],
        ..Faults::none()
    });
    let mut child = spawn(&w, &["backup", "--transfers", "1"]);
    let start = Instant::now();
    while proxy.held() == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(proxy.held(), 1, "the upload was held");
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(w.path("src/a-grows.log"))
        .unwrap();
    f.write_all_at(b"more", 0).unwrap();
    drop(f);
    std::fs::remove_file(w.path("src/c-vanishes.txt")).unwrap();
    proxy.release();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "poof hangs");
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = spawned_stderr(&w);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("a-grows.log changed while poof was copying it"),
        "{err}"
    );
    assert!(err.contains("c-vanishes.txt"), "{err}");
    let stored = w.stored("Docs");
    assert_eq!(
        stored.get("b-stays.txt"),
        snapshot(&w.path("src")).get("b-stays.txt")
    );
    if let Some(a) = stored.get("a-grows.log") {
        // Stored before the file grew: the whole first version, never a mix.
        assert_eq!(a.1, 1_600_000_000_123_456_789, "{a:?}");
        let first = hex::encode(<sha2::Sha256 as sha2::Digest>::digest([b'a'; 100_000]));
        assert_eq!(a.0, first, "the stored file is the whole first version");
    }
    let run = w.poof(&["backup"]);
    // The rerun copies the grown file; the vanished one is simply gone.
    run.expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
}
