//! The test vectors of `docs/FORMAT.md`, computed and checked against the document.
//!
//! The test builds every vector from fixed inputs (entropy, passphrase,
//! paths, content) with the real code, renders them as text, and requires
//! that `docs/FORMAT.md` holds exactly that text between its
//! `vectors:begin` and `vectors:end` markers. When the format changes on
//! purpose, the failure prints the new block to paste in. Invariant: each
//! vector is also re-derived here from the document's formulas with the raw
//! primitives (HKDF labels, nonces, associated data), so the intermediate
//! values printed are the ones the outputs really come from.

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, KeyInit};
use aes_siv::siv::Aes256Siv;
use sha2::{Digest, Sha256};

use super::keyring::{self, KdfParams};
use super::stream::{HEADER_LEN, SEGMENT_SIZE};
use super::{FileMeta, Keyring, TAG_LEN, hkdf, hmac_sha256, le_len};

const DOC: &str = include_str!("../../../docs/FORMAT.md");
const BEGIN: &str = "<!-- vectors:begin -->\n";
const END: &str = "<!-- vectors:end -->";

/// `n` bytes counting up from `start`.
fn seq(start: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| start.wrapping_add(i as u8)).collect()
}

/// Collects `name = value` lines, wrapping long hex at 64 characters.
#[derive(Default)]
struct Out(String);

impl Out {
    fn title(&mut self, t: &str) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(&format!("## {t}\n"));
    }
    fn text(&mut self, name: &str, value: &str) {
        self.0.push_str(&format!("{name} = {value}\n"));
    }
    fn hex(&mut self, name: &str, bytes: &[u8]) {
        let h = hex::encode(bytes);
        let mut lines = h
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap());
        self.0
            .push_str(&format!("{name} = {}\n", lines.next().unwrap_or("(empty)")));
        for l in lines {
            self.0.push_str(&format!("    {l}\n"));
        }
    }
}

/// Opens `ct || tag` with raw AES-256-GCM, as an independent reader would.
fn raw_gcm_open(key: &[u8; 32], nonce: &[u8; 12], ad: &[u8], sealed: &[u8]) -> Vec<u8> {
    let (ct, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    let mut buf = ct.to_vec();
    let tag: [u8; 16] = tag.try_into().unwrap();
    Aes256Gcm::new(key.into())
        .decrypt_inout_detached(nonce.into(), ad, buf.as_mut_slice().into(), (&tag).into())
        .expect("the vector re-derived from the document's formulas opens");
    buf
}

fn render() -> String {
    let mut out = Out::default();

    out.title("1. Master key and wrapped key");
    let e_gen = seq(0x00, 32);
    let e_wrap = seq(0x20, 32);
    let pass = b"correct horse battery staple";
    let k = Keyring::generate(&e_gen).unwrap();
    let master = hkdf::<32>(None, &e_gen, b"poof v1 master key");
    assert_eq!(&master[..], k.master());
    // The first parameters, which every poof reads: checking this vector
    // costs 32 MiB, not the 256 MiB of a new key.
    let wrapped = k.wrap_with(pass, &e_wrap, KdfParams::FIRST).unwrap();
    let key_id = hkdf::<16>(None, &master[..], b"poof v1 key id");
    let salt = hkdf::<16>(
        None,
        &[&e_wrap[..], &key_id[..]].concat(),
        b"poof v1 argon2id salt",
    );
    let kek = keyring::argon2id(pass, &salt[..], KdfParams::FIRST).unwrap();
    assert_eq!(
        &raw_gcm_open(&kek, &[0; 12], &wrapped[..52], &wrapped[52..])[..],
        &master[..]
    );
    out.hex("entropy (generate)", &e_gen);
    out.hex("master key", &master[..]);
    out.hex(
        "key id",
        &hkdf::<16>(None, &master[..], b"poof v1 key id")[..],
    );
    out.hex(
        "name key",
        &hkdf::<64>(None, &master[..], b"poof v1 names")[..],
    );
    out.hex(
        "salt key",
        &hkdf::<32>(None, &master[..], b"poof v1 salts")[..],
    );
    out.text(
        "passphrase",
        &format!("{:?} (UTF-8)", std::str::from_utf8(pass).unwrap()),
    );
    out.hex("entropy (wrap)", &e_wrap);
    out.text(
        "argon2id",
        "m = 32768 KiB, t = 3, p = 1, version 0x13, 32-byte output",
    );
    out.hex("argon2id salt", &salt[..]);
    out.hex("key-encryption key", &kek[..]);
    out.hex("wrapped key", &wrapped);
    assert_eq!(
        Keyring::unlock(&wrapped, pass).unwrap().key_id(),
        k.key_id()
    );

    out.title("2. Names (master key of vector 1)");
    let name_key = hkdf::<64>(None, &master[..], b"poof v1 names");
    let mut siv = Aes256Siv::new((&*name_key).into());
    let long = "x".repeat(130);
    for path in [
        "Documents",
        "Documents/notes.txt",
        "Documents/\u{e9}t\u{e9} 2024.txt",
        &format!("Documents/{long}"),
    ] {
        let enc = k.encrypt_path(path).unwrap();
        let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
        let raw = siv.encrypt([parent.as_bytes()], last.as_bytes()).unwrap();
        let rest = if parent.is_empty() {
            enc.as_str()
        } else {
            let enc_parent = k.encrypt_path(parent).unwrap();
            enc.strip_prefix(&format!("{enc_parent}/")).unwrap()
        };
        let joined: String = rest
            .split('/')
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    c
                } else {
                    c.strip_prefix('z').unwrap()
                }
            })
            .collect();
        assert_eq!(
            joined,
            data_encoding::BASE32HEX_NOPAD.encode(&raw).to_lowercase()
        );
        let shown = if path.len() > 40 {
            "Documents/xxx...x (130 times x)".to_string()
        } else {
            path.to_string()
        };
        out.text("path", &format!("{shown:?}"));
        out.hex("  AES-SIV of last segment", &raw);
        for (i, chunk) in enc.split('/').enumerate() {
            out.text(&format!("  encrypted component {i}"), chunk);
        }
    }

    object_vectors(
        &mut out,
        &master,
        &k,
        1,
        [
            "3. A 12-byte file (master key of vector 1)",
            "4. An empty file without a mode (master key of vector 1)",
            "5. Two segments: 65636 bytes, byte i = i mod 251 (master key of vector 1)",
        ],
    );

    out.title("6. A blob (master key of vector 1)");
    let context = "manifest:Documents";
    let plain = br#"{"files":{}}"#;
    let e_blob = seq(0xa0, 32);
    let blob = k.seal_blob(context, plain.to_vec(), &e_blob).unwrap();
    let salt_key = hkdf::<32>(None, &master[..], b"poof v1 salts");
    let salt = hmac_sha256(
        &salt_key[..],
        &[
            b"poof v1 blob salt",
            &le_len(&e_blob),
            &e_blob,
            &le_len(context.as_bytes()),
            context.as_bytes(),
            &le_len(plain),
            plain,
        ],
    );
    let key = hkdf::<32>(Some(&salt), &master[..], b"poof v1 blob");
    let mut ad = blob[..40].to_vec();
    ad.extend_from_slice(context.as_bytes());
    assert_eq!(raw_gcm_open(&key, &[0; 12], &ad, &blob[40..]), plain);
    out.text("context", &format!("{context:?}"));
    out.text(
        "plaintext",
        &format!("{:?}", std::str::from_utf8(plain).unwrap()),
    );
    out.hex("entropy", &e_blob);
    out.hex("blob salt", &salt);
    out.hex("blob key", &key[..]);
    out.hex("sealed blob", &blob);

    // Objects in format version 2, which poof writes: the inputs of
    // vectors 3 to 5, other keys and salts.
    object_vectors(
        &mut out,
        &master,
        &k,
        2,
        [
            "7. Version 2: the 12-byte file of vector 3",
            "8. Version 2: the empty file of vector 4",
            "9. Version 2: the two segments of vector 5",
        ],
    );
    out.0
}

/// The three object vectors of format `version`, under `titles`: a 12-byte
/// file, an empty one without a mode, and one of two segments.
fn object_vectors(out: &mut Out, master: &[u8; 32], k: &Keyring, version: u8, titles: [&str; 3]) {
    let big: Vec<u8> = (0..SEGMENT_SIZE + 100).map(|i| (i % 251) as u8).collect();
    // Path, content, mtime, mode, first byte of the entropy, whether the
    // whole object is printed.
    type File<'a> = (&'a str, &'a [u8], i64, Option<u32>, u8, bool);
    let files: [File; 3] = [
        (
            "Documents/notes.txt",
            b"hello, poof\n",
            1_700_000_000_123_456_789,
            Some(0o644),
            0x40,
            true,
        ),
        ("Documents/empty", b"", 0, None, 0x60, true),
        ("Documents/big.bin", &big, -1, Some(0o600), 0x80, false),
    ];
    for (title, (path, content, mtime_ns, mode, e, whole)) in titles.into_iter().zip(files) {
        out.title(title);
        let meta = FileMeta {
            size: content.len() as u64,
            mtime_ns,
            mode,
            sha256: Sha256::digest(content).into(),
        };
        let e_obj = seq(e, 32);
        let object = seal_object(k, version, path, &meta, content, &e_obj);
        object_vector(
            out, master, k, version, path, &meta, content, &e_obj, &object, whole,
        );
    }
}

/// Seals `content` in format `version`: the segments, then the header the
/// sealer gives at the end, put in front.
fn seal_object(
    k: &Keyring,
    version: u8,
    path: &str,
    meta: &FileMeta,
    content: &[u8],
    entropy: &[u8],
) -> Vec<u8> {
    let mut s = if version == 1 {
        k.sealer_v1(path, meta, entropy).unwrap()
    } else {
        k.sealer(path, &meta.stat(), entropy).unwrap()
    };
    let mut object = Vec::new();
    let pieces: Vec<&[u8]> = if content.is_empty() {
        vec![&[]]
    } else {
        content.chunks(SEGMENT_SIZE).collect()
    };
    for (i, p) in pieces.iter().enumerate() {
        object.extend(s.seal_segment(p.to_vec(), i + 1 == pieces.len()).unwrap());
    }
    let mut header = s.finish(None).unwrap();
    header.extend(object);
    header
}

#[allow(clippy::too_many_arguments)]
fn object_vector(
    out: &mut Out,
    master: &[u8; 32],
    k: &Keyring,
    version: u8,
    path: &str,
    meta: &FileMeta,
    content: &[u8],
    entropy: &[u8],
    object: &[u8],
    whole: bool,
) {
    // Re-derive everything from the document's formulas.
    let mut plain_meta = Vec::new();
    plain_meta.extend_from_slice(&meta.size.to_le_bytes());
    plain_meta.extend_from_slice(&meta.mtime_ns.to_le_bytes());
    plain_meta.extend_from_slice(&meta.mode.unwrap_or(0).to_le_bytes());
    plain_meta.extend_from_slice(&u32::from(meta.mode.is_some()).to_le_bytes());
    plain_meta.extend_from_slice(&meta.sha256);
    plain_meta.extend_from_slice(&Sha256::digest(path.as_bytes()));
    let salt_key = hkdf::<32>(None, master, b"poof v1 salts");
    // Version 1's salt covers all the metadata; version 2's all but the
    // content's hash and the path's (bytes 0..24), known before reading.
    let (label, salted) = if version == 1 {
        (&b"poof v1 object salt"[..], &plain_meta[..])
    } else {
        (&b"poof v2 object salt"[..], &plain_meta[..24])
    };
    let salt = hmac_sha256(
        &salt_key[..],
        &[
            label,
            &le_len(entropy),
            entropy,
            &le_len(path.as_bytes()),
            path.as_bytes(),
            salted,
        ],
    );
    let v = format!("poof v{version} object");
    let header_key = hkdf::<32>(Some(&salt), master, format!("{v} header").as_bytes());
    let segment_key = hkdf::<32>(Some(&salt), master, format!("{v} segments").as_bytes());
    assert_eq!(&object[..7], b"poofobj");
    assert_eq!(object[7], version);
    assert_eq!(object[8..40], salt);
    assert_eq!(
        raw_gcm_open(
            &header_key,
            &[0; 12],
            &object[..40],
            &object[40..HEADER_LEN]
        ),
        plain_meta
    );
    let segments: Vec<&[u8]> = object[HEADER_LEN..]
        .chunks(SEGMENT_SIZE + TAG_LEN)
        .collect();
    let mut opened = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let mut nonce = [0u8; 12];
        nonce[7..11].copy_from_slice(&(i as u32).to_be_bytes());
        nonce[11] = u8::from(i + 1 == segments.len());
        opened.extend(raw_gcm_open(&segment_key, &nonce, b"", s));
    }
    assert_eq!(opened, content);
    let o = k.opener(path, &object[..HEADER_LEN]).unwrap();
    assert_eq!(o.meta(), meta);

    out.text("path", &format!("{path:?}"));
    out.text(
        "size, mtime ns, mode",
        &format!(
            "{}, {}, {}",
            meta.size,
            meta.mtime_ns,
            meta.mode.map_or("none".into(), |m| format!("0o{m:o}"))
        ),
    );
    if whole {
        out.text(
            "content",
            &format!("{:?}", std::str::from_utf8(content).unwrap()),
        );
    }
    out.hex("entropy", entropy);
    out.hex("metadata (plaintext)", &plain_meta);
    out.hex("object salt = object id", &salt);
    out.hex("header key", &header_key[..]);
    out.hex("segment key", &segment_key[..]);
    out.hex("header", &object[..HEADER_LEN]);
    if whole {
        out.hex("object", object);
    } else {
        out.hex(
            "SHA-256 of segment 0 (sealed)",
            &Sha256::digest(segments[0]),
        );
        out.hex("segment 1 (sealed)", segments[1]);
        out.hex("SHA-256 of the object", &Sha256::digest(object));
    }
    out.text("object length", &object.len().to_string());
}

#[test]
fn format_md_holds_the_current_vectors() {
    let rendered = render();
    let expected = format!("{BEGIN}```text\n{rendered}```\n{END}");
    let found = DOC.find(BEGIN).and_then(|start| {
        DOC[start..]
            .find(END)
            .map(|len| &DOC[start..start + len + END.len()])
    });
    if found != Some(expected.as_str()) {
        panic!(
            "docs/FORMAT.md does not hold the current test vectors. If the format changed on \
             purpose, replace the block between the markers with:\n\n{expected}\n"
        );
    }
}
