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
//!   when the SHA-256 of what was written matches the header.

pub mod keys;

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::{Condvar, Mutex};

use anyhow::{Result, anyhow};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::engine::crypto::{FileMeta, FormatInfo};
use crate::engine::pool::Pool as Instances;
use crate::engine::{GuestError, Handle, Instance};
use crate::exit::ConfigError;

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
        // Argon2id grew this instance's memory by the key's `m` (256 MiB for
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
        let meta = FileMeta {
            size: entry.size,
            mtime_ns: entry.mtime_ns,
            mode: entry.mode,
            sha256: sha.to_vec(),
        };
        self.seal_from(cloud, &entry.path, &meta, src, &name.display().to_string())
    }

    /// Starts sealing `src` for `cloud/rel` with the metadata `meta`, whose
    /// SHA-256 the caller already knows (key rotation takes it from the old
    /// object's authenticated header): returns a reader of header and
    /// segments. `src` must yield exactly `meta.size` bytes with that hash:
    /// the guest refuses the last segment otherwise, so nothing else can be
    /// sealed whole. `name` names the source in messages.
    pub fn seal_from<'a, R: Read>(
        &'a self,
        cloud: &str,
        rel: &str,
        meta: &FileMeta,
        src: R,
        name: &str,
    ) -> Result<Sealing<'a, R>> {
        let mut lease = self.lease()?;
        let e = entropy()?;
        let (sealer, header, id) = {
            let u = lease.unlocked();
            let sealer = u.inst.seal(&u.key, cloud, rel, meta, &e)?.map_err(fail)?;
            let (header, id) = u.inst.sealer_start(&sealer)?;
            (sealer, header, id)
        };
        Ok(Sealing {
            lease,
            sealer: Some(sealer),
            src,
            remaining: meta.size,
            pending: header,
            pos: 0,
            finished: false,
            chunk: vec![0; self.format.segment_size as usize],
            name: name.to_string(),
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
    use std::io::{self, Cursor};
    use std::path::Path;

    use crate::engine::sync::Entry;
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

    #[test]
    fn a_file_rewritten_at_the_same_size_between_hashing_and_sealing_is_never_sealed_whole() {
        let c = testkit::crypt();
        let size = 150_000;
        let entry = Entry {
            path: "f".into(),
            size,
            mtime_ns: 0,
            mode: None,
        };
        let sealed = |rewritten: bool| {
            let data = vec![1u8; size as usize];
            let rewind = |src: &mut Cursor<Vec<u8>>| {
                if rewritten {
                    // Same size, same time, other bytes: what the size and
                    // time check after the upload cannot see.
                    *src = Cursor::new(vec![2u8; size as usize]);
                } else {
                    src.set_position(0);
                }
                Ok(())
            };
            let mut sealing = c
                .seal_file("Docs", &entry, Cursor::new(data), rewind, Path::new("f"))
                .unwrap();
            let mut out = Vec::new();
            io::copy(&mut sealing, &mut out).map(|_| out)
        };
        let whole = sealed(false).unwrap();
        assert_eq!(whole.len() as u64, c.sealed_size(size).unwrap());
        let e = sealed(true).unwrap_err();
        assert!(e.to_string().contains("changed while it was read"), "{e}");
    }
}
