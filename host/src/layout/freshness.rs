//! What this machine remembers of each encrypted folder's manifest: the
//! generation and hash of the last one poof wrote or accepted, per remote,
//! key and cloud folder (docs/FORMAT.md, "Freshness"). The guest session decides
//! what a remembered generation means for a listing and what to remember
//! next; this file only keeps the record.
//!
//! The record is `CONFDIR/freshness.json`, written whole into a temporary
//! file (mode 0600) and renamed over the old one, so a kill leaves either
//! record. Invariant: a record that cannot be read stops the run (it is
//! never taken as "nothing remembered", which would let a rollback through).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::engine::session::Freshness;
use crate::exit::ConfigError;

const FORMAT: &str = "poof-freshness";
const VERSION: u64 = 1;

/// cloud folder -> what is remembered of its manifest, for one remote.
type Folders = BTreeMap<String, Freshness>;

/// What this machine remembers of one remote's encrypted folders.
pub struct Memory {
    /// Where the record is kept; `None` for a test's memory of one run.
    file: Option<PathBuf>,
    /// The remote, as its store describes itself (endpoint, bucket, prefix
    /// or folder), and the key's id: what the records are kept under.
    remote: String,
    /// The user accepts manifests the session would refuse (`--trust-remote`).
    pub trust_remote: bool,
    /// This remote's folders as read at the start of the run, updated as
    /// records are written.
    folders: Mutex<Folders>,
}

impl Memory {
    /// Reads what `file` remembers of `remote`; nothing when the file does
    /// not exist yet. A file that exists but cannot be read is an error.
    pub fn open(file: PathBuf, remote: String, trust_remote: bool) -> Result<Memory> {
        let folders = read(&file)?.remove(&remote).unwrap_or_default();
        Ok(Memory {
            file: Some(file),
            remote,
            trust_remote,
            folders: Mutex::new(folders),
        })
    }

    /// A memory kept for the life of this value only: a new machine.
    #[cfg(test)]
    pub fn of_one_run() -> Memory {
        Memory {
            file: None,
            remote: String::new(),
            trust_remote: false,
            folders: Mutex::new(Folders::new()),
        }
    }

    /// What is remembered of `cloud`.
    pub fn get(&self, cloud: &str) -> Option<Freshness> {
        self.lock().get(cloud).cloned()
    }

    /// Remembers `f` for `cloud`: the file is read again, so that records
    /// of other remotes (and other runs) are kept, and rewritten whole.
    pub fn record(&self, cloud: &str, f: Freshness) -> Result<()> {
        let mut folders = self.lock();
        if let Some(file) = &self.file {
            let mut all = read(file)?;
            all.entry(self.remote.clone())
                .or_default()
                .insert(cloud.to_string(), f.clone());
            write(file, &all).with_context(|| {
                format!("remembering the manifest of {cloud} in {}", file.display())
            })?;
        }
        folders.insert(cloud.to_string(), f);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Folders> {
        self.folders
            .lock()
            .expect("no panics while the memory is held")
    }
}

fn damaged(file: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    ConfigError(format!(
        "{} (poof's memory of encrypted manifests) cannot be read: {why}. Without it poof \
         cannot tell a rolled-back or deleted manifest from a current one. Restore it from a \
         backup, or delete it to start afresh: poof then accepts each remote's manifests as \
         it finds them, and refuses folders whose manifest is missing until run with \
         --trust-remote",
        file.display()
    ))
    .into()
}

/// remote -> folders, as `file` holds them.
fn read(file: &Path) -> Result<BTreeMap<String, Folders>> {
    let bytes = match crate::fsx::read_optional(file) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(BTreeMap::new()),
        Err(e) => return Err(damaged(file, e)),
    };
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| damaged(file, e))?;
    if v["format"] != FORMAT || v["version"] != VERSION {
        return Err(damaged(
            file,
            format!("not a {FORMAT} file of version {VERSION}"),
        ));
    }
    let remotes = v["remotes"]
        .as_object()
        .ok_or_else(|| damaged(file, "it has no remotes"))?;
    let mut out = BTreeMap::new();
    for (remote, folders) in remotes {
        let folders = folders
            .as_object()
            .ok_or_else(|| damaged(file, format!("{remote:?} is malformed")))?;
        let mut f = Folders::new();
        for (cloud, r) in folders {
            let bad = || damaged(file, format!("{remote:?}, {cloud:?} is malformed"));
            f.insert(
                cloud.clone(),
                Freshness {
                    generation: r["generation"].as_u64().ok_or_else(bad)?,
                    manifest_sha256: r["manifest_sha256"].as_str().ok_or_else(bad)?.to_string(),
                },
            );
        }
        out.insert(remote.clone(), f);
    }
    Ok(out)
}

fn write(file: &Path, all: &BTreeMap<String, Folders>) -> io::Result<()> {
    let remotes: serde_json::Map<String, Value> = all
        .iter()
        .map(|(remote, folders)| {
            let f: serde_json::Map<String, Value> = folders
                .iter()
                .map(|(cloud, r)| {
                    (
                        cloud.clone(),
                        json!({"generation": r.generation, "manifest_sha256": r.manifest_sha256}),
                    )
                })
                .collect();
            (remote.clone(), Value::Object(f))
        })
        .collect();
    let doc = json!({"format": FORMAT, "version": VERSION, "remotes": remotes});
    crate::fsx::write_private(file, serde_json::to_string_pretty(&doc)?.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn fresh(g: u64) -> Freshness {
        Freshness {
            generation: g,
            manifest_sha256: format!("{g:064x}"),
        }
    }

    /// What `m` remembers of `cloud`, comparable.
    fn got(m: &Memory, cloud: &str) -> Option<(u64, String)> {
        m.get(cloud).map(|f| (f.generation, f.manifest_sha256))
    }

    fn want(g: u64) -> Option<(u64, String)> {
        Some((g, format!("{g:064x}")))
    }

    #[test]
    fn records_are_kept_per_remote_and_folder_in_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("conf/freshness.json");
        let a = Memory::open(file.clone(), "s3 a".into(), false).unwrap();
        assert_eq!(got(&a, "Docs"), None);
        a.record("Docs", fresh(1)).unwrap();
        let b = Memory::open(file.clone(), "folder /mnt".into(), true).unwrap();
        b.record("Docs", fresh(7)).unwrap();
        a.record("Docs", fresh(2)).unwrap();
        a.record("Pics", fresh(0)).unwrap();

        let a = Memory::open(file.clone(), "s3 a".into(), false).unwrap();
        assert_eq!((got(&a, "Docs"), got(&a, "Pics")), (want(2), want(0)));
        let b = Memory::open(file.clone(), "folder /mnt".into(), false).unwrap();
        assert_eq!(got(&b, "Docs"), want(7), "another remote's record is kept");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = fs::read_dir(file.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "no temporary file is left: {left:?}");
    }

    #[test]
    fn a_damaged_record_stops_the_run_and_says_how_to_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("freshness.json");
        for bad in [
            &b"{"[..],
            br#"{"format":"poof-freshness","version":2,"remotes":{}}"#,
            br#"{"format":"poof-freshness","version":1,"remotes":{"r":{"D":{"generation":"1"}}}}"#,
        ] {
            fs::write(&file, bad).unwrap();
            let e = Memory::open(file.clone(), "r".into(), false)
                .err()
                .expect("refused");
            let m = format!("{e:#}");
            assert!(
                m.contains("cannot be read") && m.contains("--trust-remote"),
                "{m}"
            );
        }
    }
}
