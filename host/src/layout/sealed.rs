//! The sealed layout, over any store: each file sealed into the object
//! `E(CLOUD/REL)` (docs/FORMAT.md) without user metadata, and the sealed
//! manifest at `.poof/manifests/E(CLOUD).bin`.
//!
//! The cryptography lives in the guest, reached through `crate::crypt`'s
//! pool of unlocked instances; what a listing and the sealed manifest may be
//! trusted for, replays, and which restores to refuse are decided by the
//! guest session (`super::session`). This file only moves bytes between the
//! store, the guest and local files.
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

use super::freshness::Memory;
use super::session::Sessions;
use crate::crypt::{Crypt, SMALL_OBJECT};
use crate::engine::session::{Listed, Read};
use crate::engine::sync::Entry;
use crate::fsx;
use crate::remote::{Remote, RemoteListing};
use crate::store::{Body, Meta, ObjectInfo, Store};

/// Files kept sealed in a store, under one unlocked key.
pub struct SealedRemote {
    store: Arc<dyn Store>,
    crypt: Arc<Crypt>,
    sessions: Sessions,
}

impl SealedRemote {
    /// The sealed layout over `store`, with this unlocked key and what this
    /// machine remembers of the folders' manifests; one of the key's
    /// unlocked instances holds the sessions for the whole run.
    pub fn new(store: Arc<dyn Store>, crypt: Arc<Crypt>, memory: Memory) -> Result<Self> {
        let (inst, key) = crypt.take_unlocked()?;
        let sessions = Sessions::sealed(inst, key, &*store, memory);
        Ok(SealedRemote {
            store,
            crypt,
            sessions,
        })
    }
}

fn io_err(e: anyhow::Error) -> io::Error {
    io::Error::other(format!("{e:#}"))
}

impl Remote for SealedRemote {
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn mtime_window_ns(&self) -> u64 {
        // Times are sealed with nanoseconds, whatever the store keeps.
        1
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        let hs = u64::from(self.crypt.format().header_size);
        let to_listed = |o: ObjectInfo| Listed {
            key: o.key,
            size: o.size,
            etag: o.etag,
            entry: None,
        };
        let read = |key: &str| match self.store.get_range(key, 0, hs) {
            Ok(h) => Read::Header(h),
            Err(e) => Read::Failed(format!("cannot read its header: {e:#}")),
        };
        self.sessions.list(&*self.store, dir, to_listed, read)
    }

    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()> {
        let c = &self.crypt;
        let file = super::open_source(src, entry)?;
        let len = c.sealed_size(entry.size)?;
        let key = self.sessions.object_key(dir, &entry.path)?;
        let mut sealing = c.seal_file(dir, entry, &file, io::Seek::rewind, src)?;
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
        self.sessions
            .uploaded(dir, entry, put.etag.as_deref(), Some(&id))
    }

    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()> {
        let c = &self.crypt;
        let key = self.sessions.object_key(dir, &entry.path)?;
        let object = self.store.show(&key);
        let dest = local_root.join(&entry.path);
        self.sessions
            .check_restore(dir, &entry.path)
            .map_err(|e| anyhow!("{e:#}; {} was not written (left as it was)", dest.display()))?;
        let small = c.sealed_size(entry.size)? < SMALL_OBJECT;
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
            self.sessions
                .check_object_id(dir, &entry.path, &id)
                .map_err(io_err)
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
        self.sessions.mode_set(dir, entry)
    }

    fn delete(&self, dir: &str, path: &str) -> Result<()> {
        let key = self.sessions.object_key(dir, path)?;
        self.store
            .delete(&key)
            .with_context(|| format!("deleting from {}", self.describe()))?;
        self.sessions.deleted(dir, path)
    }

    /// Reads the object back, opens and authenticates every segment; the
    /// hash is the one the authenticated header holds, checked against the
    /// content. Sealed objects carry no metadata, so `--verify=stored`
    /// reads back too.
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        let key = self.sessions.object_key(dir, path)?;
        let mut w = self.crypt.open_into(dir, path, io::sink())?;
        match self.store.get(&key, &mut w) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e).with_context(|| self.store.show(&key)),
        }
        let (meta, _) = w.finish().with_context(|| self.store.show(&key))?;
        Ok(meta.sha256.try_into().ok())
    }

    fn finish(&self, dir: &str) -> Result<()> {
        self.sessions.finish(&*self.store, dir, &self.describe())
    }
}
