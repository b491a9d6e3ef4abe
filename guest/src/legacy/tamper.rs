//! Tamper tests: what a storage provider could do to rclone crypt objects,
//! and what poof can and cannot tell.
//!
//! rclone crypt authenticates each block on its own, with a nonce that
//! counts from the header's: a flipped bit, a cut inside a block, blocks
//! dropped, repeated or reordered, and blocks from another object are all
//! refused, each with the right `CryptoError`. What the format cannot tell
//! is pinned here too, so that docs/RCLONE-CRYPT.md ("Limits") stays true:
//! an object cut exactly after a block (its listed size cut with it) reads
//! as a shorter file, and two objects swapped read as each other.

use super::content::{BLOCK_DATA, ENCRYPTED, HEADER_LEN, NONCE_LEN};
use super::kat::read;
use super::names::{Mode, NameEncoding};
use super::{CryptKey, Options};
use crate::crypto::CryptoError;

fn key(password: &[u8]) -> CryptKey {
    CryptKey::from_revealed(password, b"", Options::default())
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// An object of `blocks` full blocks and a piece of 100 bytes.
fn object(k: &CryptKey, blocks: usize, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let plain = data(blocks * BLOCK_DATA + 100, seed);
    let object = k.encrypt_content(&plain, [seed; NONCE_LEN]);
    (plain, object)
}

fn split(object: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let blocks = object[HEADER_LEN..]
        .chunks(ENCRYPTED.block)
        .map(<[u8]>::to_vec)
        .collect();
    (object[..HEADER_LEN].to_vec(), blocks)
}

fn join(header: &[u8], blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    for b in blocks {
        out.extend(b);
    }
    out
}

/// rclone's `TestDecrypterRead`: flipping any byte of its 16-byte file.
#[test]
fn flipping_any_byte_is_detected() {
    let k = key(b"");
    let good = k.encrypt_content(&data(16, 1), std::array::from_fn(|i| i as u8 + 1));
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0xff;
        match read(&k, &bad).unwrap_err() {
            CryptoError::UnsupportedFormat(_) => assert!(i < 8, "{i}"),
            CryptoError::Tampered(m) => assert!(i >= 8 && m.contains("block 1 of 1"), "{i}: {m}"),
            e => panic!("{i}: {e}"),
        }
    }
}

#[test]
fn flipping_bytes_in_later_blocks_names_the_block() {
    let k = key(b"pw");
    let (_, good) = object(&k, 2, 2);
    for (at, block) in [
        (HEADER_LEN + 5, 1),
        (HEADER_LEN + ENCRYPTED.block + 7_000, 2),
        (good.len() - 1, 3),
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let e = read(&k, &bad).unwrap_err();
        assert!(
            matches!(&e, CryptoError::Tampered(m) if m.contains(&format!("block {block} of 3"))),
            "{at}: {e}"
        );
    }
}

/// rclone's truncation test: every length of its 16-byte file, each listed
/// with the length it was cut to.
#[test]
fn cutting_inside_a_block_is_detected() {
    let k = key(b"");
    let good = k.encrypt_content(&data(16, 1), [7; NONCE_LEN]);
    for len in 0..good.len() {
        match read(&k, &good[..len]) {
            Err(CryptoError::Truncated(_)) => {
                assert!(len < HEADER_LEN + 16 + 1 && len != HEADER_LEN)
            }
            Err(CryptoError::Tampered(_)) => assert!(len > HEADER_LEN + 16, "{len}"),
            // Cut right after the header: an empty file, as in rclone.
            Ok(plain) => assert!(len == HEADER_LEN && plain.is_empty(), "{len}"),
            Err(e) => panic!("{len}: {e}"),
        }
    }
}

#[test]
fn a_truncated_block_is_refused() {
    let k = key(b"pw");
    let (_, good) = object(&k, 2, 3);
    let (header, mut blocks) = split(&good);
    let mut reader = k.reader(&header, good.len() as u64).unwrap();
    blocks[0].truncate(1000);
    let e = reader.open_block(blocks[0].clone(), false).unwrap_err();
    assert!(
        matches!(&e, CryptoError::Truncated(m) if m.contains("block 1 of 3")),
        "{e}"
    );
}

#[test]
fn missing_last_blocks_are_refused() {
    let k = key(b"pw");
    let (_, good) = object(&k, 2, 4);
    let (header, blocks) = split(&good);
    // The bytes end early: the host has nothing after block 2.
    let mut reader = k.reader(&header, good.len() as u64).unwrap();
    reader.open_block(blocks[0].clone(), false).unwrap();
    let e = reader.open_block(blocks[1].clone(), true).unwrap_err();
    assert!(
        matches!(&e, CryptoError::Truncated(m) if m.contains("missing")),
        "{e}"
    );
    // The host stops before the last block and asks to finish.
    let mut reader = k.reader(&header, good.len() as u64).unwrap();
    let mut written = 0;
    for b in &blocks[..2] {
        written += reader.open_block(b.clone(), false).unwrap().len() as u64;
    }
    let e = reader.finish(written).unwrap_err();
    assert!(
        matches!(&e, CryptoError::Truncated(m) if m.contains("2 of the object's 3")),
        "{e}"
    );
}

#[test]
fn reordered_repeated_and_foreign_blocks_are_refused() {
    let k = key(b"pw");
    let (_, good) = object(&k, 2, 5);
    let (_, other) = object(&k, 2, 6);
    let (header, blocks) = split(&good);
    let (_, foreign) = split(&other);
    for swapped in [
        vec![blocks[1].clone(), blocks[0].clone(), blocks[2].clone()],
        vec![blocks[0].clone(), blocks[0].clone(), blocks[2].clone()],
        vec![foreign[0].clone(), blocks[1].clone(), blocks[2].clone()],
    ] {
        let e = read(&k, &join(&header, &swapped)).unwrap_err();
        assert!(matches!(e, CryptoError::Tampered(_)), "{e}");
    }
}

#[test]
fn another_password_is_refused_at_the_first_block() {
    let (_, good) = object(&key(b"pw"), 1, 7);
    let e = read(&key(b"other"), &good).unwrap_err();
    assert!(
        matches!(&e, CryptoError::Tampered(m) if m.contains("block 1 of 2")),
        "{e}"
    );
}

#[test]
fn a_wrong_magic_is_not_rclone_crypt() {
    let k = key(b"pw");
    let (_, mut good) = object(&k, 0, 8);
    good[..6].copy_from_slice(b"POOF01");
    let e = k
        .reader(&good[..HEADER_LEN], good.len() as u64)
        .err()
        .unwrap();
    assert!(matches!(e, CryptoError::UnsupportedFormat(_)), "{e}");
}

#[test]
fn after_a_refusal_the_reader_refuses_everything() {
    let k = key(b"pw");
    let (_, good) = object(&k, 1, 9);
    let (header, mut blocks) = split(&good);
    let mut reader = k.reader(&header, good.len() as u64).unwrap();
    blocks[0][20] ^= 1;
    let first = reader.open_block(blocks[0].clone(), false).unwrap_err();
    blocks[0][20] ^= 1;
    assert_eq!(
        reader.open_block(blocks[0].clone(), false).unwrap_err(),
        first
    );
    assert_eq!(reader.finish(0).unwrap_err(), first);
    assert!(!reader.is_finished());
}

#[test]
fn blocks_and_sizes_the_listing_does_not_announce_are_refused() {
    let k = key(b"pw");
    let (plain, good) = object(&k, 0, 10);
    let (header, blocks) = split(&good);
    let mut reader = k.reader(&header, good.len() as u64).unwrap();
    let mut longer = blocks[0].clone();
    longer.push(0);
    assert!(matches!(
        reader.open_block(longer, true),
        Err(CryptoError::InvalidInput(_))
    ));
    let mut reader = k.reader(&header, good.len() as u64).unwrap();
    assert!(matches!(
        reader.open_block(blocks[0].clone(), false),
        Err(CryptoError::InvalidInput(_))
    ));
    let mut reader = k.reader(&header, good.len() as u64).unwrap();
    reader.open_block(blocks[0].clone(), true).unwrap();
    assert!(matches!(
        reader.finish(plain.len() as u64 + 1),
        Err(CryptoError::InvalidInput(_))
    ));
    reader.finish(plain.len() as u64).unwrap();
    assert!(
        reader.open_block(vec![], true).is_err(),
        "no block after the last"
    );
}

/// A limit of the format, pinned: an object cut exactly after a block, and
/// listed at that size, reads as a shorter file.
#[test]
fn limit_a_cut_at_a_block_boundary_reads_as_a_shorter_file() {
    let k = key(b"pw");
    let (plain, good) = object(&k, 2, 11);
    let cut = &good[..HEADER_LEN + 2 * ENCRYPTED.block];
    assert_eq!(read(&k, cut).unwrap(), plain[..2 * BLOCK_DATA]);
}

/// A limit of the format, pinned: content is not bound to its name, so two
/// objects swapped read as each other.
#[test]
fn limit_swapped_objects_read_as_each_other() {
    let k = key(b"pw");
    let (plain_a, a) = object(&k, 0, 12);
    let (plain_b, b) = object(&k, 0, 13);
    assert_eq!(read(&k, &b).unwrap(), plain_b);
    assert_eq!(read(&k, &a).unwrap(), plain_a);
    // Nothing in `b` says which name it was written for.
    let names = CryptKey::from_revealed(b"pw", b"", Options::default());
    let stored_a = names.encrypt_file_path("a.txt").unwrap();
    assert_eq!(names.decrypt_file_path(&stored_a).unwrap(), "a.txt");
}

#[test]
fn without_data_encryption_content_passes_through_in_whole_pieces() {
    let k = CryptKey::from_revealed(
        b"pw",
        b"",
        Options {
            no_data: true,
            mode: Mode::Standard,
            encoding: NameEncoding::Base32,
            ..Options::default()
        },
    );
    let plain = data(BLOCK_DATA + 5, 14);
    assert_eq!(k.encrypt_content(&plain, [0; NONCE_LEN]), plain);
    assert_eq!(read(&k, &plain).unwrap(), plain);
    let e = read(&k, &plain[..BLOCK_DATA]).map(|p| p.len());
    assert_eq!(
        e,
        Ok(BLOCK_DATA),
        "a shorter plain object is a shorter file"
    );
    assert!(k.reader(b"RCLONE\0\0", 10).is_err(), "no header to give");
}
