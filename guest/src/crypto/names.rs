//! Encrypted names: deterministic, authenticated, safe as S3 keys and file names.
//!
//! Each segment of a relative path is encrypted on its own with AES-SIV
//! (RFC 5297, AES-256, a 64-byte key), with the plaintext path of its parent
//! folder as the one associated-data string. The 16-byte synthetic IV and the
//! ciphertext are written in lower-case base32hex without padding (`0-9a-v`),
//! which survives case-insensitive file systems and needs no escaping in S3
//! keys. A segment whose encoding would be longer than [`MAX_CHUNK`]
//! characters is cut into chunks of at most that length; every chunk after
//! the first starts with `z`, a letter base32hex never uses. So a long name
//! becomes a few nested folders, and no name needs a side table or a header.
//!
//! Invariants: equal plaintext paths always give equal encrypted paths (so a
//! listing can be compared with the local tree); every encrypted path decodes
//! to exactly one plaintext path and has exactly one accepted spelling; a
//! segment moved to another folder, or altered, fails to decrypt.

use aes_siv::KeyInit;
use aes_siv::siv::Aes256Siv;
use data_encoding::{Encoding, Specification};

use super::{CryptoError, Keyring, Result, TAG_LEN};
use crate::paths;

/// The most characters one encrypted chunk has: 224 leaves 31 bytes of a
/// 255-byte file name for a temporary suffix on the folder remote.
pub const MAX_CHUNK: usize = 224;

/// The first character of a continuation chunk; base32hex never produces it.
pub const CONTINUATION: char = 'z';

/// The base32hex alphabet in lower case (RFC 4648 section 7).
const ALPHABET: &str = "0123456789abcdefghijklmnopqrstuv";

/// Lower-case base32hex without padding, with canonical (strict) decoding.
fn base32() -> &'static Encoding {
    static ENCODING: std::sync::OnceLock<Encoding> = std::sync::OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str(ALPHABET);
        spec.check_trailing_bits = true;
        spec.encoding()
            .expect("a 32-symbol alphabet without padding is a valid specification")
    })
}

impl Keyring {
    /// Encrypts a relative path (`/`-separated, as `paths::check` accepts).
    pub fn encrypt_path(&self, path: &str) -> Result<String> {
        paths::check(path).map_err(|why| {
            CryptoError::InvalidInput(format!("the path {path:?} cannot be encrypted: {why}"))
        })?;
        let mut siv = Aes256Siv::new(self.name_key().into());
        let mut out = String::with_capacity(path.len() * 2 + 32);
        let mut parent_end = 0;
        for (i, segment) in path.split('/').enumerate() {
            let parent = &path[..parent_end];
            let sealed = siv
                .encrypt([parent.as_bytes()], segment.as_bytes())
                .map_err(|_| {
                    CryptoError::InvalidInput(format!("the name {segment:?} is too long"))
                })?;
            if i > 0 {
                out.push('/');
            }
            push_chunked(&mut out, &base32().encode(&sealed));
            parent_end = if i == 0 {
                segment.len()
            } else {
                parent_end + 1 + segment.len()
            };
        }
        Ok(out)
    }

    /// Decrypts a path that [`Keyring::encrypt_path`] produced.
    ///
    /// A string that is not an encrypted path at all (wrong characters, a
    /// non-canonical spelling) is [`CryptoError::InvalidInput`]; one that is
    /// spelled right but does not authenticate under this key and this parent
    /// folder is [`CryptoError::Tampered`].
    pub fn decrypt_path(&self, encrypted: &str) -> Result<String> {
        let not_ours = |why: &str| {
            CryptoError::InvalidInput(format!("{encrypted:?} is not an encrypted path: {why}"))
        };
        if encrypted.is_empty() {
            return Err(not_ours("it is empty"));
        }
        let mut siv = Aes256Siv::new(self.name_key().into());
        let mut plain = String::with_capacity(encrypted.len() / 2);
        let mut chunks = encrypted.split('/').peekable();
        while let Some(first) = chunks.next() {
            let mut encoded = String::from(first);
            let mut last_len = first.len();
            if first.starts_with(CONTINUATION) {
                return Err(not_ours("a continuation chunk has nothing to continue"));
            }
            while let Some(next) = chunks.next_if(|c| c.starts_with(CONTINUATION)) {
                if last_len != MAX_CHUNK {
                    return Err(not_ours("a chunk before a continuation is not full"));
                }
                if next.len() < 2 {
                    return Err(not_ours("a continuation chunk is empty"));
                }
                encoded.push_str(&next[1..]);
                last_len = next.len();
            }
            if last_len > MAX_CHUNK {
                return Err(not_ours("a chunk is too long"));
            }
            let sealed = base32()
                .decode(encoded.as_bytes())
                .map_err(|_| not_ours("a segment is not lower-case base32hex"))?;
            if sealed.len() <= TAG_LEN {
                return Err(not_ours("a segment is too short"));
            }
            let segment = siv.decrypt([plain.as_bytes()], &sealed).map_err(|_| {
                CryptoError::Tampered(format!(
                    "the name {encrypted:?} does not authenticate: it was altered, moved to \
                     another folder, or written with another key"
                ))
            })?;
            let segment = String::from_utf8(segment)
                .ok()
                .filter(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0']))
                .ok_or_else(|| {
                    CryptoError::Tampered(format!(
                        "the name {encrypted:?} decrypts to an unsafe name"
                    ))
                })?;
            if !plain.is_empty() {
                plain.push('/');
            }
            plain.push_str(&segment);
        }
        Ok(plain)
    }
}

/// Appends `encoded` to `out`, cut into chunks as the module describes.
fn push_chunked(out: &mut String, encoded: &str) {
    // The encoding is ASCII, so byte offsets are character offsets.
    let (first, mut rest) = encoded.split_at(encoded.len().min(MAX_CHUNK));
    out.push_str(first);
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(rest.len().min(MAX_CHUNK - 1));
        out.push('/');
        out.push(CONTINUATION);
        out.push_str(chunk);
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::from_master(&[0x42; 32])
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let k = keyring();
        for p in [
            "a",
            "a/b",
            "Documents/notes.txt",
            "\u{e9}t\u{e9}/\u{fc}.txt",
            "a b/.hidden/x",
        ] {
            let e = k.encrypt_path(p).unwrap();
            assert_eq!(e, k.encrypt_path(p).unwrap());
            assert!(e.chars().all(|c| c == '/' || ALPHABET.contains(c)), "{e}");
            assert_eq!(e.matches('/').count(), p.matches('/').count());
            assert_eq!(k.decrypt_path(&e).unwrap(), p);
        }
    }

    #[test]
    fn same_name_in_other_folders_differs() {
        let k = keyring();
        let a = k.encrypt_path("x/same").unwrap();
        let b = k.encrypt_path("y/same").unwrap();
        assert_ne!(a.rsplit('/').next(), b.rsplit('/').next());
        // A segment moved under another parent no longer authenticates.
        let moved = format!(
            "{}/{}",
            b.split('/').next().unwrap(),
            a.rsplit('/').next().unwrap()
        );
        assert!(matches!(
            k.decrypt_path(&moved),
            Err(CryptoError::Tampered(_))
        ));
    }

    #[test]
    fn long_names_are_chunked_and_stay_short_enough() {
        let k = keyring();
        for len in [1, 123, 124, 125, 200, 255, 1000] {
            let name = "\u{e9}".repeat(len / 2) + &"n".repeat(len % 2);
            let path = format!("dir/{name}");
            let e = k.encrypt_path(&path).unwrap();
            for chunk in e.split('/') {
                assert!(chunk.len() <= MAX_CHUNK, "{len}: {}", chunk.len());
            }
            assert_eq!(k.decrypt_path(&e).unwrap(), path);
        }
        // 124 bytes fit one chunk; 125 need a continuation.
        let e = k.encrypt_path(&"n".repeat(124)).unwrap();
        assert_eq!(e.len(), MAX_CHUNK);
        assert_eq!(
            k.encrypt_path(&"n".repeat(125))
                .unwrap()
                .matches('/')
                .count(),
            1
        );
    }

    #[test]
    fn refuses_non_canonical_and_foreign_spellings() {
        let k = keyring();
        let e = k.encrypt_path(&"n".repeat(300)).unwrap();
        let first_slash = e.find('/').unwrap();
        // Moving the chunk boundary gives another spelling of the same bytes.
        let shifted = format!(
            "{}/z{}{}",
            &e[..first_slash - 1],
            &e[first_slash - 1..first_slash],
            &e[first_slash + 2..]
        );
        assert!(matches!(
            k.decrypt_path(&shifted),
            Err(CryptoError::InvalidInput(_))
        ));
        let short = k.encrypt_path("abc").unwrap();
        for bad in [
            "".to_string(),
            "poof.key".into(),
            short.to_uppercase(),
            format!("z{short}"),
            format!("{short}/"),
            format!("{short}//{short}"),
            short[..short.len() - 1].to_string(),
            "0".repeat(20),
        ] {
            assert!(k.decrypt_path(&bad).is_err(), "{bad:?}");
        }
        // Canonical trailing bits: the last character of "abc" (19 bytes,
        // 152 bits, 31 characters) carries 3 unused bits that must be zero.
        let mut chars: Vec<char> = short.chars().collect();
        let last = chars.last_mut().unwrap();
        *last = if *last == 'v' { '0' } else { 'v' };
        let bad: String = chars.into_iter().collect();
        assert!(k.decrypt_path(&bad).is_err());
    }

    #[test]
    fn other_keys_and_bad_paths_are_refused() {
        let e = keyring().encrypt_path("a/b").unwrap();
        let other = Keyring::from_master(&[0x43; 32]);
        assert!(matches!(
            other.decrypt_path(&e),
            Err(CryptoError::Tampered(_))
        ));
        for bad in ["", "/a", "a//b", "a/../b", "a\0b"] {
            assert!(matches!(
                keyring().encrypt_path(bad),
                Err(CryptoError::InvalidInput(_))
            ));
        }
    }
}
