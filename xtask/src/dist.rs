//! `cargo xtask dist`: the release binaries for Linux, static (musl), that run
//! on a machine with no Rust, no matching libc and no CA store (poof carries
//! its TLS roots), e.g. from a USB stick: x86-64 (built with musl-gcc) and
//! aarch64 (cross-built on this x86-64 machine with zig and cargo-zigbuild
//! from PyPI, in a virtual environment under `target/tools`).
//!
//! - `dist`: x86-64 only; `dist --target TRIPLE`: one of `TARGETS`;
//! - `dist --all`: every target, and `target/dist/SHA256SUMS`;
//! - `dist --check`: `--all`, then each binary is run (aarch64 under
//!   qemu-user) and their results compared (`check.rs`).
//!
//! Invariants: every binary is checked after the build: `file` must call it
//! statically linked for its CPU, and it must run (`poof version`, under
//! emulation for another CPU) with an empty environment and say that its
//! guest is the precompiled one. Every target embeds the same guest
//! component (one guest build, `build::workspace_guest`), each precompiled
//! by its own binary.

mod check;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::build::{self, Target};
use crate::{capture, exec, root};

/// The static targets, this machine's first.
pub const TARGETS: [&str; 2] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];

/// zig and cargo-zigbuild from PyPI, pinned so that a cross build uses the
/// same linker and C compiler everywhere (docs/DEPENDENCIES.md).
const ZIG_PACKAGES: [&str; 2] = ["ziglang==0.17.1", "cargo-zigbuild==0.24.1"];

/// A binary `dist` built and copied to `target/dist/`.
pub struct Built {
    /// How it was built, and how it runs here.
    pub target: Target,
    /// The copy in `target/dist/`.
    pub path: PathBuf,
}

impl Built {
    /// A command that runs this binary here.
    pub fn command(&self) -> Command {
        self.target.command(&self.path)
    }
}

/// Runs `cargo xtask dist [--target TRIPLE | --all] [--check]`.
pub fn run(args: &[String]) -> Result<()> {
    let mut all = false;
    let mut check = false;
    let mut triples = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--all" => all = true,
            "--check" => check = true,
            "--target" => {
                let t = it.next().context("--target needs a target triple")?;
                let Some(t) = TARGETS.iter().find(|k| *k == t) else {
                    bail!("dist builds {}; not {t}", TARGETS.join(" and "));
                };
                triples.push(*t);
            }
            other => bail!("dist: unknown argument {other:?} (see cargo xtask help)"),
        }
    }
    if all || check {
        triples = TARGETS.to_vec();
    } else if triples.is_empty() {
        triples.push(TARGETS[0]);
    }
    let built = triples
        .iter()
        .map(|t| build_one(t))
        .collect::<Result<Vec<_>>>()?;
    if all || check {
        write_sums(&built)?;
    }
    if check {
        check::run(&built)?;
    }
    Ok(())
}

/// `cargo xtask test`'s step: `dist --check` when the cross toolchain is
/// installed here, or when `POOF_DIST_CHECK=1` asks for it (it is installed
/// then); otherwise it says that it skipped, and why.
pub fn check_if_installed() -> Result<()> {
    let missing = cross_toolchain_missing();
    if missing.is_empty() || std::env::var_os("POOF_DIST_CHECK").is_some_and(|v| v == "1") {
        return run(&["--check".to_string()]);
    }
    println!(
        "skipped: the static binaries' check under emulation (cargo xtask dist --check), \
         because its cross toolchain is not installed here: {}. The suite does not install \
         it, since building poof for two more targets from scratch takes about 30 minutes of \
         CPU (about 20 minutes on 2 idle cores; docs/PLATFORMS.md). Run \
         `cargo xtask dist --check` to install it and run the check, or set \
         POOF_DIST_CHECK=1; once it is installed, the suite runs the check every time.",
        missing.join(", ")
    );
    Ok(())
}

/// Builds every target and writes SHA256SUMS (`cargo xtask repro --dist`).
pub fn build_all() -> Result<Vec<Built>> {
    let built = TARGETS
        .iter()
        .map(|t| build_one(t))
        .collect::<Result<Vec<_>>>()?;
    write_sums(&built)?;
    Ok(built)
}

/// Where `dist` puts the binary for `triple`.
pub fn out_path(triple: &str) -> PathBuf {
    root().join(format!(
        "target/dist/poof-{}-{triple}",
        env!("CARGO_PKG_VERSION")
    ))
}

/// Installs what `triple` needs, then builds, checks and copies its binary
/// to `target/dist/`.
fn build_one(triple: &'static str) -> Result<Built> {
    let target = toolchain(triple)?;
    let bin = build::host("dist", Some(&target))?;
    let kind = capture(Command::new("file").arg("-L").arg(&bin))
        .context("running `file` on the binary")?;
    if !kind.contains("statically linked") && !kind.contains("static-pie linked") {
        bail!("{} is not statically linked: {kind}", bin.display());
    }
    let cpu = cpu_in_file_output(triple);
    if !kind.contains(cpu) {
        bail!("{} is not a {cpu} binary: {kind}", bin.display());
    }
    let version = capture(target.command(&bin).arg("version").env_clear())?;
    if !version.contains("(precompiled") {
        bail!(
            "{} does not use its precompiled guest:\n{version}",
            bin.display()
        );
    }
    let out = out_path(triple);
    std::fs::create_dir_all(out.parent().expect("target/dist"))?;
    std::fs::copy(&bin, &out)?;
    let bytes = std::fs::read(&out)?;
    println!("{}", kind.trim());
    print!("{version}");
    println!(
        "{}: {} bytes ({:.1} MiB), sha256:{}",
        out.display(),
        bytes.len(),
        bytes.len() as f64 / (1024.0 * 1024.0),
        hex::encode(Sha256::digest(&bytes))
    );
    Ok(Built { target, path: out })
}

/// What `file` says of a binary for `triple`'s CPU.
fn cpu_in_file_output(triple: &str) -> &'static str {
    if triple.starts_with("aarch64") {
        "ARM aarch64"
    } else {
        "x86-64"
    }
}

/// Writes `target/dist/SHA256SUMS` for `built`, in `sha256sum`'s format.
fn write_sums(built: &[Built]) -> Result<()> {
    let mut sums = String::new();
    for b in built {
        let bytes = std::fs::read(&b.path)?;
        let name = b.path.file_name().expect("a file").to_string_lossy();
        sums.push_str(&format!(
            "{}  {name}\n",
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    let path = root().join("target/dist/SHA256SUMS");
    std::fs::write(&path, &sums)?;
    print!("{}:\n{sums}", path.display());
    Ok(())
}

/// Installs the Rust target and the tools `triple` needs; returns how to
/// build it and run its binaries here.
fn toolchain(triple: &'static str) -> Result<Target> {
    ensure_rust_target(triple)?;
    // What checks that every binary is static and for its CPU.
    ensure_apt("file", "file")?;
    if triple == TARGETS[0] {
        ensure_apt("musl-gcc", "musl-tools")?;
        return Ok(Target {
            triple,
            zig_path: None,
            runner: None,
        });
    }
    Ok(Target {
        triple,
        zig_path: Some(ensure_zig()?),
        runner: Some(ensure_qemu()?),
    })
}

/// What a cross build of `TARGETS[1]` needs and lacks here, in words; empty
/// when all of it is installed (`cargo xtask test` runs `dist --check` then).
pub fn cross_toolchain_missing() -> Vec<String> {
    let mut missing = Vec::new();
    if !rust_target_installed(TARGETS[1]) {
        missing.push(format!("the Rust target {} (rustup)", TARGETS[1]));
    }
    if !zig_installed() {
        missing.push(format!(
            "zig and cargo-zigbuild in {}",
            zig_venv().display()
        ));
    }
    if !runs(Command::new(QEMU).arg("--version")) {
        missing.push(format!("{QEMU} (Debian's qemu-user-static)"));
    }
    if !runs(Command::new("musl-gcc").arg("--version")) {
        missing.push("musl-gcc (Debian's musl-tools)".into());
    }
    if !runs(Command::new("file").arg("--version")) {
        missing.push("file (Debian's file)".into());
    }
    missing
}

/// qemu-user for aarch64, statically linked, so that it needs no binfmt
/// registration and no aarch64 libraries (poof is static too).
const QEMU: &str = "qemu-aarch64-static";

fn ensure_qemu() -> Result<PathBuf> {
    ensure_apt(QEMU, "qemu-user-static")?;
    Ok(PathBuf::from(QEMU))
}

fn rust_target_installed(triple: &str) -> bool {
    capture(Command::new("rustc").args(["--print", "sysroot"])).is_ok_and(|s| {
        Path::new(s.trim())
            .join(format!("lib/rustlib/{triple}"))
            .is_dir()
    })
}

/// Installs `triple`'s standard library with rustup when missing.
fn ensure_rust_target(triple: &str) -> Result<()> {
    if rust_target_installed(triple) {
        return Ok(());
    }
    exec(Command::new("rustup").args(["target", "add", triple]))
        .with_context(|| format!("installing the Rust target {triple} with rustup"))
}

fn runs(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

/// Installs Debian's `package` when `program` is missing, with apt-get when
/// running as root (as CI does); otherwise says what to install.
fn ensure_apt(program: &str, package: &str) -> Result<()> {
    if Command::new(program).arg("--version").output().is_ok() {
        return Ok(());
    }
    let root_user = capture(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0");
    if !root_user {
        bail!("{program} is missing; install it (Debian: apt-get install {package}) and run again");
    }
    // A fresh machine may not have read the package lists yet.
    if exec(Command::new("apt-get").args(["install", "-y", "-qq", package])).is_err() {
        exec(Command::new("apt-get").args(["update", "-qq"]))?;
        exec(Command::new("apt-get").args(["install", "-y", "-qq", package]))?;
    }
    Ok(())
}

fn zig_venv() -> PathBuf {
    root().join("target/tools/zig-venv")
}

/// Whether the venv holds the pinned zig and a working cargo-zigbuild.
fn zig_installed() -> bool {
    let venv = zig_venv();
    let zig = capture(Command::new(venv.join("bin/python3")).args(["-m", "ziglang", "version"]));
    let want = ZIG_PACKAGES[0].trim_start_matches("ziglang==");
    zig.is_ok_and(|v| v.trim() == want)
        && runs(Command::new(venv.join("bin/cargo-zigbuild")).arg("--version"))
}

/// zig and cargo-zigbuild from PyPI in a virtual environment under
/// `target/tools` (as rclone for the tests); returns the `PATH` that finds
/// them (cargo-zigbuild runs zig as `python3 -m ziglang` from that venv).
fn ensure_zig() -> Result<OsString> {
    let venv = zig_venv();
    if !zig_installed() {
        exec(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("creating a Python virtual environment for zig")?;
        exec(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet"])
                .args(ZIG_PACKAGES),
        )
        .context("installing zig and cargo-zigbuild from PyPI")?;
    }
    let mut path = OsString::from(venv.join("bin"));
    if let Some(rest) = std::env::var_os("PATH") {
        path.push(":");
        path.push(rest);
    }
    Ok(path)
}
