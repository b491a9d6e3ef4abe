//! The checks behind poof's fuzz targets, one function per parser of the
//! guest: path checking, the sync plan, the manifest, encrypted names, the
//! object header, the segment stream, sealed blobs and wrapped keys.
//!
//! Each function takes arbitrary bytes and panics only on a bug: a panic
//! inside the guest, or a broken invariant (an unsafe path accepted, a
//! deletion planned from an incomplete source, altered ciphertext opened).
//! `cargo fuzz run NAME` drives them with libFuzzer (nightly); the tests at
//! the bottom drive them on stable over the corpus, the saved regressions and
//! a seeded generator, so the same checks run everywhere.

use std::path::{Component, Path};
use std::sync::OnceLock;

use poof_guest::crypto::keyring::{self, KdfParams, Keyring};
use poof_guest::crypto::stream::{self, FileMeta};
use poof_guest::manifest::{self, Object, Stored};
use poof_guest::paths;
use poof_guest::plan::{self, Direction, Entry, GuardKind, Input, Limit};

/// One target: it takes arbitrary bytes and panics only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by name, as `cargo xtask fuzz` and the tests run them.
pub const TARGETS: &[(&str, Target)] = &[
    ("paths", paths),
    ("plan", plan),
    ("manifest", manifest),
    ("names", names),
    ("header", header),
    ("segments", segments),
    ("blob", blob),
    ("wrapped_key", wrapped_key),
];

/// Reads structured values from fuzz bytes; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| (acc << 8) | u64::from(self.u8()))
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    /// A path made of awkward segments, or (sometimes) raw bytes.
    fn path(&mut self) -> String {
        const SEGMENTS: &[&str] = &[
            "a", "b", "a b", "..", ".", "", "\u{e9}", "e\u{301}", "x\ny", "/", "\0", "ab", "a.",
        ];
        let kind = self.u8();
        if kind.is_multiple_of(8) {
            let n = usize::from(self.u8() % 12);
            return String::from_utf8_lossy(self.take(n)).into_owned();
        }
        let n = 1 + usize::from(kind % 3);
        (0..n)
            .map(|_| SEGMENTS[usize::from(self.u8()) % SEGMENTS.len()])
            .collect::<Vec<_>>()
            .join("/")
    }

    fn entry(&mut self) -> Entry {
        Entry {
            path: self.path(),
            size: u64::from(self.u8() % 4),
            mtime_ns: i64::from(self.u8() % 4) - 1,
            mode: match self.u8() % 3 {
                0 => None,
                1 => Some(0o644),
                _ => Some(0o600),
            },
        }
    }
}

/// `paths::check`: an accepted path joined to a root never leaves it, and
/// its ancestors are accepted paths too.
pub fn paths(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if paths::check(&s).is_err() {
        return;
    }
    let root = Path::new("/fuzz-root");
    for c in Path::new(s.as_ref()).components() {
        assert!(
            matches!(c, Component::Normal(_)),
            "{s:?} was accepted but has the component {c:?}"
        );
    }
    assert!(root.join(s.as_ref()).starts_with(root));
    let ancestors: Vec<&str> = paths::ancestors(&s).collect();
    assert_eq!(ancestors.len(), s.split('/').count() - 1);
    for a in ancestors {
        assert!(paths::check(a).is_ok(), "ancestor {a:?} of {s:?}");
        assert!(s.starts_with(a) && s[a.len()..].starts_with('/'));
    }
}

/// `plan::plan` on arbitrary listings: never panics; a plan only names
/// checked paths, copies from the source, deletes from the target, holds
/// deletions back when the source is missing, empty or incomplete, and
/// trips a guard instead of deleting or (going up) overwriting more than the
/// rules allow.
pub fn plan(data: &[u8]) {
    let mut b = Bytes(data);
    let flags = b.u8();
    let source: Vec<Entry> = (0..b.u8() % 12).map(|_| b.entry()).collect();
    let target: Vec<Entry> = (0..b.u8() % 12).map(|_| b.entry()).collect();
    let mut limit = || match b.u8() % 4 {
        0 => Some(Limit::Count(u64::from(b.u8() % 5))),
        1 => Some(Limit::Percent(b.u8())),
        _ => None,
    };
    let (max_delete, max_overwrite) = (limit(), limit());
    let input = Input {
        direction: if flags & 1 == 0 {
            Direction::Up
        } else {
            Direction::Down
        },
        source_missing: flags & 2 != 0,
        source: source.clone(),
        source_complete: flags & 4 == 0,
        never_delete: flags & 32 != 0,
        target: target.clone(),
        mtime_window_ns: u64::from(b.u8() % 3),
        max_delete,
        max_overwrite,
        confirmed: flags & 8 != 0,
        checksum: flags & 16 != 0,
        source_hashes: source
            .iter()
            .filter(|e| e.size % 2 == 0)
            .map(|e| (e.path.clone(), vec![e.size as u8; 32]))
            .collect(),
        target_hashes: target
            .iter()
            .filter(|e| e.size % 3 == 0)
            .map(|e| (e.path.clone(), vec![e.size as u8; 32]))
            .collect(),
    };
    let Ok(p) = plan::plan(input.clone()) else {
        return;
    };
    let named = p
        .copy
        .iter()
        .chain(&p.set_mode)
        .map(|e| e.path.as_str())
        .chain(p.make_room.iter().chain(&p.delete).map(String::as_str));
    for path in named {
        assert!(paths::check(path).is_ok(), "unsafe path {path:?} in {p:?}");
    }
    for e in p.copy.iter().chain(&p.set_mode) {
        assert!(source.contains(e), "{e:?} is not a source entry");
    }
    let source_paths: Vec<&str> = source.iter().map(|e| e.path.as_str()).collect();
    for d in p.make_room.iter().chain(&p.delete) {
        assert!(
            target.iter().any(|e| &e.path == d),
            "{d:?} is not a target entry"
        );
        assert!(
            !source_paths.contains(&d.as_str()),
            "{d:?} is in the source"
        );
    }
    assert_eq!(
        p.copy.len() + p.set_mode.len() + p.unchanged as usize,
        source.len(),
        "every source file is copied, updated or unchanged: {p:?}"
    );
    let deletions = p.make_room.len() + p.delete.len();
    if input.source_missing || source.is_empty() || !input.source_complete || input.never_delete
    {
        assert_eq!(
            deletions, 0,
            "deleted from a missing, empty or incomplete source, or in never-delete mode"
        );
    }
    let tripped = |kind| p.guard_trips.iter().any(|t| t.kind == kind);
    if !tripped(GuardKind::Delete) && max_delete.is_none() && !input.confirmed && deletions > 0 {
        assert!(
            deletions <= target.len() / 2,
            "{deletions} of {} deleted without --yes",
            target.len()
        );
    }
    if let (false, Some(Limit::Count(n))) = (tripped(GuardKind::Delete), max_delete) {
        assert!(deletions as u64 <= n);
    }
    let overwrites = p
        .copy
        .iter()
        .filter(|c| target.iter().any(|t| t.path == c.path))
        .count() as u64;
    if input.direction == Direction::Down {
        assert!(!tripped(GuardKind::Overwrite), "a restore was refused: {p:?}");
    } else if !tripped(GuardKind::Overwrite) {
        if max_overwrite.is_none() && !input.confirmed {
            assert!(
                overwrites <= (target.len() as u64 / 2).max(plan::OVERWRITE_FLOOR),
                "{overwrites} of {} overwritten without --yes",
                target.len()
            );
        }
        if let Some(Limit::Count(n)) = max_overwrite {
            assert!(overwrites <= n);
        }
    }
}

/// `manifest::reconcile` on arbitrary manifest bytes (raw, or a valid
/// manifest with flipped bytes): never panics, splits the listing into
/// vouched-for and unknown objects, and vouches only for matching ones.
pub fn manifest(data: &[u8]) {
    let mut b = Bytes(data);
    let listing: Vec<Object> = (0..b.u8() % 8)
        .map(|_| Object {
            path: b.path(),
            size: u64::from(b.u8() % 3),
            etag: format!("e{}", b.u8() % 3),
        })
        .collect();
    let bytes = if b.u8() % 2 == 0 {
        b.0.to_vec()
    } else {
        let stored: Vec<Stored> = listing
            .iter()
            .map(|o| Stored {
                entry: Entry {
                    path: o.path.clone(),
                    size: o.size,
                    mtime_ns: 1,
                    mode: Some(0o644),
                },
                etag: o.etag.clone(),
                object_id: None,
            })
            .collect();
        // Encrypted manifests carry a generation; plain ones do not.
        let generation = (b.u8() % 2 == 0).then(|| u64::from(b.u8()));
        let mut bytes = manifest::encode(&stored, generation);
        for (i, m) in b.0.iter().enumerate() {
            if !bytes.is_empty() {
                let at = (i * 31 + usize::from(*m)) % bytes.len();
                bytes[at] ^= m;
            }
        }
        bytes
    };
    let r = manifest::reconcile(&bytes, &listing);
    assert_eq!(r.known.len() + r.unknown.len(), listing.len());
    // A generation is reported only for a manifest that was read.
    assert!(r.generation.is_none() || r.problem.is_none());
    for k in &r.known {
        assert!(
            listing
                .iter()
                .any(|o| o.path == k.entry.path && o.size == k.entry.size && o.etag == k.etag),
            "the manifest vouched for {k:?}, which the listing does not match"
        );
    }
}

/// One keyring for every crypto target, from fixed entropy.
fn keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| Keyring::generate(&[7u8; 32]).expect("32 bytes of entropy are enough"))
}

/// Name decryption: never panics; whatever decrypts is a safe path that
/// encrypts back to the same name (one name per path); paths round-trip.
pub fn names(data: &[u8]) {
    let k = keyring();
    let s = String::from_utf8_lossy(data);
    if let Ok(p) = k.decrypt_path(&s) {
        assert!(paths::check(&p).is_ok(), "{s:?} decrypted to unsafe {p:?}");
        assert_eq!(k.encrypt_path(&p).unwrap(), s, "two names for {p:?}");
    }
    if paths::check(&s).is_ok() {
        let e = k.encrypt_path(&s).unwrap();
        assert!(paths::check(&e).is_ok(), "{e:?} is no usable key");
        assert_eq!(k.decrypt_path(&e).unwrap(), s);
    }
}

fn meta(size: u64) -> FileMeta {
    FileMeta {
        size,
        mtime_ns: 1_600_000_000_000_000_000,
        mode: Some(0o644),
        sha256: [3; 32],
    }
}

/// A sealed object: its header, its segments and its plaintext.
type Sealed = (Vec<u8>, Vec<Vec<u8>>, Vec<u8>);

/// A sealed object of three segments, made once.
fn sealed() -> &'static Sealed {
    static S: OnceLock<Sealed> = OnceLock::new();
    S.get_or_init(|| {
        let size = 2 * stream::SEGMENT_SIZE + 100;
        let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        // The sealer refuses content that is not what the header's SHA-256 says.
        let meta = FileMeta {
            sha256: <sha2::Sha256 as sha2::Digest>::digest(&plain).into(),
            ..meta(size as u64)
        };
        let mut s = keyring().sealer("docs/f", &meta, &[9u8; 32]).unwrap();
        let header = s.header().to_vec();
        let chunks: Vec<&[u8]> = plain.chunks(stream::SEGMENT_SIZE).collect();
        let segs = chunks
            .iter()
            .enumerate()
            .map(|(i, c)| s.seal_segment(c.to_vec(), i + 1 == chunks.len()).unwrap())
            .collect();
        (header, segs, plain)
    })
}

/// Object headers: arbitrary bytes, or a real header with flipped bits,
/// never panic and never open unless unchanged.
pub fn header(data: &[u8]) {
    let k = keyring();
    let _ = k.opener("docs/f", data);
    let (good, _, _) = sealed();
    let mut h = good.clone();
    for (i, m) in data.iter().enumerate().take(64) {
        let at = (i * 17 + usize::from(*m)) % h.len();
        h[at] ^= m;
    }
    let changed = h != *good;
    let opened = k.opener("docs/f", &h);
    if changed {
        assert!(opened.is_err(), "an altered header opened");
    } else {
        let size = opened.expect("the untouched header opens").meta().size;
        assert_eq!(size, (2 * stream::SEGMENT_SIZE + 100) as u64);
    }
}

/// The segment stream: segments dropped, repeated, reordered, truncated,
/// flipped or flagged wrongly never open to anything but the original.
pub fn segments(data: &[u8]) {
    let k = keyring();
    let (header, segs, plain) = sealed();
    let mut b = Bytes(data);
    let mut order: Vec<(Vec<u8>, bool)> = Vec::new();
    for _ in 0..1 + b.u8() % 5 {
        let i = usize::from(b.u8()) % segs.len();
        let mut s = segs[i].clone();
        match b.u8() % 4 {
            0 => {
                let at = (b.u64() as usize) % s.len();
                s[at] ^= 1 + b.u8() % 255;
            }
            1 => s.truncate((b.u64() as usize) % (s.len() + 1)),
            _ => {}
        }
        let last = match b.u8() % 3 {
            0 => !last_flag(i, segs.len()),
            _ => last_flag(i, segs.len()),
        };
        order.push((s, last));
    }
    let mut o = k.opener("docs/f", header).expect("the real header opens");
    let mut out = Vec::new();
    for (s, last) in order {
        match o.open_segment(s, last) {
            Ok(p) => out.extend_from_slice(&p),
            Err(_) => return,
        }
    }
    assert!(
        plain.starts_with(&out),
        "segments opened to bytes that are not the original's"
    );
    if o.is_finished() {
        assert_eq!(&out, plain, "a finished stream is the whole original");
    }
}

fn last_flag(i: usize, n: usize) -> bool {
    i + 1 == n
}

/// Sealed blobs: arbitrary bytes, or a real blob with flipped bits, never
/// panic and never open unless unchanged.
pub fn blob(data: &[u8]) {
    let k = keyring();
    let _ = k.open_blob("ctx", data.to_vec());
    let good = k
        .seal_blob("ctx", b"manifest bytes".to_vec(), &[5u8; 32])
        .unwrap();
    let mut s = good.clone();
    for (i, m) in data.iter().enumerate().take(64) {
        let at = (i * 13 + usize::from(*m)) % s.len();
        s[at] ^= m;
    }
    let changed = s != good;
    match k.open_blob("ctx", s) {
        Ok(p) => {
            assert!(!changed, "an altered blob opened");
            assert_eq!(p, b"manifest bytes");
        }
        Err(_) => assert!(changed, "the untouched blob did not open"),
    }
}

/// Cheap Argon2 parameters, so that a fuzz iteration stays fast.
const CHEAP: KdfParams = KdfParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// Wrapped keys: `inspect` never panics; a real wrapped key with flipped
/// bits never unlocks (and costly parameters are never attempted here).
pub fn wrapped_key(data: &[u8]) {
    let _ = keyring::inspect(data);
    static GOOD: OnceLock<Vec<u8>> = OnceLock::new();
    let good = GOOD.get_or_init(|| keyring().wrap_with(b"pass", &[1u8; 32], CHEAP).unwrap());
    let mut w = good.clone();
    for (i, m) in data.iter().enumerate().take(32) {
        let at = (i * 7 + usize::from(*m)) % w.len();
        w[at] ^= m;
    }
    let changed = w != *good;
    let cheap = keyring::inspect(&w).is_ok_and(|info| {
        info.kdf.memory_kib <= 256 && info.kdf.iterations <= 2 && info.kdf.parallelism <= 2
    });
    if !cheap {
        return;
    }
    match Keyring::unlock(&w, b"pass") {
        Ok(k) => {
            assert!(!changed, "an altered wrapped key unlocked");
            assert_eq!(k.key_id(), keyring().key_id());
        }
        Err(_) => assert!(changed, "the untouched wrapped key did not unlock"),
    }
}

/// Runs `target` over the files of `corpus/NAME` and `regressions/NAME`,
/// then over `rounds` inputs from a seeded generator; returns how many ran.
pub fn run_plain(name: &str, target: Target, seed: u64, rounds: usize) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(read) = std::fs::read_dir(root.join(dir).join(name)) else {
            continue;
        };
        for f in read.flatten() {
            target(&std::fs::read(f.path()).unwrap());
            n += 1;
        }
    }
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = state;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    };
    for _ in 0..rounds {
        let len = (next() % 300) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        target(&data);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target over its corpus, its regressions and 2,000 seeded inputs
    /// (`POOF_FUZZ_ROUNDS` sets another count).
    #[test]
    fn every_target_survives_its_corpus_and_seeded_inputs() {
        let rounds = std::env::var("POOF_FUZZ_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000);
        for (i, (name, target)) in TARGETS.iter().enumerate() {
            let n = run_plain(name, *target, 0x5eed + i as u64, rounds);
            eprintln!("{name}: {n} inputs");
        }
    }
}
