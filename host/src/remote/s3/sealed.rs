//! The S3 remote's encrypted layout: each file sealed into the object
//! `[PREFIX/]E(CLOUD/REL)` (docs/FORMAT.md), without user metadata; the
//! sealed manifest at `[PREFIX/].poof/manifests/E(CLOUD).bin`.
//!
//! Invariants: no plaintext name, time or mode is sent (not even as
//! metadata); objects below `crypt::SMALL_OBJECT` are sealed into memory and
//! sent with one PUT, larger ones as a multipart upload whose parts one
//! sealer produces in order; a restore writes only authenticated plaintext
//! into a temporary file, renamed into place only once every check passed.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;

use anyhow::{Context, Result, anyhow};

use super::{S3Remote, check_unchanged};
use crate::crypt::{self, Crypt, Raw, SMALL_OBJECT};
use crate::engine::sync::Entry;
use crate::fsx;
use crate::remote::Remote;
use crate::remote::RemoteListing;
use crate::s3;

/// Parts of one encrypted object sent at once. With 2 senders a backup of
/// 200 MiB peaked at 157 to 171 MB RSS, with 1 at 121 to 126 MB, at the
/// same speed (docs/FORMAT.md, "Measurements").
const MULTIPART_SENDERS: usize = 1;

impl S3Remote {
    /// `[PREFIX/]`, what comes before every name.
    fn root(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    fn show(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.client.config().bucket, self.root())
    }

    pub(super) fn sealed_list(&self, c: &Crypt, dir: &str) -> Result<RemoteListing> {
        let root = self.root();
        let prefix = format!("{root}{}/", c.cloud_name(dir)?);
        let objects = self.client.list(&prefix, 1000)?;
        let raw = objects
            .into_iter()
            .filter(|o| !(o.key.ends_with('/') && o.size == 0))
            .map(|o| Raw {
                name: o.key[root.len()..].to_string(),
                size: o.size,
                etag: o.etag.unwrap_or_default(),
            })
            .collect();
        let manifest = self
            .read_reserved_object(&c.manifest_name(dir)?)
            .with_context(|| format!("reading the manifest of {dir}"))?;
        let hs = u64::from(c.format().header_size);
        c.list(
            dir,
            raw,
            manifest,
            |r| {
                self.client
                    .get_range(&format!("{root}{}", r.name), 0, hs)
                    .map_err(|e| anyhow!("cannot read its header: {e}"))
            },
            |n| self.show(n),
        )
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
        let sealed = c.sealed_size(entry.size);
        let mut sealing = c.seal_file(dir, entry, &file, |f| f.rewind(), src)?;
        let key = format!("{}{}", self.root(), sealing.object);
        let id = sealing.id.clone();
        let put = if sealed < SMALL_OBJECT {
            let mut bytes = Vec::with_capacity(sealed as usize);
            sealing
                .read_to_end(&mut bytes)
                .with_context(|| format!("sealing {}", src.display()))?;
            drop(sealing);
            if bytes.len() as u64 != sealed {
                return Err(anyhow!(
                    "{} changed while poof was reading it; run poof again",
                    src.display()
                ));
            }
            self.client.put_bytes(&key, bytes)
        } else {
            // One sender per sealer: the part being sealed and the part
            // being sent overlap, and the run stays under 128 MiB (measured).
            self.client
                .put_multipart_from(&key, sealed, &mut sealing, src, MULTIPART_SENDERS)
        }
        .with_context(|| format!("uploading {} to {}", src.display(), self.describe()))?;
        check_unchanged(src, &file, entry)?;
        match put.etag {
            Some(etag) => c.uploaded(dir, entry, etag, id),
            None => c.deleted(dir, &entry.path),
        }
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
        let key = format!("{}{name}", self.root());
        let object = self.show(&name);
        let dest = local_root.join(&entry.path);
        crypt::check_listed(c, dir, &entry.path)
            .map_err(|e| anyhow!("{e:#}; {} was not written (left as it was)", dest.display()))?;
        let other = |e: anyhow::Error| io::Error::other(format!("{e:#}"));
        let small = c.sealed_size(entry.size) < SMALL_OBJECT;
        fsx::write_atomically(local_root, entry, |out| {
            let id = if small {
                // Fetched first, so that the transfer holds no unlocked instance.
                let mut body = Vec::new();
                self.client.get(&key, &mut body).map_err(io::Error::other)?;
                let mut w = c.open_into(dir, &entry.path, out).map_err(other)?;
                io::Write::write_all(&mut w, &body)?;
                w.finish().map_err(other)?.1
            } else {
                let mut w = c.open_into(dir, &entry.path, out).map_err(other)?;
                self.client.get(&key, &mut w).map_err(io::Error::other)?;
                w.finish().map_err(other)?.1
            };
            crypt::check_id(c, dir, &entry.path, &id, &object).map_err(other)
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
        let key = format!("{}{name}", self.root());
        let mut w = c.open_into(dir, path, io::sink())?;
        match self.client.get(&key, &mut w) {
            Ok(_) => {}
            Err(s3::Error::NoSuchKey { .. }) => return Ok(None),
            Err(e) => return Err(e).with_context(|| self.show(&name)),
        }
        let (meta, _) = w.finish().with_context(|| self.show(&name))?;
        Ok(meta.sha256.try_into().ok())
    }

    pub(super) fn sealed_delete(&self, c: &Crypt, dir: &str, path: &str) -> Result<()> {
        let key = format!("{}{}", self.root(), c.object_name(dir, path)?);
        self.client
            .delete(&key)
            .with_context(|| format!("deleting from {}", self.describe()))?;
        c.deleted(dir, path);
        Ok(())
    }

    pub(super) fn sealed_finish(&self, c: &Crypt, dir: &str) -> Result<()> {
        if let Some((name, bytes)) = c.manifest_to_write(dir)? {
            self.client
                .put_bytes(&format!("{}{name}", self.root()), bytes)
                .with_context(|| format!("writing the manifest of {dir} to {}", self.describe()))?;
        }
        Ok(())
    }

    /// One of poof's own objects under `[PREFIX/]`, `None` when missing.
    pub(super) fn read_reserved_object(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let mut bytes = Vec::new();
        match self
            .client
            .get(&format!("{}{name}", self.root()), &mut bytes)
        {
            Ok(_) => Ok(Some(bytes)),
            Err(s3::Error::NoSuchKey { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| self.show(name)),
        }
    }

    /// Writes one of poof's own objects under `[PREFIX/]`.
    pub(super) fn write_reserved_object(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.client
            .put_bytes(&format!("{}{name}", self.root()), bytes.to_vec())
            .with_context(|| format!("writing {}", self.show(name)))?;
        Ok(())
    }
}
