//! The local-folder remote (`file:///media/usb/poof`): snapshots kept as
//! plain files on a mounted disk, one folder per cloud folder name.
//!
//! Invariant: the remote's root must already exist; poof never creates it,
//! so an unmounted disk is reported instead of filled on the wrong device.
//! With a `Crypt` attached (`with_crypt`), every file operation goes to the
//! encrypted layout in `sealed`; without one, files are kept as they are.

mod sealed;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::{Remote, RemoteListing};
use crate::crypt::Crypt;
use crate::engine::sync::Entry;
use crate::fsx;
use crate::walk::{self, Links};

/// Snapshots in a local folder.
pub struct FolderRemote {
    root: PathBuf,
    crypt: Option<Arc<Crypt>>,
}

impl FolderRemote {
    /// A remote rooted at `root`.
    pub fn new(root: PathBuf) -> Self {
        FolderRemote { root, crypt: None }
    }

    /// Uses the encrypted layout, with this unlocked key.
    pub fn with_crypt(mut self, crypt: Arc<Crypt>) -> Self {
        self.crypt = Some(crypt);
        self
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
        if let Some(c) = &self.crypt {
            return self.sealed_list(c, dir);
        }
        let path = self.dir(dir)?;
        // A store holds regular files only: links and special files found
        // there are skipped with a warning, never followed or copied.
        let l = walk::walk(&path, Links::Skip)?;
        // Leftovers of a killed run are poof's own, and go.
        let mut skipped = l.skipped;
        skipped.extend(fsx::remove_leftovers(&l.leftovers));
        Ok(RemoteListing {
            exists: l.exists,
            entries: l.entries,
            problems: l.problems,
            skipped,
        })
    }

    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()> {
        if let Some(c) = &self.crypt {
            return self.sealed_upload(c, dir, entry, src);
        }
        fsx::copy_into(src, &self.dir(dir)?, entry)?;
        Ok(())
    }

    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()> {
        if let Some(c) = &self.crypt {
            return self.sealed_download(c, dir, entry, local_root);
        }
        let src = fsx::safe_join(&self.dir(dir)?, &entry.path)?;
        fsx::copy_into(&src, local_root, entry)?;
        Ok(())
    }

    fn set_mode(&self, dir: &str, entry: &Entry) -> Result<()> {
        if let Some(c) = &self.crypt {
            return c.set_mode(dir, entry);
        }
        fsx::set_mode(&self.dir(dir)?, entry)?;
        Ok(())
    }

    fn delete(&self, dir: &str, path: &str) -> Result<()> {
        if let Some(c) = &self.crypt {
            fsx::remove(&self.root, &c.object_name(dir, path)?)?;
            c.deleted(dir, path);
            return Ok(());
        }
        fsx::remove(&self.dir(dir)?, path)?;
        Ok(())
    }

    /// Reads the stored file back. A folder remote records no hash, so
    /// `stored_sha256` (`--verify=stored`) reads it back too.
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        if let Some(c) = &self.crypt {
            return self.sealed_sha256(c, dir, path);
        }
        let root = self.dir(dir)?;
        fsx::sha256_file(&root, path)
            .with_context(|| format!("reading back {}", root.join(path).display()))
    }

    fn finish(&self, dir: &str) -> Result<()> {
        match &self.crypt {
            Some(c) => self.sealed_finish(c, dir),
            None => Ok(()),
        }
    }

    /// poof's own files live in `ROOT/.poof/`, beside the cloud folders.
    fn read_reserved(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = fsx::safe_join(&self.root, name)?;
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn write_reserved(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.check_ready()?;
        let entry = Entry {
            path: name.to_string(),
            size: bytes.len() as u64,
            mtime_ns: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
            mode: Some(0o600),
        };
        fsx::write_atomically(&self.root, &entry, |f| std::io::Write::write_all(f, bytes))
            .with_context(|| format!("writing {}", self.root.join(name).display()))
    }
}
