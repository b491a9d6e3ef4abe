//! poof's memory stays within its budget however many large files it moves
//! at once: a backup and a restore of many multipart files with
//! `--transfers 8` peak under 96 MiB of resident memory (read from GNU time,
//! as the benchmark does), encrypted too: unlocking a new key (Argon2id,
//! 64 MiB for about a second, in a guest instance dropped right after) fits
//! the same budget, and the transfers stay within it. Each file is sent in parts
//! of 5 MiB, four at a time; without the process's budget for parts
//! (host/src/s3/budget.rs) eight transfers would hold 32 parts, 160 MiB.

use std::process::Command;

use crate::common::{Kind, Run, World, poof_bin, snapshot};
use crate::proxy::Rng;

/// The bound the issue sets for every run with default settings.
const PEAK_KIB: u64 = 96 * 1024;
/// Files in the tree, each large enough for several parts.
const FILES: usize = 8;
/// Each file's size: five parts of 5 MiB and a bit.
const SIZE: usize = 25 * 1024 * 1024 + 4321;
/// GNU time, which reports the peak resident memory of the process it runs.
const GNU_TIME: &str = "/usr/bin/time";

const PASS: (&str, &str) = ("POOF_PASSPHRASE", "correct horse battery staple");

/// Runs poof under GNU time; returns what it did and its peak RSS in KiB.
fn peak_of(w: &World, args: &[&str]) -> (Run, u64) {
    let report = w.path("time.txt");
    let mut time = Command::new(GNU_TIME);
    time.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(poof_bin());
    let out = w
        .poof_via(time, args)
        .env(PASS.0, PASS.1)
        .output()
        .expect("GNU time runs");
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let kib = text
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no peak in GNU time's report {text:?}"));
    (Run::from(out), kib)
}

/// An S3 world whose cloud config sends files in 5 MiB parts from 5 MiB on,
/// holding `FILES` files of `SIZE` bytes.
fn world() -> Option<World> {
    if !std::path::Path::new(GNU_TIME).exists() {
        eprintln!("skipped: no GNU time at {GNU_TIME} to read the peak memory");
        return None;
    }
    let Some(kind) = Kind::s3() else {
        eprintln!("skipped: no test S3 server");
        return None;
    };
    let Kind::S3(s3) = &kind else { unreachable!() };
    let w = World::on(kind.clone());
    let mut rng = Rng(1960);
    for i in 0..FILES {
        w.file(
            &format!("src/big-{i}.bin"),
            &rng.bytes(SIZE),
            1_700_000_000 + i as i64,
            0o600,
        );
    }
    w.conf(&[("src", "Docs")]);
    let conf = format!(
        "{}upload_cutoff = 5Mi\nchunk_size = 5Mi\n",
        w.cloud_conf(s3)
    );
    std::fs::write(w.path("conf/rclone-poof.conf"), conf).unwrap();
    Some(w)
}

/// Backs the tree up and restores it into an empty folder, each within
/// `bound` KiB.
fn round_trip(w: &World, what: &str, bound: u64) {
    let source = snapshot(&w.path("src"));
    let (run, up) = peak_of(w, &["backup", "--transfers", "8", "--quiet"]);
    run.expect(0);
    std::fs::remove_dir_all(w.path("src")).unwrap();
    std::fs::create_dir(w.path("src")).unwrap();
    let (run, down) = peak_of(w, &["download", "--transfers", "8", "--quiet", "--yes"]);
    run.expect(0);
    assert_eq!(
        snapshot(&w.path("src")),
        source,
        "{what}: restored as backed up"
    );
    eprintln!(
        "{what}: {FILES} files of {SIZE} B: backup peaked at {} KiB, download at {} KiB",
        up, down
    );
    assert!(
        up <= bound,
        "{what} backup peaked at {up} KiB, over {bound}"
    );
    assert!(
        down <= bound,
        "{what} download peaked at {down} KiB, over {bound}"
    );
}

#[test]
fn many_large_files_stay_within_the_memory_budget() {
    let Some(w) = world() else { return };
    round_trip(&w, "plain", PEAK_KIB);
}

#[test]
fn many_large_encrypted_files_stay_within_the_memory_budget() {
    let Some(w) = world() else { return };
    w.poof_env(&["econfig"], &[PASS]).expect(0);
    w.poof_env(&["cryptoggle"], &[PASS]).expect(0);
    // Unlocking the key takes Argon2id's 64 MiB (docs/FORMAT.md) once, at
    // the start, in a guest instance: a run that moves nothing shows it.
    let (run, unlock) = peak_of(&w, &["backup", "--dry-run", "--quiet"]);
    run.expect(0);
    eprintln!("encrypted: a dry run (the key unlocked, nothing moved) peaked at {unlock} KiB");
    assert!(
        unlock <= PEAK_KIB,
        "unlocking the key peaked at {unlock} KiB, over {PEAK_KIB}"
    );
    round_trip(&w, "encrypted", PEAK_KIB);
}
