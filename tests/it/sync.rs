//! Backup and download, on both kinds of remote (a local folder and a real
//! S3 server): the main job, and every way it must refuse to lose data.

use std::os::unix::fs::PermissionsExt;

use crate::common::{Kind, World, listing, snapshot};

crate::on_both_remotes!(
    backup_copies_everything_with_times_and_modes,
    backup_follows_new_changed_and_deleted_files,
    a_file_replaced_by_a_folder_and_back,
    dry_run_prints_the_plan_and_changes_nothing,
    a_missing_source_folder_is_skipped_and_its_copy_kept,
    an_empty_source_never_wipes_its_copy,
    download_restores_a_lost_folder_exactly,
    download_is_destructive_replacing_and_deleting_local_files,
    download_never_writes_through_a_local_link,
    a_remote_with_no_copy_never_wipes_the_local_folder,
    an_unreadable_source_file_stops_deletions_but_not_the_other_files,
    a_failed_download_deletes_nothing_and_leaves_no_partial_file,
    checksum_compares_content_not_times,
);

fn sample(w: &World) {
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/sub/b.bin", &[7u8; 70_000], 1_600_000_100, 0o600);
    w.file("src/sub/deeper/c.sh", b"#!/bin/sh\n", 1_600_000_200, 0o755);
    w.file("src/empty", b"", 1_600_000_300, 0o640);
}

fn backup_copies_everything_with_times_and_modes(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    let run = w.poof(&["backup"]).expect(0);
    assert!(run.stdout.contains("4 copied"), "{}", run.stdout);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
    // A second run finds nothing to do.
    let run = w.poof(&["backup"]).expect(0);
    assert!(
        run.stdout
            .contains("0 copied (0 B), 0 deleted, 4 unchanged"),
        "{}",
        run.stdout
    );
}

fn backup_follows_new_changed_and_deleted_files(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);

    w.file("src/new.txt", b"new", 1_600_001_000, 0o644);
    w.file("src/a.txt", b"alpha, edited", 1_600_002_000, 0o644);
    std::fs::remove_file(w.path("src/sub/b.bin")).unwrap();
    std::fs::set_permissions(w.path("src/empty"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = w.poof(&["backup"]).expect(0);
    assert!(run.stdout.contains("2 copied"), "{}", run.stdout);
    assert!(run.stdout.contains("1 deleted"), "{}", run.stdout);
    assert!(
        run.stdout.contains("1 permissions updated"),
        "{}",
        run.stdout
    );
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
    assert!(!w.stored("Docs").contains_key("sub/b.bin"));
}

fn a_file_replaced_by_a_folder_and_back(kind: Kind) {
    let w = World::on(kind);
    w.file("src/x", b"file", 1_600_000_000, 0o644);
    w.file("src/y/inner", b"in", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    std::fs::remove_file(w.path("src/x")).unwrap();
    std::fs::remove_dir_all(w.path("src/y")).unwrap();
    w.file("src/x/now-a-folder", b"f", 1_600_000_000, 0o644);
    w.file("src/y", b"now a file", 1_600_000_000, 0o644);
    // Both old files go: the mass-delete guard wants a confirmation.
    w.poof(&["backup"]).expect(3);
    w.poof(&["backup", "--yes"]).expect(0);
    assert_eq!(w.stored("Docs"), snapshot(&w.path("src")));
}

fn dry_run_prints_the_plan_and_changes_nothing(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    w.file("src/new.txt", b"new", 1_600_001_000, 0o644);
    std::fs::remove_file(w.path("src/a.txt")).unwrap();
    let before = listing(w.dir.path());

    let run = w.poof(&["backup", "--dry-run"]).expect(0);
    assert!(run.stdout.contains("dry run: nothing will be changed"));
    assert!(
        run.stdout.contains("copy    new.txt  (3 B)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("delete  a.txt"), "{}", run.stdout);
    assert!(
        run.stdout.contains("would copy 1 (3 B), delete 1"),
        "{}",
        run.stdout
    );
    assert_eq!(listing(w.dir.path()), before);

    std::fs::remove_dir_all(w.path("src")).unwrap();
    let before = listing(w.dir.path());
    let run = w.poof(&["download", "-n"]).expect(0);
    assert!(run.stdout.contains("copy    a.txt"), "{}", run.stdout);
    assert_eq!(listing(w.dir.path()), before);
}

fn a_missing_source_folder_is_skipped_and_its_copy_kept(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.file("other/keep.txt", b"k", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs"), ("other", "Other")]);
    w.poof(&["backup"]).expect(0);
    let stored = w.stored("Docs");

    std::fs::remove_dir_all(w.path("src")).unwrap();
    w.file("other/more.txt", b"m", 1_600_000_000, 0o644);
    let run = w.poof(&["backup"]).expect(0);
    assert!(
        run.stderr
            .contains("does not exist; skipped, and nothing was deleted"),
        "{}",
        run.stderr
    );
    assert_eq!(w.stored("Docs"), stored);
    // The other path was backed up as usual.
    assert!(w.stored("Other").contains_key("more.txt"));
}

fn an_empty_source_never_wipes_its_copy(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let stored = w.stored("Docs");
    std::fs::remove_dir_all(w.path("src")).unwrap();
    std::fs::create_dir(w.path("src")).unwrap();
    let run = w.poof(&["backup"]).expect(0);
    assert!(
        run.stderr.contains("an empty source never wipes its copy"),
        "{}",
        run.stderr
    );
    assert_eq!(w.stored("Docs"), stored);
}

fn download_restores_a_lost_folder_exactly(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let original = snapshot(&w.path("src"));
    std::fs::remove_dir_all(w.path("src")).unwrap();
    let run = w.poof(&["download"]).expect(0);
    assert!(run.stdout.contains("4 copied"), "{}", run.stdout);
    assert_eq!(snapshot(&w.path("src")), original);
}

fn download_is_destructive_replacing_and_deleting_local_files(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let original = snapshot(&w.path("src"));
    w.file("src/a.txt", b"local edit", 1_700_000_000, 0o644);
    w.file("src/extra/local-only", b"x", 1_700_000_000, 0o644);
    std::os::unix::fs::symlink("/etc", w.path("src/link-out")).unwrap();
    let run = w.poof(&["download"]).expect(0);
    assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
    assert!(run.stdout.contains("2 deleted"), "{}", run.stdout);
    assert_eq!(snapshot(&w.path("src")), original);
    assert!(!w.path("src/extra").exists(), "emptied folders are removed");
    // The link was removed, not followed.
    assert!(std::path::Path::new("/etc/passwd").exists());
    // No temporary files are left anywhere.
    assert!(
        !listing(&w.path("src"))
            .iter()
            .any(|l| l.contains(".poof-tmp-"))
    );
}

fn download_never_writes_through_a_local_link(kind: Kind) {
    let w = World::on(kind);
    w.file("src/dir/f", b"data", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    // Replace the folder by a link to somewhere else.
    std::fs::remove_dir_all(w.path("src/dir")).unwrap();
    std::fs::create_dir(w.path("elsewhere")).unwrap();
    std::os::unix::fs::symlink(w.path("elsewhere"), w.path("src/dir")).unwrap();
    w.poof(&["download", "--yes"]).expect(0);
    assert!(
        std::fs::read_dir(w.path("elsewhere"))
            .unwrap()
            .next()
            .is_none(),
        "nothing written through the link"
    );
    assert!(
        std::fs::symlink_metadata(w.path("src/dir"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(std::fs::read(w.path("src/dir/f")).unwrap(), b"data");
}

fn a_remote_with_no_copy_never_wipes_the_local_folder(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    let before = snapshot(&w.path("src"));
    let run = w.poof(&["download"]).expect(0);
    assert!(
        run.stderr.contains("holds no copy of Docs"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&w.path("src")), before);
}

/// Folder remotes only: a folder whose disk is not mounted.
#[test]
fn a_missing_remote_folder_is_reported_and_nothing_is_created() {
    let w = World::new();
    sample(&w);
    w.conf(&[("src", "Docs")]);
    std::fs::remove_dir(w.path("remote")).unwrap();
    let run = w.poof(&["backup"]).expect(1);
    assert!(
        run.stderr
            .contains("does not exist; mount the disk or create the folder"),
        "{}",
        run.stderr
    );
    assert!(!w.path("remote").exists());
}

fn an_unreadable_source_file_stops_deletions_but_not_the_other_files(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    std::fs::remove_file(w.path("src/a.txt")).unwrap();
    w.file("src/new.txt", b"new", 1_600_001_000, 0o644);
    // A name that is not UTF-8 cannot be listed: the listing is incomplete.
    let bad = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"bad-\xff-name");
    std::fs::write(w.path("src").join(bad), "x").unwrap();
    let run = w.poof(&["backup"]).expect(0);
    assert!(run.stderr.contains("not valid UTF-8"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("deletions held back because some source files could not be read"),
        "{}",
        run.stderr
    );
    let stored = w.stored("Docs");
    assert!(
        stored.contains_key("new.txt"),
        "other files are still copied"
    );
    assert!(stored.contains_key("a.txt"), "nothing is deleted");
}

fn a_failed_download_deletes_nothing_and_leaves_no_partial_file(kind: Kind) {
    let w = World::on(kind);
    w.file("src/small", b"s", 1_600_000_000, 0o644);
    w.file("src/big", &vec![1u8; 3 << 20], 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    // Restore into a folder on a 1 MiB file system: `big` cannot fit.
    std::fs::remove_dir_all(w.path("src")).unwrap();
    std::fs::create_dir(w.path("src")).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(w.path("src"))
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    w.file("src/local-only", b"keep me", 1_700_000_000, 0o644);
    let run = w.poof(&["download", "--yes"]);
    let after = listing(&w.path("src"));
    let _ = std::process::Command::new("umount")
        .arg(w.path("src"))
        .status();
    let run = run.expect(1);
    assert!(
        run.stderr.contains("big"),
        "the error names the file: {}",
        run.stderr
    );
    assert!(run.stderr.contains("deletions not run"), "{}", run.stderr);
    assert!(
        after.iter().any(|l| l.starts_with("local-only ")),
        "nothing deleted: {after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|l| l.starts_with("big ") || l.contains(".poof-tmp-")),
        "{after:?}"
    );
}

fn checksum_compares_content_not_times(kind: Kind) {
    let w = World::on(kind);
    sample(&w);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    // Other content, same size and time: only a content comparison sees it.
    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    let run = w.poof(&["backup"]).expect(0);
    assert!(run.stdout.contains("0 copied"), "{}", run.stdout);
    let run = w.poof(&["backup", "--checksum"]).expect(0);
    assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
    assert_eq!(
        w.stored("Docs")["a.txt"].0,
        snapshot(&w.path("src"))["a.txt"].0
    );
    // Same content, new time: unchanged for a content comparison.
    w.file("src/sub/b.bin", &[7u8; 70_000], 1_700_000_000, 0o600);
    let run = w.poof(&["backup", "--checksum"]).expect(0);
    assert!(run.stdout.contains("0 copied"), "{}", run.stdout);
    // And the download side restores by content too.
    w.file("src/c.bin", b"x", 1, 0o644);
    std::fs::remove_file(w.path("src/c.bin")).unwrap();
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    let run = w.poof(&["download", "--checksum"]).expect(0);
    assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
    assert_eq!(std::fs::read(w.path("src/a.txt")).unwrap(), b"ALPHA");
}
