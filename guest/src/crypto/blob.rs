//! Small sealed blobs: the manifest and anything else the host keeps beside the objects.
//!
//! A blob is sealed in one piece with AES-256-GCM under a key derived by HKDF
//! from the master key and the blob's own salt. The caller names what the
//! blob is for with a `context` string (for example `manifest:Documents`),
//! which is authenticated but not stored: a blob opens only under the context
//! it was sealed for, so the storage provider cannot pass one path's manifest
//! off as another's. See `docs/FORMAT.md`, "Blobs".
//!
//! Invariants: like object salts, blob salts are synthetic (an HMAC of the
//! entropy, the context and the plaintext), so a broken random source can
//! never reuse a key and nonce for different plaintexts; opening works in
//! place and allocates nothing beyond the input it was given.

use super::{CryptoError, FORMAT_VERSION, Keyring, Result, TAG_LEN};
use super::{check_entropy, gcm, gcm_open, gcm_seal, hkdf, hmac_sha256, le_len};

/// The magic bytes at the start of a blob.
pub const MAGIC: &[u8; 7] = b"poofblb";

/// Length of a blob's salt.
pub const SALT_LEN: usize = 32;

/// Length of the plain prefix: magic, version and salt.
pub const PREFIX_LEN: usize = 8 + SALT_LEN;

/// Bytes a sealed blob has beyond its plaintext.
pub const OVERHEAD: usize = PREFIX_LEN + TAG_LEN;

/// The associated data of a blob: its plain prefix followed by the context.
fn associated_data(prefix: &[u8], context: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(prefix.len() + context.len());
    ad.extend_from_slice(prefix);
    ad.extend_from_slice(context.as_bytes());
    ad
}

impl Keyring {
    /// Seals `plaintext` for `context`, with a salt derived from `entropy`.
    pub fn seal_blob(
        &self,
        context: &str,
        mut plaintext: Vec<u8>,
        entropy: &[u8],
    ) -> Result<Vec<u8>> {
        check_entropy(entropy)?;
        let salt = hmac_sha256(
            self.salt_key(),
            &[
                b"poof v1 blob salt",
                &le_len(entropy),
                entropy,
                &le_len(context.as_bytes()),
                context.as_bytes(),
                &le_len(&plaintext),
                &plaintext,
            ],
        );
        let key = hkdf::<32>(Some(&salt), self.master(), b"poof v1 blob");
        let mut prefix = Vec::with_capacity(PREFIX_LEN);
        prefix.extend_from_slice(MAGIC);
        prefix.push(FORMAT_VERSION);
        prefix.extend_from_slice(&salt);
        gcm_seal(
            &gcm(&key),
            &[0; 12],
            &associated_data(&prefix, context),
            &mut plaintext,
        )?;
        let mut out = Vec::new();
        out.try_reserve_exact(PREFIX_LEN + plaintext.len())
            .map_err(|_| CryptoError::InvalidInput("the blob is too large to seal".into()))?;
        out.extend_from_slice(&prefix);
        out.extend_from_slice(&plaintext);
        Ok(out)
    }

    /// Opens a blob sealed for `context`.
    pub fn open_blob(&self, context: &str, mut sealed: Vec<u8>) -> Result<Vec<u8>> {
        if sealed.len() < 8 || &sealed[..7] != MAGIC {
            return Err(CryptoError::UnsupportedFormat(format!(
                "the {context} blob is not a poof blob (no `poofblb` magic)"
            )));
        }
        if sealed[7] != FORMAT_VERSION {
            return Err(CryptoError::UnsupportedFormat(format!(
                "the {context} blob has format version {}, this guest reads {FORMAT_VERSION}",
                sealed[7]
            )));
        }
        if sealed.len() < OVERHEAD {
            return Err(CryptoError::Truncated(format!(
                "the {context} blob is {} bytes, at least {OVERHEAD} expected",
                sealed.len()
            )));
        }
        let key = hkdf::<32>(Some(&sealed[8..PREFIX_LEN]), self.master(), b"poof v1 blob");
        let ad = associated_data(&sealed[..PREFIX_LEN], context);
        // Move the ciphertext to the front, in place, then open it there.
        sealed.copy_within(PREFIX_LEN.., 0);
        sealed.truncate(sealed.len() - PREFIX_LEN);
        gcm_open(&gcm(&key), &[0; 12], &ad, &mut sealed).map_err(|()| {
            CryptoError::Tampered(format!(
                "the {context} blob does not authenticate: it was altered, truncated, sealed for \
                 another purpose, or not written with this key"
            ))
        })?;
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let k = Keyring::from_master(&[3; 32]);
        let sealed = k
            .seal_blob("manifest:A", b"{\"files\":[]}".to_vec(), &[1; 32])
            .unwrap();
        assert_eq!(sealed.len(), 12 + OVERHEAD);
        assert_eq!(
            k.open_blob("manifest:A", sealed.clone()).unwrap(),
            b"{\"files\":[]}"
        );
        assert!(matches!(
            k.open_blob("manifest:B", sealed.clone()),
            Err(CryptoError::Tampered(_))
        ));
        let other = Keyring::from_master(&[4; 32]);
        assert!(matches!(
            other.open_blob("manifest:A", sealed.clone()),
            Err(CryptoError::Tampered(_))
        ));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x80;
            assert!(k.open_blob("manifest:A", bad).is_err(), "byte {i}");
        }
        for cut in [0, 7, 8, 40, 55] {
            assert!(k.open_blob("manifest:A", sealed[..cut].to_vec()).is_err());
        }
        assert!(matches!(
            k.open_blob("manifest:A", sealed[..sealed.len() - 1].to_vec()),
            Err(CryptoError::Tampered(_))
        ));
        // Empty blobs work too.
        let empty = k.seal_blob("x", Vec::new(), &[1; 32]).unwrap();
        assert_eq!(k.open_blob("x", empty).unwrap(), b"");
    }

    #[test]
    fn same_entropy_different_plaintexts_get_different_salts() {
        let k = Keyring::from_master(&[3; 32]);
        let a = k.seal_blob("c", b"one".to_vec(), &[0; 32]).unwrap();
        let b = k.seal_blob("c", b"two".to_vec(), &[0; 32]).unwrap();
        assert_ne!(a[8..PREFIX_LEN], b[8..PREFIX_LEN]);
    }
}
