//! `cargo xtask demo`: the first thing a new user runs. It builds poof, makes
//! sample files, backs them up to a local-folder remote, deletes them,
//! restores them, and shows that every byte, time and permission came back.
//!
//! Invariant: it works only inside a fresh temporary folder, with poof's
//! config folder pointed there too, so it touches nothing of the user's.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::{build, exec};

/// Runs the demo.
pub fn run() -> Result<()> {
    let poof = build::run(true)?;
    let tmp = tempfile::Builder::new().prefix("poof-demo-").tempdir()?;
    let home = tmp.path();
    let docs = home.join("Documents");
    let remote = home.join("usb-disk");
    std::fs::create_dir_all(docs.join("taxes/2026"))?;
    std::fs::create_dir_all(&remote)?;
    std::fs::write(docs.join("notes.txt"), "poof keeps this safe\n")?;
    std::fs::write(
        docs.join("taxes/2026/return.csv"),
        "item,amount\nrent,1200\n",
    )?;
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(docs.join("photo.raw"), blob)?;
    std::fs::write(docs.join("run.sh"), "#!/bin/sh\necho hi\n")?;
    std::fs::set_permissions(docs.join("run.sh"), std::fs::Permissions::from_mode(0o750))?;

    let conf = home.join("config/poof.conf");
    std::fs::create_dir_all(conf.parent().expect("has a folder"))?;
    std::fs::write(
        &conf,
        format!(
            "{{\n  \"paths\": {{\"{}\": \"Documents\"}},\n  \"remote\": \"file://{}\"\n}}\n",
            docs.display(),
            remote.display()
        ),
    )?;
    println!(
        "\n== poof.conf ({})\n{}",
        conf.display(),
        std::fs::read_to_string(&conf)?
    );

    let poof_cmd = |args: &[&str]| {
        let mut c = Command::new(&poof);
        c.arg("--confdir").arg(conf.parent().expect("has a folder"));
        c.args(args);
        c
    };
    let before = snapshot(&docs)?;
    println!("== poof backup --dry-run");
    exec(&mut poof_cmd(&["backup", "--dry-run"]))?;
    println!("\n== poof backup");
    exec(&mut poof_cmd(&["backup"]))?;
    println!("\n== removing {}", docs.display());
    std::fs::remove_dir_all(&docs)?;
    println!("\n== poof download");
    exec(&mut poof_cmd(&["download"]))?;

    let after = snapshot(&docs)?;
    if after != before {
        bail!(
            "the restored files differ from the originals:\nbefore: {before:#?}\nafter: {after:#?}"
        );
    }
    println!(
        "\n== restored {} files; content, modification time and permissions all match:",
        after.len()
    );
    for (path, (hash, mtime, mode)) in &after {
        println!("  {mode:04o}  {mtime}  {}  {path}", &hash[..16]);
    }
    println!("\n(the demo ran in {}, now removed)", home.display());
    Ok(())
}

/// path -> (sha256, mtime in ns, permission bits), for every file under `root`.
fn snapshot(root: &Path) -> Result<BTreeMap<String, (String, i64, u32)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root)?.display().to_string();
                let hash = hex::encode(Sha256::digest(std::fs::read(&path)?));
                let mtime = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
                out.insert(rel, (hash, mtime, meta.mode() & 0o777));
            }
        }
    }
    Ok(out)
}
