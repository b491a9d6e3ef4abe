//! `cargo xtask repro`: the guest must build byte-identically from two
//! different folders, and match the guest the host embeds, so that an auditor
//! can rebuild it and compare its hash with `poof guest hash`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{build, capture, root};

/// Runs the check.
pub fn run() -> Result<()> {
    let scratch = tempfile::Builder::new().prefix("poof-repro-").tempdir()?;
    let files = capture(std::process::Command::new("git").current_dir(root()).args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]))
    .context("listing the sources with git")?;
    let mut hashes = Vec::new();
    for name in ["first/poof", "second/elsewhere/poof-src"] {
        let dir = scratch.path().join(name);
        for f in files.split('\0').filter(|f| !f.is_empty()) {
            let from = root().join(f);
            if !from.is_file() {
                continue;
            }
            let to = dir.join(f);
            std::fs::create_dir_all(to.parent().expect("a file has a folder"))?;
            std::fs::copy(&from, &to).with_context(|| format!("copying {f}"))?;
        }
        let wasm = build::build_guest(&dir, &dir.join("target"))?;
        hashes.push((dir.display().to_string(), sha256_file(&wasm)?));
    }
    let embedded = build::run(true)?;
    let exported = scratch.path().join("embedded.wasm");
    crate::exec(
        std::process::Command::new(&embedded)
            .args(["guest", "export"])
            .arg(&exported),
    )?;
    hashes.push((
        format!("{} (embedded)", embedded.display()),
        sha256_file(&exported)?,
    ));

    for (where_, hash) in &hashes {
        println!("{hash}  {where_}");
    }
    if hashes.iter().any(|(_, h)| h != &hashes[0].1) {
        bail!("the guest builds are not identical; see the hashes above");
    }
    println!(
        "reproducible: every build of the guest is sha256:{}",
        hashes[0].1
    );
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}
