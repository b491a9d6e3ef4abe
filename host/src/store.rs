//! Stores: the dumb places objects are kept (an S3 bucket, a local folder,
//! memory in tests), behind one narrow trait.
//!
//! A store knows keys, bytes and the metadata it can keep; it knows nothing
//! of poof's or rclone's conventions, of cloud folders, manifests or
//! encryption. Those belong to the layouts (`crate::layout`), which are
//! written once over any store.
//!
//! Invariants:
//! - a key is a safe relative path (`crate::pathguard`): every store checks
//!   it again before touching anything, so a key can never reach outside the
//!   store's root or prefix;
//! - a `put` is all or nothing: a reader sees the old object or the complete
//!   new one, never a torn one;
//! - errors are typed (`StoreError`), so callers can tell "not there" and
//!   "try again" from "broken" without reading messages.

pub mod folder;
pub mod memory;
pub mod s3;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object (or the store's root) does not exist.
    #[error(transparent)]
    NotFound(anyhow::Error),
    /// The credentials or the file system's permissions forbid it.
    #[error(transparent)]
    AccessDenied(anyhow::Error),
    /// A failure that may pass: a dropped connection, a server busy for now.
    #[error(transparent)]
    Transient(anyhow::Error),
    /// Anything else; trying again will not help.
    #[error(transparent)]
    Other(anyhow::Error),
}

impl StoreError {
    /// True for `NotFound`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound(_))
    }

    /// An `Other` error from a message.
    pub fn other(msg: impl std::fmt::Display) -> Self {
        StoreError::Other(anyhow::anyhow!("{msg}"))
    }

    /// Classifies a local I/O error, naming `what` in its message.
    pub fn from_io(e: io::Error, what: impl std::fmt::Display) -> Self {
        let kind = e.kind();
        let e = anyhow::Error::new(e).context(what.to_string());
        match kind {
            io::ErrorKind::NotFound => StoreError::NotFound(e),
            io::ErrorKind::PermissionDenied => StoreError::AccessDenied(e),
            io::ErrorKind::Interrupted | io::ErrorKind::TimedOut => StoreError::Transient(e),
            _ => StoreError::Other(e),
        }
    }
}

/// The result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// User metadata: lower-case names to values (S3's `x-amz-meta-*`).
pub type UserMeta = BTreeMap<String, String>;

/// Metadata to store with an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The modification time for stores that keep one natively (a folder);
    /// `None`: the time of the write.
    pub mtime_ns: Option<i64>,
    /// Permission bits for stores that keep them natively (a folder);
    /// `None`: private to the owner (0600).
    pub mode: Option<u32>,
    /// Name-value pairs for stores that keep them (S3); others drop them.
    pub user: UserMeta,
}

/// One object as a store sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The key, relative to the store's root.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's version tag: S3's ETag, or a stand-in (size and time)
    /// that changes whenever the object is written.
    pub etag: String,
    /// The store's own modification time (S3: when it was stored).
    pub mtime_ns: Option<i64>,
    /// The store's own permission bits, where it keeps them.
    pub mode: Option<u32>,
    /// The user metadata, when known: `None` in an S3 listing (a `head`
    /// reads it), `Some` wherever the store has it at hand.
    pub user: Option<UserMeta>,
}

/// What `list` found under a prefix.
#[derive(Debug, Default)]
pub struct Listing {
    /// False when the prefix holds nothing and (for a folder) does not exist.
    pub exists: bool,
    /// Every object, sorted by key.
    pub objects: Vec<ObjectInfo>,
    /// Entries that could not be read: the listing is incomplete.
    pub problems: Vec<String>,
    /// Entries left out on purpose (links, special files), with the reason.
    pub skipped: Vec<String>,
}

/// What a `put` produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Put {
    /// The new object's version tag, when the store gave one.
    pub etag: Option<String>,
}

/// What a store keeps of the objects a sync overwrites or deletes, for
/// `poof verify`: poof keeps one copy, not a history, so this is what stands
/// between a bad backup (a mass rewrite by ransomware) and losing the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protection {
    /// Whether earlier versions are kept (S3 bucket versioning).
    pub versioning: Setting,
    /// Whether kept versions are locked against deletion (S3 Object Lock).
    pub object_lock: Setting,
    /// The command that turns versioning on.
    pub enable_versioning: String,
}

/// The state of one of a store's protective settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// On; the words say how, where there is more to say (may be empty).
    On(String),
    /// It was on and is suspended: new changes keep nothing.
    Suspended,
    /// Off.
    Off,
    /// The server does not offer it.
    NotOffered,
    /// It could not be read, for this reason.
    Unknown(String),
}

/// A check the store runs right before a `put` becomes visible (a folder:
/// before the rename; S3: once the upload is complete), so that a source
/// rewritten while it was read is reported rather than silently stored.
pub type Unchanged<'a> = &'a (dyn Fn() -> io::Result<()> + Sync);

/// The bytes of a `put`.
pub enum Body<'a> {
    /// Bytes in memory (poof's own small objects).
    Bytes(Vec<u8>),
    /// `len` bytes of a local file, which the store may read more than once
    /// (retries, parallel parts).
    File {
        /// The open file.
        file: Arc<File>,
        /// Its name, for messages.
        path: &'a Path,
        /// How many bytes to store.
        len: u64,
        /// Runs before the object becomes visible.
        unchanged: Unchanged<'a>,
    },
    /// `len` bytes read once, whose first `head_len` come last (sealed
    /// content: the header seals the hash of what follows it). `reader`
    /// yields the bytes from offset `head_len` to the end, in order; then
    /// `head` gives the first `head_len`. The store keeps the object
    /// invisible until it has the head, and stores nothing when the reader
    /// yields another number of bytes or `head` fails.
    HeadLast {
        /// The bytes after the head, then the head.
        reader: &'a mut dyn HeadLast,
        /// How many bytes the object holds, head included.
        len: u64,
        /// How many bytes the head is.
        head_len: u64,
        /// The source, for messages.
        path: &'a Path,
    },
}

/// The source of a [`Body::HeadLast`].
pub trait HeadLast: Read {
    /// The object's first bytes, once `read` returned the end of the rest;
    /// an error (the source changed while it was read) aborts the put.
    fn head(&mut self) -> io::Result<Vec<u8>>;
}

/// Reads the rest of a [`Body::HeadLast`] into `buf[head_len..]` (which
/// must be `len` bytes) and its head into `buf[..head_len]`: for stores
/// that send a small object whole. Fails when the reader yields another
/// number of bytes than `len - head_len`, or `head` fails or has another
/// length than `head_len`.
pub fn read_head_last(
    reader: &mut dyn HeadLast,
    buf: &mut [u8],
    head_len: usize,
    path: &Path,
) -> io::Result<()> {
    let rest = buf.len() - head_len;
    let got = crate::fsx::read_full(&mut &mut *reader, &mut buf[head_len..])?;
    if got < rest || crate::fsx::read_full(&mut &mut *reader, &mut [0u8; 1])? != 0 {
        return Err(changed(path));
    }
    put_head(reader, &mut buf[..head_len], path)
}

/// Asks `reader` for its head and writes it into `buf`, which is as long
/// as the head must be.
pub fn put_head(reader: &mut dyn HeadLast, buf: &mut [u8], path: &Path) -> io::Result<()> {
    let head = reader.head()?;
    if head.len() != buf.len() {
        return Err(io::Error::other(format!(
            "{}: the head of the object is {} bytes, not {}",
            path.display(),
            head.len(),
            buf.len()
        )));
    }
    buf.copy_from_slice(&head);
    Ok(())
}

/// The error of a source that yielded more or fewer bytes than its size.
pub fn changed(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} changed while poof was copying it; it was not copied, run poof again",
        path.display()
    ))
}

impl Body<'_> {
    /// How many bytes the object will hold.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File { len, .. } | Body::HeadLast { len, .. } => *len,
        }
    }

    /// True for an empty object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A place objects are kept.
pub trait Store: Send + Sync {
    /// A short description for messages, e.g. `folder /media/usb/poof`.
    fn describe(&self) -> String;

    /// How to name one object in messages, e.g. `s3://bucket/key`.
    fn show(&self, key: &str) -> String;

    /// Fails, saying what to do, when the store cannot be used at all.
    fn check_ready(&self) -> Result<()>;

    /// What `poof verify` reports about the store, in words, once it is ready.
    fn verify(&self) -> Result<Vec<String>> {
        self.check_ready()?;
        Ok(vec![format!("{} is reachable", self.describe())])
    }

    /// Creates the place the store keeps its objects when it does not exist
    /// yet (`poof verify --create-bucket`), and says in words what it did:
    /// `Ok` names a new bucket or one left alone because it existed. A
    /// store that does not create its place says why (a folder: a missing
    /// one may be a disk that is not mounted).
    fn create(&self) -> Result<String> {
        Err(StoreError::other(format!(
            "{} cannot be created by poof; --create-bucket is for S3 buckets",
            self.describe()
        )))
    }

    /// What the store keeps of overwritten and deleted objects, as
    /// `poof verify` reports it; `None` for a store that has no such
    /// setting (a folder: keeping another copy is up to the user).
    fn protection(&self) -> Option<Protection> {
        None
    }

    /// True when `list` returns each object's user metadata and native
    /// time, so that no `head` per object is needed (a folder).
    fn lists_metadata(&self) -> bool;

    /// True when the store keeps user metadata (`Meta::user`); a store
    /// that does not drops it on `put`.
    fn keeps_user_metadata(&self) -> bool;

    /// Modification times closer than this are equal (the precision kept).
    fn time_precision_ns(&self) -> u64 {
        1
    }

    /// Every object whose key starts with `prefix` (empty, or ending in `/`).
    fn list(&self, prefix: &str) -> Result<Listing>;

    /// `list`, with the objects handed to `part` as they come, in parts and
    /// in any order, instead of all at once in the listing returned (whose
    /// `objects` stay empty), so that a long listing is never held whole.
    /// `part` returns `Break` to stop the listing early; the result is then
    /// not a whole listing. A store that lists in one go gives one part.
    ///
    /// `hints` are names under `prefix` (relative to it, e.g. `Photos/`)
    /// the keys are probably spread over: a store that lists with several
    /// requests at once may cut the listing there instead of asking where
    /// to. They never change what is listed; wrong ones only make the
    /// requests uneven. Others ignore them.
    fn list_each(
        &self,
        prefix: &str,
        hints: &[String],
        part: &mut dyn FnMut(Vec<ObjectInfo>) -> ControlFlow<()>,
    ) -> Result<Listing> {
        let _ = hints;
        let mut listing = self.list(prefix)?;
        let _ = part(std::mem::take(&mut listing.objects));
        Ok(listing)
    }

    /// One object's size, tag, times and user metadata.
    fn head(&self, key: &str) -> Result<ObjectInfo>;

    /// Streams an object into `out`; returns how many bytes it wrote.
    fn get(&self, key: &str, out: &mut dyn Write) -> Result<u64>;

    /// Up to `len` bytes of an object from byte `start`.
    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>>;

    /// Downloads an object into `file` (named `dest` in messages); a store
    /// that can resume or retry a broken transfer does so here.
    fn get_file(&self, key: &str, file: &mut File, _dest: &Path) -> Result<u64> {
        self.get(key, file)
    }

    /// Stores `body` under `key` with `meta`, replacing any object there.
    fn put(&self, key: &str, body: Body<'_>, meta: &Meta) -> Result<Put>;

    /// Replaces an object's metadata, leaving its content as it is.
    fn set_meta(&self, key: &str, meta: &Meta) -> Result<()>;

    /// Removes an object; removing a missing one is not an error.
    fn delete(&self, key: &str) -> Result<()>;

    /// How many requests the store has sent so far, when it counts them.
    fn requests(&self) -> Option<u64> {
        None
    }
}

/// Joins a store's key prefix (`""` or without slashes at either end) and a key.
pub fn join_prefix(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}/{key}")
    }
}

/// Checks a key with the host's path guard, as every store does first.
pub fn check_key(key: &str) -> Result<()> {
    crate::pathguard::check(key)
        .map_err(|why| StoreError::other(format!("{key:?} is not a safe relative path: {why}")))
}

/// Checks a listing prefix: empty, or a safe path followed by `/`.
pub fn check_prefix(prefix: &str) -> Result<()> {
    match prefix.strip_suffix('/') {
        _ if prefix.is_empty() => Ok(()),
        Some(p) => check_key(p),
        None => Err(StoreError::other(format!(
            "{prefix:?} is not a folder prefix (it must end with `/`)"
        ))),
    }
}

/// A [`HeadLast`] source for tests: `rest`, then `head` (`None`: `head`
/// fails, as when the source changed while it was read).
#[cfg(test)]
pub struct TestHeadLast {
    /// The bytes after the head.
    pub rest: io::Cursor<Vec<u8>>,
    /// The head, given at the end.
    pub head: Option<Vec<u8>>,
}

#[cfg(test)]
impl TestHeadLast {
    /// A source of `head` then `rest`, or of `rest` whose head fails.
    pub fn new(head: Option<&[u8]>, rest: &[u8]) -> Self {
        TestHeadLast {
            rest: io::Cursor::new(rest.to_vec()),
            head: head.map(<[u8]>::to_vec),
        }
    }
}

#[cfg(test)]
impl Read for TestHeadLast {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.rest.read(buf)
    }
}

#[cfg(test)]
impl HeadLast for TestHeadLast {
    fn head(&mut self) -> io::Result<Vec<u8>> {
        self.head
            .clone()
            .ok_or_else(|| io::Error::other("src changed while poof was copying it"))
    }
}
