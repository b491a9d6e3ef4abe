//! Tamper tests: everything the storage provider could do to the objects.
//!
//! Threat levels 3 and 4 promise that nothing the provider does goes
//! unnoticed. Each test here does one thing a hostile or broken store could
//! do (flip a byte, cut an object at a segment boundary, drop, swap or splice
//! segments, swap or rename objects, serve an older version, present a wrong
//! passphrase) and checks that it is detected and named by the right
//! [`CryptoError`] case. Invariant: no test here expects a panic; every
//! refusal is an error value.

use super::stream::{HEADER_LEN, SEGMENT_SIZE, plain_size, sealed_size};
use super::{CryptoError, FileMeta, Keyring, TAG_LEN};
use sha2::{Digest, Sha256};

fn keyring() -> Keyring {
    Keyring::from_master(&[0x5a; 32])
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn meta(content: &[u8]) -> FileMeta {
    FileMeta {
        size: content.len() as u64,
        mtime_ns: 1_700_000_000_123_456_789,
        mode: Some(0o644),
        sha256: Sha256::digest(content).into(),
    }
}

/// Seals `content` for `path` as poof writes it (format version 2): the
/// segments as they come, then the header the sealer gives at the end, put
/// in front of them.
fn seal(k: &Keyring, path: &str, content: &[u8], entropy: u8) -> Vec<u8> {
    let m = meta(content);
    let mut s = k.sealer(path, &m.stat(), &[entropy; 32]).unwrap();
    let body = seal_segments(&mut s, content);
    let mut out = s.finish(None).unwrap();
    out.extend(body);
    out
}

/// Seals `content` for `path` in format version 1.
fn seal_v1(k: &Keyring, path: &str, content: &[u8], entropy: u8) -> Vec<u8> {
    let mut s = k.sealer_v1(path, &meta(content), &[entropy; 32]).unwrap();
    let body = seal_segments(&mut s, content);
    let mut out = s.finish(None).unwrap();
    out.extend(body);
    out
}

fn seal_segments(s: &mut super::Sealer, content: &[u8]) -> Vec<u8> {
    let pieces: Vec<&[u8]> = if content.is_empty() {
        vec![&[]]
    } else {
        content.chunks(SEGMENT_SIZE).collect()
    };
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        out.extend(s.seal_segment(p.to_vec(), i + 1 == pieces.len()).unwrap());
    }
    out
}

/// Opens `object` as a host would: header, then chunks of one sealed segment,
/// `last` on the chunk that ends the bytes it has.
fn open(k: &Keyring, path: &str, object: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let header = &object[..object.len().min(HEADER_LEN)];
    let mut o = k.opener(path, header)?;
    let body = &object[header.len()..];
    let pieces: Vec<&[u8]> = if body.is_empty() {
        vec![&[]]
    } else {
        body.chunks(SEGMENT_SIZE + TAG_LEN).collect()
    };
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        out.extend(o.open_segment(p.to_vec(), i + 1 == pieces.len())?);
    }
    Ok(out)
}

fn segments(object: &[u8]) -> Vec<Vec<u8>> {
    object[HEADER_LEN..]
        .chunks(SEGMENT_SIZE + TAG_LEN)
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(header: &[u8], segs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = header.to_vec();
    for s in segs {
        out.extend(s);
    }
    out
}

#[test]
fn untouched_objects_open() {
    let k = keyring();
    for (i, len) in [0, 1, SEGMENT_SIZE, 2 * SEGMENT_SIZE + 5]
        .into_iter()
        .enumerate()
    {
        let content = data(len, 1);
        let e = 100 + i as u8;
        assert_eq!(
            open(&k, "p/f", &seal(&k, "p/f", &content, e)).unwrap(),
            content
        );
        assert_eq!(
            open(&k, "p/f", &seal_v1(&k, "p/f", &content, e)).unwrap(),
            content
        );
    }
}

#[test]
fn flipping_any_byte_of_a_small_object_is_detected() {
    let k = keyring();
    for object in [
        seal(&k, "p/f", &data(300, 2), 2),
        seal_v1(&k, "p/f", &data(300, 2), 2),
    ] {
        flip_each_byte(&k, &object);
    }
}

fn flip_each_byte(k: &Keyring, object: &[u8]) {
    for i in 0..object.len() {
        let mut bad = object.to_vec();
        bad[i] ^= 0x01;
        let err = open(k, "p/f", &bad).unwrap_err();
        match i {
            // Magic, or the version byte flipped to 0 or 3 (unknown).
            0..=7 => assert!(
                matches!(err, CryptoError::UnsupportedFormat(_)),
                "{i}: {err}"
            ),
            _ => assert!(matches!(err, CryptoError::Tampered(_)), "{i}: {err}"),
        }
    }
}

#[test]
fn flipping_bytes_across_segments_is_detected() {
    let k = keyring();
    let object = seal(&k, "p/f", &data(2 * SEGMENT_SIZE + 100, 3), 3);
    let full = SEGMENT_SIZE + TAG_LEN;
    let mut positions: Vec<usize> = (HEADER_LEN..object.len()).step_by(4099).collect();
    for s in 0..3 {
        let start = HEADER_LEN + s * full;
        let end = (start + full).min(object.len());
        positions.extend([start, start + 1, end - TAG_LEN - 1, end - TAG_LEN, end - 1]);
    }
    for i in positions {
        let mut bad = object.clone();
        bad[i] ^= 0x80;
        let err = open(&k, "p/f", &bad).unwrap_err();
        assert!(
            matches!(&err, CryptoError::Tampered(m) if m.contains("segment")),
            "{i}: {err}"
        );
    }
}

#[test]
fn truncation_at_a_segment_boundary_is_detected() {
    let k = keyring();
    let object = seal(&k, "p/f", &data(3 * SEGMENT_SIZE - 10, 4), 4);
    let segs = segments(&object);
    assert_eq!(segs.len(), 3);
    // Cut after the first or the second segment: each remaining segment is
    // intact, but the stream ends too early.
    for keep in [1, 2] {
        let cut = join(&object[..HEADER_LEN], &segs[..keep]);
        let err = open(&k, "p/f", &cut).unwrap_err();
        assert!(matches!(err, CryptoError::Truncated(_)), "{keep}: {err}");
    }
    // The host can tell before opening, too: the length is not the one the
    // header announces, and a cut right after the header is no valid length.
    assert_eq!(
        sealed_size(3 * SEGMENT_SIZE as u64 - 10).unwrap(),
        object.len() as u64
    );
    assert!(plain_size(HEADER_LEN as u64).is_err());
    // Cut right after the header, inside a segment, inside the header.
    assert!(matches!(
        open(&k, "p/f", &object[..HEADER_LEN]),
        Err(CryptoError::Truncated(_))
    ));
    assert!(matches!(
        open(&k, "p/f", &object[..HEADER_LEN + 100]),
        Err(CryptoError::Truncated(_))
    ));
    assert!(matches!(
        open(&k, "p/f", &object[..object.len() - 1]),
        Err(CryptoError::Truncated(_))
    ));
    assert!(matches!(
        open(&k, "p/f", &object[..100]),
        Err(CryptoError::Truncated(_))
    ));
}

#[test]
fn dropping_the_last_segment_is_detected() {
    let k = keyring();
    let object = seal(&k, "p/f", &data(2 * SEGMENT_SIZE, 5), 5);
    let segs = segments(&object);
    let err = open(&k, "p/f", &join(&object[..HEADER_LEN], &segs[..1])).unwrap_err();
    assert!(matches!(err, CryptoError::Truncated(_)), "{err}");
    // Even a host that trusts the stream's end gets the STREAM flag's answer:
    // the remaining last segment was not sealed as a last one.
    let mut o = k.opener("p/f", &object[..HEADER_LEN]).unwrap();
    assert!(o.open_segment(segs[0].clone(), true).is_err());
}

#[test]
fn swapped_dropped_or_repeated_segments_are_detected() {
    let k = keyring();
    let object = seal(&k, "p/f", &data(3 * SEGMENT_SIZE, 6), 6);
    let segs = segments(&object);
    let h = &object[..HEADER_LEN];
    for order in [[1, 0, 2], [0, 2, 1], [0, 0, 2], [2, 1, 0]] {
        let shuffled: Vec<Vec<u8>> = order.iter().map(|&i| segs[i].clone()).collect();
        let err = open(&k, "p/f", &join(h, &shuffled)).unwrap_err();
        assert!(matches!(err, CryptoError::Tampered(_)), "{order:?}: {err}");
    }
    // A middle segment dropped: the next one sits at the wrong index.
    let err = open(&k, "p/f", &join(h, &[segs[0].clone(), segs[2].clone()])).unwrap_err();
    assert!(
        matches!(err, CryptoError::Tampered(_) | CryptoError::Truncated(_)),
        "{err}"
    );
    // Extra data after the last segment.
    let mut longer = object.clone();
    longer.extend_from_slice(&[0; 20]);
    let err = open(&k, "p/f", &longer).unwrap_err();
    assert!(matches!(err, CryptoError::Tampered(_)), "{err}");
}

#[test]
fn splicing_two_objects_is_detected() {
    let k = keyring();
    let a = seal(&k, "p/a", &data(2 * SEGMENT_SIZE, 7), 7);
    let b = seal(&k, "p/b", &data(2 * SEGMENT_SIZE, 8), 8);
    // a's header with one of b's segments at the same index.
    let spliced = join(
        &a[..HEADER_LEN],
        &[segments(&a)[0].clone(), segments(&b)[1].clone()],
    );
    assert!(matches!(
        open(&k, "p/a", &spliced),
        Err(CryptoError::Tampered(_))
    ));
    // a's header with all of b's segments (bodies swapped, headers kept).
    let body_swap = join(&a[..HEADER_LEN], &segments(&b));
    assert!(matches!(
        open(&k, "p/a", &body_swap),
        Err(CryptoError::Tampered(_))
    ));
}

#[test]
fn swapping_or_renaming_objects_is_detected_as_a_wrong_name() {
    let k = keyring();
    let a = seal(&k, "p/a", &data(1000, 9), 9);
    let b = seal(&k, "p/b", &data(1000, 10), 10);
    // The provider swaps the two objects' bytes: each is intact but sits
    // under the other's name.
    assert!(matches!(
        open(&k, "p/a", &b),
        Err(CryptoError::WrongName(_))
    ));
    assert!(matches!(
        open(&k, "p/b", &a),
        Err(CryptoError::WrongName(_))
    ));
    // The provider renames an object (or moves it to another configured path).
    assert!(matches!(
        open(&k, "p/c", &a),
        Err(CryptoError::WrongName(_))
    ));
    assert!(matches!(
        open(&k, "q/a", &a),
        Err(CryptoError::WrongName(_))
    ));
    // The name itself cannot be moved either: a's encrypted name under
    // another folder does not decrypt.
    let ea = k.encrypt_path("p/a").unwrap();
    let eq = k.encrypt_path("q/x").unwrap();
    let moved = format!(
        "{}/{}",
        eq.split('/').next().unwrap(),
        ea.split('/').nth(1).unwrap()
    );
    assert!(matches!(
        k.decrypt_path(&moved),
        Err(CryptoError::Tampered(_))
    ));
}

#[test]
fn a_replayed_older_version_is_caught_by_its_object_id() {
    let k = keyring();
    let old = seal(&k, "p/f", b"version 1", 11);
    let new = seal(&k, "p/f", b"version 2", 12);
    // The manifest records the id of what the last backup wrote.
    let recorded = k.opener("p/f", &new[..HEADER_LEN]).unwrap().object_id_hex();
    // The provider serves the old object instead: it is authentic, so only
    // the id can tell, and it differs.
    let served = k.opener("p/f", &old[..HEADER_LEN]).unwrap();
    assert_ne!(served.object_id_hex(), recorded);
    // Sealing the same content again with other entropy gives a new id too.
    assert_ne!(seal(&k, "p/f", b"version 2", 13)[8..40], new[8..40]);
    // A replayed manifest of another path does not open under this path's context.
    let manifest = k.seal_blob("manifest:p", b"{}".to_vec(), &[1; 32]).unwrap();
    assert!(matches!(
        k.open_blob("manifest:q", manifest),
        Err(CryptoError::Tampered(_))
    ));
}

#[test]
fn a_wrong_passphrase_is_named() {
    let k = keyring();
    let fast = super::KdfParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let wrapped = k.wrap_with(b"right", &[1; 32], fast).unwrap();
    assert_eq!(
        Keyring::unlock(&wrapped, b"wrong").unwrap_err(),
        CryptoError::WrongPassphrase
    );
    assert_eq!(
        Keyring::unlock(&wrapped, b"right").unwrap().key_id(),
        k.key_id()
    );
}

#[test]
fn another_key_cannot_open_anything() {
    let k = keyring();
    let other = Keyring::from_master(&[0xa5; 32]);
    let object = seal(&k, "p/f", b"secret", 14);
    assert!(matches!(
        open(&other, "p/f", &object),
        Err(CryptoError::Tampered(_))
    ));
}
