//! `cargo xtask dist`: the release binary for Linux, static (musl), that runs
//! on a machine with no Rust, no matching libc and no CA store (poof carries
//! its TLS roots), e.g. from a USB stick.
//!
//! Invariant: the binary is checked after the build: `file` must call it
//! statically linked, and it must run (`poof version`) with an empty
//! environment.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{build, capture, exec, root};

/// The static target.
pub const TARGET: &str = "x86_64-unknown-linux-musl";

/// Builds, checks and copies the static binary to `target/dist/`.
pub fn run() -> Result<()> {
    ensure_musl()?;
    let bin = build::host("dist", Some(TARGET))?;
    let kind = capture(Command::new("file").arg("-L").arg(&bin))
        .context("`file` is needed to check the binary (apt-get install file)")?;
    if !kind.contains("statically linked") && !kind.contains("static-pie linked") {
        bail!("{} is not statically linked: {kind}", bin.display());
    }
    let version = capture(Command::new(&bin).arg("version").env_clear())?;
    let out_dir = root().join("target/dist");
    std::fs::create_dir_all(&out_dir)?;
    let out = out_dir.join(format!("poof-{}-{TARGET}", env!("CARGO_PKG_VERSION")));
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
    Ok(())
}

/// Installs the musl target with rustup, and musl-gcc (for the C parts of
/// wasmtime and mimalloc) with apt-get when running as root.
fn ensure_musl() -> Result<()> {
    let sysroot = capture(Command::new("rustc").args(["--print", "sysroot"]))?;
    if !Path::new(sysroot.trim())
        .join(format!("lib/rustlib/{TARGET}"))
        .is_dir()
    {
        exec(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    if Command::new("musl-gcc").arg("--version").output().is_err() {
        let root_user = capture(Command::new("id").arg("-u")).is_ok_and(|u| u.trim() == "0");
        if !root_user {
            bail!(
                "musl-gcc is missing; install it (Debian: apt-get install musl-tools) and run again"
            );
        }
        exec(Command::new("apt-get").args(["install", "-y", "musl-tools"]))?;
    }
    Ok(())
}
