//! rclone crypt's encryptor, for the tests and the fuzz targets only.
//!
//! poof reads rclone crypt and never writes it: this module is compiled only
//! for the guest's unit tests and with the `test-writer` feature, which the
//! fuzz targets turn on and the component's build does not. It writes what
//! rclone's `encrypter` writes (cipher.go), so that round trips, truncations
//! and splices can be made from any content; the known answers themselves
//! come from rclone's own test suite (`kat.rs`).

use crypto_secretbox::aead::AeadInPlace;
use crypto_secretbox::{KeyInit, XSalsa20Poly1305};

use super::CryptKey;
use super::content::{BLOCK_DATA, MAGIC, NONCE_LEN, increment};

impl CryptKey {
    /// The object rclone writes for `plain` with the header nonce `nonce`
    /// (the content itself without data encryption).
    pub fn encrypt_content(&self, plain: &[u8], mut nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let Some(key) = &self.data else {
            return plain.to_vec();
        };
        let cipher = XSalsa20Poly1305::new(key.as_ref().into());
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&nonce);
        for chunk in plain.chunks(BLOCK_DATA) {
            let mut block = chunk.to_vec();
            let tag = cipher
                .encrypt_in_place_detached((&nonce).into(), b"", &mut block)
                .expect("secretbox takes any block of up to 64 KiB without associated data");
            out.extend_from_slice(&tag);
            out.extend_from_slice(&block);
            increment(&mut nonce);
        }
        out
    }
}
