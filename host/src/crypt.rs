//! Client-side encryption, host side: a pool of guest instances that hold the
//! unlocked master key, and the streaming adapters and listing logic both
//! remotes share for the encrypted layout (docs/FORMAT.md).
//!
//! Invariants:
//! - the master key never leaves the guest: the host holds only handles to
//!   keyrings inside instances, and the passphrase (in `Zeroizing`, so it is
//!   wiped when the `Crypt` goes) to unlock further instances;
//! - at most one unlocked instance per CPU core exists (each keeps Argon2id's
//!   32 MiB), and a thread never holds two leases at once, so the pool cannot
//!   deadlock;
//! - no plaintext name reaches the remote: objects are stored under
//!   `encrypt-path("CLOUD/REL")`, manifests under `.poof/manifests/E(CLOUD).bin`;
//! - only authenticated plaintext is written, and a download is accepted only
//!   when the SHA-256 of what was written matches the header, and the
//!   object id matches the manifest's record when there is one.

pub mod keys;
mod list;

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Condvar, Mutex};

use anyhow::{Result, anyhow};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use list::Raw;

use crate::engine::crypto::{FileMeta, FormatInfo};
use crate::engine::manifest::Stored;
use crate::engine::{Guest, GuestError, Handle, Instance};
use crate::exit::ConfigError;

/// The folder, under a remote's root or prefix, that holds sealed manifests.
pub const MANIFEST_DIR: &str = ".poof/manifests";

/// Sealed objects at most this large are downloaded into memory first, so
/// that a slow transfer does not hold an unlocked instance.
pub const SMALL_OBJECT: u64 = 4 * 1024 * 1024;

/// The unlocked master key of one run, in a small pool of guest instances.
pub struct Crypt {
    guest: &'static Guest,
    wrapped: Vec<u8>,
    passphrase: Zeroizing<Vec<u8>>,
    key_id: String,
    format: FormatInfo,
    max: usize,
    pool: Mutex<Pool>,
    freed: Condvar,
    dirs: Mutex<HashMap<String, Records>>,
}

impl std::fmt::Debug for Crypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crypt")
            .field("key_id", &self.key_id)
            .finish()
    }
}

#[derive(Default)]
struct Pool {
    idle: Vec<Unlocked>,
    live: usize,
}

/// One guest instance with the master key unlocked in it.
pub struct Unlocked {
    inst: Instance,
    key: Handle,
}

/// An unlocked instance borrowed from the pool; it goes back when dropped.
pub struct Lease<'a> {
    crypt: &'a Crypt,
    unlocked: Option<Unlocked>,
}

/// What is known of one cloud folder's encrypted objects in this run.
#[derive(Debug, Default)]
struct Records {
    /// path -> entry, the object's pseudo-ETag and its object id.
    files: BTreeMap<String, Stored>,
    /// path -> the object id the object must carry (the manifest's record,
    /// else the one read from its header while listing).
    ids: HashMap<String, String>,
    /// path -> encrypted path relative to the remote's root, as listed.
    names: HashMap<String, String>,
    /// path -> why its object failed a check while listing.
    bad: BTreeMap<String, String>,
    /// The encrypted name of the cloud folder.
    cloud: Option<String>,
    dirty: bool,
}

/// Words for a refusal of the guest's crypto.
pub fn describe(e: &GuestError) -> String {
    match e {
        GuestError::InvalidInput(m) | GuestError::Refused(m) => m.clone(),
        GuestError::WrongPassphrase => "the passphrase does not open the key".into(),
        GuestError::Tampered(m) => format!("tampered with: {m}"),
        GuestError::Truncated(m) => format!("truncated: {m}"),
        GuestError::WrongName(m) => {
            format!("stored under another name than its own (renamed or swapped): {m}")
        }
        GuestError::UnsupportedFormat(m) => format!("not in a format this poof reads: {m}"),
    }
}

fn fail(e: GuestError) -> anyhow::Error {
    anyhow!(describe(&e))
}

/// Random bytes from the operating system, for the guest's `entropy`.
pub fn entropy() -> Result<Zeroizing<Vec<u8>>> {
    let mut e = Zeroizing::new(vec![0u8; 32]);
    getrandom::fill(&mut e).map_err(|e| anyhow!("cannot get random bytes: {e}"))?;
    Ok(e)
}

impl Crypt {
    /// Unlocks `wrapped` with `passphrase` in a first instance. A wrong
    /// passphrase is a `ConfigError` that names `source` (where the wrapped
    /// key came from).
    pub fn unlock(
        guest: &'static Guest,
        wrapped: Vec<u8>,
        passphrase: Zeroizing<Vec<u8>>,
        source: &str,
    ) -> Result<Self> {
        let mut inst = guest.instantiate()?;
        let format = inst.crypto_format()?;
        let info = inst
            .inspect_wrapped_key(&wrapped)?
            .map_err(|e| ConfigError(format!("{source}: {}", describe(&e))))?;
        let max = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        let crypt = Crypt {
            guest,
            wrapped,
            passphrase,
            key_id: info.key_id,
            format,
            max,
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
            dirs: Mutex::new(HashMap::new()),
        };
        let first = crypt.unlock_in(inst).map_err(|e| {
            if e.is::<GuestError>() {
                anyhow::Error::from(ConfigError(format!(
                    "{source}: the passphrase does not open this key (key id {}); check it and try again",
                    crypt.key_id
                )))
            } else {
                e
            }
        })?;
        let mut pool = crypt.pool.lock().expect("no panics while locked");
        pool.idle.push(first);
        pool.live = 1;
        drop(pool);
        Ok(crypt)
    }

    fn unlock_in(&self, mut inst: Instance) -> Result<Unlocked> {
        let key = inst.keyring_unlock(&self.wrapped, &self.passphrase)??;
        Ok(Unlocked { inst, key })
    }

    /// The master key's id, in hex.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The format's fixed numbers.
    pub fn format(&self) -> &FormatInfo {
        &self.format
    }

    /// Borrows an unlocked instance, unlocking a new one while there are
    /// fewer than one per core, else waiting for one to come back.
    pub fn lease(&self) -> Result<Lease<'_>> {
        let mut pool = self.pool.lock().expect("no panics while locked");
        loop {
            if let Some(u) = pool.idle.pop() {
                return Ok(Lease {
                    crypt: self,
                    unlocked: Some(u),
                });
            }
            if pool.live < self.max {
                pool.live += 1;
                drop(pool);
                let made = self
                    .guest
                    .instantiate()
                    .and_then(|inst| self.unlock_in(inst));
                return match made {
                    Ok(u) => Ok(Lease {
                        crypt: self,
                        unlocked: Some(u),
                    }),
                    Err(e) => {
                        self.pool.lock().expect("no panics while locked").live -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            pool = self.freed.wait(pool).expect("no panics while locked");
        }
    }

    /// The sealed size of a file of `plain` bytes.
    pub fn sealed_size(&self, plain: u64) -> u64 {
        let (seg, tag) = (
            u64::from(self.format.segment_size),
            u64::from(self.format.tag_size),
        );
        u64::from(self.format.header_size) + plain + tag * plain.div_ceil(seg).max(1)
    }

    /// The context a cloud folder's manifest is sealed for.
    fn manifest_context(cloud: &str) -> String {
        format!("manifest:{cloud}")
    }

    /// The encrypted name of a cloud folder (cached per run).
    pub fn cloud_name(&self, cloud: &str) -> Result<String> {
        if let Some(c) = self.with_records(cloud, |r| r.cloud.clone()) {
            return Ok(c);
        }
        let enc = self.lease()?.encrypt_path(cloud)?;
        self.with_records(cloud, |r| r.cloud = Some(enc.clone()));
        Ok(enc)
    }

    /// The reserved name of a cloud folder's sealed manifest.
    pub fn manifest_name(&self, cloud: &str) -> Result<String> {
        Ok(format!("{MANIFEST_DIR}/{}.bin", self.cloud_name(cloud)?))
    }

    /// The encrypted path of `cloud/rel`, relative to the remote's root.
    /// Takes a lease when the name is not known yet: never call it while
    /// holding one.
    pub fn object_name(&self, cloud: &str, rel: &str) -> Result<String> {
        if let Some(n) = self.with_records(cloud, |r| r.names.get(rel).cloned()) {
            return Ok(n);
        }
        let n = self.lease()?.encrypt_path(&format!("{cloud}/{rel}"))?;
        self.with_records(cloud, |r| r.names.insert(rel.to_string(), n.clone()));
        Ok(n)
    }

    fn with_records<T>(&self, cloud: &str, f: impl FnOnce(&mut Records) -> T) -> T {
        let mut dirs = self.dirs.lock().expect("no panics while locked");
        f(dirs.entry(cloud.to_string()).or_default())
    }

    /// Records a successful upload of `entry` as object `id`, whose
    /// (pseudo-)ETag is `etag`.
    pub fn uploaded(
        &self,
        cloud: &str,
        entry: &crate::engine::sync::Entry,
        etag: String,
        id: String,
    ) {
        self.with_records(cloud, |r| {
            r.dirty = true;
            r.bad.remove(&entry.path);
            r.ids.insert(entry.path.clone(), id.clone());
            r.files.insert(
                entry.path.clone(),
                Stored {
                    entry: entry.clone(),
                    etag,
                    object_id: Some(id),
                },
            );
        });
    }

    /// Records the deletion of `cloud/rel`.
    pub fn deleted(&self, cloud: &str, rel: &str) {
        self.with_records(cloud, |r| {
            r.dirty = true;
            r.files.remove(rel);
            r.ids.remove(rel);
            r.bad.remove(rel);
        });
    }

    /// Records new permission bits: on an encrypted remote they live in the
    /// sealed manifest (the header keeps the ones of the upload).
    pub fn set_mode(&self, cloud: &str, entry: &crate::engine::sync::Entry) -> Result<()> {
        self.with_records(cloud, |r| match r.files.get_mut(&entry.path) {
            Some(s) => {
                s.entry.mode = entry.mode;
                r.dirty = true;
                Ok(())
            }
            None => Err(anyhow!(
                "{cloud}/{}: not in this run's listing; run poof again",
                entry.path
            )),
        })
    }

    /// The object id `cloud/rel` must carry, when one is known.
    pub fn expected_id(&self, cloud: &str, rel: &str) -> Option<String> {
        self.with_records(cloud, |r| r.ids.get(rel).cloned())
    }

    /// The sealed manifest of `cloud` when it changed in this run, with its
    /// reserved name; marks it written.
    pub fn manifest_to_write(&self, cloud: &str) -> Result<Option<(String, Vec<u8>)>> {
        let files = self.with_records(cloud, |r| {
            r.dirty
                .then(|| r.files.values().cloned().collect::<Vec<_>>())
        });
        let Some(files) = files else { return Ok(None) };
        let name = self.manifest_name(cloud)?;
        let mut lease = self.lease()?;
        let plain = lease.inst().manifest_encode(&files)?;
        let sealed = lease.seal_blob(&Self::manifest_context(cloud), &plain)?;
        drop(lease);
        self.with_records(cloud, |r| r.dirty = false);
        Ok(Some((name, sealed)))
    }

    /// Starts sealing `src` (the local file behind `entry`) for `cloud`:
    /// hashes it natively, then returns a reader of header and segments,
    /// the object's id and the encrypted name.
    pub fn seal_file<'a, R: Read>(
        &'a self,
        cloud: &str,
        entry: &crate::engine::sync::Entry,
        mut src: R,
        rewind: impl FnOnce(&mut R) -> io::Result<()>,
        name: &Path,
    ) -> Result<Sealing<'a, R>> {
        let sha = crate::fsx::sha256_of(&mut src)
            .map_err(|e| anyhow!("reading {}: {e}", name.display()))?;
        rewind(&mut src).map_err(|e| anyhow!("reading {}: {e}", name.display()))?;
        let object = self.object_name(cloud, &entry.path)?;
        let mut lease = self.lease()?;
        let meta = FileMeta {
            size: entry.size,
            mtime_ns: entry.mtime_ns,
            mode: entry.mode,
            sha256: sha.to_vec(),
        };
        let path = format!("{cloud}/{}", entry.path);
        let e = entropy()?;
        let (sealer, header, id) = {
            let u = lease.unlocked();
            let sealer = u.inst.seal(&u.key, &path, &meta, &e)?.map_err(fail)?;
            let (header, id) = u.inst.sealer_start(&sealer)?;
            (sealer, header, id)
        };
        Ok(Sealing {
            lease,
            sealer: Some(sealer),
            src,
            remaining: entry.size,
            pending: header,
            pos: 0,
            finished: false,
            chunk: vec![0; self.format.segment_size as usize],
            name: name.display().to_string(),
            id,
            object,
        })
    }

    /// An opening writer for the object of `cloud/rel`, writing plaintext to
    /// `out`. `what` names the object in messages.
    pub fn open_into<W: Write>(&self, cloud: &str, rel: &str, out: W) -> Result<Opening<'_, W>> {
        Ok(Opening {
            lease: self.lease()?,
            path: format!("{cloud}/{rel}"),
            opener: None,
            meta: None,
            id: String::new(),
            buf: Vec::new(),
            index: 0,
            segments: 1,
            out,
            hasher: Sha256::new(),
            written: 0,
        })
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(u) = self.unlocked.take() {
            self.crypt
                .pool
                .lock()
                .expect("no panics while locked")
                .idle
                .push(u);
            self.crypt.freed.notify_one();
        }
    }
}

impl Lease<'_> {
    fn unlocked(&mut self) -> &mut Unlocked {
        self.unlocked.as_mut().expect("a lease holds its instance")
    }

    /// The instance, for calls that need no key (manifests).
    pub fn inst(&mut self) -> &mut Instance {
        &mut self.unlocked().inst
    }

    /// Encrypts a relative path.
    pub fn encrypt_path(&mut self, path: &str) -> Result<String> {
        let u = self.unlocked();
        u.inst
            .encrypt_path(&u.key, path)?
            .map_err(|e| anyhow!("{path:?} cannot be encrypted: {}", describe(&e)))
    }

    /// Decrypts an encrypted path; the guest's refusal is kept apart.
    pub fn decrypt_path(&mut self, enc: &str) -> Result<Result<String, GuestError>> {
        let u = self.unlocked();
        u.inst.decrypt_path(&u.key, enc)
    }

    /// Seals a blob for `context`.
    pub fn seal_blob(&mut self, context: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let e = entropy()?;
        let u = self.unlocked();
        u.inst.seal_blob(&u.key, context, plain, &e)?.map_err(fail)
    }

    /// Opens a blob sealed for `context`.
    pub fn open_blob(&mut self, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let u = self.unlocked();
        u.inst.open_blob(&u.key, context, sealed)?.map_err(fail)
    }

    /// Authenticates the header of the object of `path` (`CLOUD/REL`) and
    /// returns its metadata and object id.
    pub fn header_meta(&mut self, path: &str, header: &[u8]) -> Result<(FileMeta, String)> {
        let u = self.unlocked();
        let opener = u.inst.open(&u.key, path, header)?.map_err(fail)?;
        let r = u.inst.opener_meta(&opener);
        u.inst.drop_handle(opener)?;
        r
    }
}

/// A `Read` of one file sealed: its header, then its segments.
pub struct Sealing<'a, R: Read> {
    lease: Lease<'a>,
    sealer: Option<Handle>,
    src: R,
    remaining: u64,
    pending: Vec<u8>,
    pos: usize,
    finished: bool,
    chunk: Vec<u8>,
    name: String,
    /// The object id, for the manifest.
    pub id: String,
    /// The encrypted path, relative to the remote's root.
    pub object: String,
}

impl<R: Read> Read for Sealing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.pending.len() {
            if self.finished {
                return Ok(0);
            }
            self.next_segment()?;
        }
        let n = buf.len().min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R: Read> Sealing<'_, R> {
    fn next_segment(&mut self) -> io::Result<()> {
        let changed = |name: &str| {
            io::Error::other(format!(
                "{name} changed while poof was reading it; it was not copied, run poof again"
            ))
        };
        let want = self.chunk.len().min(self.remaining as usize);
        let got = crate::fsx::read_full(&mut self.src, &mut self.chunk[..want])?;
        if got < want {
            return Err(changed(&self.name));
        }
        self.remaining -= want as u64;
        let last = self.remaining == 0;
        if last && crate::fsx::read_full(&mut self.src, &mut [0u8; 1])? != 0 {
            return Err(changed(&self.name));
        }
        let sealer = self
            .sealer
            .as_ref()
            .expect("a sealing reader holds its sealer");
        let u = self.lease.unlocked();
        let sealed = u
            .inst
            .seal_segment(sealer, &self.chunk[..want], last)
            .map_err(|e| io::Error::other(format!("{e:#}")))?
            .map_err(|e| io::Error::other(format!("{}: {}", self.name, describe(&e))))?;
        self.pending = sealed;
        self.pos = 0;
        self.finished = last;
        Ok(())
    }
}

impl<R: Read> Drop for Sealing<'_, R> {
    fn drop(&mut self) {
        if let Some(s) = self.sealer.take() {
            let _ = self.lease.unlocked().inst.drop_handle(s);
        }
    }
}

/// A `Write` that takes an object's bytes and writes its authenticated
/// plaintext to `out`; `finish` checks the end, the length and the SHA-256.
pub struct Opening<'a, W: Write> {
    lease: Lease<'a>,
    path: String,
    opener: Option<Handle>,
    meta: Option<FileMeta>,
    id: String,
    buf: Vec<u8>,
    index: u64,
    segments: u64,
    out: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Opening<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        self.pump()
            .map_err(|e| io::Error::other(format!("{e:#}")))?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> Opening<'_, W> {
    fn full_segment(&self) -> usize {
        (self.format().segment_size + self.format().tag_size) as usize
    }

    fn format(&self) -> &FormatInfo {
        &self.lease.crypt.format
    }

    fn pump(&mut self) -> Result<()> {
        if self.opener.is_none() {
            let hs = self.format().header_size as usize;
            if self.buf.len() < hs {
                return Ok(());
            }
            self.start(hs)?;
        }
        let full = self.full_segment();
        while self.index + 1 < self.segments && self.buf.len() >= full {
            self.segment(full, false)?;
        }
        if self.index + 1 == self.segments && self.buf.len() > full {
            // More than the last segment can hold: let the guest say so.
            let n = self.buf.len();
            self.segment(n, true)?;
        }
        Ok(())
    }

    fn start(&mut self, hs: usize) -> Result<()> {
        let seg = u64::from(self.format().segment_size);
        let u = self.lease.unlocked();
        let opener = u
            .inst
            .open(&u.key, &self.path, &self.buf[..hs.min(self.buf.len())])?
            .map_err(fail)?;
        let (meta, id) = u.inst.opener_meta(&opener)?;
        self.opener = Some(opener);
        self.segments = meta.size.div_ceil(seg).max(1);
        self.meta = Some(meta);
        self.id = id;
        self.buf.drain(..hs);
        Ok(())
    }

    fn segment(&mut self, len: usize, last: bool) -> Result<()> {
        let opener = self.opener.as_ref().expect("started");
        let u = self
            .lease
            .unlocked
            .as_mut()
            .expect("a lease holds its instance");
        let plain = u
            .inst
            .open_segment(opener, &self.buf[..len], last)?
            .map_err(fail)?;
        self.buf.drain(..len);
        self.index += 1;
        self.hasher.update(&plain);
        self.written += plain.len() as u64;
        self.out.write_all(&plain)?;
        Ok(())
    }

    /// Ends the object: opens the last segment, then checks the length and
    /// the SHA-256 against the header. Returns the header's metadata and
    /// the object id.
    pub fn finish(mut self) -> Result<(FileMeta, String)> {
        if self.opener.is_none() {
            let hs = self.format().header_size as usize;
            self.start(hs)?;
        }
        let n = self.buf.len();
        self.segment(n, true)?;
        self.out.flush()?;
        let meta = self.meta.clone().expect("started");
        let sha = std::mem::take(&mut self.hasher).finalize();
        if self.written != meta.size || sha[..] != meta.sha256[..] {
            anyhow::bail!("its content does not match the SHA-256 in its header; it was altered");
        }
        Ok((meta, std::mem::take(&mut self.id)))
    }
}

impl<W: Write> Drop for Opening<'_, W> {
    fn drop(&mut self) {
        if let Some(o) = self.opener.take()
            && let Some(u) = self.lease.unlocked.as_mut()
        {
            let _ = u.inst.drop_handle(o);
        }
    }
}

/// Fails, naming the object and what is wrong with it, when `cloud/rel`
/// failed a check while listing (a download then leaves the file alone).
pub fn check_listed(crypt: &Crypt, cloud: &str, rel: &str) -> Result<()> {
    match crypt.with_records(cloud, |r| r.bad.get(rel).cloned()) {
        Some(why) => Err(anyhow!("{why}")),
        None => Ok(()),
    }
}

/// Checks a downloaded object's id against the one it must carry.
pub fn check_id(crypt: &Crypt, cloud: &str, rel: &str, id: &str, object: &str) -> Result<()> {
    match crypt.expected_id(cloud, rel) {
        Some(want) if want != id => Err(anyhow!(
            "{object}: its object id {id} is not the {want} the manifest records: an older \
             version was put back (replayed), or the manifest is stale; it was not restored. \
             Run `poof backup` from the machine that holds the files to rewrite it"
        )),
        _ => Ok(()),
    }
}
