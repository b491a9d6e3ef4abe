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

/// Which kind of remote a test runs against.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A local folder (`file://`), the world's `remote` folder.
    Folder,
    /// A real S3 server on loopback (Garage, started by `cargo xtask test`).
    S3(S3Server),
}

/// How to reach the test S3 server, from the variables `tests/garage.sh` writes.
#[derive(Debug, Clone)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The region the server wants.
    pub region: String,
    /// Access key id.
    pub key: String,
    /// Secret key.
    pub secret: String,
    /// The `garage` binary and its config file, to create buckets.
    pub garage: (String, String),
}

impl Kind {
    /// The S3 kind, or `None` (with a notice) when no test server was started.
    pub fn s3() -> Option<Kind> {
        let var = |k: &str| std::env::var(k).ok();
        match (
            var("POOF_TEST_S3_ENDPOINT"),
            var("POOF_TEST_S3_REGION"),
            var("POOF_TEST_S3_ACCESS_KEY"),
            var("POOF_TEST_S3_SECRET_KEY"),
            var("POOF_TEST_GARAGE"),
            var("POOF_TEST_GARAGE_CONFIG"),
        ) {
            (Some(endpoint), Some(region), Some(key), Some(secret), Some(g), Some(c)) => {
                assert!(
                    endpoint.starts_with("http://127.") || endpoint.starts_with("http://[::1]"),
                    "tests only talk to loopback, not {endpoint}"
                );
                Some(Kind::S3(S3Server {
                    endpoint,
                    region,
                    key,
                    secret,
                    garage: (g, c),
                }))
            }
            _ => {
                eprintln!("skipped: no test S3 server (run the suite with `cargo xtask test`)");
                None
            }
        }
    }
}

/// Generates, for each named scenario `fn(Kind)`, one test per remote kind:
/// `folder::NAME` and `s3::NAME`.
#[macro_export]
macro_rules! on_both_remotes {
    ($($name:ident),* $(,)?) => {
        mod folder {
            $( #[test] fn $name() { super::$name($crate::common::Kind::Folder) } )*
        }
        mod s3 {
            $( #[test] fn $name() {
                if let Some(kind) = $crate::common::Kind::s3() { super::$name(kind) }
            } )*
        }
    };
}

/// One test's world: a temporary home with a config folder, a source folder
/// and a remote (a folder, or a fresh bucket of its own on the S3 server).
pub struct World {
    /// Keeps the folder alive for the test's duration.
    pub dir: tempfile::TempDir,
    /// The remote kind.
    pub kind: Kind,
    /// The world's bucket, on S3.
    pub bucket: String,
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
    /// What a finished process printed and how it exited.
    pub fn from(out: Output) -> Self {
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
        Self::on(Kind::Folder)
    }

    /// A fresh world on the given kind of remote; on S3 it gets a new bucket.
    pub fn on(kind: Kind) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("poof-it-")
            .tempdir()
            .unwrap();
        for d in ["conf", "src", "remote"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        let suffix = dir.path().file_name().unwrap().to_string_lossy();
        let bucket = format!(
            "poof-it-{}",
            suffix.trim_start_matches("poof-it-").to_lowercase()
        );
        if let Kind::S3(s3) = &kind {
            let garage = |args: &[&str]| {
                let out = Command::new(&s3.garage.0)
                    .arg("-c")
                    .arg(&s3.garage.1)
                    .args(args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "garage {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            };
            garage(&["bucket", "create", &bucket]);
            garage(&[
                "bucket", "allow", "--read", "--write", "--owner", &bucket, "--key", &s3.key,
            ]);
        }
        World { dir, kind, bucket }
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
        let conf = match &self.kind {
            Kind::Folder => serde_json::json!({
                "bucket": "poofbackup-test-000000000000",
                "paths": paths,
                "remote": format!("file://{}", self.path("remote").display()),
            }),
            // poof 1.x's shape: the remote names a section of the cloud config file.
            Kind::S3(s3) => {
                std::fs::write(self.path("conf/rclone-poof.conf"), self.cloud_conf(s3)).unwrap();
                serde_json::json!({
                    "bucket": self.bucket,
                    "confFile": self.path("conf/rclone-poof.conf"),
                    "paths": paths,
                    "remote": "poof-backup",
                })
            }
        };
        self.write_conf(&serde_json::to_string_pretty(&conf).unwrap());
    }

    /// The cloud config file for the test server, as poof 1.x and rclone read it.
    pub fn cloud_conf(&self, s3: &S3Server) -> String {
        format!(
            "[poof-backup]\ntype = s3\nprovider = Other\naccess_key_id = {}\nsecret_access_key = {}\nregion = {}\nendpoint = {}\n",
            s3.key, s3.secret, s3.region, s3.endpoint
        )
    }

    /// What the remote holds under `cloud`, file by file: on a folder remote
    /// read directly, on S3 restored by poof into a scratch folder.
    pub fn stored(&self, cloud: &str) -> BTreeMap<String, FileFacts> {
        match &self.kind {
            Kind::Folder => snapshot(&self.path(&format!("remote/{cloud}"))),
            Kind::S3(s3) => {
                let peek = tempfile::Builder::new()
                    .prefix("poof-peek-")
                    .tempdir()
                    .unwrap();
                let conf = peek.path().join("conf");
                std::fs::create_dir(&conf).unwrap();
                std::fs::write(conf.join("rclone-poof.conf"), self.cloud_conf(s3)).unwrap();
                let files = peek.path().join("files");
                let poof_conf = serde_json::json!({
                    "bucket": self.bucket,
                    "paths": { files.display().to_string(): cloud },
                    "remote": "poof-backup",
                });
                std::fs::write(conf.join("poof.conf"), poof_conf.to_string()).unwrap();
                let out = Command::new(poof_bin())
                    .arg("--confdir")
                    .arg(&conf)
                    .args(["download", "--quiet"])
                    .env("HOME", peek.path())
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "peek: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                snapshot(&files)
            }
        }
    }

    /// Runs poof with this world's config folder.
    pub fn poof(&self, args: &[&str]) -> Run {
        self.poof_env(args, &[])
    }

    /// Runs poof with this world's config folder and extra environment variables.
    /// No `AWS_*` variable of the test's own environment is passed on, and
    /// the EC2 instance metadata service is off (only loopback addresses
    /// are ever contacted): a test that wants it sets
    /// `AWS_EC2_METADATA_DISABLED` to `""` and points
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` at a local server.
    pub fn poof_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self
            .poof_via(Command::new(poof_bin()), args)
            .envs(env.iter().copied())
            .output()
            .expect("poof runs");
        Run::from(out)
    }

    /// `cmd` (poof itself, or a program that runs the poof binary given as
    /// its last argument) set up as `poof_env` runs poof: this world's
    /// config folder, home and working folder, no `AWS_*` variable of the
    /// test's own environment, no instance metadata service.
    pub fn poof_via(&self, mut cmd: Command, args: &[&str]) -> Command {
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.arg("--confdir")
            .arg(self.path("conf"))
            .args(args)
            .env("HOME", self.path("home"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .current_dir(self.dir.path());
        cmd
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
