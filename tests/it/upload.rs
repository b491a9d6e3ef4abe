//! `poof upload`: back up, verify by reading back, wipe; on both kinds of
//! remote, with real faults between the backup and the verification, and
//! every way the wipe must refuse to reach outside the configured folder.

use std::path::Path;
use std::process::Command;

use crate::common::{Kind, World, listing, snapshot};
use crate::proxy::{Fault, Faults, Filter, Proxy, When};

crate::on_both_remotes!(
    upload_verifies_then_wipes_and_the_copy_restores,
    upload_twice_is_harmless,
    verify_stored_is_an_explicit_opt_out,
    dry_run_wipes_nothing,
    shred_wipes_too,
);

fn sample(w: &World) {
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/sub/b.bin", &[7u8; 70_000], 1_600_000_100, 0o600);
    w.file("src/sub/deeper/c.sh", b"#!/bin/sh\n", 1_600_000_200, 0o755);
    w.file("src/empty", b"", 1_600_000_300, 0o640);
}

/// Every entry (files and folders) under `root`, relative.
fn entries(root: &Path) -> Vec<String> {
    listing(root)
        .into_iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

fn upload_verifies_then_wipes_and_the_copy_restores(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    std::fs::create_dir(w.path("src/was-empty")).unwrap();
    w.conf(&[("src", "Docs")]);
    let original = snapshot(&w.path("src"));
    let run = w.poof(&["upload"]).expect(0);
    assert!(
        run.stdout.contains("4 verified and wiped, 0 kept"),
        "{}",
        run.stdout
    );
    // The folder itself stays, and so does the folder that was empty before.
    assert!(w.path("src").is_dir());
    assert_eq!(entries(&w.path("src")), ["was-empty"]);
    assert_eq!(w.stored("Docs"), original);
    // The copy brings everything back.
    w.poof(&["download"]).expect(0);
    assert_eq!(snapshot(&w.path("src")), original);
}

fn upload_twice_is_harmless(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    let original = snapshot(&w.path("src"));
    w.poof(&["upload"]).expect(0);
    // Again, on the emptied folder: upload never deletes remote copies.
    let run = w.poof(&["upload", "--yes"]).expect(0);
    assert!(
        run.stdout.contains("4 files on the remote that"),
        "{}",
        run.stdout
    );
    assert_eq!(w.stored("Docs"), original);
    // A new file is moved up beside the earlier ones, even with --yes.
    w.file("src/new.txt", b"new", 1_600_009_000, 0o644);
    let mut with_new = original.clone();
    with_new.extend(snapshot(&w.path("src")));
    w.poof(&["upload", "--yes"]).expect(0);
    assert!(entries(&w.path("src")).is_empty());
    assert_eq!(w.stored("Docs"), with_new);
}

fn verify_stored_is_an_explicit_opt_out(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    let original = snapshot(&w.path("src"));
    w.poof(&["upload", "--verify=stored"]).expect(0);
    assert_eq!(entries(&w.path("src")), Vec::<String>::new());
    assert_eq!(w.stored("Docs"), original);
}

fn dry_run_wipes_nothing(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    let before = listing(w.dir.path());
    let run = w.poof(&["upload", "--dry-run"]).expect(0);
    assert!(run.stdout.contains("would be wiped"), "{}", run.stdout);
    assert_eq!(listing(w.dir.path()), before);
}

fn shred_wipes_too(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    let original = snapshot(&w.path("src"));
    w.poof(&["upload", "--shred"]).expect(0);
    assert!(entries(&w.path("src")).is_empty());
    assert_eq!(w.stored("Docs"), original);
}

/// A real fault on a folder remote: the stored copy of one file rots after
/// the backup (same size and time, other bytes), so the next upload's
/// backup sees nothing to copy, and only the read-back can tell.
#[test]
fn a_damaged_copy_is_never_trusted_on_a_folder_remote() {
    for verify in ["--verify=read", "--verify=stored"] {
        let w = World::new();
        sample(&w);
        w.conf(&[("src", "Docs")]);
        w.poof(&["backup"]).expect(0);
        let stored = w.path("remote/Docs/sub/b.bin");
        let m = std::fs::metadata(&stored).unwrap();
        std::fs::write(&stored, [8u8; 70_000]).unwrap();
        filetime::set_file_mtime(&stored, filetime::FileTime::from_last_modification_time(&m))
            .unwrap();
        let local = std::fs::read(w.path("src/sub/b.bin")).unwrap();

        let run = w.poof(&["upload", verify]).expect(1);
        assert!(
            run.stderr
                .contains("sub/b.bin: the remote copy differs from the local file"),
            "{}",
            run.stderr
        );
        assert_eq!(std::fs::read(w.path("src/sub/b.bin")).unwrap(), local);
        assert_eq!(entries(&w.path("src")), ["sub", "sub/b.bin"]);
    }
}

/// A real fault on S3: every read-back of the first file is corrupted on
/// the way (the proxy flips a byte), so it cannot be verified and stays.
#[test]
fn a_copy_that_cannot_be_read_back_is_never_trusted_on_s3() {
    let Some(kind) = Kind::s3() else { return };
    let Kind::S3(s3) = &kind else { unreachable!() };
    let upstream = s3.endpoint.clone();
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    let original = snapshot(&w.path("src"));
    let proxy = Proxy::start(&upstream, Faults::none());
    crate::harness::route_through(&w, &proxy.url());
    proxy.set(Faults {
        filter: Filter {
            method: Some("GET"),
            objects_only: true,
        },
        when: When::Nth(vec![1, 2, 3]),
        what: vec![Fault::FlipByte],
        ..Faults::none()
    });
    // One transfer at a time, so the first three reads are all of `a.txt`.
    let run = w.poof(&["upload", "--transfers", "1"]).expect(1);
    assert!(
        run.stderr
            .contains("a.txt: the remote copy could not be checked"),
        "{}\n{}",
        run.stderr,
        proxy.log()
    );
    assert_eq!(entries(&w.path("src")), ["a.txt"]);
    assert_eq!(w.stored("Docs"), original);
}

/// Nothing of a folder whose backup failed is verified or wiped, and a
/// file the walk could not list (a name that is not UTF-8) stays.
#[test]
fn an_incomplete_folder_keeps_what_was_not_verified() {
    let w = World::new();
    sample(&w);
    use std::os::unix::ffi::OsStrExt;
    let odd = w.path("src/ok");
    std::fs::write(&odd, "fine").unwrap();
    let bad = w.path("src").join(std::ffi::OsStr::from_bytes(b"bad-\xff"));
    std::fs::write(&bad, "kept").unwrap();
    w.conf(&[("src", "Docs")]);
    let run = w.poof(&["upload"]).expect(1);
    assert!(run.stderr.contains("not valid UTF-8"), "{}", run.stderr);
    assert!(bad.exists());
    assert!(!odd.exists());
    assert!(w.path("src").is_dir());
}

/// Links the backup followed are removed themselves; what they point to,
/// outside the configured folder, is never touched.
#[test]
fn wipe_never_follows_a_link_out_of_the_folder() {
    let w = World::new();
    sample(&w);
    w.file("outside/dir/secret", b"outside data", 1_600_000_000, 0o600);
    w.file("outside/file", b"outside file", 1_600_000_000, 0o600);
    std::os::unix::fs::symlink(w.path("outside/dir"), w.path("src/dirlink")).unwrap();
    std::os::unix::fs::symlink(w.path("outside/file"), w.path("src/filelink")).unwrap();
    w.conf(&[("src", "Docs")]);
    let outside = snapshot(&w.path("outside"));
    w.poof(&["upload"]).expect(0);
    assert_eq!(snapshot(&w.path("outside")), outside);
    assert!(entries(&w.path("src")).is_empty());
    // What the links pointed to was backed up, as backup always did.
    let stored = w.stored("Docs");
    assert!(stored.contains_key("dirlink/secret") && stored.contains_key("filelink"));
}

/// A link to a folder stays while one file behind it is not verified: every
/// file behind it is kept, named with the link, and what it points to is
/// never touched; the files on no link are wiped as usual.
#[test]
fn a_link_with_an_unverified_file_behind_it_stays() {
    let w = World::new();
    sample(&w);
    w.file("outside/dir/good", b"verified", 1_600_000_000, 0o600);
    w.file("outside/dir/rots", b"original", 1_600_000_000, 0o600);
    std::os::unix::fs::symlink(w.path("outside/dir"), w.path("src/sub/dirlink")).unwrap();
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let stored = w.path("remote/Docs/sub/dirlink/rots");
    let m = std::fs::metadata(&stored).unwrap();
    std::fs::write(&stored, b"damaged!").unwrap();
    filetime::set_file_mtime(&stored, filetime::FileTime::from_last_modification_time(&m)).unwrap();
    let outside = snapshot(&w.path("outside"));

    let run = w.poof(&["upload"]).expect(1);
    assert!(
        run.stderr.contains(
            "sub/dirlink/good: it is behind the symbolic link sub/dirlink, which stays because sub/dirlink/rots behind it was not verified"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("sub/dirlink/rots: the remote copy differs from the local file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("4 verified and wiped, 2 kept"),
        "{}",
        run.stdout
    );
    assert_eq!(snapshot(&w.path("outside")), outside);
    assert_eq!(entries(&w.path("src")), ["sub", "sub/dirlink"]);
}

/// A bind mount inside the configured folder is a file system boundary:
/// its files are backed up and verified, but never wiped.
#[test]
fn wipe_never_crosses_a_bind_mount() {
    let w = World::new();
    sample(&w);
    w.file(
        "elsewhere/mounted.txt",
        b"not ours to wipe",
        1_600_000_000,
        0o644,
    );
    std::fs::create_dir(w.path("src/mnt")).unwrap();
    let mounted = Command::new("mount")
        .arg("--bind")
        .arg(w.path("elsewhere"))
        .arg(w.path("src/mnt"))
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: a bind mount needs root");
        return;
    }
    w.conf(&[("src", "Docs")]);
    let run = w.poof(&["upload"]);
    let _ = Command::new("umount").arg(w.path("src/mnt")).status();
    let run = run.expect(1);
    assert!(
        run.stderr
            .contains("is a mount point inside the folder being wiped"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read(w.path("elsewhere/mounted.txt")).unwrap(),
        b"not ours to wipe"
    );
    assert!(!w.path("src/a.txt").exists());
}
