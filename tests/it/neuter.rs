//! `poof neuter`, level-4 uploads and portable mode: after neuter no file of
//! poof's is left (the home and config folders are listed before and
//! after), a partial upload makes neuter refuse, and a portable poof writes
//! nothing under the home.
//!
//! These tests run a copy of the binary, since neuter removes the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Run, World, poof_bin, snapshot};
use crate::schedule::{fake_crontab, names};

/// Copies poof into `dir`, for a test that lets it remove itself.
fn own_binary(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let bin = dir.join("poof");
    std::fs::copy(poof_bin(), &bin).unwrap();
    bin
}

/// Runs `bin` with a home of the world's own, the fake crontab, and no
/// `--confdir` unless given in `args`.
fn run(w: &World, bin: &Path, args: &[&str]) -> Run {
    // A binary copied a moment ago can be "busy" while another test thread's
    // child still holds an inherited write handle to it: try again.
    let spawn = || {
        Command::new(bin)
            .args(args)
            .env("HOME", w.path("home"))
            .env("XDG_CONFIG_HOME", w.path("home/.config"))
            .env("POOF_CRONTAB", fake_crontab(w))
            .env("FAKE_CRONTAB_FILE", w.path("crontab.txt"))
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .current_dir(w.dir.path())
            .output()
    };
    let mut out = spawn();
    for _ in 0..50 {
        match &out {
            Err(e) if e.raw_os_error() == Some(26) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                out = spawn();
            }
            _ => break,
        }
    }
    let out = out.unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn after_neuter_no_file_of_poofs_is_left() {
    let w = World::new();
    let bin = own_binary(&w.path("bin"));
    std::fs::create_dir_all(w.path("home/.config")).unwrap();
    std::fs::write(w.path("crontab.txt"), "5 4 * * * their-job\n").unwrap();
    let before = names(&w.path("home"));

    // poof's default config folder, under the home.
    run(&w, &bin, &["config"]).expect(0);
    run(&w, &bin, &["cconfig"]).expect(0);
    run(&w, &bin, &["schedule", "install", "--kind", "cron"]).expect(0);
    run(&w, &bin, &["schedule", "install", "--kind", "systemd"]).expect(0);
    let confdir = w.path("home/.config/poof");
    std::fs::write(confdir.join("poof.log"), "a scheduled run's output\n").unwrap();
    let paths = run(&w, &bin, &["paths"]).expect(0);
    assert!(
        paths
            .stdout
            .contains(&confdir.join("poof.log").display().to_string())
    );
    assert!(paths.stdout.contains("poof.timer"), "{}", paths.stdout);
    assert_ne!(names(&w.path("home")), before);

    let dry = run(&w, &bin, &["neuter", "--dry-run"]).expect(0);
    assert!(dry.stdout.contains("would remove"), "{}", dry.stdout);
    assert!(bin.exists() && confdir.join("poof.conf").exists());

    let r = run(&w, &bin, &["neuter"]).expect(0);
    assert!(r.stdout.contains("removed"), "{}", r.stdout);
    assert_eq!(names(&w.path("home")), before);
    assert_eq!(
        std::fs::read_to_string(w.path("crontab.txt")).unwrap(),
        "5 4 * * * their-job\n"
    );
    assert!(!bin.exists(), "the binary removes itself");
}

#[test]
fn neuter_leaves_what_is_not_poofs() {
    let w = World::new();
    let bin = own_binary(&w.path("bin"));
    w.conf(&[("src", "Docs")]);
    std::fs::write(w.path("conf/notes.txt"), "the user's").unwrap();
    let conf = w.path("conf").display().to_string();
    let r = run(&w, &bin, &["--confdir", &conf, "neuter", "--keep-binary"]).expect(0);
    assert!(
        r.stdout.contains("notes.txt: not one of poof's files"),
        "{}",
        r.stdout
    );
    assert!(!w.path("conf/poof.conf").exists());
    assert_eq!(
        std::fs::read(w.path("conf/notes.txt")).unwrap(),
        b"the user's"
    );
    assert!(bin.exists());
}

#[test]
fn neuter_refuses_after_a_partial_upload_unless_yes() {
    let w = World::new();
    let bin = own_binary(&w.path("bin"));
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.file("src/b.txt", b"bravo", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let conf = w.path("conf").display().to_string();
    run(&w, &bin, &["--confdir", &conf, "backup"]).expect(0);
    // The stored copy of b.txt rots (same size and time): upload keeps it.
    let stored = w.path("remote/Docs/b.txt");
    let m = std::fs::metadata(&stored).unwrap();
    std::fs::write(&stored, b"BRAVO").unwrap();
    filetime::set_file_mtime(&stored, filetime::FileTime::from_last_modification_time(&m)).unwrap();
    run(&w, &bin, &["--confdir", &conf, "upload"]).expect(1);
    assert!(w.path("src/b.txt").exists() && !w.path("src/a.txt").exists());

    let r = run(&w, &bin, &["--confdir", &conf, "neuter", "--keep-binary"]).expect(3);
    assert!(
        r.stderr.contains("the last upload ended with exit code 1"),
        "{}",
        r.stderr
    );
    assert!(w.path("conf/poof.conf").exists());
    run(
        &w,
        &bin,
        &["--confdir", &conf, "neuter", "--keep-binary", "--yes"],
    )
    .expect(0);
    assert!(!w.path("conf").exists());
}

/// Threat level 4: poof's config folder is one of the paths, so a clean
/// upload ends with a neuter, and the copy holds the config.
#[test]
fn an_upload_of_the_config_folder_ends_with_neuter() {
    let w = World::new();
    let bin = own_binary(&w.path("bin"));
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs"), ("conf", "PoofConfig")]);
    let conf_text = std::fs::read(w.path("conf/poof.conf")).unwrap();
    let conf = w.path("conf").display().to_string();
    let r = run(&w, &bin, &["--confdir", &conf, "upload"]).expect(0);
    assert!(r.stdout.contains("neutering poof"), "{}", r.stdout);
    assert!(!w.path("conf").exists(), "{}", r.stdout);
    assert!(!bin.exists());
    assert!(w.path("src").is_dir() && !w.path("src/a.txt").exists());
    assert_eq!(
        std::fs::read(w.path("remote/PoofConfig/poof.conf")).unwrap(),
        conf_text
    );
    assert_eq!(snapshot(&w.path("remote/Docs")).len(), 1);
}

/// Portable mode: a poof.conf beside the binary keeps all state there;
/// nothing is written under the home, and neuter leaves the stick alone.
#[test]
fn portable_mode_writes_nothing_under_home() {
    let w = World::new();
    let stick = w.path("stick");
    let bin = own_binary(&stick);
    std::fs::create_dir_all(w.path("home")).unwrap();
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    let conf = serde_json::json!({
        "paths": { w.path("src").display().to_string(): "Docs" },
        "remote": format!("file://{}", w.path("remote").display()),
    });
    std::fs::write(stick.join("poof.conf"), conf.to_string()).unwrap();

    let paths = run(&w, &bin, &["paths"]).expect(0);
    assert!(paths.stdout.contains("portable mode"), "{}", paths.stdout);
    run(&w, &bin, &["cconfig"]).expect(0);
    run(&w, &bin, &["backup"]).expect(0);
    run(&w, &bin, &["upload"]).expect(0);
    assert!(stick.join("rclone-poof.conf").exists());
    assert!(stick.join("poof.status").exists());
    assert_eq!(names(&w.path("home")), Vec::<String>::new());

    let r = run(&w, &bin, &["neuter"]).expect(0);
    assert!(r.stdout.contains("on the portable stick"), "{}", r.stdout);
    assert!(bin.exists() && stick.join("poof.conf").exists());
    assert_eq!(names(&w.path("home")), Vec::<String>::new());
    // --portable does the same for a binary with no poof.conf beside it.
    std::fs::remove_file(stick.join("poof.conf")).unwrap();
    let r = run(&w, &bin, &["--portable", "paths"]).expect(0);
    assert!(
        r.stdout
            .contains(&stick.join("poof.conf").display().to_string()),
        "{}",
        r.stdout
    );
    assert_eq!(names(&w.path("home")), Vec::<String>::new());
}
