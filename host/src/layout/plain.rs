//! The plain layout, over any store: one object per file at `CLOUD/REL`,
//! content unchanged, as poof 1.x and rclone lay it out.
//!
//! The modification time and permission bits go into user metadata `mtime`
//! and `mode` in rclone's formats (`meta`), and into the store's native
//! attributes where it has them (a folder), so objects written by
//! `rclone sync` are read by poof and the other way round.
//!
//! Invariants:
//! - only keys under `CLOUD/` are read, written or deleted, plus the
//!   manifest at `.poof/manifests/CLOUD.json`, outside every cloud folder,
//!   where rclone and poof 1.x users syncing a cloud folder never see it;
//! - a download lands under its final name only once every byte arrived and
//!   the count matched the listing (`fsx::write_atomically`);
//! - an upload first checks that the file still matches the planned entry,
//!   and checks it again before the object becomes visible where the store
//!   allows (a folder), else right after;
//! - a listing that could not read some object's metadata says so in
//!   `problems`, which keeps the plan from deleting anything;
//! - what a listing and the manifest may be trusted for, a file and a
//!   folder of the same name, and when the manifest is rewritten are the
//!   guest session's decisions (`super::session`); on a store whose listing
//!   carries no metadata (S3) the session vouches for objects from the
//!   manifest (same size and ETag) and asks for a `head` of the others.

pub mod meta;

use std::io;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};

use super::session::{Beside, Sessions};
use crate::engine::session::{Listed, Read};
use crate::engine::sync::{Entry, Filter, Plan, PlanInput};
use crate::engine::{GuestError, Instance};
use crate::fsx;
use crate::remote::{Remote, RemoteListing};
use crate::store::{Body, Meta, ObjectInfo, Store, UserMeta};

/// The user metadata key of the content's SHA-256 (hex), which the S3
/// store writes with every file it uploads (`--verify=stored`).
pub const SHA256: &str = meta::SHA256;

/// The SHA-256 of the object `key`, read back in full and streamed (an S3
/// store also checks its MD5 on the way); `None` when there is no such
/// object. A transfer that breaks off is tried again from the start.
pub fn sha256_of(store: &dyn Store, key: &str) -> Result<Option<[u8; 32]>> {
    use sha2::{Digest, Sha256};
    struct Hashing(Sha256);
    impl io::Write for Hashing {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.update(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut h = Hashing(Sha256::new());
        match store.get(key, &mut h) {
            Ok(_) => return Ok(Some(h.0.finalize().into())),
            Err(e) if e.is_not_found() => return Ok(None),
            Err(crate::store::StoreError::Transient(_)) if attempt < 3 => {}
            Err(e) => {
                return Err(e).with_context(|| format!("reading back {}", store.show(key)));
            }
        }
    }
}

/// Files kept as plain objects in a store.
pub struct PlainRemote {
    store: Arc<dyn Store>,
    /// The guest sessions that decide what listings mean; `None` for a
    /// remote opened only for poof's own objects (the key).
    sessions: Option<Sessions>,
}

impl PlainRemote {
    /// The plain layout over `store`, for poof's own objects only (`verify`,
    /// `econfig`): listing and transfers need `with_session`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        PlainRemote {
            store,
            sessions: None,
        }
    }

    /// Lets this guest instance's sessions decide what listings mean and
    /// keep the manifests, given what the store holds `beside` the plain
    /// folders.
    pub fn with_session(mut self, guest: Instance, beside: Beside) -> Self {
        self.sessions = Some(Sessions::plain(guest, &*self.store, beside));
        self
    }

    fn sessions(&self) -> Result<&Sessions> {
        self.sessions
            .as_ref()
            .ok_or_else(|| anyhow!("this remote was opened for poof's own objects only"))
    }

    /// The key prefix of `cloud`'s objects and the key of its manifest,
    /// when this store keeps one, as the guest session names them (nothing
    /// is listed: a remote the session would refuse to list, one beside
    /// poof's key, still names them).
    pub fn names(&self, cloud: &str) -> Result<(String, Option<String>)> {
        self.sessions()?.with(cloud, |inst, h| {
            Ok((inst.session_prefix(h)?, inst.session_manifest_key(h)?))
        })
    }

    /// Lists `dir` through its session; with `keep` the entries stay in it
    /// for the plan.
    fn listing(&self, dir: &str, names: &[String], keep: bool) -> Result<RemoteListing> {
        let to_listed = |o: ObjectInfo| Listed {
            entry: o.user.is_some().then(|| self.entry_of(&o)),
            key: o.key,
            size: o.size,
            etag: o.etag,
        };
        let read = |key: &str| match self.store.head(key) {
            Ok(o) => match self.entry_of(&o) {
                Ok(e) => Read::Entry(e),
                Err(why) => Read::Failed(why),
            },
            Err(e) => Read::Failed(format!("{e:#}")),
        };
        // A plain key is the session's prefix followed by the file's path:
        // the names under `dir` are the names under that prefix.
        self.sessions()?
            .list(&*self.store, dir, names, keep, to_listed, read)
    }

    /// The key of `dir/path`.
    fn key(&self, dir: &str, path: &str) -> Result<String> {
        self.sessions()?.object_key(dir, path)
    }

    /// The entry of an object, from its user metadata (rclone's `mtime`
    /// and `mode`) or else its native attributes.
    fn entry_of(&self, o: &ObjectInfo) -> Result<Entry, String> {
        let user = o.user.as_ref();
        let mtime_ns = user
            .and_then(|u| u.get(meta::MTIME))
            .and_then(|v| meta::parse_mtime(v))
            .or(o.mtime_ns)
            .ok_or_else(|| format!("{}: no modification time", self.store.show(&o.key)))?;
        let mode = user
            .and_then(|u| u.get(meta::MODE))
            .and_then(|v| meta::parse_mode(v))
            .or(o.mode.map(|m| m & 0o7777));
        Ok(Entry {
            path: o.key.clone(),
            size: o.size,
            mtime_ns,
            mode,
        })
    }
}

impl Remote for PlainRemote {
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn mtime_window_ns(&self) -> u64 {
        // rclone's `mtime` metadata and local file systems keep nanoseconds.
        self.store.time_precision_ns()
    }

    fn plan(
        &self,
        dir: &str,
        spare: &mut Instance,
        input: PlanInput,
        local: crate::walk::Local,
        filter: &Filter,
    ) -> Result<Result<Plan, GuestError>> {
        match &self.sessions {
            Some(sessions) => sessions.plan(dir, input, local, filter),
            None => spare.plan_sync_filtered(&crate::remote::with_local(input, local), filter),
        }
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        self.list_hinted(dir, &[])
    }

    fn list_hinted(&self, dir: &str, names: &[String]) -> Result<RemoteListing> {
        self.listing(dir, names, false)
    }

    fn list_for_plan(&self, dir: &str, names: &[String]) -> Result<RemoteListing> {
        self.listing(dir, names, true)
    }

    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()> {
        let key = self.key(dir, &entry.path)?;
        let file = Arc::new(super::open_source(src, entry)?);
        let mut user = UserMeta::new();
        user.insert(meta::MTIME.into(), meta::format_mtime(entry.mtime_ns));
        if let Some(mode) = entry.mode {
            user.insert(meta::MODE.into(), meta::format_mode(mode));
        }
        let meta = Meta {
            mtime_ns: Some(entry.mtime_ns),
            mode: entry.mode,
            user,
        };
        let check = || {
            super::check_unchanged(src, &file, entry)
                .map_err(|e| io::Error::other(format!("{e:#}")))
        };
        let body = Body::File {
            file: file.clone(),
            path: src,
            len: entry.size,
            unchanged: &check,
        };
        let put = self
            .store
            .put(&key, body, &meta)
            .with_context(|| format!("uploading to {}", self.describe()))?;
        self.sessions()?
            .uploaded(dir, entry, put.etag.as_deref(), None)
    }

    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()> {
        let key = self.key(dir, &entry.path)?;
        let dest = local_root.join(&entry.path);
        fsx::write_atomically(local_root, entry, |out| {
            let n = self
                .store
                .get_file(&key, out, &dest)
                .map_err(|e| io::Error::other(format!("{e:#}")))?;
            if n != entry.size {
                return Err(io::Error::other(format!(
                    "{} has {n} bytes, not the {} it was listed with; it changed during the run, run poof again",
                    self.store.show(&key),
                    entry.size
                )));
            }
            Ok(())
        })
        .with_context(|| format!("downloading from {}", self.describe()))
    }

    fn set_mode(&self, dir: &str, entry: &Entry) -> Result<()> {
        let key = self.key(dir, &entry.path)?;
        let head = self.store.head(&key)?;
        let mut user = head.user.unwrap_or_default();
        // Kept as stored; written from the entry when the object had none.
        user.entry(meta::MTIME.into())
            .or_insert_with(|| meta::format_mtime(entry.mtime_ns));
        match entry.mode {
            Some(mode) => user.insert(meta::MODE.into(), meta::format_mode(mode)),
            None => user.remove(meta::MODE),
        };
        let meta = Meta {
            mtime_ns: None,
            mode: entry.mode,
            user,
        };
        self.store
            .set_meta(&key, &meta)
            .with_context(|| format!("setting permissions on {}", self.describe()))?;
        self.sessions()?.mode_set(dir, entry)
    }

    fn delete(&self, dir: &str, path: &str) -> Result<()> {
        let key = self.key(dir, path)?;
        self.store
            .delete(&key)
            .with_context(|| format!("deleting from {}", self.describe()))?;
        self.sessions()?.deleted(dir, path)
    }

    fn before_deletions(&self, dir: &str, paths: &[String]) -> Result<()> {
        match &self.sessions {
            Some(s) => s.forget(&*self.store, dir, paths, &self.describe()),
            None => Ok(()),
        }
    }

    /// Streams the object through SHA-256 (`sha256_of`).
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        sha256_of(&*self.store, &self.key(dir, path)?)
    }

    /// The `sha256` user metadata written with the object (one `head`); a
    /// store that keeps no user metadata (a folder) reads it back instead,
    /// which is the stronger check.
    fn stored_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        if !self.store.keeps_user_metadata() {
            return self.read_sha256(dir, path);
        }
        let key = self.key(dir, path)?;
        let object = self.store.show(&key);
        let head = match self.store.head(&key) {
            Ok(h) => h,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading the metadata of {object}")),
        };
        let Some(hex) = head.user.as_ref().and_then(|u| u.get(SHA256)) else {
            bail!(
                "{object} has no stored sha256 (rclone or an older poof wrote it), so only reading it back can check it: plain `poof check`, or `poof upload` without --verify=stored"
            );
        };
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex.trim(), &mut out)
            .map_err(|_| anyhow!("{object} has a malformed sha256 metadata value {hex:?}"))?;
        Ok(Some(out))
    }

    fn finish(&self, dir: &str) -> Result<()> {
        match &self.sessions {
            Some(s) => s.finish(&*self.store, dir, &self.describe()),
            None => Ok(()),
        }
    }
}
