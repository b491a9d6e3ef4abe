//! The per-path manifest: what the last sync wrote, so that a no-op sync
//! costs listing requests, not one request per object.
//!
//! S3 listings give each object's key, size and ETag, but not the
//! modification time and mode poof keeps in the object's metadata; reading
//! those costs one HEAD per object. The manifest records, for each object,
//! its entry (time, mode) together with the size and ETag it had.
//! Invariant: the manifest is never trusted blindly. A record vouches for an
//! object only when the listing shows that object with the same size and
//! ETag; every other object is `unknown` and must be read from the store,
//! and a manifest that cannot be read at all vouches for nothing.
//!
//! Format (version 1), UTF-8 JSON:
//! `{"format":"poof-manifest","version":1,"files":[[path,size,mtime_ns,mode|null,etag(,object_id)],...]}`
//! The sixth column, the object id of an encrypted object (docs/FORMAT.md,
//! "Replay"), is present only on encrypted remotes; plain manifests keep
//! five columns, byte for byte as before. Encrypted manifests also carry
//! `"generation":N`, a number that rises by one with every manifest written
//! (docs/FORMAT.md, "Freshness"); a manifest without it is generation 0.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::paths;
use crate::plan::Entry;

/// The format name written into every manifest.
pub const FORMAT: &str = "poof-manifest";
/// The format version this guest writes and reads.
pub const VERSION: u64 = 1;

/// One object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Path relative to the cloud folder.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// The store's ETag, without quotes.
    pub etag: String,
}

/// What the manifest knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The file's entry: path, size, time, mode.
    pub entry: Entry,
    /// The ETag the object had when the entry was recorded.
    pub etag: String,
    /// The object id of an encrypted object, when one was recorded.
    pub object_id: Option<String>,
}

/// A listing checked against a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reconciled {
    /// Objects the manifest vouches for, with their entries.
    pub known: Vec<Stored>,
    /// Paths of listed objects the manifest does not vouch for.
    pub unknown: Vec<String>,
    /// True when the manifest matches the listing exactly (nothing to rewrite).
    pub exact: bool,
    /// Why the manifest could not be used, when it could not.
    pub problem: Option<String>,
    /// Every recorded object id, by path, whether or not the listing still
    /// matches the record: what an encrypted object must carry to be current.
    pub ids: Vec<(String, String)>,
    /// The manifest's generation (0 when it records none); `None` when
    /// there is no manifest or it could not be read.
    pub generation: Option<u64>,
}

/// Checks `listing` against the manifest bytes (empty when there is none).
pub fn reconcile(manifest: &[u8], listing: &[Object]) -> Reconciled {
    let (records, generation, problem) = if manifest.is_empty() {
        (BTreeMap::new(), None, None)
    } else {
        match decode(manifest) {
            Ok((r, g)) => (r, Some(g), None),
            Err(why) => (BTreeMap::new(), None, Some(why)),
        }
    };
    let mut out = Reconciled {
        problem,
        generation,
        ..Reconciled::default()
    };
    out.ids = records
        .values()
        .filter_map(|r| Some((r.entry.path.clone(), r.object_id.clone()?)))
        .collect();
    let mut matched = 0;
    for o in listing {
        match records.get(&o.path) {
            Some(r) if r.entry.size == o.size && r.etag == o.etag => {
                matched += 1;
                out.known.push(r.clone());
            }
            _ => out.unknown.push(o.path.clone()),
        }
    }
    out.exact = !manifest.is_empty()
        && out.problem.is_none()
        && out.unknown.is_empty()
        && matched == records.len();
    out
}

/// Encodes a manifest, sorted by path so that equal contents give equal
/// bytes; `generation` is written when given (encrypted manifests).
pub fn encode(files: &[Stored], generation: Option<u64>) -> Vec<u8> {
    let mut sorted: Vec<&Stored> = files.iter().collect();
    sorted.sort_by(|a, b| a.entry.path.cmp(&b.entry.path));
    let rows: Vec<Value> = sorted
        .iter()
        .map(|s| {
            let mut row = json!([
                s.entry.path,
                s.entry.size,
                s.entry.mtime_ns,
                s.entry.mode,
                s.etag
            ]);
            if let (Some(id), Some(r)) = (&s.object_id, row.as_array_mut()) {
                r.push(json!(id));
            }
            row
        })
        .collect();
    let mut doc = json!({"format": FORMAT, "version": VERSION, "files": rows});
    if let Some(g) = generation {
        doc["generation"] = json!(g);
    }
    doc.to_string().into_bytes()
}

/// The records and the generation (0 when absent) of a manifest.
fn decode(bytes: &[u8]) -> Result<(BTreeMap<String, Stored>, u64), String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    if v["format"] != FORMAT {
        return Err("not a poof manifest".into());
    }
    if v["version"] != VERSION {
        return Err(format!(
            "manifest version {} is not {VERSION}",
            v["version"]
        ));
    }
    let generation = match &v["generation"] {
        Value::Null => 0,
        g => g.as_u64().ok_or("its generation is not a number")?,
    };
    let rows = v["files"].as_array().ok_or("it has no file list")?;
    let mut out = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        let bad = || format!("record {i} is malformed");
        let r = row
            .as_array()
            .filter(|r| r.len() == 5 || r.len() == 6)
            .ok_or_else(bad)?;
        let path = r[0].as_str().ok_or_else(bad)?.to_string();
        paths::check(&path).map_err(|why| format!("record {i}: {path:?}: {why}"))?;
        let mode = match &r[3] {
            Value::Null => None,
            m => Some(
                m.as_u64()
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or_else(bad)?,
            ),
        };
        let stored = Stored {
            entry: Entry {
                path: path.clone(),
                size: r[1].as_u64().ok_or_else(bad)?,
                mtime_ns: r[2].as_i64().ok_or_else(bad)?,
                mode,
            },
            etag: r[4].as_str().ok_or_else(bad)?.to_string(),
            object_id: match r.get(5) {
                None => None,
                Some(id) => Some(id.as_str().ok_or_else(bad)?.to_string()),
            },
        };
        if out.insert(path.clone(), stored).is_some() {
            return Err(format!("{path:?} is recorded twice"));
        }
    }
    Ok((out, generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(path: &str, size: u64, etag: &str) -> Stored {
        Stored {
            entry: Entry {
                path: path.into(),
                size,
                mtime_ns: -1_500_000_000,
                mode: Some(0o640),
            },
            etag: etag.into(),
            object_id: None,
        }
    }

    fn obj(path: &str, size: u64, etag: &str) -> Object {
        Object {
            path: path.into(),
            size,
            etag: etag.into(),
        }
    }

    #[test]
    fn a_matching_manifest_vouches_for_everything() {
        let m = encode(&[stored("b", 2, "e2"), stored("a/x", 1, "e1")], None);
        let r = reconcile(&m, &[obj("a/x", 1, "e1"), obj("b", 2, "e2")]);
        assert!(r.exact && r.unknown.is_empty() && r.problem.is_none());
        assert_eq!(r.known, vec![stored("a/x", 1, "e1"), stored("b", 2, "e2")]);
        // Equal contents, equal bytes.
        assert_eq!(
            m,
            encode(&[stored("a/x", 1, "e1"), stored("b", 2, "e2")], None)
        );
    }

    #[test]
    fn changed_new_and_gone_objects_are_not_trusted() {
        let m = encode(
            &[
                stored("same", 1, "e"),
                stored("changed", 1, "e"),
                stored("gone", 1, "e"),
            ],
            None,
        );
        let r = reconcile(
            &m,
            &[
                obj("same", 1, "e"),
                obj("changed", 1, "other"),
                obj("new", 3, "n"),
            ],
        );
        assert_eq!(r.known, vec![stored("same", 1, "e")]);
        assert_eq!(r.unknown, ["changed", "new"]);
        assert!(!r.exact);
        // A record of an object that is gone makes the manifest stale too.
        let r = reconcile(&m, &[obj("same", 1, "e"), obj("changed", 1, "e")]);
        assert!(r.unknown.is_empty() && !r.exact);
    }

    #[test]
    fn object_ids_are_kept_and_reported_even_for_stale_records() {
        let mut a = stored("a", 1, "e1");
        a.object_id = Some("ab".repeat(32));
        let m = encode(&[a.clone(), stored("b", 2, "e2")], None);
        // Plain records keep five columns; the id is a sixth.
        assert!(String::from_utf8_lossy(&m).contains(r#"["b",2,-1500000000,416,"e2"]"#));
        let r = reconcile(&m, &[obj("a", 1, "changed"), obj("b", 2, "e2")]);
        assert_eq!(r.unknown, ["a"]);
        assert_eq!(r.ids, vec![("a".to_string(), "ab".repeat(32))]);
        let r = reconcile(&m, &[obj("a", 1, "e1"), obj("b", 2, "e2")]);
        assert_eq!(r.known[0], a);
    }

    #[test]
    fn a_missing_or_broken_manifest_vouches_for_nothing() {
        let listing = [obj("a", 1, "e")];
        let r = reconcile(b"", &listing);
        assert_eq!((r.unknown.len(), r.exact, r.problem), (1, false, None));
        for bad in [
            &b"{"[..],
            br#"{"format":"other","version":1,"files":[]}"#,
            br#"{"format":"poof-manifest","version":2,"files":[]}"#,
            br#"{"format":"poof-manifest","version":1,"files":[["a",1,0,null]]}"#,
            br#"{"format":"poof-manifest","version":1,"files":[["../a",1,0,null,"e"]]}"#,
            br#"{"format":"poof-manifest","version":1,"files":[["a",1,0,null,"e"],["a",1,0,null,"e"]]}"#,
            br#"{"format":"poof-manifest","version":1,"generation":-1,"files":[]}"#,
        ] {
            let r = reconcile(bad, &listing);
            assert!(r.problem.is_some(), "{}", String::from_utf8_lossy(bad));
            assert!(r.known.is_empty() && !r.exact);
        }
    }

    #[test]
    fn the_generation_is_written_when_given_and_read_as_zero_when_absent() {
        let listing = [obj("a", 1, "e")];
        let plain = encode(&[stored("a", 1, "e")], None);
        assert!(!String::from_utf8_lossy(&plain).contains("generation"));
        assert_eq!(reconcile(&plain, &listing).generation, Some(0));
        let sealed = encode(&[stored("a", 1, "e")], Some(7));
        assert!(String::from_utf8_lossy(&sealed).contains(r#""generation":7"#));
        let r = reconcile(&sealed, &listing);
        assert_eq!((r.generation, r.exact), (Some(7), true));
        assert_eq!(reconcile(b"", &listing).generation, None);
        assert_eq!(reconcile(b"{", &listing).generation, None);
    }
}
