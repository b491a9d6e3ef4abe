//! File content: a sealed header, then AES-256-GCM segments in the STREAM construction.
//!
//! An encrypted object is a 144-byte header followed by one or more
//! segments. The header holds the object's random salt (its object id) and
//! the sealed metadata: plaintext size, modification time, mode, SHA-256 of
//! the plaintext, and SHA-256 of the plaintext path the object was written
//! for. Segment `i` holds 64 KiB of plaintext (the last one fewer, but only an
//! empty file has an empty segment), sealed with the nonce
//! `0^7 || be32(i) || last`, so a segment cannot move, and a stream cannot be
//! cut at a segment boundary, without failing authentication. See
//! `docs/FORMAT.md`, "Content objects".
//!
//! Invariants: a [`Sealer`] emits exactly the segments its metadata
//! announces, and refuses a file that changed size while being read; an
//! [`Opener`] returns plaintext only after it authenticated it, in order, and
//! stops for good at the first failure. Every failure says which object and
//! which segment.

use aes_gcm::Aes256Gcm;

use super::{CryptoError, FORMAT_VERSION, Keyring, Result, TAG_LEN};
use super::{check_entropy, gcm, gcm_open, gcm_seal, hkdf, hmac_sha256, le_len, to_hex};
use crate::paths;
use sha2::{Digest, Sha256};

/// The magic bytes at the start of an encrypted object.
pub const MAGIC: &[u8; 7] = b"poofobj";

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

/// What the header says about the plaintext file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Unix permission bits, when the source keeps them.
    pub mode: Option<u32>,
    /// SHA-256 of the plaintext, computed by the host.
    pub sha256: [u8; 32],
}

impl FileMeta {
    /// The 88 bytes sealed in the header (see the format for the layout).
    fn encode(&self, path: &str) -> [u8; META_LEN] {
        let mut m = [0u8; META_LEN];
        m[0..8].copy_from_slice(&self.size.to_le_bytes());
        m[8..16].copy_from_slice(&self.mtime_ns.to_le_bytes());
        m[16..20].copy_from_slice(&self.mode.unwrap_or(0).to_le_bytes());
        m[20..24].copy_from_slice(&u32::from(self.mode.is_some()).to_le_bytes());
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

/// The header and segment ciphers of the object with `salt`.
fn object_ciphers(master: &[u8; 32], salt: &[u8]) -> (Aes256Gcm, Aes256Gcm) {
    let header = hkdf::<32>(Some(salt), master, b"poof v1 object header");
    let segments = hkdf::<32>(Some(salt), master, b"poof v1 object segments");
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

/// Seals one file, segment by segment, after handing out its header.
///
/// Invariant: the plaintext sealed is the plaintext the header's SHA-256
/// describes. The sealer hashes every segment as it seals it and refuses to
/// seal the last one when the hash differs (the file was rewritten, same
/// size, between the host's hashing and sealing), so no object that could
/// never be restored is ever completed.
pub struct Sealer {
    cipher: Aes256Gcm,
    header: Vec<u8>,
    path: String,
    size: u64,
    count: u64,
    next: u64,
    failed: bool,
    /// The SHA-256 the header announces.
    sha256: [u8; 32],
    /// The SHA-256 of the segments sealed so far.
    hasher: Sha256,
}

impl Keyring {
    /// Starts sealing the file at `path` (the plaintext path the object is
    /// stored under) with metadata `meta`. The object's salt is synthetic:
    /// an HMAC of `entropy`, the path and the metadata under the salt key, so
    /// that even a broken random source never reuses a salt for another file.
    pub fn sealer(&self, path: &str, meta: &FileMeta, entropy: &[u8]) -> Result<Sealer> {
        check_path(path)?;
        check_entropy(entropy)?;
        let count = segment_count(meta.size)?;
        let plain_meta = meta.encode(path);
        let salt = hmac_sha256(
            self.salt_key(),
            &[
                b"poof v1 object salt",
                &le_len(entropy),
                entropy,
                &le_len(path.as_bytes()),
                path.as_bytes(),
                &plain_meta,
            ],
        );
        let (header_cipher, cipher) = object_ciphers(self.master(), &salt);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.push(FORMAT_VERSION);
        header.extend_from_slice(&salt);
        let mut sealed = plain_meta.to_vec();
        gcm_seal(&header_cipher, &[0; 12], &header, &mut sealed)?;
        header.extend_from_slice(&sealed);
        Ok(Sealer {
            cipher,
            header,
            path: path.into(),
            size: meta.size,
            count,
            next: 0,
            failed: false,
            sha256: meta.sha256,
            hasher: Sha256::new(),
        })
    }

    /// Reads the `HEADER_LEN`-byte header of the object stored under `path`
    /// and prepares to open its segments.
    pub fn opener(&self, path: &str, header: &[u8]) -> Result<Opener> {
        check_path(path)?;
        if header.len() < 8 || &header[..7] != MAGIC {
            return Err(CryptoError::UnsupportedFormat(format!(
                "{path}: not a poof encrypted object (no `poofobj` magic)"
            )));
        }
        if header[7] != FORMAT_VERSION {
            return Err(CryptoError::UnsupportedFormat(format!(
                "{path}: object format version {} is not supported (this guest reads {FORMAT_VERSION})",
                header[7]
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
        let (header_cipher, cipher) = object_ciphers(self.master(), salt);
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
    /// The header: the first `HEADER_LEN` bytes of the object.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The object id (the salt), which a manifest records to detect replays.
    pub fn object_id(&self) -> [u8; SALT_LEN] {
        let mut id = [0u8; SALT_LEN];
        id.copy_from_slice(&self.header[8..8 + SALT_LEN]);
        id
    }

    /// The object id in lower-case hex.
    pub fn object_id_hex(&self) -> String {
        to_hex(&self.object_id())
    }

    /// True once the last segment has been sealed.
    pub fn is_finished(&self) -> bool {
        self.next == self.count
    }

    /// Seals the next segment. `plaintext` must be exactly `SEGMENT_SIZE`
    /// bytes, except the last segment, which holds the rest of the file;
    /// `last` must be set on it and only on it. Anything else means the file
    /// changed while it was read, and the sealer refuses to go on.
    pub fn seal_segment(&mut self, mut plaintext: Vec<u8>, last: bool) -> Result<Vec<u8>> {
        let i = self.next;
        if self.failed || i >= self.count {
            return Err(CryptoError::InvalidInput(format!(
                "{}: no more segments to seal (all {} are done, or an earlier one failed)",
                self.path, self.count
            )));
        }
        let expected_len = segment_len(self.size, self.count, i);
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
                self.size,
                if expected_last {
                    " and ends there"
                } else {
                    " and more to follow"
                },
            )));
        }
        self.hasher.update(&plaintext);
        if last && self.hasher.clone().finalize()[..] != self.sha256[..] {
            self.failed = true;
            return Err(CryptoError::InvalidInput(format!(
                "{}: the file changed while it was read: its content is no longer the content \
                 hashed before sealing (rewritten, same size); read it again",
                self.path
            )));
        }
        plaintext.reserve_exact(TAG_LEN);
        gcm_seal(&self.cipher, &segment_nonce(i, last), &[], &mut plaintext)?;
        self.next += 1;
        Ok(plaintext)
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

    #[test]
    fn seal_and_open_round_trip() {
        let k = Keyring::from_master(&[5; 32]);
        for size in [
            0usize,
            1,
            SEGMENT_SIZE,
            SEGMENT_SIZE + 1,
            3 * SEGMENT_SIZE - 2,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let meta = FileMeta {
                size: size as u64,
                mtime_ns: -1_500_000_000,
                mode: (size % 2 == 0).then_some(0o640),
                sha256: Sha256::digest(&data).into(),
            };
            let mut s = k.sealer("d/f", &meta, &[size as u8; 32]).unwrap();
            let mut object = s.header().to_vec();
            let chunks: Vec<&[u8]> = if data.is_empty() {
                vec![&[]]
            } else {
                data.chunks(SEGMENT_SIZE).collect()
            };
            for (j, c) in chunks.iter().enumerate() {
                object.extend(s.seal_segment(c.to_vec(), j + 1 == chunks.len()).unwrap());
            }
            assert!(s.is_finished());
            assert_eq!(object.len() as u64, sealed_size(size as u64).unwrap());
            let mut o = k.opener("d/f", &object[..HEADER_LEN]).unwrap();
            assert_eq!(o.meta(), &meta);
            assert_eq!(o.object_id(), s.object_id());
            let body = &object[HEADER_LEN..];
            let pieces: Vec<&[u8]> = body.chunks(SEGMENT_SIZE + TAG_LEN).collect();
            let mut out = Vec::new();
            for (j, p) in pieces.iter().enumerate() {
                out.extend(o.open_segment(p.to_vec(), j + 1 == pieces.len()).unwrap());
            }
            assert!(o.is_finished());
            assert_eq!(out, data);
        }
    }

    #[test]
    fn sealer_refuses_a_file_that_changed() {
        let k = Keyring::from_master(&[5; 32]);
        let meta = FileMeta {
            size: 10,
            mtime_ns: 0,
            mode: None,
            sha256: [0; 32],
        };
        let mut s = k.sealer("f", &meta, &[0; 32]).unwrap();
        assert!(matches!(
            s.seal_segment(vec![0; 9], true),
            Err(CryptoError::InvalidInput(_))
        ));
        // A failed sealer stays failed.
        assert!(s.seal_segment(vec![0; 10], true).is_err());
        let mut s = k.sealer("f", &meta, &[0; 32]).unwrap();
        assert!(s.seal_segment(vec![0; 10], false).is_err());
        let meta = FileMeta {
            sha256: Sha256::digest([0; 10]).into(),
            ..meta
        };
        let mut s = k.sealer("f", &meta, &[0; 32]).unwrap();
        s.seal_segment(vec![0; 10], true).unwrap();
        assert!(s.seal_segment(vec![], true).is_err());
        assert!(k.sealer("../f", &meta, &[0; 32]).is_err());
        assert!(k.sealer("f", &meta, &[0; 31]).is_err());
    }

    #[test]
    fn sealer_refuses_content_rewritten_at_the_same_size() {
        let k = Keyring::from_master(&[5; 32]);
        let data: Vec<u8> = (0..(SEGMENT_SIZE as u32 + 10)).map(|i| i as u8).collect();
        let meta = FileMeta {
            size: data.len() as u64,
            mtime_ns: 0,
            mode: None,
            sha256: Sha256::digest(&data).into(),
        };
        // The first segment is as hashed; the rest was rewritten since.
        let mut s = k.sealer("f", &meta, &[0; 32]).unwrap();
        s.seal_segment(data[..SEGMENT_SIZE].to_vec(), false)
            .unwrap();
        let e = s.seal_segment(vec![0; 10], true).unwrap_err();
        assert!(
            matches!(&e, CryptoError::InvalidInput(m) if m.contains("changed while it was read")),
            "{e:?}"
        );
        assert!(!s.is_finished(), "the last segment is never handed out");
        assert!(s.seal_segment(data[SEGMENT_SIZE..].to_vec(), true).is_err());
        // The same content seals to the end.
        let mut s = k.sealer("f", &meta, &[0; 32]).unwrap();
        s.seal_segment(data[..SEGMENT_SIZE].to_vec(), false)
            .unwrap();
        s.seal_segment(data[SEGMENT_SIZE..].to_vec(), true).unwrap();
        assert!(s.is_finished());
    }
}
