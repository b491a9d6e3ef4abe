//! A session: what the guest makes of one cloud folder of a remote during a
//! run. It is sans-IO: the host lists the store, reads what the session asks
//! for, and reports what it wrote; the session decides what the listing and
//! the manifest may be trusted for, which object keys to use, which objects
//! a restore must refuse, and when the manifest is rewritten.
//!
//! Two layouts:
//! - plain: object `CLOUD/REL`; metadata from the store's listing where it
//!   has it, else from the manifest where the manifest vouches for the
//!   object (same size and ETag), else from a `head` the host makes;
//! - sealed (docs/FORMAT.md): object `E(CLOUD/REL)`; size from the object's
//!   length, metadata from the sealed manifest or the authenticated header.
//!
//! Invariants:
//! - every listed object is accounted for: it becomes an entry, a `skipped`
//!   line (a name that is no name of this layout), or a `problem` naming it;
//! - on a sealed folder, an object the manifest records but the store lacks
//!   is a problem, so that a download never deletes local files on the word
//!   of a bucket someone pruned; an object whose header fails a check (or
//!   whose id is not the one the manifest records: a replay) is listed, so
//!   a backup replaces it, and a restore of it is refused;
//! - a listing that found anything amiss never rewrites a sealed manifest:
//!   its records are what the next run checks the bucket against;
//! - freshness (docs/FORMAT.md, "Freshness"): a sealed folder whose manifest
//!   is missing, cannot be opened, or is older than the generation this
//!   machine remembers is refused as a whole (no restore, no deletion, no
//!   new manifest sealed over it) unless the user trusts the remote's word;
//!   the generation written only rises.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::crypto::keyring::Keyring;
use crate::crypto::{CryptoError, object_path};
use crate::manifest::{self, Record, Row, Tag};
use crate::paths;
use crate::plan::{Direction, Entry, Input};

/// The folder, at the root of a store, that holds poof's manifests.
pub const MANIFEST_DIR: &str = ".poof/manifests";

/// How a session's files are laid out as objects.
#[derive(Clone)]
pub enum Layout {
    /// One object per file, content unchanged. `lists_metadata`: the store's
    /// listing carries each object's metadata (a folder), so no manifest is
    /// kept.
    Plain {
        /// The store's listing carries metadata.
        lists_metadata: bool,
    },
    /// poof's encrypted format, with this key.
    Sealed(Rc<Keyring>),
}

/// One object as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key, relative to the store's root.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The store's version tag.
    pub etag: String,
    /// Plain layout, store that lists metadata: the entry the host read
    /// from the listing's metadata, or why it could not.
    pub entry: Option<std::result::Result<Entry, String>>,
}

/// A listed object as the session holds it until the listing is ingested:
/// a listing can name millions of objects, so its tag is compact and what
/// only a store that lists metadata gives is boxed.
#[derive(Debug, Clone)]
struct Obj {
    key: Box<str>,
    size: u64,
    etag: Tag,
    entry: Option<Box<std::result::Result<Entry, String>>>,
}

impl From<Listed> for Obj {
    fn from(o: Listed) -> Obj {
        Obj {
            key: o.key.into_boxed_str(),
            size: o.size,
            etag: Tag::from(o.etag),
            entry: o.entry.map(Box::new),
        }
    }
}

/// The listing's objects in the session's form; the parts' own memory goes
/// as each is converted.
fn compact(objects: Vec<Listed>) -> Vec<Obj> {
    objects.into_iter().map(Obj::from).collect()
}

/// What the manifest will record: the records the listing confirmed
/// (sorted by path, each path held once) and this run's changes over them
/// (`None`: no longer recorded). A no-op run changes nothing and holds each
/// record once; the changes of a large first upload go in a map.
#[derive(Debug, Default)]
struct Files {
    confirmed: Vec<Row>,
    changes: BTreeMap<Box<str>, Option<Record>>,
}

impl Files {
    /// The records the listing confirmed, sorted by path, without duplicates.
    fn confirmed(rows: Vec<Row>) -> Files {
        debug_assert!(rows.is_sorted_by(|a, b| a.0 < b.0));
        Files {
            confirmed: rows,
            changes: BTreeMap::new(),
        }
    }

    fn at(&self, path: &str) -> Option<usize> {
        self.confirmed
            .binary_search_by(|(p, _)| (**p).cmp(path))
            .ok()
    }

    fn get(&self, path: &str) -> Option<&Record> {
        match self.changes.get(path) {
            Some(change) => change.as_ref(),
            None => self.at(path).map(|i| &self.confirmed[i].1),
        }
    }

    fn get_mut(&mut self, path: &str) -> Option<&mut Record> {
        if self.changes.contains_key(path) {
            return self.changes.get_mut(path).and_then(Option::as_mut);
        }
        let i = self.at(path)?;
        Some(&mut self.confirmed[i].1)
    }

    fn contains(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    fn insert(&mut self, path: &str, record: Record) {
        self.changes.insert(path.into(), Some(record));
    }

    /// Removes the record of `path`; true when there was one.
    fn remove(&mut self, path: &str) -> bool {
        let had = self.contains(path);
        if self.at(path).is_some() {
            self.changes.insert(path.into(), None);
        } else {
            self.changes.remove(path);
        }
        had
    }

    /// At least as many as `iter` yields: room for them at once.
    fn most(&self) -> usize {
        self.confirmed.len() + self.changes.len()
    }

    /// Every record, in path order.
    fn iter(&self) -> impl Iterator<Item = (&str, &Record)> {
        self.iter_after(None)
    }

    /// The records after the path `after` (all of them without one), in
    /// path order.
    fn iter_after<'a>(
        &'a self,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a str, &'a Record)> + use<'a> {
        use std::ops::Bound::{Excluded, Unbounded};
        let (from, changes) = match after {
            None => (0, self.changes.range::<str, _>((Unbounded, Unbounded))),
            Some(p) => (
                self.confirmed.partition_point(|(q, _)| &**q <= p),
                self.changes.range::<str, _>((Excluded(p), Unbounded)),
            ),
        };
        let mut confirmed = self.confirmed[from..].iter().peekable();
        let mut changes = changes.peekable();
        std::iter::from_fn(move || {
            loop {
                let next = match (confirmed.peek(), changes.peek()) {
                    (None, None) => return None,
                    (Some(_), None) => Ok(confirmed.next()?),
                    (None, Some(_)) => Err(changes.next()?),
                    (Some((a, _)), Some((b, _))) => match a.cmp(b) {
                        std::cmp::Ordering::Less => Ok(confirmed.next()?),
                        std::cmp::Ordering::Greater => Err(changes.next()?),
                        std::cmp::Ordering::Equal => {
                            confirmed.next();
                            Err(changes.next()?)
                        }
                    },
                };
                match next {
                    Ok((p, r)) => return Some((&**p, r)),
                    Err((p, Some(r))) => return Some((&**p, r)),
                    Err((_, None)) => continue,
                }
            }
        })
    }
}

/// What the host read for an object the session asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Plain: the entry from the object's metadata (a `head`).
    Entry(Entry),
    /// Sealed: the object's first `header-size` bytes.
    Header(Vec<u8>),
    /// The read failed; the host's words.
    Failed(String),
}

/// What a session makes of its cloud folder's listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// False when nothing is stored under the cloud folder.
    pub exists: bool,
    /// Every file, sorted by path.
    pub entries: Vec<Entry>,
    /// Objects that could not be accounted for: the listing is incomplete,
    /// so nothing may be deleted on its account.
    pub problems: Vec<String>,
    /// Objects left out on purpose, with the reason.
    pub skipped: Vec<String>,
}

/// What a machine remembers of a sealed folder's manifest: the generation
/// of the last one it wrote or accepted, and the SHA-256 of its sealed bytes
/// (empty when the folder had none yet).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Freshness {
    /// The manifest's generation.
    pub generation: u64,
    /// Hex SHA-256 of the sealed manifest; empty when none was written yet.
    pub manifest_sha256: String,
}

/// Why the session refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The request is malformed (an unsafe path, a call out of order).
    InvalidInput(String),
    /// The request is well-formed but must not be carried out.
    Refused(String),
    /// A cryptographic operation failed.
    Crypto(CryptoError),
}

impl From<CryptoError> for SessionError {
    fn from(e: CryptoError) -> Self {
        SessionError::Crypto(e)
    }
}

/// The result type of this module.
pub type Result<T> = std::result::Result<T, SessionError>;

/// Words for a refusal of the crypto core, as messages show it.
pub fn words(e: &CryptoError) -> String {
    match e {
        CryptoError::InvalidInput(m) => m.clone(),
        CryptoError::WrongPassphrase => "the passphrase does not open the key".into(),
        CryptoError::Tampered(m) => format!("tampered with: {m}"),
        CryptoError::Truncated(m) => format!("truncated: {m}"),
        CryptoError::WrongName(m) => {
            format!("stored under another name than its own (renamed or swapped): {m}")
        }
        CryptoError::UnsupportedFormat(m) => format!("not in a format this poof reads: {m}"),
    }
}

/// The manifest's bytes as they come, in parts (`add_manifest`).
#[derive(Debug)]
struct Raw {
    bytes: Vec<u8>,
    /// Its length, once every part is in.
    total: usize,
}

/// The manifest as a session read it (`add_manifest`).
#[derive(Debug)]
struct Given {
    /// Its records, or why they could not be read.
    decoded: manifest::Decoded,
    /// Sealed: the SHA-256 of its sealed bytes.
    sha256: Option<String>,
    /// Sealed: why it could not be opened.
    unopened: Option<String>,
}

/// Whether `finish_listing` kept the listing's entries for a plan.
#[derive(Debug)]
enum Kept {
    /// They were handed over.
    No,
    /// They are held for the plan.
    Held(Vec<Entry>),
    /// They went to a plan.
    Used,
}

/// The plan's local side, given in parts before the plan.
#[derive(Debug, Default)]
enum Local {
    /// None given: the plan's input carries it.
    #[default]
    No,
    /// The parts given so far, in order.
    Parts(Vec<Entry>),
    /// They went to a plan.
    Used,
}

/// A manifest being handed over in parts.
#[derive(Debug)]
enum Writing {
    /// Plain: encoded part by part; the rows after `after` are still to
    /// come (all of them, after the head, without one).
    Rows {
        after: Option<Box<str>>,
        started: bool,
    },
    /// Sealed: the sealed manifest, handed over from `at`.
    Sealed { bytes: Vec<u8>, at: usize },
    /// The last part was handed over.
    Done,
}

/// One cloud folder's state for a run.
pub struct Session {
    cloud: String,
    layout: Layout,
    /// How the host names the store's root in messages (`s3://b/p/`, `/mnt/usb/`).
    show_root: String,
    /// `CLOUD/` or `E(CLOUD)/`.
    prefix: String,
    /// Where the manifest lives, when one is kept.
    manifest_key: Option<String>,
    /// Sealed: rel -> object key, for every object named in this run (a
    /// plain key is `prefix` + rel, never stored).
    names: BTreeMap<String, String>,
    /// What the manifest will record.
    files: Files,
    /// rel -> the object id the object must carry.
    ids: BTreeMap<String, String>,
    /// rel -> why its object is refused for a restore.
    bad: BTreeMap<String, String>,
    /// rel -> the plain size of a refused object, when its length gives one.
    bad_sizes: BTreeMap<String, u64>,
    /// Objects waiting for what the host reads: key -> (rel, listed, plain size).
    pending: BTreeMap<String, (String, Obj, u64)>,
    /// Parts of the listing given before `ingest_listing`, kept as they
    /// came: joining them would hold the listing twice while it is copied.
    incoming: Vec<Vec<Obj>>,
    /// The manifest's bytes, given before the rest of the listing and not
    /// read yet (`add_manifest`).
    raw: Option<Raw>,
    /// The manifest, when it was given before the rest of the listing.
    given: Option<Given>,
    /// The listing being built.
    listing: Listing,
    /// The manifest matched the listing exactly.
    exact: bool,
    /// The manifest needs rewriting.
    dirty: bool,
    /// The listing has been ingested.
    listed: bool,
    /// The listing has been handed over (`finish_listing`).
    finished: bool,
    /// The listing's entries, when `finish_listing` kept them for a plan.
    kept: Kept,
    /// The plan's local side, when the host gives it in parts (`add_local`).
    local: Local,
    /// The manifest being handed over in parts (`manifest`).
    writing: Option<Writing>,
    /// What this machine remembered of the folder when the session began.
    memory: Option<Freshness>,
    /// The user accepts the remote's manifest as it is (`--trust-remote`).
    trust_remote: bool,
    /// The highest generation seen: the next manifest is one more.
    generation: u64,
    /// What the host must remember now, when it changed.
    remember: Option<Freshness>,
    /// Plain: the store holds poof's key, and its owner did not choose the
    /// plain layout beside it.
    downgrade: bool,
}

impl Session {
    /// A session for the cloud folder `cloud` (a safe relative path).
    /// `show_root` prefixes object keys in messages.
    pub fn new(cloud: &str, layout: Layout, show_root: &str) -> Result<Session> {
        paths::check(cloud).map_err(|why| {
            SessionError::InvalidInput(format!("cloud folder {cloud:?} is not a safe path: {why}"))
        })?;
        let (prefix, manifest_key) = match &layout {
            Layout::Plain { lists_metadata } => (
                format!("{cloud}/"),
                (!lists_metadata).then(|| format!("{MANIFEST_DIR}/{cloud}.json")),
            ),
            Layout::Sealed(k) => {
                let enc = k.encrypt_path(cloud)?;
                (format!("{enc}/"), Some(format!("{MANIFEST_DIR}/{enc}.bin")))
            }
        };
        Ok(Session {
            cloud: cloud.to_string(),
            layout,
            show_root: show_root.to_string(),
            prefix,
            manifest_key,
            names: BTreeMap::new(),
            files: Files::default(),
            ids: BTreeMap::new(),
            bad: BTreeMap::new(),
            bad_sizes: BTreeMap::new(),
            pending: BTreeMap::new(),
            incoming: Vec::new(),
            raw: None,
            given: None,
            listing: Listing::default(),
            exact: true,
            dirty: false,
            listed: false,
            finished: false,
            kept: Kept::No,
            local: Local::No,
            writing: None,
            memory: None,
            trust_remote: false,
            generation: 0,
            remember: None,
            downgrade: false,
        })
    }

    /// Tells a plain session whether the store holds poof's key
    /// (`key_stored`) and whether its owner chose plain copies beside it
    /// (`plain_chosen`). A key without that choice means the remote's
    /// backups are encrypted and this config forgot it: the listing is
    /// refused, so that nothing is uploaded in the clear beside them.
    pub fn beside(mut self, key_stored: bool, plain_chosen: bool) -> Session {
        self.downgrade = key_stored && !plain_chosen;
        self
    }

    /// Gives a sealed session what this machine remembers of the folder's
    /// manifest, and whether the user trusts the remote's word over it.
    pub fn remembering(mut self, memory: Option<Freshness>, trust_remote: bool) -> Session {
        self.memory = memory;
        self.trust_remote = trust_remote;
        self
    }

    /// What the host must remember of this sealed folder, when it differs
    /// from what it remembered: the manifest accepted by the listing (not
    /// when accepted only on `--trust-remote`, so that a dry run does not
    /// make the override stick), or the one `manifest` sealed, once the host
    /// wrote it.
    pub fn remember(&self) -> Option<Freshness> {
        self.remember
            .clone()
            .filter(|r| Some(r) != self.memory.as_ref())
    }

    /// The key prefix the host lists: `CLOUD/` or `E(CLOUD)/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The key of the manifest the host reads before `ingest_listing`;
    /// `None` when this session keeps none.
    pub fn manifest_key(&self) -> Option<&str> {
        self.manifest_key.as_deref()
    }

    fn show(&self, key: &str) -> String {
        format!("{}{key}", self.show_root)
    }

    fn sealed(&self) -> Option<&Keyring> {
        match &self.layout {
            Layout::Sealed(k) => Some(k),
            Layout::Plain { .. } => None,
        }
    }

    /// Refuses a part of the listing once the listing was given.
    fn not_listed_yet(&self) -> Result<()> {
        if self.listed {
            return Err(SessionError::InvalidInput(
                "the listing of this session was already given".into(),
            ));
        }
        Ok(())
    }

    /// Takes a part of the store's listing under `prefix`, in any order,
    /// before `ingest_listing`.
    pub fn add_objects(&mut self, objects: Vec<Listed>) -> Result<()> {
        self.not_listed_yet()?;
        self.read_given();
        if !objects.is_empty() {
            self.incoming.push(compact(objects));
        }
        Ok(())
    }

    /// Takes a part of the manifest's bytes before `ingest_listing` (which
    /// is then given none): the parts in order, `total` bytes in all (room
    /// for them is made at the first), so that the host frees its copy as
    /// this one grows. Read at the session's next call once all are in:
    /// neither copy is then held beside the records read from them, nor
    /// beside the rest of the listing.
    pub fn add_manifest(&mut self, part: Vec<u8>, total: u64) -> Result<()> {
        self.not_listed_yet()?;
        let refuse = |why: &str| Err(SessionError::InvalidInput(format!("{}: {why}", self.cloud)));
        let total = match usize::try_from(total) {
            Ok(t) => t,
            Err(_) => return refuse("a manifest longer than this guest can hold"),
        };
        let complete = self.raw.as_ref().is_some_and(|r| r.bytes.len() == r.total);
        if self.manifest_key.is_none() || self.given.is_some() || complete {
            return refuse("a manifest given twice, or to a session that keeps none");
        }
        let raw = self.raw.get_or_insert_with(|| Raw {
            bytes: Vec::with_capacity(total),
            total,
        });
        if raw.total != total {
            return refuse("the parts of the manifest disagree on its length");
        }
        if part.len() > raw.total - raw.bytes.len() {
            return refuse("the manifest's parts hold more bytes than its length");
        }
        raw.bytes.extend_from_slice(&part);
        Ok(())
    }

    /// Reads the manifest `add_manifest` took, once all its parts are in.
    fn read_given(&mut self) {
        if self.raw.as_ref().is_some_and(|r| r.bytes.len() == r.total)
            && let Some(raw) = self.raw.take()
        {
            self.given = Some(self.read_manifest(raw.bytes));
        }
    }

    /// The manifest read from its bytes: a sealed one opened first, with
    /// the SHA-256 of its sealed bytes, or why it could not be opened.
    fn read_manifest(&self, bytes: Vec<u8>) -> Given {
        let Some(k) = self.sealed() else {
            return Given {
                decoded: manifest::read(bytes),
                sha256: None,
                unopened: None,
            };
        };
        let sha256 = Some(sha256_hex(&bytes));
        match k.open_blob(&manifest_context(&self.cloud), bytes) {
            Ok(plain) => Given {
                decoded: manifest::read(plain),
                sha256,
                unopened: None,
            },
            Err(e) => Given {
                decoded: manifest::Decoded::default(),
                sha256,
                unopened: Some(format!("cannot be opened: {}", words(&e))),
            },
        }
    }

    /// Takes the rest of the store's listing under `prefix` (what
    /// `add_objects` did not give) and the manifest's bytes (`None` when
    /// there is none, or `add_manifest` took them), and returns the keys of
    /// the objects the host must read: their header (sealed) or their
    /// metadata (plain).
    pub fn ingest_listing(
        &mut self,
        objects: Vec<Listed>,
        manifest: Option<Vec<u8>>,
    ) -> Result<Vec<String>> {
        self.not_listed_yet()?;
        self.read_given();
        if let Some(raw) = &self.raw {
            return Err(SessionError::InvalidInput(format!(
                "{}: the manifest came short: {} of its {} bytes",
                self.cloud,
                raw.bytes.len(),
                raw.total
            )));
        }
        let given = match (manifest, self.given.take()) {
            (Some(_), Some(_)) => {
                return Err(SessionError::InvalidInput(format!(
                    "{}: the manifest was given twice",
                    self.cloud
                )));
            }
            (Some(bytes), None) => Some(self.read_manifest(bytes)),
            (None, given) => given,
        };
        self.listed = true;
        let mut parts = std::mem::take(&mut self.incoming);
        parts.push(compact(objects));
        let listed: usize = parts.iter().map(Vec::len).sum();
        self.listing.exists = listed > 0;
        match self.layout.clone() {
            Layout::Plain { .. } => self.ingest_plain(parts, given),
            Layout::Sealed(k) => self.ingest_sealed(&k, listed, parts.into_iter().flatten(), given),
        }
    }

    /// Records objects as waiting for a read and returns their keys.
    /// `size` is the file's size (a sealed object's plain size).
    fn wait_for(&mut self, objects: Vec<(String, Obj, u64)>) -> Vec<String> {
        let keys = objects.iter().map(|(_, o, _)| o.key.to_string()).collect();
        for (rel, o, size) in objects {
            self.pending.insert(o.key.to_string(), (rel, o, size));
        }
        keys
    }

    /// Takes what the host read for one key `ingest_listing` asked about.
    pub fn ingest_read(&mut self, key: &str, read: Read) -> Result<()> {
        let Some((rel, o, size)) = self.pending.remove(key) else {
            return Err(SessionError::InvalidInput(format!(
                "{key} was not asked for, or was given twice"
            )));
        };
        let cloud = self.cloud.clone();
        match (self.layout.clone(), read) {
            (_, Read::Failed(why)) => {
                if self.sealed().is_some() {
                    self.bad.insert(
                        rel.clone(),
                        format!("{} ({cloud}/{rel}): {why}", self.show(&o.key)),
                    );
                } else {
                    self.listing.problems.push(why);
                }
            }
            (Layout::Plain { .. }, Read::Entry(e)) => {
                // A session that keeps a manifest lists its records
                // (`finish_listing`); one that keeps none, what it read.
                if self.manifest_key.is_some() {
                    self.dirty = true;
                    let record = Record {
                        size: o.size,
                        mtime_ns: e.mtime_ns,
                        mode: e.mode,
                        etag: o.etag,
                        object_id: None,
                    };
                    self.files.insert(&rel, record);
                } else {
                    self.listing.entries.push(Entry {
                        path: rel,
                        size: o.size,
                        ..e
                    });
                }
            }
            (Layout::Sealed(k), Read::Header(h)) => {
                let opened = k.opener(&object_path(&cloud, &rel), &h);
                let why = match opened {
                    Err(e) => Some(format!(
                        "{} ({cloud}/{rel}): {}",
                        self.show(&o.key),
                        words(&e)
                    )),
                    Ok(op) if op.meta().size != size => Some(format!(
                        "{} ({cloud}/{rel}): its header says {} bytes but the object holds {size}; \
                         it was truncated or extended",
                        self.show(&o.key),
                        op.meta().size
                    )),
                    Ok(op)
                        if self
                            .ids
                            .get(&rel)
                            .is_some_and(|want| *want != op.object_id_hex()) =>
                    {
                        Some(format!(
                            "{} ({cloud}/{rel}): its object id is not the one the manifest records: an \
                             older version was put back (replayed), or the manifest is stale",
                            self.show(&o.key)
                        ))
                    }
                    Ok(op) => {
                        // Listed from the records (`finish_listing`).
                        let m = op.meta();
                        let record = Record {
                            size: m.size,
                            mtime_ns: m.mtime_ns,
                            mode: m.mode,
                            etag: o.etag,
                            object_id: Some(op.object_id_hex().into()),
                        };
                        self.files.insert(&rel, record);
                        None
                    }
                };
                if let Some(why) = why {
                    self.bad.insert(rel, why);
                }
            }
            (_, _) => {
                return Err(SessionError::InvalidInput(format!(
                    "{key}: the wrong kind of read for this layout"
                )));
            }
        }
        Ok(())
    }

    /// Ends the listing: every object asked about must have been read.
    /// The listing is handed over, or with `keep` its entries stay for
    /// `plan_input` (the listing handed over then has none): either way the
    /// session holds them once.
    pub fn finish_listing(&mut self, keep: bool) -> Result<Listing> {
        if self.finished {
            return Err(SessionError::InvalidInput(
                "the listing of this session was already finished".into(),
            ));
        }
        self.finished = true;
        let cloud = self.cloud.clone();
        let waiting: Vec<String> = std::mem::take(&mut self.pending).into_keys().collect();
        if !waiting.is_empty() {
            return Err(SessionError::InvalidInput(format!(
                "{} objects of {cloud} were asked about but not read, e.g. {}",
                waiting.len(),
                waiting[0]
            )));
        }
        // A session that keeps a manifest lists what it will record.
        if self.manifest_key.is_some() {
            // Room for all at once: grown by doubling, the list took up to
            // twice its length, and both copies while it moved.
            self.listing
                .entries
                .reserve_exact(self.files.most() + self.bad.len());
            let recorded = self.files.iter().map(|(p, r)| r.entry(p));
            self.listing.entries.extend(recorded);
        }
        for (rel, why) in &self.bad {
            if !self.files.contains(rel) {
                let size = self.bad_sizes.get(rel).copied().unwrap_or_default();
                // Listed, so that a backup replaces it and a restore names it.
                self.listing.entries.push(Entry {
                    path: rel.clone(),
                    size,
                    mtime_ns: 0,
                    mode: None,
                });
            }
            self.listing
                .skipped
                .push(format!("{why} (it is not restored)"));
        }
        // In place: a stable sort would take a scratch buffer of half the list.
        self.listing
            .entries
            .sort_unstable_by(|a, b| a.path.cmp(&b.path));
        if self.sealed().is_some() {
            for (p, r) in self.files.iter() {
                if let Some(id) = &r.object_id {
                    self.ids
                        .entry(p.to_string())
                        .or_insert_with(|| id.to_string());
                }
            }
            self.dirty = !self.exact && self.listing.problems.is_empty() && self.bad.is_empty();
        }
        let mut listing = std::mem::take(&mut self.listing);
        if keep {
            self.kept = Kept::Held(std::mem::take(&mut listing.entries));
        }
        Ok(listing)
    }

    /// Takes a part of the plan's local side, in order; `total` is how
    /// many entries the parts hold together (room for them is made at the
    /// first part, so the list is neither grown twice over nor moved).
    pub fn add_local(&mut self, part: Vec<Entry>, total: u64) -> Result<()> {
        match &mut self.local {
            Local::Used => Err(SessionError::InvalidInput(format!(
                "the plan for {} was made already; its local files come before it",
                self.cloud
            ))),
            Local::Parts(entries) => {
                entries.extend(part);
                Ok(())
            }
            Local::No => {
                // The host counts what it walked; a total beyond the
                // guest's memory limit stops the guest, as any list that long would.
                let room = usize::try_from(total).unwrap_or(usize::MAX);
                let mut entries = Vec::with_capacity(room.max(part.len()));
                entries.extend(part);
                self.local = Local::Parts(entries);
                Ok(())
            }
        }
    }

    /// Puts the entries `finish_listing` kept on the remote's side of a
    /// plan's input (its target going up, its source going down) and those
    /// `add_local` took on the other. A side filled here must be empty in
    /// `input`; what the session does not hold is left as given. The
    /// entries go to the plan: a second plan needs a new listing.
    pub fn plan_input(&mut self, input: &mut Input) -> Result<()> {
        let kept = match std::mem::replace(&mut self.kept, Kept::Used) {
            Kept::No => {
                self.kept = Kept::No;
                None
            }
            Kept::Used => {
                return Err(SessionError::InvalidInput(format!(
                    "the listing of {} went to a plan already; list it again",
                    self.cloud
                )));
            }
            Kept::Held(entries) => Some(entries),
        };
        let local = match std::mem::replace(&mut self.local, Local::Used) {
            Local::No | Local::Used => None,
            Local::Parts(entries) => Some(entries),
        };
        let (remote_side, local_side) = match input.direction {
            Direction::Up => (&mut input.target, &mut input.source),
            Direction::Down => (&mut input.source, &mut input.target),
        };
        for (held, side, whose) in [
            (kept, remote_side, "remote's"),
            (local, local_side, "local"),
        ] {
            let Some(held) = held else { continue };
            if !side.is_empty() {
                return Err(SessionError::InvalidInput(format!(
                    "the plan for {} was given the {whose} files, but the session holds them",
                    self.cloud
                )));
            }
            *side = held;
        }
        Ok(())
    }

    /// The key of the object of `rel`.
    pub fn object_key(&mut self, rel: &str) -> Result<String> {
        if let Some(k) = self.names.get(rel) {
            return Ok(k.clone());
        }
        paths::check(rel).map_err(|why| {
            SessionError::InvalidInput(format!("{rel:?} is not a safe relative path: {why}"))
        })?;
        match &self.layout {
            // A plain key is its path under the prefix: nothing to remember.
            Layout::Plain { .. } => Ok(format!("{}{rel}", self.prefix)),
            Layout::Sealed(k) => {
                let key = k.encrypt_path(&object_path(&self.cloud, rel))?;
                self.names.insert(rel.to_string(), key.clone());
                Ok(key)
            }
        }
    }

    /// Refuses a restore of `rel` when its object failed a check while listing.
    pub fn check_restore(&self, rel: &str) -> Result<()> {
        match self.bad.get(rel) {
            Some(why) => Err(SessionError::Refused(why.clone())),
            None => Ok(()),
        }
    }

    /// Refuses a restored object whose id is not the one it must carry.
    pub fn check_object_id(&self, rel: &str, id: &str) -> Result<()> {
        match self.ids.get(rel) {
            Some(want) if want != id => Err(SessionError::Refused(format!(
                "{}: its object id {id} is not the {want} the manifest records: an older \
                 version was put back (replayed), or the manifest is stale; it was not restored. \
                 Run `poof backup` from the machine that holds the files to rewrite it",
                self.show(self.names.get(rel).map_or(rel, String::as_str))
            ))),
            _ => Ok(()),
        }
    }

    /// Records a successful upload of `entry`; `etag` is the new object's
    /// tag when the store gave one, `object_id` the sealed object's id.
    /// Without a tag nothing is known of the new object, and the next
    /// listing reads it as it finds it.
    pub fn uploaded(&mut self, entry: Entry, etag: Option<String>, object_id: Option<String>) {
        let Some(etag) = etag else {
            self.deleted(&entry.path);
            return;
        };
        self.dirty |= self.manifest_key.is_some();
        let path = entry.path;
        self.bad.remove(&path);
        if let Some(id) = &object_id {
            self.ids.insert(path.clone(), id.clone());
        }
        let record = Record {
            size: entry.size,
            mtime_ns: entry.mtime_ns,
            mode: entry.mode,
            etag: Tag::from(etag),
            object_id: object_id.map(String::into_boxed_str),
        };
        self.files.insert(&path, record);
    }

    /// Records the deletion of `rel`.
    pub fn deleted(&mut self, rel: &str) {
        // A deletion already recorded (before the deletions, so that the
        // manifest never runs ahead of the objects) changes nothing more.
        let recorded = self.files.remove(rel)
            | self.ids.remove(rel).is_some()
            | self.bad.remove(rel).is_some();
        self.dirty |= recorded && self.manifest_key.is_some();
    }

    /// Records new permission bits of `entry`. Plain: the store rewrote the
    /// object's metadata (a new ETag), so the next listing reads it again.
    /// Sealed: the bits live in the sealed manifest (the header keeps the
    /// ones of the upload), so the file must be in this run's listing.
    pub fn mode_set(&mut self, entry: &Entry) -> Result<()> {
        self.dirty |= self.manifest_key.is_some();
        match &self.layout {
            Layout::Plain { .. } => {
                self.files.remove(&entry.path);
                Ok(())
            }
            Layout::Sealed(_) => match self.files.get_mut(&entry.path) {
                Some(r) => {
                    r.mode = entry.mode;
                    Ok(())
                }
                None => Err(SessionError::Refused(format!(
                    "{}/{}: not in this run's listing; run poof again",
                    self.cloud, entry.path
                ))),
            },
        }
    }

    /// The manifest to write to `manifest_key` when it changed in this run
    /// (sealed with `entropy` on a sealed folder), in parts of about
    /// `part_size` bytes: called again until it returns `None`, and the
    /// parts joined in order are the manifest. The first call marks it
    /// written; a change recorded while it is handed over marks it changed
    /// again. A plain manifest is encoded part by part, so that this
    /// instance never holds it whole; a sealed one is sealed whole first.
    pub fn manifest(&mut self, entropy: &[u8], part_size: usize) -> Result<Option<Vec<u8>>> {
        let writing = match self.writing.take() {
            Some(w) => w,
            None if !self.dirty || self.manifest_key.is_none() => return Ok(None),
            None => {
                self.dirty = false;
                match &self.layout {
                    Layout::Plain { .. } => Writing::Rows {
                        after: None,
                        started: false,
                    },
                    Layout::Sealed(k) => {
                        let generation = self.generation + 1;
                        let plain = manifest::encode(self.files.iter(), Some(generation));
                        let sealed = k.seal_blob(&manifest_context(&self.cloud), plain, entropy)?;
                        self.generation = generation;
                        self.remember = Some(Freshness {
                            generation,
                            manifest_sha256: sha256_hex(&sealed),
                        });
                        Writing::Sealed {
                            bytes: sealed,
                            at: 0,
                        }
                    }
                }
            }
        };
        let part_size = part_size.max(1);
        let (part, next) = match writing {
            Writing::Done => return Ok(None),
            Writing::Sealed { bytes, at } => {
                let end = bytes.len().min(at.saturating_add(part_size));
                let part = bytes[at..end].to_vec();
                let next = if end == bytes.len() {
                    Writing::Done
                } else {
                    Writing::Sealed { bytes, at: end }
                };
                (part, next)
            }
            Writing::Rows { after, started } => {
                // Room for a part and its last row; a part size beyond any
                // manifest's takes room as the rows come, not all at once.
                let mut out = Vec::with_capacity(part_size.min(4 << 20) + 256);
                if !started {
                    out.extend_from_slice(manifest::HEAD);
                }
                // The first row has no comma before it.
                let mut first = after.is_none();
                let mut last = None;
                let mut rows = self.files.iter_after(after.as_deref());
                let more = loop {
                    if out.len() >= part_size {
                        break true;
                    }
                    let Some((path, record)) = rows.next() else {
                        break false;
                    };
                    manifest::encode_row(&mut out, first, path, record);
                    first = false;
                    last = Some(path);
                };
                let next = if more {
                    Writing::Rows {
                        after: last.map(Box::from).or(after),
                        started: true,
                    }
                } else {
                    manifest::encode_tail(&mut out, None);
                    Writing::Done
                };
                (out, next)
            }
        };
        self.writing = Some(next);
        Ok(Some(part))
    }
}

/// Hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The context a cloud folder's sealed manifest is sealed for.
fn manifest_context(cloud: &str) -> String {
    format!("manifest:{cloud}")
}

mod plain;
mod sealed;
#[cfg(test)]
mod tests;
