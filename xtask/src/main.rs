//! poof's build tasks, run as `cargo xtask <task>`.
//!
//! - `build [--release]`: the guest (wasm32-wasip2), then the host with the
//!   guest's bytes embedded.
//! - `demo`: build, then a real backup and restore on a local-folder remote.
//! - `test`: the whole suite: fmt, clippy, guest unit tests, host unit tests,
//!   integration tests against real remotes.
//! - `repro [--dist]`: build the guest twice in two folders; fail unless the
//!   bytes are identical to each other and to what the host embeds, and the
//!   host's precompiled guest is that guest compiled on this machine; with
//!   `--dist`, the same for every static binary of `dist --all`.
//! - `dist [--target TRIPLE | --all] [--check]`: the static Linux binaries
//!   (x86-64, and aarch64 cross-built), checked under emulation with
//!   `--check`.
//!
//! Invariant: no `build.rs` anywhere calls cargo; the order guest-then-host
//! lives here and only here.

mod bench;
mod build;
mod demo;
mod dist;
mod fuzz;
mod repro;
mod test;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <task>

tasks:
  build [--release]   build the guest, then poof with the guest embedded
  demo                build poof, then back up and restore sample files on a local folder
  test                run the whole test suite (fmt, clippy, unit and integration tests)
  repro [--dist]      check that the guest builds byte-identically in two folders,
                      and that the binary's precompiled guest is it, compiled here;
                      --dist: also build the static binaries (dist --all) and check each
  dist [--target TRIPLE | --all] [--check]
                      build the static Linux release binary (x86_64-unknown-linux-musl);
                      --target aarch64-unknown-linux-musl cross-builds the aarch64 one;
                      --all builds both and writes target/dist/SHA256SUMS;
                      --check builds both, then runs them (aarch64 under qemu-user):
                      version, guest probe, backup and restore, compared with x86-64
  fuzz [--seconds N] [--plain] [TARGET...]
                      run every fuzz target of fuzz/ for a bounded time (default 60 s each)
  bench [--smoke] [--runs N] [--transfers N] [--sets A,B,C,D] [--poof PATH]
                      time poof against rclone (and s5cmd, plain rows) on a local Garage; write docs/BENCHMARKS.md";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("build") => build::run(args[1..].iter().any(|a| a == "--release")).map(|_| ()),
        Some("demo") => demo::run(),
        Some("test") => test::run(),
        Some("repro") => repro::run(&args[1..]),
        Some("dist") => dist::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// A `cargo` command, using the same cargo that runs xtask.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command, failing with its name when it fails.
fn exec(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !status.success() {
        bail!("{:?} failed with {status}", cmd.get_program());
    }
    Ok(())
}

/// Runs a command and returns its standard output.
fn capture(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
