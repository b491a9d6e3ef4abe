//! A plain session's listing: objects under `CLOUD/`, their metadata from
//! the store's listing, the manifest (where it vouches for them) or a read.
//!
//! Invariant: every listed object becomes an entry, a problem, a skipped
//! line (an unusable path; a file where the store also holds a folder of
//! that name: the folder wins), or a key the host must read.
use std::collections::BTreeSet;

use super::{Listed, Result, Session, SessionError};
use crate::manifest::{self, Object};
use crate::paths;
use crate::plan::Entry;

impl Session {
    pub(super) fn ingest_plain(
        &mut self,
        objects: Vec<Listed>,
        manifest: Option<Vec<u8>>,
    ) -> Result<Vec<String>> {
        if self.downgrade {
            return Err(SessionError::Refused(format!(
                "{} holds poof's encryption key (.poof/key): its backups are encrypted, but this \
                 config uses the plain layout, and a plain backup would put your files in the \
                 clear beside them. Add \"encrypted\": true to poof.conf (`poof cryptoggle` does \
                 it) and run again. If plain copies beside the encrypted ones are what you want, \
                 run `poof cryptoggle` twice: switching back to plain records that choice in the \
                 remote (.poof/plain)",
                self.show_root
            )));
        }
        let mut files = Vec::new();
        for o in objects {
            let Some(rel) = o.key.strip_prefix(&self.prefix).map(str::to_string) else {
                return Err(SessionError::InvalidInput(format!(
                    "{} is not under {}",
                    o.key, self.prefix
                )));
            };
            if let Err(why) = paths::check(&rel) {
                self.listing
                    .skipped
                    .push(format!("{} (not a usable path: {why})", self.show(&o.key)));
                continue;
            }
            files.push((rel, o));
        }
        // An object store can hold both `a` and `a/b`; a file system
        // cannot. The folder wins.
        let mut folders = BTreeSet::new();
        for (rel, _) in &files {
            for parent in paths::ancestors(rel) {
                folders.insert(parent.to_string());
            }
        }
        let mut unknown = Vec::new();
        for (rel, o) in files {
            if folders.contains(&rel) {
                self.listing.skipped.push(format!(
                    "{} (both a file and a folder in the bucket; the folder's files are used)",
                    self.show(&o.key)
                ));
                continue;
            }
            self.names.insert(rel.clone(), o.key.clone());
            match &o.entry {
                Some(Ok(e)) => self.listing.entries.push(Entry {
                    path: rel,
                    ..e.clone()
                }),
                Some(Err(why)) => self.listing.problems.push(why.clone()),
                None => unknown.push((rel, o)),
            }
        }
        let Some(key) = self.manifest_key.clone() else {
            // No manifest: whatever lacks metadata is read.
            let unknown = unknown.into_iter().map(|(r, o)| {
                let size = o.size;
                (r, o, size)
            });
            return Ok(self.wait_for(unknown.collect()));
        };
        let listed: Vec<Object> = unknown
            .iter()
            .map(|(rel, o)| Object {
                path: rel.clone(),
                size: o.size,
                etag: o.etag.clone(),
            })
            .collect();
        let r = manifest::reconcile(&manifest.unwrap_or_default(), &listed);
        if let Some(problem) = &r.problem {
            self.listing.skipped.push(format!(
                "the manifest {} ({problem}); it is rebuilt from the listing",
                self.show(&key)
            ));
        }
        self.exact = r.exact;
        self.dirty = !r.exact;
        for s in r.known {
            self.listing.entries.push(s.entry.clone());
            self.files.insert(s.entry.path.clone(), s);
        }
        let want: BTreeSet<String> = r.unknown.into_iter().collect();
        let unknown = unknown
            .into_iter()
            .filter(|(rel, _)| want.contains(rel))
            .map(|(r, o)| {
                let size = o.size;
                (r, o, size)
            })
            .collect();
        Ok(self.wait_for(unknown))
    }
}
