//! The knobs every command shares: `--log-file` and `-v`, the POOF_*
//! environment forms of the common flags, `--progress`/`--no-progress`,
//! `--bwlimit` end to end, and `poof check --quick`.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Kind, World, poof_bin};
use crate::harness::route_through;
use crate::proxy::{Fault, Faults, Filter, Proxy, When};

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

crate::on_both_remotes!(bwlimit_slows_backup_and_download_to_its_rate);

/// `--bwlimit 100K` (KiB/s, base 1024) on a file of `SIZE` bytes: the
/// limiter starts with one second's burst, so each transfer takes at least
/// `SIZE / rate - 1` seconds (3 s here). The test asserts a lower bound
/// only, half a second under that, so a slow machine cannot fail it.
fn bwlimit_slows_backup_and_download_to_its_rate(kind: Kind) {
    const RATE: u64 = 100 * 1024;
    const SIZE: u64 = 400 * 1024;
    let floor = Duration::from_secs_f64(SIZE as f64 / RATE as f64 - 1.5);
    let noise = |seed: u32| -> Vec<u8> {
        (0..SIZE as u32)
            .map(|i| (i.wrapping_add(seed).wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect()
    };
    let w = World::on(kind);
    w.file("src/big.bin", &noise(1), 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    let timed = |args: &[&str], env: &[(&str, &str)]| {
        let t = Instant::now();
        let run = w.poof_env(args, env).expect(0);
        (t.elapsed(), run)
    };

    let (took, run) = timed(&["--bwlimit", "100K", "backup"], &[]);
    assert!(run.stdout.contains("done: 1 copied"), "{}", run.stdout);
    assert!(
        took >= floor,
        "backup of {SIZE} bytes at 100K took {took:?}"
    );

    let (took, _) = timed(&["--bwlimit", "100K", "download", "--to", "out"], &[]);
    assert!(
        took >= floor,
        "download of {SIZE} bytes at 100K took {took:?}"
    );
    assert_eq!(std::fs::read(w.path("out/Docs/big.bin")).unwrap(), noise(1));

    // POOF_BWLIMIT is the flag's environment form, and slows alike.
    w.file("src/second.bin", &noise(2), 1_600_000_000, 0o644);
    let (took, run) = timed(&["backup"], &[("POOF_BWLIMIT", "100K")]);
    assert!(run.stdout.contains("done: 1 copied"), "{}", run.stdout);
    assert!(
        took >= floor,
        "backup of {SIZE} bytes with POOF_BWLIMIT=100K took {took:?}"
    );
}

/// True when `line` starts with an RFC 3339 UTC time with milliseconds
/// (`2025-01-02T03:04:05.678Z `).
fn stamped(line: &str) -> bool {
    let b = line.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b[i].is_ascii_digit());
    b.len() > 25
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..23)
        && &b[23..25] == b"Z "
}

/// A folder world with one file in `src` and a configured path that does
/// not exist (each backup warns about it).
fn world_with_a_warning() -> World {
    let w = World::new();
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs"), ("gone", "Gone")]);
    w
}

#[test]
fn the_log_file_gets_stamped_lines_and_the_warning() {
    let w = world_with_a_warning();
    let log = w.path("logs/poof.log");
    let log_arg = log.display().to_string();
    let run = w.poof(&["--log-file", &log_arg, "backup"]).expect(0);
    // The terminal reads as before: results on stdout, the warning on stderr.
    assert!(run.stdout.contains("done: 1 copied"), "{}", run.stdout);
    assert!(
        run.stderr.contains("poof: warning: local folder") && run.stderr.contains("does not exist"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("    ")).collect();
    assert!(lines.iter().all(|l| stamped(l)), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l[25..].starts_with("WARN  local folder") && l.contains("does not exist")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l[25..].starts_with("INFO  done: 1 copied")),
        "{text}"
    );
    // Each action is in the file only with -v (level DEBUG).
    assert!(!text.contains("DEBUG"), "{text}");

    // Appended, not replaced; -v adds each action. With --json and -q,
    // stdout is JSON alone and the file still gets the text.
    w.file("src/b.txt", b"bravo", 1_600_000_000, 0o644);
    let run = w
        .poof(&["--log-file", &log_arg, "-v", "-q", "--json", "backup"])
        .expect(2);
    assert!(
        run.stderr.contains("cannot be used with"),
        "-v and -q: {}",
        run.stderr
    );
    let run = w
        .poof(&["--log-file", &log_arg, "-v", "--json", "backup"])
        .expect(0);
    for line in run.stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON on stdout: {line:?}: {e}"));
        assert!(v["event"].is_string(), "{line}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("WARN  local folder").count(), 2, "{text}");
    assert!(text.contains(" DEBUG   copied  b.txt"), "{text}");

    // -q keeps the terminal to warnings; the file still gets the results.
    let run = w.poof(&["--log-file", &log_arg, "-q", "backup"]).expect(0);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("poof: warning:"), "{}", run.stderr);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("INFO  done:").count(), 3, "{text}");

    // A log file that opens but cannot be written: the run goes on, and
    // one warning says so, with the cause, however many lines then fail
    // (/dev/full, where there is one: Linux).
    if std::path::Path::new("/dev/full").exists() {
        let run = w.poof(&["--log-file", "/dev/full", "backup"]).expect(0);
        assert!(run.stdout.contains("done: 0 copied"), "{}", run.stdout);
        assert!(
            run.stderr.contains(
                "poof: warning: cannot write the log file /dev/full: writing /dev/full: No space left on device"
            ),
            "{}",
            run.stderr
        );
        assert_eq!(
            run.stderr.matches("cannot write the log file").count(),
            1,
            "{}",
            run.stderr
        );
    }

    // A log file that cannot be opened is a usage error, said at once.
    let run = w
        .poof(&[
            "--log-file",
            &w.path("src/a.txt/x.log").display().to_string(),
            "backup",
        ])
        .expect(2);
    assert!(
        run.stderr
            .contains("poof: error: creating the log file's folder"),
        "{}",
        run.stderr
    );
}

#[test]
fn vv_shows_detail_on_stderr_only() {
    let w = world_with_a_warning();
    w.poof(&["backup"]).expect(0);
    let v = w.poof(&["-v", "backup"]).expect(0);
    assert!(!v.stderr.contains("poof: debug:"), "{}", v.stderr);
    let vv = w.poof(&["-vv", "backup"]).expect(0);
    assert!(
        vv.stderr.contains("poof: debug: Docs: 1 objects listed"),
        "{}",
        vv.stderr
    );
    // stdout is what -v shows.
    assert_eq!(
        vv.stdout
            .lines()
            .filter(|l| !l.starts_with("done:"))
            .collect::<Vec<_>>(),
        v.stdout
            .lines()
            .filter(|l| !l.starts_with("done:"))
            .collect::<Vec<_>>()
    );
}

/// Runs poof without `--confdir`, with only the given POOF_* variables.
fn poof_with_env(w: &World, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(poof_bin());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("AWS_") || name.starts_with("POOF_") {
            cmd.env_remove(&*name);
        }
    }
    cmd.args(args)
        .env("HOME", w.path("home"))
        .env("XDG_CONFIG_HOME", w.path("home/.config"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .current_dir(w.path(""))
        .output()
        .expect("poof runs")
}

#[test]
fn environment_forms_of_the_common_flags() {
    let w = world_with_a_warning();
    let conf = w.path("conf").display().to_string();
    let text = |o: &std::process::Output| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };

    // POOF_CONFDIR is honoured as --confdir.
    let o = poof_with_env(&w, &["backup"], &[("POOF_CONFDIR", &conf)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("done: 1 copied"), "{out}");
    assert!(w.path("remote/Docs/a.txt").exists());
    // Without it, the home's config folder (which has no poof.conf) is used.
    let o = poof_with_env(&w, &["backup"], &[]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));

    // Values are checked as the flags' are, with clap's messages.
    let o = poof_with_env(
        &w,
        &["backup"],
        &[("POOF_CONFDIR", &conf), ("POOF_TRANSFERS", "0")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o)
            .1
            .contains("invalid value '0' for '--transfers <N>': 0 is not in 1..=256"),
        "{:?}",
        text(&o)
    );
    for (var, value, flag) in [
        ("POOF_CHECKERS", "0", "'--checkers <N>'"),
        ("POOF_BWLIMIT", "fast", "'--bwlimit <RATE>'"),
        ("POOF_JSON", "maybe", "'--json'"),
        (
            "POOF_LOG_FILE_MAX_SIZE",
            "0",
            "'--log-file-max-size <SIZE>'",
        ),
        (
            "POOF_LOG_FILE_MAX_BACKUPS",
            "some",
            "'--log-file-max-backups <N>'",
        ),
    ] {
        let o = poof_with_env(&w, &["backup"], &[("POOF_CONFDIR", &conf), (var, value)]);
        assert_eq!(o.status.code(), Some(2), "{var}: {:?}", text(&o));
        let err = text(&o).1;
        assert!(
            err.contains(&format!("invalid value '{value}' for {flag}")),
            "{err}"
        );
    }

    // POOF_JSON, POOF_LOG_FILE, POOF_TRANSFERS, POOF_CHECKERS, POOF_BWLIMIT.
    let log = w.path("env.log").display().to_string();
    w.file("src/b.txt", b"bravo", 1_600_000_000, 0o644);
    let o = poof_with_env(
        &w,
        &["backup"],
        &[
            ("POOF_CONFDIR", &conf),
            ("POOF_JSON", "true"),
            ("POOF_LOG_FILE", &log),
            ("POOF_TRANSFERS", "2"),
            ("POOF_CHECKERS", "3"),
            ("POOF_BWLIMIT", "10M"),
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.lines().all(|l| l.starts_with('{')), "{out}");
    assert!(out.contains(r#""event":"summary""#), "{out}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("WARN  local folder"), "{logged}");
    assert!(logged.contains("INFO  done: 1 copied"), "{logged}");

    // --help names each variable.
    let o = poof_with_env(&w, &["backup", "--help"], &[]);
    let help = text(&o).0;
    for var in [
        "POOF_CONFDIR",
        "POOF_TRANSFERS",
        "POOF_CHECKERS",
        "POOF_BWLIMIT",
        "POOF_LOG_FILE",
        "POOF_LOG_FILE_MAX_SIZE",
        "POOF_LOG_FILE_MAX_BACKUPS",
        "POOF_PROGRESS",
        "POOF_JSON",
    ] {
        assert!(help.contains(&format!("[env: {var}=")), "{var}: {help}");
    }
}

#[test]
fn progress_flags_force_the_bar_either_way() {
    let w = World::new();
    for i in 0..3 {
        w.file(
            &format!("src/f{i}.bin"),
            &[i as u8; 5000],
            1_600_000_000,
            0o644,
        );
    }
    w.conf(&[("src", "Docs")]);
    // Not a terminal: no bar, unless --progress (on stderr; stdout unchanged).
    let run = w.poof(&["backup"]).expect(0);
    assert!(!run.stderr.contains("ETA"), "{}", run.stderr);
    for i in 0..3 {
        w.file(&format!("src/f{i}.bin"), &[5; 5000], 1_600_000_050, 0o644);
    }
    let run = w.poof(&["--progress", "--json", "backup"]).expect(0);
    assert!(
        run.stderr.contains("/3 files") && run.stderr.contains("ETA"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.lines().all(|l| l.starts_with('{')),
        "{}",
        run.stdout
    );
    for i in 0..3 {
        w.file(&format!("src/f{i}.bin"), &[6; 5000], 1_600_000_060, 0o644);
    }
    let run = w.poof_env(&["backup"], &[("POOF_PROGRESS", "1")]).expect(0);
    assert!(run.stderr.contains("/3 files"), "{}", run.stderr);

    // On a terminal, a bar by default; none with --no-progress, which
    // also wins over an earlier --progress.
    w.file("src/g.bin", &[9; 5000], 1_600_000_000, 0o644);
    w.file("src/h.bin", &[8; 5000], 1_600_000_000, 0o644);
    let Some(shown) = crate::rotate::on_a_terminal(&w, &["--progress", "--no-progress", "backup"])
    else {
        return;
    };
    assert!(shown.contains("done: 2 copied"), "{shown}");
    assert!(!shown.contains("ETA"), "{shown}");
    for i in 0..3 {
        w.file(&format!("src/f{i}.bin"), &[7; 5000], 1_600_000_100, 0o644);
    }
    let shown = crate::rotate::on_a_terminal(&w, &["backup"]).unwrap();
    assert!(
        shown.contains("/3 files") && shown.contains("ETA"),
        "{shown}"
    );
}

#[test]
fn check_quick_compares_recorded_hashes_without_reading_the_copies() {
    let w = World::on(Kind::Folder);
    w.file("src/a.txt", b"alpha", 1_600_000_000, 0o644);
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    w.file("src/big.bin", &big, 1_600_000_000, 0o644);
    w.conf(&[("src", "Docs")]);
    w.poof_env(&["econfig"], &[PASS]).expect(0);
    w.poof_env(&["cryptoggle"], &[PASS]).expect(0);
    w.poof_env(&["backup"], &[PASS]).expect(0);
    let run = w.poof_env(&["check", "--quick"], &[PASS]).expect(0);
    assert!(
        run.stdout.contains("2 identical, 0 differences"),
        "{}",
        run.stdout
    );

    // Garble the end of big.bin's object (its last segment), leaving its
    // header and the manifest as they were.
    let object = biggest_object(&w.path("remote"));
    let mut bytes = std::fs::read(&object).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&object, &bytes).unwrap();

    // --quick reads headers only: it cannot see that, and says all is well;
    // plain check reads the object and reports it.
    let run = w.poof_env(&["check", "--quick"], &[PASS]).expect(0);
    assert!(
        run.stdout.contains("2 identical, 0 differences"),
        "{}",
        run.stdout
    );
    let run = w.poof_env(&["check"], &[PASS]).expect(1);
    assert!(
        run.stdout.contains("not checked:      big.bin"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 identical, 1 differences"),
        "{}",
        run.stdout
    );

    // A local file changed in place (same size and time): --quick finds it
    // from the recorded hash, still without reading big.bin's object.
    w.file("src/a.txt", b"ALPHA", 1_600_000_000, 0o644);
    let run = w.poof_env(&["check", "--quick"], &[PASS]).expect(1);
    assert!(
        run.stdout.contains("differs:          a.txt"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("big.bin"), "{}", run.stdout);
    assert!(
        run.stdout.contains("1 identical, 1 differences"),
        "{}",
        run.stdout
    );
    let run = w
        .poof_env(&["--json", "check", "--quick"], &[PASS])
        .expect(1);
    assert!(
        run.stdout
            .contains(r#""event":"difference","file":"a.txt","kind":"content""#),
        "{}",
        run.stdout
    );
}

/// The largest file under `root`, outside poof's own `.poof` folder.
fn biggest_object(root: &std::path::Path) -> std::path::PathBuf {
    let mut best: Option<(u64, std::path::PathBuf)> = None;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_name() == ".poof" {
                continue;
            }
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(p);
            } else if best.as_ref().is_none_or(|(s, _)| m.len() > *s) {
                best = Some((m.len(), p));
            }
        }
    }
    best.expect("the remote holds objects").1
}

#[test]
fn the_log_file_rotates_at_its_size_and_keeps_its_backups() {
    let w = world_with_a_warning();
    let log = w.path("conf/poof.log");
    let log_arg = log.display().to_string();
    let flags = [
        "--log-file",
        &log_arg,
        "--log-file-max-size",
        "400B",
        "--log-file-max-backups",
        "2",
        "-q",
    ];
    for i in 0..8 {
        w.file(&format!("src/f{i}.txt"), b"x", 1_600_000_000, 0o644);
        let mut args = flags.to_vec();
        args.push("backup");
        w.poof(&args).expect(0);
    }
    let read = |name: &str| std::fs::read_to_string(w.path(&format!("conf/{name}")));
    let files = [read("poof.log"), read("poof.log.1"), read("poof.log.2")];
    for f in &files {
        let text = f.as_ref().expect("the log and two rotated files");
        assert!(text.len() <= 400, "{text}");
        assert!(text.lines().all(stamped), "{text}");
    }
    assert!(read("poof.log.3").is_err(), "only two backups are kept");
    // The newest lines are in poof.log, the older ones in .1, then .2.
    let last = |t: &str| t.lines().last().unwrap()[..24].to_string();
    let first = |t: &str| t.lines().next().unwrap()[..24].to_string();
    let [now, one, two] = files.map(Result::unwrap);
    assert!(first(&now) >= last(&one) && first(&one) >= last(&two));
    assert!(now.contains("INFO  done: 1 copied"), "{now}");
    // `poof paths` names the rotated files poof may leave, for neuter.
    let paths = w.poof(&["paths"]).expect(0).stdout;
    assert!(paths.contains(&format!("{log_arg}.3")), "{paths}");
}

/// From now on, each request of `method` on an object waits 50 ms at the
/// proxy before it is forwarded, so the requests poof runs at once overlap
/// there and `Proxy::peak` counts them.
fn slow(proxy: &Proxy, method: &'static str) {
    proxy.set(Faults {
        filter: Filter {
            method: Some(method),
            objects_only: true,
        },
        when: When::From(1),
        what: vec![Fault::Stall(50)],
        ..Faults::none()
    });
}

/// Fails unless `peak` requests at once fit `bound`: 1 for a bound of 1,
/// else more than one and at most `bound` (all of them at once is likely,
/// not certain, on a loaded machine).
#[track_caller]
fn within(peak: usize, bound: usize, what: &str) {
    eprintln!("{what}: {peak} at once");
    if bound == 1 {
        assert_eq!(peak, 1, "{what}");
    } else {
        assert!(1 < peak && peak <= bound, "{what}: {peak} at once");
    }
}

/// `--checkers` bounds the metadata reads at once (plain S3's `check
/// --quick`: one HEAD per file), `--transfers` the uploads at once; their
/// environment forms alike. Asserted through the proxy: the most requests
/// in flight at once is the bound, never more, and more than one when the
/// bound allows (each request is held 50 ms, so they overlap).
#[test]
fn checkers_and_transfers_bound_the_requests_in_flight() {
    let Some(kind) = Kind::s3() else { return };
    let Kind::S3(s3) = &kind else { unreachable!() };
    let proxy = Proxy::start(&s3.endpoint, Faults::none());
    let w = World::on(kind.clone());
    for i in 0..12 {
        w.file(&format!("src/f{i}.txt"), b"x", 1_600_000_000, 0o644);
    }
    w.conf(&[("src", "Docs")]);
    route_through(&w, &proxy.url());

    slow(&proxy, "PUT");
    w.poof(&["backup", "--transfers", "1"]).expect(0);
    assert_eq!(proxy.selected().len(), 12);
    within(proxy.peak(), 1, "--transfers 1");
    for i in 0..12 {
        w.file(&format!("src/f{i}.txt"), b"y", 1_600_000_100, 0o644);
    }
    slow(&proxy, "PUT");
    w.poof_env(&["backup", "--yes"], &[("POOF_TRANSFERS", "3")])
        .expect(0);
    assert_eq!(proxy.selected().len(), 12);
    within(proxy.peak(), 3, "POOF_TRANSFERS=3");

    for (args, env, bound) in [
        (vec!["--checkers", "1"], vec![], 1),
        (vec!["--checkers", "4"], vec![], 4),
        (vec![], vec![("POOF_CHECKERS", "2")], 2),
    ] {
        slow(&proxy, "HEAD");
        let mut all = args.clone();
        all.extend(["check", "--quick"]);
        let run = w.poof_env(&all, &env).expect(0);
        assert!(
            run.stdout.contains("12 identical, 0 differences"),
            "{}",
            run.stdout
        );
        assert_eq!(proxy.selected().len(), 12, "{args:?} {env:?}");
        within(proxy.peak(), bound, &format!("{args:?} {env:?}"));
    }
}

/// POOF_LOG_FILE_MAX_SIZE and POOF_LOG_FILE_MAX_BACKUPS rotate the log file
/// as their flags do.
#[test]
fn the_log_file_rotates_by_the_environment_too() {
    let w = world_with_a_warning();
    let log = w.path("env-logs/poof.log").display().to_string();
    let env = [
        ("POOF_LOG_FILE", log.as_str()),
        ("POOF_LOG_FILE_MAX_SIZE", "300B"),
        ("POOF_LOG_FILE_MAX_BACKUPS", "1"),
    ];
    for i in 0..6 {
        w.file(&format!("src/f{i}.txt"), b"x", 1_600_000_000, 0o644);
        w.poof_env(&["-q", "backup"], &env).expect(0);
    }
    for name in ["poof.log", "poof.log.1"] {
        let text = std::fs::read_to_string(w.path(&format!("env-logs/{name}"))).unwrap();
        assert!(text.len() <= 300, "{name}: {text}");
        assert!(text.lines().all(stamped), "{name}: {text}");
    }
    assert!(
        !w.path("env-logs/poof.log.2").exists(),
        "only one backup is kept"
    );
}
