//! The folder remote's encrypted layout: each file sealed into
//! `ROOT/E(CLOUD/REL)` (docs/FORMAT.md), the sealed manifest under
//! `ROOT/.poof/manifests/E(CLOUD).bin`.
//!
//! Invariants: a sealed file is written through `fsx::write_atomically`, so
//! a stored object is complete or absent; stored files get the time of the
//! upload and mode 0600, never the user's time or mode (those are sealed);
//! a restore writes only authenticated plaintext, and keeps the user's file
//! as it was when any check fails.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result, anyhow};

use super::FolderRemote;
use crate::crypt::{self, Crypt, Raw};
use crate::engine::sync::Entry;
use crate::fsx;
use crate::remote::{Remote, RemoteListing};
use crate::walk::{self, Links};

/// The stand-in for an ETag of a stored file: its size and modification
/// time, which every upload sets to the time of the upload.
fn pseudo_etag(m: &std::fs::Metadata) -> String {
    format!("{}:{}.{}", m.len(), m.mtime(), m.mtime_nsec())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl FolderRemote {
    fn show(&self, name: &str) -> String {
        self.root.join(name).display().to_string()
    }

    /// Opens a stored object for reading, never through a link.
    fn open_object(&self, name: &str) -> Result<File> {
        let path = fsx::safe_join(&self.root, name)?;
        let m = std::fs::symlink_metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        if !m.is_file() {
            return Err(anyhow!("{} is not a regular file", path.display()));
        }
        File::open(&path).with_context(|| format!("reading {}", path.display()))
    }

    pub(super) fn sealed_list(&self, c: &Crypt, dir: &str) -> Result<RemoteListing> {
        let cloud = c.cloud_name(dir)?;
        let top = fsx::safe_join(&self.root, &cloud)?;
        let l = walk::walk(&top, Links::Skip)?;
        let leftover_problems = fsx::remove_leftovers(&l.leftovers);
        let mut raw = Vec::new();
        for e in &l.entries {
            let name = format!("{cloud}/{}", e.path);
            let m = std::fs::symlink_metadata(top.join(&e.path))
                .with_context(|| format!("reading {}", self.show(&name)))?;
            raw.push(Raw {
                name,
                size: e.size,
                etag: pseudo_etag(&m),
            });
        }
        let manifest = self.read_reserved(&c.manifest_name(dir)?)?;
        let hs = c.format().header_size as usize;
        let mut listing = c.list(
            dir,
            raw,
            manifest,
            |r| {
                let mut f = self.open_object(&r.name)?;
                let mut h = vec![0u8; hs];
                let n = fsx::read_full(&mut f, &mut h)?;
                h.truncate(n);
                Ok(h)
            },
            |n| self.show(n),
        )?;
        listing.problems.extend(l.problems);
        listing.skipped.extend(l.skipped);
        listing.skipped.extend(leftover_problems);
        Ok(listing)
    }

    pub(super) fn sealed_upload(
        &self,
        c: &Crypt,
        dir: &str,
        entry: &Entry,
        src: &Path,
    ) -> Result<()> {
        let m = std::fs::metadata(src).with_context(|| format!("reading {}", src.display()))?;
        if !m.is_file() {
            return Err(anyhow!("{} is not a regular file", src.display()));
        }
        let file = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        check_unchanged(src, &file, entry)?;
        let mut sealing = c.seal_file(dir, entry, &file, |f| f.rewind(), src)?;
        let target = Entry {
            path: sealing.object.clone(),
            size: c.sealed_size(entry.size),
            mtime_ns: now_ns(),
            mode: Some(0o600),
        };
        let written = fsx::write_atomically(&self.root, &target, |out| io::copy(&mut sealing, out))
            .with_context(|| format!("writing {}", self.show(&target.path)))?;
        let id = sealing.id.clone();
        drop(sealing);
        if written != target.size {
            return Err(anyhow!(
                "{} changed while poof was reading it; run poof again",
                src.display()
            ));
        }
        check_unchanged(src, &file, entry)?;
        let stored = fsx::safe_join(&self.root, &target.path)?;
        let m = std::fs::symlink_metadata(&stored)
            .with_context(|| format!("reading {}", stored.display()))?;
        c.uploaded(dir, entry, pseudo_etag(&m), id);
        Ok(())
    }

    pub(super) fn sealed_download(
        &self,
        c: &Crypt,
        dir: &str,
        entry: &Entry,
        local_root: &Path,
    ) -> Result<()> {
        let name = c.object_name(dir, &entry.path)?;
        let object = self.show(&name);
        let dest = local_root.join(&entry.path);
        crypt::check_listed(c, dir, &entry.path)
            .map_err(|e| anyhow!("{e:#}; {} was not written (left as it was)", dest.display()))?;
        let mut src = self.open_object(&name)?;
        fsx::write_atomically(local_root, entry, |out| {
            let mut w = c
                .open_into(dir, &entry.path, out)
                .map_err(|e| io::Error::other(format!("{e:#}")))?;
            io::copy(&mut src, &mut w)?;
            let (_, id) = w.finish().map_err(|e| io::Error::other(format!("{e:#}")))?;
            crypt::check_id(c, dir, &entry.path, &id, &object)
                .map_err(|e| io::Error::other(format!("{e:#}")))
        })
        .map_err(|e| {
            anyhow!(
                "{object}: {e}; {} was not written (left as it was)",
                dest.display()
            )
        })
    }

    pub(super) fn sealed_sha256(
        &self,
        c: &Crypt,
        dir: &str,
        path: &str,
    ) -> Result<Option<[u8; 32]>> {
        let name = c.object_name(dir, path)?;
        let mut src = match self.open_object(&name) {
            Ok(f) => f,
            Err(_) if !fsx::safe_join(&self.root, &name)?.exists() => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut w = c.open_into(dir, path, io::sink())?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            io::Write::write_all(&mut w, &buf[..n])?;
        }
        let (meta, _) = w.finish().with_context(|| self.show(&name))?;
        Ok(meta.sha256.try_into().ok())
    }

    pub(super) fn sealed_finish(&self, c: &Crypt, dir: &str) -> Result<()> {
        if let Some((name, bytes)) = c.manifest_to_write(dir)? {
            self.write_reserved(&name, &bytes)
                .with_context(|| format!("writing the manifest of {dir}"))?;
        }
        Ok(())
    }
}

/// Fails when `src` no longer has the entry's size and modification time.
pub(crate) fn check_unchanged(src: &Path, file: &File, entry: &Entry) -> Result<()> {
    let m = file
        .metadata()
        .with_context(|| format!("reading {}", src.display()))?;
    let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
    if m.len() != entry.size || mtime != entry.mtime_ns {
        return Err(anyhow!(
            "{} changed while poof was copying it; it was not copied, run poof again",
            src.display()
        ));
    }
    Ok(())
}
