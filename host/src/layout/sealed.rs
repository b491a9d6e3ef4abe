//! The sealed layout, over any store: each file sealed into the object
//! `E(CLOUD/REL)` (docs/FORMAT.md) without user metadata, and the sealed
//! manifest at `.poof/manifests/E(CLOUD).bin`.
//!
//! The cryptography and the listing rules live in the guest, reached
//! through `crate::crypt`; this file only moves bytes between the store,
//! the guest and local files.
//!
//! Invariants: no plaintext name, time or mode reaches the store (objects
//! are stored private to the owner at the time of the upload); content is
//! streamed through one sealer in order, so memory stays bounded; a restore
//! writes only authenticated plaintext into a temporary file, renamed into
//! place only once every check passed, and keeps the user's file as it was
//! when any check fails.

use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};

use crate::crypt::{self, Crypt, Raw, SMALL_OBJECT};
use crate::engine::sync::Entry;
use crate::fsx;
use crate::remote::{Remote, RemoteListing};
use crate::store::{Body, Meta, Store};

/// Files kept sealed in a store, under one unlocked key.
pub struct SealedRemote {
    store: Arc<dyn Store>,
    crypt: Arc<Crypt>,
}

impl SealedRemote {
    /// The sealed layout over `store`, with this unlocked key.
    pub fn new(store: Arc<dyn Store>, crypt: Arc<Crypt>) -> Self {
        SealedRemote { store, crypt }
    }
}

fn io_err(e: anyhow::Error) -> io::Error {
    io::Error::other(format!("{e:#}"))
}

impl Remote for SealedRemote {
    fn verify(&self) -> Result<Vec<String>> {
        Ok(self.store.verify()?)
    }

    fn describe(&self) -> String {
        self.store.describe()
    }

    fn mtime_window_ns(&self) -> u64 {
        // Times are sealed with nanoseconds, whatever the store keeps.
        1
    }

    fn check_ready(&self) -> Result<()> {
        Ok(self.store.check_ready()?)
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        let c = &self.crypt;
        let prefix = format!("{}/", c.cloud_name(dir)?);
        let l = self.store.list(&prefix)?;
        let raw = l
            .objects
            .into_iter()
            .map(|o| Raw {
                name: o.key,
                size: o.size,
                etag: o.etag,
            })
            .collect();
        let manifest = self
            .read_reserved(&c.manifest_name(dir)?)
            .with_context(|| format!("reading the manifest of {dir}"))?;
        let hs = u64::from(c.format().header_size);
        let mut listing = c.list(
            dir,
            raw,
            manifest,
            |r| {
                self.store
                    .get_range(&r.name, 0, hs)
                    .map_err(|e| anyhow!("cannot read its header: {e:#}"))
            },
            |n| self.store.show(n),
        )?;
        listing.problems.extend(l.problems);
        listing.skipped.extend(l.skipped);
        Ok(listing)
    }

    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()> {
        let c = &self.crypt;
        let file = super::open_source(src, entry)?;
        let len = c.sealed_size(entry.size);
        let mut sealing = c.seal_file(dir, entry, &file, io::Seek::rewind, src)?;
        let key = sealing.object.clone();
        let id = sealing.id.clone();
        let body = Body::Stream {
            reader: &mut sealing,
            len,
            path: src,
        };
        let put = self
            .store
            .put(&key, body, &Meta::default())
            .with_context(|| format!("uploading {} to {}", src.display(), self.describe()))?;
        drop(sealing);
        super::check_unchanged(src, &file, entry)?;
        match put.etag {
            Some(etag) => c.uploaded(dir, entry, etag, id),
            None => c.deleted(dir, &entry.path),
        }
        Ok(())
    }

    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()> {
        let c = &self.crypt;
        let key = c.object_name(dir, &entry.path)?;
        let object = self.store.show(&key);
        let dest = local_root.join(&entry.path);
        crypt::check_listed(c, dir, &entry.path)
            .map_err(|e| anyhow!("{e:#}; {} was not written (left as it was)", dest.display()))?;
        let small = c.sealed_size(entry.size) < SMALL_OBJECT;
        fsx::write_atomically(local_root, entry, |out| {
            let id = if small {
                // Fetched first, so that the transfer holds no unlocked instance.
                let mut body = Vec::new();
                self.store
                    .get(&key, &mut body)
                    .map_err(|e| io_err(e.into()))?;
                let mut w = c.open_into(dir, &entry.path, out).map_err(io_err)?;
                io::Write::write_all(&mut w, &body)?;
                w.finish().map_err(io_err)?.1
            } else {
                let mut w = c.open_into(dir, &entry.path, out).map_err(io_err)?;
                self.store.get(&key, &mut w).map_err(|e| io_err(e.into()))?;
                w.finish().map_err(io_err)?.1
            };
            crypt::check_id(c, dir, &entry.path, &id, &object).map_err(io_err)
        })
        .map_err(|e| {
            anyhow!(
                "{object}: {e}; {} was not written (left as it was)",
                dest.display()
            )
        })
    }

    fn set_mode(&self, dir: &str, entry: &Entry) -> Result<()> {
        // The header keeps the mode of the upload; the sealed manifest the new one.
        self.crypt.set_mode(dir, entry)
    }

    fn delete(&self, dir: &str, path: &str) -> Result<()> {
        let key = self.crypt.object_name(dir, path)?;
        self.store
            .delete(&key)
            .with_context(|| format!("deleting from {}", self.describe()))?;
        self.crypt.deleted(dir, path);
        Ok(())
    }

    /// Reads the object back, opens and authenticates every segment; the
    /// hash is the one the authenticated header holds, checked against the
    /// content. Sealed objects carry no metadata, so `--verify=stored`
    /// reads back too.
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        let key = self.crypt.object_name(dir, path)?;
        let mut w = self.crypt.open_into(dir, path, io::sink())?;
        match self.store.get(&key, &mut w) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e).with_context(|| self.store.show(&key)),
        }
        let (meta, _) = w.finish().with_context(|| self.store.show(&key))?;
        Ok(meta.sha256.try_into().ok())
    }

    fn requests(&self) -> Option<u64> {
        self.store.requests()
    }

    fn read_reserved(&self, name: &str) -> Result<Option<Vec<u8>>> {
        super::read_reserved(&*self.store, name)
    }

    fn write_reserved(&self, name: &str, bytes: &[u8]) -> Result<()> {
        super::write_reserved(&*self.store, name, bytes)
    }

    fn finish(&self, dir: &str) -> Result<()> {
        if let Some((name, bytes)) = self.crypt.manifest_to_write(dir)? {
            self.store
                .put(&name, Body::Bytes(bytes), &Meta::default())
                .with_context(|| format!("writing the manifest of {dir} to {}", self.describe()))?;
        }
        Ok(())
    }
}
