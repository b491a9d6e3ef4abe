//! The encrypted layout end to end, on both kinds of remote: keys
//! (`econfig`, passphrases, the bucket's copy), `cryptoggle`, backup and
//! restore, no plaintext name in the store, and every way the store can
//! lie (a flipped byte, a cut at a segment boundary, swapped, renamed and
//! replayed objects), each detected, named, and without overwriting the
//! user's file. Stored objects are read and changed directly on the folder
//! remote, and with rclone (`$POOF_TEST_RCLONE`) on S3.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::common::{Kind, World, snapshot};

crate::on_both_remotes!(
    round_trip_with_times_modes_and_no_plaintext_name,
    a_wrong_passphrase_writes_nothing,
    changing_the_passphrase_rewraps_only_the_key,
    a_lost_local_key_is_taken_from_the_remote,
    cryptoggle_switches_layouts_and_keeps_the_config,
    a_flipped_byte_is_detected_and_named,
    a_cut_at_a_segment_boundary_is_detected_and_named,
    swapped_objects_are_detected_and_named,
    a_renamed_object_is_detected_and_named,
    a_replayed_object_is_detected_and_named,
    a_deleted_or_rolled_back_manifest_stops_the_folder,
    a_config_that_forgot_encryption_uploads_nothing_in_the_clear,
);

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

/// Runs poof with the passphrase in the environment.
fn poof(w: &World, args: &[&str]) -> crate::common::Run {
    w.poof_env(args, &[PASS])
}

/// An encrypted world with three files backed up: `a.txt` (5 B), `sub/b.bin`
/// (70,000 B, two segments) and `c.bin` (200,000 B, four segments).
fn encrypted(kind: Kind) -> World {
    let w = World::on(kind);
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/sub/b.bin", &[7u8; 70_000], 1_600_000_100, 0o600);
    let c: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    w.file("src/c.bin", &c, 1_600_000_200, 0o640);
    w.conf(&[("src", "Docs")]);
    let run = poof(&w, &["econfig"]).expect(0);
    assert!(run.stdout.contains("created key"), "{}", run.stdout);
    let mode = std::fs::metadata(w.path("conf/poof.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    poof(&w, &["cryptoggle"]).expect(0);
    let run = poof(&w, &["backup"]).expect(0);
    assert!(run.stdout.contains("3 copied"), "{}", run.stdout);
    w
}

/// The rclone binary, when the suite has one.
fn rclone_bin() -> String {
    std::env::var("POOF_TEST_RCLONE").expect("S3 tests need $POOF_TEST_RCLONE (an rclone binary)")
}

pub(crate) fn rclone(w: &World, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new(rclone_bin())
        .arg("--config")
        .arg(w.path("conf/rclone-poof.conf"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rclone runs");
    if let Some(bytes) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rclone {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every stored object (name relative to the remote's root, size), poof's
/// own `.poof/` objects included.
pub(crate) fn objects(w: &World) -> Vec<(String, u64)> {
    match &w.kind {
        Kind::Folder => {
            let root = w.path("remote");
            let mut out: Vec<_> = snapshot(&root)
                .into_keys()
                .map(|p| {
                    let size = std::fs::metadata(root.join(&p)).unwrap().len();
                    (p, size)
                })
                .collect();
            out.sort();
            out
        }
        Kind::S3(_) => {
            let remote = format!("poof-backup:{}", w.bucket);
            let text = rclone(
                w,
                &["lsf", "-R", "--files-only", "--format", "sp", &remote],
                None,
            );
            let mut out: Vec<_> = String::from_utf8(text)
                .unwrap()
                .lines()
                .map(|l| {
                    let (size, path) = l.split_once(';').unwrap();
                    (path.to_string(), size.parse().unwrap())
                })
                .collect();
            out.sort();
            out
        }
    }
}

/// The stored object of a file of `plain` bytes (sizes are distinct).
fn object_of(w: &World, plain: u64) -> String {
    let sealed = 144 + plain + 16 * plain.div_ceil(65536).max(1);
    let found: Vec<_> = objects(w)
        .into_iter()
        .filter(|(n, s)| *s == sealed && !n.starts_with(".poof/"))
        .collect();
    assert_eq!(found.len(), 1, "one object of {sealed} bytes: {found:?}");
    found[0].0.clone()
}

/// The stored object `name` (relative to the remote's root).
pub(crate) fn read(w: &World, name: &str) -> Vec<u8> {
    match &w.kind {
        Kind::Folder => std::fs::read(w.path(&format!("remote/{name}"))).unwrap(),
        Kind::S3(_) => rclone(
            w,
            &["cat", &format!("poof-backup:{}/{name}", w.bucket)],
            None,
        ),
    }
}

/// Replaces the stored object `name` (relative to the remote's root).
pub(crate) fn write(w: &World, name: &str, bytes: &[u8]) {
    match &w.kind {
        Kind::Folder => std::fs::write(w.path(&format!("remote/{name}")), bytes).unwrap(),
        Kind::S3(_) => {
            rclone(
                w,
                &["rcat", &format!("poof-backup:{}/{name}", w.bucket)],
                Some(bytes),
            );
        }
    }
}

fn rename(w: &World, from: &str, to: &str) {
    match &w.kind {
        Kind::Folder => std::fs::rename(
            w.path(&format!("remote/{from}")),
            w.path(&format!("remote/{to}")),
        )
        .unwrap(),
        Kind::S3(_) => {
            let r = |n: &str| format!("poof-backup:{}/{n}", w.bucket);
            rclone(w, &["moveto", &r(from), &r(to)], None);
        }
    }
}

/// Changes the local copy of `rel` (so that a download would replace it),
/// runs `download`, and checks that it fails naming `object` and `want`,
/// and that the local copy was not overwritten.
fn download_refuses(w: &World, rel: &str, object: &str, want: &str) {
    w.file(
        &format!("src/{rel}"),
        b"the user's own version",
        1_700_000_000,
        0o644,
    );
    let before = snapshot(&w.path("src"));
    let run = poof(w, &["download"]).expect(1);
    let all = format!("{}{}", run.stdout, run.stderr);
    let base = object.rsplit('/').next().unwrap();
    assert!(all.contains(base), "the object {object} is named: {all}");
    assert!(all.contains(want), "{want:?} is said: {all}");
    let after = snapshot(&w.path("src"));
    assert_eq!(
        after.get(rel),
        before.get(rel),
        "{rel} was overwritten: {all}"
    );
    assert!(!all.contains("panicked"), "{all}");
    let leftovers: Vec<_> = after.keys().filter(|k| k.contains(".poof-tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn round_trip_with_times_modes_and_no_plaintext_name(kind: Kind) {
    let w = World::on(kind);
    w.file("src/secret-name.txt", b"alpha", 1_600_000_000, 0o644);
    w.file(
        "src/hidden-folder/b.bin",
        &[7u8; 70_000],
        1_600_000_100,
        0o600,
    );
    w.file(
        "src/hidden-folder/deeper-still/empty-file",
        b"",
        1_600_000_300,
        0o640,
    );
    // Above the in-memory limit: a multipart upload on S3, of three
    // 5 MiB parts, part 1 (which holds the header) sent last.
    let big: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    w.file("src/big-file.bin", &big, 1_610_000_000, 0o644);
    w.conf(&[("src", "Private")]);
    poof(&w, &["econfig"]).expect(0);
    poof(&w, &["cryptoggle"]).expect(0);
    let run = poof(&w, &["backup"]).expect(0);
    assert!(run.stdout.contains("4 copied"), "{}", run.stdout);
    // Format version 2, its header at offset 0 though written last.
    for plain in [big.len() as u64, 70_000, 0] {
        let object = read(&w, &object_of(&w, plain));
        assert_eq!(&object[..8], b"poofobj\x02", "{plain}");
    }
    let run = poof(&w, &["backup"]).expect(0);
    assert!(
        run.stdout
            .contains("0 copied (0 B), 0 deleted, 4 unchanged"),
        "{}",
        run.stdout
    );
    for (name, _) in objects(&w)
        .into_iter()
        .filter(|(n, _)| !n.starts_with(".poof/"))
    {
        // Each holds a character that base32hex never writes, so no
        // encrypted name can contain it by chance.
        for plain in [
            "secret-name.txt",
            "hidden-folder",
            "deeper-still",
            "empty-file",
            "big-file.bin",
            "Private",
        ] {
            assert!(!name.contains(plain), "{name} shows {plain:?}");
        }
    }
    let want = snapshot(&w.path("src"));
    std::fs::remove_dir_all(w.path("src")).unwrap();
    let run = poof(&w, &["download", "--dry-run"]).expect(0);
    assert!(
        run.stdout.contains("copy    secret-name.txt"),
        "{}",
        run.stdout
    );
    assert!(!w.path("src").exists());
    poof(&w, &["download"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), want);
    let run = poof(&w, &["verify"]).expect(0);
    assert!(
        run.stdout.contains("the passphrase opens the key"),
        "{}",
        run.stdout
    );
}

fn a_wrong_passphrase_writes_nothing(kind: Kind) {
    let w = encrypted(kind);
    w.file("src/new.txt", b"new", 1_600_000_000, 0o644);
    let stored = objects(&w);
    let wrong = [("POOF_PASSPHRASE", "wrong")];
    for cmd in ["backup", "download", "verify"] {
        let run = w.poof_env(&[cmd], &wrong).expect(2);
        assert!(
            run.stderr.contains("the passphrase does not open this key"),
            "{cmd}: {}",
            run.stderr
        );
        assert_eq!(
            run.stderr.lines().filter(|l| !l.trim().is_empty()).count(),
            1,
            "{}",
            run.stderr
        );
    }
    std::fs::remove_dir_all(w.path("src/sub")).unwrap();
    let local = snapshot(&w.path("src"));
    w.poof_env(&["download"], &wrong).expect(2);
    assert_eq!(snapshot(&w.path("src")), local);
    assert_eq!(objects(&w), stored);
    // A passphrase file: one trailing newline is stripped; one that other
    // users can read is used, with a warning saying how to fix it.
    std::fs::write(w.path("pass"), "correct horse battery staple\n").unwrap();
    let file = w.path("pass");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = w
        .poof(&["--passphrase-file", file.to_str().unwrap(), "download"])
        .expect(0);
    assert!(
        run.stderr
            .contains("can be read by other users (mode 0644); run `chmod 600"),
        "{}",
        run.stderr
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = w
        .poof(&["--passphrase-file", file.to_str().unwrap(), "download"])
        .expect(0);
    assert!(!run.stderr.contains("other users"), "{}", run.stderr);
    std::fs::write(w.path("pass"), "\n").unwrap();
    let run = w
        .poof(&["--passphrase-file", file.to_str().unwrap(), "backup"])
        .expect(2);
    assert!(run.stderr.contains("is empty"), "{}", run.stderr);
}

fn changing_the_passphrase_rewraps_only_the_key(kind: Kind) {
    let w = encrypted(kind);
    let before: Vec<_> = objects(&w)
        .into_iter()
        .filter(|(n, _)| n != ".poof/key")
        .map(|(n, s)| (read(&w, &n), n, s))
        .collect();
    let run = w
        .poof_env(
            &["econfig", "--change-passphrase"],
            &[PASS, ("POOF_NEW_PASSPHRASE", "a new one")],
        )
        .expect(0);
    assert!(
        run.stdout.contains("nothing was uploaded again"),
        "{}",
        run.stdout
    );
    let after: Vec<_> = objects(&w)
        .into_iter()
        .filter(|(n, _)| n != ".poof/key")
        .map(|(n, s)| (read(&w, &n), n, s))
        .collect();
    assert!(before == after, "objects changed");
    let run = poof(&w, &["download"]).expect(2);
    assert!(run.stderr.contains("does not open"), "{}", run.stderr);
    let new = [("POOF_PASSPHRASE", "a new one")];
    w.poof_env(&["backup"], &new).expect(0);
    // The remote's copy holds the new wrapping too.
    std::fs::remove_file(w.path("conf/poof.key")).unwrap();
    w.poof_env(&["download"], &new).expect(0);
}

fn a_lost_local_key_is_taken_from_the_remote(kind: Kind) {
    let w = encrypted(kind);
    let want = snapshot(&w.path("src"));
    std::fs::remove_file(w.path("conf/poof.key")).unwrap();
    std::fs::remove_dir_all(w.path("src")).unwrap();
    poof(&w, &["download"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), want);
    assert!(!w.path("conf/poof.key").exists());
    let run = poof(&w, &["econfig"]).expect(0);
    assert!(run.stdout.contains("copied key"), "{}", run.stdout);
    assert!(w.path("conf/poof.key").exists());
    // A local key that is not the remote's is refused, and overwrites nothing.
    let other = World::on(Kind::Folder);
    other.file("src/x", b"x", 1_600_000_000, 0o644);
    other.conf(&[("src", "X")]);
    poof(&other, &["econfig"]).expect(0);
    std::fs::copy(other.path("conf/poof.key"), w.path("conf/poof.key")).unwrap();
    let run = poof(&w, &["econfig"]).expect(2);
    assert!(run.stderr.contains("is not the key of"), "{}", run.stderr);
    let run = poof(&w, &["backup"]).expect(2);
    assert!(run.stderr.contains("is not the key of"), "{}", run.stderr);
}

fn cryptoggle_switches_layouts_and_keeps_the_config(kind: Kind) {
    let w = encrypted(kind);
    let conf = w.path("conf/poof.conf");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("\"encrypted\": true"), "{text}");
    let run = poof(&w, &["cryptoggle"]).expect(0);
    assert!(
        run.stdout.contains("encryption is now off"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("stay until you remove them"),
        "{}",
        run.stdout
    );
    let off = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(
        off,
        text.replace("\"encrypted\": true", "\"encrypted\": false")
    );
    let mode = std::fs::metadata(&conf).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    poof(&w, &["backup"]).expect(0);
    let names: Vec<_> = objects(&w).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"Docs/a.txt".to_string()), "{names:?}");
    assert!(
        names.contains(&".poof/plain".to_string()),
        "the choice is recorded"
    );
    // The encrypted objects are still there, and back in use once toggled on.
    poof(&w, &["cryptoggle"]).expect(0);
    let names: Vec<_> = objects(&w).into_iter().map(|(n, _)| n).collect();
    assert!(!names.contains(&".poof/plain".to_string()), "{names:?}");
    let run = poof(&w, &["backup"]).expect(0);
    assert!(run.stdout.contains("0 copied"), "{}", run.stdout);
    let run = poof(&w, &["verify"]).expect(0);
    assert!(run.stdout.contains("encryption     on"), "{}", run.stdout);
}

fn a_flipped_byte_is_detected_and_named(kind: Kind) {
    let w = encrypted(kind);
    let name = object_of(&w, 200_000);
    let mut bytes = read(&w, &name);
    bytes[144 + 65_552 + 10] ^= 1;
    write(&w, &name, &bytes);
    download_refuses(&w, "c.bin", &name, "tampered");
    // A flipped byte in a header is caught while listing.
    let name = object_of(&w, 70_000);
    let mut bytes = read(&w, &name);
    bytes[60] ^= 0x80;
    write(&w, &name, &bytes);
    download_refuses(&w, "sub/b.bin", &name, "tampered");
}

fn a_cut_at_a_segment_boundary_is_detected_and_named(kind: Kind) {
    let w = encrypted(kind);
    let name = object_of(&w, 200_000);
    let bytes = read(&w, &name);
    write(&w, &name, &bytes[..144 + 2 * 65_552]);
    download_refuses(&w, "c.bin", &name, "truncated");
}

fn swapped_objects_are_detected_and_named(kind: Kind) {
    let w = encrypted(kind);
    let (a, b) = (object_of(&w, 5), object_of(&w, 70_000));
    let (ab, bb) = (read(&w, &a), read(&w, &b));
    write(&w, &a, &bb);
    write(&w, &b, &ab);
    download_refuses(&w, "a.txt", &a, "another name");
}

fn a_renamed_object_is_detected_and_named(kind: Kind) {
    let w = encrypted(kind);
    let (a, c) = (object_of(&w, 5), object_of(&w, 200_000));
    // c.bin's object now stands where a.txt's was.
    rename(&w, &c, &a);
    download_refuses(&w, "a.txt", &a, "another name");
    let run = poof(&w, &["download"]);
    assert!(run.stderr.contains("Docs/c.bin"), "{}", run.stderr);
}

fn a_replayed_object_is_detected_and_named(kind: Kind) {
    let w = encrypted(kind);
    let name = object_of(&w, 200_000);
    let old = read(&w, &name);
    // A new version of the same size, backed up; then the old one put back.
    let c: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    w.file("src/c.bin", &c, 1_600_009_999, 0o640);
    poof(&w, &["backup"]).expect(0);
    assert_eq!(object_of(&w, 200_000), name);
    write(&w, &name, &old);
    download_refuses(&w, "c.bin", &name, "replayed");
}

fn delete(w: &World, name: &str) {
    match &w.kind {
        Kind::Folder => std::fs::remove_file(w.path(&format!("remote/{name}"))).unwrap(),
        Kind::S3(_) => {
            rclone(
                w,
                &["deletefile", &format!("poof-backup:{}/{name}", w.bucket)],
                None,
            );
        }
    }
}

/// Freshness (docs/FORMAT.md): a provider that puts an older manifest back,
/// or deletes it, stops restores, deletions and new manifests on that
/// folder (exit 3) until the user says to trust the remote.
fn a_deleted_or_rolled_back_manifest_stops_the_folder(kind: Kind) {
    let w = encrypted(kind);
    let manifest = objects(&w)
        .into_iter()
        .map(|(n, _)| n)
        .find(|n| n.starts_with(".poof/manifests/"))
        .expect("a sealed manifest");
    let memory = w.path("conf/freshness.json");
    let mode = std::fs::metadata(&memory).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the memory is private");
    let generation_1 = read(&w, &manifest);
    let c: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    w.file("src/c.bin", &c, 1_600_009_999, 0o640);
    poof(&w, &["backup"]).expect(0);

    // Rolled back: the older manifest would vouch for nothing wrong in
    // itself, but it is older than the one this machine wrote.
    write(&w, &manifest, &generation_1);
    w.file("src/a.txt", b"the user's own version", 1_700_000_000, 0o644);
    let before = snapshot(&w.path("src"));
    for cmd in ["download", "backup", "check"] {
        let run = poof(&w, &[cmd]).expect(3);
        assert!(
            run.stderr.contains("older than generation 2") && run.stderr.contains("--trust-remote"),
            "{cmd}: {}",
            run.stderr
        );
    }
    assert_eq!(snapshot(&w.path("src")), before, "nothing restored");
    assert_eq!(
        read(&w, &manifest),
        generation_1,
        "no manifest sealed over it"
    );

    // Deleted: the same.
    delete(&w, &manifest);
    let run = poof(&w, &["download"]).expect(3);
    assert!(run.stderr.contains("is missing"), "{}", run.stderr);
    assert_eq!(snapshot(&w.path("src")), before);

    // Trusted on purpose: the remote's objects are taken as they are, a new
    // manifest is written, and the next run needs no override.
    let run = w
        .poof_env(&["--trust-remote", "download"], &[PASS])
        .expect(0);
    assert!(
        run.stderr.contains("the remote's word is trusted"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(w.path("src/a.txt")).unwrap(), b"alpha");
    assert_eq!(std::fs::read(w.path("src/c.bin")).unwrap(), c);
    poof(&w, &["download"]).expect(0);
    poof(&w, &["backup"]).expect(0);
}

/// No downgrade: a config without `"encrypted": true` (a new machine, a
/// config copied from an old one) facing a remote that holds poof's key is
/// refused before anything is uploaded in the clear.
fn a_config_that_forgot_encryption_uploads_nothing_in_the_clear(kind: Kind) {
    let w = encrypted(kind);
    let before = objects(&w);
    let conf = w.path("conf/poof.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("\"encrypted\": true,", "")).unwrap();
    assert!(
        !std::fs::read_to_string(&conf)
            .unwrap()
            .contains("encrypted")
    );
    w.file("src/new.txt", b"secret", 1_600_000_300, 0o644);
    for cmd in ["backup", "upload", "download"] {
        let run = poof(&w, &[cmd]).expect(3);
        assert!(
            run.stderr.contains("holds poof's encryption key") && run.stderr.contains("cryptoggle"),
            "{cmd}: {}",
            run.stderr
        );
    }
    assert_eq!(objects(&w), before, "nothing uploaded");
    assert!(w.path("src/new.txt").exists(), "nothing wiped");
}

/// `poof neuter` removes the local key and the freshness record with the
/// rest of poof's files, but keeps the key when the remote holds no copy of
/// it (removing it would lose every encrypted backup).
#[test]
fn neuter_removes_the_key_only_when_the_remote_keeps_a_copy() {
    let w = encrypted(Kind::Folder);
    let crontab = crate::schedule::fake_crontab(&w);
    let crontab = crontab.to_str().unwrap();
    let file = w.path("crontab.txt");
    let env = [
        ("POOF_CRONTAB", crontab),
        ("FAKE_CRONTAB_FILE", file.to_str().unwrap()),
    ];
    let neuter = || w.poof_env(&["neuter", "--dry-run", "--keep-binary"], &env);
    let run = neuter().expect(0);
    for name in ["poof.key", "freshness.json", "poof.conf"] {
        assert!(
            run.stdout
                .lines()
                .any(|l| l.contains("would remove") && l.contains(name)),
            "{name}: {}",
            run.stdout
        );
    }
    let run = w.poof_env(&["paths"], &env).expect(0);
    assert!(run.stdout.contains("poof.key") && run.stdout.contains("freshness.json"));
    std::fs::remove_file(w.path("remote/.poof/key")).unwrap();
    let run = neuter();
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.lines()
            .any(|l| l.contains("poof.key") && l.contains("kept, because the remote holds no copy")),
        "{all}"
    );
    assert!(w.path("conf/poof.key").exists());
}
