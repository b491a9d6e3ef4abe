//! The checks behind poof's fuzz targets, one function per parser of the
//! guest: path checking, the sync plan, the manifest, encrypted names, the
//! object header, the segment stream, sealed blobs, wrapped keys, and
//! rclone crypt's names, content blocks and obscured passwords (poof 1.x's
//! encrypted buckets).
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
use poof_guest::legacy::names::{Mode, NameEncoding};
use poof_guest::legacy::{self, CryptKey, Options, Section, content, obscure, s3names, version};
use poof_guest::manifest::{self, Object, Record, Tag};
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
    ("rclone_names", rclone_names),
    ("rclone_blocks", rclone_blocks),
    ("rclone_obscured", rclone_obscured),
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

    /// One to five of `pieces` (segments or blocks) in any order, each maybe
    /// flipped or truncated, with a `last` flag that is sometimes wrong.
    fn pieces(&mut self, pieces: &[Vec<u8>]) -> Vec<(Vec<u8>, bool)> {
        (0..1 + self.u8() % 5)
            .map(|_| {
                let i = usize::from(self.u8()) % pieces.len();
                let mut s = pieces[i].clone();
                match self.u8() % 4 {
                    0 => {
                        let at = (self.u64() as usize) % s.len();
                        s[at] ^= 1 + self.u8() % 255;
                    }
                    1 => s.truncate((self.u64() as usize) % (s.len() + 1)),
                    _ => {}
                }
                let last = i + 1 == pieces.len();
                (s, if self.u8() % 3 == 0 { !last } else { last })
            })
            .collect()
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
/// deletions back when the source is missing, empty or incomplete or the
/// target is a folder a restore was sent to (`--to`), and
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
        restore_elsewhere: flags & 64 != 0,
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
    if input.source_missing
        || source.is_empty()
        || !input.source_complete
        || input.never_delete
        || input.restore_elsewhere
    {
        assert_eq!(
            deletions, 0,
            "deleted from a missing, empty or incomplete source, in never-delete mode, or in a \
             folder a restore was sent to"
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
        assert!(
            !tripped(GuardKind::Overwrite),
            "a restore was refused: {p:?}"
        );
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
    let owned: Vec<(String, u64, Tag)> = (0..b.u8() % 8)
        .map(|_| {
            let etag = Tag::new(&format!("e{}", b.u8() % 3));
            (b.path(), u64::from(b.u8() % 3), etag)
        })
        .collect();
    let listing: Vec<Object> = owned
        .iter()
        .map(|(path, size, etag)| Object {
            path,
            size: *size,
            etag,
        })
        .collect();
    let bytes = if b.u8() % 2 == 0 {
        b.0.to_vec()
    } else {
        let records: Vec<(&str, Record)> = listing
            .iter()
            .map(|o| {
                let record = Record {
                    size: o.size,
                    mtime_ns: 1,
                    mode: Some(0o644),
                    etag: o.etag.clone(),
                    object_id: None,
                };
                (o.path, record)
            })
            .collect();
        // Encrypted manifests carry a generation; plain ones do not.
        let generation = (b.u8() % 2 == 0).then(|| u64::from(b.u8()));
        let mut bytes = manifest::encode(records.iter().map(|(p, r)| (*p, r)), generation);
        for (i, m) in b.0.iter().enumerate() {
            if !bytes.is_empty() {
                let at = (i * 31 + usize::from(*m)) % bytes.len();
                bytes[at] ^= m;
            }
        }
        bytes
    };
    let r = manifest::reconcile(manifest::read(bytes), listing.iter().copied());
    // A generation is reported only for a manifest that was read.
    assert!(r.generation.is_none() || r.problem.is_none());
    // Each record vouches once, in path order.
    assert!(r.known.windows(2).all(|w| w[0].0 < w[1].0), "{:?}", r.known);
    for (path, k) in &r.known {
        assert!(
            listing
                .iter()
                .any(|o| *o.path == **path && o.size == k.size && *o.etag == k.etag),
            "the manifest vouched for {path:?}, which the listing does not match"
        );
    }
    // Every listed object is vouched for or unknown.
    for o in &listing {
        let vouched = r
            .known
            .iter()
            .any(|(p, k)| **p == *o.path && k.size == o.size && k.etag == *o.etag);
        assert!(
            vouched || r.unknown.iter().any(|u| u == o.path),
            "{o:?} is neither vouched for nor unknown"
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

/// A sealed object of three segments in each format version (`[0]`:
/// version 2, which poof writes; `[1]`: version 1, which it still reads),
/// made once: the segments as they come, then the header the sealer gives
/// at the end.
fn sealed() -> &'static [Sealed; 2] {
    static S: OnceLock<[Sealed; 2]> = OnceLock::new();
    S.get_or_init(|| {
        let size = 2 * stream::SEGMENT_SIZE + 100;
        let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        // Version 1's sealer refuses content that is not what its SHA-256 says.
        let meta = FileMeta {
            sha256: <sha2::Sha256 as sha2::Digest>::digest(&plain).into(),
            ..meta(size as u64)
        };
        let k = keyring();
        let seal = |mut s: stream::Sealer| {
            let chunks: Vec<&[u8]> = plain.chunks(stream::SEGMENT_SIZE).collect();
            let segs = chunks
                .iter()
                .enumerate()
                .map(|(i, c)| s.seal_segment(c.to_vec(), i + 1 == chunks.len()).unwrap())
                .collect();
            (s.finish(None).unwrap(), segs, plain.clone())
        };
        [
            seal(k.sealer("docs/f", &meta.stat(), &[9u8; 32]).unwrap()),
            seal(k.sealer_v1("docs/f", &meta, &[9u8; 32]).unwrap()),
        ]
    })
}

/// Object headers: arbitrary bytes, or a real header with flipped bits,
/// never panic and never open unless unchanged.
pub fn header(data: &[u8]) {
    let k = keyring();
    let _ = k.opener("docs/f", data);
    // The first byte picks the version.
    let Some((&which, data)) = data.split_first() else {
        return;
    };
    let (good, _, _) = &sealed()[usize::from(which & 1)];
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

/// The segment stream, of either version (the first byte picks it):
/// segments dropped, repeated, reordered, truncated, flipped or flagged
/// wrongly never open to anything but the original.
pub fn segments(data: &[u8]) {
    let k = keyring();
    let Some((&which, data)) = data.split_first() else {
        return;
    };
    let (header, segs, plain) = &sealed()[usize::from(which & 1)];
    let mut b = Bytes(data);
    let order = b.pieces(segs);
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

/// rclone crypt sections of every kind, with rclone's test keys (an empty
/// password gives all-zero keys, so no scrypt runs here).
fn crypt_keys() -> &'static [(Options, CryptKey)] {
    static KEYS: OnceLock<Vec<(Options, CryptKey)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut all = Vec::new();
        for encoding in [
            NameEncoding::Base32,
            NameEncoding::Base64,
            NameEncoding::Base32768,
        ] {
            for dirs in [true, false] {
                all.push(Options {
                    encoding,
                    dirs,
                    ..Options::default()
                });
            }
        }
        for dirs in [true, false] {
            all.push(Options {
                mode: Mode::Obfuscate,
                dirs,
                ..Options::default()
            });
        }
        for suffix in [".bin", ""] {
            all.push(Options {
                mode: Mode::Off,
                suffix: suffix.into(),
                ..Options::default()
            });
        }
        all.into_iter()
            .map(|o| (o.clone(), CryptKey::from_revealed(b"", b"", o)))
            .collect()
    })
}

/// rclone crypt names, in every mode and encoding: never panics; whatever
/// decrypts is a safe path that encrypts back to a name decrypting to the
/// same path (in `standard` and `off`, to the same name, up to base32's
/// case); a safe path round-trips; a listing keeps a key exactly when it
/// decrypts and its size is one rclone writes.
pub fn rclone_names(data: &[u8]) {
    let mut b = Bytes(data);
    let keys = crypt_keys();
    let (options, k) = &keys[usize::from(b.u8()) % keys.len()];
    let size = b.u64() % 200_000;
    // Arbitrary text, or the name of a path, maybe with one byte changed.
    let s = if b.u8() % 2 == 0 {
        String::from_utf8_lossy(b.0).into_owned()
    } else {
        let p = b.path();
        let mut name = k.encrypt_file_path(&p).unwrap_or(p).into_bytes();
        if !name.is_empty() && b.u8() % 4 != 0 {
            let at = (b.u64() as usize) % name.len();
            name[at] ^= 1 + b.u8() % 255;
        }
        String::from_utf8_lossy(&name).into_owned()
    };
    // A version stamp is taken off and put back around the encryption, so a
    // name whose encryption makes or unmakes one does not round-trip in
    // rclone either.
    let stamped = |x: &str| version::matches(x);
    if let Ok(p) = k.decrypt_file_path(&s) {
        assert!(paths::check(&p).is_ok(), "{s:?} decrypted to unsafe {p:?}");
        if let Ok(e) = k.encrypt_file_path(&p)
            && !stamped(&e)
            && !stamped(&p)
        {
            assert_eq!(k.decrypt_file_path(&e).ok().as_deref(), Some(p.as_str()));
            // A key rclone would not write (a NUL, a needless quote) reads
            // as the name of the key it would write.
            let s = s3names::to_key(&s3names::from_key(&s));
            match options.mode {
                Mode::Standard if options.encoding == NameEncoding::Base32 => {
                    assert!(e.eq_ignore_ascii_case(&s), "{s:?} and {e:?} are both {p:?}")
                }
                Mode::Standard | Mode::Off => assert_eq!(e, s, "two names for {p:?}"),
                Mode::Obfuscate => {}
            }
        }
    }
    if paths::check(&s).is_ok()
        && let Ok(e) = k.encrypt_file_path(&s)
        && !stamped(&e)
        && !stamped(&s)
        && options.mode != Mode::Obfuscate
    {
        // rclone reads back a quote it had to add before a quote (U+201B)
        // as part of the name: the name it restores is its own form's.
        // (An obfuscated name can hold a quote before an ordinary
        // character, which rclone's S3 names do not keep: such a name does
        // not come back in rclone either.)
        let named = s3names::to_key(&s3names::from_key(&s));
        assert_eq!(
            k.decrypt_file_path(&e).ok().as_deref(),
            Some(named.as_str())
        );
    }
    let listing = k.read_listing(&[legacy::Stored {
        key: s.clone(),
        size,
    }]);
    assert_eq!(listing.files.len() + listing.skipped.len(), 1);
    if let Some(f) = listing.files.first() {
        assert_eq!(k.decrypt_file_path(&s).ok(), Some(f.path.clone()));
        assert_eq!(k.layout().count(size).ok().map(|c| c.1), Some(f.size));
    }
}

/// An rclone crypt object of three blocks under rclone's all-zero test key:
/// the object and its content, made once.
fn rclone_object() -> &'static (Vec<u8>, Vec<u8>) {
    static O: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    O.get_or_init(|| {
        let plain: Vec<u8> = (0..2 * content::BLOCK_DATA + 100)
            .map(|i| (i % 253) as u8)
            .collect();
        let object = crypt_keys()[0]
            .1
            .encrypt_content(&plain, [9; content::NONCE_LEN]);
        (object, plain)
    })
}

/// rclone crypt content: an arbitrary header and size never panic; a real
/// object with its header flipped and its blocks dropped, repeated,
/// reordered, truncated, flipped or flagged wrongly never opens to anything
/// but the original, and is accepted only whole.
pub fn rclone_blocks(data: &[u8]) {
    let k = &crypt_keys()[0].1;
    let mut b = Bytes(data);
    let size = b.u64();
    let _ = k.reader(b.take(40), size);
    let (object, plain) = rclone_object();
    let block_len = content::ENCRYPTED.block;
    let header_len = content::HEADER_LEN;
    let blocks: Vec<Vec<u8>> = object[header_len..]
        .chunks(block_len)
        .map(<[u8]>::to_vec)
        .collect();
    let mut header = object[..header_len].to_vec();
    if b.u8() % 4 == 0 {
        let at = usize::from(b.u8()) % header_len;
        header[at] ^= 1 + b.u8() % 255;
    }
    let order = b.pieces(&blocks);
    let Ok(mut r) = k.reader(&header, object.len() as u64) else {
        assert_ne!(header, object[..header_len], "the real header was refused");
        return;
    };
    let mut out = Vec::new();
    for (s, last) in order {
        match r.open_block(s, last) {
            Ok(p) => out.extend_from_slice(&p),
            Err(_) => break,
        }
    }
    // The header's nonce is not authenticated: one moved forward by k opens
    // the original's blocks from the k-th on (docs/RCLONE-CRYPT.md, "A file
    // cut at its start"). Nothing else opens.
    let first = if header == object[..header_len] {
        0
    } else {
        (0..blocks.len())
            .find(|i| plain[i * content::BLOCK_DATA..].starts_with(&out))
            .unwrap_or(usize::MAX)
    };
    assert!(
        first < blocks.len() && plain[first * content::BLOCK_DATA..].starts_with(&out),
        "blocks opened to bytes that are not the original's"
    );
    if r.finish(out.len() as u64).is_ok() {
        assert_eq!(&out, plain, "an accepted object is the whole original");
    }
}

/// rclone's obscured passwords and a section's options: arbitrary values
/// never panic; an obscured value reveals to what was obscured.
pub fn rclone_obscured(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = obscure::reveal(&text);
    let mut iv = [0u8; 16];
    for (d, s) in iv.iter_mut().zip(data) {
        *d = *s;
    }
    let revealed = obscure::reveal(&obscure::obscure(data, iv)).expect("an obscured value reveals");
    assert_eq!(&revealed[..], data);
    let mut parts = text.splitn(5, '\n').map(str::to_string);
    let section = Section {
        name: "fuzz".into(),
        filename_encryption: parts.next(),
        filename_encoding: parts.next(),
        directory_name_encryption: parts.next(),
        no_data_encryption: parts.next(),
        suffix: parts.next(),
        ..Section::default()
    };
    if let Ok(o) = Options::read(&section) {
        assert!(o.suffix.is_empty() || o.suffix.starts_with('.'));
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
