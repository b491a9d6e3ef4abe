//! A sealed session's listing: encrypted names decrypted, sizes from the
//! objects' lengths, metadata from the sealed manifest where it vouches for
//! an object, else from its authenticated header (read by the host).
//!
//! Invariant: an object the manifest records but the store lacks is a
//! problem; an object whose name, size or manifest record fails a check is
//! refused for a restore, never guessed.
use std::collections::BTreeMap;

use super::{Files, Given, Obj, Result, Session, SessionError, words};
use crate::crypto::CryptoError;
use crate::crypto::keyring::Keyring;
use crate::crypto::stream;
use crate::manifest::{self, Object};

impl Session {
    pub(super) fn ingest_sealed(
        &mut self,
        k: &Keyring,
        objects_listed: usize,
        objects: impl Iterator<Item = Obj>,
        manifest: Option<Given>,
    ) -> Result<Vec<String>> {
        let cloud = self.cloud.clone();
        let prefix = format!("{cloud}/");
        let mut present: BTreeMap<String, (Obj, u64)> = BTreeMap::new();
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
            self.names.insert(rel.clone(), o.key.to_string());
            present.insert(rel, (o, size));
        }
        let key = self.manifest_key.clone().unwrap_or_default();
        let listed = || {
            present.iter().map(|(rel, (o, size))| Object {
                path: rel,
                size: *size,
                etag: &o.etag,
            })
        };
        let (read, sha, unreadable) = match manifest {
            None => (manifest::Decoded::default(), None, None),
            Some(g) => (g.decoded, g.sha256, g.unopened),
        };
        let mut r = manifest::reconcile(read, listed());
        let unreadable = unreadable.or(r.problem.take());
        let found = r.generation.unwrap_or_default();
        let stale = self.stale(unreadable, r.generation, objects_listed);
        if let Some(why) = stale {
            let what = format!("the manifest of {cloud} ({})", self.show(&key));
            if !self.trust_remote {
                return Err(SessionError::Refused(format!(
                    "{what} {why}. Nothing was restored, deleted or rewritten in {cloud}. \
                     If you know why (an old copy of the bucket was restored on purpose, or this \
                     machine is new to the remote), run again with --trust-remote to accept what \
                     the remote holds as it is"
                )));
            }
            self.listing.skipped.push(format!(
                "{what} {why}; --trust-remote: the remote's word is trusted, the objects are \
                 read one by one and a new manifest is written"
            ));
            r = manifest::reconcile(manifest::Decoded::default(), listed());
        } else {
            self.remember = Some(super::Freshness {
                generation: found,
                manifest_sha256: sha.unwrap_or_default(),
            });
        }
        let remembered = self.memory.as_ref().map_or(0, |m| m.generation);
        self.generation = remembered.max(found);
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
        let unknown: Vec<(String, Obj, u64)> = r
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
        // The listed objects the manifest vouched for are done with: their
        // memory goes before the records are spread into entries and files.
        drop(present);
        // They are listed from the records (`finish_listing`).
        self.files = Files::confirmed(r.known);
        Ok(self.wait_for(unknown))
    }
}

impl Session {
    /// Why the sealed manifest must not be trusted, if it must not: it is
    /// `unreadable`, missing where this machine remembers one (or where
    /// objects are stored and this machine remembers nothing), or older than
    /// the generation remembered. `generation` is the manifest's, when it
    /// was read.
    fn stale(
        &self,
        unreadable: Option<String>,
        generation: Option<u64>,
        objects: usize,
    ) -> Option<String> {
        if let Some(why) = unreadable {
            return Some(why);
        }
        let memory = self.memory.as_ref();
        match (generation, memory) {
            (Some(g), Some(m)) if g < m.generation => Some(format!(
                "is generation {g}, older than generation {} which this machine wrote or \
                 accepted: an older copy was put back (a rollback)",
                m.generation
            )),
            (Some(_), _) => None,
            (None, Some(m)) if m.generation > 0 || !m.manifest_sha256.is_empty() => Some(format!(
                "is missing, but this machine wrote or accepted generation {} of it: it was \
                 deleted",
                m.generation
            )),
            (None, None) if objects > 0 => Some(format!(
                "is missing while {objects} objects are stored, and this machine has no memory \
                 of the folder: poof cannot tell a deleted manifest from a first backup that \
                 was interrupted elsewhere"
            )),
            (None, _) => None,
        }
    }
}
