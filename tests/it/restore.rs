//! Restore without destroying (issue 15, item 2), on both kinds of remote,
//! plain and encrypted: `download --to DIR` restores into another folder
//! and deletes nothing there, `--path` picks one configured path, a filter
//! restores a subset, and `poof ls` lists what the remote holds (decrypted
//! names, sizes, times; text and --json; a sub-path; an unknown folder).

use std::collections::BTreeMap;

use crate::common::{FileFacts, Kind, Run, World, snapshot};

crate::on_both_remotes!(
    a_restore_to_another_folder_keeps_what_is_there,
    path_restores_one_configured_path,
    one_file_restored_into_another_folder,
    ls_lists_names_sizes_and_times,
    a_file_in_the_way_of_a_restore_is_named,
);

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

/// Runs poof with the passphrase in the environment (unused when plain).
fn poof(w: &World, args: &[&str]) -> Run {
    w.poof_env(args, &[PASS])
}

/// A world with two paths backed up: `src` in `Docs` (`a.txt`,
/// `notes/todo.txt`, `notes/done.txt`) and `other` in `Other` (`o.txt`);
/// encrypted when asked.
fn world(kind: Kind, encrypted: bool) -> World {
    let w = World::on(kind);
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/notes/todo.txt", b"todo", 1_600_000_100, 0o600);
    w.file("src/notes/done.txt", b"done!", 1_600_000_200, 0o644);
    w.file("other/o.txt", b"o", 1_600_000_300, 0o644);
    w.conf(&[("src", "Docs"), ("other", "Other")]);
    if encrypted {
        poof(&w, &["econfig"]).expect(0);
        poof(&w, &["cryptoggle"]).expect(0);
    }
    let run = poof(&w, &["backup"]).expect(0);
    assert!(run.stdout.contains("3 copied"), "{}", run.stdout);
    w
}

fn snap(w: &World, rel: &str) -> BTreeMap<String, FileFacts> {
    snapshot(&w.path(rel))
}

fn a_restore_to_another_folder_keeps_what_is_there(kind: Kind) {
    for encrypted in [false, true] {
        let w = world(kind.clone(), encrypted);
        let docs = snap(&w, "src");
        // The source changes: what --to restores must not touch it.
        std::fs::remove_file(w.path("src/a.txt")).unwrap();
        w.file("src/new.txt", b"new", 1_600_000_400, 0o644);
        let src_now = snap(&w, "src");

        // Into an empty (missing) folder, given relative to the working folder.
        let run = poof(&w, &["download", "--to", "out"]).expect(0);
        assert!(run.stdout.contains("0 deleted"), "{}", run.stdout);
        assert_eq!(snap(&w, "out/Docs"), docs, "encrypted: {encrypted}");
        assert_eq!(snap(&w, "out/Other"), snap(&w, "other"));
        assert_eq!(snap(&w, "src"), src_now, "the source is left alone");

        // Into a folder holding files of its own: they survive; a file of
        // the same name is replaced.
        w.file("out2/unrelated.txt", b"mine", 1_500_000_000, 0o644);
        w.file("out2/Docs/mine.txt", b"mine", 1_500_000_000, 0o644);
        w.file("out2/Docs/notes/mine.txt", b"mine", 1_500_000_000, 0o644);
        w.file("out2/Docs/a.txt", b"an old alpha", 1_500_000_000, 0o644);
        let out2 = w.path("out2").display().to_string();
        let dry = poof(&w, &["download", "--to", &out2, "--dry-run"]).expect(0);
        assert!(
            dry.stdout.contains("dry run: nothing will be changed"),
            "{}",
            dry.stdout
        );
        assert!(
            dry.stdout.contains("  copy    notes/todo.txt"),
            "{}",
            dry.stdout
        );
        assert!(dry.stdout.contains("delete 0"), "{}", dry.stdout);
        assert!(
            !w.path("out2/Docs/notes/todo.txt").exists(),
            "a dry run copies nothing"
        );
        let run = poof(&w, &["download", "--to", &out2]).expect(0);
        let kept = format!(
            "  2 files in {}/Docs that the copy lacks are kept: a restore with --to deletes nothing",
            out2
        );
        assert!(run.stdout.contains(&kept), "{}", run.stdout);
        let after = snap(&w, "out2");
        for mine in ["unrelated.txt", "Docs/mine.txt", "Docs/notes/mine.txt"] {
            assert!(after.contains_key(mine), "{mine} was deleted");
        }
        for (rel, facts) in &docs {
            assert_eq!(after.get(&format!("Docs/{rel}")), Some(facts), "{rel}");
        }
    }
}

fn path_restores_one_configured_path(kind: Kind) {
    let w = world(kind, false);
    // With --to: the one path lands in DIR itself.
    poof(&w, &["download", "--path", "Other", "--to", "one"]).expect(0);
    assert_eq!(snap(&w, "one"), snap(&w, "other"));
    // Without --to: an ordinary (destructive) download of that path only.
    std::fs::remove_file(w.path("other/o.txt")).unwrap();
    w.file("other/extra.txt", b"x", 1_600_000_000, 0o644);
    w.file("other/extra2.txt", b"x", 1_600_000_000, 0o644);
    std::fs::remove_file(w.path("src/a.txt")).unwrap();
    let run = poof(&w, &["download", "--path", "Other", "--yes"]).expect(0);
    assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
    assert!(run.stdout.contains("2 deleted"), "{}", run.stdout);
    assert_eq!(snap(&w, "other"), snap(&w, "one"));
    assert!(!w.path("src/a.txt").exists(), "Docs was not restored");
    // A folder no path uses is refused, naming the configured ones.
    let run = poof(&w, &["download", "--path", "Music"]).expect(2);
    let want = format!(
        "no configured path is kept in the cloud folder \"Music\"; the configured ones (in {}) are: Docs ({}), Other ({})",
        w.path("conf/poof.conf").display(),
        w.path("src").display(),
        w.path("other").display()
    );
    assert!(run.stderr.contains(&want), "{}", run.stderr);
    let run = poof(&w, &["download", "--path", "Docs/notes", "--to", "x"]).expect(2);
    assert!(
        run.stderr.contains("add --include '/notes/**'"),
        "{}",
        run.stderr
    );
    // A restore into a folder poof backs up is warned about.
    let run = poof(&w, &["download", "--path", "Other", "--to", "src/restored"]).expect(0);
    assert!(
        run.stderr
            .contains("the next backup would upload the restored files again"),
        "{}",
        run.stderr
    );
}

/// `--to` naming a file is refused before anything runs; a file where the
/// restore needs a folder fails that file, named, and the rest is restored.
fn a_file_in_the_way_of_a_restore_is_named(kind: Kind) {
    let w = world(kind, false);
    w.file("afile", b"mine", 1_500_000_000, 0o644);
    let run = poof(&w, &["download", "--to", "afile"]).expect(2);
    assert!(
        run.stderr.contains(
            "poof: error: --to afile: not a folder; give a folder to restore into (it is created if missing)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(w.path("afile")).unwrap(), b"mine");

    w.file("out/Docs/notes", b"mine", 1_500_000_000, 0o644);
    let run = poof(&w, &["download", "--path", "Docs", "--to", "out/Docs"]).expect(1);
    let notes = w.path("out/Docs/notes").display().to_string();
    assert!(
        run.stderr
            .contains(&format!("{notes} is in the way: it is not a folder")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("1 of 1 paths had errors"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(w.path("out/Docs/notes")).unwrap(), b"mine");
    assert_eq!(
        snap(&w, "out/Docs")["a.txt"],
        snap(&w, "src")["a.txt"],
        "the file not in the way is restored"
    );
}

fn one_file_restored_into_another_folder(kind: Kind) {
    for encrypted in [false, true] {
        let w = world(kind.clone(), encrypted);
        w.file("out/keep.txt", b"mine", 1_500_000_000, 0o644);
        let run = poof(
            &w,
            &[
                "download",
                "--path",
                "Docs",
                "--to",
                "out",
                "--include",
                "/notes/todo.txt",
            ],
        )
        .expect(0);
        assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
        let out: Vec<String> = snap(&w, "out").into_keys().collect();
        assert_eq!(
            out,
            ["keep.txt", "notes/todo.txt"],
            "encrypted: {encrypted}"
        );
        assert_eq!(
            snap(&w, "out")["notes/todo.txt"],
            snap(&w, "src")["notes/todo.txt"]
        );
    }
}

fn ls_lists_names_sizes_and_times(kind: Kind) {
    for encrypted in [false, true] {
        let w = world(kind.clone(), encrypted);
        let run = poof(&w, &["ls"]).expect(0);
        let docs = format!(
            "Docs/  3 files  14 B  newest 2020-09-13 12:30:00.123456789  {}",
            w.path("src").display()
        );
        assert!(run.stdout.contains(&docs), "{}", run.stdout);
        assert!(
            run.stdout.contains("Other/  1 files  1 B"),
            "{}",
            run.stdout
        );

        let run = poof(&w, &["ls", "Docs"]).expect(0);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "           5 2020-09-13 12:26:40.123456789 a.txt",
                "           5 2020-09-13 12:30:00.123456789 notes/done.txt",
                "           4 2020-09-13 12:28:20.123456789 notes/todo.txt",
            ],
            "encrypted: {encrypted}"
        );
        let run = poof(&w, &["ls", "Docs/notes/"]).expect(0);
        assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
        assert!(run.stdout.contains(" notes/todo.txt\n"), "{}", run.stdout);

        let run = poof(&w, &["--json", "ls", "Docs/notes/todo.txt"]).expect(0);
        let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        assert_eq!(v["event"], "file");
        assert_eq!(v["cloud"], "Docs");
        assert_eq!(v["path"], "notes/todo.txt");
        assert_eq!(v["size"], 4);
        assert_eq!(v["mtime"], "2020-09-13T12:28:20.123456789Z");
        assert_eq!(v["mtime_ns"], 1_600_000_100_123_456_789i64);
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        // The fields docs/JSON.md lists for `file`.
        assert_eq!(
            keys,
            [
                "cloud", "event", "mode", "mtime", "mtime_ns", "path", "size"
            ],
            "{v}"
        );

        let run = poof(&w, &["--json", "ls"]).expect(0);
        let folders: Vec<serde_json::Value> = run
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(folders.len(), 2, "{}", run.stdout);
        assert_eq!(folders[0]["event"], "folder");
        assert_eq!(folders[0]["cloud"], "Docs");
        assert_eq!(folders[0]["files"], 3);
        assert_eq!(folders[0]["bytes"], 14);
        assert_eq!(folders[0]["exists"], true);
        assert_eq!(folders[0]["newest"], "2020-09-13T12:30:00.123456789Z");
        assert_eq!(folders[1]["cloud"], "Other");
        // The fields docs/JSON.md lists for `folder`.
        let keys: Vec<&String> = folders[0].as_object().unwrap().keys().collect();
        let documented = [
            "bytes",
            "cloud",
            "event",
            "exists",
            "files",
            "newest",
            "newest_ns",
            "path",
        ];
        assert_eq!(keys, documented, "{}", folders[0]);

        let run = poof(&w, &["ls", "Docs/nope"]).expect(1);
        assert!(
            run.stderr.contains("Docs/nope: no such file or folder on "),
            "{}",
            run.stderr
        );
        let run = poof(&w, &["ls", "Music/x"]).expect(2);
        assert!(
            run.stderr.contains(
                "no configured path is kept in the cloud folder \"Music/x\"; the configured ones"
            ),
            "{}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn ls_says_when_a_path_has_no_copy_yet() {
    let w = World::new();
    w.file("src/a.txt", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let run = poof(&w, &["ls"]).expect(0);
    assert!(run.stdout.contains("Docs/  no copy yet"), "{}", run.stdout);
    let run = poof(&w, &["ls", "Docs"]).expect(0);
    assert!(
        run.stderr.contains("holds no copy of Docs yet"),
        "{}",
        run.stderr
    );
}

/// poof 1.x's encrypted bucket (rclone crypt, written by the real rclone):
/// `ls` shows the names and sizes rclone lists, and `--to` restores it.
#[test]
fn ls_and_to_read_a_1x_encrypted_bucket() {
    use crate::legacy::{legacy_conf, setup, tree, upload_with_rclone};
    let Some(w) = setup() else { return };
    tree(&w);
    legacy_conf(&w, "");
    upload_with_rclone(&w);
    let listed = crate::crypt::rclone(
        &w,
        &[
            "lsf",
            "-R",
            "--files-only",
            "--format",
            "sp",
            "--separator",
            " ",
            "poof-crypt:Docs",
        ],
        None,
    );
    let mut want: Vec<String> = String::from_utf8(listed)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    want.sort();
    let run = w.poof(&["ls", "Docs"]).expect(0);
    let mut got: Vec<String> = run
        .stdout
        .lines()
        .map(|l| {
            // SIZE DATE TIME PATH; the path may hold spaces.
            let mut f = l.trim_start().splitn(4, ' ');
            let size = f.next().unwrap();
            format!("{size} {}", f.nth(2).unwrap())
        })
        .collect();
    assert!(got.is_sorted_by_key(|l| l.split_once(' ').unwrap().1.to_string()));
    got.sort();
    assert_eq!(got, want);
    assert!(got.iter().any(|l| l == "9 with space/é ü ß.txt"), "{got:?}");
    w.poof(&["download", "--to", "out"]).expect(0);
    assert_eq!(
        snapshot(&w.path("out/Docs")).keys().collect::<Vec<_>>(),
        snapshot(&w.path("src")).keys().collect::<Vec<_>>()
    );
}
