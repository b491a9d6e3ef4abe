//! rclone's obscured passwords: how `password` and `password2` are written in
//! a crypt section of the config file.
//!
//! rclone (fs/config/obscure/obscure.go) writes base64 RawURL (no padding)
//! of a 16-byte IV followed by the value encrypted with AES-256-CTR under a
//! key fixed in rclone's source. Obscuring hides a password from a glance,
//! not from anyone who has the file: revealing needs no secret
//! (docs/RCLONE-CRYPT.md, "Keys").
//!
//! Invariant: the revealed bytes live only in a container that wipes itself.

use aes::Aes256;
use ctr::cipher::{KeyIvInit, StreamCipher};
use data_encoding::{BASE64URL_NOPAD, Encoding};
use zeroize::Zeroizing;

/// rclone's fixed obscuring key (obscure.go, `cryptKey`).
const KEY: [u8; 32] = [
    0x9c, 0x93, 0x5b, 0x48, 0x73, 0x0a, 0x55, 0x4d, 0x6b, 0xfd, 0x7c, 0x63, 0xc8, 0x86, 0xa9, 0x2b,
    0xd3, 0x90, 0x19, 0x8e, 0xb8, 0x12, 0x8a, 0xfb, 0xf4, 0xde, 0x16, 0x2b, 0x8b, 0x95, 0xf6, 0x38,
];

/// Length of the IV in front of an obscured value.
const IV_LEN: usize = 16;

/// AES-CTR as Go's `cipher.NewCTR` does it: the whole 16-byte IV is one
/// big-endian counter.
type Ctr = ctr::Ctr128BE<Aes256>;

/// base64 RawURL as Go decodes it: no padding, and (unlike
/// `BASE64URL_NOPAD`) unused trailing bits are not checked, so every value
/// rclone reveals is revealed here too.
fn base64() -> &'static Encoding {
    static ENCODING: std::sync::OnceLock<Encoding> = std::sync::OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = BASE64URL_NOPAD.specification();
        spec.check_trailing_bits = false;
        spec.encoding()
            .expect("base64url without a trailing-bits check is a valid specification")
    })
}

/// Reveals an obscured value; the error says why it is not one.
pub fn reveal(obscured: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    let mut bytes = Zeroizing::new(
        base64()
            .decode(obscured.as_bytes())
            .map_err(|_| "it is not base64 (an obscured value is)")?,
    );
    if bytes.len() < IV_LEN {
        return Err("it is too short to be an obscured value");
    }
    let (iv, value) = bytes.split_at_mut(IV_LEN);
    let iv: &[u8; IV_LEN] = (&*iv)
        .try_into()
        .expect("split_at_mut(IV_LEN) gives IV_LEN bytes");
    Ctr::new(&KEY.into(), &(*iv).into()).apply_keystream(value);
    Ok(Zeroizing::new(value.to_vec()))
}

/// Obscures `value` with the given IV, as `rclone obscure` does with a
/// random one: for tests, which pin the IV.
#[cfg(any(test, feature = "test-writer"))]
pub fn obscure(value: &[u8], iv: [u8; IV_LEN]) -> String {
    let mut out = iv.to_vec();
    let mut encrypted = value.to_vec();
    Ctr::new(&KEY.into(), &iv.into()).apply_keystream(&mut encrypted);
    out.extend(encrypted);
    BASE64URL_NOPAD.encode(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rclone's own vectors (fs/config/obscure/obscure_test.go).
    #[test]
    fn rclone_vectors_reveal_and_obscure() {
        for (obscured, plain, iv) in [
            ("YWFhYWFhYWFhYWFhYWFhYQ", "", *b"aaaaaaaaaaaaaaaa"),
            (
                "YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ",
                "potato",
                *b"aaaaaaaaaaaaaaaa",
            ),
            (
                "YmJiYmJiYmJiYmJiYmJiYp3gcEWbAw",
                "potato",
                *b"bbbbbbbbbbbbbbbb",
            ),
        ] {
            assert_eq!(&reveal(obscured).unwrap()[..], plain.as_bytes());
            assert_eq!(obscure(plain.as_bytes(), iv), obscured);
        }
    }

    /// rclone's error cases (obscure_test.go, `TestRevealErrors`).
    #[test]
    fn what_rclone_cannot_reveal_is_refused() {
        assert!(reveal("YmJiYmJiYmJiYmJiYmJiYp*gcEWbAw").is_err());
        assert!(reveal("aGVsbG8").is_err());
        assert!(reveal("").is_err());
        assert!(reveal("BOGUS-PASSWORD").is_err());
    }

    #[test]
    fn long_values_cross_counter_blocks() {
        let long: Vec<u8> = (0..100u8).collect();
        let iv = [0xff; 16];
        assert_eq!(&reveal(&obscure(&long, iv)).unwrap()[..], &long[..]);
    }
}
