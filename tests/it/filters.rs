//! Filters (issue 15, item 1): poof selects what rclone selects on the same
//! rules and tree (a real rclone, `POOF_TEST_RCLONE`, lists the tree with
//! `lsf -R --files-only`; poof backs it up into an empty folder remote), and
//! what a filter leaves out is neither copied nor deleted, on backup,
//! download and upload, unless `--delete-excluded`.

use std::collections::BTreeSet;
use std::process::Command;

use crate::common::{Kind, World, snapshot};

crate::on_both_remotes!(
    excluded_remote_files_survive_a_backup_and_go_with_delete_excluded,
    a_download_of_one_file_restores_it_and_deletes_nothing_else,
);

/// A tree with names that exercise every part of the pattern syntax.
const TREE: &[&str] = &[
    "a.txt",
    "b.md",
    "c.jpg",
    "C.JPG",
    "secret1.jpg",
    "notes/todo.txt",
    "notes/done.txt",
    "notes/old/x.txt",
    "node_modules/pkg/index.js",
    "web/node_modules/lib.js",
    "web/app.js",
    "web/app.min.js",
    "photos/2024/jan/p1.jpg",
    "photos/2024/feb/p2.png",
    "photos/2023/p3.jpg",
    "build/out.o",
    "src/build/keep.o",
    "src/main.rs",
    "src/a b/c d.txt",
    "x/a/y/c",
    "a/b/c",
    "ab/x",
    "file.t1t",
    "file.???",
    "data/file.123",
    "data/file.12a",
    "dir/tmp/t",
    "dir/Trash/t",
    "dir/keep",
    ".hidden/h",
    "with[brackets].txt",
    "{braces}.txt",
];

fn tree(w: &World) {
    for (i, rel) in TREE.iter().enumerate() {
        w.file(
            &format!("src/{rel}"),
            rel.as_bytes(),
            1_600_000_000 + i as i64,
            0o644,
        );
    }
}

/// Rule files (rclone's `--filter-from` format) whose selections are compared.
const RULES: &[&str] = &[
    "- *.jpg\n",
    "- /notes/\n",
    "- node_modules/\n- *.o\n",
    "+ *.{txt,md}\n- *\n",
    "# comment\n; another\n- secret*.jpg\n+ *.jpg\n+ *.png\n- **\n",
    "+ /photos/2024/**\n- **\n",
    "- /dir/tmp/**\n- /dir/Trash/**\n+ /dir/**\n- *\n",
    "+ a/*/c\n- /**\n",
    "+ *.jpg\n+ *.gif\n!\n+ /a.txt\n- *\n",
    "- *.t?t\n- [A-Z]*\n- *.\\?\\?\\?\n- *.\\d\\d\\d\n",
    "- {notes,web}/**\n",
    "- **/\n",
    "- src/*/\n",
    "+ /notes/todo.txt\n- /**\n",
    "- .*\n- .*/\n",
    "- /a**[/]\n",
    "- *\\[*\\]*\n- \\{*\n",
    "  - photos/*/jan/  \n\n- *.{{m[di]n\\.js|rs}}\n",
    "- build/\n+ src/**\n- *\n",
];

/// The rclone binary the suite installed, or `None` (with a notice).
fn rclone() -> Option<String> {
    let found = std::env::var("POOF_TEST_RCLONE").ok();
    if found.is_none() {
        eprintln!("skipped: no rclone (run the suite with `cargo xtask test`)");
    }
    found
}

/// The files `rclone lsf` lists under the world's `src` with `args`.
fn rclone_selects(w: &World, rclone: &str, args: &[&str]) -> BTreeSet<String> {
    let empty = w.path("conf/empty-rclone.conf");
    std::fs::write(&empty, "").unwrap();
    let out = Command::new(rclone)
        .arg("--config")
        .arg(&empty)
        .args(["lsf", "-R", "--files-only"])
        .args(args)
        .arg(w.path("src"))
        .output()
        .expect("rclone runs");
    assert!(
        out.status.success(),
        "rclone {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The files poof copies from the world's `src` into an empty folder
/// remote with `args`.
fn poof_selects(w: &World, args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["backup", "--yes"];
    all.extend(args);
    w.poof(&all).expect(0);
    w.stored("Docs").into_keys().collect()
}

#[test]
fn poof_selects_what_rclone_selects() {
    let Some(rc) = rclone() else { return };
    let everything: BTreeSet<String> = TREE.iter().map(|s| s.to_string()).collect();
    for rules in RULES {
        let w = World::new();
        tree(&w);
        w.conf(&[("src", "Docs")]);
        let file = w.path("rules.txt");
        std::fs::write(&file, rules).unwrap();
        let file = file.display().to_string();
        let want = rclone_selects(&w, &rc, &["--filter-from", &file]);
        // Every rule set leaves something out and keeps something.
        assert!(
            !want.is_empty() && want != everything,
            "{rules:?} selects {want:?}"
        );
        let got = poof_selects(&w, &["--filter-from", &file]);
        assert_eq!(got, want, "rules {rules:?}");
    }
}

#[test]
fn poof_selects_what_rclone_selects_with_flags() {
    let Some(rc) = rclone() else { return };
    let cases: &[&[&str]] = &[
        &["--exclude", "*.jpg", "--exclude", "notes/"],
        &["--include", "*.txt"],
        &["--include", "/photos/**", "--include", "*.md"],
        &["--include", "*.txt", "--exclude", "notes/**"],
        &["--exclude", "/{dir,data}/**"],
        &["--include", "a/*/c"],
    ];
    for args in cases {
        let w = World::new();
        tree(&w);
        w.conf(&[("src", "Docs")]);
        let want = rclone_selects(&w, &rc, args);
        assert!(!want.is_empty(), "{args:?}");
        assert_eq!(poof_selects(&w, args), want, "{args:?}");
    }
    // --exclude-from reads patterns as rclone does.
    let w = World::new();
    tree(&w);
    w.conf(&[("src", "Docs")]);
    let file = w.path("ex.txt");
    std::fs::write(&file, "# sample\n*.jpg\n  notes/  \n;x\n\n").unwrap();
    let file = file.display().to_string();
    let want = rclone_selects(&w, &rc, &["--exclude-from", &file]);
    assert_eq!(poof_selects(&w, &["--exclude-from", &file]), want);
}

fn excluded_remote_files_survive_a_backup_and_go_with_delete_excluded(kind: Kind) {
    let w = World::on(kind);
    w.file("src/a.txt", b"a", 1_600_000_000, 0o644);
    w.file("src/b.log", b"b", 1_600_000_001, 0o644);
    w.file("src/cache/c", b"c", 1_600_000_002, 0o644);
    w.file("src/d.txt", b"d", 1_600_000_003, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);
    let all: BTreeSet<String> = w.stored("Docs").into_keys().collect();
    assert_eq!(all.len(), 4);

    // Gone locally, excluded: the copies stay; the new excluded file is
    // not uploaded.
    std::fs::remove_file(w.path("src/b.log")).unwrap();
    std::fs::remove_dir_all(w.path("src/cache")).unwrap();
    w.file("src/new.log", b"n", 1_600_000_004, 0o644);
    let filters = ["--exclude", "*.log", "--exclude", "cache/"];
    let dry = w
        .poof(&[&["backup", "--dry-run"][..], &filters].concat())
        .expect(0);
    for line in [
        "  exclude new.log  by `*.log` from --exclude",
        "  keep    b.log  on the copy: excluded by `*.log` from --exclude",
        "  keep    cache/ (1 files)  on the copy: excluded by `cache/` from --exclude",
        "delete 0",
    ] {
        assert!(dry.stdout.contains(line), "{line:?}:\n{}", dry.stdout);
    }
    let run = w.poof(&[&["backup"][..], &filters].concat()).expect(0);
    assert!(run.stdout.contains("0 deleted"), "{}", run.stdout);
    assert!(run.stdout.contains("1 excluded"), "{}", run.stdout);
    assert_eq!(w.stored("Docs").into_keys().collect::<BTreeSet<_>>(), all);

    // --delete-excluded deletes them (2 of 4: within the default guard).
    let run = w
        .poof(&[&["backup", "--delete-excluded"][..], &filters].concat())
        .expect(0);
    assert!(run.stdout.contains("2 deleted"), "{}", run.stdout);
    let left: Vec<String> = w.stored("Docs").into_keys().collect();
    assert_eq!(left, ["a.txt", "d.txt"]);
}

fn a_download_of_one_file_restores_it_and_deletes_nothing_else(kind: Kind) {
    let w = World::on(kind);
    w.file("src/notes/todo.txt", b"todo", 1_600_000_000, 0o644);
    w.file("src/notes/done.txt", b"done", 1_600_000_001, 0o644);
    w.file("src/a.txt", b"a", 1_600_000_002, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof(&["backup"]).expect(0);

    // The file to restore is lost; another is changed; a new one appears.
    std::fs::remove_file(w.path("src/notes/todo.txt")).unwrap();
    w.file("src/a.txt", b"a, edited", 1_600_000_100, 0o644);
    w.file("src/mine.txt", b"mine", 1_600_000_101, 0o644);
    let before = snapshot(&w.path("src"));
    let run = w
        .poof(&["download", "--include", "/notes/todo.txt"])
        .expect(0);
    assert!(run.stdout.contains("1 copied"), "{}", run.stdout);
    assert!(run.stdout.contains("0 deleted"), "{}", run.stdout);
    let after = snapshot(&w.path("src"));
    assert_eq!(&after["notes/todo.txt"].0, &hex_sha256(b"todo"));
    for (rel, facts) in &before {
        assert_eq!(after.get(rel), Some(facts), "{rel} must not change");
    }
    assert_eq!(after.len(), before.len() + 1);
    // --json names the rule that left each file out.
    let json = w
        .poof(&[
            "--json",
            "download",
            "--dry-run",
            "--include",
            "/notes/todo.txt",
        ])
        .expect(0);
    let kept = json
        .stdout
        .lines()
        .find(|l| l.contains(r#""event":"excluded""#) && l.contains(r#""file":"mine.txt""#))
        .unwrap_or_else(|| panic!("{}", json.stdout));
    let v: serde_json::Value = serde_json::from_str(kept).unwrap();
    assert_eq!(v["side"], "local");
    assert_eq!(v["kept"], true);
    assert_eq!(v["pattern"], "/**");
    assert!(
        v["origin"]
            .as_str()
            .unwrap()
            .starts_with("implied by --include"),
        "{v}"
    );
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(b))
}

#[test]
fn poofignore_and_poof_conf_excludes_apply_to_their_path() {
    let w = World::new();
    w.file("src/keep.txt", b"k", 1_600_000_000, 0o644);
    w.file("src/x.tmp", b"t", 1_600_000_001, 0o644);
    w.file("src/build/out", b"o", 1_600_000_002, 0o644);
    w.file("src/y.bak", b"b", 1_600_000_003, 0o644);
    w.file("src/sub/.poofignore", b"*.txt\n", 1_600_000_004, 0o644);
    w.file(
        "src/.poofignore",
        b"# poof's ignore file\n*.tmp\n\nbuild/\n",
        1_600_000_005,
        0o644,
    );
    w.file("other/x.tmp", b"t", 1_600_000_006, 0o644);
    w.file("other/y.bak", b"b", 1_600_000_007, 0o644);
    let remote = w.path("remote");
    w.write_conf(
        &serde_json::json!({
            "paths": {
                w.path("src").display().to_string(): {"cloud": "Docs", "exclude": ["*.bak"]},
                w.path("other").display().to_string(): "Other",
            },
            "remote": format!("file://{}", remote.display()),
        })
        .to_string(),
    );
    let dry = w.poof(&["backup", "--dry-run"]).expect(0);
    let ignore = w.path("src/.poofignore").display().to_string();
    for line in [
        format!("  exclude x.tmp  by `*.tmp` from {ignore} line 2"),
        format!("  exclude build/ (1 files)  by `build/` from {ignore} line 4"),
        format!(
            "  exclude y.bak  by `*.bak` from poof.conf \"exclude\" of {}",
            w.path("src").display()
        ),
    ] {
        assert!(dry.stdout.contains(&line), "{line:?}:\n{}", dry.stdout);
    }
    w.poof(&["backup"]).expect(0);
    let docs: Vec<String> = w.stored("Docs").into_keys().collect();
    assert_eq!(docs, [".poofignore", "keep.txt", "sub/.poofignore"]);
    // The other path has neither the .poofignore nor the "exclude".
    let other: Vec<String> = w.stored("Other").into_keys().collect();
    assert_eq!(other, ["x.tmp", "y.bak"]);
}

#[test]
fn upload_neither_copies_nor_wipes_what_it_leaves_out() {
    let w = World::new();
    w.file("src/a.txt", b"a", 1_600_000_000, 0o644);
    w.file("src/stay/b.txt", b"b", 1_600_000_001, 0o644);
    // A socket is skipped by any walk; inside an excluded folder it is not
    // even worth a word, so the upload ends in full.
    std::fs::create_dir_all(w.path("src/stay/run")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(w.path("src/stay/run/s.sock")).unwrap();
    w.conf(&[("src", "Docs")]);
    let run = w.poof(&["upload", "--exclude", "stay/"]).expect(0);
    assert!(!run.stderr.contains("s.sock"), "{}", run.stderr);
    assert!(!w.path("src/a.txt").exists());
    assert!(w.path("src/stay/b.txt").exists());
    let stored: Vec<String> = w.stored("Docs").into_keys().collect();
    assert_eq!(stored, ["a.txt"]);
}

#[test]
fn filters_are_refused_in_words_before_anything_changes() {
    let w = World::new();
    w.file("src/a.txt", b"a", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let rules = w.path("rules.txt");
    std::fs::write(&rules, "- ok\nkeep this\n").unwrap();
    let rules = rules.display().to_string();
    let missing = w.path("nope.txt").display().to_string();
    let elsewhere = w.path("restore").display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["backup", "--exclude", "a["],
            "the filter pattern \"a[\" (--exclude) is not valid: \"a[\" has a `[` that is never closed".into(),
        ),
        (
            vec!["download", "--include", "***"],
            "the filter pattern \"***\" (--include) is not valid".into(),
        ),
        (
            vec!["backup", "--filter-from", &rules],
            format!("the filter rule \"keep this\" ({rules} line 2) is not valid: a rule is `+ PATTERN` (include), `- PATTERN` (exclude) or `!` (forget the rules above)"),
        ),
        (
            vec!["backup", "--exclude-from", &missing],
            format!("--exclude-from {missing}: cannot read it: "),
        ),
        (
            vec!["upload", "--delete-excluded"],
            "--delete-excluded: upload never deletes remote copies; run `poof backup --delete-excluded` to remove excluded files from the copy".into(),
        ),
        (
            vec!["download", "--to", &elsewhere, "--delete-excluded"],
            format!("--delete-excluded with --to {elsewhere}: a restore into another folder deletes nothing, excluded files included; leave out --delete-excluded"),
        ),
    ];
    for (args, want) in cases {
        let run = w.poof(&args).expect(2);
        assert!(run.stderr.contains(&want), "{args:?}: {}", run.stderr);
    }
    assert!(w.stored("Docs").is_empty(), "nothing was copied");
    assert!(w.path("src/a.txt").exists());
    assert!(!w.path("restore").exists(), "nothing was restored");
    // A .poofignore with a bad pattern names its line.
    w.file("src/.poofignore", b"ok\n{a,b\n", 1_600_000_000, 0o644);
    let run = w.poof(&["backup"]).expect(2);
    let want = format!(
        "the filter pattern \"{{a,b\" ({} line 2) is not valid",
        w.path("src/.poofignore").display()
    );
    assert!(run.stderr.contains(&want), "{}", run.stderr);
}
