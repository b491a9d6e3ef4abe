//! `cargo xtask repro`: the guest must build byte-identically from two
//! different folders, and match the guest the host embeds, so that an auditor
//! can rebuild it and compare its hash with `poof guest hash`. And the native
//! code that runs must be that guest compiled: the precompiled copy the
//! binary embeds must be, byte for byte, the reproduced guest compiled on
//! this machine by the binary's wasmtime with its configuration.
//!
//! With `--dist`, the static binaries of `cargo xtask dist --all` are built
//! too, and each is checked the same way, by reading its file: the
//! reproduced component must be in it byte for byte, and so must that
//! component precompiled by the binary itself (under qemu-user for aarch64,
//! which precompiles for its architecture's baseline CPU).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{build, capture, root};

/// Runs the check (`--dist`: also for every static binary).
pub fn run(args: &[String]) -> Result<()> {
    let dist = match args {
        [] => false,
        [a] if a == "--dist" => true,
        _ => bail!("repro takes only --dist"),
    };
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
    check_precompiled(&embedded, Command::new(&embedded), scratch.path())?;
    if dist {
        let reproduced = std::fs::read(&exported)?;
        for b in crate::dist::build_all()? {
            let file =
                std::fs::read(&b.path).with_context(|| format!("reading {}", b.path.display()))?;
            let Some(at) = find(&file, &reproduced) else {
                bail!(
                    "{} does not embed the reproduced guest sha256:{}",
                    b.path.display(),
                    hashes[0].1
                );
            };
            println!(
                "{}  {} (embedded, at byte {at})",
                hashes[0].1,
                b.path.display()
            );
            check_precompiled(&b.path, b.command(), scratch.path())?;
        }
    }
    Ok(())
}

/// Compiles the guest afresh, in a process of its own, with the poof just
/// built (`run` runs it; its embedded component is the reproduced one: same
/// hash, checked above), and finds the result, byte for byte, in the
/// binary's own file. The file is read, not asked: a binary cannot vouch for
/// itself.
fn check_precompiled(poof: &Path, mut run: Command, scratch: &Path) -> Result<()> {
    let path = scratch.join("fresh.cwasm");
    crate::exec(run.args(["guest", "precompile"]).arg(&path))?;
    let fresh = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let binary = std::fs::read(poof).with_context(|| format!("reading {}", poof.display()))?;
    let hash = hex::encode(Sha256::digest(&fresh));
    println!(
        "{hash}  the reproduced guest, compiled here ({} bytes)",
        fresh.len()
    );
    let Some(at) = find(&binary, &fresh) else {
        bail!(
            "{} does not embed the reproduced guest compiled on this machine; its precompiled \
             guest is stale or not from these sources (see docs/AUDIT.md)",
            poof.display()
        );
    };
    println!("{hash}  {} (embedded, at byte {at})", poof.display());
    println!("the precompiled guest in the binary is exactly the reproduced guest compiled here");
    Ok(())
}

/// Where `needle` (a precompiled guest: its component's SHA-256, then the
/// code; or a component) starts in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let tag = needle.get(..32)?;
    haystack
        .windows(tag.len())
        .enumerate()
        .filter(|(_, w)| *w == tag)
        .map(|(i, _)| i)
        .find(|&i| haystack.get(i..i + needle.len()) == Some(needle))
}

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn a_precompiled_guest_is_found_only_whole() {
        let needle: Vec<u8> = (0..40).collect();
        let mut haystack = vec![9; 100];
        haystack.extend(&needle[..36]); // the tag, then a different copy
        haystack.extend([9; 10]);
        assert_eq!(find(&haystack, &needle), None);
        haystack.extend(&needle);
        assert_eq!(find(&haystack, &needle), Some(146));
        assert_eq!(find(&haystack, &needle[..10]), None, "no tag, no match");
    }
}
