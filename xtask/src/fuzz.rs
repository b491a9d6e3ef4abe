//! `cargo xtask fuzz [--seconds N] [--plain] [TARGET...]`: runs every fuzz
//! target of `fuzz/` (one per parser of the guest) for a bounded time.
//!
//! With a nightly toolchain and `cargo-fuzz` installed, each target runs
//! under libFuzzer for N seconds (default 60), starting from its corpus in
//! `fuzz/corpus/NAME`; a crash leaves its input in `fuzz/artifacts/NAME`,
//! and this task fails naming it. Without them (or with `--plain`), the
//! same checks run as plain tests on the stable toolchain over the corpus,
//! the saved regressions and a seeded generator, for about N seconds in all.
//!
//! Invariant: bounded; libFuzzer gets `-max_total_time`, and the plain run
//! a fixed number of inputs.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{exec, root};

/// The targets, as named in fuzz/Cargo.toml.
const TARGETS: &[&str] = &[
    "paths",
    "plan",
    "manifest",
    "names",
    "header",
    "segments",
    "blob",
    "wrapped_key",
    "rclone_names",
    "rclone_blocks",
    "rclone_obscured",
];

/// Runs the fuzz targets; `args` are the task's arguments.
pub fn run(args: &[String]) -> Result<()> {
    let mut seconds = 60u64;
    let mut plain = false;
    let mut chosen = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .context("--seconds wants a whole number")?;
            }
            "--plain" => plain = true,
            t if TARGETS.contains(&t) => chosen.push(t),
            other => bail!(
                "unknown fuzz argument {other:?}; targets: {}",
                TARGETS.join(", ")
            ),
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.to_vec();
    }
    let fuzz_dir = root().join("fuzz");
    if !plain && libfuzzer_available() {
        for t in &chosen {
            std::fs::create_dir_all(fuzz_dir.join("corpus").join(t))?;
            exec(
                Command::new("cargo")
                    .current_dir(&fuzz_dir)
                    .args(["+nightly", "fuzz", "run", t])
                    .arg("--")
                    .arg(format!("-max_total_time={seconds}"))
                    .arg("-rss_limit_mb=2048"),
            )
            .with_context(|| {
                format!(
                    "fuzz target {t} found a crash: its input is in fuzz/artifacts/{t}; \
                     copy it to fuzz/regressions/{t}/ and add a unit test in the guest"
                )
            })?;
        }
        return Ok(());
    }
    eprintln!(
        "xtask: no nightly cargo-fuzz (or --plain): running the targets as plain tests on stable"
    );
    // About 4,000 inputs a second per target on this machine's 2 cores, in release.
    let rounds = (seconds.max(1) * 4_000 / chosen.len().max(1) as u64).max(500);
    exec(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&fuzz_dir)
            .args(["test", "--release", "--lib"])
            .env("POOF_FUZZ_ROUNDS", rounds.to_string()),
    )
}

/// True when `cargo +nightly fuzz` runs here.
fn libfuzzer_available() -> bool {
    Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}
