//! Client-side encryption, host side: a pool of guest instances that hold the
//! unlocked master key, and the streaming adapters that feed the guest a
//! file's segments (docs/FORMAT.md). What a sealed listing means is the
//! guest session's decision (`crate::layout::session`).
//!
//! Invariants:
//! - the key is unlocked once per run (one Argon2id run), and the
//!   passphrase is dropped right after; further instances adopt the key
//!   from the first through the guest (`keyring.handoff`/`adopt`). The host
//!   holds only handles to keyrings inside instances, plus the handoff and
//!   its one-time transfer key (in `Zeroizing`, wiped when the `Crypt`
//!   goes), which, like the passphrase they replace, could recover the key
//!   from this process's memory and are never written anywhere;
//! - at most one unlocked instance per CPU core exists, and a thread never
//!   holds two leases at once, so the pool cannot deadlock;
//! - only authenticated plaintext is written, and a download is accepted only
//!   when the SHA-256 of what was written matches the header;
//! - a file is read once to seal it: the guest hashes what it seals and
//!   gives the header, which holds that hash, only after the last segment,
//!   and only when the file's size and time are still the plan's (the
//!   store then writes it at offset 0 last, `Body::HeadLast`).

pub mod keys;

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Condvar, Mutex};

use anyhow::{Result, anyhow};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::engine::crypto::{FileMeta, FileStat, FormatInfo};
use crate::engine::pool::Pool as Instances;
use crate::engine::{GuestError, Handle, Instance};
use crate::exit::ConfigError;
use crate::store::{HeadLast, Unchanged};

/// Sealed objects at most this large are downloaded into memory first, so
/// that a slow transfer does not hold an unlocked instance.
pub const SMALL_OBJECT: u64 = 4 * 1024 * 1024;

/// The unlocked master key of one run, in a small pool of guest instances.
pub struct Crypt {
    instances: &'static Instances,
    /// The unlocked key, sealed by the first instance for the others, and
    /// its one-time transfer key (see `keyring.handoff`): further instances
    /// adopt the key without a second Argon2id run.
    handoff: Zeroizing<Vec<u8>>,
    transfer: Zeroizing<Vec<u8>>,
    key_id: String,
    format: FormatInfo,
    max: usize,
    pool: Mutex<Pool>,
    freed: Condvar,
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
    /// Unlocks `wrapped` with `passphrase` in a first instance, the one
    /// Argon2id run of the process for this key; the passphrase is dropped
    /// (and wiped) right after, and so is that instance, with the memory
    /// Argon2id took: the instances that seal and open adopt the key. A
    /// wrong passphrase is a `ConfigError` that names `source` (where the
    /// wrapped key came from).
    pub fn unlock(
        instances: &'static Instances,
        wrapped: Vec<u8>,
        passphrase: Zeroizing<Vec<u8>>,
        source: &str,
    ) -> Result<Self> {
        let mut inst = instances.take()?;
        let format = inst.crypto_format()?;
        let info = inst
            .inspect_wrapped_key(&wrapped)?
            .map_err(|e| ConfigError(format!("{source}: {}", describe(&e))))?;
        let key = inst.keyring_unlock(&wrapped, &passphrase)?.map_err(|_| {
            ConfigError(format!(
                "{source}: the passphrase does not open this key (key id {}); check it and try again",
                info.key_id
            ))
        })?;
        drop(passphrase);
        let (transfer, handoff) = inst.keyring_handoff(&key, &entropy()?)?.map_err(fail)?;
        // Argon2id grew this instance's memory by the key's `m` (64 MiB for
        // a new key), which wasm memory never gives back: drop it, and let
        // the pool's instances adopt the key instead.
        inst.drop_handle(key)?;
        drop(inst);
        let max = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
        let crypt = Crypt {
            instances,
            handoff: Zeroizing::new(handoff),
            transfer: Zeroizing::new(transfer),
            key_id: info.key_id,
            format,
            max,
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
        };
        Ok(crypt)
    }

    /// Gives a fresh instance the unlocked key, through the guest.
    fn unlock_in(&self, mut inst: Instance) -> Result<Unlocked> {
        let key = inst
            .keyring_adopt(&self.handoff, &self.transfer)?
            .map_err(fail)?;
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
                let made = self.instances.take().and_then(|inst| self.unlock_in(inst));
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

    /// Takes one unlocked instance out of the pool for good (its keyring
    /// handle with it), for a holder that keeps state in it for the whole
    /// run: the guest sessions of a sealed remote.
    /// It no longer counts against the pool's size, so transfers still get
    /// as many instances as before (on one core: one, not none).
    pub fn take_unlocked(&self) -> Result<(Instance, Handle)> {
        let mut lease = self.lease()?;
        let u = lease.unlocked.take().expect("a lease holds its instance");
        self.pool.lock().expect("no panics while locked").live -= 1;
        self.freed.notify_one();
        Ok((u.inst, u.key))
    }

    /// The length of the sealed object of a file of `plain` bytes, as the
    /// guest's format says. Takes a lease: never call it while holding one.
    pub fn sealed_size(&self, plain: u64) -> Result<u64> {
        self.lease()?.inst().sealed_size(plain)?.map_err(fail)
    }

    /// Starts sealing `src` (the local file behind `entry`) for `cloud`,
    /// in one read: returns a reader of the object's segments, which gives
    /// the header at the end once `unchanged` (the file still has the
    /// plan's size and time) passed. `name` names the file in messages.
    pub fn seal_file<'a, R: Read>(
        &'a self,
        cloud: &str,
        entry: &crate::engine::sync::Entry,
        src: R,
        name: &Path,
        unchanged: Unchanged<'a>,
    ) -> Result<Sealing<'a, R>> {
        let stat = FileStat {
            size: entry.size,
            mtime_ns: entry.mtime_ns,
            mode: entry.mode,
        };
        let name = name.display().to_string();
        self.start(cloud, &entry.path, &stat, src, name, None, Some(unchanged))
    }

    /// Starts sealing `src` for `cloud/rel` with the size, time and mode of
    /// `meta`; the content must have `meta.sha256` (key rotation takes it
    /// from the old object's authenticated header): the guest refuses to
    /// give the header otherwise, so nothing else can be stored whole.
    /// `name` names the source in messages.
    pub fn seal_from<'a, R: Read>(
        &'a self,
        cloud: &str,
        rel: &str,
        meta: &FileMeta,
        src: R,
        name: &str,
    ) -> Result<Sealing<'a, R>> {
        let stat = FileStat {
            size: meta.size,
            mtime_ns: meta.mtime_ns,
            mode: meta.mode,
        };
        let expected = Some(meta.sha256.clone());
        self.start(cloud, rel, &stat, src, name.to_string(), expected, None)
    }

    #[allow(clippy::too_many_arguments)] // The two callers' inputs, each used once.
    fn start<'a, R: Read>(
        &'a self,
        cloud: &str,
        rel: &str,
        stat: &FileStat,
        src: R,
        name: String,
        expected: Option<Vec<u8>>,
        unchanged: Option<Unchanged<'a>>,
    ) -> Result<Sealing<'a, R>> {
        let mut lease = self.lease()?;
        let e = entropy()?;
        let (sealer, id) = {
            let u = lease.unlocked();
            let sealer = u.inst.seal(&u.key, cloud, rel, stat, &e)?.map_err(fail)?;
            let id = u.inst.sealer_object_id(&sealer)?;
            (sealer, id)
        };
        Ok(Sealing {
            lease,
            sealer: Some(sealer),
            src,
            remaining: stat.size,
            pending: Vec::new(),
            pos: 0,
            finished: false,
            chunk: vec![0; self.format.segment_size as usize],
            name,
            expected,
            unchanged,
            id,
        })
    }

    /// Opens just the header of the object of `cloud/rel` (its first
    /// `header_size` bytes): the authenticated metadata and the object id,
    /// before any content is read.
    pub fn open_header(&self, cloud: &str, rel: &str, header: &[u8]) -> Result<(FileMeta, String)> {
        let mut lease = self.lease()?;
        let u = lease.unlocked();
        let opener = u.inst.open(&u.key, cloud, rel, header)?.map_err(fail)?;
        let meta = u.inst.opener_meta(&opener);
        u.inst.drop_handle(opener)?;
        meta
    }

    /// An opening writer for the object of `cloud/rel`, writing plaintext to
    /// `out`. `what` names the object in messages.
    pub fn open_into<W: Write>(&self, cloud: &str, rel: &str, out: W) -> Result<Opening<'_, W>> {
        Ok(Opening {
            lease: self.lease()?,
            cloud: cloud.to_string(),
            rel: rel.to_string(),
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

    /// The instance, for calls that need no key (the format's sizes).
    pub fn inst(&mut self) -> &mut Instance {
        &mut self.unlocked().inst
    }
}

/// A `Read` of one file's sealed segments, read once; its header, which
/// comes first in the object, is `HeadLast::head` once they were all read.
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
    /// The SHA-256 the content must have, when known before (rotation).
    expected: Option<Vec<u8>>,
    /// Run before the header is made: the source is still as planned.
    unchanged: Option<Unchanged<'a>>,
    /// The object id, for the manifest.
    pub id: String,
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

impl<R: Read> HeadLast for Sealing<'_, R> {
    fn head(&mut self) -> io::Result<Vec<u8>> {
        if !self.finished || self.pos < self.pending.len() {
            return Err(io::Error::other(format!(
                "{}: the header was asked for before every segment was read",
                self.name
            )));
        }
        if let Some(unchanged) = self.unchanged {
            unchanged()?;
        }
        let sealer = self
            .sealer
            .as_ref()
            .expect("a sealing reader holds its sealer");
        let u = self.lease.unlocked();
        u.inst
            .sealer_finish(sealer, self.expected.as_deref())
            .map_err(|e| io::Error::other(format!("{e:#}")))?
            .map_err(|e| io::Error::other(format!("{}: {}", self.name, describe(&e))))
    }
}

impl<R: Read> Sealing<'_, R> {
    fn next_segment(&mut self) -> io::Result<()> {
        let changed = |name: &str| crate::store::changed(Path::new(name));
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
    /// The cloud folder and the file the object belongs to.
    cloud: String,
    rel: String,
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
        let u = self.lease.unlocked();
        let opener = u
            .inst
            .open(
                &u.key,
                &self.cloud,
                &self.rel,
                &self.buf[..hs.min(self.buf.len())],
            )?
            .map_err(fail)?;
        let (meta, id) = u.inst.opener_meta(&opener)?;
        self.segments = u.inst.opener_segments(&opener)?;
        self.opener = Some(opener);
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

    /// Ends the object: opens the last segment, then lets the guest accept
    /// the length and the SHA-256 of what was written against the header.
    /// Returns the header's metadata and the object id.
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
        let opener = self.opener.as_ref().expect("started");
        let u = self.lease.unlocked();
        u.inst
            .opener_finish(opener, &sha, self.written)?
            .map_err(fail)?;
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

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor, Read};
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use anyhow::Result;
    use sha2::{Digest, Sha256};

    use super::{Crypt, FileMeta};
    use crate::engine::sync::Entry;
    use crate::store::memory::MemoryStore;
    use crate::store::{Body, Meta, Store, Unchanged};
    use crate::testkit;

    #[test]
    fn instances_taken_for_good_leave_the_pool_its_full_size() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let c = testkit::crypt();
            // More than the pool's size: each taken instance is replaced.
            let taken: Vec<_> = (0..=c.max).map(|_| c.take_unlocked().unwrap()).collect();
            tx.send(c.sealed_size(1).is_ok()).unwrap();
            drop(taken);
        });
        // A deadlock, not slowness: a lease that never comes back.
        let got = rx.recv_timeout(std::time::Duration::from_secs(300));
        assert_eq!(
            got,
            Ok(true),
            "a lease waited for an instance taken for good"
        );
    }

    /// A source that counts the bytes it gave, and can change its content
    /// (same size) from byte `rewrite_at` on, as a file rewritten while
    /// it is read.
    struct Counted {
        data: Cursor<Vec<u8>>,
        read: Arc<AtomicU64>,
        rewrite_at: u64,
    }

    impl Read for Counted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let at = self.data.position();
            let n = self.data.read(buf)?;
            for (i, b) in buf[..n].iter_mut().enumerate() {
                if at + i as u64 >= self.rewrite_at {
                    *b = 2;
                }
            }
            self.read.fetch_add(n as u64, Ordering::SeqCst);
            Ok(n)
        }
    }

    fn entry(size: u64) -> Entry {
        Entry {
            path: "f".into(),
            size,
            mtime_ns: 0,
            mode: None,
        }
    }

    /// Seals `data` (rewritten from `rewrite_at` while read) into a memory
    /// store under `obj`; returns the put's result and the bytes read.
    fn seal_into(
        c: &Crypt,
        store: &MemoryStore,
        entry: &Entry,
        data: Vec<u8>,
        rewrite_at: u64,
        unchanged: Unchanged<'_>,
    ) -> (crate::store::Result<crate::store::Put>, u64) {
        let read = Arc::new(AtomicU64::new(0));
        let src = Counted {
            data: Cursor::new(data),
            read: read.clone(),
            rewrite_at,
        };
        let mut sealing = c
            .seal_file("Docs", entry, src, Path::new("f"), unchanged)
            .unwrap();
        let body = Body::HeadLast {
            reader: &mut sealing,
            len: c.sealed_size(entry.size).unwrap(),
            head_len: u64::from(c.format().header_size),
            path: Path::new("f"),
        };
        let put = store.put("obj", body, &Meta::default());
        drop(sealing);
        (put, read.load(Ordering::SeqCst))
    }

    fn opened(c: &Crypt, store: &MemoryStore) -> Result<Vec<u8>> {
        let mut object = Vec::new();
        store.get("obj", &mut object)?;
        let mut plain = Vec::new();
        let mut w = c.open_into("Docs", "f", &mut plain)?;
        io::Write::write_all(&mut w, &object)?;
        let (meta, _) = w.finish()?;
        assert_eq!(meta.sha256, Sha256::digest(&plain).to_vec());
        Ok(plain)
    }

    #[test]
    fn a_file_is_read_once_and_its_object_matches_what_was_read() {
        let c = testkit::crypt();
        let size = 150_000u64;
        let store = MemoryStore::new();
        let ok: Unchanged<'_> = &|| Ok(());
        let (put, read) = seal_into(&c, &store, &entry(size), vec![1; size as usize], size, ok);
        put.unwrap();
        assert_eq!(read, size, "one read of the file, no hashing pass");
        let object_len = store.head("obj").unwrap().size;
        assert_eq!(object_len, c.sealed_size(size).unwrap());
        let mut head = [0u8; 8];
        head.copy_from_slice(&store.get_range("obj", 0, 8).unwrap());
        assert_eq!(&head, b"poofobj\x02", "the header is at offset 0");
        assert_eq!(opened(&c, &store).unwrap(), vec![1; size as usize]);
        // Rewritten at the same size and time while it was read, which no
        // size or time check sees: what is stored is what was read, whole
        // and consistent with its header, never an object that cannot be
        // restored.
        let (put, read) = seal_into(&c, &store, &entry(size), vec![1; size as usize], 70_000, ok);
        put.unwrap();
        assert_eq!(read, size);
        let mut expected = vec![1u8; 70_000];
        expected.resize(size as usize, 2);
        assert_eq!(opened(&c, &store).unwrap(), expected);
    }

    #[test]
    fn a_file_that_changed_while_it_was_read_stores_nothing() {
        let c = testkit::crypt();
        let ok: Unchanged<'_> = &|| Ok(());
        // Shrunk, grown (the plan's size is wrong), or with another time
        // at the end of the read: the put fails, the store is untouched.
        for (planned, actual) in [(150_000u64, 100_000usize), (100_000, 150_000)] {
            let store = MemoryStore::new();
            let (put, _) = seal_into(&c, &store, &entry(planned), vec![1; actual], u64::MAX, ok);
            let e = anyhow::Error::from(put.unwrap_err());
            assert!(
                format!("{e:#}").contains("changed while poof was copying it"),
                "{e:#}"
            );
            assert!(store.head("obj").unwrap_err().is_not_found());
        }
        let store = MemoryStore::new();
        let moved: Unchanged<'_> = &|| Err(io::Error::other("f changed while poof was copying it"));
        let (put, _) = seal_into(&c, &store, &entry(10), vec![1; 10], u64::MAX, moved);
        assert!(put.is_err());
        assert!(store.head("obj").unwrap_err().is_not_found());
    }

    #[test]
    fn a_reseal_gets_no_header_unless_the_content_has_the_expected_hash() {
        let c = testkit::crypt();
        let data = vec![5u8; 1000];
        let meta = |sha: &[u8]| FileMeta {
            size: 1000,
            mtime_ns: 1,
            mode: Some(0o600),
            sha256: sha.to_vec(),
        };
        let store = MemoryStore::new();
        for (sha, good) in [
            (Sha256::digest([6u8; 1000]), false),
            (Sha256::digest(&data), true),
        ] {
            let mut sealing = c
                .seal_from(
                    "Docs",
                    "f",
                    &meta(&sha),
                    Cursor::new(data.clone()),
                    "Docs/f",
                )
                .unwrap();
            let body = Body::HeadLast {
                reader: &mut sealing,
                len: c.sealed_size(1000).unwrap(),
                head_len: u64::from(c.format().header_size),
                path: Path::new("Docs/f"),
            };
            let put = store.put("obj", body, &Meta::default());
            assert_eq!(put.is_ok(), good, "{put:?}");
            assert_eq!(store.head("obj").is_ok(), good);
        }
        assert_eq!(opened(&c, &store).unwrap(), data);
    }
}
