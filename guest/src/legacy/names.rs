//! rclone crypt's names: standard (EME), obfuscated, or left as they are.
//!
//! Follows rclone's backend/crypt/cipher.go (docs/RCLONE-CRYPT.md, "Names").
//! With `filename_encryption = standard` each `/`-segment is padded with
//! PKCS#7 to whole 16-byte blocks, enciphered with EME-AES-256 under the name
//! key and the name tweak, and encoded (base32hex lower case, base64 RawURL
//! or base32768). `obfuscate` rotates characters by an amount written in
//! front of the name; `off` only appends a suffix (`.bin` by default).
//! `directory_name_encryption = false` leaves every segment but the last as
//! it is. A version stamp on the last segment stays unencrypted
//! (`version.rs`).
//!
//! Invariants: names are not authenticated (rclone cannot tell a name
//! written with another key from a damaged one except by its padding), so a
//! name that does not decrypt is reported with the reason, never guessed;
//! every decrypted segment is UTF-8 text without `/` or NUL, and the caller
//! checks the whole path with `paths::check`.

use aes::Aes256;
use aes::cipher::KeyInit;
use data_encoding::{BASE64URL_NOPAD, Encoding, Specification};
use zeroize::Zeroizing;

use super::eme::{self, Direction};
use super::{base32768, version};

/// How names are encrypted (`filename_encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// EME-AES-256, then an encoding (`standard`, rclone's default).
    Standard,
    /// A rotation of the characters (`obfuscate`).
    Obfuscate,
    /// The name as it is, plus a suffix (`off`).
    Off,
}

/// How an encrypted segment is written as text (`filename_encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameEncoding {
    /// RFC 4648 base32hex, lower case, no padding (rclone's default);
    /// decoding ignores case.
    Base32,
    /// RFC 4648 base64 with the URL alphabet, no padding.
    Base64,
    /// base32768 (`base32768.rs`).
    Base32768,
}

/// The name side of a crypt section: its options and its name keys.
pub struct NameCipher {
    /// `filename_encryption`.
    pub mode: Mode,
    /// `filename_encoding`.
    pub encoding: NameEncoding,
    /// `directory_name_encryption`.
    pub dirs: bool,
    /// The suffix of `off` names (empty for `suffix = none`).
    pub suffix: String,
    /// AES-256 under the name key, for EME; wipes its round keys on drop.
    aes: Aes256,
    /// EME's tweak.
    tweak: Zeroizing<[u8; 16]>,
    /// The name key, whose byte sum `obfuscate` rotates by.
    name_key: Zeroizing<[u8; 32]>,
}

/// The most bytes a segment may have once padded (EME's limit).
const MAX_PADDED: usize = eme::MAX_LEN;

/// Lower-case base32hex without padding; decoding also takes upper case
/// (rclone upper-cases before decoding) and checks the unused trailing bits.
fn base32() -> &'static Encoding {
    static ENCODING: std::sync::OnceLock<Encoding> = std::sync::OnceLock::new();
    ENCODING.get_or_init(|| {
        let mut spec = Specification::new();
        spec.symbols.push_str("0123456789abcdefghijklmnopqrstuv");
        spec.translate.from.push_str("ABCDEFGHIJKLMNOPQRSTUV");
        spec.translate.to.push_str("abcdefghijklmnopqrstuv");
        spec.check_trailing_bits = true;
        spec.encoding()
            .expect("a 32-symbol alphabet with a case translation is a valid specification")
    })
}

impl NameEncoding {
    /// Writes `bytes` in this encoding.
    pub fn encode(self, bytes: &[u8]) -> String {
        match self {
            NameEncoding::Base32 => base32().encode(bytes),
            NameEncoding::Base64 => BASE64URL_NOPAD.encode(bytes),
            NameEncoding::Base32768 => base32768::encode(bytes),
        }
    }

    /// Reads this encoding; the error says why `text` is not in it.
    pub fn decode(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            NameEncoding::Base32 => base32()
                .decode(text.as_bytes())
                .map_err(|_| "is not base32hex".into()),
            NameEncoding::Base64 => BASE64URL_NOPAD
                .decode(text.as_bytes())
                .map_err(|_| "is not base64 (URL alphabet, no padding)".into()),
            NameEncoding::Base32768 => {
                base32768::decode(text).map_err(|why| format!("is not base32768: {why}"))
            }
        }
    }
}

impl NameCipher {
    /// A name cipher with these options, the 32-byte name key and the tweak.
    pub fn new(
        mode: Mode,
        encoding: NameEncoding,
        dirs: bool,
        suffix: String,
        name_key: Zeroizing<[u8; 32]>,
        tweak: Zeroizing<[u8; 16]>,
    ) -> NameCipher {
        NameCipher {
            mode,
            encoding,
            dirs,
            suffix,
            aes: Aes256::new((&*name_key).into()),
            tweak,
            name_key,
        }
    }

    /// The stored form of a file's path (rclone's `EncryptFileName`).
    pub fn encrypt_file(&self, path: &str) -> Result<String, String> {
        match self.mode {
            Mode::Off => Ok(format!("{path}{}", self.suffix)),
            _ => self.encrypt_segments(path),
        }
    }

    /// The stored form of a folder's path (rclone's `EncryptDirName`): as
    /// it is when names are not encrypted or folder names are left alone.
    pub fn encrypt_dir(&self, path: &str) -> Result<String, String> {
        match self.mode {
            Mode::Off => Ok(path.to_string()),
            _ if !self.dirs => Ok(path.to_string()),
            _ => self.encrypt_segments(path),
        }
    }

    /// The plaintext path of a stored file name (rclone's
    /// `DecryptFileName`), or why it is not one this section wrote.
    pub fn decrypt_file(&self, stored: &str) -> Result<String, String> {
        if self.mode == Mode::Off {
            let plain = stored
                .strip_suffix(self.suffix.as_str())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| format!("it does not end with the suffix `{}`", self.suffix))?;
            if version::matches(plain) && version::remove(plain).is_some_and(|(_, r)| r.is_empty())
            {
                return Err("it is only a version stamp".into());
            }
            return Ok(plain.to_string());
        }
        let count = stored.split('/').count();
        self.each_segment(stored, |segment| match self.mode {
            Mode::Standard => self.decrypt_segment(segment),
            _ => self.deobfuscate_segment(segment),
        })
        .map_err(|(i, why)| {
            if count == 1 {
                format!("it {why}")
            } else {
                format!("its segment {} {why}", i + 1)
            }
        })
    }

    /// `encryptFileName`: each segment (only the last without folder-name
    /// encryption) encrypted, a version stamp kept on the last.
    fn encrypt_segments(&self, path: &str) -> Result<String, String> {
        self.each_segment(path, |segment| match self.mode {
            Mode::Standard => self.encrypt_segment(segment),
            _ => Ok(self.obfuscate_segment(segment)),
        })
        .map_err(|(_, why)| why)
    }

    /// Applies `f` to each segment of `path` that rclone transforms (all, or
    /// only the last without folder-name encryption), with a version stamp
    /// on the last segment taken off before and put back after. An error
    /// comes with the index of its segment.
    fn each_segment(
        &self,
        path: &str,
        f: impl Fn(&str) -> Result<String, String>,
    ) -> Result<String, (usize, String)> {
        let segments: Vec<&str> = path.split('/').collect();
        let last = segments.len() - 1;
        let mut out = Vec::with_capacity(segments.len());
        for (i, &segment) in segments.iter().enumerate() {
            if !self.dirs && i != last {
                out.push(segment.to_string());
                continue;
            }
            let stamp = (i == last && version::matches(segment))
                .then(|| version::remove(segment))
                .flatten();
            let inner = stamp.as_ref().map_or(segment, |(_, rest)| rest.as_str());
            let mut done = f(inner).map_err(|why| (i, why))?;
            if let Some((stamp, _)) = stamp {
                done = version::add(&done, stamp);
            }
            out.push(done);
        }
        Ok(out.join("/"))
    }

    /// EME-encrypts one segment: PKCS#7 to whole blocks, EME, encoding.
    fn encrypt_segment(&self, plain: &str) -> Result<String, String> {
        if plain.is_empty() {
            return Ok(String::new());
        }
        let pad = 16 - plain.len() % 16;
        let mut data = Zeroizing::new(plain.as_bytes().to_vec());
        data.resize(plain.len() + pad, pad as u8);
        if data.len() > MAX_PADDED {
            return Err(format!(
                "the name {plain:?} is longer than rclone crypt's {} bytes",
                MAX_PADDED - 1
            ));
        }
        eme::transform(&self.aes, &self.tweak, &mut data, Direction::Encrypt)?;
        Ok(self.encoding.encode(&data))
    }

    /// Decrypts one EME segment, in rclone's order of checks.
    fn decrypt_segment(&self, text: &str) -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let mut data = Zeroizing::new(self.encoding.decode(text)?);
        if data.is_empty() || !data.len().is_multiple_of(16) {
            return Err("is not a whole number of 16-byte blocks once decoded".into());
        }
        if data.len() > MAX_PADDED {
            return Err(format!("is longer than {MAX_PADDED} bytes once decoded"));
        }
        eme::transform(&self.aes, &self.tweak, &mut data, Direction::Decrypt)
            .map_err(|why| format!("cannot be deciphered: {why}"))?;
        let pad = usize::from(data[data.len() - 1]);
        if pad == 0
            || pad > 16
            || data[data.len() - pad..]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(
                "does not decrypt (its padding is wrong: it was written with another \
                        password, or it is not an rclone crypt name)"
                    .into(),
            );
        }
        let len = data.len() - pad;
        data.truncate(len);
        segment_text(&data)
    }

    /// The sum of the name key's bytes, which `obfuscate` adds to its rotation.
    fn key_sum(&self) -> i64 {
        self.name_key.iter().map(|&b| i64::from(b)).sum()
    }

    /// rclone's `obfuscateSegment`.
    fn obfuscate_segment(&self, plain: &str) -> String {
        if plain.is_empty() {
            return String::new();
        }
        let shown = plain.chars().map(|c| i64::from(u32::from(c))).sum::<i64>() % 256;
        let dir = shown + self.key_sum();
        let mut out = format!("{shown}.");
        for c in plain.chars() {
            let r = i64::from(u32::from(c));
            match c {
                '!' => out.push_str("!!"),
                '0'..='9' => push(&mut out, '0' as i64 + (r - '0' as i64 + dir % 9 + 1) % 10),
                'A'..='Z' | 'a'..='z' => {
                    let pos = (letter_pos(r) + dir % 25 + 1) % 52;
                    push(&mut out, letter(pos));
                }
                '\u{a0}'..='\u{ff}' => push(&mut out, 0xa0 + (r - 0xa0 + dir % 95 + 1) % 96),
                _ if r >= 0x100 => {
                    let base = r - r % 256;
                    let rotated = base + (r - base + dir % 127 + 1) % 256;
                    if char_of(rotated).is_some() {
                        push(&mut out, rotated);
                    } else {
                        out.push('!');
                        out.push(c);
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// rclone's `deobfuscateSegment`, with Go's arithmetic: a character
    /// that comes out as no character becomes U+FFFD, as Go writes it.
    fn deobfuscate_segment(&self, text: &str) -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let (number, rotated) = text
            .split_once('.')
            .ok_or("has no `.`, so it is not an obfuscated name")?;
        if number == "!" {
            return segment_text(rotated.as_bytes());
        }
        let dir = number
            .parse::<i64>()
            .map_err(|_| "does not start with a number, so it is not an obfuscated name")?
            .wrapping_add(self.key_sum());
        let mut out = String::with_capacity(rotated.len());
        let mut quoted = false;
        for c in rotated.chars() {
            let r = i64::from(u32::from(c));
            match c {
                _ if quoted => {
                    out.push(c);
                    quoted = false;
                }
                '!' => quoted = true,
                '0'..='9' => {
                    let d = r - (dir % 9 + 1);
                    push(&mut out, if d < '0' as i64 { d + 10 } else { d });
                }
                'A'..='Z' | 'a'..='z' => {
                    let pos = letter_pos(r) - (dir % 25 + 1);
                    push(&mut out, letter(if pos < 0 { pos + 52 } else { pos }));
                }
                '\u{a0}'..='\u{ff}' => {
                    let d = r - (dir % 95 + 1);
                    push(&mut out, if d < 0xa0 { d + 96 } else { d });
                }
                _ if r >= 0x100 => {
                    let base = r - r % 256;
                    let d = r - (dir % 127 + 1);
                    push(&mut out, if d < base { d + 256 } else { d });
                }
                _ => out.push(c),
            }
        }
        segment_text(out.as_bytes())
    }
}

/// The position of an ASCII letter in `A-Za-z`.
fn letter_pos(r: i64) -> i64 {
    let pos = r - 'A' as i64;
    if pos >= 26 { pos - 6 } else { pos }
}

/// The code point of position `pos` in `A-Za-z` (beyond it as Go computes).
fn letter(pos: i64) -> i64 {
    'A' as i64 + if pos >= 26 { pos + 6 } else { pos }
}

/// The character with code point `r`, if there is one.
fn char_of(r: i64) -> Option<char> {
    u32::try_from(r).ok().and_then(char::from_u32)
}

/// Appends the character `r`, or U+FFFD where Go's `WriteRune` would.
fn push(out: &mut String, r: i64) {
    out.push(char_of(r).unwrap_or(char::REPLACEMENT_CHARACTER));
}

/// A decrypted segment as text: UTF-8, without `/` or NUL.
fn segment_text(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "decrypts to bytes that are not UTF-8 text".to_string())?;
    if text.contains(['/', '\0']) {
        return Err("decrypts to a name with `/` or NUL in it".into());
    }
    Ok(text.to_string())
}
