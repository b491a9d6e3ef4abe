//! Calls into the guest's `crypto` interface (wit/crypto.wit): the format's
//! numbers, keyrings, sealers and openers. Each method converts nothing and
//! decides nothing; it calls the guest and names the call when it traps.

use anyhow::Result;

use super::{Crypto, Handle, Instance, crypto};

impl Instance {
    /// The format's fixed numbers (segment, header and tag sizes).
    pub fn crypto_format(&mut self) -> Result<crypto::FormatInfo> {
        let c = self.bindings.poof_core_crypto();
        c.call_format(&mut self.store)
            .map_err(Self::trapped("format"))
    }

    /// The length of the object of a file of `plain` bytes.
    pub fn sealed_size(&mut self, plain: u64) -> Crypto<u64> {
        let c = self.bindings.poof_core_crypto();
        c.call_sealed_size(&mut self.store, plain)
            .map_err(Self::trapped("sealed-size"))
    }

    /// The file size behind an object of `sealed` bytes.
    pub fn plain_size(&mut self, sealed: u64) -> Crypto<u64> {
        let c = self.bindings.poof_core_crypto();
        c.call_plain_size(&mut self.store, sealed)
            .map_err(Self::trapped("plain-size"))
    }

    /// What a wrapped key says about itself (its key id, its parameters).
    pub fn inspect_wrapped_key(&mut self, wrapped: &[u8]) -> Crypto<crypto::WrappedKeyInfo> {
        let c = self.bindings.poof_core_crypto();
        c.call_inspect_wrapped_key(&mut self.store, wrapped)
            .map_err(Self::trapped("inspect-wrapped-key"))
    }

    /// A new random master key, kept inside this instance.
    pub fn keyring_generate(&mut self, entropy: &[u8]) -> Crypto<Handle> {
        let c = self.bindings.poof_core_crypto();
        Ok(c.keyring()
            .call_generate(&mut self.store, entropy)
            .map_err(Self::trapped("keyring.generate"))?
            .map(Handle))
    }

    /// Asks the guest which found copy of the wrapped key a run uses.
    pub fn choose_wrapped_key(
        &mut self,
        local: Option<&crypto::FoundKey>,
        remote: Option<&crypto::FoundKey>,
    ) -> Crypto<Option<crypto::KeySource>> {
        let c = self.bindings.poof_core_crypto();
        c.call_choose_wrapped_key(&mut self.store, local, remote)
            .map_err(Self::trapped("choose-wrapped-key"))
    }

    /// Opens a wrapped key with a passphrase, inside this instance.
    pub fn keyring_unlock(&mut self, wrapped: &[u8], passphrase: &[u8]) -> Crypto<Handle> {
        let c = self.bindings.poof_core_crypto();
        Ok(c.keyring()
            .call_unlock(&mut self.store, wrapped, passphrase)
            .map_err(Self::trapped("keyring.unlock"))?
            .map(Handle))
    }

    /// Hands an unlocked key to other instances: (transfer key, sealed key).
    pub fn keyring_handoff(&mut self, k: &Handle, entropy: &[u8]) -> Crypto<(Vec<u8>, Vec<u8>)> {
        let c = self.bindings.poof_core_crypto();
        c.keyring()
            .call_handoff(&mut self.store, k.0, entropy)
            .map_err(Self::trapped("keyring.handoff"))
    }

    /// Adopts a key another instance handed off.
    pub fn keyring_adopt(&mut self, sealed: &[u8], transfer: &[u8]) -> Crypto<Handle> {
        let c = self.bindings.poof_core_crypto();
        Ok(c.keyring()
            .call_adopt(&mut self.store, sealed, transfer)
            .map_err(Self::trapped("keyring.adopt"))?
            .map(Handle))
    }

    /// The time, in nanoseconds, the guest's `kdf-probe` takes here (wall
    /// time, as a user waits for an unlock). The probe runs twice and the
    /// second is timed: the first grows the instance's memory, which an
    /// unlock pays once, not per pass.
    pub fn kdf_probe_nanos(&mut self) -> Crypto<u64> {
        let c = self.bindings.poof_core_crypto();
        let mut nanos = 0;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            if let Err(e) = c
                .keyring()
                .call_kdf_probe(&mut self.store)
                .map_err(Self::trapped("keyring.kdf-probe"))?
            {
                return Ok(Err(e));
            }
            nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        }
        Ok(Ok(nanos))
    }

    /// Wraps the keyring's master key with `passphrase`. The guest sets the
    /// new key's Argon2id passes from the time of its `kdf-probe` here
    /// (`kdf_probe_nanos`).
    pub fn keyring_wrap(
        &mut self,
        k: &Handle,
        passphrase: &[u8],
        entropy: &[u8],
    ) -> Crypto<Vec<u8>> {
        let probe_nanos = match self.kdf_probe_nanos()? {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        let c = self.bindings.poof_core_crypto();
        c.keyring()
            .call_wrap(&mut self.store, k.0, passphrase, entropy, probe_nanos)
            .map_err(Self::trapped("keyring.wrap"))
    }

    /// The keyring's key id, in hex.
    pub fn key_id(&mut self, k: &Handle) -> Result<String> {
        let c = self.bindings.poof_core_crypto();
        c.keyring()
            .call_key_id(&mut self.store, k.0)
            .map_err(Self::trapped("keyring.key-id"))
    }

    /// Encrypts a relative path.
    pub fn encrypt_path(&mut self, k: &Handle, path: &str) -> Crypto<String> {
        let c = self.bindings.poof_core_crypto();
        c.keyring()
            .call_encrypt_path(&mut self.store, k.0, path)
            .map_err(Self::trapped("keyring.encrypt-path"))
    }

    /// Decrypts an encrypted path.
    pub fn decrypt_path(&mut self, k: &Handle, encrypted: &str) -> Crypto<String> {
        let c = self.bindings.poof_core_crypto();
        c.keyring()
            .call_decrypt_path(&mut self.store, k.0, encrypted)
            .map_err(Self::trapped("keyring.decrypt-path"))
    }

    /// Starts sealing the file `path` of the cloud folder `cloud`.
    pub fn seal(
        &mut self,
        k: &Handle,
        cloud: &str,
        path: &str,
        stat: &crypto::FileStat,
        entropy: &[u8],
    ) -> Crypto<Handle> {
        let c = self.bindings.poof_core_crypto();
        Ok(c.keyring()
            .call_seal(&mut self.store, k.0, cloud, path, *stat, entropy)
            .map_err(Self::trapped("keyring.seal"))?
            .map(Handle))
    }

    /// Authenticates the header of the object of `cloud`'s file `path`.
    pub fn open(&mut self, k: &Handle, cloud: &str, path: &str, header: &[u8]) -> Crypto<Handle> {
        let c = self.bindings.poof_core_crypto();
        Ok(c.keyring()
            .call_open(&mut self.store, k.0, cloud, path, header)
            .map_err(Self::trapped("keyring.open"))?
            .map(Handle))
    }

    /// Seals a small blob for `context`.
    pub fn seal_blob(
        &mut self,
        k: &Handle,
        context: &str,
        plaintext: &[u8],
        entropy: &[u8],
    ) -> Crypto<Vec<u8>> {
        let c = self.bindings.poof_core_crypto();
        c.keyring()
            .call_seal_blob(&mut self.store, k.0, context, plaintext, entropy)
            .map_err(Self::trapped("keyring.seal-blob"))
    }

    /// Opens a blob sealed for `context`.
    pub fn open_blob(&mut self, k: &Handle, context: &str, sealed: &[u8]) -> Crypto<Vec<u8>> {
        let c = self.bindings.poof_core_crypto();
        c.keyring()
            .call_open_blob(&mut self.store, k.0, context, sealed)
            .map_err(Self::trapped("keyring.open-blob"))
    }

    /// A sealer's object id.
    pub fn sealer_object_id(&mut self, s: &Handle) -> Result<String> {
        let c = self.bindings.poof_core_crypto();
        c.sealer()
            .call_object_id(&mut self.store, s.0)
            .map_err(Self::trapped("sealer.object-id"))
    }

    /// The header of an object whose last segment was sealed, refused when
    /// `expected` is given and the content sealed has another SHA-256.
    pub fn sealer_finish(&mut self, s: &Handle, expected: Option<&[u8]>) -> Crypto<Vec<u8>> {
        let c = self.bindings.poof_core_crypto();
        c.sealer()
            .call_finish(&mut self.store, s.0, expected)
            .map_err(Self::trapped("sealer.finish"))
    }

    /// Seals the next segment.
    pub fn seal_segment(&mut self, s: &Handle, plaintext: &[u8], last: bool) -> Crypto<Vec<u8>> {
        let c = self.bindings.poof_core_crypto();
        c.sealer()
            .call_seal_segment(&mut self.store, s.0, plaintext, last)
            .map_err(Self::trapped("sealer.seal-segment"))
    }

    /// An opener's metadata and object id.
    pub fn opener_meta(&mut self, o: &Handle) -> Result<(crypto::FileMeta, String)> {
        let c = self.bindings.poof_core_crypto();
        let meta = c
            .opener()
            .call_meta(&mut self.store, o.0)
            .map_err(Self::trapped("opener.meta"))?;
        let id = c
            .opener()
            .call_object_id(&mut self.store, o.0)
            .map_err(Self::trapped("opener.object-id"))?;
        Ok((meta, id))
    }

    /// Opens the next segment.
    pub fn open_segment(&mut self, o: &Handle, sealed: &[u8], last: bool) -> Crypto<Vec<u8>> {
        let c = self.bindings.poof_core_crypto();
        c.opener()
            .call_open_segment(&mut self.store, o.0, sealed, last)
            .map_err(Self::trapped("opener.open-segment"))
    }

    /// How many segments an opened object holds.
    pub fn opener_segments(&mut self, o: &Handle) -> Result<u64> {
        let c = self.bindings.poof_core_crypto();
        c.opener()
            .call_segments(&mut self.store, o.0)
            .map_err(Self::trapped("opener.segments"))
    }

    /// Asks the guest to accept an opened object's plaintext.
    pub fn opener_finish(&mut self, o: &Handle, sha256: &[u8], written: u64) -> Crypto<()> {
        let c = self.bindings.poof_core_crypto();
        c.opener()
            .call_finish(&mut self.store, o.0, sha256, written)
            .map_err(Self::trapped("opener.finish"))
    }

    /// Gives a keyring, sealer or opener back to the guest, which wipes it.
    pub fn drop_handle(&mut self, h: Handle) -> Result<()> {
        h.0.resource_drop(&mut self.store)
            .map_err(Self::trapped("resource drop"))
    }
}
