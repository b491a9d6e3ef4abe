//! `cargo xtask build`: the guest, then the host that embeds it.
//!
//! Invariant: the guest is always built the same way (profile `guest`, the
//! same flags, paths remapped), so its bytes depend only on the sources, the
//! lock file and the toolchain; `repro` checks that.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::{capture, cargo, exec, root};

/// The guest's target triple.
pub const GUEST_TARGET: &str = "wasm32-wasip2";

/// Installs the wasm target when the toolchain lacks it (a fresh clone needs
/// only rustup and the toolchain).
pub fn ensure_wasm_target() -> Result<()> {
    let sysroot = capture(Command::new("rustc").args(["--print", "sysroot"]))?;
    let lib = Path::new(sysroot.trim()).join(format!("lib/rustlib/{GUEST_TARGET}"));
    if lib.is_dir() {
        return Ok(());
    }
    exec(Command::new("rustup").args(["target", "add", GUEST_TARGET]))
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

/// The guest built in the workspace's own target folder, and the path of its
/// precompiled form (an empty file until the first host build fills it).
pub struct WorkspaceGuest {
    /// The component.
    pub wasm: PathBuf,
    /// The precompiled guest, tagged with the component's hash.
    pub precompiled: PathBuf,
}

impl WorkspaceGuest {
    /// Sets the variables the host crate reads to embed the guest.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("POOF_GUEST_WASM", &self.wasm)
            .env("POOF_GUEST_PRECOMPILED", &self.precompiled)
    }
}

/// Builds the guest in the workspace's own target folder.
pub fn workspace_guest() -> Result<WorkspaceGuest> {
    let wasm = build_guest(&root(), &root().join("target"))?;
    let precompiled = wasm.with_extension("cwasm");
    if !precompiled.exists() {
        std::fs::write(&precompiled, b"")?;
    }
    Ok(WorkspaceGuest { wasm, precompiled })
}

/// Builds the guest, then the host embedding it and the guest precompiled by
/// that same host; returns the `poof` binary's path.
pub fn run(release: bool) -> Result<PathBuf> {
    host(if release { "release" } else { "dev" }, None)
}

/// A target triple to build the host for, and how to build and run its
/// binaries on this machine.
pub struct Target {
    /// The triple, e.g. `aarch64-unknown-linux-musl`.
    pub triple: &'static str,
    /// When set, cargo runs as `cargo zigbuild` (zig compiles the C parts
    /// and links) with this `PATH`, which finds zig and cargo-zigbuild.
    pub zig_path: Option<std::ffi::OsString>,
    /// When set, the program that runs the target's binaries here (qemu-user
    /// for another CPU).
    pub runner: Option<PathBuf>,
}

impl Target {
    /// A command that runs `bin`, the target's binary, on this machine.
    pub fn command(&self, bin: &Path) -> Command {
        match &self.runner {
            Some(runner) => {
                let mut cmd = Command::new(runner);
                cmd.arg(bin);
                cmd
            }
            None => Command::new(bin),
        }
    }
}

/// Builds the host with `profile` (and for `target`, or this machine), with
/// the guest and the guest precompiled by that same host embedded. For
/// another CPU, the host's binary precompiles its guest under emulation
/// (`target.runner`): it compiles for its architecture's baseline CPU, not
/// for the emulated one (`precompile_config` in host/src/engine.rs).
///
/// The host is built, asked to precompile its guest, and rebuilt only when
/// the precompiled bytes changed: then only the tiny binary crate recompiles.
pub fn host(profile: &str, target: Option<&Target>) -> Result<PathBuf> {
    let mut guest = workspace_guest()?;
    if let Some(Target { triple: t, .. }) = target {
        // Each target embeds the guest precompiled by its own build.
        guest.precompiled = guest.precompiled.with_extension(format!("{t}.cwasm"));
        if !guest.precompiled.exists() {
            std::fs::write(&guest.precompiled, b"")?;
        }
    }
    let build_host = || {
        let mut cmd = cargo();
        match target.and_then(|t| t.zig_path.as_ref()) {
            Some(path) => cmd.arg("zigbuild").env("PATH", path),
            None => cmd.arg("build"),
        };
        cmd.args(["--locked", "--package", "poof", "--profile", profile]);
        if let Some(t) = target {
            cmd.args(["--target", t.triple]);
        }
        exec(guest.env(&mut cmd))
    };
    build_host()?;
    let mut bin = root().join("target");
    if let Some(t) = target {
        bin.push(t.triple);
    }
    bin.push(if profile == "dev" { "debug" } else { profile });
    bin.push("poof");
    let fresh = guest.precompiled.with_extension("cwasm.new");
    let mut precompile = match target {
        Some(t) => t.command(&bin),
        None => Command::new(&bin),
    };
    exec(precompile.args(["guest", "precompile"]).arg(&fresh))?;
    if std::fs::read(&fresh)? != std::fs::read(&guest.precompiled)? {
        std::fs::rename(&fresh, &guest.precompiled).context("replacing the precompiled guest")?;
        build_host()?;
    } else {
        std::fs::remove_file(&fresh)?;
    }
    eprintln!("xtask: built {}", bin.display());
    Ok(bin)
}
