//! rclone crypt's content: a header, then NaCl secretbox blocks.
//!
//! Follows rclone's backend/crypt/cipher.go (docs/RCLONE-CRYPT.md,
//! "Content"). An object is `RCLONE\0\0` and a 24-byte nonce (32 bytes),
//! then blocks of up to 65,536 bytes of content, each sealed with
//! XSalsa20-Poly1305 under the data key: a 16-byte tag, then the
//! ciphertext. Block `i` uses the header's nonce plus `i`, a 24-byte
//! little-endian counter. With `no_data_encryption` the content is stored
//! as it is.
//!
//! Invariants: a [`BlockReader`] returns plaintext only once its block
//! authenticated; after one refusal it refuses everything; it accepts an
//! object only when every block the stored size announces was opened. The
//! format has no end marker: an object cut exactly after a block, with its
//! listed size cut to match, reads as a shorter file (docs/RCLONE-CRYPT.md,
//! "Limits").

use crypto_secretbox::aead::AeadInPlace;
use crypto_secretbox::{KeyInit, Tag, XSalsa20Poly1305};
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, Result};

/// The magic an encrypted object starts with.
pub const MAGIC: &[u8; 8] = b"RCLONE\0\0";

/// Bytes of the header: the magic and the nonce.
pub const HEADER_LEN: usize = MAGIC.len() + NONCE_LEN;

/// Bytes of a nonce.
pub const NONCE_LEN: usize = 24;

/// Bytes of content in a full block.
pub const BLOCK_DATA: usize = 64 * 1024;

/// Bytes of a block's Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// How a section's objects are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Bytes before the first block.
    pub header: usize,
    /// Bytes of a full stored block.
    pub block: usize,
    /// Bytes a stored block has beyond its content.
    pub overhead: usize,
}

/// rclone crypt's encrypted layout.
pub const ENCRYPTED: Layout = Layout {
    header: HEADER_LEN,
    block: TAG_LEN + BLOCK_DATA,
    overhead: TAG_LEN,
};

/// `no_data_encryption`: the content as it is, read in pieces of 64 KiB.
pub const PLAIN: Layout = Layout {
    header: 0,
    block: BLOCK_DATA,
    overhead: 0,
};

impl Layout {
    /// How many blocks an object of `stored` bytes holds, and its content
    /// size; an error says why no object of that size is written.
    pub fn count(&self, stored: u64) -> std::result::Result<(u64, u64), String> {
        let body = stored.checked_sub(self.header as u64).ok_or_else(|| {
            format!(
                "{stored} bytes is shorter than rclone crypt's {}-byte header",
                self.header
            )
        })?;
        let block = self.block as u64;
        let blocks = body.div_ceil(block);
        let last = body - blocks.saturating_sub(1) * block;
        if blocks > 0 && last <= self.overhead as u64 {
            return Err(format!(
                "{stored} bytes ends with a piece of {last} bytes after its last full block, \
                 too short to hold any content (rclone crypt never writes one)"
            ));
        }
        Ok((blocks, body - blocks * self.overhead as u64))
    }
}

/// Reads one object's blocks in order (the WIT's `block-reader`).
pub struct BlockReader {
    /// The data cipher and the next block's nonce; `None` without data encryption.
    cipher: Option<(XSalsa20Poly1305, [u8; NONCE_LEN])>,
    /// The layout of the object.
    layout: Layout,
    /// The object's stored size, as listed.
    stored: u64,
    /// Blocks the stored size announces.
    blocks: u64,
    /// The content size the stored size announces.
    plain: u64,
    /// Blocks opened so far.
    opened: u64,
    /// The first refusal; every later call repeats it.
    failed: Option<CryptoError>,
}

impl BlockReader {
    /// Starts reading an object of `stored` bytes whose first
    /// `layout.header` bytes are `header`; `data_key` is `None` without
    /// data encryption.
    pub fn new(
        data_key: Option<&Zeroizing<[u8; 32]>>,
        header: &[u8],
        stored: u64,
    ) -> Result<BlockReader> {
        let layout = if data_key.is_some() { ENCRYPTED } else { PLAIN };
        let (blocks, plain) = layout.count(stored).map_err(|why| {
            CryptoError::Truncated(format!("the object cannot be rclone crypt's: {why}"))
        })?;
        if header.len() != layout.header {
            let e = format!(
                "{} header bytes were given; the object's header has {}",
                header.len(),
                layout.header
            );
            return Err(if header.len() < layout.header {
                CryptoError::Truncated(e)
            } else {
                CryptoError::InvalidInput(e)
            });
        }
        let cipher = match data_key {
            None => None,
            Some(key) => {
                if !header.starts_with(MAGIC) {
                    return Err(CryptoError::UnsupportedFormat(
                        "the object does not start with rclone crypt's `RCLONE\\0\\0`: it was \
                         not written by rclone crypt, or by a crypt section with \
                         `no_data_encryption = true`"
                            .into(),
                    ));
                }
                let nonce: [u8; NONCE_LEN] = header[MAGIC.len()..]
                    .try_into()
                    .expect("the header's length was checked");
                Some((XSalsa20Poly1305::new(key.as_ref().into()), nonce))
            }
        };
        Ok(BlockReader {
            cipher,
            layout,
            stored,
            blocks,
            plain,
            opened: 0,
            failed: None,
        })
    }

    /// Opens the next stored block; `last` says the host has no bytes after it.
    pub fn open_block(&mut self, mut block: Vec<u8>, last: bool) -> Result<Vec<u8>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let opened = self.open(&mut block, last);
        match opened {
            Ok(()) => Ok(block),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn open(&mut self, block: &mut Vec<u8>, last: bool) -> Result<()> {
        let (n, i) = (self.blocks, self.opened);
        if n == 0 && block.is_empty() && last {
            // An empty file: no blocks; an empty last read is no block.
            return Ok(());
        }
        if i >= n {
            return Err(CryptoError::InvalidInput(format!(
                "the object holds {n} blocks, all of them already read"
            )));
        }
        let expected = if i + 1 == n {
            (self.stored - self.layout.header as u64 - i * self.layout.block as u64) as usize
        } else {
            self.layout.block
        };
        let what = format!("block {} of {n}", i + 1);
        if block.len() < expected {
            return Err(CryptoError::Truncated(format!(
                "{what} ends after {} of its {expected} bytes",
                block.len()
            )));
        }
        if block.len() > expected {
            return Err(CryptoError::InvalidInput(format!(
                "{what} was given {} bytes; it holds {expected}",
                block.len()
            )));
        }
        if last && i + 1 < n {
            return Err(CryptoError::Truncated(format!(
                "the object ends after {what}: the rest of its blocks are missing"
            )));
        }
        if !last && i + 1 == n {
            return Err(CryptoError::InvalidInput(format!(
                "{what} is the object's last and was not given as the last"
            )));
        }
        if let Some((cipher, nonce)) = &mut self.cipher {
            let tag = Tag::clone_from_slice(&block[..TAG_LEN]);
            cipher
                .decrypt_in_place_detached((&*nonce).into(), b"", &mut block[TAG_LEN..], &tag)
                .map_err(|_| {
                    CryptoError::Tampered(format!(
                        "{what} does not authenticate: it was altered, moved from another \
                         place, or written with another password"
                    ))
                })?;
            block.drain(..TAG_LEN);
            increment(nonce);
        }
        self.opened += 1;
        Ok(())
    }

    /// Accepts the object once every block was opened and the host wrote
    /// `written` bytes of content.
    pub fn finish(&self, written: u64) -> Result<()> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.opened < self.blocks {
            return Err(CryptoError::Truncated(format!(
                "only {} of the object's {} blocks were read",
                self.opened, self.blocks
            )));
        }
        if written != self.plain {
            return Err(CryptoError::InvalidInput(format!(
                "{written} bytes were written; the object holds {}",
                self.plain
            )));
        }
        Ok(())
    }

    /// Whether every block was opened.
    pub fn is_finished(&self) -> bool {
        self.failed.is_none() && self.opened == self.blocks
    }
}

/// Adds 1 to a little-endian nonce, carrying upward and wrapping at the top
/// (rclone's `nonce.increment`).
pub fn increment(nonce: &mut [u8; NONCE_LEN]) {
    for b in nonce.iter_mut() {
        *b = b.wrapping_add(1);
        if *b != 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rclone's `TestEncryptedSize` and `TestDecryptedSize` (cipher_test.go).
    #[test]
    fn sizes_as_rclone_computes_them() {
        for (plain, stored) in [
            (0u64, 32u64),
            (1, 32 + 16 + 1),
            (65536, 32 + 16 + 65536),
            (65537, 32 + 16 + 65536 + 16 + 1),
            (1 << 20, 32 + 16 * (16 + 65536)),
            ((1 << 20) + 65535, 32 + 16 * (16 + 65536) + 16 + 65535),
            (1 << 30, 32 + 16384 * (16 + 65536)),
            ((1 << 40) + 1, 32 + 16777216 * (16 + 65536) + 16 + 1),
        ] {
            assert_eq!(ENCRYPTED.count(stored).unwrap().1, plain, "{stored}");
        }
        for stored in [
            0,
            1,
            7,
            32 + 1,
            32 + 16,
            32 + 16 + 65536 + 1,
            32 + 16 + 65536 + 16,
        ] {
            assert!(ENCRYPTED.count(stored).is_err(), "{stored}");
        }
        assert_eq!(PLAIN.count(0).unwrap(), (0, 0));
        assert_eq!(PLAIN.count(65537).unwrap(), (2, 65537));
    }

    /// rclone's `TestNonceIncrement`: the carry runs up through all 24 bytes
    /// and wraps.
    #[test]
    fn the_nonce_counts_little_endian() {
        for carried in 0..NONCE_LEN {
            let mut n = [0u8; NONCE_LEN];
            n[..carried].fill(0xff);
            increment(&mut n);
            let mut expected = [0u8; NONCE_LEN];
            if carried < NONCE_LEN {
                expected[carried] = 1;
            }
            assert_eq!(n, expected, "{carried}");
        }
        let mut n = [0xff; NONCE_LEN];
        increment(&mut n);
        assert_eq!(n, [0; NONCE_LEN]);
    }
}
