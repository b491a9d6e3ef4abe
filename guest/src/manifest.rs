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

use serde_json::Value;
use serde_json::value::RawValue;

use crate::paths;
use crate::plan::Entry;

/// The format name written into every manifest.
pub const FORMAT: &str = "poof-manifest";
/// The format version this guest writes and reads.
pub const VERSION: u64 = 1;

/// A store's version tag (an S3 ETag without its quotes), held compactly:
/// the 32 lower-case hex digits of an MD5, which is what S3 gives every
/// single PUT, as its 16 bytes; any other tag as its text. A tag is equal
/// to another exactly when their texts are, and is written back as the
/// text it was read from (upper-case hex stays text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// An MD5-shaped tag: 32 lower-case hex digits.
    Md5([u8; 16]),
    /// Any other tag, as it was given.
    Text(Box<str>),
}

impl Tag {
    /// The tag of the text `etag`.
    pub fn new(etag: &str) -> Tag {
        let lower_hex = etag.len() == 32
            && etag
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let mut md5 = [0u8; 16];
        if lower_hex && hex::decode_to_slice(etag, &mut md5).is_ok() {
            Tag::Md5(md5)
        } else {
            Tag::Text(etag.into())
        }
    }
}

impl From<String> for Tag {
    fn from(etag: String) -> Tag {
        match Tag::new(&etag) {
            // The text's own allocation is kept rather than copied.
            Tag::Text(_) => Tag::Text(etag.into_boxed_str()),
            md5 => md5,
        }
    }
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tag::Md5(b) => b.iter().try_for_each(|x| write!(f, "{x:02x}")),
            Tag::Text(t) => f.write_str(t),
        }
    }
}

/// One object as a listing shows it (borrowed from the listing, so that
/// checking it against the manifest copies nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a> {
    /// Path relative to the cloud folder.
    pub path: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// The store's ETag.
    pub etag: &'a Tag,
}

/// What the manifest knows of one object, beside its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The file's size in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Its permission bits, when kept.
    pub mode: Option<u32>,
    /// The ETag the object had when the record was made.
    pub etag: Tag,
    /// The object id of an encrypted object, when one was recorded.
    pub object_id: Option<Box<str>>,
}

impl Record {
    /// The entry of the file at `path` this record describes.
    pub fn entry(&self, path: &str) -> Entry {
        Entry {
            path: path.to_string(),
            size: self.size,
            mtime_ns: self.mtime_ns,
            mode: self.mode,
        }
    }
}

/// A path and what the manifest knows of it: each path is held once.
pub type Row = (Box<str>, Record);

/// A listing checked against a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reconciled {
    /// Objects the manifest vouches for, in path order.
    pub known: Vec<Row>,
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

/// A manifest as read, before any listing is checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    /// There were bytes to read (a manifest exists).
    had: bool,
    /// Its records, sorted by path; none when it could not be read.
    records: Vec<Row>,
    /// Its generation, when it could be read.
    generation: Option<u64>,
    /// Why it could not be read, when it could not.
    problem: Option<String>,
}

/// Reads the manifest bytes (empty when there is none); the bytes go once
/// their records are read.
pub fn read(manifest: Vec<u8>) -> Decoded {
    let had = !manifest.is_empty();
    let (records, generation, problem) = if !had {
        (Vec::new(), None, None)
    } else {
        match decode(&manifest) {
            Ok((r, g)) => (r, Some(g), None),
            Err(why) => (Vec::new(), None, Some(why)),
        }
    };
    Decoded {
        had,
        records,
        generation,
        problem,
    }
}

/// Checks `listing` against a manifest read with `read`.
pub fn reconcile<'a>(
    manifest: Decoded,
    listing: impl IntoIterator<Item = Object<'a>>,
) -> Reconciled {
    let Decoded {
        had,
        records,
        generation,
        problem,
    } = manifest;
    let mut out = Reconciled {
        problem,
        generation,
        ..Reconciled::default()
    };
    out.ids = records
        .iter()
        .filter_map(|(p, r)| Some((p.to_string(), r.object_id.as_deref()?.to_string())))
        .collect();
    // Whether each record vouches for a listed object.
    let mut hit = vec![false; records.len()];
    let mut matched = 0;
    for o in listing {
        let at = records.binary_search_by(|(p, _)| (**p).cmp(o.path));
        match at {
            Ok(i) if records[i].1.size == o.size && records[i].1.etag == *o.etag => {
                matched += usize::from(!hit[i]);
                hit[i] = true;
            }
            _ => out.unknown.push(o.path.to_string()),
        }
    }
    out.exact = had && out.problem.is_none() && out.unknown.is_empty() && matched == records.len();
    // The records that vouch stay where they are and become `known` (in
    // path order): the manifest's records are held once.
    let mut records = records;
    let mut vouched = hit.into_iter();
    records.retain(|_| vouched.next().unwrap_or(false));
    out.known = records;
    out
}

/// Encodes a manifest, sorted by path so that equal contents give equal
/// bytes; `generation` is written when given (encrypted manifests).
///
/// The bytes are those of a JSON object with sorted keys and no spaces
/// (`{"files":[...],"format":...,"generation":N,"version":1}`), written row
/// by row instead of built as one JSON value first.
pub fn encode<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a Record)>,
    generation: Option<u64>,
) -> Vec<u8> {
    let mut sorted: Vec<(&str, &Record)> = files.into_iter().collect();
    if !sorted.is_sorted_by(|a, b| a.0 <= b.0) {
        sorted.sort_by(|a, b| a.0.cmp(b.0));
    }
    let mut out = Vec::with_capacity(64 + sorted.len() * 96);
    out.extend_from_slice(HEAD);
    for (i, (path, r)) in sorted.iter().enumerate() {
        encode_row(&mut out, i == 0, path, r);
    }
    encode_tail(&mut out, generation);
    out
}

/// What a manifest starts with: its rows follow (`encode_row`), then its
/// end (`encode_tail`). Written in parts so, the manifest equals `encode`'s.
pub const HEAD: &[u8] = b"{\"files\":[";

/// Appends one row of a manifest after `HEAD`, in path order.
pub fn encode_row(out: &mut Vec<u8>, first: bool, path: &str, r: &Record) {
    if !first {
        out.push(b',');
    }
    let etag = r.etag.to_string();
    let written = match &r.object_id {
        None => serde_json::to_writer(&mut *out, &(path, r.size, r.mtime_ns, r.mode, etag)),
        Some(id) => serde_json::to_writer(&mut *out, &(path, r.size, r.mtime_ns, r.mode, etag, id)),
    };
    written.expect("strings and numbers always serialize into a Vec");
}

/// Appends the end of a manifest, after its last row.
pub fn encode_tail(out: &mut Vec<u8>, generation: Option<u64>) {
    out.extend_from_slice(b"],\"format\":");
    serde_json::to_writer(&mut *out, FORMAT).expect("a str serializes");
    if let Some(g) = generation {
        out.extend_from_slice(format!(",\"generation\":{g}").as_bytes());
    }
    out.extend_from_slice(format!(",\"version\":{VERSION}}}").as_bytes());
}

/// The records, sorted by path, and the generation (0 when absent) of a
/// manifest. Each row is parsed on its own from the document's text, so
/// that the whole document is never held as one JSON value.
fn decode(bytes: &[u8]) -> Result<(Vec<Row>, u64), String> {
    let doc: BTreeMap<String, &RawValue> = match serde_json::from_slice(bytes) {
        Ok(doc) => doc,
        Err(e) => {
            return match serde_json::from_slice::<&RawValue>(bytes) {
                Ok(_) => Err("not a poof manifest".into()),
                Err(_) => Err(format!("not valid JSON: {e}")),
            };
        }
    };
    let field = |name: &str| -> Value {
        doc.get(name)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null)
    };
    if field("format") != FORMAT {
        return Err("not a poof manifest".into());
    }
    let version = field("version");
    if version != VERSION {
        return Err(format!("manifest version {version} is not {VERSION}"));
    }
    let generation = match field("generation") {
        Value::Null => 0,
        g => g.as_u64().ok_or("its generation is not a number")?,
    };
    let rows: Vec<&RawValue> = doc
        .get("files")
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .ok_or("it has no file list")?;
    let mut out: Vec<Row> = Vec::with_capacity(rows.len());
    for (i, raw) in rows.iter().enumerate() {
        let bad = || format!("record {i} is malformed");
        let row: Value = serde_json::from_str(raw.get()).map_err(|_| bad())?;
        let r = row
            .as_array()
            .filter(|r| r.len() == 5 || r.len() == 6)
            .ok_or_else(bad)?;
        let path = r[0].as_str().ok_or_else(bad)?;
        paths::check(path).map_err(|why| format!("record {i}: {path:?}: {why}"))?;
        let mode = match &r[3] {
            Value::Null => None,
            m => Some(
                m.as_u64()
                    .and_then(|m| u32::try_from(m).ok())
                    .ok_or_else(bad)?,
            ),
        };
        let record = Record {
            size: r[1].as_u64().ok_or_else(bad)?,
            mtime_ns: r[2].as_i64().ok_or_else(bad)?,
            mode,
            etag: Tag::new(r[4].as_str().ok_or_else(bad)?),
            object_id: match r.get(5) {
                None => None,
                Some(id) => Some(id.as_str().ok_or_else(bad)?.into()),
            },
        };
        out.push((path.into(), record));
    }
    // Written sorted: sorted again only when it is not (a sort would
    // take a scratch buffer of half the rows first).
    if !out.is_sorted_by(|a, b| a.0 <= b.0) {
        out.sort_by(|a, b| a.0.cmp(&b.0));
    }
    if let Some(twice) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(format!("{:?} is recorded twice", twice[0].0));
    }
    Ok((out, generation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(path: &str, size: u64, etag: &str) -> Row {
        (
            path.into(),
            Record {
                size,
                mtime_ns: -1_500_000_000,
                mode: Some(0o640),
                etag: Tag::new(etag),
                object_id: None,
            },
        )
    }

    /// An object as listed; its tag is leaked, as a listing would hold it.
    fn obj(path: &str, size: u64, etag: &str) -> Object<'static> {
        Object {
            path: Box::leak(path.into()),
            size,
            etag: Box::leak(Box::new(Tag::new(etag))),
        }
    }

    fn reconcile(manifest: &[u8], listing: &[Object]) -> Reconciled {
        super::reconcile(read(manifest.to_vec()), listing.iter().copied())
    }

    fn encode(rows: &[Row], generation: Option<u64>) -> Vec<u8> {
        super::encode(rows.iter().map(|(p, r)| (&**p, r)), generation)
    }

    #[test]
    fn tags_are_held_compactly_and_written_back_as_read() {
        let md5 = "0123456789abcdef0123456789abcdef";
        assert!(matches!(Tag::new(md5), Tag::Md5(_)));
        for other in [
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcdef-2",
            "0123456789abcdef",
            "",
            "etag-a-1",
        ] {
            assert!(matches!(Tag::new(other), Tag::Text(_)), "{other}");
            assert_eq!(Tag::new(other).to_string(), other);
        }
        assert_eq!(Tag::new(md5).to_string(), md5);
        assert_eq!(Tag::from(md5.to_string()), Tag::new(md5));
        // Upper-case hex is another text, so another tag.
        assert_ne!(Tag::new(md5), Tag::new(&md5.to_uppercase()));
        let m = encode(&[stored("a", 1, md5)], None);
        assert!(String::from_utf8_lossy(&m).contains(md5));
        let r = reconcile(&m, &[obj("a", 1, md5)]);
        assert!(r.exact, "{r:?}");
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
    fn the_bytes_are_one_compact_object_with_sorted_keys() {
        let mut a = stored("a", 1, "e1");
        a.1.object_id = Some("ab".into());
        let m = encode(&[stored("b\"\u{e9}", 2, "e2"), a], Some(7));
        assert_eq!(
            String::from_utf8(m.clone()).unwrap(),
            concat!(
                r#"{"files":[["a",1,-1500000000,416,"e1","ab"],"#,
                "[\"b\\\"\u{e9}\",2,-1500000000,416,\"e2\"]],",
                r#""format":"poof-manifest","generation":7,"version":1}"#
            )
        );
        // The same bytes as one JSON value with sorted keys would give.
        let v: Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v.to_string().into_bytes(), m);
        let plain = encode(&[stored("a", 1, "e1")], None);
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            r#"{"files":[["a",1,-1500000000,416,"e1"]],"format":"poof-manifest","version":1}"#
        );
    }

    #[test]
    fn rows_out_of_order_are_read_and_a_path_twice_or_a_bad_document_is_refused() {
        let row = |p: &str| format!(r#"["{p}",1,-1500000000,416,"e1"]"#);
        let doc = |rows: &[String]| {
            format!(
                r#"{{"format":"poof-manifest","version":1,"files":[{}]}}"#,
                rows.join(",")
            )
        };
        let r = reconcile(
            doc(&[row("b"), row("a")]).as_bytes(),
            &[obj("a", 1, "e1"), obj("b", 1, "e1")],
        );
        assert!(r.exact && r.unknown.is_empty(), "{r:?}");
        let twice = reconcile(doc(&[row("a"), row("a")]).as_bytes(), &[obj("a", 1, "e1")]);
        assert_eq!(twice.problem.as_deref(), Some(r#""a" is recorded twice"#));
        for (bytes, why) in [
            (&b"[1,2]"[..], "not a poof manifest"),
            (
                b"{\"format\":\"poof-manifest\",\"version\":1}",
                "it has no file list",
            ),
            (
                b"{\"format\":\"poof-manifest\",\"version\":2,\"files\":[]}",
                "manifest version 2 is not 1",
            ),
            (
                b"{\"format\":\"poof-manifest\",\"version\":1,\"files\":[[1]]}",
                "record 0 is malformed",
            ),
        ] {
            assert_eq!(reconcile(bytes, &[]).problem.as_deref(), Some(why));
        }
        let cut = reconcile(b"{\"format\":", &[]).problem.unwrap();
        assert!(cut.starts_with("not valid JSON"), "{cut}");
    }

    #[test]
    fn object_ids_are_kept_and_reported_even_for_stale_records() {
        let mut a = stored("a", 1, "e1");
        a.1.object_id = Some("ab".repeat(32).into());
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
