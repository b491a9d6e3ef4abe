//! `poof schedule`: install and remove round trips for cron (a fake
//! crontab program, through the `POOF_CRONTAB` test hook) and for systemd
//! user units (under a temporary home); poof 1.x's `lconfig` and `lpurge`.
//! The launchd plist's content is checked by the host's unit tests, since
//! launchd exists only on macOS.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use crate::common::{Run, World, listing};

/// Every path (files and folders) under `root`, by name only: a folder's
/// own time changes when something is added to it and removed again.
pub fn names(root: &std::path::Path) -> Vec<String> {
    listing(root)
        .into_iter()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect()
}

/// A fake `crontab` that keeps the table in `FAKE_CRONTAB_FILE`, as
/// `crontab -l` and `crontab -` do.
pub fn fake_crontab(w: &World) -> PathBuf {
    let script = w.path("fake-crontab");
    std::fs::write(
        &script,
        "#!/bin/sh\nf=\"$FAKE_CRONTAB_FILE\"\ncase \"$1\" in\n  -l) if [ -f \"$f\" ]; then cat \"$f\"; else echo \"no crontab for $USER\" >&2; exit 1; fi ;;\n  -) cat > \"$f\" ;;\n  *) exit 2 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Runs poof with the fake crontab and a home of the world's own.
pub fn poof_sched(w: &World, args: &[&str]) -> Run {
    let script = fake_crontab(w);
    let table = w.path("crontab.txt");
    let config = w.path("home/.config");
    w.poof_env(
        args,
        &[
            ("POOF_CRONTAB", script.to_str().unwrap()),
            ("FAKE_CRONTAB_FILE", table.to_str().unwrap()),
            ("XDG_CONFIG_HOME", config.to_str().unwrap()),
        ],
    )
}

#[test]
fn cron_install_and_remove_round_trip() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    let theirs = "MAILTO=me@example.org\n5 4 * * * /usr/bin/their-job\n";
    std::fs::write(w.path("crontab.txt"), theirs).unwrap();
    let run = poof_sched(
        &w,
        &["schedule", "install", "--kind", "cron", "--every", "30m"],
    )
    .expect(0);
    assert!(run.stdout.contains("every 30m (cron)"), "{}", run.stdout);
    // Installing again replaces the line, never duplicates it.
    poof_sched(
        &w,
        &["schedule", "install", "--kind", "cron", "--every", "30m"],
    )
    .expect(0);
    let table = std::fs::read_to_string(w.path("crontab.txt")).unwrap();
    assert!(table.starts_with(theirs), "{table}");
    assert_eq!(table.matches("# BEGIN poof").count(), 1, "{table}");
    let line = table
        .lines()
        .find(|l| l.starts_with("*/30 * * * * "))
        .unwrap();
    assert!(
        line.contains(&format!(
            "'--confdir' '{}' '-q' '--log-file'",
            w.path("conf").display()
        )),
        "{line}"
    );
    // The run logs to its own rotated file; cron gets stderr alone.
    assert!(
        line.contains(&format!(
            "'-q' '--log-file' '{}' '--log-file-max-size' '5M' '--log-file-max-backups' '3' 'backup'",
            w.path("conf/poof.log").display()
        )),
        "{line}"
    );
    assert!(line.ends_with("'backup' >/dev/null"), "{line}");
    let run = poof_sched(&w, &["schedule", "status", "--kind", "cron"]).expect(0);
    assert!(
        run.stdout.contains("in your crontab: */30"),
        "{}",
        run.stdout
    );

    poof_sched(&w, &["schedule", "remove", "--kind", "cron"]).expect(0);
    assert_eq!(
        std::fs::read_to_string(w.path("crontab.txt")).unwrap(),
        theirs
    );
    let run = poof_sched(&w, &["schedule", "status", "--kind", "cron"]).expect(0);
    assert!(
        run.stdout.contains("cron     not installed"),
        "{}",
        run.stdout
    );
}

#[test]
fn lconfig_and_lpurge_are_poof_1x_names() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    poof_sched(&w, &["lconfig", "--kind", "cron"]).expect(0);
    let table = std::fs::read_to_string(w.path("crontab.txt")).unwrap();
    assert!(
        table.contains("\n0 */6 * * * "),
        "every 6 hours by default: {table}"
    );
    poof_sched(&w, &["lpurge"]).expect(0);
    assert_eq!(std::fs::read_to_string(w.path("crontab.txt")).unwrap(), "");
}

#[test]
fn systemd_units_install_and_remove_round_trip() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    std::fs::create_dir_all(w.path("home/.config")).unwrap();
    let before = names(&w.path("home"));
    // There is no user systemd session here: the files are written anyway,
    // and the run says what to do.
    let run = poof_sched(
        &w,
        &["schedule", "install", "--kind", "systemd", "--every", "2h"],
    )
    .expect(0);
    let units = w.path("home/.config/systemd/user");
    let service = std::fs::read_to_string(units.join("poof.service")).unwrap();
    let timer = std::fs::read_to_string(units.join("poof.timer")).unwrap();
    assert!(
        service.contains(&format!(
            "\"--confdir\" \"{}\" \"-q\"",
            w.path("conf").display()
        )),
        "{service}"
    );
    assert!(
        service.contains(&format!(
            "\"--log-file\" \"{}\" \"--log-file-max-size\" \"5M\"",
            w.path("conf/poof.log").display()
        )),
        "{service}"
    );
    assert!(service.contains("StandardOutput=null\n"), "{service}");
    assert!(timer.contains("OnUnitActiveSec=7200s"), "{timer}");
    let enabled = units.join("timers.target.wants/poof.timer");
    assert!(
        std::fs::symlink_metadata(&enabled).is_ok() || run.stdout.contains("enabled and started"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let run = poof_sched(&w, &["schedule", "status", "--kind", "systemd"]).expect(0);
    assert!(run.stdout.contains("poof.timer"), "{}", run.stdout);

    poof_sched(&w, &["schedule", "remove", "--kind", "systemd"]).expect(0);
    assert_eq!(names(&w.path("home")), before);
}

#[test]
fn launchd_is_refused_off_macos_and_bad_intervals_are_refused() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    if !cfg!(target_os = "macos") {
        let run = poof_sched(&w, &["schedule", "install", "--kind", "launchd"]).expect(2);
        assert!(
            run.stderr.contains("launchd exists only on macOS"),
            "{}",
            run.stderr
        );
    }
    let run = poof_sched(&w, &["schedule", "install", "--every", "6x"]).expect(2);
    assert!(run.stderr.contains("is not an interval"), "{}", run.stderr);
    let run = poof_sched(
        &w,
        &["schedule", "install", "--kind", "cron", "--every", "7h"],
    )
    .expect(2);
    assert!(
        run.stderr.contains("cron can run poof every N minutes"),
        "{}",
        run.stderr
    );
    assert!(!w.path("crontab.txt").exists());
}

#[test]
fn the_job_keeps_the_aws_profile() {
    let w = World::new();
    w.conf(&[("src", "Docs")]);
    poof_sched(
        &w,
        &[
            "--profile",
            "nightly",
            "schedule",
            "install",
            "--kind",
            "cron",
        ],
    )
    .expect(0);
    let table = std::fs::read_to_string(w.path("crontab.txt")).unwrap();
    assert!(table.contains("'--profile' 'nightly' '-q'"), "{table}");
}
