//! The `crypto` interface: conversions between WIT types and `crate::crypto`.
//!
//! Invariant: no cryptography happens here. Each function converts its
//! arguments, calls the plain-Rust module, and converts the answer; the
//! resources wrap the module's `Keyring`, `Sealer` and `Opener`, so the
//! master key stays in this instance's memory and is wiped when the host
//! drops its handle. Passphrases are wiped as soon as they are used.

use std::cell::RefCell;
use std::rc::Rc;

use zeroize::Zeroizing;

use super::exports::poof::core::crypto;
use super::poof::core::types::Error;
use crate::crypto::{self as core, CryptoError, stream};

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidInput(m) => Error::InvalidInput(m),
            CryptoError::WrongPassphrase => Error::WrongPassphrase,
            CryptoError::Tampered(m) => Error::Tampered(m),
            CryptoError::Truncated(m) => Error::Truncated(m),
            CryptoError::WrongName(m) => Error::WrongName(m),
            CryptoError::UnsupportedFormat(m) => Error::UnsupportedFormat(m),
        }
    }
}

/// The guest side of the `keyring` resource.
pub struct Keyring(pub(super) Rc<core::Keyring>);

/// The guest side of the `sealer` resource; WIT methods take `&self`.
pub struct Sealer(RefCell<core::Sealer>);

/// The guest side of the `opener` resource; WIT methods take `&self`.
pub struct Opener(RefCell<core::Opener>);

impl crypto::Guest for super::Guest {
    type Keyring = Keyring;
    type Sealer = Sealer;
    type Opener = Opener;

    fn format() -> crypto::FormatInfo {
        crypto::FormatInfo {
            version: stream::OBJECT_VERSION,
            segment_size: stream::SEGMENT_SIZE as u32,
            header_size: stream::HEADER_LEN as u32,
            tag_size: core::TAG_LEN as u32,
        }
    }

    fn sealed_size(plain_size: u64) -> Result<u64, Error> {
        Ok(stream::sealed_size(plain_size)?)
    }

    fn plain_size(sealed_size: u64) -> Result<u64, Error> {
        Ok(stream::plain_size(sealed_size)?)
    }

    fn choose_wrapped_key(
        local: Option<crypto::FoundKey>,
        remote: Option<crypto::FoundKey>,
    ) -> Result<Option<crypto::KeySource>, Error> {
        match core::keyring::choose(found(&local), found(&remote)) {
            Ok(s) => Ok(s.map(|s| match s {
                core::keyring::KeySource::Local => crypto::KeySource::Local,
                core::keyring::KeySource::Remote => crypto::KeySource::Remote,
            })),
            Err(core::keyring::ChoiceError::Unreadable(m)) => Err(Error::InvalidInput(m)),
            Err(core::keyring::ChoiceError::Different(m)) => Err(Error::Refused(m)),
        }
    }

    fn inspect_wrapped_key(wrapped: Vec<u8>) -> Result<crypto::WrappedKeyInfo, Error> {
        let info = core::keyring::inspect(&wrapped)?;
        Ok(crypto::WrappedKeyInfo {
            version: info.version,
            key_id: hex::encode(info.key_id),
            kdf: crypto::KdfParams {
                memory_kib: info.kdf.memory_kib,
                iterations: info.kdf.iterations,
                parallelism: info.kdf.parallelism,
            },
        })
    }
}

/// A found key as the crypto core takes it: where it was found, and its bytes.
fn found(k: &Option<crypto::FoundKey>) -> Option<(&str, &[u8])> {
    k.as_ref().map(|k| (k.name.as_str(), k.wrapped.as_slice()))
}

impl crypto::GuestKeyring for Keyring {
    fn generate(entropy: Vec<u8>) -> Result<crypto::Keyring, Error> {
        let entropy = Zeroizing::new(entropy);
        Ok(crypto::Keyring::new(Keyring(Rc::new(
            core::Keyring::generate(&entropy)?,
        ))))
    }

    fn unlock(wrapped: Vec<u8>, passphrase: Vec<u8>) -> Result<crypto::Keyring, Error> {
        let passphrase = Zeroizing::new(passphrase);
        Ok(crypto::Keyring::new(Keyring(Rc::new(
            core::Keyring::unlock(&wrapped, &passphrase)?,
        ))))
    }

    fn handoff(&self, entropy: Vec<u8>) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let entropy = Zeroizing::new(entropy);
        let (transfer, sealed) = self.0.handoff(&entropy)?;
        Ok((transfer.to_vec(), sealed))
    }

    fn adopt(sealed: Vec<u8>, transfer: Vec<u8>) -> Result<crypto::Keyring, Error> {
        let transfer = Zeroizing::new(transfer);
        Ok(crypto::Keyring::new(Keyring(Rc::new(
            core::Keyring::adopt(&sealed, &transfer)?,
        ))))
    }

    fn kdf_probe() -> Result<(), Error> {
        Ok(core::Keyring::probe_kdf()?)
    }

    fn wrap(
        &self,
        passphrase: Vec<u8>,
        entropy: Vec<u8>,
        probe_nanos: u64,
    ) -> Result<Vec<u8>, Error> {
        let passphrase = Zeroizing::new(passphrase);
        Ok(self.0.wrap(&passphrase, &entropy, probe_nanos)?)
    }

    fn key_id(&self) -> String {
        self.0.key_id_hex()
    }

    fn encrypt_path(&self, path: String) -> Result<String, Error> {
        Ok(self.0.encrypt_path(&path)?)
    }

    fn decrypt_path(&self, encrypted: String) -> Result<String, Error> {
        Ok(self.0.decrypt_path(&encrypted)?)
    }

    fn seal(
        &self,
        cloud: String,
        path: String,
        stat: crypto::FileStat,
        entropy: Vec<u8>,
    ) -> Result<crypto::Sealer, Error> {
        let stat = core::FileStat {
            size: stat.size,
            mtime_ns: stat.mtime_ns,
            mode: stat.mode,
        };
        let sealer = self
            .0
            .sealer(&core::object_path(&cloud, &path), &stat, &entropy)?;
        Ok(crypto::Sealer::new(Sealer(RefCell::new(sealer))))
    }

    fn open(&self, cloud: String, path: String, header: Vec<u8>) -> Result<crypto::Opener, Error> {
        let opener = self.0.opener(&core::object_path(&cloud, &path), &header)?;
        Ok(crypto::Opener::new(Opener(RefCell::new(opener))))
    }

    fn seal_blob(
        &self,
        context: String,
        plaintext: Vec<u8>,
        entropy: Vec<u8>,
    ) -> Result<Vec<u8>, Error> {
        Ok(self.0.seal_blob(&context, plaintext, &entropy)?)
    }

    fn open_blob(&self, context: String, sealed: Vec<u8>) -> Result<Vec<u8>, Error> {
        Ok(self.0.open_blob(&context, sealed)?)
    }
}

impl crypto::GuestSealer for Sealer {
    fn object_id(&self) -> String {
        self.0.borrow().object_id_hex()
    }

    fn seal_segment(&self, plaintext: Vec<u8>, last: bool) -> Result<Vec<u8>, Error> {
        Ok(self.0.borrow_mut().seal_segment(plaintext, last)?)
    }

    fn finish(&self, expected_sha256: Option<Vec<u8>>) -> Result<Vec<u8>, Error> {
        Ok(self.0.borrow_mut().finish(expected_sha256.as_deref())?)
    }
}

impl crypto::GuestOpener for Opener {
    fn meta(&self) -> crypto::FileMeta {
        let o = self.0.borrow();
        let m = o.meta();
        crypto::FileMeta {
            size: m.size,
            mtime_ns: m.mtime_ns,
            mode: m.mode,
            sha256: m.sha256.to_vec(),
        }
    }

    fn object_id(&self) -> String {
        self.0.borrow().object_id_hex()
    }

    fn open_segment(&self, sealed: Vec<u8>, last: bool) -> Result<Vec<u8>, Error> {
        Ok(self.0.borrow_mut().open_segment(sealed, last)?)
    }

    fn segments(&self) -> u64 {
        self.0.borrow().segments()
    }

    fn finish(&self, sha256: Vec<u8>, written: u64) -> Result<(), Error> {
        Ok(self.0.borrow().finish(&sha256, written)?)
    }
}
