//! File content: a sealed header, then AES-256-GCM segments in the STREAM construction.
//!
//! An encrypted object is a 144-byte header followed by one or more
//! segments. The header holds the object's salt (its object id) and the
//! sealed metadata: plaintext size, modification time, mode, SHA-256 of the
//! plaintext, and SHA-256 of the plaintext path the object was written for.
//! Segment `i` holds 64 KiB of plaintext (the last one fewer, but only an
//! empty file has an empty segment), sealed with the nonce
//! `0^7 || be32(i) || last`, so a segment cannot move, and a stream cannot be
//! cut at a segment boundary, without failing authentication. See
//! `docs/FORMAT.md`, "Content objects".
//!
//! poof writes format version 2, whose salt does not cover the content's
//! hash: the file is sealed as it is read, in one pass, and the header,
//! which seals the hash of what was sealed, comes at the end (the host
//! writes it at offset 0 last). Version 1 objects (salt over the hash, so
//! the file was hashed in a first read) are still read.
//!
//! Invariants: a [`Sealer`] emits exactly the segments its size announces,
//! refuses a file that changed size while being read, and hands out a
//! header only after the last segment, with the hash of exactly what it
//! sealed; a keyring never seals two objects with the same entropy; an
//! [`Opener`] returns plaintext only after it authenticated it, in order,
//! and stops for good at the first failure. Every failure says which object
//! and which segment.

use aes_gcm::Aes256Gcm;

use super::{CryptoError, Keyring, Result, TAG_LEN};
use super::{check_entropy, gcm, gcm_open, gcm_seal, hkdf, hmac_sha256, le_len, to_hex};
use crate::paths;
use sha2::{Digest, Sha256};

/// The magic bytes at the start of an encrypted object.
pub const MAGIC: &[u8; 7] = b"poofobj";

/// The object format version this guest writes (it reads 1 and 2).
pub const OBJECT_VERSION: u8 = 2;

/// Plaintext bytes in every segment but the last.
pub const SEGMENT_SIZE: usize = 64 * 1024;

/// Length of the sealed metadata's plaintext.
pub const META_LEN: usize = 88;

/// Length of the header: magic, version, salt, sealed metadata and its tag.
pub const HEADER_LEN: usize = 8 + SALT_LEN + META_LEN + TAG_LEN;

/// Length of an object's salt, which is also its object id.
pub const SALT_LEN: usize = 32;

/// The most segments one object may have (the counter is 32 bits): 256 TiB.
pub const MAX_SEGMENTS: u64 = 1 << 32;

/// What the sealer knows of a file before reading it: all of its
/// metadata but the content's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Unix permission bits, when the source keeps them.
    pub mode: Option<u32>,
}

impl FileStat {
    /// The first 24 bytes of the metadata: size, time, mode and flags.
    fn encode(&self) -> [u8; 24] {
        let mut m = [0u8; 24];
        m[0..8].copy_from_slice(&self.size.to_le_bytes());
        m[8..16].copy_from_slice(&self.mtime_ns.to_le_bytes());
        m[16..20].copy_from_slice(&self.mode.unwrap_or(0).to_le_bytes());
        m[20..24].copy_from_slice(&u32::from(self.mode.is_some()).to_le_bytes());
        m
    }
}

/// What the header says about the plaintext file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Unix permission bits, when the source keeps them.
    pub mode: Option<u32>,
    /// SHA-256 of the plaintext, as the sealer computed it.
    pub sha256: [u8; 32],
}

impl FileMeta {
    /// The size, time and mode, without the hash.
    pub fn stat(&self) -> FileStat {
        FileStat {
            size: self.size,
            mtime_ns: self.mtime_ns,
            mode: self.mode,
        }
    }

    /// The 88 bytes sealed in the header (see the format for the layout).
    fn encode(&self, path: &str) -> [u8; META_LEN] {
        let mut m = [0u8; META_LEN];
        m[0..24].copy_from_slice(&self.stat().encode());
        m[24..56].copy_from_slice(&self.sha256);
        m[56..88].copy_from_slice(&Sha256::digest(path.as_bytes()));
        m
    }

    /// Reads the metadata and the path hash back.
    fn decode(m: &[u8]) -> Result<(FileMeta, [u8; 32])> {
        let u32_at = |i: usize| u32::from_le_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
        let flags = u32_at(20);
        if flags > 1 {
            return Err(CryptoError::UnsupportedFormat(format!(
                "the header has flags {flags:#x} this guest does not know"
            )));
        }
        let mut eight = [0u8; 8];
        let mut sha256 = [0u8; 32];
        let mut path_hash = [0u8; 32];
        sha256.copy_from_slice(&m[24..56]);
        path_hash.copy_from_slice(&m[56..88]);
        eight.copy_from_slice(&m[0..8]);
        let size = u64::from_le_bytes(eight);
        eight.copy_from_slice(&m[8..16]);
        let mtime_ns = i64::from_le_bytes(eight);
        let mode = (flags == 1).then(|| u32_at(16));
        Ok((
            FileMeta {
                size,
                mtime_ns,
                mode,
                sha256,
            },
            path_hash,
        ))
    }
}

/// The number of segments of a `size`-byte file: at least one.
pub fn segment_count(size: u64) -> Result<u64> {
    let n = size.div_ceil(SEGMENT_SIZE as u64).max(1);
    if n > MAX_SEGMENTS {
        return Err(CryptoError::InvalidInput(format!(
            "{size} bytes is more than one encrypted object holds (256 TiB)"
        )));
    }
    Ok(n)
}

/// The plaintext length of segment `i` of a `size`-byte file of `count` segments.
fn segment_len(size: u64, count: u64, i: u64) -> usize {
    if i + 1 < count {
        SEGMENT_SIZE
    } else {
        (size - (count - 1) * SEGMENT_SIZE as u64) as usize
    }
}

/// The length of the encrypted object of a `size`-byte file.
pub fn sealed_size(size: u64) -> Result<u64> {
    // `segment_count` bounds `size` to 256 TiB first, so this cannot overflow.
    let count = segment_count(size)?;
    Ok(HEADER_LEN as u64 + size + count * TAG_LEN as u64)
}

/// The plaintext size behind an encrypted object of `sealed` bytes, or an
/// error when no file gives that length (the object was cut or padded).
pub fn plain_size(sealed: u64) -> Result<u64> {
    let bad = || CryptoError::Truncated(format!("no encrypted object is {sealed} bytes long"));
    let body = sealed.checked_sub(HEADER_LEN as u64).ok_or_else(bad)?;
    let full = SEGMENT_SIZE as u64 + TAG_LEN as u64;
    let (whole, rest) = (body / full, body % full);
    let size = match (whole, rest) {
        (0, r) if r >= TAG_LEN as u64 => r - TAG_LEN as u64,
        (w, 0) if w > 0 => w * SEGMENT_SIZE as u64,
        (w, r) if r > TAG_LEN as u64 => w * SEGMENT_SIZE as u64 + r - TAG_LEN as u64,
        _ => return Err(bad()),
    };
    if sealed_size(size).ok() != Some(sealed) {
        return Err(bad());
    }
    Ok(size)
}

/// The header and segment ciphers of the object with `salt`, written in
/// object format `version` (1 or 2: each has its own labels).
fn object_ciphers(master: &[u8; 32], salt: &[u8], version: u8) -> (Aes256Gcm, Aes256Gcm) {
    let (header, segments): (&[u8], &[u8]) = if version == 1 {
        (b"poof v1 object header", b"poof v1 object segments")
    } else {
        (b"poof v2 object header", b"poof v2 object segments")
    };
    let header = hkdf::<32>(Some(salt), master, header);
    let segments = hkdf::<32>(Some(salt), master, segments);
    (gcm(&header), gcm(&segments))
}

/// The STREAM nonce of segment `i`: seven zero bytes, the counter, the last flag.
fn segment_nonce(i: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

fn check_path(path: &str) -> Result<()> {
    paths::check(path)
        .map_err(|why| CryptoError::InvalidInput(format!("the path {path:?} is not usable: {why}")))
}

/// Seals one file, segment by segment, as it is read; the header, which
/// seals the SHA-256 of what was sealed, comes last ([`Sealer::finish`]).
///
/// Invariant: the header's SHA-256 is the hash of exactly the plaintext
/// sealed, so an object this sealer completes always opens to content that
/// matches its header, whatever happened to the file while it was read.
pub struct Sealer {
    version: u8,
    salt: [u8; SALT_LEN],
    header_cipher: Aes256Gcm,
    cipher: Aes256Gcm,
    stat: FileStat,
    path: String,
    count: u64,
    next: u64,
    failed: bool,
    /// The SHA-256 the content must have (format version 1, where it is
    /// part of the salt), when known before sealing.
    expected: Option<[u8; 32]>,
    /// The SHA-256 of the segments sealed so far.
    hasher: Sha256,
}

impl Keyring {
    /// Starts sealing the file at `path` (the plaintext path the object is
    /// stored under) with size, time and mode `stat`, in object format
    /// version 2. The object's salt is an HMAC of `entropy`, the path and
    /// `stat` under the salt key; the content's hash is not in it (it is
    /// known only at the end), so a repeated `entropy` is what could give
    /// two contents the same keys: this keyring refuses `entropy` it has
    /// already sealed an object with (docs/FORMAT.md, "Version 2").
    pub fn sealer(&self, path: &str, stat: &FileStat, entropy: &[u8]) -> Result<Sealer> {
        self.start_sealer(OBJECT_VERSION, path, stat, entropy, &stat.encode(), None)
    }

    /// Starts sealing in object format version 1, whose salt covers the
    /// content's SHA-256 (`meta.sha256`, which the content must then have).
    /// poof writes version 2; this stays for the version-1 test vectors and
    /// tests, and for the fuzz targets.
    #[cfg(any(test, feature = "test-writer"))]
    pub fn sealer_v1(&self, path: &str, meta: &FileMeta, entropy: &[u8]) -> Result<Sealer> {
        let salted = meta.encode(path);
        self.start_sealer(1, path, &meta.stat(), entropy, &salted, Some(meta.sha256))
    }

    /// A sealer of format `version` whose salt covers `entropy`, the path
    /// and `salted` (the metadata known before sealing). Version 2 refuses
    /// a repeated `entropy`; version 1's salt covers the content's hash, so
    /// a repeat there is no reuse of keys for other content.
    fn start_sealer(
        &self,
        version: u8,
        path: &str,
        stat: &FileStat,
        entropy: &[u8],
        salted: &[u8],
        expected: Option<[u8; 32]>,
    ) -> Result<Sealer> {
        check_path(path)?;
        check_entropy(entropy)?;
        let count = segment_count(stat.size)?;
        if version != 1 {
            self.remember_entropy(entropy)?;
        }
        let label: &[u8] = if version == 1 {
            b"poof v1 object salt"
        } else {
            b"poof v2 object salt"
        };
        let salt = hmac_sha256(
            self.salt_key(),
            &[
                label,
                &le_len(entropy),
                entropy,
                &le_len(path.as_bytes()),
                path.as_bytes(),
                salted,
            ],
        );
        let (header_cipher, cipher) = object_ciphers(self.master(), &salt, version);
        Ok(Sealer {
            version,
            salt,
            header_cipher,
            cipher,
            stat: stat.clone(),
            path: path.into(),
            count,
            next: 0,
            failed: false,
            expected,
            hasher: Sha256::new(),
        })
    }

    /// Reads the `HEADER_LEN`-byte header of the object stored under `path`
    /// and prepares to open its segments. Reads format versions 1 and 2.
    pub fn opener(&self, path: &str, header: &[u8]) -> Result<Opener> {
        check_path(path)?;
        if header.len() < 8 || &header[..7] != MAGIC {
            return Err(CryptoError::UnsupportedFormat(format!(
                "{path}: not a poof encrypted object (no `poofobj` magic)"
            )));
        }
        let version = header[7];
        if version != 1 && version != OBJECT_VERSION {
            return Err(CryptoError::UnsupportedFormat(format!(
                "{path}: object format version {version} is not supported (this guest reads 1 \
                 and {OBJECT_VERSION})"
            )));
        }
        if header.len() < HEADER_LEN {
            return Err(CryptoError::Truncated(format!(
                "{path}: the header is {} bytes, {HEADER_LEN} expected",
                header.len()
            )));
        }
        if header.len() > HEADER_LEN {
            return Err(CryptoError::InvalidInput(format!(
                "{path}: pass exactly the first {HEADER_LEN} bytes of the object as its header"
            )));
        }
        let salt = &header[8..8 + SALT_LEN];
        let (header_cipher, cipher) = object_ciphers(self.master(), salt, version);
        let mut meta = header[8 + SALT_LEN..].to_vec();
        gcm_open(&header_cipher, &[0; 12], &header[..8 + SALT_LEN], &mut meta).map_err(|()| {
            CryptoError::Tampered(format!(
                "{path}: the header does not authenticate: it was altered, or not written with this key"
            ))
        })?;
        let (meta, path_hash) = FileMeta::decode(&meta)?;
        if path_hash[..] != Sha256::digest(path.as_bytes())[..] {
            return Err(CryptoError::WrongName(format!(
                "{path}: this object was written for another name; it was renamed or swapped \
                 with another object"
            )));
        }
        let count = segment_count(meta.size)
            .map_err(|e| CryptoError::UnsupportedFormat(format!("{path}: {e}")))?;
        let mut id = [0u8; SALT_LEN];
        id.copy_from_slice(salt);
        Ok(Opener {
            cipher,
            meta,
            id,
            path: path.into(),
            count,
            next: 0,
            failed: false,
        })
    }
}

impl Sealer {
    /// The object id (the salt), which a manifest records to detect replays.
    pub fn object_id(&self) -> [u8; SALT_LEN] {
        self.salt
    }

    /// The object id in lower-case hex.
    pub fn object_id_hex(&self) -> String {
        to_hex(&self.salt)
    }

    /// True once the last segment has been sealed.
    pub fn is_finished(&self) -> bool {
        self.next == self.count
    }

    /// Seals the next segment. `plaintext` must be exactly `SEGMENT_SIZE`
    /// bytes, except the last segment, which holds the rest of the file;
    /// `last` must be set on it and only on it. Anything else means the file
    /// changed size while it was read, and the sealer refuses to go on.
    pub fn seal_segment(&mut self, mut plaintext: Vec<u8>, last: bool) -> Result<Vec<u8>> {
        let i = self.next;
        if self.failed || i >= self.count {
            return Err(CryptoError::InvalidInput(format!(
                "{}: no more segments to seal (all {} are done, or an earlier one failed)",
                self.path, self.count
            )));
        }
        let expected_len = segment_len(self.stat.size, self.count, i);
        let expected_last = i + 1 == self.count;
        if plaintext.len() != expected_len || last != expected_last {
            self.failed = true;
            return Err(CryptoError::InvalidInput(format!(
                "{}: the file changed while it was read: segment {} has {} bytes{}, but a file \
                 of {} bytes needs {expected_len}{}; read it again",
                self.path,
                i + 1,
                plaintext.len(),
                if last { " and ends the file" } else { "" },
                self.stat.size,
                if expected_last {
                    " and ends there"
                } else {
                    " and more to follow"
                },
            )));
        }
        self.hasher.update(&plaintext);
        plaintext.reserve_exact(TAG_LEN);
        gcm_seal(&self.cipher, &segment_nonce(i, last), &[], &mut plaintext)?;
        self.next += 1;
        Ok(plaintext)
    }

    /// Ends the object once its last segment was sealed: returns its
    /// header, the first `HEADER_LEN` bytes, which seals the SHA-256 of the
    /// plaintext sealed. With `expected` (key rotation: the hash the old
    /// object's header announces), refuses to when the content sealed has
    /// another hash, so that no object with other content is completed.
    pub fn finish(&mut self, expected: Option<&[u8]>) -> Result<Vec<u8>> {
        if self.failed || !self.is_finished() {
            self.failed = true;
            return Err(CryptoError::InvalidInput(format!(
                "{}: {} of its {} segments were sealed; the object has no header",
                self.path, self.next, self.count
            )));
        }
        self.failed = true;
        let sha256: [u8; 32] = self.hasher.clone().finalize().into();
        for want in [self.expected.as_ref().map(|e| &e[..]), expected]
            .into_iter()
            .flatten()
        {
            if want != sha256 {
                return Err(CryptoError::InvalidInput(format!(
                    "{}: the content sealed is not the content expected (its SHA-256 differs): \
                     it changed while it was read; read it again",
                    self.path
                )));
            }
        }
        let meta = FileMeta {
            size: self.stat.size,
            mtime_ns: self.stat.mtime_ns,
            mode: self.stat.mode,
            sha256,
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.push(self.version);
        header.extend_from_slice(&self.salt);
        let mut sealed = meta.encode(&self.path).to_vec();
        gcm_seal(&self.header_cipher, &[0; 12], &header, &mut sealed)?;
        header.extend_from_slice(&sealed);
        Ok(header)
    }
}

/// Opens one object, segment by segment, after authenticating its header.
pub struct Opener {
    cipher: Aes256Gcm,
    meta: FileMeta,
    id: [u8; SALT_LEN],
    path: String,
    count: u64,
    next: u64,
    failed: bool,
}

impl Opener {
    /// The authenticated metadata from the header.
    pub fn meta(&self) -> &FileMeta {
        &self.meta
    }

    /// The object id (the salt), to compare with the manifest's record.
    pub fn object_id(&self) -> [u8; SALT_LEN] {
        self.id
    }

    /// The object id in lower-case hex.
    pub fn object_id_hex(&self) -> String {
        to_hex(&self.id)
    }

    /// True once the last segment has been opened.
    pub fn is_finished(&self) -> bool {
        self.next == self.count
    }

    /// How many segments the object holds, as its header says.
    pub fn segments(&self) -> u64 {
        self.count
    }

    /// Accepts the object once every segment was opened and the plaintext
    /// the host wrote (`written` bytes, hashed to `sha256`) is what the
    /// header announces; `tampered` otherwise.
    pub fn finish(&self, sha256: &[u8], written: u64) -> Result<()> {
        let path = &self.path;
        if self.failed || !self.is_finished() {
            return Err(CryptoError::Truncated(format!(
                "{path}: {} of its {} segments were opened",
                self.next, self.count
            )));
        }
        if written != self.meta.size || sha256 != self.meta.sha256 {
            return Err(CryptoError::Tampered(format!(
                "{path}: its content does not match the SHA-256 in its header; it was altered"
            )));
        }
        Ok(())
    }

    /// Opens the next segment: `sealed` is the next `SEGMENT_SIZE + 16` bytes
    /// of the object (fewer for the last one), `last` says whether the object
    /// ends right after them.
    pub fn open_segment(&mut self, mut sealed: Vec<u8>, last: bool) -> Result<Vec<u8>> {
        let (i, n, path) = (self.next, self.count, &self.path);
        if self.failed {
            return Err(CryptoError::InvalidInput(format!(
                "{path}: an earlier segment failed; nothing more is opened"
            )));
        }
        if i >= n {
            self.failed = true;
            return Err(CryptoError::Tampered(format!(
                "{path}: data follows the last of its {n} segments"
            )));
        }
        let expected_last = i + 1 == n;
        let expected_len = segment_len(self.meta.size, n, i) + TAG_LEN;
        let failure = if last && !expected_last {
            Some(CryptoError::Truncated(format!(
                "{path}: the object ends after segment {} of the {n} its header announces",
                i + 1
            )))
        } else if !last && expected_last {
            Some(CryptoError::Tampered(format!(
                "{path}: data follows the last of its {n} segments"
            )))
        } else if sealed.len() < expected_len {
            Some(CryptoError::Truncated(format!(
                "{path}: segment {} of {n} is {} bytes, {expected_len} expected",
                i + 1,
                sealed.len()
            )))
        } else if sealed.len() > expected_len {
            Some(CryptoError::Tampered(format!(
                "{path}: segment {} of {n} is {} bytes, {expected_len} expected",
                i + 1,
                sealed.len()
            )))
        } else if gcm_open(
            &self.cipher,
            &segment_nonce(i, expected_last),
            &[],
            &mut sealed,
        )
        .is_err()
        {
            Some(CryptoError::Tampered(format!(
                "{path}: segment {} of {n} does not authenticate: it was altered, reordered, \
                 or taken from another object",
                i + 1
            )))
        } else {
            None
        };
        if let Some(e) = failure {
            self.failed = true;
            return Err(e);
        }
        self.next += 1;
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        let seg = SEGMENT_SIZE as u64;
        for size in [
            0,
            1,
            100,
            seg - 1,
            seg,
            seg + 1,
            2 * seg,
            5 * seg + 7,
            1 << 40,
        ] {
            let sealed = sealed_size(size).unwrap();
            assert_eq!(plain_size(sealed).unwrap(), size, "{size}");
        }
        assert_eq!(sealed_size(0).unwrap(), (HEADER_LEN + TAG_LEN) as u64);
        assert_eq!(sealed_size(seg).unwrap(), HEADER_LEN as u64 + seg + 16);
        for bad in [
            0,
            143,
            144,
            159,
            HEADER_LEN as u64 + seg + 16 + 16,
            HEADER_LEN as u64 + seg + 16 + 5,
        ] {
            assert!(plain_size(bad).is_err(), "{bad}");
        }
        assert!(sealed_size(u64::MAX).is_err());
    }

    fn stat(size: usize) -> FileStat {
        FileStat {
            size: size as u64,
            mtime_ns: -1_500_000_000,
            mode: size.is_multiple_of(2).then_some(0o640),
        }
    }

    fn pieces(data: &[u8], size: usize) -> Vec<&[u8]> {
        if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(size).collect()
        }
    }

    /// Seals `data` in version 2: the segments as they come, the header at
    /// the end, put in front.
    fn seal_v2(k: &Keyring, path: &str, data: &[u8], entropy: &[u8]) -> Vec<u8> {
        let mut s = k.sealer(path, &stat(data.len()), entropy).unwrap();
        let mut body = Vec::new();
        let chunks = pieces(data, SEGMENT_SIZE);
        for (j, c) in chunks.iter().enumerate() {
            assert!(!s.is_finished());
            body.extend(s.seal_segment(c.to_vec(), j + 1 == chunks.len()).unwrap());
        }
        assert!(s.is_finished());
        let mut object = s.finish(None).unwrap();
        assert_eq!(object[7], 2);
        assert_eq!(object[8..8 + SALT_LEN], s.object_id());
        object.extend(body);
        object
    }

    fn open_all(k: &Keyring, path: &str, object: &[u8]) -> Result<(Vec<u8>, FileMeta)> {
        let mut o = k.opener(path, &object[..HEADER_LEN])?;
        let mut out = Vec::new();
        let body = pieces(&object[HEADER_LEN..], SEGMENT_SIZE + TAG_LEN);
        for (j, p) in body.iter().enumerate() {
            out.extend(o.open_segment(p.to_vec(), j + 1 == body.len())?);
        }
        let sha = Sha256::digest(&out);
        o.finish(&sha, out.len() as u64)?;
        Ok((out, o.meta().clone()))
    }

    #[test]
    fn seal_and_open_round_trip() {
        let k = Keyring::from_master(&[5; 32]);
        for size in [
            0usize,
            1,
            SEGMENT_SIZE - 1,
            SEGMENT_SIZE,
            SEGMENT_SIZE + 1,
            3 * SEGMENT_SIZE - 2,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let object = seal_v2(&k, "d/f", &data, &(size as u64).to_le_bytes().repeat(4));
            assert_eq!(object.len() as u64, sealed_size(size as u64).unwrap());
            let (out, meta) = open_all(&k, "d/f", &object).unwrap();
            assert_eq!(out, data);
            assert_eq!(meta.stat(), stat(size));
            assert_eq!(meta.sha256[..], Sha256::digest(&data)[..]);
        }
    }

    #[test]
    fn version_1_objects_still_seal_and_open() {
        let k = Keyring::from_master(&[5; 32]);
        let data: Vec<u8> = (0..SEGMENT_SIZE + 3).map(|i| i as u8).collect();
        let meta = FileMeta {
            size: data.len() as u64,
            mtime_ns: 7,
            mode: Some(0o600),
            sha256: Sha256::digest(&data).into(),
        };
        let mut s = k.sealer_v1("d/f", &meta, &[1; 32]).unwrap();
        let mut body = Vec::new();
        body.extend(
            s.seal_segment(data[..SEGMENT_SIZE].to_vec(), false)
                .unwrap(),
        );
        body.extend(s.seal_segment(data[SEGMENT_SIZE..].to_vec(), true).unwrap());
        let mut object = s.finish(None).unwrap();
        assert_eq!(object[7], 1);
        object.extend(body);
        let (out, got) = open_all(&k, "d/f", &object).unwrap();
        assert_eq!((out, got), (data, meta));
        // Version 1 and 2 keys differ: a version byte changed does not open.
        object[7] = 2;
        assert!(matches!(
            open_all(&k, "d/f", &object),
            Err(CryptoError::Tampered(_))
        ));
        object[7] = 3;
        assert!(matches!(
            open_all(&k, "d/f", &object),
            Err(CryptoError::UnsupportedFormat(_))
        ));
    }

    #[test]
    fn a_version_2_object_opens_only_under_its_path() {
        let k = Keyring::from_master(&[5; 32]);
        let object = seal_v2(&k, "d/f", b"content", &[2; 32]);
        assert!(matches!(
            open_all(&k, "d/g", &object),
            Err(CryptoError::WrongName(_))
        ));
        assert!(matches!(
            open_all(&Keyring::from_master(&[6; 32]), "d/f", &object),
            Err(CryptoError::Tampered(_))
        ));
    }

    #[test]
    fn a_keyring_never_seals_twice_with_the_same_entropy() {
        let k = Keyring::from_master(&[5; 32]);
        k.sealer("a", &stat(1), &[7; 32]).unwrap();
        // The same path and stat would give the same salt, so the same keys
        // and nonces for what may be other content; any repeat says the
        // random source is broken, so another path is refused too.
        for (path, size) in [("a", 1), ("b", 2)] {
            let Err(e) = k.sealer(path, &stat(size), &[7; 32]) else {
                panic!("{path}: sealed with entropy already used");
            };
            assert!(
                matches!(&e, CryptoError::InvalidInput(m) if m.contains("already used")),
                "{e:?}"
            );
        }
        assert!(k.sealer("b", &stat(2), &[8; 32]).is_ok());
        // Another keyring (another instance) keeps its own record.
        assert!(
            Keyring::from_master(&[5; 32])
                .sealer("a", &stat(1), &[7; 32])
                .is_ok()
        );
    }

    #[test]
    fn sealer_refuses_a_file_that_changed_size() {
        let k = Keyring::from_master(&[5; 32]);
        let mut s = k.sealer("f", &stat(10), &[0; 32]).unwrap();
        assert!(matches!(
            s.seal_segment(vec![0; 9], true),
            Err(CryptoError::InvalidInput(_))
        ));
        // A failed sealer stays failed, and gives no header.
        assert!(s.seal_segment(vec![0; 10], true).is_err());
        assert!(s.finish(None).is_err());
        let mut s = k.sealer("f", &stat(10), &[1; 32]).unwrap();
        assert!(s.seal_segment(vec![0; 10], false).is_err());
        let mut s = k.sealer("f", &stat(10), &[2; 32]).unwrap();
        s.seal_segment(vec![0; 10], true).unwrap();
        assert!(s.seal_segment(vec![], true).is_err());
        assert!(k.sealer("../f", &stat(10), &[3; 32]).is_err());
        assert!(k.sealer("f", &stat(10), &[4; 31]).is_err());
    }

    #[test]
    fn no_header_before_the_last_segment_and_only_one() {
        let k = Keyring::from_master(&[5; 32]);
        let data = vec![3u8; SEGMENT_SIZE + 10];
        let mut s = k.sealer("f", &stat(data.len()), &[0; 32]).unwrap();
        s.seal_segment(data[..SEGMENT_SIZE].to_vec(), false)
            .unwrap();
        let e = s.finish(None).unwrap_err();
        assert!(
            matches!(&e, CryptoError::InvalidInput(m) if m.contains("1 of its 2")),
            "{e:?}"
        );
        assert!(s.seal_segment(data[SEGMENT_SIZE..].to_vec(), true).is_err());
        let mut s = k.sealer("f", &stat(data.len()), &[1; 32]).unwrap();
        s.seal_segment(data[..SEGMENT_SIZE].to_vec(), false)
            .unwrap();
        s.seal_segment(data[SEGMENT_SIZE..].to_vec(), true).unwrap();
        s.finish(None).unwrap();
        assert!(s.finish(None).is_err(), "one header per object");
    }

    #[test]
    fn finish_refuses_content_other_than_expected() {
        // Key rotation passes the old header's hash: other content (the
        // old object changed under it) gets no header.
        let k = Keyring::from_master(&[5; 32]);
        let data = vec![1u8; 100];
        let other: [u8; 32] = Sha256::digest([2u8; 100]).into();
        let mut s = k.sealer("f", &stat(100), &[0; 32]).unwrap();
        s.seal_segment(data.clone(), true).unwrap();
        let e = s.finish(Some(&other)).unwrap_err();
        assert!(
            matches!(&e, CryptoError::InvalidInput(m) if m.contains("not the content expected")),
            "{e:?}"
        );
        let mut s = k.sealer("f", &stat(100), &[1; 32]).unwrap();
        s.seal_segment(data.clone(), true).unwrap();
        let header = s.finish(Some(&Sha256::digest(&data))).unwrap();
        assert_eq!(header.len(), HEADER_LEN);
    }
}
