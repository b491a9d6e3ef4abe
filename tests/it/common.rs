//! Shared test helpers: a sandboxed poof invocation and tree snapshots.
//!
//! Invariant: every test works inside its own temporary folder and passes
//! `--confdir` there, so tests run in parallel and never touch the real home.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// The `poof` binary under test.
pub fn poof_bin() -> PathBuf {
    let path = match std::env::var_os("POOF_BIN") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/poof"),
    };
    path.canonicalize().unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build poof with `cargo xtask build --release`",
            path.display()
        )
    })
}

/// One test's world: a temporary home with a config folder, a source folder
/// and a remote folder.
pub struct World {
    /// Keeps the folder alive for the test's duration.
    pub dir: tempfile::TempDir,
}

/// The result of one poof run.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Fails the test unless poof exited with `code`.
    #[track_caller]
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl World {
    /// A fresh world with an empty `src` folder and an empty `remote` folder.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("poof-it-")
            .tempdir()
            .unwrap();
        for d in ["conf", "src", "remote"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        World { dir }
    }

    /// A path inside the world.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `poof.conf` with the given JSON text.
    pub fn write_conf(&self, text: &str) {
        std::fs::write(self.path("conf/poof.conf"), text).unwrap();
    }

    /// Writes a `poof.conf` that maps each `(local folder, cloud name)` to the world's remote folder.
    pub fn conf(&self, paths: &[(&str, &str)]) {
        let paths: serde_json::Map<String, serde_json::Value> = paths
            .iter()
            .map(|(local, cloud)| {
                (
                    self.path(local).display().to_string(),
                    serde_json::Value::String(cloud.to_string()),
                )
            })
            .collect();
        let conf = serde_json::json!({
            "bucket": "poofbackup-test-000000000000",
            "paths": paths,
            "remote": format!("file://{}", self.path("remote").display()),
        });
        self.write_conf(&serde_json::to_string_pretty(&conf).unwrap());
    }

    /// Runs poof with this world's config folder.
    pub fn poof(&self, args: &[&str]) -> Run {
        let out = Command::new(poof_bin())
            .arg("--confdir")
            .arg(self.path("conf"))
            .args(args)
            .env("HOME", self.path("home"))
            .current_dir(self.dir.path())
            .output()
            .expect("poof runs");
        Run::from(out)
    }

    /// Writes a file (creating its folders) with a fixed modification time and mode.
    pub fn file(&self, rel: &str, content: &[u8], mtime_s: i64, mode: u32) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        filetime::set_file_mtime(&p, filetime::FileTime::from_unix_time(mtime_s, 123_456_789))
            .unwrap();
    }
}

/// What a file is, for comparing trees: content hash, mtime (ns) and permission bits.
pub type FileFacts = (String, i64, u32);

/// Every regular file under `root`, by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<String, FileFacts> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return out;
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                let hash = hex::encode(Sha256::digest(std::fs::read(&path).unwrap_or_default()));
                out.insert(
                    rel,
                    (
                        hash,
                        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
                        meta.mode() & 0o777,
                    ),
                );
            }
        }
    }
    out
}

/// Every path (files and folders) under `root`, to prove that nothing at all changed.
pub fn listing(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in read {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            out.push(format!(
                "{} {} {}",
                path.strip_prefix(root).unwrap().display(),
                meta.len(),
                meta.mtime_nsec()
            ));
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}
