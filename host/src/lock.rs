//! One poof run per config at a time.
//!
//! The lock is an advisory `flock` on `poof.lock`, beside the `poof.conf` it
//! guards. The kernel releases it when the process ends, however it ends, so
//! a lock left by a crashed or killed run is simply free again: the next run
//! notices the leftover file, says so, and takes it over. Invariant: while a
//! `RunLock` lives, no other poof process holds the lock of that config.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::exit::Refused;

/// The held lock; released (and its file removed) on drop.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    /// What a previous, crashed run left in the lock file, if anything.
    pub stale: Option<String>,
}

impl RunLock {
    /// Takes the lock for the config file `poofconf`, or refuses with a message
    /// naming the run that holds it.
    pub fn acquire(poofconf: &Path) -> anyhow::Result<RunLock> {
        let path = poofconf.with_extension("lock");
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| {
                    anyhow::anyhow!("cannot create the lock file {}: {e}", path.display())
                })?;
            let mut held_by = String::new();
            let _ = file.read_to_string(&mut held_by);
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let who = held_by.trim();
                    let who = if who.is_empty() {
                        "another poof run"
                    } else {
                        who
                    };
                    return Err(Refused(format!(
                        "{who} is using {} right now; wait for it to finish (the lock is {})",
                        poofconf.display(),
                        path.display()
                    ))
                    .into());
                }
                Err(TryLockError::Error(e)) => {
                    anyhow::bail!("cannot lock {}: {e}", path.display())
                }
            }
            // The holder before us may have removed the file between our open
            // and our lock: then we hold a lock on a file nobody else sees.
            let same = std::fs::metadata(&path)
                .ok()
                .zip(file.metadata().ok())
                .is_some_and(|(on_disk, ours)| {
                    on_disk.ino() == ours.ino() && on_disk.dev() == ours.dev()
                });
            if !same {
                continue;
            }
            let stale = Some(held_by.trim().to_string()).filter(|s| !s.is_empty());
            file.set_len(0)?;
            file.rewind()?;
            write!(
                file,
                "poof (pid {}, started at unix time {})",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            )?;
            file.flush()?;
            return Ok(RunLock { file, path, stale });
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock, then release it.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_and_a_crashed_one_is_cleared() {
        let d = tempfile::tempdir().unwrap();
        let conf = d.path().join("poof.conf");
        let first = RunLock::acquire(&conf).unwrap();
        assert!(first.stale.is_none());
        let err = RunLock::acquire(&conf).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("wait for it to finish"), "{msg}");
        assert!(err.is::<Refused>());
        drop(first);
        assert!(!d.path().join("poof.lock").exists());

        // A run that died leaves its file behind, but not its lock.
        std::fs::write(
            d.path().join("poof.lock"),
            "poof (pid 999999, started at unix time 1)",
        )
        .unwrap();
        let next = RunLock::acquire(&conf).unwrap();
        assert_eq!(
            next.stale.as_deref(),
            Some("poof (pid 999999, started at unix time 1)")
        );
    }
}
