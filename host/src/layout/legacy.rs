//! poof 1.x's encrypted layout, read only: an rclone `crypt` section over an
//! S3 bucket (docs/RCLONE-CRYPT.md). Each file is the object `ENC(CLOUD/REL)`
//! holding rclone's secretbox blocks, with its modification time in the
//! plain `mtime` metadata rclone writes.
//!
//! The passwords, the keys, the names and the content are the guest's
//! (wit/legacy.wit): it decides which listed objects are files (names that
//! do not decrypt are skipped, as rclone skips them) and authenticates each
//! block. This file moves bytes between the store, the guest and local files.
//!
//! Invariants: nothing is ever written to the store, and nothing deleted
//! but what `poof migrate --delete-old` removes once its new copy read back
//! equal (poof writes its own format; `poof migrate` moves a tree to it); a restore
//! writes only authenticated plaintext into a temporary file, renamed into
//! place only once the whole object was read, so a tampered or truncated
//! object leaves the user's file as it was.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};

use crate::cloudconf::CryptConf;
use crate::crypt::describe;
use crate::engine::legacy::{CryptSection, DataLayout, Stored};
use crate::engine::pool::Pool as Instances;
use crate::engine::sync::Entry;
use crate::engine::{Handle, Instance};
use crate::exit::ConfigError;
use crate::fsx;
use crate::remote::{Remote, RemoteListing};
use crate::store::{ObjectInfo, Store};

use super::plain::meta;

/// An rclone crypt section's tree in a store, read through the guest.
pub struct LegacyRemote {
    store: Arc<dyn Store>,
    name: String,
    layout: DataLayout,
    keys: Keys,
    /// Per cloud folder, the object of each file of the last listing.
    listed: Mutex<HashMap<String, Objects>>,
}

/// A folder's files: each path's object key and stored size.
type Objects = HashMap<String, (String, u64)>;

/// Guest instances with the section's keys derived in them (one scrypt run
/// each), at most one per core, lent one at a time.
struct Keys {
    instances: &'static Instances,
    section: CryptSection,
    max: usize,
    pool: Mutex<(Vec<(Instance, Handle)>, usize)>,
    freed: Condvar,
}

impl Keys {
    fn derive(&self) -> Result<(Instance, Handle)> {
        let mut inst = self.instances.take()?;
        let key = inst
            .legacy_open(&self.section)?
            .map_err(|e| ConfigError(describe(&e)))?;
        Ok((inst, key))
    }

    /// Runs `f` with an instance that holds the keys.
    fn with<T>(&self, f: impl FnOnce(&mut Instance, &Handle) -> Result<T>) -> Result<T> {
        let mut unlocked = {
            let mut pool = self
                .pool
                .lock()
                .expect("no panics while the pool is locked");
            loop {
                if let Some(u) = pool.0.pop() {
                    break Some(u);
                }
                if pool.1 < self.max {
                    pool.1 += 1;
                    break None;
                }
                pool = self
                    .freed
                    .wait(pool)
                    .expect("no panics while the pool is locked");
            }
        };
        if unlocked.is_none() {
            match self.derive() {
                Ok(u) => unlocked = Some(u),
                Err(e) => {
                    self.pool
                        .lock()
                        .expect("no panics while the pool is locked")
                        .1 -= 1;
                    self.freed.notify_one();
                    return Err(e);
                }
            }
        }
        let (mut inst, key) = unlocked.expect("derived above");
        let out = f(&mut inst, &key);
        self.pool
            .lock()
            .expect("no panics while the pool is locked")
            .0
            .push((inst, key));
        self.freed.notify_one();
        out
    }
}

/// The refusal of every write, naming the way out.
fn read_only(name: &str) -> anyhow::Error {
    ConfigError(format!(
        "[{name}] is poof 1.x's rclone crypt remote, which poof reads but does not write: rclone \
         crypt does not notice a file cut at a block boundary and does not bind content to names. \
         Run `poof migrate` to move your files to poof's own encrypted format (docs/USAGE.md, \
         \"Coming from poof 1.x\")"
    ))
    .into()
}

impl LegacyRemote {
    /// The crypt section `conf` over `store`; derives its keys in a first
    /// instance at once, so a wrong or missing password is said before
    /// anything else happens.
    pub fn new(
        store: Arc<dyn Store>,
        conf: &CryptConf,
        instances: &'static Instances,
    ) -> Result<Self> {
        let opt = |k: &str| conf.options.get(k).cloned();
        let section = CryptSection {
            name: conf.name.clone(),
            password: opt("password"),
            password2: opt("password2"),
            filename_encryption: opt("filename_encryption"),
            directory_name_encryption: opt("directory_name_encryption"),
            filename_encoding: opt("filename_encoding"),
            suffix: opt("suffix"),
            no_data_encryption: opt("no_data_encryption"),
        };
        let max = std::thread::available_parallelism().map_or(2, |n| n.get());
        let keys = Keys {
            instances,
            section,
            max,
            pool: Mutex::new((Vec::new(), 0)),
            freed: Condvar::new(),
        };
        let first = keys.derive()?;
        let layout = {
            let (mut inst, key) = first;
            let layout = inst.legacy_data_layout(&key)?;
            *keys.pool.lock().expect("not shared yet") = (vec![(inst, key)], 1);
            layout
        };
        Ok(LegacyRemote {
            store,
            name: conf.name.clone(),
            layout,
            keys,
            listed: Mutex::new(HashMap::new()),
        })
    }

    /// The object key and stored size of `dir/path`, from the last listing.
    fn object(&self, dir: &str, path: &str) -> Result<(String, u64)> {
        self.listed
            .lock()
            .expect("no panics while the listing is locked")
            .get(dir)
            .and_then(|files| files.get(path))
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "{dir}/{path} was not in this run's listing of [{}]",
                    self.name
                )
            })
    }

    /// Deletes the object of `dir/path` (of the last listing): only `poof
    /// migrate --delete-old` does, once the guest's wipe policy allowed it.
    pub fn remove(&self, dir: &str, path: &str) -> Result<()> {
        let (key, _) = self.object(dir, path)?;
        self.store
            .delete(&key)
            .with_context(|| format!("deleting {}", self.store.show(&key)))
    }

    /// The modification time of an object: rclone's `mtime` metadata, else
    /// the store's own time.
    fn mtime_of(&self, o: &ObjectInfo) -> Result<i64, String> {
        let read;
        let o = match &o.user {
            Some(_) => o,
            None => {
                read = self.store.head(&o.key).map_err(|e| format!("{e:#}"))?;
                &read
            }
        };
        o.user
            .as_ref()
            .and_then(|u| u.get(meta::MTIME))
            .and_then(|v| meta::parse_mtime(v))
            .or(o.mtime_ns)
            .ok_or_else(|| format!("{}: no modification time", self.store.show(&o.key)))
    }

    /// Streams the object of `dir/path` through the guest into `out`;
    /// returns how many plaintext bytes were written.
    fn decrypt_into(&self, dir: &str, path: &str, out: &mut dyn Write) -> Result<u64> {
        let (key, stored_size) = self.object(dir, path)?;
        let shown = format!("{dir}/{path} ({})", self.store.show(&key));
        self.keys
            .with(|inst, crypt_key| {
                let mut d = Decrypting {
                    inst,
                    key: crypt_key,
                    layout: &self.layout,
                    stored_size,
                    buf: Vec::with_capacity(self.layout.block_size as usize),
                    reader: None,
                    received: 0,
                    written: 0,
                    out,
                };
                let got = self.store.get(&key, &mut d);
                let result = match got {
                    Ok(_) => d.finish(),
                    Err(e) => Err(anyhow::Error::from(e)),
                };
                if let Some(r) = d.reader.take() {
                    let _ = d.inst.drop_handle(r);
                }
                result
            })
            .with_context(|| format!("reading {shown}"))
    }
}

/// A writer that takes an object's bytes as the store delivers them and
/// writes the plaintext of each authenticated block to `out`.
struct Decrypting<'a> {
    inst: &'a mut Instance,
    key: &'a Handle,
    layout: &'a DataLayout,
    stored_size: u64,
    buf: Vec<u8>,
    reader: Option<Handle>,
    received: u64,
    written: u64,
    out: &'a mut dyn Write,
}

impl Decrypting<'_> {
    /// Opens the header or the block in `buf`.
    fn take(&mut self, last: bool) -> Result<()> {
        let Some(reader) = &self.reader else {
            let r = self
                .inst
                .legacy_reader(self.key, &self.buf, self.stored_size)?
                .map_err(|e| anyhow!(describe(&e)))?;
            self.reader = Some(r);
            self.buf.clear();
            return Ok(());
        };
        let plain = self
            .inst
            .legacy_open_block(reader, &self.buf, last)?
            .map_err(|e| anyhow!(describe(&e)))?;
        self.out.write_all(&plain)?;
        self.written += plain.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Bytes the part in `buf` needs to be whole.
    fn wanted(&self) -> usize {
        match self.reader {
            None => self.layout.header_size as usize,
            Some(_) => self.layout.block_size as usize,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) -> Result<()> {
        self.received += bytes.len() as u64;
        if self.received > self.stored_size {
            bail!(
                "the object is longer than it was listed; it changed during the run, run poof again"
            );
        }
        while !bytes.is_empty() {
            let n = (self.wanted() - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == self.wanted() {
                let last =
                    self.reader.is_some() && self.received == self.stored_size && bytes.is_empty();
                self.take(last)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<u64> {
        if self.received != self.stored_size {
            bail!(
                "the object has {} bytes, not the {} it was listed with; it changed during the run, run poof again",
                self.received,
                self.stored_size
            );
        }
        // A header shorter than a header: the guest says what is wrong.
        if self.reader.is_none() || !self.buf.is_empty() {
            self.take(true)?;
        }
        let reader = self.reader.as_ref().expect("the header was taken");
        self.inst
            .legacy_finish(reader, self.written)?
            .map_err(|e| anyhow!(describe(&e)))?;
        Ok(self.written)
    }
}

impl Write for Decrypting<'_> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.feed(b)
            .map_err(|e| io::Error::other(format!("{e:#}")))?;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Remote for LegacyRemote {
    fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn describe(&self) -> String {
        format!(
            "rclone crypt [{}] over {}",
            self.name,
            self.store.describe()
        )
    }

    fn mtime_window_ns(&self) -> u64 {
        self.store.time_precision_ns()
    }

    fn check_writable(&self) -> Result<()> {
        Err(read_only(&self.name))
    }

    fn list(&self, dir: &str) -> Result<RemoteListing> {
        let prefix = self.keys.with(|inst, key| {
            inst.legacy_encrypt_path(key, dir)?
                .map_err(|e| anyhow!(describe(&e)))
        })? + "/";
        let listing = self
            .store
            .list(&prefix)
            .with_context(|| format!("listing {}", self.store.show(&prefix)))?;
        let stored: Vec<Stored> = listing
            .objects
            .iter()
            .map(|o| Stored {
                key: o.key.strip_prefix(&prefix).unwrap_or(&o.key).to_string(),
                size: o.size,
            })
            .collect();
        let read = self
            .keys
            .with(|inst, key| inst.legacy_read_listing(key, &stored))?;
        let by_key: HashMap<&str, &ObjectInfo> = listing
            .objects
            .iter()
            .map(|o| (o.key.strip_prefix(&prefix).unwrap_or(&o.key), o))
            .collect();
        let objects =
            read.files
                .iter()
                .map(|f| {
                    by_key.get(f.key.as_str()).copied().ok_or_else(|| {
                        anyhow!("the guest named an object it was not given: {}", f.key)
                    })
                })
                .collect::<Result<Vec<&ObjectInfo>>>()?;
        let times = crate::pool::map(&objects, crate::knobs::checkers(), |o| self.mtime_of(o));
        let mut out = RemoteListing {
            exists: listing.exists,
            entries: Vec::with_capacity(read.files.len()),
            problems: listing.problems,
            skipped: listing.skipped,
        };
        out.skipped.extend(read.skipped);
        let mut files = HashMap::with_capacity(read.files.len());
        for ((f, o), time) in read.files.iter().zip(&objects).zip(times) {
            match time {
                Ok(mtime_ns) => {
                    out.entries.push(Entry {
                        path: f.path.clone(),
                        size: f.size,
                        mtime_ns,
                        mode: None,
                    });
                    files.insert(f.path.clone(), (o.key.clone(), o.size));
                }
                Err(why) => out.problems.push(why),
            }
        }
        self.listed
            .lock()
            .expect("no panics while the listing is locked")
            .insert(dir.to_string(), files);
        Ok(out)
    }

    fn upload(&self, _dir: &str, _entry: &Entry, _src: &Path) -> Result<()> {
        Err(read_only(&self.name))
    }

    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()> {
        fsx::write_atomically(local_root, entry, |file| {
            let n = self
                .decrypt_into(dir, &entry.path, &mut fsx::Writeback::new(file))
                .map_err(|e| io::Error::other(format!("{e:#}")))?;
            if n != entry.size {
                return Err(io::Error::other(format!(
                    "{dir}/{} gave {n} bytes, not the {} it was listed with; run poof again",
                    entry.path, entry.size
                )));
            }
            Ok(())
        })
        .with_context(|| format!("downloading from {}", self.describe()))
    }

    fn set_mode(&self, _dir: &str, _entry: &Entry) -> Result<()> {
        Err(read_only(&self.name))
    }

    fn delete(&self, _dir: &str, _path: &str) -> Result<()> {
        Err(read_only(&self.name))
    }

    /// Decrypts the object in full and hashes the plaintext: rclone crypt
    /// keeps no hash of it.
    fn read_sha256(&self, dir: &str, path: &str) -> Result<Option<[u8; 32]>> {
        struct Hashing(Sha256);
        impl Write for Hashing {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.update(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        if self.object(dir, path).is_err() {
            return Ok(None);
        }
        let mut h = Hashing(Sha256::new());
        self.decrypt_into(dir, path, &mut h)?;
        Ok(Some(h.0.finalize().into()))
    }

    fn finish(&self, _dir: &str) -> Result<()> {
        Ok(())
    }

    fn verify(&self) -> Result<Vec<String>> {
        let mut lines = self.store.verify()?;
        lines.push(format!(
            "rclone crypt section [{}]: its passwords reveal and its keys derive; poof reads it \
             (download, check) and does not write it (`poof migrate` moves it to poof's format)",
            self.name
        ));
        Ok(lines)
    }
}
