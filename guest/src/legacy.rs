//! Reading poof 1.x's encrypted buckets: rclone's `crypt` format, read only.
//!
//! poof 1.x encrypted with an rclone crypt section over its S3 section. This
//! module reads what rclone wrote (docs/RCLONE-CRYPT.md): it reveals the
//! section's obscured passwords, derives rclone's keys with scrypt, decrypts
//! names (`names.rs`) and content blocks (`content.rs`), and reads a listing
//! into files and skipped objects. It writes nothing in rclone's format; the
//! way forward is `poof migrate` to poof's own format.
//!
//! Invariants: the passwords and keys stay in this module's memory, in
//! containers that wipe themselves; no function here panics on any input;
//! what rclone crypt cannot detect (a file cut at a block boundary, swapped
//! files, an older version put back) is documented, never claimed.

pub mod base32768;
pub mod content;
pub mod eme;
pub mod names;
pub mod obscure;
pub mod s3names;
pub mod version;
#[cfg(any(test, feature = "test-writer"))]
pub mod writer;

#[cfg(test)]
mod kat;
#[cfg(test)]
mod tamper;

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::crypto::{CryptoError, Result};
use crate::paths;
pub use content::{BlockReader, Layout};
use names::{Mode, NameCipher, NameEncoding};

/// rclone's salt when `password2` is absent or empty (cipher.go, `defaultSalt`).
pub const DEFAULT_SALT: [u8; 16] = [
    0xa8, 0x0d, 0xf4, 0x3a, 0x8f, 0xbd, 0x03, 0x08, 0xa7, 0xca, 0xb8, 0x3e, 0x58, 0x1f, 0x86, 0xb1,
];

/// scrypt's cost as rclone uses it: N = 2^14, r = 8, p = 1.
const SCRYPT_LOG_N: u8 = 14;

/// A `type = crypt` section as written in the config file; `None` where an
/// option is absent (rclone's default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    /// The section's name, for messages.
    pub name: String,
    /// `password`, obscured.
    pub password: Option<String>,
    /// `password2`, obscured.
    pub password2: Option<String>,
    /// `filename_encryption`.
    pub filename_encryption: Option<String>,
    /// `directory_name_encryption`.
    pub directory_name_encryption: Option<String>,
    /// `filename_encoding`.
    pub filename_encoding: Option<String>,
    /// `suffix`.
    pub suffix: Option<String>,
    /// `no_data_encryption`.
    pub no_data_encryption: Option<String>,
}

/// One object as listed: its key below the listed prefix, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The key below the listed prefix.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A file of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The object's key, as listed.
    pub key: String,
    /// The decrypted relative path.
    pub path: String,
    /// The content size.
    pub size: u64,
}

/// What a listing holds: its files, sorted by path, and every object left
/// out with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Files whose names decrypt and whose sizes rclone can write.
    pub files: Vec<Found>,
    /// `KEY: reason` for each object left out.
    pub skipped: Vec<String>,
}

/// The three keys rclone derives from the passwords.
pub struct Keys {
    /// XSalsa20-Poly1305 key of the content blocks.
    pub data: Zeroizing<[u8; 32]>,
    /// AES-256 key of EME (and the rotation of `obfuscate`).
    pub name: Zeroizing<[u8; 32]>,
    /// EME's tweak.
    pub tweak: Zeroizing<[u8; 16]>,
}

/// rclone's `Cipher.Key`: scrypt(password, salt, N = 16384, r = 8, p = 1)
/// to 80 bytes, cut into the data key, the name key and the tweak. An empty
/// salt means [`DEFAULT_SALT`]; an empty password gives all-zero keys, as in
/// rclone (which its tests rely on).
pub fn derive(password: &[u8], salt: &[u8]) -> Keys {
    let mut out = Zeroizing::new([0u8; 80]);
    if !password.is_empty() {
        let salt = if salt.is_empty() {
            &DEFAULT_SALT[..]
        } else {
            salt
        };
        let params =
            scrypt::Params::new(SCRYPT_LOG_N, 8, 1).expect("rclone's scrypt parameters are valid");
        scrypt::scrypt(password, salt, &params, out.as_mut())
            .expect("80 bytes is a valid scrypt output length");
    }
    let mut keys = Keys {
        data: Zeroizing::new([0; 32]),
        name: Zeroizing::new([0; 32]),
        tweak: Zeroizing::new([0; 16]),
    };
    keys.data.copy_from_slice(&out[..32]);
    keys.name.copy_from_slice(&out[32..64]);
    keys.tweak.copy_from_slice(&out[64..]);
    keys
}

/// The options of a section, as rclone reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `filename_encryption`.
    pub mode: Mode,
    /// `filename_encoding`.
    pub encoding: NameEncoding,
    /// `directory_name_encryption`.
    pub dirs: bool,
    /// The suffix of names when `filename_encryption = off`.
    pub suffix: String,
    /// `no_data_encryption`.
    pub no_data: bool,
}

impl Default for Options {
    /// rclone's defaults.
    fn default() -> Self {
        Options {
            mode: Mode::Standard,
            encoding: NameEncoding::Base32,
            dirs: true,
            suffix: ".bin".into(),
            no_data: false,
        }
    }
}

impl Options {
    /// Reads the options of `section`; an unknown value names the section,
    /// the option and the values rclone knows.
    pub fn read(section: &Section) -> Result<Options> {
        let unknown = |option: &str, value: &str, known: &str| {
            CryptoError::InvalidInput(format!(
                "the crypt section [{}] has `{option} = {value}`, which rclone does not know \
                 (it knows {known})",
                section.name
            ))
        };
        let mut o = Options::default();
        if let Some(v) = &section.filename_encryption {
            o.mode = match v.to_lowercase().as_str() {
                "standard" => Mode::Standard,
                "obfuscate" => Mode::Obfuscate,
                "off" => Mode::Off,
                _ => {
                    return Err(unknown(
                        "filename_encryption",
                        v,
                        "standard, obfuscate and off",
                    ));
                }
            };
        }
        if let Some(v) = &section.filename_encoding {
            o.encoding = match v.to_lowercase().as_str() {
                "base32" => NameEncoding::Base32,
                "base64" => NameEncoding::Base64,
                "base32768" => NameEncoding::Base32768,
                _ => {
                    return Err(unknown(
                        "filename_encoding",
                        v,
                        "base32, base64 and base32768",
                    ));
                }
            };
        }
        let boolean =
            |option: &str, v: &str| go_bool(v).ok_or_else(|| unknown(option, v, "true and false"));
        if let Some(v) = &section.directory_name_encryption {
            o.dirs = boolean("directory_name_encryption", v)?;
        }
        if let Some(v) = &section.no_data_encryption {
            o.no_data = boolean("no_data_encryption", v)?;
        }
        if let Some(v) = &section.suffix {
            // rclone: `none` (any case) is no suffix; a suffix without a
            // leading dot gets one (with a logged complaint).
            o.suffix = if v.eq_ignore_ascii_case("none") {
                String::new()
            } else if v.starts_with('.') {
                v.clone()
            } else {
                format!(".{v}")
            };
        }
        Ok(o)
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it, which rclone uses.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The keys of one crypt section (the WIT's `crypt-key`).
pub struct CryptKey {
    /// The name side.
    names: NameCipher,
    /// The content key; `None` with `no_data_encryption`.
    data: Option<Zeroizing<[u8; 32]>>,
}

impl CryptKey {
    /// Reveals `section`'s passwords and derives its keys; each problem of
    /// the section has its own message naming the section and the option.
    pub fn open(section: &Section) -> Result<CryptKey> {
        let options = Options::read(section)?;
        let reveal = |option: &str, value: &str| {
            if value.trim().to_ascii_uppercase().starts_with("BOGUS") {
                return Err(CryptoError::InvalidInput(format!(
                    "the crypt section [{}] still has poof 1.x's placeholder `{option} = \
                     {value}`: put there the {option} you encrypted with, obscured with \
                     `rclone obscure`",
                    section.name
                )));
            }
            obscure::reveal(value).map_err(|why| {
                CryptoError::InvalidInput(format!(
                    "the `{option}` of the crypt section [{}] cannot be revealed: {why}; rclone \
                     writes passwords obscured (`rclone obscure PASSWORD` gives the value to put \
                     there)",
                    section.name
                ))
            })
        };
        let password = match section.password.as_deref() {
            None | Some("") => {
                return Err(CryptoError::InvalidInput(format!(
                    "the crypt section [{}] has no `password`; neither rclone nor poof can read \
                     it without one",
                    section.name
                )));
            }
            Some(p) => reveal("password", p)?,
        };
        let salt = match section.password2.as_deref() {
            None | Some("") => Zeroizing::new(Vec::new()),
            Some(p) => reveal("password2", p)?,
        };
        Ok(CryptKey::from_revealed(&password, &salt, options))
    }

    /// The keys of revealed passwords with these options.
    pub fn from_revealed(password: &[u8], salt: &[u8], options: Options) -> CryptKey {
        let keys = derive(password, salt);
        CryptKey {
            names: NameCipher::new(
                options.mode,
                options.encoding,
                options.dirs,
                options.suffix,
                keys.name,
                keys.tweak,
            ),
            data: (!options.no_data).then_some(keys.data),
        }
    }

    /// The S3 key of a cloud folder's path: rclone's folder-name form (left
    /// as it is with `filename_encryption = off` or
    /// `directory_name_encryption = false`), as its S3 backend stores it
    /// (`s3names`).
    pub fn encrypt_dir_path(&self, path: &str) -> Result<String> {
        checked(path)?;
        self.names
            .encrypt_dir(&s3names::from_key(path))
            .map(|name| s3names::to_key(&name))
            .map_err(CryptoError::InvalidInput)
    }

    /// The S3 key of a file's path: the path in rclone's standard form
    /// (`s3names`), in rclone's file-name form, as its S3 backend stores it.
    pub fn encrypt_file_path(&self, path: &str) -> Result<String> {
        checked(path)?;
        self.names
            .encrypt_file(&s3names::from_key(path))
            .map(|name| s3names::to_key(&name))
            .map_err(CryptoError::InvalidInput)
    }

    /// The plaintext path of an object's stored key (the file's name as
    /// rclone's local backend writes it on Linux), checked as a safe
    /// relative path; `InvalidInput` says why it is not one.
    pub fn decrypt_file_path(&self, key: &str) -> Result<String> {
        self.decrypt(key).map_err(|why| {
            CryptoError::InvalidInput(format!("the stored name {key:?} {}", why.sentence()))
        })
    }

    /// [`CryptKey::decrypt_file_path`], with the reason kept apart.
    fn decrypt(&self, key: &str) -> std::result::Result<String, Undecryptable> {
        let path = self
            .names
            .decrypt_file(&s3names::from_key(key))
            .map(|name| s3names::to_key(&name))
            .map_err(Undecryptable::NotOurs)?;
        paths::check(&path).map_err(|why| Undecryptable::Unsafe(path.clone(), why))?;
        Ok(path)
    }

    /// The layout of this section's objects.
    pub fn layout(&self) -> Layout {
        if self.data.is_some() {
            content::ENCRYPTED
        } else {
            content::PLAIN
        }
    }

    /// Starts reading an object of `stored` bytes from its header.
    pub fn reader(&self, header: &[u8], stored: u64) -> Result<BlockReader> {
        BlockReader::new(self.data.as_ref(), header, stored)
    }

    /// Reads a listing: each name decrypted and each content size computed;
    /// folder markers, names that do not decrypt, sizes rclone never writes
    /// and paths two objects decrypt to are left out with the reason.
    pub fn read_listing(&self, objects: &[Stored]) -> Listing {
        let mut listing = Listing::default();
        let mut by_path: BTreeMap<String, Vec<(&str, u64)>> = BTreeMap::new();
        let layout = self.layout();
        for o in objects {
            let key = o.key.as_str();
            if key.ends_with('/') {
                listing
                    .skipped
                    .push(format!("{key}: a folder marker, not a file"));
                continue;
            }
            let path = match self.decrypt(key) {
                Ok(p) => p,
                Err(why) => {
                    listing.skipped.push(format!("{key}: {}", why.sentence()));
                    continue;
                }
            };
            match layout.count(o.size) {
                Ok((_, size)) => by_path.entry(path).or_default().push((key, size)),
                Err(why) => listing
                    .skipped
                    .push(format!("{key}: its size cannot be rclone crypt's: {why}")),
            }
        }
        for (path, found) in by_path {
            if let [(key, size)] = found[..] {
                listing.files.push(Found {
                    key: key.to_string(),
                    path,
                    size,
                });
                continue;
            }
            let keys: Vec<&str> = found.iter().map(|(k, _)| *k).collect();
            for key in &keys {
                listing.skipped.push(format!(
                    "{key}: {} objects decrypt to {path:?} ({}); poof does not guess which one \
                     is the file",
                    keys.len(),
                    keys.join(", ")
                ));
            }
        }
        listing
    }
}

/// Why a stored name gives no file.
enum Undecryptable {
    /// It does not decrypt with this section's key and options.
    NotOurs(String),
    /// It decrypts to a path poof does not write to.
    Unsafe(String, paths::PathError),
}

impl Undecryptable {
    fn sentence(&self) -> String {
        match self {
            Undecryptable::NotOurs(why) => {
                format!("does not decrypt with this crypt section: {why} (rclone skips it too)")
            }
            Undecryptable::Unsafe(path, why) => {
                format!("decrypts to {path:?}, which poof does not write to: {why}")
            }
        }
    }
}

/// Refuses a path poof would not write (`paths::check`).
fn checked(path: &str) -> Result<()> {
    paths::check(path).map_err(|why| {
        CryptoError::InvalidInput(format!("the path {path:?} cannot be encrypted: {why}"))
    })
}

#[cfg(test)]
mod tests;
