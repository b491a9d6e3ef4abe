//! An in-process store for unit tests, with faults injected on demand.
//!
//! It behaves as a small S3 bucket: objects under keys, user metadata, an
//! ETag per write, `list` without metadata (so layouts take the same paths
//! as on S3). Faults make the orchestration's failure paths testable without
//! a network: fail the Nth call (of one kind or of any), lose a write (the
//! `put` answers success and stores nothing), and return a stale listing
//! (the listing taken at some earlier moment).
//!
//! Invariant: without faults, every operation is exact and immediately
//! visible; a fault changes only the one call it names.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::Mutex;

use super::{
    Body, Listing, Meta, ObjectInfo, Put, Result, Store, StoreError, check_key, check_prefix,
};

/// The kinds of calls a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `list`.
    List,
    /// `head`.
    Head,
    /// `get`, `get_range` and `get_file`.
    Get,
    /// `put`.
    Put,
    /// `set_meta`.
    SetMeta,
    /// `delete`.
    Delete,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The `n`th call (counting from 1) of `op` (or of any kind, `None`)
    /// fails with a transient error.
    Fail {
        /// The kind of call, or any.
        op: Option<Op>,
        /// Which one, counting from 1.
        n: u64,
    },
    /// The `n`th `put` answers success but stores nothing.
    LoseWrite {
        /// Which one, counting from 1.
        n: u64,
    },
    /// Every `list` answers with the objects as they were when this fault
    /// was added, not as they are.
    StaleListing,
    /// The `n`th call of `op` succeeds and every call after it fails: the
    /// process was killed right after it (nothing after it reaches the store).
    DieAfter {
        /// The kind of call.
        op: Op,
        /// Which one, counting from 1.
        n: u64,
    },
}

#[derive(Debug, Clone)]
struct Object {
    bytes: Vec<u8>,
    meta: Meta,
    etag: String,
    mtime_ns: i64,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Object>,
    faults: Vec<Fault>,
    stale: Option<BTreeMap<String, Object>>,
    calls: BTreeMap<&'static str, u64>,
    all_calls: u64,
    /// A `DieAfter` fault was met: every call fails until `heal`.
    dead: bool,
    writes: u64,
    clock: i64,
}

/// An in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        let mut s = self.lock();
        if fault == Fault::StaleListing {
            s.stale = Some(s.objects.clone());
        }
        s.faults.push(fault);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        let mut s = self.lock();
        s.faults.clear();
        s.stale = None;
        s.dead = false;
    }

    /// The keys stored now, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().objects.keys().cloned().collect()
    }

    /// The content stored under `key`.
    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().objects.get(key).map(|o| o.bytes.clone())
    }

    /// The metadata stored with `key`.
    pub fn meta(&self, key: &str) -> Option<Meta> {
        self.lock().objects.get(key).map(|o| o.meta.clone())
    }

    /// Replaces the content of `key` behind every layout's back (a hostile
    /// or broken provider), keeping its metadata; the ETag changes.
    pub fn tamper(&self, key: &str, bytes: Vec<u8>) {
        let mut s = self.lock();
        s.clock += 1;
        let clock = s.clock;
        if let Some(o) = s.objects.get_mut(key) {
            o.etag = format!("{:x}", md5_like(&bytes, clock));
            o.bytes = bytes;
        }
    }

    /// Removes `key` behind every layout's back.
    pub fn remove_behind(&self, key: &str) {
        self.lock().objects.remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("no panics while the memory store is locked")
    }

    /// Counts a call of `op` and fails it when a fault says so.
    fn call(&self, op: Op, key: &str) -> Result<()> {
        let mut s = self.lock();
        let name = op_name(op);
        if s.dead {
            return Err(StoreError::Transient(anyhow::anyhow!(
                "memory store: {name} {key:?} after the injected end of the process"
            )));
        }
        s.all_calls += 1;
        let n = {
            let c = s.calls.entry(name).or_default();
            *c += 1;
            *c
        };
        let all = s.all_calls;
        let hit = s.faults.iter().any(|f| match f {
            Fault::Fail { op: Some(o), n: k } => *o == op && *k == n,
            Fault::Fail { op: None, n: k } => *k == all,
            _ => false,
        });
        if hit {
            return Err(StoreError::Transient(anyhow::anyhow!(
                "memory store: injected failure of {name} {key:?} (call {n})"
            )));
        }
        s.dead = s
            .faults
            .iter()
            .any(|f| matches!(f, Fault::DieAfter { op: o, n: k } if *o == op && *k == n));
        Ok(())
    }

    fn info(key: &str, o: &Object, with_user: bool) -> ObjectInfo {
        ObjectInfo {
            key: key.to_string(),
            size: o.bytes.len() as u64,
            etag: o.etag.clone(),
            mtime_ns: Some(o.mtime_ns),
            mode: None,
            user: with_user.then(|| o.meta.user.clone()),
        }
    }

    fn not_found(key: &str) -> StoreError {
        StoreError::NotFound(anyhow::anyhow!("object {key:?} does not exist"))
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::List => "list",
        Op::Head => "head",
        Op::Get => "get",
        Op::Put => "put",
        Op::SetMeta => "set-meta",
        Op::Delete => "delete",
    }
}

/// A stand-in for an ETag: changes with the content and with every write.
fn md5_like(bytes: &[u8], clock: i64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    clock.hash(&mut h);
    h.finish()
}

impl Store for MemoryStore {
    fn describe(&self) -> String {
        "memory store".into()
    }

    fn show(&self, key: &str) -> String {
        format!("memory:{key}")
    }

    fn check_ready(&self) -> Result<()> {
        Ok(())
    }

    fn keeps_user_metadata(&self) -> bool {
        true
    }

    fn lists_metadata(&self) -> bool {
        false
    }

    fn list(&self, prefix: &str) -> Result<Listing> {
        check_prefix(prefix)?;
        self.call(Op::List, prefix)?;
        let s = self.lock();
        let objects = s.stale.as_ref().unwrap_or(&s.objects);
        let objects: Vec<ObjectInfo> = objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, o)| Self::info(k, o, false))
            .collect();
        Ok(Listing {
            exists: !objects.is_empty(),
            objects,
            ..Listing::default()
        })
    }

    fn head(&self, key: &str) -> Result<ObjectInfo> {
        check_key(key)?;
        self.call(Op::Head, key)?;
        let s = self.lock();
        let o = s.objects.get(key).ok_or_else(|| Self::not_found(key))?;
        Ok(Self::info(key, o, true))
    }

    fn get(&self, key: &str, out: &mut dyn Write) -> Result<u64> {
        check_key(key)?;
        self.call(Op::Get, key)?;
        let bytes = self
            .lock()
            .objects
            .get(key)
            .map(|o| o.bytes.clone())
            .ok_or_else(|| Self::not_found(key))?;
        out.write_all(&bytes)
            .map_err(|e| StoreError::from_io(e, format!("writing {key}")))?;
        Ok(bytes.len() as u64)
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        check_key(key)?;
        self.call(Op::Get, key)?;
        let s = self.lock();
        let o = s.objects.get(key).ok_or_else(|| Self::not_found(key))?;
        let start = (start as usize).min(o.bytes.len());
        let end = start.saturating_add(len as usize).min(o.bytes.len());
        Ok(o.bytes[start..end].to_vec())
    }

    fn put(&self, key: &str, body: Body<'_>, meta: &Meta) -> Result<Put> {
        check_key(key)?;
        self.call(Op::Put, key)?;
        let read = |e: io::Error| StoreError::from_io(e, format!("reading the body of {key}"));
        let bytes = match body {
            Body::Bytes(b) => b,
            Body::File {
                file,
                len,
                unchanged,
                ..
            } => {
                let mut b = Vec::with_capacity(len as usize);
                (&*file).take(len).read_to_end(&mut b).map_err(read)?;
                if b.len() as u64 != len {
                    return Err(StoreError::other(format!("{key}: the source ended early")));
                }
                unchanged().map_err(read)?;
                b
            }
            Body::HeadLast {
                reader,
                len,
                head_len,
                path,
            } => {
                let mut b = vec![0; len as usize];
                super::read_head_last(reader, &mut b, head_len as usize, path).map_err(read)?;
                b
            }
        };
        let mut s = self.lock();
        s.writes += 1;
        s.clock += 1;
        let (writes, clock) = (s.writes, s.clock);
        let etag = format!("{:x}", md5_like(&bytes, clock));
        let lost = s
            .faults
            .iter()
            .any(|f| matches!(f, Fault::LoseWrite { n } if *n == writes));
        if !lost {
            s.objects.insert(
                key.to_string(),
                Object {
                    bytes,
                    meta: meta.clone(),
                    etag: etag.clone(),
                    mtime_ns: clock,
                },
            );
        }
        Ok(Put { etag: Some(etag) })
    }

    fn set_meta(&self, key: &str, meta: &Meta) -> Result<()> {
        check_key(key)?;
        self.call(Op::SetMeta, key)?;
        let mut s = self.lock();
        s.clock += 1;
        let clock = s.clock;
        let o = s.objects.get_mut(key).ok_or_else(|| Self::not_found(key))?;
        o.meta = meta.clone();
        o.etag = format!("{:x}", md5_like(&o.bytes, clock));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        self.call(Op::Delete, key)?;
        self.lock().objects.remove(key);
        Ok(())
    }

    fn requests(&self) -> Option<u64> {
        Some(self.lock().all_calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(s: &MemoryStore, key: &str, bytes: &[u8]) -> Result<Put> {
        s.put(key, Body::Bytes(bytes.to_vec()), &Meta::default())
    }

    #[test]
    fn stores_lists_and_reads_back() {
        let s = MemoryStore::new();
        put(&s, "a/x", b"hello").unwrap();
        put(&s, "a/y/z", b"").unwrap();
        put(&s, "b/x", b"other").unwrap();
        let l = s.list("a/").unwrap();
        let keys: Vec<&str> = l.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a/x", "a/y/z"]);
        assert!(l.objects[0].user.is_none(), "a listing carries no metadata");
        let mut out = Vec::new();
        assert_eq!(s.get("a/x", &mut out).unwrap(), 5);
        assert_eq!(out, b"hello");
        assert_eq!(s.get_range("a/x", 1, 3).unwrap(), b"ell");
        assert!(s.head("nope").unwrap_err().is_not_found());
        assert!(!s.list("c/").unwrap().exists);
    }

    #[test]
    fn refuses_unsafe_keys() {
        let s = MemoryStore::new();
        for k in ["../x", "/x", "a//b", ""] {
            assert!(put(&s, k, b"x").is_err(), "{k:?}");
        }
        assert!(s.list("a").is_err(), "a prefix must end with a slash");
    }

    #[test]
    fn fails_the_nth_call_once() {
        let s = MemoryStore::new();
        s.inject(Fault::Fail {
            op: Some(Op::Put),
            n: 2,
        });
        put(&s, "a", b"1").unwrap();
        let e = put(&s, "b", b"2").unwrap_err();
        assert!(matches!(e, StoreError::Transient(_)), "{e}");
        put(&s, "c", b"3").unwrap();
        assert_eq!(s.keys(), ["a", "c"]);
    }

    #[test]
    fn loses_a_write_while_answering_success() {
        let s = MemoryStore::new();
        s.inject(Fault::LoseWrite { n: 1 });
        assert!(put(&s, "a", b"1").unwrap().etag.is_some());
        assert!(s.keys().is_empty());
    }

    #[test]
    fn a_stale_listing_shows_the_past() {
        let s = MemoryStore::new();
        put(&s, "d/old", b"1").unwrap();
        s.inject(Fault::StaleListing);
        put(&s, "d/new", b"2").unwrap();
        s.delete("d/old").unwrap();
        let keys: Vec<String> = s
            .list("d/")
            .unwrap()
            .objects
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["d/old"]);
        s.heal();
        let keys: Vec<String> = s
            .list("d/")
            .unwrap()
            .objects
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["d/new"]);
    }

    #[test]
    fn each_write_gets_a_new_etag() {
        let s = MemoryStore::new();
        let a = put(&s, "k", b"same").unwrap().etag;
        let b = put(&s, "k", b"same").unwrap().etag;
        assert_ne!(a, b);
    }
}
