//! A sealed session's listing: encrypted names decrypted, sizes from the
//! objects' lengths, metadata from the sealed manifest where it vouches for
//! an object, else from its authenticated header (read by the host).
//!
//! Invariant: an object the manifest records but the store lacks is a
//! problem; an object whose name, size or manifest record fails a check is
//! refused for a restore, never guessed.
use std::collections::BTreeMap;

use super::{Listed, Result, Session, manifest_context, words};
use crate::crypto::CryptoError;
use crate::crypto::keyring::Keyring;
use crate::crypto::stream;
use crate::manifest::{self, Object};

impl Session {
    pub(super) fn ingest_sealed(
        &mut self,
        k: &Keyring,
        objects: Vec<Listed>,
        manifest: Option<Vec<u8>>,
    ) -> Result<Vec<String>> {
        let cloud = self.cloud.clone();
        let prefix = format!("{cloud}/");
        let mut present: BTreeMap<String, (Listed, u64)> = BTreeMap::new();
        for o in objects {
            let path = match k.decrypt_path(&o.key) {
                Ok(p) => p,
                Err(CryptoError::InvalidInput(_)) => {
                    self.listing.skipped.push(format!(
                        "{} (not an encrypted name; left alone)",
                        self.show(&o.key)
                    ));
                    continue;
                }
                Err(e) => {
                    self.listing.problems.push(format!(
                        "{}: its name {}",
                        self.show(&o.key),
                        words(&e)
                    ));
                    continue;
                }
            };
            let Some(rel) = path.strip_prefix(&prefix).map(str::to_string) else {
                self.listing.problems.push(format!(
                    "{}: it belongs to {path:?}, not to {cloud}; it was moved",
                    self.show(&o.key)
                ));
                continue;
            };
            let size = match stream::plain_size(o.size) {
                Ok(s) => s,
                Err(e) => {
                    self.bad.insert(
                        rel.clone(),
                        format!("{} ({cloud}/{rel}): {}", self.show(&o.key), words(&e)),
                    );
                    0
                }
            };
            self.names.insert(rel.clone(), o.key.clone());
            present.insert(rel, (o, size));
        }
        let key = self.manifest_key.clone().unwrap_or_default();
        let bytes = match manifest {
            None => Vec::new(),
            Some(sealed) => match k.open_blob(&manifest_context(&cloud), sealed) {
                Ok(b) => b,
                Err(e) => {
                    self.listing.problems.push(format!(
                        "the manifest of {cloud} ({}) cannot be opened: {}; it is rebuilt from the listing",
                        self.show(&key),
                        words(&e)
                    ));
                    Vec::new()
                }
            },
        };
        let listed: Vec<Object> = present
            .iter()
            .map(|(rel, (o, size))| Object {
                path: rel.clone(),
                size: *size,
                etag: o.etag.clone(),
            })
            .collect();
        let r = manifest::reconcile(&bytes, &listed);
        if let Some(p) = &r.problem {
            self.listing.skipped.push(format!(
                "the manifest of {cloud} ({p}); it is rebuilt from the listing"
            ));
        }
        self.exact = r.exact;
        self.ids = r.ids.into_iter().collect();
        for path in self.ids.keys() {
            if !present.contains_key(path) {
                self.listing.problems.push(format!(
                    "{cloud}/{path}: the manifest records it but the remote does not hold it \
                     (deleted or renamed by someone else); nothing is deleted on its account"
                ));
            }
        }
        for s in r.known {
            self.listing.entries.push(s.entry.clone());
            self.files.insert(s.entry.path.clone(), s);
        }
        let unknown: Vec<(String, Listed, u64)> = r
            .unknown
            .into_iter()
            .filter(|p| !self.bad.contains_key(p))
            .filter_map(|p| present.remove(&p).map(|(o, size)| (p, o, size)))
            .collect();
        // Refused objects keep their plain size (0 when unknown) for `finish_listing`.
        for (rel, (_, size)) in &present {
            if self.bad.contains_key(rel) {
                self.bad_sizes.insert(rel.clone(), *size);
            }
        }
        Ok(self.wait_for(unknown))
    }
}
