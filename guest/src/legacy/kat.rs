//! Known answers for rclone crypt, from rclone's and EME's own test suites.
//!
//! Every expected value here is published, never computed by poof: rclone's
//! backend/crypt/cipher_test.go (key derivation, names in each mode and
//! encoding, version stamps, small files) and fs/config/obscure
//! (in `obscure.rs`), and the EME-32 vectors of the IEEE P1619 list that
//! rfjakob/eme, rclone's EME, tests against. rclone's name and file tests
//! use an empty password, which rclone turns into all-zero keys; so do these.
//! Invariant: each test calls the code exactly as a listing or a read does.

use aes::Aes256;
use aes::cipher::KeyInit;

use super::content::{BLOCK_DATA, NONCE_LEN};
use super::eme::{Direction, transform};
use super::names::{Mode, NameEncoding};
use super::{CryptKey, Options, Section, derive, obscure};

fn h(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    hex::decode(s).expect("test vectors are hex")
}

/// rclone's test cipher: an empty password (all-zero keys) and these options.
fn zero_key(mode: Mode, encoding: NameEncoding, dirs: bool, suffix: &str) -> CryptKey {
    let options = Options {
        mode,
        encoding,
        dirs,
        suffix: suffix.into(),
        no_data: false,
    };
    CryptKey::from_revealed(b"", b"", options)
}

fn standard(encoding: NameEncoding, dirs: bool) -> CryptKey {
    zero_key(Mode::Standard, encoding, dirs, ".bin")
}

/// `TestKey`: scrypt(N = 16384, r = 8, p = 1) to 80 bytes, cut in three;
/// rclone's default salt when `password2` is empty.
#[test]
fn key_derivation_test_key() {
    let cases = [
        (
            "potato",
            "",
            "7455C71AB17C865B8471F47B79ACB07EB31D5678B80C7E2EAF4FC8066A9EE468",
            "765DA27AB15D77F95796711F7B93AD63BBB484072E7180A8D17A9BBEC14270D0",
            "C18D5932F55B2828C5E1E87215520310",
        ),
        (
            "Potato",
            "",
            "AEEA6AD347DF75B963CE12F57623E946D42ED8BF3E928B39243794133E5EF75E",
            "54F7026E8AFC560A86636AAB2C9C5162E51A122351836EAF50420F981C860A19",
            "F8C1B6272D529B4A8FDAEB424A28DDF3",
        ),
        (
            "potato",
            "sausage",
            "8e9b6b99f8690467a071f9cb92d0aa787f8ff178bec96f999fd5206e644a1b50",
            "3ea95ef681782dc9d9955d225bfd442c6f5d6897b029015c6f462e2a9dae2ce3",
            "f17fd7141d65274f363fc2a04dd2148a",
        ),
        (
            "potato",
            "Sausage",
            "da818c67ef110fc8d5c8624b7fe29e3535b08d798489accba0ff0272031a5e64",
            "02817e7bea99815ad02db96448b028277c20b4d4a468ad4e5c290f79efeedb3b",
            "9ab50b3dcb605955a54de6b6470323e2",
        ),
    ];
    for (password, salt, data, name, tweak) in cases {
        let k = derive(password.as_bytes(), salt.as_bytes());
        assert_eq!(k.data[..], h(data), "{password}/{salt}");
        assert_eq!(k.name[..], h(name), "{password}/{salt}");
        assert_eq!(k.tweak[..], h(tweak), "{password}/{salt}");
    }
    let zero = derive(b"", b"");
    assert_eq!(
        (*zero.data, *zero.name, *zero.tweak),
        ([0; 32], [0; 32], [0; 16])
    );
}

/// The whole path from a config section: obscured `potato` (rclone's own
/// obscure vector) with no `password2` gives `TestKey`'s first keys, seen
/// through the name they encrypt; the same keys made directly agree.
#[test]
fn a_section_with_rclones_obscure_vector_derives_test_keys() {
    let section = Section {
        name: "secret".into(),
        password: Some("YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ".into()),
        ..Section::default()
    };
    let opened = CryptKey::open(&section).unwrap();
    let direct = CryptKey::from_revealed(b"potato", b"", Options::default());
    let name = opened.encrypt_file_path("report.txt").unwrap();
    assert_eq!(name, direct.encrypt_file_path("report.txt").unwrap());
    assert_eq!(direct.decrypt_file_path(&name).unwrap(), "report.txt");
    // With a salt obscured by the same rule, the keys change.
    let salted = Section {
        password2: Some(obscure::obscure(b"sausage", [1; 16])),
        ..section
    };
    let salted = CryptKey::open(&salted).unwrap();
    let direct = CryptKey::from_revealed(b"potato", b"sausage", Options::default());
    let name = salted.encrypt_file_path("report.txt").unwrap();
    assert_eq!(name, direct.encrypt_file_path("report.txt").unwrap());
    assert!(opened.decrypt_file_path(&name).is_err());
}

/// EME as rfjakob/eme tests it: 16 zero bytes (its own vector), and the
/// IEEE P1619 EME-32 vectors of 512 bytes, once and a hundred times.
#[test]
fn eme_vectors() {
    let zero = Aes256::new(&[0u8; 32].into());
    let mut one = [0u8; 16];
    transform(&zero, &[0; 16], &mut one, Direction::Encrypt).unwrap();
    assert_eq!(one[..], h("f1b9ce8ca15a4ba9fb476905434b9fd3"));
    for (direction, expected) in [(Direction::Encrypt, ENC_512), (Direction::Decrypt, DEC_512)] {
        let mut data = vec![0u8; 512];
        transform(&zero, &[0; 16], &mut data, direction).unwrap();
        assert_eq!(data, h(expected), "{direction:?}");
    }
    for (direction, start, expected) in [
        (Direction::Encrypt, ENC_512, ENC_512_X100),
        (Direction::Decrypt, DEC_512, DEC_512_X100),
    ] {
        let mut data = h(start);
        let cipher = Aes256::new_from_slice(&data[..32]).unwrap();
        let tweak: [u8; 16] = data[32..48].try_into().unwrap();
        for _ in 0..100 {
            transform(&cipher, &tweak, &mut data, direction).unwrap();
        }
        assert_eq!(data, h(expected), "{direction:?}");
    }
}

/// `TestEncodeFileNameBase32`, `...Base64`, `...Base32768`: the encodings
/// alone, both ways; base32 also decodes upper case.
#[test]
fn encodings_test_encode_file_name() {
    let inputs = [
        "", "1", "12", "123", "1234", "12345", "123456", "1234567", "12345678",
    ];
    let base32 = [
        "",
        "64",
        "64p0",
        "64p36",
        "64p36d0",
        "64p36d1l",
        "64p36d1l6o",
        "64p36d1l6org",
        "64p36d1l6orjg",
    ];
    let base64 = [
        "",
        "MQ",
        "MTI",
        "MTIz",
        "MTIzNA",
        "MTIzNDU",
        "MTIzNDU2",
        "MTIzNDU2Nw",
        "MTIzNDU2Nzg",
    ];
    let base32768 = [
        "",
        "㼿",
        "㻙ɟ",
        "㻙ⲿ",
        "㻙ⲍƟ",
        "㻙ⲍ⍟",
        "㻙ⲍ⍆ʏ",
        "㻙ⲍ⍆觟",
        "㻙ⲍ⍆觓ɧ",
    ];
    for (encoding, table) in [
        (NameEncoding::Base32, base32),
        (NameEncoding::Base64, base64),
        (NameEncoding::Base32768, base32768),
    ] {
        for (plain, encoded) in inputs.iter().zip(table) {
            assert_eq!(
                encoding.encode(plain.as_bytes()),
                encoded,
                "{encoding:?} {plain}"
            );
            assert_eq!(encoding.decode(encoded).unwrap(), plain.as_bytes());
        }
    }
    let long = NameEncoding::Base32768.encode(b"1234567890123456");
    assert_eq!(long, "㻙ⲍ⍆觓栩朤諆媕䆿");
    assert_eq!(
        NameEncoding::Base32
            .decode("64P36D1L6ORJGE9G64P36D1L6O")
            .unwrap(),
        b"1234567890123456"
    );
    // `TestDecodeFileName...`: what rclone refuses.
    for (encoding, bad) in [
        (NameEncoding::Base32, ["64=", "!", "hello=hello"]),
        (NameEncoding::Base64, ["64=", "!", "Hello=Hello"]),
        (NameEncoding::Base32768, ["㼿c", "!", "㻙ⲿ=㻙ⲿ"]),
    ] {
        for b in bad {
            assert!(encoding.decode(b).is_err(), "{encoding:?} {b:?}");
        }
    }
}

/// The plaintexts of `TestEncryptSegment*`.
const SEGMENTS: [&str; 16] = [
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "12345678901",
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789012345",
    "1234567890123456",
];

/// `TestEncryptSegmentBase32`, `...Base64`, `...Base32768`: one segment
/// encrypted with the all-zero keys, and decrypted back (base32 also from
/// upper case).
#[test]
fn segments_test_encrypt_segment() {
    let base32 = [
        "p0e52nreeaj0a5ea7s64m4j72s",
        "l42g6771hnv3an9cgc8cr2n1ng",
        "qgm4avr35m5loi1th53ato71v0",
        "8ivr2e9plj3c3esisjpdisikos",
        "rh9vu63q3o29eqmj4bg6gg7s44",
        "bn717l3alepn75b2fb2ejmi4b4",
        "n6bo9jmb1qe3b1ogtj5qkf19k8",
        "u9t24j7uaq94dh5q53m3s4t9ok",
        "37hn305g6j12d1g0kkrl7ekbs4",
        "ot8d91eplaglb62k2b1trm2qv0",
        "h168vvrgb53qnrtvvmb378qrcs",
        "s3hsdf9e29ithrqbjqu01t8q2s",
        "cf3jimlv1q2oc553mv7s3mh3eo",
        "moq0uqdlqrblrc5pa5u5c7hq9g",
        "eeam3li4rnommi3a762h5n7meg",
        "mijbj0frqf6ms7frcr6bd9h0env53jv96pjaaoirk7forcgpt70g",
    ];
    let base64 = [
        "yBxRX25ypgUVyj8MSxJnFw",
        "qQUDHOGN_jVdLIMQzYrhvA",
        "1CxFf2Mti1xIPYlGruDh-A",
        "RL-xOTmsxsG7kuTy2XJUxw",
        "3FP_GHoeBJdq0yLgaED8IQ",
        "Xc4T1Gqrs3OVYnrE6dpEWQ",
        "uZeEzssOnDWHEOzLqjwpog",
        "8noiTP5WkkbEuijsPhOpxQ",
        "GeNxgLA0wiaGAKU3U7qL4Q",
        "x1DUhdmqoVWYVBLD3dha-A",
        "iEyP_3BZR6vvv_2WM6NbZw",
        "4OPGvS4SZdjvS568APUaFw",
        "Y8c5Wr8OhYYUo7fPwdojdg",
        "tjQPabXW112wuVF8Vh46TA",
        "c5Vh1kTd8WtIajmFEtz2dA",
        "tKa5gfvTzW4d-2bMtqYgdf5Rz-k2ZqViW6HfjbIZ6cE",
    ];
    let base32768 = [
        "詮㪗鐮僀伎作㻖㢧⪟",
        "竢朧䉱虃光塬䟛⣡蓟",
        "遶㞟鋅缕袡鲅ⵝ蝁ꌟ",
        "䢟銮䵵狌㐜燳谒颴詟",
        "钉Ꞇ㖃蚩憶狫朰杜㜿",
        "啇ᚵⵕ憗䋫➫➓肤卟",
        "茫螓翁連劘樓㶔抉矟",
        "龝☳䘊辄岅較络㧩襟",
        "ⲱ苀㱆犂媐Ꮤ锇惫靟",
        "計宁憕偵匢皫╛纺ꌟ",
        "檆䨿鑫㪺藝ꡖ勇䦛婟",
        "雑頏䰂䲝淚哚鹡魺⪟",
        "塃璶繁躸圅㔟䗃肃懟",
        "腺ᕚ崚鏕鏥讥鼌䑺䲿",
        "怪绕滻蕶肣但⠥荖惟",
        "肳哀旚挶靏鏻㾭䱠慟㪳ꏆ賊兲铧敻塹魀ʟ",
    ];
    for (encoding, table) in [
        (NameEncoding::Base32, base32),
        (NameEncoding::Base64, base64),
        (NameEncoding::Base32768, base32768),
    ] {
        let k = standard(encoding, true);
        for (plain, encrypted) in SEGMENTS.iter().zip(table) {
            assert_eq!(
                k.encrypt_file_path(plain).unwrap(),
                encrypted,
                "{encoding:?}"
            );
            assert_eq!(
                k.decrypt_file_path(encrypted).unwrap(),
                *plain,
                "{encoding:?}"
            );
            if encoding == NameEncoding::Base32 {
                let upper = encrypted.to_uppercase();
                assert_eq!(k.decrypt_file_path(&upper).unwrap(), *plain);
            }
        }
    }
}

/// `TestDecryptSegment*`: what does not decrypt, and why.
#[test]
fn segments_test_decrypt_segment_errors() {
    for (encoding, long) in [
        (NameEncoding::Base32, "a".repeat(3328)),
        (NameEncoding::Base64, "a".repeat(2816)),
        (NameEncoding::Base32768, "怪".repeat(1280)),
    ] {
        let k = standard(encoding, true);
        let why = |name: &str| k.decrypt_file_path(name).unwrap_err().to_string();
        assert!(why("!").contains("is not base"), "{encoding:?}");
        assert!(why(&long).contains("longer than 2048"), "{encoding:?}");
        for short in ["a", "123456789abcdef"] {
            let e = why(&encoding.encode(short.as_bytes()));
            assert!(
                e.contains("whole number of 16-byte blocks"),
                "{encoding:?}: {e}"
            );
        }
        let e = why(&encoding.encode(b"123456789abcdef0"));
        assert!(e.contains("padding is wrong"), "{encoding:?}: {e}");
    }
}

/// `TestStandardEncryptFileName*` and `TestStandardDecryptFileName*`: whole
/// paths, with and without folder-name encryption, with version stamps.
#[test]
fn paths_test_standard_encrypt_file_name() {
    let tables: [(NameEncoding, [&str; 3]); 3] = [
        (
            NameEncoding::Base32,
            [
                "p0e52nreeaj0a5ea7s64m4j72s",
                "l42g6771hnv3an9cgc8cr2n1ng",
                "qgm4avr35m5loi1th53ato71v0",
            ],
        ),
        (
            NameEncoding::Base64,
            [
                "yBxRX25ypgUVyj8MSxJnFw",
                "qQUDHOGN_jVdLIMQzYrhvA",
                "1CxFf2Mti1xIPYlGruDh-A",
            ],
        ),
        (
            NameEncoding::Base32768,
            [
                "詮㪗鐮僀伎作㻖㢧⪟",
                "竢朧䉱虃光塬䟛⣡蓟",
                "遶㞟鋅缕袡鲅ⵝ蝁ꌟ",
            ],
        ),
    ];
    let stamp = "-v2001-02-03-040506-123";
    for (encoding, [e1, e12, e123]) in tables {
        let dirs = standard(encoding, true);
        let flat = standard(encoding, false);
        for (plain, with_dirs, without) in [
            ("1".to_string(), e1.to_string(), e1.to_string()),
            ("1/12".into(), format!("{e1}/{e12}"), format!("1/{e12}")),
            (
                "1/12/123".into(),
                format!("{e1}/{e12}/{e123}"),
                format!("1/12/{e123}"),
            ),
            (
                format!("1{stamp}"),
                format!("{e1}{stamp}"),
                format!("{e1}{stamp}"),
            ),
            (
                format!("1/12{stamp}"),
                format!("{e1}/{e12}{stamp}"),
                format!("1/{e12}{stamp}"),
            ),
        ] {
            assert_eq!(
                dirs.encrypt_file_path(&plain).unwrap(),
                with_dirs,
                "{encoding:?}"
            );
            assert_eq!(
                flat.encrypt_file_path(&plain).unwrap(),
                without,
                "{encoding:?}"
            );
            assert_eq!(
                dirs.decrypt_file_path(&with_dirs).unwrap(),
                plain,
                "{encoding:?}"
            );
            assert_eq!(
                flat.decrypt_file_path(&without).unwrap(),
                plain,
                "{encoding:?}"
            );
            // `TestEncryptDirName*`: folders encrypt the same way, or not at
            // all without folder-name encryption.
            if !plain.contains(stamp) {
                assert_eq!(dirs.encrypt_dir_path(&plain).unwrap(), with_dirs);
                assert_eq!(flat.encrypt_dir_path(&plain).unwrap(), plain);
            }
        }
        // A character more in front makes a length EME does not take (or,
        // in base32, one whose unused bits are not zero).
        let extra = format!("{}{e1}", encoding.encode(b"1"));
        assert!(dirs.decrypt_file_path(&extra).is_err(), "{encoding:?}");
    }
    let upper = "P0E52NREEAJ0A5EA7S64M4J72S/L42G6771HNV3AN9CGC8CR2N1NG";
    assert_eq!(
        standard(NameEncoding::Base32, true)
            .decrypt_file_path(upper)
            .unwrap(),
        "1/12"
    );
}

/// `TestNonStandardEncryptFileName`: `off` with its suffixes, `obfuscate`.
#[test]
fn paths_test_non_standard_encrypt_file_name() {
    let off = |suffix: &str| zero_key(Mode::Off, NameEncoding::Base32, true, suffix);
    assert_eq!(
        off(".bin").encrypt_file_path("1/12/123").unwrap(),
        "1/12/123.bin"
    );
    assert_eq!(
        off(".jpg").encrypt_file_path("1/12/123").unwrap(),
        "1/12/123.jpg"
    );
    assert_eq!(off("").encrypt_file_path("1/12/123").unwrap(), "1/12/123");
    assert_eq!(
        off(".bin").encrypt_dir_path("1/12/123").unwrap(),
        "1/12/123"
    );
    let obfuscate = zero_key(Mode::Obfuscate, NameEncoding::Base32, true, ".bin");
    for (plain, stored) in [
        ("1/12/123/!hello", "49.6/99.23/150.890/53.!!lipps"),
        (
            "1/12/123/!hello-v2001-02-03-040506-123",
            "49.6/99.23/150.890/53-v2001-02-03-040506-123.!!lipps",
        ),
        (
            "1/12/123/hello-v2001-02-03-040506-123.txt",
            "49.6/99.23/150.890/162.uryyB-v2001-02-03-040506-123.GKG",
        ),
        ("\u{a1}", "161.\u{e4}"),
        ("\u{3a0}", "160.\u{3c2}"),
    ] {
        assert_eq!(obfuscate.encrypt_file_path(plain).unwrap(), stored);
    }
    let flat = zero_key(Mode::Obfuscate, NameEncoding::Base32, false, ".bin");
    for (plain, stored) in [
        ("1/12/123/!hello", "1/12/123/53.!!lipps"),
        (
            "1/12/123/!hello-v2001-02-03-040506-123",
            "1/12/123/53-v2001-02-03-040506-123.!!lipps",
        ),
        ("\u{a1}", "161.\u{e4}"),
        ("\u{3a0}", "160.\u{3c2}"),
    ] {
        assert_eq!(flat.encrypt_file_path(plain).unwrap(), stored);
    }
}

/// `TestNonStandardDecryptFileName`, for every encoding (which these modes
/// do not use).
#[test]
fn paths_test_non_standard_decrypt_file_name() {
    for encoding in [
        NameEncoding::Base32,
        NameEncoding::Base64,
        NameEncoding::Base32768,
    ] {
        let cases: [(Mode, bool, &str, &str, Option<&str>); 14] = [
            (Mode::Off, true, ".bin", "1/12/123.bin", Some("1/12/123")),
            (Mode::Off, true, ".bin", "1/12/123.bix", None),
            (Mode::Off, true, ".bin", ".bin", None),
            (
                Mode::Off,
                true,
                ".bin",
                "1/12/123-v2001-02-03-040506-123.bin",
                Some("1/12/123-v2001-02-03-040506-123"),
            ),
            (
                Mode::Off,
                true,
                ".bin",
                "1/12/123-v1970-01-01-010101-123-v2001-02-03-040506-123.bin",
                Some("1/12/123-v1970-01-01-010101-123-v2001-02-03-040506-123"),
            ),
            (
                Mode::Off,
                true,
                ".bin",
                "1/12/123-v1970-01-01-010101-123-v2001-02-03-040506-123.txt.bin",
                Some("1/12/123-v1970-01-01-010101-123-v2001-02-03-040506-123.txt"),
            ),
            (Mode::Off, true, ".jpg", "1/12/123.jpg", Some("1/12/123")),
            (Mode::Off, true, "", "1/12/123", Some("1/12/123")),
            (Mode::Obfuscate, true, ".bin", "!.hello", Some("hello")),
            (Mode::Obfuscate, true, ".bin", "hello", None),
            (Mode::Obfuscate, true, ".bin", "161.\u{e4}", Some("\u{a1}")),
            (
                Mode::Obfuscate,
                true,
                ".bin",
                "160.\u{3c2}",
                Some("\u{3a0}"),
            ),
            (
                Mode::Obfuscate,
                false,
                ".bin",
                "1/12/123/53.!!lipps",
                Some("1/12/123/!hello"),
            ),
            (
                Mode::Obfuscate,
                false,
                ".bin",
                "1/12/123/53-v2001-02-03-040506-123.!!lipps",
                Some("1/12/123/!hello-v2001-02-03-040506-123"),
            ),
        ];
        for (mode, dirs, suffix, stored, expected) in cases {
            let k = zero_key(mode, encoding, dirs, suffix);
            assert_eq!(
                k.decrypt_file_path(stored).ok().as_deref(),
                expected,
                "{stored}"
            );
        }
    }
}

/// `TestEncDecMatches`: every mode takes its own names back.
#[test]
fn paths_test_enc_dec_matches() {
    for encoding in [
        NameEncoding::Base32,
        NameEncoding::Base64,
        NameEncoding::Base32768,
    ] {
        for (mode, plain) in [
            (Mode::Standard, "1/2/3/4"),
            (Mode::Off, "1/2/3/4"),
            (Mode::Obfuscate, "1/2/3/4/!hello\u{3a0}"),
            (Mode::Obfuscate, "Avatar The Last Airbender"),
        ] {
            let k = zero_key(mode, encoding, true, ".bin");
            let stored = k.encrypt_file_path(plain).unwrap();
            assert_eq!(k.decrypt_file_path(&stored).unwrap(), plain);
        }
    }
}

/// `TestEncryptData`'s objects: rclone's encryption of 0, 1 and 16 bytes with
/// the all-zero key and the nonce 1, 2, ..., 24.
fn file(len: usize) -> Vec<u8> {
    let header = "52434c4f4e450000 0102030405060708090a0b0c0d0e0f101112131415161718";
    h(&match len {
        0 => header.to_string(),
        1 => format!("{header} 095b446cd6237bbcb08d09fb524ce565 aa"),
        _ => {
            format!("{header} b9c4552a27100629 18960a3e608c29b9 aa8a5e1e165b6d07 5de4e9bb367fd6d4")
        }
    })
}

/// Reads a whole object as a host would: the header, then stored blocks.
pub(super) fn read(k: &CryptKey, object: &[u8]) -> crate::crypto::Result<Vec<u8>> {
    let layout = k.layout();
    let header = &object[..layout.header.min(object.len())];
    let mut reader = k.reader(header, object.len() as u64)?;
    let body = &object[header.len()..];
    let blocks: Vec<&[u8]> = body.chunks(layout.block).collect();
    let mut out = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        out.extend(reader.open_block(b.to_vec(), i + 1 == blocks.len())?);
    }
    reader.finish(out.len() as u64)?;
    Ok(out)
}

/// `TestEncryptData`: the three objects decrypt, and the writer the tests
/// use writes them byte for byte.
#[test]
fn content_test_encrypt_data() {
    let k = standard(NameEncoding::Base32, true);
    let nonce: [u8; NONCE_LEN] = std::array::from_fn(|i| i as u8 + 1);
    let sixteen: Vec<u8> = (1..=16).collect();
    for (plain, object) in [(vec![], file(0)), (vec![1], file(1)), (sixteen, file(16))] {
        assert_eq!(read(&k, &object).unwrap(), plain);
        assert_eq!(k.encrypt_content(&plain, nonce), object);
    }
}

/// `TestEncryptDecrypt*`: 2.5 blocks of rclone's test pattern (byte i is
/// (i + 1) mod 257, cut to a byte) go through, and the nonce steps once per
/// block.
#[test]
fn content_round_trip_across_blocks() {
    let k = standard(NameEncoding::Base32, true);
    let plain: Vec<u8> = (1..=(BLOCK_DATA * 5 / 2) as u64)
        .map(|i| (i % 257) as u8)
        .collect();
    let object = k.encrypt_content(&plain, [0; NONCE_LEN]);
    assert_eq!(object.len(), 32 + 3 * 16 + plain.len());
    assert_eq!(read(&k, &object).unwrap(), plain);
}

/// EME-32 encryption of 512 zero bytes under the all-zero key and tweak
/// (IEEE P1619 list, pdf00020, as in rfjakob/eme `eme32_test.go`).
const ENC_512: &str = "\
    9f2e6c3daecae79e8839b0588ff378cd0668970b95691cb00182b9e34cd658ed3c9c276838cc5e1411fcb8cf3da1c0f3\
    0875804c9df51157b0791100d2551334834cf4024f6b718fbc7daba07d14eb7cbc79c261b1eb036d0c9f85b914385840\
    727284005f06a9c1627c0b7fb12a1f81fa83c4b035db006cce846d0756db9fb2448ee5628d2376ee13954213db3dca72\
    5f2c67950eaf2cdac8a27a0433a14c96927d9145dd93e0b46e670f6c4db8add014b8880efb9a97bec5cd05bba43dcc35\
    058045ae8168df6e67779198fcc72808ce29c7b5aefdbc9e3ee65117283bfa2e195f82ce1962dd8112cb57e8040d7767\
    33d3bb331ea6300f91dee0cbeb2fc9afd341f5515e22371e442b86e70287546a166ec2aef89f291be62afc2a96891e44\
    6ef6f162735574d10cff4a183de2760b5e145deaad3efde1da4b2836c665c5ec4b54cb989d277311c42db4862db2920c\
    3942958e54f64e365e52190ed81a02d73bf78a8ae5cc83e03203ef421614b79ae984b67ee93483d5eb1ea7b4fd954cc3\
    5059bd4d932ef34271825045d73effef2ed3489871fda2cc73924b4d459d1c6ee525421e0550d3ab876f615395ac4a54\
    d20478a442d85c9a3c9c7fa148f2b9dcadaa83cf40e9e464da6036a55cdb873b50c1060ecc27b48dc0afc76ef73f1489\
    281c08efce7fec47edd823f2f562b333ac209c2cd3cc577c28eedaafcedd89a6";

/// EME-32 decryption of 512 zero bytes under the all-zero key and tweak (same source).
const DEC_512: &str = "\
    080905dee8ebcc89f68bd1af635db3f5b60c2f13f7c768fceb1220f6c227fd835f293e85f1eaa8ee2322f54291bf051e\
    7b15af84c7eaa4e85158af7f4e6ff24a62bacff6dbf91f433f3bd564dffbe9fe1b0e14d27687589498d5e8ca11acba2b\
    c6016d7823e3036c61ce9777ec2445890779027f7d494893d92f19bdfe160ef82c36069ca887d84ea00ccc40130cf7c4\
    118c5d0822a5e1f493cdae96f5752031b453e4cb8608c8f2ba2c78c941124c18e39f50ab74b83147aa3fb800537eb9ac\
    55d737552e050375f607c59b4213d87e58e8da6e23029c9cb807ac63133b9fdddad8712bd7821137d9f8fdc3e28aeb08\
    ee2fae3ec1f80d9126a3d2d0e4e4f1c6424ce6b5e973e52703afb31cee7990da82b316189ad16fe059921c60a95a1208\
    71065b9ed649d2117dfb0ce5b53595119f2177bea462f76660c6a07c810d21e185e2dae559c27f14093f21a96d4e2a81\
    41d76a3f964aa70bf7e929e73224bd9f1719fdff96bf4ca5db516627225760f3d2d8670a4b82e16a8b4358ecd781b0ee\
    a22a29d0764424e91e3dc7a6a1cedd148c4bbb1b524b9c8dd3f3d15340775fe9c98eec220b524a8d9595d2f43c6783e6\
    03a35b8df96a168975acf5ac4ea47e02b73a8ce6aff8e52dad768979bd7392b3050dd3b4e4790e25e9a34ee607db5a58\
    5d16ca6b16aa76372ab49e31df4865073af804a5c9dab34420f260e4bd840829";

/// [`ENC_512`] encrypted 100 times with its own first 32 bytes as the key and
/// the next 16 as the tweak (IEEE P1619 list, msg00218).
const ENC_512_X100: &str = "\
    36008c95e732a23194937cc4dded30ffee0ff600f3ee8796a58af9bb124ad02850fb30fac78316a64693acd38602e4c7\
    04a4152fb2d4383eeb1d85b10f9e39be8d619f689303a5b9c3f7d89baa6f2e43afaa0bd2ac3452da6aa20fff33edb8f3\
    07247d055ecbb6e4b539c2c53088dda499b5d967f98bcec4a54f4d272643e13c4226f69ee627a04f3aaea07e033d3c4f\
    88a6509c727588b152ca41415d697fdfdd440b2386bb9a5770ca281c2207d3eb9b27fc6a2e482e799588c77b6ba3a1a4\
    660e77ed708a65df22863704bbe944292178362892864862d3c9a18dd70420c887e958a4306ec84fe7f66ddcdeba5bee\
    dab032fbe8d4ddc45bd484349fd4cff5d729905fb560ac02ba1c83d8c5b71f70728f90d1d35db3651a303f9db9b53feb\
    99194405a085f5434ed1bb4e071722376131633827c54b86153c7928e5d9e58358ef4a2efefe165e94fec5c2f06991d9\
    f61eb4d0e6fa5a28d6ed62216e4adc2b507ae23f256188e740d425fdc86e9b226ca8f02f9d7460ee10ceb0ce7306902b\
    b5393e4c1fcfd9226c572c1696e15ffcbbe89a9ea3e09cfa2ab463a37ba6ebedcc025979fbc0eda888db93ecaac44869\
    a176a94e59564eafc8e9781ddbce6b74c984ec1f27f7b9c0e4aeb714b147e27934bf09a15f9013299a2d32072a7c112d\
    064852e0c3345d8834f16f1fb280b9eaf88cadd40ca29c428666cf533fb05c1e";

/// [`DEC_512`] decrypted 100 times with its own first 48 bytes as key and tweak (same source).
const DEC_512_X100: &str = "\
    78d8f9c2baaebcb97c3914fe4fd9b9ed1b0fd08c64ce0f7fa440c2b2317cacc610e75ae226a64c8de42736867dbc5fe2\
    ac663b6db555d79dc480b707c10411b831aa3eaa5a306fdf95c4ea0684b78bd6245275b5bc245758b238274c2b7d7b8f\
    d1b90e390cd10ed54ad7d7221a1aae56f815f7026d3ee3fb1232f85e500ae8756a53e24038e9d254b4f09486f95cab88\
    2502b77c95795514909260314febdf2ac0d4fd47f5d6fda2ba66d1b125a900d78cab58bf8eb9f241d080061a2e46be3c\
    21f748459426f79b619e8c8125f06a607c9a55e4fd12e817e390fb5f8c5a0576cfd25f5e0acb9dc080b9c01c7c9a4127\
    159b8a4cd0cffae0f241bfbf8e41f24d5068bd3454a9be8e4f99881a7f6ff21e3a7a33700fc1f82b6413e3f97221a617\
    16155449cfe87a3d5749f3919611def95d58e42bd6d89143e3a0ca588a59b79a550632fedd84629a7075b089f2b0802b\
    69b82ee0f603f03e99263fb6951991d8804963eda1231b250df55ef79eefde3c99b9cd91eaa79563a9cd16136db2436f\
    4d721f9123948afc0b6333cf2ed4caaba3404edd2de8f6556677c9b286a20634394cb7ea72dd7ee3657d6ee1cfed8c3b\
    94b8bcc5784702577fe400b38a7b08957473cb57efb861f2eb9eec5a1200cbd75b41433ff1756ce72988ca9a690f6597\
    ca0e8c98a15c8b5471bc1167978ec83bc5b5660b4bc9938a41dbcf8fce321d1f";
