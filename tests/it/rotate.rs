//! `poof econfig --rotate` end to end, on both kinds of remote: every file
//! restores byte for byte under the new key, from this machine and from a
//! new one; nothing the old key wrote is left (read directly on the folder
//! remote); a dry run changes nothing; a rotation killed at many points
//! continues when run again and loses nothing; a machine that still holds
//! the old key is told what to do.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{FileFacts, Kind, Run, World, poof_bin, snapshot};
use crate::harness::{data_set, kill, spawn, spawned_stderr};
use crate::proxy::Rng;

crate::on_both_remotes!(
    a_rotation_re_encrypts_everything_under_a_new_key,
    a_dry_run_changes_nothing,
    a_killed_rotation_continues_and_loses_nothing,
    a_machine_with_the_old_key_is_told_what_to_do,
);

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

fn poof(w: &World, args: &[&str]) -> Run {
    w.poof_env(args, &[PASS])
}

/// Runs poof as another machine would: with the config folder `confdir`.
fn poof_at(w: &World, confdir: &Path, args: &[&str]) -> Run {
    let out = Command::new(poof_bin())
        .arg("--confdir")
        .arg(confdir)
        .args(args)
        .env("HOME", w.path("home"))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env(PASS.0, PASS.1)
        .output()
        .expect("poof runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs poof with a terminal for its output (util-linux `script`), and
/// returns what the terminal showed; `None` (with a notice) without `script`.
pub(crate) fn on_a_terminal(w: &World, args: &[&str]) -> Option<String> {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = vec![
        quote(&poof_bin().display().to_string()),
        "--confdir".into(),
        quote(&w.path("conf").display().to_string()),
    ];
    line.extend(args.iter().map(|a| quote(a)));
    let out = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env("HOME", w.path("home"))
        .env(PASS.0, PASS.1)
        .current_dir(w.path(""))
        .output();
    let Ok(out) = out else {
        eprintln!("skipped: no `script` to give poof a terminal");
        return None;
    };
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    Some(shown)
}

/// An encrypted world with `src` backed up: three small files, or (with
/// `many`) a data set and a file above the size poof opens in memory.
fn encrypted(kind: Kind, many: bool) -> World {
    let w = World::on(kind);
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/sub/b.bin", &[7u8; 70_000], 1_600_000_100, 0o600);
    let c: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    w.file("src/c.bin", &c, 1_600_000_200, 0o640);
    if many {
        data_set(&w, "src/set", 31, 60, 64 << 10);
        w.file("src/big.bin", &Rng(32).bytes(6 << 20), 1_600_000_300, 0o600);
    }
    w.conf(&[("src", "Docs")]);
    poof(&w, &["econfig"]).expect(0);
    poof(&w, &["cryptoggle"]).expect(0);
    poof(&w, &["backup"]).expect(0);
    w
}

/// A new machine's config folder: the same poof.conf with `Docs` mapped to
/// the world's `local` folder, and no key.
fn machine(w: &World, name: &str, local: &str) -> PathBuf {
    let conf = w.path(name);
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::create_dir_all(w.path(local)).unwrap();
    let text = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    let from = w.path("src").display().to_string();
    let to = w.path(local).display().to_string();
    std::fs::write(conf.join("poof.conf"), text.replace(&from, &to)).unwrap();
    conf
}

/// Restores `Docs` on a new machine, with the passphrase alone, and
/// returns what it wrote.
fn restored_elsewhere(w: &World, name: &str) -> BTreeMap<String, FileFacts> {
    let conf = machine(w, name, &format!("{name}-files"));
    poof_at(w, &conf, &["download"]).expect(0);
    snapshot(&w.path(&format!("{name}-files")))
}

/// Every object of the folder remote (path, bytes); `None` on S3.
fn folder_objects(w: &World) -> Option<BTreeMap<String, Vec<u8>>> {
    let Kind::Folder = w.kind else { return None };
    let root = w.path("remote");
    Some(
        snapshot(&root)
            .into_keys()
            .map(|p| {
                let bytes = std::fs::read(root.join(&p)).unwrap();
                (p, bytes)
            })
            .collect(),
    )
}

fn a_rotation_re_encrypts_everything_under_a_new_key(kind: Kind) {
    let w = encrypted(kind, false);
    let source = snapshot(&w.path("src"));
    let old_key = std::fs::read(w.path("conf/poof.key")).unwrap();
    let before = folder_objects(&w);
    let run = poof(&w, &["econfig", "--rotate"]).expect(0);
    assert!(
        run.stdout.contains("Docs: 3 re-encrypted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("rotated: every object of the configured paths"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("older versions of .poof/key"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("ETA"),
        "no progress bar when stderr is no terminal: {}",
        run.stderr
    );
    let new_key = std::fs::read(w.path("conf/poof.key")).unwrap();
    assert_ne!(old_key, new_key);
    assert_eq!(
        std::fs::metadata(w.path("conf/poof.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(!w.path("conf/poof.key.next").exists());
    // This machine goes on as before, and finds everything in place.
    let again = poof(&w, &["backup"]).expect(0);
    assert!(
        again.stdout.contains("0 copied (0 B), 0 deleted"),
        "{}",
        again.stdout
    );
    // A new machine restores everything with the passphrase alone.
    assert_eq!(restored_elsewhere(&w, "fresh"), source);
    // Rotating again is a rotation again (to a third key), and works; on
    // a terminal, it draws a progress bar.
    match on_a_terminal(&w, &["econfig", "--rotate"]) {
        Some(shown) => assert!(
            shown.contains("/3 files") && shown.contains("ETA") && shown.contains("rotated:"),
            "{shown}"
        ),
        None => {
            poof(&w, &["econfig", "--rotate"]).expect(0);
        }
    }
    assert_eq!(restored_elsewhere(&w, "third"), source);
    let (Some(before), Some(after)) = (before, folder_objects(&w)) else {
        return;
    };
    // Every object is new: none of the old key's names or bytes is left,
    // the key copies agree, and the rotation's own copy is gone.
    for (name, bytes) in &before {
        if name == ".poof/key" {
            continue;
        }
        assert!(!after.contains_key(name), "{name} of the old key is left");
        assert!(
            !after.values().any(|b| b == bytes),
            "{name}'s bytes are left"
        );
    }
    assert!(!after.contains_key(".poof/key.next"));
    assert_eq!(
        after[".poof/key"],
        std::fs::read(w.path("conf/poof.key")).unwrap()
    );
    // The old wrapped key, given the bucket as it is now, finds nothing.
    let old = machine(&w, "old", "old-files");
    std::fs::write(old.join("poof.key"), &old_key).unwrap();
    std::fs::write(w.path("remote/.poof/key"), &old_key).unwrap();
    poof_at(&w, &old, &["--trust-remote", "download"]);
    assert!(snapshot(&w.path("old-files")).is_empty());
}

fn a_dry_run_changes_nothing(kind: Kind) {
    let w = encrypted(kind, false);
    let before = folder_objects(&w);
    let key = std::fs::read(w.path("conf/poof.key")).unwrap();
    let run = poof(&w, &["econfig", "--rotate", "--dry-run"]).expect(0);
    assert!(
        run.stdout.contains("Docs: would re-encrypt 3 files"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("nothing was changed"), "{}", run.stdout);
    assert_eq!(std::fs::read(w.path("conf/poof.key")).unwrap(), key);
    assert!(!w.path("conf/poof.key.next").exists());
    assert_eq!(folder_objects(&w), before);
    // The key still opens everything, with nothing to copy.
    let again = poof(&w, &["backup"]).expect(0);
    assert!(
        again.stdout.contains("0 copied (0 B), 0 deleted"),
        "{}",
        again.stdout
    );
    // And a config that is not encrypted is refused, saying why.
    let plain = World::new();
    plain.conf(&[("src", "Docs")]);
    let run = poof(&plain, &["econfig", "--rotate"]).expect(2);
    assert!(
        run.stderr.contains("\"encrypted\": false"),
        "{}",
        run.stderr
    );
}

fn a_killed_rotation_continues_and_loses_nothing(kind: Kind) {
    let w = encrypted(kind, true);
    let source = snapshot(&w.path("src"));
    let pass = w.path("pass");
    std::fs::write(&pass, PASS.1).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let args = [
        "--passphrase-file",
        pass.to_str().unwrap(),
        "econfig",
        "--rotate",
    ];
    // Calibration: one whole rotation, unkilled.
    let t = Instant::now();
    w.poof(&args).expect(0);
    let calibrated = t.elapsed().as_millis() as u64;
    let before = folder_objects(&w);
    let mut rng = Rng(4711);
    let (mut killed, mut finished) = (0, 0);
    let rounds = 6;
    for round in 0..rounds {
        // Most points land inside a run: before three quarters of its length.
        let ms = calibrated / 10 + rng.below((calibrated * 3 / 4).max(20));
        let mut child = spawn(&w, &args);
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(ms)
            && child.try_wait().ok().flatten().is_none()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        if kill(&mut child) {
            killed += 1;
        } else {
            // It ended before the kill; the next round starts another rotation.
            finished += 1;
            let err = spawned_stderr(&w);
            assert!(err.is_empty(), "round {round} ({ms} ms): {err}");
        }
    }
    eprintln!(
        "rotation of {calibrated} ms: killed {killed} times, finished {finished} times before the rerun"
    );
    assert!(
        killed * 2 >= rounds,
        "most points must kill a running rotation"
    );
    let run = w.poof(&args).expect(0);
    assert!(
        run.stdout
            .contains("rotated: every object of the configured paths"),
        "{}",
        run.stdout
    );
    assert!(!w.path("conf/poof.key.next").exists());
    assert_eq!(restored_elsewhere(&w, "fresh"), source);
    let again = poof(&w, &["backup"]).expect(0);
    assert!(
        again.stdout.contains("0 copied (0 B), 0 deleted"),
        "{}",
        again.stdout
    );
    if let (Some(before), Some(after)) = (before, folder_objects(&w)) {
        for name in before.keys().filter(|n| *n != ".poof/key") {
            assert!(!after.contains_key(name), "{name} of the old key is left");
        }
        assert!(!after.contains_key(".poof/key.next"));
        assert_eq!(
            after.len(),
            before.len(),
            "one object per file and the manifest"
        );
    }
}

fn a_machine_with_the_old_key_is_told_what_to_do(kind: Kind) {
    let w = encrypted(kind, false);
    let source = snapshot(&w.path("src"));
    // A second machine set up before the rotation: it holds the old key.
    let other = machine(&w, "other", "other-files");
    poof_at(&w, &other, &["econfig"]).expect(0);
    poof_at(&w, &other, &["download"]).expect(0);
    poof(&w, &["econfig", "--rotate"]).expect(0);
    let run = poof_at(&w, &other, &["download"]).expect(2);
    assert!(run.stderr.contains("is not the key of"), "{}", run.stderr);
    let run = poof_at(&w, &other, &["econfig"]).expect(2);
    assert!(
        run.stderr
            .contains("If the key was rotated on another machine"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("run `poof econfig` again"),
        "{}",
        run.stderr
    );
    // Doing what it says works: the new key is fetched, and everything restores.
    std::fs::remove_file(other.join("poof.key")).unwrap();
    let run = poof_at(&w, &other, &["econfig"]).expect(0);
    assert!(run.stdout.contains("copied key"), "{}", run.stdout);
    std::fs::remove_dir_all(w.path("other-files")).unwrap();
    std::fs::create_dir(w.path("other-files")).unwrap();
    poof_at(&w, &other, &["download"]).expect(0);
    assert_eq!(snapshot(&w.path("other-files")), source);
}
