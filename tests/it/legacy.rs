//! poof 1.x's encrypted buckets: the real rclone writes a tree through a
//! `crypt` section (with `password2`) over the test S3 server, as poof 1.x
//! did, and poof restores it, checks it, refuses to write it, refuses a
//! tampered block for that file only, and migrates it to its own format,
//! also after being killed half way.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::common::{Kind, World, snapshot};
use crate::crypt::rclone;
use crate::harness::{data_set, kill, spawn, spawned_stderr};

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

/// An S3 world, or `None` (with a notice) without a test server or rclone.
pub(crate) fn setup() -> Option<World> {
    if std::env::var("POOF_TEST_RCLONE").is_err() {
        eprintln!("skipped: no rclone (run the suite with `cargo xtask test`)");
        return None;
    }
    Some(World::on(Kind::s3()?))
}

/// poof 1.x's pair of files: an S3 section and a crypt section over it
/// (with `extra` options), `remote` naming the crypt section.
pub(crate) fn legacy_conf(w: &World, extra: &str) {
    w.conf(&[("src", "Docs")]);
    let obscure = |p: &str| {
        String::from_utf8(rclone(w, &["obscure", p], None))
            .unwrap()
            .trim()
            .to_string()
    };
    let cloud = w.path("conf/rclone-poof.conf");
    let mut text = std::fs::read_to_string(&cloud).unwrap();
    text += &format!(
        "\n[poof-crypt]\ntype = crypt\nremote = poof-backup:{}\npassword = {}\npassword2 = {}\n{extra}",
        w.bucket,
        obscure("a 1.x passphrase"),
        obscure("and its salt")
    );
    std::fs::write(&cloud, text).unwrap();
    let conf = w.path("conf/poof.conf");
    let text = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("\"poof-backup\"", "\"poof-crypt\"");
    std::fs::write(conf, text).unwrap();
}

/// A tree with spaces, non-ASCII names, an empty file, one exactly one
/// block long, and one of several blocks.
pub(crate) fn tree(w: &World) {
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file(
        "src/with space/é ü ß.txt",
        b"non-ascii",
        1_600_000_050,
        0o644,
    );
    w.file("src/empty", b"", 1_600_000_100, 0o644);
    w.file("src/sub/block.bin", &[9u8; 65_536], 1_600_000_200, 0o644);
    let c: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    w.file("src/sub/deeper/c.bin", &c, 1_600_000_300, 0o644);
}

/// Uploads the world's `src` through the crypt section, as poof 1.x did.
pub(crate) fn upload_with_rclone(w: &World) {
    let src = w.path("src").display().to_string();
    rclone(w, &["copy", &src, "poof-crypt:Docs"], None);
}

/// Content and modification times (rclone crypt keeps no permissions).
fn facts(root: &std::path::Path) -> Vec<(String, String, i64)> {
    snapshot(root)
        .into_iter()
        .map(|(k, (h, t, _))| (k, h, t))
        .collect()
}

#[test]
fn poof_restores_checks_and_verifies_a_1x_encrypted_bucket() {
    let Some(w) = setup() else { return };
    tree(&w);
    legacy_conf(&w, "");
    upload_with_rclone(&w);
    let original = facts(&w.path("src"));

    let run = w.poof(&["check"]).expect(0);
    assert!(
        run.stdout.contains("5 identical, 0 differences"),
        "{}",
        run.stdout
    );
    let run = w.poof(&["verify"]).expect(0);
    assert!(run.stdout.contains("rclone crypt"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("Docs: 5 files readable, 0 objects skipped"),
        "{}",
        run.stdout
    );

    std::fs::remove_dir_all(w.path("src")).unwrap();
    w.poof(&["download"]).expect(0);
    assert_eq!(facts(&w.path("src")), original);
    let again = w.poof(&["download"]).expect(0);
    assert!(again.stdout.contains("0 copied"), "{}", again.stdout);

    // A changed file is a difference for check, by content.
    w.file("src/a.txt", b"alphA", 1_600_000_000, 0o644);
    let run = w.poof(&["check"]).expect(1);
    assert!(run.stdout.contains("a.txt"), "{}", run.stdout);

    // Writing is refused, naming the way out, and nothing is stored.
    let before = rclone(
        &w,
        &["lsf", "-R", &format!("poof-backup:{}", w.bucket)],
        None,
    );
    for cmd in [&["backup"][..], &["upload", "--dry-run"][..]] {
        let run = w.poof(cmd).expect(2);
        assert!(run.stderr.contains("poof migrate"), "{}", run.stderr);
        assert!(run.stderr.contains("block boundary"), "{}", run.stderr);
    }
    let after = rclone(
        &w,
        &["lsf", "-R", &format!("poof-backup:{}", w.bucket)],
        None,
    );
    assert_eq!(before, after);
}

#[test]
fn every_name_mode_reads() {
    if setup().is_none() {
        return;
    }
    for extra in [
        "filename_encoding = base64\n",
        "filename_encoding = base32768\n",
        "directory_name_encryption = false\n",
        "filename_encryption = obfuscate\n",
        "filename_encryption = off\n",
        "no_data_encryption = true\n",
    ] {
        let w = World::on(Kind::s3().unwrap());
        tree(&w);
        legacy_conf(&w, extra);
        upload_with_rclone(&w);
        let original = facts(&w.path("src"));
        std::fs::remove_dir_all(w.path("src")).unwrap();
        let run = w.poof(&["download"]);
        assert_eq!(run.code, 0, "{extra}: {}{}", run.stdout, run.stderr);
        assert_eq!(facts(&w.path("src")), original, "{extra}");
    }
}

#[test]
fn a_flipped_bit_refuses_that_file_only() {
    let Some(w) = setup() else { return };
    tree(&w);
    legacy_conf(&w, "");
    upload_with_rclone(&w);
    let raw = format!("poof-backup:{}", w.bucket);
    // c.bin's object: the one of 32 + 3 * 65,552 + 3,392 + 16 bytes.
    let listing =
        String::from_utf8(rclone(&w, &["lsf", "-R", "--format", "sp", &raw], None)).unwrap();
    let key = listing
        .lines()
        .find_map(|l| l.strip_prefix("200096;"))
        .unwrap_or_else(|| panic!("no object of c.bin's size in:\n{listing}"))
        .to_string();
    let object = format!("{raw}/{key}");
    let mut bytes = rclone(&w, &["cat", &object], None);
    bytes[32 + 65_552 + 100] ^= 0x04;
    rclone(&w, &["rcat", &object], Some(&bytes));

    w.file(
        "src/sub/deeper/c.bin",
        b"the user's own version",
        1_700_000_000,
        0o644,
    );
    std::fs::remove_file(w.path("src/a.txt")).unwrap();
    let run = w.poof(&["download"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("c.bin"), "{all}");
    assert!(all.contains("tampered"), "{all}");
    // That file is not written; the others are restored.
    assert_eq!(
        std::fs::read(w.path("src/sub/deeper/c.bin")).unwrap(),
        b"the user's own version"
    );
    assert_eq!(std::fs::read(w.path("src/a.txt")).unwrap(), b"alpha");
    let run = w.poof(&["check"]);
    assert_ne!(run.code, 0);
}

#[test]
fn migrate_moves_the_tree_to_poofs_format() {
    let Some(w) = setup() else { return };
    tree(&w);
    legacy_conf(&w, "");
    upload_with_rclone(&w);
    let original = facts(&w.path("src"));

    // Without a key, it says what to do first.
    let run = w.poof_env(&["migrate"], &[PASS]).expect(2);
    assert!(run.stderr.contains("poof econfig"), "{}", run.stderr);
    w.poof_env(&["econfig"], &[PASS]).expect(0);
    let dry = w.poof_env(&["migrate", "--dry-run"], &[PASS]).expect(0);
    assert!(dry.stdout.contains("Docs: 5 files"), "{}", dry.stdout);
    assert!(
        std::fs::read_to_string(w.path("conf/poof.conf"))
            .unwrap()
            .contains("poof-crypt")
    );

    let run = w.poof_env(&["migrate"], &[PASS]).expect(0);
    assert!(
        run.stdout.contains("5 files copied and read back"),
        "{}",
        run.stdout
    );
    let conf = std::fs::read_to_string(w.path("conf/poof.conf")).unwrap();
    assert!(conf.contains("\"remote\": \"poof-backup\""), "{conf}");
    assert!(conf.contains("\"encrypted\": true"), "{conf}");

    // poof's own format now: nothing to back up, and a fresh restore is whole.
    let run = w.poof_env(&["backup"], &[PASS]).expect(0);
    assert!(run.stdout.contains("0 copied"), "{}", run.stdout);
    std::fs::remove_dir_all(w.path("src")).unwrap();
    w.poof_env(&["download"], &[PASS]).expect(0);
    assert_eq!(facts(&w.path("src")), original);
    // The rclone crypt copies are still there, readable by rclone.
    let old = rclone(&w, &["lsf", "-R", "poof-crypt:Docs"], None);
    assert!(String::from_utf8(old).unwrap().contains("sub/deeper/c.bin"));
}

#[test]
fn a_killed_migration_continues_and_loses_nothing() {
    let Some(w) = setup() else { return };
    data_set(&w, "src", 17, 60, 40_000);
    legacy_conf(&w, "");
    upload_with_rclone(&w);
    let original = facts(&w.path("src"));
    w.poof_env(&["econfig"], &[PASS]).expect(0);
    let pass = w.path("pass");
    std::fs::write(&pass, PASS.1).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let args = [
        "--passphrase-file",
        pass.to_str().unwrap(),
        "migrate",
        "--delete-old",
        "--transfers",
        "2",
    ];
    let mut killed = 0;
    for ms in [400u64, 900, 1_500] {
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
            let err = spawned_stderr(&w);
            assert!(err.is_empty(), "{ms} ms: {err}");
            break;
        }
        // Killed before the switch: poof.conf still names the crypt section,
        // and the old tree is whole.
        assert!(
            std::fs::read_to_string(w.path("conf/poof.conf"))
                .unwrap()
                .contains("poof-crypt")
        );
    }
    eprintln!("killed {killed} migrations");
    let run = w.poof(&args).expect(0);
    assert!(
        run.stdout.contains("rclone crypt objects deleted"),
        "{}",
        run.stdout
    );
    // Nothing of the rclone crypt tree is left; poof's own objects are.
    let old = rclone(&w, &["lsf", "-R", "--files-only", "poof-crypt:"], None);
    assert!(old.is_empty(), "{}", String::from_utf8_lossy(&old));
    std::fs::remove_dir_all(w.path("src")).unwrap();
    w.poof_env(&["download"], &[PASS]).expect(0);
    assert_eq!(facts(&w.path("src")), original);
    assert!(!w.path("conf/migrate-transit").exists());
}
