//! EME (ECB-Mix-ECB), the wide-block mode rclone crypt encrypts names with.
//!
//! Written here from the description in Halevi and Rogaway, "A Parallelizable
//! Enciphering Mode" (2003), as rfjakob/eme implements it for rclone
//! (docs/RCLONE-CRYPT.md, "Names"): the only EME crate (`eme-mode`) is built
//! on an older `cipher` and would bring a second AES into the guest
//! (docs/DEPENDENCIES.md). AES-256 itself comes from the `aes` crate.
//!
//! Invariant: [`transform`] never panics; a length EME does not define (not a
//! multiple of 16 bytes, or outside 16 to 2,048 bytes) is an error.

use aes::Aes256;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt};

/// The most bytes EME enciphers at once: 128 AES blocks.
pub const MAX_LEN: usize = 16 * 128;

/// Which way [`transform`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Enciphers: plaintext to ciphertext.
    Encrypt,
    /// Deciphers: ciphertext to plaintext.
    Decrypt,
}

/// One 16-byte block.
type Block = [u8; 16];

/// EME-enciphers or deciphers `data` in place under `cipher` and `tweak`.
///
/// `data` must hold 1 to 128 whole blocks of 16 bytes; anything else is
/// refused with a sentence saying why.
pub fn transform(
    cipher: &Aes256,
    tweak: &Block,
    data: &mut [u8],
    direction: Direction,
) -> Result<(), String> {
    if data.is_empty() || !data.len().is_multiple_of(16) || data.len() > MAX_LEN {
        return Err(format!(
            "EME takes 16 to {MAX_LEN} bytes in whole blocks of 16, not {}",
            data.len()
        ));
    }
    let aes = |b: &mut Block| match direction {
        Direction::Encrypt => encrypt_block(cipher, b),
        Direction::Decrypt => {
            let mut block = aes::Block::from(*b);
            cipher.decrypt_block(&mut block);
            *b = block.into();
        }
    };
    // L = 2·AES-enc(K, 0); the j-th block is masked with 2^j·L. Both
    // directions compute L with the encryption function.
    let mut l = [0u8; 16];
    encrypt_block(cipher, &mut l);
    let mut masks = Vec::with_capacity(data.len() / 16);
    for _ in 0..data.len() / 16 {
        l = double(&l);
        masks.push(l);
    }
    // First pass: PPP_j = AES(P_j ⊕ L_j), summed (with the tweak) into MP.
    let mut mp = *tweak;
    for (chunk, mask) in data.chunks_exact_mut(16).zip(&masks) {
        let block = as_block(chunk);
        xor_into(block, mask);
        aes(block);
        xor_into(&mut mp, block);
    }
    // The mix: MC = AES(MP), M = MP ⊕ MC; CCC_j = PPP_j ⊕ 2^(j-1)·M for
    // j ≥ 1, and CCC_0 = MC ⊕ T ⊕ the sum of the other CCC_j.
    let mut mc = mp;
    aes(&mut mc);
    let mut m = mp;
    xor_into(&mut m, &mc);
    let mut ccc0 = mc;
    xor_into(&mut ccc0, tweak);
    for chunk in data.chunks_exact_mut(16).skip(1) {
        m = double(&m);
        let block = as_block(chunk);
        xor_into(block, &m);
        xor_into(&mut ccc0, block);
    }
    as_block(&mut data[..16]).copy_from_slice(&ccc0);
    // Last pass: C_j = AES(CCC_j) ⊕ L_j.
    for (chunk, mask) in data.chunks_exact_mut(16).zip(&masks) {
        let block = as_block(chunk);
        aes(block);
        xor_into(block, mask);
    }
    Ok(())
}

/// AES-256-encrypts one block in place.
fn encrypt_block(cipher: &Aes256, b: &mut Block) {
    let mut block = aes::Block::from(*b);
    cipher.encrypt_block(&mut block);
    *b = block.into();
}

/// Multiplication by 2 in GF(2^128) as EME defines it: the block is a
/// little-endian number (byte 0 lowest), shifted left by one bit, with 0x87
/// added into byte 0 when the top bit falls out.
fn double(b: &Block) -> Block {
    let mut out = [0u8; 16];
    let mut carry = 0u8;
    for (o, &x) in out.iter_mut().zip(b) {
        *o = (x << 1) | carry;
        carry = x >> 7;
    }
    if carry == 1 {
        out[0] ^= 0x87;
    }
    out
}

/// `a ^= b`, block by block.
fn xor_into(a: &mut Block, b: &Block) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// A 16-byte chunk of `chunks_exact_mut(16)` as a block.
fn as_block(chunk: &mut [u8]) -> &mut Block {
    chunk
        .try_into()
        .expect("chunks_exact_mut(16) yields 16-byte chunks")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::KeyInit;

    fn zero_cipher() -> Aes256 {
        Aes256::new(&[0u8; 32].into())
    }

    #[test]
    fn doubling_carries_upward_and_reduces_with_0x87() {
        let mut b = [0u8; 16];
        b[0] = 0x80;
        assert_eq!(double(&b)[..2], [0x00, 0x01]);
        let mut top = [0u8; 16];
        top[15] = 0x80;
        let mut expected = [0u8; 16];
        expected[0] = 0x87;
        assert_eq!(double(&top), expected);
    }

    #[test]
    fn lengths_eme_does_not_define_are_refused() {
        let c = zero_cipher();
        for len in [0, 1, 15, 17, MAX_LEN + 16] {
            let mut data = vec![0u8; len];
            assert!(transform(&c, &[0; 16], &mut data, Direction::Encrypt).is_err());
        }
    }

    #[test]
    fn decrypting_undoes_encrypting_at_every_length() {
        let c = Aes256::new(&[7u8; 32].into());
        for blocks in 1..=128 {
            let plain: Vec<u8> = (0..blocks * 16).map(|i| (i * 7 + 3) as u8).collect();
            let mut data = plain.clone();
            transform(&c, &[9; 16], &mut data, Direction::Encrypt).unwrap();
            assert_ne!(data, plain);
            transform(&c, &[9; 16], &mut data, Direction::Decrypt).unwrap();
            assert_eq!(data, plain);
        }
    }
}
