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
//! - on a store whose listing carries no metadata (S3), with a guest
//!   attached, an object's metadata comes from the path's manifest only
//!   where the guest finds the manifest's record matching the listing
//!   (same size and ETag), and from a `head` otherwise; `finish` rewrites
//!   the manifest when it changed.

pub mod meta;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};

use crate::engine::Instance;
use crate::engine::manifest::{Object as Listed, Stored};
use crate::engine::sync::Entry;
use crate::fsx;
use crate::remote::{Remote, RemoteListing};
use crate::store::{Body, Meta, ObjectInfo, Store, UserMeta};

/// How many `head` requests a listing sends at once.
const HEAD_THREADS: usize = 16;

/// The folder that holds poof's manifests of plain cloud folders.
pub const MANIFEST_DIR: &str = ".poof/manifests";

/// The user metadata key of the content's SHA-256 (hex), which the S3
/// client writes with every file it uploads (`--verify=stored`).
pub const SHA256: &str = crate::s3::SHA256_META;

/// Files kept as plain objects in a store.
pub struct PlainRemote {
    store: Arc<dyn Store>,
    /// The guest that reads and writes manifests, and what is known per cloud folder.
    manifests: Option<Mutex<Manifests>>,
}

/// The manifest state of one run: a guest instance, and per cloud folder
/// the records that hold now (path -> entry and ETag).
struct Manifests {
    guest: Instance,
    dirs: HashMap<String, Records>,
}

/// What is known of one cloud folder's objects, and whether its stored
/// manifest needs rewriting.
#[derive(Debug, Default)]
struct Records {
    files: BTreeMap<String, Stored>,
    dirty: bool,
}

impl PlainRemote {
    /// The plain layout over `store`, without a manifest.
    pub fn new(store: Arc<dyn Store>) -> Self {
        PlainRemote {
            store,
            manifests: None,
        }
    }

    /// Keeps a manifest per cloud folder, read and written through this
    /// guest instance, when the store's listing lacks metadata (where it
    /// has it, a manifest would save nothing, so none is written).
    pub fn with_manifest(mut self, guest: Instance) -> Self {
        if !self.store.lists_metadata() {
            self.manifests = Some(Mutex::new(Manifests {
                guest,
                dirs: HashMap::new(),
            }));
        }
        self
    }

    /// The store underneath.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The key of a cloud folder's manifest.
    fn manifest_key(dir: &str) -> Result<String> {
        crate::pathguard::check(dir)
            .map_err(|why| anyhow!("cloud folder {dir:?} is not a safe path: {why}"))?;
        Ok(format!("{MANIFEST_DIR}/{dir}.json"))
    }

    /// `DIR/`, the key prefix of one cloud folder.
    fn dir_prefix(dir: &str) -> Result<String> {
        crate::pathguard::check(dir)
            .map_err(|why| anyhow!("cloud folder {dir:?} is not a safe path: {why}"))?;
        Ok(format!("{dir}/"))
    }

    /// The key of `dir/path`.
    fn key(dir: &str, path: &str) -> Result<String> {
        crate::pathguard::check(path)
            .map_err(|why| anyhow!("{path:?} is not a safe relative path: {why}"))?;
        Ok(format!("{}{path}", Self::dir_prefix(dir)?))
    }

    /// Updates the records of `dir` with `f`, when manifests are in use.
    fn record(&self, dir: &str, f: impl FnOnce(&mut Records)) {
        if let Some(m) = &self.manifests {
            let mut m = m.lock().expect("no thread panics holding the manifests");
            f(m.dirs.entry(dir.to_string()).or_default());
        }
    }

    /// The entry of an object whose metadata is known.
    fn entry_of(&self, rel: &str, o: &ObjectInfo) -> Result<Entry, String> {
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
            path: rel.to_string(),
            size: o.size,
            mtime_ns,
            mode,
        })
    }

    /// Reads the metadata of listed objects, `HEAD_THREADS` at a time.
    fn head_all(&self, prefix: &str, objects: &[ObjectInfo], listing: &mut RemoteListing) {
        let results = crate::pool::map(objects, HEAD_THREADS, |o| {
            let head = self.store.head(&o.key).map_err(|e| format!("{e:#}"))?;
            let info = ObjectInfo {
                size: o.size,
                mtime_ns: o.mtime_ns.or(head.mtime_ns),
                ..head
            };
            self.entry_of(&o.key[prefix.len()..], &info)
        });
        for r in results {
            match r {
                Ok(e) => listing.entries.push(e),
                Err(p) => listing.problems.push(p),
            }
        }
    }

    /// Takes from the manifest of `dir` the entries it vouches for (into
    /// `listing`), and returns the objects whose metadata must still be read.
    fn apply_manifest(
        &self,
        dir: &str,
        prefix: &str,
        files: Vec<ObjectInfo>,
        listing: &mut RemoteListing,
    ) -> Result<Vec<ObjectInfo>> {
        let Some(m) = &self.manifests else {
            return Ok(files);
        };
        let key = Self::manifest_key(dir)?;
        let bytes = super::read_reserved(&*self.store, &key)
            .with_context(|| format!("reading the manifest of {dir}"))?
            .unwrap_or_default();
        let listed: Vec<Listed> = files
            .iter()
            .map(|o| Listed {
                path: o.key[prefix.len()..].to_string(),
                size: o.size,
                etag: o.etag.clone(),
            })
            .collect();
        let mut m = m.lock().expect("no thread panics holding the manifests");
        let r = m.guest.manifest_reconcile(&bytes, &listed)?;
        if let Some(problem) = &r.problem {
            listing.skipped.push(format!(
                "the manifest {} ({problem}); it is rebuilt from the listing",
                self.store.show(&key)
            ));
        }
        let unknown: BTreeSet<&str> = r.unknown.iter().map(String::as_str).collect();
        listing
            .entries
            .extend(r.known.iter().map(|s| s.entry.clone()));
        let records = m.dirs.entry(dir.to_string()).or_default();
        records.dirty = !r.exact;
        records.files = r
            .known
            .into_iter()
            .map(|s| (s.entry.path.clone(), s))
            .collect();
        Ok(files
            .into_iter()
            .filter(|o| unknown.contains(&o.key[prefix.len()..]))
            .collect())
    }
}

impl Remote for PlainRemote {
    fn verify(&self) -> Result<Vec<String>> {
        Ok(self.store.verify()?)
    }

    fn describe(&self) -> String {
        self.store.describe()
    }

    fn mtime_window_ns(&self) -> u64 {
        // rclone's `mtime` metadata and local file systems keep nanoseconds.
        self.store.time_precision_ns()
    }

    fn check_ready(&self) -> Result<()> {
        Ok(self.store.check_ready()?)
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        let prefix = Self::dir_prefix(dir)?;
        let l = self.store.list(&prefix)?;
        let mut listing = RemoteListing {
            exists: l.exists,
            entries: Vec::new(),
            problems: l.problems,
            skipped: l.skipped,
        };
        // An object store can hold both `a` and `a/b`; a file system cannot.
        // The folder wins.
        let mut folders = BTreeSet::new();
        for o in &l.objects {
            let mut rest = &o.key[prefix.len()..];
            while let Some((parent, _)) = rest.rsplit_once('/') {
                if !folders.insert(parent.to_string()) {
                    break;
                }
                rest = parent;
            }
        }
        let (shadowed, files): (Vec<ObjectInfo>, Vec<ObjectInfo>) = l
            .objects
            .into_iter()
            .partition(|o| folders.contains(&o.key[prefix.len()..]));
        for o in shadowed {
            listing.skipped.push(format!(
                "{} (both a file and a folder in the bucket; the folder's files are used)",
                self.store.show(&o.key)
            ));
        }
        // Objects whose metadata came with the listing (a folder).
        let (known, files): (Vec<ObjectInfo>, Vec<ObjectInfo>) =
            files.into_iter().partition(|o| o.user.is_some());
        for o in &known {
            match self.entry_of(&o.key[prefix.len()..], o) {
                Ok(e) => listing.entries.push(e),
                Err(p) => listing.problems.push(p),
            }
        }
        let files = self.apply_manifest(dir, &prefix, files, &mut listing)?;
        let etags: HashMap<String, String> = files
            .iter()
            .map(|o| (o.key[prefix.len()..].to_string(), o.etag.clone()))
            .collect();
        let before = listing.entries.len();
        self.head_all(&prefix, &files, &mut listing);
        let read: Vec<Stored> = listing.entries[before..]
            .iter()
            .map(|e| Stored {
                entry: e.clone(),
                etag: etags.get(&e.path).cloned().unwrap_or_default(),
                object_id: None,
            })
            .collect();
        self.record(dir, |r| {
            r.dirty |= !read.is_empty();
            r.files
                .extend(read.into_iter().map(|s| (s.entry.path.clone(), s)));
        });
        listing.entries.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()> {
        let key = Self::key(dir, &entry.path)?;
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
        self.record(dir, |r| {
            r.dirty = true;
            match put.etag {
                Some(etag) => {
                    r.files.insert(
                        entry.path.clone(),
                        Stored {
                            entry: entry.clone(),
                            etag,
                            object_id: None,
                        },
                    );
                }
                None => {
                    r.files.remove(&entry.path);
                }
            }
        });
        Ok(())
    }

    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()> {
        let key = Self::key(dir, &entry.path)?;
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
        let key = Self::key(dir, &entry.path)?;
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
        // The copy may have a new ETag: the next listing reads it again.
        self.record(dir, |r| {
            r.dirty = true;
            r.files.remove(&entry.path);
        });
        Ok(())
    }

    fn delete(&self, dir: &str, path: &str) -> Result<()> {
        let key = Self::key(dir, path)?;
        self.store
            .delete(&key)
            .with_context(|| format!("deleting from {}", self.describe()))?;
        self.record(dir, |r| {
            r.dirty = true;
            r.files.remove(path);
        });
        Ok(())
    }

    /// Streams the object through SHA-256 (an S3 store also checks its MD5
    /// on the way); a transfer that breaks off is tried again from the start.
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
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
        let key = Self::key(dir, path)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut h = Hashing(Sha256::new());
            match self.store.get(&key, &mut h) {
                Ok(_) => return Ok(Some(h.0.finalize().into())),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(crate::store::StoreError::Transient(_)) if attempt < 3 => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("reading back {}", self.store.show(&key)));
                }
            }
        }
    }

    /// The `sha256` user metadata written with the object (one `head`); a
    /// store that keeps no user metadata (a folder) reads it back instead,
    /// which is the stronger check.
    fn stored_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        if !self.store.keeps_user_metadata() {
            return self.read_sha256(dir, path);
        }
        let key = Self::key(dir, path)?;
        let object = self.store.show(&key);
        let head = match self.store.head(&key) {
            Ok(h) => h,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading the metadata of {object}")),
        };
        let Some(hex) = head.user.as_ref().and_then(|u| u.get(SHA256)) else {
            bail!(
                "{object} has no stored sha256 (rclone or an older poof wrote it); run upload without --verify=stored to read it back"
            );
        };
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex.trim(), &mut out)
            .map_err(|_| anyhow!("{object} has a malformed sha256 metadata value {hex:?}"))?;
        Ok(Some(out))
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
        let Some(m) = &self.manifests else {
            return Ok(());
        };
        let mut m = m.lock().expect("no thread panics holding the manifests");
        let Manifests { guest, dirs } = &mut *m;
        let Some(records) = dirs.get_mut(dir).filter(|r| r.dirty) else {
            return Ok(());
        };
        let files: Vec<Stored> = records.files.values().cloned().collect();
        let bytes = guest.manifest_encode(&files)?;
        let key = Self::manifest_key(dir)?;
        self.store
            .put(&key, Body::Bytes(bytes), &Meta::default())
            .with_context(|| format!("writing the manifest of {dir} to {}", self.describe()))?;
        records.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_poof_1x_layout() {
        assert_eq!(
            PlainRemote::key("Documents", "a/b.txt").unwrap(),
            "Documents/a/b.txt"
        );
        assert!(PlainRemote::key("Documents", "../x").is_err());
        assert!(PlainRemote::key("../Documents", "x").is_err());
        assert!(PlainRemote::key("Documents", "/x").is_err());
        assert_eq!(
            PlainRemote::manifest_key("Docs").unwrap(),
            ".poof/manifests/Docs.json"
        );
    }
}
