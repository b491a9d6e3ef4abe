//! The S3 remote (`s3://BUCKET[/PREFIX]`, or a poof 1.x cloud config
//! section): one object per file, laid out as poof 1.x and rclone lay it out.
//!
//! Layout: object key `[PREFIX/]CLOUD_DIR/RELATIVE/PATH`, content unchanged,
//! the modification time in user metadata `mtime` and the permission bits in
//! `mode`, both in rclone's formats (see `meta`). Objects written by
//! `rclone sync` are read by poof and the other way round.
//!
//! Invariants:
//! - only keys under `[PREFIX/]CLOUD_DIR/` are read, written or deleted, and
//!   only keys whose relative part is a safe path;
//! - a download lands under its final name only once every byte arrived and
//!   the count matched the listing (`fsx::write_atomically`);
//! - an upload first checks that the file still matches the planned entry,
//!   and checks it again afterwards;
//! - a listing that could not read some object's metadata says so in
//!   `problems`, which keeps the plan from deleting anything;
//! - with a guest attached (`with_manifest`), a listing reads each object's
//!   metadata from the path's manifest only where the guest finds the
//!   manifest's record matching the listing (same size and ETag), and with a
//!   HEAD otherwise; `finish` rewrites the manifest when it changed. The
//!   manifest lives at `[PREFIX/].poof/manifests/CLOUD_DIR.json`, outside
//!   every cloud folder, where rclone and poof 1.x users syncing a cloud
//!   folder never see it;
//! - with a `Crypt` attached (`with_crypt`), every file operation goes to
//!   the encrypted layout in `sealed` instead, and the plain layout above is
//!   not touched.

pub mod meta;
mod sealed;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};

use super::{Remote, RemoteListing};
use crate::cloudconf::S3Settings;
use crate::crypt::Crypt;
use crate::engine::Instance;
use crate::engine::manifest::{Object as Listed, Stored};
use crate::engine::sync::Entry;
use crate::exit::ConfigError;
use crate::fsx;
use crate::s3::{self, Client, Endpoint, Metadata, Object};

/// How many HEAD requests a listing sends at once.
const HEAD_THREADS: usize = 16;

/// Snapshots in an S3 bucket.
#[derive(Debug)]
pub struct S3Remote {
    client: Client,
    /// `""`, or the prefix without slashes at either end.
    prefix: String,
    /// Where the credentials came from, for `verify`.
    source: String,
    /// The guest that reads and writes manifests, and what is known per cloud folder.
    manifests: Option<Mutex<Manifests>>,
    /// The unlocked key, when the remote uses the encrypted layout.
    crypt: Option<Arc<Crypt>>,
}

/// The manifest state of one run: a guest instance, and per cloud folder
/// the records that hold now (path -> entry and ETag).
struct Manifests {
    guest: Instance,
    dirs: HashMap<String, Records>,
}

impl std::fmt::Debug for Manifests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifests")
            .field("dirs", &self.dirs.len())
            .finish()
    }
}

/// What is known of one cloud folder's objects, and whether its stored
/// manifest needs rewriting.
#[derive(Debug, Default)]
struct Records {
    files: BTreeMap<String, Stored>,
    dirty: bool,
}

/// The folder, under the remote's prefix, that holds poof's manifests.
pub const MANIFEST_DIR: &str = ".poof/manifests";

impl S3Remote {
    /// A remote over `client`, with keys under `prefix` (may be empty).
    pub fn new(client: Client, prefix: &str, source: &str) -> Self {
        S3Remote {
            client,
            prefix: prefix.trim_matches('/').to_string(),
            source: source.into(),
            manifests: None,
            crypt: None,
        }
    }

    /// Uses the encrypted layout, with this unlocked key.
    pub fn with_crypt(mut self, crypt: Arc<Crypt>) -> Self {
        self.crypt = Some(crypt);
        self
    }

    /// Uses manifests, read and written through this guest instance.
    pub fn with_manifest(mut self, guest: Instance) -> Self {
        self.manifests = Some(Mutex::new(Manifests {
            guest,
            dirs: HashMap::new(),
        }));
        self
    }

    /// The key of a cloud folder's manifest.
    fn manifest_key(&self, dir: &str) -> Result<String> {
        poof_guest::paths::check(dir)
            .map_err(|why| anyhow!("cloud folder {dir:?} is not a safe path: {why}"))?;
        Ok(if self.prefix.is_empty() {
            format!("{MANIFEST_DIR}/{dir}.json")
        } else {
            format!("{}/{MANIFEST_DIR}/{dir}.json", self.prefix)
        })
    }

    /// Updates the records of `dir` with `f`, when manifests are in use.
    fn record(&self, dir: &str, f: impl FnOnce(&mut Records)) {
        if let Some(m) = &self.manifests {
            let mut m = m.lock().expect("no thread panics holding the manifests");
            f(m.dirs.entry(dir.to_string()).or_default());
        }
    }

    /// Builds the client from resolved settings.
    pub fn from_settings(bucket: &str, prefix: &str, settings: &S3Settings) -> Result<Self> {
        let config_error = |e: s3::Error| ConfigError(format!("{}: {e}", settings.source));
        let endpoint =
            Endpoint::parse(settings.endpoint.as_deref().unwrap_or("")).map_err(config_error)?;
        let mut config = s3::Config::new(
            endpoint,
            settings.region.as_deref().unwrap_or(""),
            bucket,
            settings.credentials.clone(),
        );
        config.server_side_encryption = settings.server_side_encryption.clone();
        config.storage_class = settings.storage_class.clone();
        config.acl = settings.acl.clone();
        if let Some(size) = settings.chunk_size {
            config.part_size = size;
        }
        if let Some(n) = settings.upload_concurrency {
            config.concurrency = n;
        }
        config.ca_file = settings.ca_file.clone();
        let client = Client::new(config).map_err(config_error)?;
        Ok(S3Remote::new(client, prefix, &settings.describe()))
    }

    /// The client, for callers that need more than the `Remote` trait.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `[PREFIX/]DIR/`, the key prefix of one cloud folder.
    fn dir_prefix(&self, dir: &str) -> Result<String> {
        poof_guest::paths::check(dir)
            .map_err(|why| anyhow!("cloud folder {dir:?} is not a safe path: {why}"))?;
        Ok(if self.prefix.is_empty() {
            format!("{dir}/")
        } else {
            format!("{}/{dir}/", self.prefix)
        })
    }

    /// The key of `dir/path`.
    fn key(&self, dir: &str, path: &str) -> Result<String> {
        poof_guest::paths::check(path)
            .map_err(|why| anyhow!("{path:?} is not a safe relative path: {why}"))?;
        Ok(format!("{}{path}", self.dir_prefix(dir)?))
    }

    /// Deletes many files of one cloud folder, 1000 per request; returns the
    /// paths that could not be deleted, with the reason.
    pub fn delete_many(&self, dir: &str, paths: &[String]) -> Result<Vec<String>> {
        let prefix = self.dir_prefix(dir)?;
        let keys = paths
            .iter()
            .map(|p| self.key(dir, p))
            .collect::<Result<Vec<_>>>()?;
        let failures = self
            .client
            .delete_many(&keys)
            .with_context(|| format!("deleting in {dir} on {}", self.describe()))?;
        Ok(failures
            .into_iter()
            .map(|f| {
                let path = f.key.strip_prefix(&prefix).unwrap_or(&f.key);
                format!("{path}: {} {}", f.code, f.message)
            })
            .collect())
    }

    /// Reads the time and mode of listed objects, `HEAD_THREADS` at a time.
    fn entries_of(&self, prefix: &str, objects: Vec<Object>, listing: &mut RemoteListing) {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<(usize, Result<Entry, String>)>> = Mutex::new(Vec::new());
        let threads = HEAD_THREADS.min(objects.len());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(o) = objects.get(i) else { return };
                        let r = self.entry_of(prefix, o);
                        results.lock().expect("no panics while locked").push((i, r));
                    }
                });
            }
        });
        let mut results = results.into_inner().expect("no panics while locked");
        results.sort_by_key(|(i, _)| *i);
        for (_, r) in results {
            match r {
                Ok(e) => listing.entries.push(e),
                Err(p) => listing.problems.push(p),
            }
        }
    }

    fn entry_of(&self, prefix: &str, o: &Object) -> Result<Entry, String> {
        let path = o.key[prefix.len()..].to_string();
        let head = self.client.head(&o.key).map_err(|e| {
            format!(
                "s3://{}/{}: cannot read its metadata: {e}",
                self.client.config().bucket,
                o.key
            )
        })?;
        let mtime_ns = head
            .metadata
            .get(meta::MTIME)
            .and_then(|v| meta::parse_mtime(v))
            .or(o.last_modified_ns)
            .or(head.last_modified_ns)
            .ok_or_else(|| format!("{}: no modification time", o.key))?;
        Ok(Entry {
            path,
            size: o.size,
            mtime_ns,
            mode: head
                .metadata
                .get(meta::MODE)
                .and_then(|v| meta::parse_mode(v)),
        })
    }
}

impl Remote for S3Remote {
    /// Checks the credentials and the bucket, as `poof verify` does; returns
    /// what it found, in words, or an error saying what is wrong.
    fn verify(&self) -> Result<Vec<String>> {
        let mut found = vec![
            format!("remote: {}", self.describe()),
            format!("credentials: {}", self.source),
        ];
        self.check_ready()?;
        found.push("the bucket answers and the credentials work".into());
        Ok(found)
    }

    fn describe(&self) -> String {
        let d = self.client.describe();
        if self.prefix.is_empty() {
            d
        } else {
            format!("{d}/{}", self.prefix)
        }
    }

    fn mtime_window_ns(&self) -> u64 {
        // rclone's `mtime` metadata keeps nanoseconds.
        1
    }

    fn check_ready(&self) -> Result<()> {
        self.client
            .check_bucket()
            .with_context(|| format!("cannot use {}", self.describe()))
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        if let Some(c) = &self.crypt {
            return self.sealed_list(c, dir);
        }
        let prefix = self.dir_prefix(dir)?;
        let objects = self.client.list(&prefix, 1000)?;
        let mut listing = RemoteListing {
            exists: !objects.is_empty(),
            ..RemoteListing::default()
        };
        let mut files = Vec::new();
        for o in objects {
            let rel = &o.key[prefix.len()..];
            if rel.is_empty() || (rel.ends_with('/') && o.size == 0) {
                // A folder marker, as web consoles make; rclone ignores them too.
                continue;
            }
            if let Err(why) = poof_guest::paths::check(rel) {
                listing.skipped.push(format!(
                    "s3://{}/{} (not a usable path: {why})",
                    self.client.config().bucket,
                    o.key
                ));
                continue;
            }
            files.push(o);
        }
        // S3 can hold both `a` and `a/b`; a file system cannot. The folder wins.
        let all: BTreeSet<&str> = files.iter().map(|o| &o.key[prefix.len()..]).collect();
        let mut folders = BTreeSet::new();
        for p in &all {
            let mut rest = *p;
            while let Some((parent, _)) = rest.rsplit_once('/') {
                if !folders.insert(parent.to_string()) {
                    break;
                }
                rest = parent;
            }
        }
        let (shadowed, files): (Vec<Object>, Vec<Object>) = files
            .into_iter()
            .partition(|o| folders.contains(&o.key[prefix.len()..]));
        for o in shadowed {
            listing.skipped.push(format!(
                "s3://{}/{} (both a file and a folder in the bucket; the folder's files are used)",
                self.client.config().bucket,
                o.key
            ));
        }
        let files = self.apply_manifest(dir, &prefix, files, &mut listing)?;
        let etags: HashMap<String, String> = files
            .iter()
            .map(|o| {
                (
                    o.key[prefix.len()..].to_string(),
                    o.etag.clone().unwrap_or_default(),
                )
            })
            .collect();
        let known = listing.entries.len();
        self.entries_of(&prefix, files, &mut listing);
        let read: Vec<Stored> = listing.entries[known..]
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
        if let Some(c) = &self.crypt {
            return self.sealed_upload(c, dir, entry, src);
        }
        let key = self.key(dir, &entry.path)?;
        // Checked before opening: opening a named pipe would block.
        let m = std::fs::metadata(src).with_context(|| format!("reading {}", src.display()))?;
        if !m.is_file() {
            bail!("{} is not a regular file", src.display());
        }
        let file = File::open(src).with_context(|| format!("opening {}", src.display()))?;
        check_unchanged(src, &file, entry)?;
        let file = Arc::new(file);
        let mut metadata = Metadata::new();
        metadata.insert(meta::MTIME.into(), meta::format_mtime(entry.mtime_ns));
        if let Some(mode) = entry.mode {
            metadata.insert(meta::MODE.into(), meta::format_mode(mode));
        }
        let put = self
            .client
            .put_file(&key, file.clone(), src, entry.size, &metadata)
            .with_context(|| format!("uploading to {}", self.describe()))?;
        check_unchanged(src, &file, entry)?;
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
        if let Some(c) = &self.crypt {
            return self.sealed_download(c, dir, entry, local_root);
        }
        let key = self.key(dir, &entry.path)?;
        let dest = local_root.join(&entry.path);
        fsx::write_atomically(local_root, entry, |out| {
            let n = self
                .client
                .get_to_file(&key, out, &dest)
                .map_err(std::io::Error::other)?;
            if n != entry.size {
                return Err(std::io::Error::other(format!(
                    "s3://{}/{key} has {n} bytes, not the {} it was listed with; it changed during the run, run poof again",
                    self.client.config().bucket,
                    entry.size
                )));
            }
            Ok(())
        })
        .with_context(|| format!("downloading from {}", self.describe()))
    }

    fn set_mode(&self, dir: &str, entry: &Entry) -> Result<()> {
        if let Some(c) = &self.crypt {
            return c.set_mode(dir, entry);
        }
        let key = self.key(dir, &entry.path)?;
        let head = self.client.head(&key)?;
        let mut metadata = head.metadata;
        // Kept as stored; written from the entry when the object had none.
        metadata
            .entry(meta::MTIME.into())
            .or_insert_with(|| meta::format_mtime(entry.mtime_ns));
        match entry.mode {
            Some(mode) => metadata.insert(meta::MODE.into(), meta::format_mode(mode)),
            None => metadata.remove(meta::MODE),
        };
        self.client
            .replace_metadata(&key, &metadata)
            .with_context(|| format!("setting permissions on {}", self.describe()))?;
        // The copy may have a new ETag: the next listing reads it again.
        self.record(dir, |r| {
            r.dirty = true;
            r.files.remove(&entry.path);
        });
        Ok(())
    }

    fn delete(&self, dir: &str, path: &str) -> Result<()> {
        if let Some(c) = &self.crypt {
            return self.sealed_delete(c, dir, path);
        }
        let key = self.key(dir, path)?;
        self.client
            .delete(&key)
            .with_context(|| format!("deleting from {}", self.describe()))?;
        self.record(dir, |r| {
            r.dirty = true;
            r.files.remove(path);
        });
        Ok(())
    }

    /// Streams the object through SHA-256 (the client also checks its MD5
    /// on the way); a transfer that breaks off is tried again from the start.
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        if let Some(c) = &self.crypt {
            return self.sealed_sha256(c, dir, path);
        }
        use sha2::{Digest, Sha256};
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.update(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let key = self.key(dir, path)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut h = Hashing(Sha256::new());
            match self.client.get(&key, &mut h) {
                Ok(_) => return Ok(Some(h.0.finalize().into())),
                Err(s3::Error::NoSuchKey { .. }) => return Ok(None),
                Err(e) if attempt < 3 && matches!(e.root(), s3::Error::BadResponse { .. }) => {}
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("reading back s3://{}/{key}", self.client.config().bucket)
                    });
                }
            }
        }
    }

    /// The `sha256` user metadata written with the object (one HEAD).
    fn stored_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        if let Some(c) = &self.crypt {
            // Encrypted objects carry no metadata: read back and open.
            return self.sealed_sha256(c, dir, path);
        }
        let key = self.key(dir, path)?;
        let object = format!("s3://{}/{key}", self.client.config().bucket);
        let head = match self.client.head(&key) {
            Ok(h) => h,
            Err(s3::Error::NoSuchKey { .. }) => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading the metadata of {object}")),
        };
        let Some(hex) = head.metadata.get(s3::SHA256_META) else {
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
        Some(self.client.requests())
    }

    fn read_reserved(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read_reserved_object(name)
    }

    fn write_reserved(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.write_reserved_object(name, bytes)
    }

    fn finish(&self, dir: &str) -> Result<()> {
        if let Some(c) = &self.crypt {
            return self.sealed_finish(c, dir);
        }
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
        let key = self.manifest_key(dir)?;
        self.client
            .put_bytes(&key, bytes)
            .with_context(|| format!("writing the manifest of {dir} to {}", self.describe()))?;
        records.dirty = false;
        Ok(())
    }
}

impl S3Remote {
    /// Takes from the manifest of `dir` the entries it vouches for (into
    /// `listing`), and returns the objects whose metadata must still be read.
    fn apply_manifest(
        &self,
        dir: &str,
        prefix: &str,
        files: Vec<Object>,
        listing: &mut RemoteListing,
    ) -> Result<Vec<Object>> {
        let Some(m) = &self.manifests else {
            return Ok(files);
        };
        let key = self.manifest_key(dir)?;
        let bytes = match self.client.get_bytes(&key) {
            Ok(b) => b,
            Err(s3::Error::NoSuchKey { .. }) => Vec::new(),
            Err(e) => {
                return Err(e).with_context(|| format!("reading the manifest of {dir}"));
            }
        };
        let listed: Vec<Listed> = files
            .iter()
            .map(|o| Listed {
                path: o.key[prefix.len()..].to_string(),
                size: o.size,
                etag: o.etag.clone().unwrap_or_default(),
            })
            .collect();
        let mut m = m.lock().expect("no thread panics holding the manifests");
        let r = m.guest.manifest_reconcile(&bytes, &listed)?;
        if let Some(problem) = &r.problem {
            listing.skipped.push(format!(
                "the manifest s3://{}/{key} ({problem}); it is rebuilt from the listing",
                self.client.config().bucket
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

/// Fails when `src` no longer has the entry's size and modification time.
fn check_unchanged(src: &Path, file: &File, entry: &Entry) -> Result<()> {
    let m = file
        .metadata()
        .with_context(|| format!("reading {}", src.display()))?;
    let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
    if m.len() != entry.size || mtime != entry.mtime_ns {
        bail!(
            "{} changed while poof was copying it; it was not copied, run poof again",
            src.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::{Config, Credentials};

    fn remote(prefix: &str) -> S3Remote {
        let c = Config::new(
            Endpoint::parse("http://127.0.0.1:9").unwrap(),
            "garage",
            "bkt",
            Credentials {
                access_key_id: "GK1".into(),
                secret_access_key: "s".into(),
                session_token: None,
            },
        );
        S3Remote::new(Client::new(c).unwrap(), prefix, "test")
    }

    #[test]
    fn keys_follow_the_poof_1x_layout() {
        let r = remote("");
        assert_eq!(r.key("Documents", "a/b.txt").unwrap(), "Documents/a/b.txt");
        let r = remote("/backups/laptop/");
        assert_eq!(
            r.key("Documents", "a/b.txt").unwrap(),
            "backups/laptop/Documents/a/b.txt"
        );
        assert_eq!(r.describe(), "http://127.0.0.1:9/bkt/backups/laptop");
        assert!(r.key("Documents", "../x").is_err());
        assert!(r.key("../Documents", "x").is_err());
        assert!(r.key("Documents", "/x").is_err());
    }
}
