//! The `legacy` interface: conversions between WIT types and `crate::legacy`.
//!
//! Invariant: no cryptography and no decision happens here. Each function
//! converts its arguments, calls the plain-Rust module, and converts the
//! answer; the resources wrap the module's `CryptKey` and `BlockReader`, so
//! the revealed passwords and derived keys stay in this instance's memory
//! and are wiped when the host drops its handle.

use std::cell::RefCell;

use super::exports::poof::core::legacy;
use super::poof::core::types::Error;
use crate::legacy as core;

/// The guest side of the `crypt-key` resource.
pub struct CryptKey(core::CryptKey);

/// The guest side of the `block-reader` resource; WIT methods take `&self`.
pub struct BlockReader(RefCell<core::BlockReader>);

impl legacy::Guest for super::Guest {
    type CryptKey = CryptKey;
    type BlockReader = BlockReader;
}

impl legacy::GuestCryptKey for CryptKey {
    fn open(section: legacy::CryptSection) -> Result<legacy::CryptKey, Error> {
        let section = core::Section {
            name: section.name,
            password: section.password,
            password2: section.password2,
            filename_encryption: section.filename_encryption,
            directory_name_encryption: section.directory_name_encryption,
            filename_encoding: section.filename_encoding,
            suffix: section.suffix,
            no_data_encryption: section.no_data_encryption,
        };
        Ok(legacy::CryptKey::new(CryptKey(core::CryptKey::open(
            &section,
        )?)))
    }

    fn encrypt_path(&self, path: String) -> Result<String, Error> {
        Ok(self.0.encrypt_dir_path(&path)?)
    }

    fn decrypt_path(&self, key: String) -> Result<String, Error> {
        Ok(self.0.decrypt_file_path(&key)?)
    }

    fn read_listing(&self, objects: Vec<legacy::Stored>) -> legacy::Listing {
        let objects: Vec<core::Stored> = objects
            .into_iter()
            .map(|o| core::Stored {
                key: o.key,
                size: o.size,
            })
            .collect();
        let listing = self.0.read_listing(&objects);
        legacy::Listing {
            files: listing
                .files
                .into_iter()
                .map(|f| legacy::Found {
                    key: f.key,
                    path: f.path,
                    size: f.size,
                })
                .collect(),
            skipped: listing.skipped,
        }
    }

    fn data_layout(&self) -> legacy::DataLayout {
        let layout = self.0.layout();
        legacy::DataLayout {
            header_size: layout.header as u32,
            block_size: layout.block as u32,
        }
    }

    fn reader(&self, header: Vec<u8>, stored_size: u64) -> Result<legacy::BlockReader, Error> {
        let reader = self.0.reader(&header, stored_size)?;
        Ok(legacy::BlockReader::new(BlockReader(RefCell::new(reader))))
    }
}

impl legacy::GuestBlockReader for BlockReader {
    fn open_block(&self, stored: Vec<u8>, last: bool) -> Result<Vec<u8>, Error> {
        Ok(self.0.borrow_mut().open_block(stored, last)?)
    }

    fn finish(&self, written: u64) -> Result<(), Error> {
        Ok(self.0.borrow().finish(written)?)
    }
}
