//! Tests of a crypt section's options and passwords, and of reading a
//! listing: each problem of a section gets its own message, and a listing
//! keeps only what decrypts to a safe path with a size rclone writes.

use super::names::{Mode, NameEncoding};
use super::obscure::obscure;
use super::{CryptKey, Options, Section, Stored};
use crate::crypto::CryptoError;

fn section() -> Section {
    Section {
        name: "secret".into(),
        password: Some(obscure(b"pw", [3; 16])),
        ..Section::default()
    }
}

fn refusal(s: &Section) -> String {
    match CryptKey::open(s) {
        Err(CryptoError::InvalidInput(m)) => m,
        Err(e) => panic!("not invalid input: {e}"),
        Ok(_) => panic!("{s:?} opened"),
    }
}

#[test]
fn absent_options_are_rclones_defaults() {
    assert_eq!(Options::read(&section()).unwrap(), Options::default());
    let d = Options::default();
    assert_eq!(
        (d.mode, d.encoding, d.dirs, d.suffix.as_str(), d.no_data),
        (Mode::Standard, NameEncoding::Base32, true, ".bin", false)
    );
}

#[test]
fn options_are_read_as_rclone_reads_them() {
    let s = Section {
        filename_encryption: Some("Obfuscate".into()),
        filename_encoding: Some("BASE64".into()),
        directory_name_encryption: Some("F".into()),
        no_data_encryption: Some("1".into()),
        suffix: Some("None".into()),
        ..section()
    };
    let o = Options::read(&s).unwrap();
    assert_eq!(
        (o.mode, o.encoding, o.dirs, o.suffix.as_str(), o.no_data),
        (Mode::Obfuscate, NameEncoding::Base64, false, "", true)
    );
    let suffix = |v: &str| {
        let s = Section {
            suffix: Some(v.into()),
            ..section()
        };
        Options::read(&s).unwrap().suffix
    };
    assert_eq!(suffix(".jpg"), ".jpg");
    assert_eq!(suffix("jpg"), ".jpg", "rclone adds the dot");
}

#[test]
fn each_unknown_option_value_is_named() {
    for (s, option) in [
        (
            Section {
                filename_encryption: Some("potato".into()),
                ..section()
            },
            "filename_encryption = potato",
        ),
        (
            Section {
                filename_encoding: Some("base16".into()),
                ..section()
            },
            "filename_encoding = base16",
        ),
        (
            Section {
                directory_name_encryption: Some("yes".into()),
                ..section()
            },
            "directory_name_encryption = yes",
        ),
        (
            Section {
                no_data_encryption: Some("".into()),
                ..section()
            },
            "no_data_encryption = ",
        ),
    ] {
        let m = refusal(&s);
        assert!(m.contains("[secret]") && m.contains(option), "{m}");
        assert!(m.contains("rclone does not know"), "{m}");
    }
}

#[test]
fn each_password_problem_has_its_own_message() {
    let missing = refusal(&Section {
        password: None,
        ..section()
    });
    assert!(missing.contains("has no `password`"), "{missing}");
    assert_eq!(
        refusal(&Section {
            password: Some(String::new()),
            ..section()
        }),
        missing
    );
    for (option, s) in [
        (
            "password",
            Section {
                password: Some("BOGUS-PASSWORD".into()),
                ..section()
            },
        ),
        (
            "password2",
            Section {
                password2: Some("BOGUS-PASSWORD".into()),
                ..section()
            },
        ),
    ] {
        let m = refusal(&s);
        assert!(
            m.contains("placeholder") && m.contains(&format!("`{option} = BOGUS-PASSWORD`")),
            "{m}"
        );
    }
    for (option, s) in [
        (
            "password",
            Section {
                password: Some("potato".into()),
                ..section()
            },
        ),
        (
            "password2",
            Section {
                password2: Some("not base64!".into()),
                ..section()
            },
        ),
    ] {
        let m = refusal(&s);
        assert!(
            m.contains(&format!("`{option}`")) && m.contains("cannot be revealed"),
            "{m}"
        );
        assert!(m.contains("rclone obscure"), "{m}");
    }
}

/// rclone turns an empty password into all-zero keys; a section whose
/// password reveals to nothing reads what rclone wrote with it.
#[test]
fn a_password_that_reveals_to_nothing_gives_rclones_zero_keys() {
    let k = CryptKey::open(&Section {
        password: Some("YWFhYWFhYWFhYWFhYWFhYQ".into()),
        ..section()
    })
    .unwrap();
    assert_eq!(
        k.decrypt_file_path("p0e52nreeaj0a5ea7s64m4j72s").unwrap(),
        "1"
    );
}

#[test]
fn an_empty_password2_means_the_default_salt() {
    let plain = CryptKey::open(&section()).unwrap();
    let empty = CryptKey::open(&Section {
        password2: Some(String::new()),
        ..section()
    })
    .unwrap();
    let revealed_empty = CryptKey::open(&Section {
        password2: Some(obscure(b"", [9; 16])),
        ..section()
    })
    .unwrap();
    let name = plain.encrypt_file_path("a").unwrap();
    assert_eq!(empty.encrypt_file_path("a").unwrap(), name);
    assert_eq!(revealed_empty.encrypt_file_path("a").unwrap(), name);
}

fn stored(key: &str, size: u64) -> Stored {
    Stored {
        key: key.into(),
        size,
    }
}

#[test]
fn a_listing_keeps_files_sorted_with_their_content_sizes() {
    let k = CryptKey::open(&section()).unwrap();
    let b = k.encrypt_file_path("b b/\u{e9}t\u{e9}.txt").unwrap();
    let a = k.encrypt_file_path("a.txt").unwrap();
    let listing = k.read_listing(&[stored(&b, 32 + 16 + 5), stored(&a, 32)]);
    assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
    let files: Vec<(&str, &str, u64)> = listing
        .files
        .iter()
        .map(|f| (f.key.as_str(), f.path.as_str(), f.size))
        .collect();
    assert_eq!(
        files,
        [
            (a.as_str(), "a.txt", 0),
            (b.as_str(), "b b/\u{e9}t\u{e9}.txt", 5)
        ]
    );
}

#[test]
fn a_listing_skips_what_gives_no_file_and_says_why() {
    let k = CryptKey::open(&section()).unwrap();
    let good = k.encrypt_file_path("kept").unwrap();
    let dup = k.encrypt_file_path("twice").unwrap();
    let other = CryptKey::from_revealed(b"other", b"", Options::default())
        .encrypt_file_path("x")
        .unwrap();
    let listing = k.read_listing(&[
        stored(&good, 100),
        stored("plain-file.txt", 10),
        stored(&other, 100),
        stored(&format!("{good}/"), 0),
        stored(&format!("{good}x"), 100),
        stored(&dup, 100),
        stored(&dup.to_uppercase(), 100),
        stored(&k.encrypt_file_path("short").unwrap(), 32 + 16),
        stored(&k.encrypt_file_path("tiny").unwrap(), 20),
    ]);
    assert_eq!(listing.files.len(), 1);
    assert_eq!(listing.files[0].path, "kept");
    let reason = |key: &str| {
        listing
            .skipped
            .iter()
            .find(|s| s.starts_with(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("{key} not skipped: {:?}", listing.skipped))
            .clone()
    };
    assert!(reason("plain-file.txt").contains("does not decrypt"));
    assert!(reason(&other).contains("padding is wrong"));
    assert!(reason(&format!("{good}/")).contains("folder marker"));
    assert!(reason(&dup).contains("2 objects decrypt to \"twice\""));
    assert!(reason(&dup.to_uppercase()).contains("2 objects decrypt to \"twice\""));
    assert!(reason(&k.encrypt_file_path("short").unwrap()).contains("too short"));
    assert!(reason(&k.encrypt_file_path("tiny").unwrap()).contains("header"));
    assert_eq!(listing.skipped.len(), 8);
}

#[test]
fn names_that_decrypt_to_unsafe_paths_are_refused() {
    let off = CryptKey::from_revealed(
        b"pw",
        b"",
        Options {
            mode: Mode::Off,
            ..Options::default()
        },
    );
    // rclone's S3 and local backends both write a name `..` as U+FF0E twice,
    // so a key `../x.bin` is a file of that name, not a way up.
    assert_eq!(
        off.decrypt_file_path("../x.bin").unwrap(),
        "\u{ff0e}\u{ff0e}/x"
    );
    for key in ["a//b.bin", "/etc/x.bin"] {
        let e = off.decrypt_file_path(key).unwrap_err().to_string();
        assert!(e.contains("poof does not write to"), "{key}: {e}");
        let listing = off.read_listing(&[stored(key, 1)]);
        assert!(listing.files.is_empty() && listing.skipped.len() == 1);
    }
    let obfuscated = CryptKey::from_revealed(
        b"pw",
        b"",
        Options {
            mode: Mode::Obfuscate,
            ..Options::default()
        },
    );
    // `..` in disguise is a name of two full stops, as rclone writes it.
    assert_eq!(
        obfuscated.decrypt_file_path("92...").unwrap(),
        "\u{ff0e}\u{ff0e}"
    );
    assert!(
        obfuscated.decrypt_file_path("1.!/").is_err(),
        "a quoted `/`"
    );
}

#[test]
fn a_cloud_folder_is_encrypted_as_rclone_names_folders() {
    let k = CryptKey::open(&section()).unwrap();
    assert_eq!(
        k.encrypt_dir_path("Documents/2024").unwrap(),
        k.encrypt_file_path("Documents/2024").unwrap()
    );
    let off = CryptKey::open(&Section {
        filename_encryption: Some("off".into()),
        ..section()
    })
    .unwrap();
    assert_eq!(off.encrypt_dir_path("Documents").unwrap(), "Documents");
    assert!(k.encrypt_dir_path("../x").is_err());
    assert!(k.encrypt_dir_path("").is_err());
    let long = "x".repeat(2048);
    assert!(k.encrypt_file_path(&long).is_err(), "longer than EME takes");
    assert!(k.encrypt_file_path(&"x".repeat(2047)).is_ok());
}
