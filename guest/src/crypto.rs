//! Client-side encryption: keys, names, content and small blobs.
//!
//! This module is the cryptographic core of poof's encrypted remotes. It is
//! plain Rust, sans-IO and deterministic: every random input (the master key,
//! salts) is derived from `entropy` bytes that the caller passes in, so tests
//! pin them and the guest never reaches for a clock or a random source. The
//! byte format it reads and writes is specified in `docs/FORMAT.md`, and the
//! test vectors there are checked by `vectors.rs`.
//!
//! The key hierarchy, from the top:
//!
//! - a random 32-byte master key, kept only inside a [`Keyring`] and wrapped
//!   for storage with a key derived from the passphrase by Argon2id
//!   ([`keyring`]);
//! - from the master key, by HKDF-SHA256: the name key (AES-SIV, [`names`]),
//!   the salt key (synthetic salts) and the key id;
//! - per object and per blob, by HKDF-SHA256 with that object's salt: the
//!   header and segment keys ([`stream`]) or the blob key ([`blob`]).
//!
//! Invariants: secret bytes live in `Zeroizing` containers or in cipher
//! states that wipe themselves on drop; no function here panics on any input
//! (bad input, wrong keys and altered bytes are a [`CryptoError`]).

pub mod blob;
pub mod keyring;
pub mod names;
pub mod stream;

#[cfg(test)]
mod kat;
#[cfg(test)]
mod tamper;
#[cfg(test)]
mod vectors;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub use keyring::{KdfParams, Keyring, WrappedKeyInfo};
pub use stream::{FileMeta, FileStat, Opener, Sealer};

/// The version of the wrapped key and blob formats, which this module
/// writes and reads (content objects have their own,
/// [`stream::OBJECT_VERSION`]).
pub const FORMAT_VERSION: u8 = 1;

/// Length of an AES-GCM or AES-SIV authentication tag, in bytes.
pub const TAG_LEN: usize = 16;

/// The least entropy, in bytes, that a caller must pass where randomness is
/// needed. More is accepted and condensed by HKDF or HMAC.
pub const MIN_ENTROPY: usize = 32;

/// Why a cryptographic operation refused its input.
///
/// Each kind of failure has its own case so that the host can name it to the
/// user; the string says where (which object, which segment) in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The request is malformed: a bad path, too little entropy, a segment of
    /// the wrong length while sealing.
    InvalidInput(String),
    /// The passphrase does not open the wrapped key (or the wrapped key was altered).
    WrongPassphrase,
    /// Authentication failed: the bytes were altered, reordered, spliced from
    /// another object, or were not written with this key.
    Tampered(String),
    /// The bytes end before the format says they should.
    Truncated(String),
    /// The object is intact but was written for another name: it was renamed
    /// or swapped with another object.
    WrongName(String),
    /// The bytes are not in a format (or a version of it) this guest reads.
    UnsupportedFormat(String),
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::InvalidInput(m) => write!(f, "invalid input: {m}"),
            CryptoError::WrongPassphrase => f.write_str(
                "the passphrase does not open the key (wrong passphrase, or the key file was altered)",
            ),
            CryptoError::Tampered(m) => write!(f, "tampered: {m}"),
            CryptoError::Truncated(m) => write!(f, "truncated: {m}"),
            CryptoError::WrongName(m) => write!(f, "wrong name: {m}"),
            CryptoError::UnsupportedFormat(m) => write!(f, "unsupported format: {m}"),
        }
    }
}

impl std::error::Error for CryptoError {}

/// The result type of this module.
pub type Result<T> = std::result::Result<T, CryptoError>;

/// The plaintext path an object of the file `rel` of the cloud folder
/// `cloud` is bound to (its associated data) and named after: `CLOUD/REL`.
pub fn object_path(cloud: &str, rel: &str) -> String {
    format!("{cloud}/{rel}")
}

/// Refuses `entropy` shorter than [`MIN_ENTROPY`] bytes.
fn check_entropy(entropy: &[u8]) -> Result<()> {
    if entropy.len() < MIN_ENTROPY {
        return Err(CryptoError::InvalidInput(format!(
            "{} bytes of entropy given, at least {MIN_ENTROPY} are needed",
            entropy.len()
        )));
    }
    Ok(())
}

/// HKDF-SHA256 (RFC 5869) of `ikm` with `salt` (none: 32 zero bytes) and
/// `info`, giving `N` bytes in a container that wipes itself.
fn hkdf<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; N]> {
    let mut out = Zeroizing::new([0u8; N]);
    Hkdf::<Sha256>::new(salt, ikm)
        .expand(info, out.as_mut())
        .expect("every N used here is at most 64, far below HKDF's limit of 8160 bytes");
    out
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The 8-byte little-endian length prefix used in the inputs of synthetic salts.
fn le_len(bytes: &[u8]) -> [u8; 8] {
    (bytes.len() as u64).to_le_bytes()
}

/// An AES-256-GCM cipher for a 32-byte key.
fn gcm(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Encrypts `buf` in place with AES-256-GCM and appends the 16-byte tag.
fn gcm_seal(cipher: &Aes256Gcm, nonce: &[u8; 12], ad: &[u8], buf: &mut Vec<u8>) -> Result<()> {
    let tag = cipher
        .encrypt_inout_detached(nonce.into(), ad, buf.as_mut_slice().into())
        .map_err(|_| CryptoError::InvalidInput("the message is too long for AES-GCM".into()))?;
    buf.extend_from_slice(&tag);
    Ok(())
}

/// Checks and removes the 16-byte tag at the end of `buf`, then decrypts the
/// rest in place. `Err(())` means the tag did not verify; the caller names why.
fn gcm_open(
    cipher: &Aes256Gcm,
    nonce: &[u8; 12],
    ad: &[u8],
    buf: &mut Vec<u8>,
) -> std::result::Result<(), ()> {
    let Some(body_len) = buf.len().checked_sub(TAG_LEN) else {
        return Err(());
    };
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&buf[body_len..]);
    cipher
        .decrypt_inout_detached(
            nonce.into(),
            ad,
            buf[..body_len].as_mut().into(),
            (&tag).into(),
        )
        .map_err(|_| ())?;
    buf.truncate(body_len);
    Ok(())
}

/// Lower-case hex of `bytes`, as object ids and key ids are shown.
fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_must_be_long_enough() {
        assert!(matches!(
            check_entropy(&[0; 31]),
            Err(CryptoError::InvalidInput(_))
        ));
        assert_eq!(check_entropy(&[0; 32]), Ok(()));
    }

    #[test]
    fn gcm_round_trip_and_short_input() {
        let cipher = gcm(&[7; 32]);
        let mut buf = b"hello".to_vec();
        gcm_seal(&cipher, &[0; 12], b"ad", &mut buf).unwrap();
        assert_eq!(buf.len(), 5 + TAG_LEN);
        let mut bad = buf.clone();
        assert_eq!(gcm_open(&cipher, &[0; 12], b"other", &mut bad), Err(()));
        gcm_open(&cipher, &[0; 12], b"ad", &mut buf).unwrap();
        assert_eq!(buf, b"hello");
        let mut short = vec![0u8; 15];
        assert_eq!(gcm_open(&cipher, &[0; 12], b"", &mut short), Err(()));
    }
}
