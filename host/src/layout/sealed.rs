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
use crate::engine::crypto::FileMeta;
use crate::engine::session::{Listed, Read};
use crate::engine::sync::{Entry, Filter, Plan, PlanInput};
use crate::engine::{GuestError, Instance};
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

/// What key rotation needs of a sealed remote, beyond `Remote`: re-encrypt
/// one object from another key's remote over the same store, read an
/// object back, and find and remove what is left of a folder.
impl SealedRemote {
    /// The unlocked key.
    pub fn crypt(&self) -> &Arc<Crypt> {
        &self.crypt
    }

    /// The store's keys of what this key keeps of `cloud`: every object
    /// under its prefix, and the manifest when there is one (not listed
    /// through the session: a raw look, for "is anything left").
    pub fn leftovers(&self, cloud: &str) -> Result<(Vec<String>, Option<String>)> {
        let (prefix, manifest) = self.sessions.with(cloud, |inst, h| {
            Ok((inst.session_prefix(h)?, inst.session_manifest_key(h)?))
        })?;
        let listing = self
            .store
            .list(&prefix)
            .with_context(|| format!("listing {}", self.store.show(&prefix)))?;
        let mut objects: Vec<String> = listing.objects.into_iter().map(|o| o.key).collect();
        objects.extend(listing.problems);
        let manifest = match manifest {
            Some(m) => match self.store.head(&m) {
                Ok(_) => Some(m),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e).with_context(|| self.store.show(&m)),
            },
            None => None,
        };
        Ok((objects, manifest))
    }

    /// Removes the objects of `paths` from `cloud` (their files are under
    /// another key): the manifest that no longer records them is written
    /// first, then the objects go. A kill in between leaves objects the
    /// manifest does not record, which a rerun reads by their headers and
    /// removes again; the manifest never records an object that is gone.
    /// Returns how many were deleted and what failed, per path.
    pub fn retire(&self, cloud: &str, paths: &[String]) -> Result<(u64, Vec<String>)> {
        let keys = paths
            .iter()
            .map(|path| Ok((path, self.sessions.object_key(cloud, path)?)))
            .collect::<Result<Vec<_>>>()?;
        self.before_deletions(cloud, paths)?;
        let (mut deleted, mut failed) = (0, Vec::new());
        for (path, key) in keys {
            match self.store.delete(&key) {
                Ok(()) => deleted += 1,
                Err(e) if e.is_not_found() => deleted += 1,
                Err(e) => failed.push(format!(
                    "{path}: {:#}",
                    anyhow::Error::from(e).context(format!("deleting from {}", self.describe()))
                )),
            }
        }
        Ok((deleted, failed))
    }

    /// Deletes the manifest of `cloud` (once its files are under another
    /// key), if there is one.
    pub fn delete_manifest(&self, cloud: &str) -> Result<()> {
        let name = self
            .sessions
            .with(cloud, |inst, h| inst.session_manifest_key(h))?;
        if let Some(name) = name {
            match self.store.delete(&name) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("deleting {}", self.store.show(&name)));
                }
            }
        }
        Ok(())
    }

    /// The authenticated metadata of the object of `cloud/path`, from its
    /// header alone, after the session's check that this object may be
    /// restored (not a replayed one): what rotation must carry over.
    pub fn header_meta(&self, cloud: &str, path: &str) -> Result<FileMeta> {
        self.sessions.check_restore(cloud, path)?;
        let key = self.sessions.object_key(cloud, path)?;
        let hs = u64::from(self.crypt.format().header_size);
        let header = self
            .store
            .get_range(&key, 0, hs)
            .with_context(|| format!("reading the header of {}", self.store.show(&key)))?;
        let (meta, id) = self
            .crypt
            .open_header(cloud, path, &header)
            .with_context(|| self.store.show(&key))?;
        self.sessions
            .check_object_id(cloud, path, &id)
            .with_context(|| self.store.show(&key))?;
        Ok(meta)
    }

    /// Reads the object of `cloud/path` back in full through this key,
    /// authenticating every segment, and returns its header's metadata and
    /// object id (the content's SHA-256 and length were checked against
    /// them); `None` when there is no such object.
    pub fn read_back(&self, cloud: &str, path: &str) -> Result<Option<(FileMeta, String)>> {
        let key = self.sessions.object_key(cloud, path)?;
        let mut w = self.crypt.open_into(cloud, path, io::sink())?;
        match self.store.get(&key, &mut w) {
            Ok(_) => {}
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                return Err(e).with_context(|| format!("reading back {}", self.store.show(&key)));
            }
        }
        let done = w.finish().with_context(|| self.store.show(&key))?;
        Ok(Some(done))
    }

    /// Re-encrypts `entry` of `cloud` from `from` (another key's remote over
    /// the same store) into this one, without plaintext on disk: the old
    /// object is opened through `from`'s key and its plaintext sealed under
    /// this key as it comes (in memory below `SMALL_OBJECT`, else through a
    /// bounded channel from a second thread). The new object keeps the
    /// entry's size, time and mode; the guest hashes what it seals and
    /// gives no header unless that is the old header's SHA-256. Then the new object
    /// is read back in full and must have that hash and size, and be the
    /// object just written (its id). The upload is recorded in this
    /// remote's session; the old object is left alone (the caller deletes
    /// it only after this returned `Ok`).
    pub fn reseal_from(&self, from: &SealedRemote, cloud: &str, entry: &Entry) -> Result<()> {
        let path = entry.path.as_str();
        let old = from.header_meta(cloud, path)?;
        if old.size != entry.size {
            anyhow::bail!(
                "{cloud}/{path}: the listing says {} bytes, the object's header {}",
                entry.size,
                old.size
            );
        }
        let meta = FileMeta {
            size: entry.size,
            mtime_ns: entry.mtime_ns,
            mode: entry.mode,
            sha256: old.sha256.clone(),
        };
        let old_key = from.sessions.object_key(cloud, path)?;
        let new_key = self.sessions.object_key(cloud, path)?;
        let len = self.crypt.sealed_size(entry.size)?;
        let head_len = u64::from(self.crypt.format().header_size);
        let name = format!("{cloud}/{path}");
        let label = std::path::Path::new(&name);
        let store = &*self.store;
        let (put, id) = if from.crypt.sealed_size(entry.size)? < SMALL_OBJECT {
            let mut body = Vec::new();
            store
                .get(&old_key, &mut body)
                .with_context(|| format!("reading {}", store.show(&old_key)))?;
            let mut plain = Vec::with_capacity(entry.size as usize);
            let mut w = from.crypt.open_into(cloud, path, &mut plain)?;
            io::Write::write_all(&mut w, &body)?;
            w.finish().with_context(|| store.show(&old_key))?;
            let mut sealing =
                self.crypt
                    .seal_from(cloud, path, &meta, io::Cursor::new(plain), &name)?;
            let id = sealing.id.clone();
            let body = Body::HeadLast {
                reader: &mut sealing,
                len,
                head_len,
                path: label,
            };
            let put = store
                .put(&new_key, body, &Meta::default())
                .with_context(|| format!("writing {}", store.show(&new_key)))?;
            (put, id)
        } else {
            std::thread::scope(|s| -> Result<_> {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
                let reader = s.spawn(move || -> Result<()> {
                    let mut w = from.crypt.open_into(cloud, path, Sender(tx))?;
                    store
                        .get(&old_key, &mut w)
                        .with_context(|| format!("reading {}", store.show(&old_key)))?;
                    w.finish().with_context(|| store.show(&old_key))?;
                    Ok(())
                });
                let sealed = (|| -> Result<_> {
                    let mut sealing = self.crypt.seal_from(
                        cloud,
                        path,
                        &meta,
                        Receiver {
                            rx,
                            buf: Vec::new(),
                            pos: 0,
                        },
                        &name,
                    )?;
                    let id = sealing.id.clone();
                    let body = Body::HeadLast {
                        reader: &mut sealing,
                        len,
                        head_len,
                        path: label,
                    };
                    let put = store
                        .put(&new_key, body, &Meta::default())
                        .with_context(|| format!("writing {}", store.show(&new_key)))?;
                    Ok((put, id))
                })();
                // The reader's failure says more than the short read it caused.
                reader.join().expect("no panics in the reader")?;
                sealed
            })?
        };
        self.sessions
            .uploaded(cloud, entry, put.etag.as_deref(), Some(&id))?;
        self.check_copy(cloud, entry, &old.sha256, Some(&id))
    }

    /// Reads the object of `cloud/entry.path` back in full under this key
    /// and fails unless it holds `sha256` and the entry's size, time and
    /// mode (and, when given, is the object `id`).
    pub fn check_copy(
        &self,
        cloud: &str,
        entry: &Entry,
        sha256: &[u8],
        id: Option<&str>,
    ) -> Result<()> {
        let key = self.sessions.object_key(cloud, &entry.path)?;
        let Some((meta, got)) = self.read_back(cloud, &entry.path)? else {
            anyhow::bail!("{}: not there when read back", self.store.show(&key));
        };
        let same = meta.size == entry.size
            && meta.mtime_ns == entry.mtime_ns
            && meta.mode == entry.mode
            && meta.sha256 == sha256
            && id.is_none_or(|id| id == got);
        if !same {
            anyhow::bail!(
                "{}: read back, it is not the copy of {cloud}/{} that was written",
                self.store.show(&key),
                entry.path
            );
        }
        Ok(())
    }
}

/// The writing end of the bounded channel between the opening and the
/// sealing thread of a large object.
struct Sender(std::sync::mpsc::SyncSender<Vec<u8>>);

impl io::Write for Sender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .send(data.to_vec())
            .map_err(|_| io::Error::other("the sealing side stopped"))?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The reading end: the plaintext in order; the end when the opening
/// thread is done (or failed: the sealer then finds the content short).
struct Receiver {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl io::Read for Receiver {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl SealedRemote {
    /// Lists `dir` through its session; with `keep` the entries stay in it
    /// for the plan.
    fn listing(&self, dir: &str, keep: bool) -> Result<RemoteListing> {
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
        // Encrypted names: the local folders' names say nothing about
        // where the keys are, so no hints.
        self.sessions
            .list(&*self.store, dir, &[], keep, to_listed, read)
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

    fn plan(
        &self,
        dir: &str,
        _spare: &mut Instance,
        input: PlanInput,
        local: crate::walk::Local,
        filter: &Filter,
    ) -> Result<Result<Plan, GuestError>> {
        self.sessions.plan(dir, input, local, filter)
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        self.listing(dir, false)
    }

    fn list_for_plan(&self, dir: &str, _names: &[String]) -> Result<RemoteListing> {
        self.listing(dir, true)
    }

    /// Seals the file in one read: the segments go to the store as they
    /// are sealed, the header (with the hash of what was sealed) last, and
    /// only when the file still has the plan's size and time; otherwise
    /// the store keeps nothing and the session records nothing.
    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()> {
        let c = &self.crypt;
        let file = super::open_source(src, entry)?;
        let len = c.sealed_size(entry.size)?;
        let key = self.sessions.object_key(dir, &entry.path)?;
        let unchanged = || super::check_unchanged(src, &file, entry).map_err(io_err);
        let mut sealing = c.seal_file(dir, entry, &file, src, &unchanged)?;
        let id = sealing.id.clone();
        let body = Body::HeadLast {
            reader: &mut sealing,
            len,
            head_len: u64::from(c.format().header_size),
            path: src,
        };
        let put = self
            .store
            .put(&key, body, &Meta::default())
            .with_context(|| format!("uploading {} to {}", src.display(), self.describe()))?;
        drop(sealing);
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
        fsx::write_atomically(local_root, entry, |file| {
            let out = fsx::Writeback::new(file);
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

    /// The content's SHA-256 from the object's header alone (one ranged
    /// read), authenticated and checked for its path and object id; the
    /// content itself is not read, so a body altered after the header
    /// goes unseen (plain `poof check` reads it).
    fn recorded_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        match self.header_meta(dir, path) {
            Ok(meta) => Ok(meta.sha256.try_into().ok()),
            Err(e)
                if e.chain().any(|c| {
                    c.downcast_ref::<crate::store::StoreError>()
                        .is_some_and(|s| s.is_not_found())
                }) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn before_deletions(&self, dir: &str, paths: &[String]) -> Result<()> {
        self.sessions
            .forget(&*self.store, dir, paths, &self.describe())
    }

    fn finish(&self, dir: &str) -> Result<()> {
        self.sessions.finish(&*self.store, dir, &self.describe())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{File, OpenOptions};
    use std::io::Write;
    use std::sync::Arc;

    use super::*;
    use crate::layout::freshness::Memory;
    use crate::store::memory::MemoryStore;
    use crate::store::{Listing, Put, Result as StoreResult};
    use crate::testkit;

    /// A memory store that runs `touch` when a put starts, before the body
    /// is read: a source file changing while poof copies it.
    struct Touching {
        inner: MemoryStore,
        touch: Box<dyn Fn() + Send + Sync>,
    }

    impl Store for Touching {
        fn describe(&self) -> String {
            self.inner.describe()
        }
        fn show(&self, key: &str) -> String {
            self.inner.show(key)
        }
        fn check_ready(&self) -> StoreResult<()> {
            self.inner.check_ready()
        }
        fn lists_metadata(&self) -> bool {
            self.inner.lists_metadata()
        }
        fn keeps_user_metadata(&self) -> bool {
            self.inner.keeps_user_metadata()
        }
        fn list(&self, prefix: &str) -> StoreResult<Listing> {
            self.inner.list(prefix)
        }
        fn head(&self, key: &str) -> StoreResult<ObjectInfo> {
            self.inner.head(key)
        }
        fn get(&self, key: &str, out: &mut dyn io::Write) -> StoreResult<u64> {
            self.inner.get(key, out)
        }
        fn get_range(&self, key: &str, start: u64, len: u64) -> StoreResult<Vec<u8>> {
            self.inner.get_range(key, start, len)
        }
        fn put(&self, key: &str, body: Body<'_>, meta: &Meta) -> StoreResult<Put> {
            if !key.starts_with(".poof/") {
                (self.touch)();
            }
            self.inner.put(key, body, meta)
        }
        fn set_meta(&self, key: &str, meta: &Meta) -> StoreResult<()> {
            self.inner.set_meta(key, meta)
        }
        fn delete(&self, key: &str) -> StoreResult<()> {
            self.inner.delete(key)
        }
    }

    fn entry_of(path: &Path, rel: &str) -> Entry {
        let m = std::fs::metadata(path).unwrap();
        use std::os::unix::fs::MetadataExt;
        Entry {
            path: rel.into(),
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            mode: None,
        }
    }

    #[test]
    fn a_file_that_changes_while_it_is_sealed_is_neither_stored_nor_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        let grow = src.clone();
        let retime = src.clone();
        type Touch = Box<dyn Fn() + Send + Sync>;
        let touches: [Touch; 2] = [
            // Grows by a byte: the read yields more than the plan's size.
            Box::new(move || {
                let mut f = OpenOptions::new().append(true).open(&grow).unwrap();
                f.write_all(b"x").unwrap();
            }),
            // Same size, another time: seen only once the read is over.
            Box::new(move || {
                let f = File::options().write(true).open(&retime).unwrap();
                f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(7))
                    .unwrap();
            }),
        ];
        for touch in touches {
            std::fs::write(&src, vec![3u8; 200_000]).unwrap();
            let entry = entry_of(&src, "f");
            let store = Arc::new(Touching {
                inner: MemoryStore::new(),
                touch,
            });
            let remote = SealedRemote::new(
                store.clone(),
                Arc::new(testkit::crypt()),
                Memory::of_one_run(),
            )
            .unwrap();
            let e = remote.upload("Docs", &entry, &src).unwrap_err();
            assert!(
                format!("{e:#}").contains("changed while poof was copying it"),
                "{e:#}"
            );
            remote.finish("Docs").unwrap();
            let objects = store.inner.list("").unwrap().objects;
            assert!(
                objects.iter().all(|o| o.key.starts_with(".poof/")),
                "only poof's own objects: {objects:?}"
            );
            assert!(remote.list("Docs").unwrap().entries.is_empty());
        }
    }
}
