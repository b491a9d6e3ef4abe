//! Calls into the guest's `legacy` interface (wit/legacy.wit): the keys of
//! an rclone crypt section, its names, its listings and its block readers.
//! Each method converts nothing and decides nothing; it calls the guest and
//! names the call when it traps.

use anyhow::Result;

use super::{Crypto, Handle, Instance, legacy};

impl Instance {
    /// Reveals a crypt section's passwords and derives its keys, inside this
    /// instance.
    pub fn legacy_open(&mut self, section: &legacy::CryptSection) -> Crypto<Handle> {
        let l = self.bindings.poof_core_legacy();
        Ok(l.crypt_key()
            .call_open(&mut self.store, section)
            .map_err(Self::trapped("crypt-key.open"))?
            .map(Handle))
    }

    /// The stored form of a cloud folder's path: its objects' prefix.
    pub fn legacy_encrypt_path(&mut self, k: &Handle, path: &str) -> Crypto<String> {
        let l = self.bindings.poof_core_legacy();
        l.crypt_key()
            .call_encrypt_path(&mut self.store, k.0, path)
            .map_err(Self::trapped("crypt-key.encrypt-path"))
    }

    /// The plaintext path of an object's key below its cloud folder's prefix.
    pub fn legacy_decrypt_path(&mut self, k: &Handle, key: &str) -> Crypto<String> {
        let l = self.bindings.poof_core_legacy();
        l.crypt_key()
            .call_decrypt_path(&mut self.store, k.0, key)
            .map_err(Self::trapped("crypt-key.decrypt-path"))
    }

    /// What a listing below a cloud folder's prefix holds: its files and
    /// the objects left out, with the reasons.
    pub fn legacy_read_listing(
        &mut self,
        k: &Handle,
        objects: &[legacy::Stored],
    ) -> Result<legacy::Listing> {
        let l = self.bindings.poof_core_legacy();
        l.crypt_key()
            .call_read_listing(&mut self.store, k.0, objects)
            .map_err(Self::trapped("crypt-key.read-listing"))
    }

    /// How the section's objects are laid out (header and block sizes).
    pub fn legacy_data_layout(&mut self, k: &Handle) -> Result<legacy::DataLayout> {
        let l = self.bindings.poof_core_legacy();
        l.crypt_key()
            .call_data_layout(&mut self.store, k.0)
            .map_err(Self::trapped("crypt-key.data-layout"))
    }

    /// Starts reading an object of `stored_size` bytes from its header.
    pub fn legacy_reader(&mut self, k: &Handle, header: &[u8], stored_size: u64) -> Crypto<Handle> {
        let l = self.bindings.poof_core_legacy();
        Ok(l.crypt_key()
            .call_reader(&mut self.store, k.0, header, stored_size)
            .map_err(Self::trapped("crypt-key.reader"))?
            .map(Handle))
    }

    /// Opens the next stored block of a reader.
    pub fn legacy_open_block(&mut self, r: &Handle, stored: &[u8], last: bool) -> Crypto<Vec<u8>> {
        let l = self.bindings.poof_core_legacy();
        l.block_reader()
            .call_open_block(&mut self.store, r.0, stored, last)
            .map_err(Self::trapped("block-reader.open-block"))
    }

    /// Asks the guest to accept a read object once `written` bytes were written.
    pub fn legacy_finish(&mut self, r: &Handle, written: u64) -> Crypto<()> {
        let l = self.bindings.poof_core_legacy();
        l.block_reader()
            .call_finish(&mut self.store, r.0, written)
            .map_err(Self::trapped("block-reader.finish"))
    }
}

#[cfg(test)]
mod tests {
    //! Through the real guest: a crypt section opened from its obscured
    //! passwords, and rclone's published names and objects read back.

    use super::*;
    use crate::engine::{GuestError, test_guest};

    /// rclone's obscured empty password (fs/config/obscure's test vector):
    /// rclone derives all-zero keys from it, the keys of its own test suite.
    const EMPTY: &str = "YWFhYWFhYWFhYWFhYWFhYQ";

    fn section(password: &str, password2: Option<&str>) -> legacy::CryptSection {
        legacy::CryptSection {
            name: "secret".into(),
            password: Some(password.into()),
            password2: password2.map(str::to_string),
            filename_encryption: None,
            directory_name_encryption: None,
            filename_encoding: None,
            suffix: None,
            no_data_encryption: None,
        }
    }

    fn ok<T>(r: Crypto<T>) -> Result<T> {
        r?.map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    #[test]
    fn a_known_name_and_object_decrypt_in_the_guest() -> Result<()> {
        let mut inst = test_guest().instantiate()?;
        let k = ok(inst.legacy_open(&section(EMPTY, None)))?;
        // rclone's cipher_test.go: `1/12/123` with the all-zero keys.
        let stored =
            "p0e52nreeaj0a5ea7s64m4j72s/l42g6771hnv3an9cgc8cr2n1ng/qgm4avr35m5loi1th53ato71v0";
        assert_eq!(ok(inst.legacy_decrypt_path(&k, stored))?, "1/12/123");
        assert_eq!(ok(inst.legacy_encrypt_path(&k, "1/12/123"))?, stored);
        // rclone's `file1`: one byte, 1, with the nonce 1, 2, ..., 24.
        let mut object = b"RCLONE\0\0".to_vec();
        object.extend(1..=24u8);
        object.extend(hex::decode("095b446cd6237bbcb08d09fb524ce565aa")?);
        let layout = inst.legacy_data_layout(&k)?;
        assert_eq!((layout.header_size, layout.block_size), (32, 65552));
        let r = ok(inst.legacy_reader(&k, &object[..32], object.len() as u64))?;
        assert_eq!(ok(inst.legacy_open_block(&r, &object[32..], true))?, [1]);
        ok(inst.legacy_finish(&r, 1))?;
        let listing = inst.legacy_read_listing(
            &k,
            &[legacy::Stored {
                key: stored.into(),
                size: object.len() as u64,
            }],
        )?;
        assert_eq!(listing.files.len(), 1);
        assert_eq!(
            (listing.files[0].path.as_str(), listing.files[0].size),
            ("1/12/123", 1)
        );
        inst.drop_handle(r)?;
        inst.drop_handle(k)?;
        Ok(())
    }

    #[test]
    fn real_passwords_derive_keys_and_a_placeholder_is_refused() -> Result<()> {
        let mut inst = test_guest().instantiate()?;
        // Obscured `potato` and `sausage` (rclone's obscure vector and the
        // same rule): scrypt runs in the guest; its names round-trip and
        // differ from the zero keys'.
        let potato = "YWFhYWFhYWFhYWFhYWFhYXMaGgIlEQ";
        let k = ok(inst.legacy_open(&section(potato, Some("YmJiYmJiYmJiYmJiYmJiYp7ucVeOCyU"))))?;
        let stored = ok(inst.legacy_encrypt_path(&k, "1"))?;
        assert_ne!(stored, "p0e52nreeaj0a5ea7s64m4j72s");
        assert_eq!(ok(inst.legacy_decrypt_path(&k, &stored))?, "1");
        match inst.legacy_open(&section("BOGUS-PASSWORD", None))? {
            Err(GuestError::InvalidInput(m)) => assert!(m.contains("placeholder"), "{m}"),
            other => panic!("{other:?}"),
        }
        Ok(())
    }
}
