//! The local-folder remote (`file:///media/usb/poof`): snapshots kept as
//! plain files on a mounted disk, one folder per cloud folder name.
//!
//! Invariant: the remote's root must already exist; poof never creates it,
//! so an unmounted disk is reported instead of filled on the wrong device.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Remote, RemoteListing};
use crate::engine::sync::Entry;
use crate::fsx;
use crate::walk::{self, Links};

/// Snapshots in a local folder.
pub struct FolderRemote {
    root: PathBuf,
}

impl FolderRemote {
    /// A remote rooted at `root`.
    pub fn new(root: PathBuf) -> Self {
        FolderRemote { root }
    }

    fn dir(&self, dir: &str) -> Result<PathBuf> {
        fsx::safe_join(&self.root, dir).with_context(|| format!("cloud folder {dir:?}"))
    }
}

impl Remote for FolderRemote {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn mtime_window_ns(&self) -> u64 {
        // Local file systems keep nanoseconds, or coarser times that both
        // sides then share after a copy.
        1
    }

    fn check_ready(&self) -> Result<()> {
        match std::fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => bail!("remote {} is not a folder", self.root.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "remote folder {} does not exist; mount the disk or create the folder, then run poof again",
                self.root.display()
            ),
            Err(e) => bail!("cannot reach remote folder {}: {e}", self.root.display()),
        }
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        let path = self.dir(dir)?;
        // A store holds regular files only: links and special files found
        // there are skipped with a warning, never followed or copied.
        let l = walk::walk(&path, Links::Skip)?;
        Ok(RemoteListing {
            exists: l.exists,
            entries: l.entries,
            problems: l.problems,
            skipped: l.skipped,
        })
    }

    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()> {
        fsx::copy_into(src, &self.dir(dir)?, entry)?;
        Ok(())
    }

    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()> {
        let src = fsx::safe_join(&self.dir(dir)?, &entry.path)?;
        fsx::copy_into(&src, local_root, entry)?;
        Ok(())
    }

    fn set_mode(&self, dir: &str, entry: &Entry) -> Result<()> {
        fsx::set_mode(&self.dir(dir)?, entry)?;
        Ok(())
    }

    fn delete(&self, dir: &str, path: &str) -> Result<()> {
        fsx::remove(&self.dir(dir)?, path)?;
        Ok(())
    }
}
