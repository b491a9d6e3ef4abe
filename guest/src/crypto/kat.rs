//! Known-answer tests of every primitive, with the vectors of its standard.
//!
//! The format is only as good as the primitives under it, and a crate
//! upgrade or a wrong feature could change one of them silently. These tests
//! pin each primitive poof uses to the published vectors: SHA-256 (FIPS 180-2
//! appendix B), HMAC-SHA256 (RFC 4231), HKDF-SHA256 (RFC 5869 appendix A),
//! AES-256-GCM (McGrew and Viega, "The Galois/Counter Mode of Operation",
//! test cases 13 to 16, also in NIST's GCM validation set), AES-SIV (RFC 5297
//! appendix A) and Argon2id (RFC 9106 section 5.3). Invariant: each test
//! calls the primitive exactly as the format code does.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use aes_siv::siv::{Aes128Siv, Aes256Siv};
use argon2::{Algorithm, Argon2, AssociatedData, Block, ParamsBuilder, Version};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::{gcm_open, gcm_seal, hkdf, hmac_sha256};

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    hex::decode(s).expect("test vectors are hex")
}

#[test]
fn sha256_fips_180_2() {
    assert_eq!(
        Sha256::digest(b"abc")[..],
        h("ba7816bf 8f01cfea 414140de 5dae2223 b00361a3 96177a9c b410ff61 f20015ad")
    );
    assert_eq!(
        Sha256::digest(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")[..],
        h("248d6a61 d20638b8 e5c02693 0c3e6039 a33ce459 64ff2167 f6ecedd4 19db06c1")
    );
    assert_eq!(
        Sha256::digest(vec![b'a'; 1_000_000])[..],
        h("cdc76e5c 9914fb92 81a1c7e2 84d73e67 f1809a48 a497200e 046d39cc c7112cd0")
    );
}

#[test]
fn hmac_sha256_rfc_4231_case_2() {
    assert_eq!(
        hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"])[..],
        h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    );
}

#[test]
fn hkdf_sha256_rfc_5869() {
    // Test case 1: basic test case with SHA-256.
    let ikm = [0x0b; 22];
    let salt = h("000102030405060708090a0b0c");
    let info = h("f0f1f2f3f4f5f6f7f8f9");
    let (prk, hk) = Hkdf::<Sha256>::extract(Some(&salt), &ikm);
    assert_eq!(
        prk[..],
        h("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    );
    let mut okm = [0u8; 42];
    hk.expand(&info, &mut okm).unwrap();
    let expected =
        h("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
    assert_eq!(okm[..], expected);
    assert_eq!(hkdf::<42>(Some(&salt), &ikm, &info)[..], expected);
    // Test case 3: zero-length salt and info, as the format's master-key
    // derivations use (no salt).
    let expected =
        h("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
    assert_eq!(hkdf::<42>(None, &ikm, b"")[..], expected);
    assert_eq!(hkdf::<42>(Some(b""), &ikm, b"")[..], expected);
}

/// One AES-256-GCM vector: key, IV, plaintext, AAD, ciphertext, tag.
fn check_gcm(key: &str, iv: &str, pt: &str, aad: &str, ct: &str, tag: &str) {
    let key: [u8; 32] = h(key).try_into().unwrap();
    let iv: [u8; 12] = h(iv).try_into().unwrap();
    let cipher = Aes256Gcm::new((&key).into());
    let mut buf = h(pt);
    gcm_seal(&cipher, &iv, &h(aad), &mut buf).unwrap();
    let mut expected = h(ct);
    expected.extend(h(tag));
    assert_eq!(hex::encode(&buf), hex::encode(&expected));
    gcm_open(&cipher, &iv, &h(aad), &mut buf).unwrap();
    assert_eq!(buf, h(pt));
    // The crate's own detached API agrees.
    let mut again = h(pt);
    let t = cipher
        .encrypt_inout_detached((&iv).into(), &h(aad), again.as_mut_slice().into())
        .unwrap();
    assert_eq!(t[..], h(tag));
}

#[test]
fn aes_256_gcm_mcgrew_viega() {
    let zero_key = "0000000000000000000000000000000000000000000000000000000000000000";
    // Test case 13: empty plaintext and AAD.
    check_gcm(
        zero_key,
        "000000000000000000000000",
        "",
        "",
        "",
        "530f8afbc74536b9a963b4f1c4cb738b",
    );
    // Test case 14: one zero block.
    check_gcm(
        zero_key,
        "000000000000000000000000",
        "00000000000000000000000000000000",
        "",
        "cea7403d4d606b6e074ec5d3baf39d18",
        "d0d1c8a799996bf0265b98b5d48ab919",
    );
    let key = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    // Test case 15: four blocks, no AAD.
    check_gcm(
        key,
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
        "",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
        "b094dac5d93471bdec1a502270e3cc6c",
    );
    // Test case 16: a partial last block and 20 bytes of AAD.
    check_gcm(
        key,
        "cafebabefacedbaddecaf888",
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
         1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        "76fc6ece0f4e1768cddf8853bb2d551b",
    );
}

#[test]
fn aes_siv_rfc_5297_appendix_a() {
    // A.1: deterministic authenticated encryption, one AD string.
    let mut siv = Aes128Siv::new_from_slice(&h("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0
         f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff"))
    .unwrap();
    let ad = h("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627");
    let pt = h("11223344 55667788 99aabbcc ddee");
    let out = siv.encrypt([&ad], &pt).unwrap();
    assert_eq!(
        out,
        h("85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c")
    );
    assert_eq!(siv.decrypt([&ad], &out).unwrap(), pt);
    // A.2: nonce-based, two AD strings and a nonce as the last header.
    let mut siv = Aes128Siv::new_from_slice(&h("7f7e7d7c 7b7a7978 77767574 73727170
         40414243 44454647 48494a4b 4c4d4e4f"))
    .unwrap();
    let headers = [
        h(
            "00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988
           77665544 33221100",
        ),
        h("10203040 50607080 90a0"),
        h("09f91102 9d74e35b d84156c5 635688c0"),
    ];
    let pt = h(
        "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970
         74207573 696e6720 5349562d 414553",
    );
    let out = siv.encrypt(&headers, &pt).unwrap();
    assert_eq!(
        out,
        h(
            "7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17
           dba77ceb 094fa663 b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d"
        )
    );
    assert_eq!(siv.decrypt(&headers, &out).unwrap(), pt);
    // The format uses the AES-256 instance; it rejects a flipped bit too.
    let mut siv = Aes256Siv::new_from_slice(&[7; 64]).unwrap();
    let mut out = siv.encrypt([b"parent"], b"name").unwrap();
    out[0] ^= 1;
    assert!(siv.decrypt([b"parent"], &out).is_err());
}

#[test]
fn argon2id_rfc_9106_section_5_3() {
    let params = ParamsBuilder::new()
        .m_cost(32)
        .t_cost(3)
        .p_cost(4)
        .data(AssociatedData::new(&[0x04; 12]).unwrap())
        .output_len(32)
        .build()
        .unwrap();
    let secret = [0x03; 8];
    let argon =
        Argon2::new_with_secret(&secret, Algorithm::Argon2id, Version::V0x13, params).unwrap();
    let mut memory = vec![Block::default(); 32];
    let mut tag = [0u8; 32];
    argon
        .hash_password_into_with_memory(&[0x01; 32], &[0x02; 16], &mut tag, &mut memory[..])
        .unwrap();
    assert_eq!(
        tag[..],
        h("0d 64 0d f5 8d 78 76 6c 08 c0 37 a3 4a 8b 53 c9
           d0 1e f0 45 2d 75 b6 5e b5 25 20 e9 6b 01 e6 59")
    );
}
