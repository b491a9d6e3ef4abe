//! `cargo xtask build`: the guest, then the host that embeds it.
//!
//! Invariant: the guest is always built the same way (profile `guest`, the
//! same flags, paths remapped), so its bytes depend only on the sources, the
//! lock file and the toolchain; `repro` checks that.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::{capture, cargo, exec, root};

/// The guest's target triple.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Installs the wasm target when the toolchain lacks it (a fresh clone needs
/// only rustup and the toolchain).
pub fn ensure_wasm_target() -> Result<()> {
    let sysroot = capture(std::process::Command::new("rustc").args(["--print", "sysroot"]))?;
    let lib = Path::new(sysroot.trim()).join(format!("lib/rustlib/{GUEST_TARGET}"));
    if lib.is_dir() {
        return Ok(());
    }
    exec(std::process::Command::new("rustup").args(["target", "add", GUEST_TARGET]))
        .context("installing the wasm32-wasip2 target with rustup")
}

/// The flags that make the guest reproducible and fast: source paths remapped
/// (panic messages would embed them) and wasm SIMD for the crypto.
pub fn guest_rustflags(source_root: &Path) -> String {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"));
    let flags = [
        format!("--remap-path-prefix={}=/poof", source_root.display()),
        format!(
            "--remap-path-prefix={}=/cargo",
            cargo_home.join("registry/src").display()
        ),
        "-Ctarget-feature=+simd128".to_string(),
    ];
    format!(
        "target.{GUEST_TARGET}.rustflags=[{}]",
        flags
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Builds the guest from the workspace at `source_root` into `target_dir`;
/// returns the component's path.
pub fn build_guest(source_root: &Path, target_dir: &Path) -> Result<PathBuf> {
    ensure_wasm_target()?;
    let mut cmd = cargo();
    cmd.current_dir(source_root).args([
        "build",
        "--locked",
        "--package",
        "poof-guest",
        "--target",
        GUEST_TARGET,
        "--profile",
        "guest",
        "--config",
        &guest_rustflags(source_root),
        "--target-dir",
    ]);
    cmd.arg(target_dir);
    exec(&mut cmd)?;
    Ok(target_dir.join(format!("{GUEST_TARGET}/guest/poof_guest.wasm")))
}

/// The guest built in the workspace's own target folder.
pub fn workspace_guest() -> Result<PathBuf> {
    build_guest(&root(), &root().join("target"))
}

/// Builds the guest, then the host embedding it; returns the `poof` binary's path.
pub fn run(release: bool) -> Result<PathBuf> {
    let guest = workspace_guest()?;
    let mut cmd = cargo();
    cmd.args(["build", "--locked", "--package", "poof"])
        .env("POOF_GUEST_WASM", &guest);
    if release {
        cmd.arg("--release");
    }
    exec(&mut cmd)?;
    let bin = root()
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("poof");
    eprintln!("xtask: built {}", bin.display());
    Ok(bin)
}
