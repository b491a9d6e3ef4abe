//! A plain session's listing: objects under `CLOUD/`, their metadata from
//! the store's listing, the manifest (where it vouches for them) or a read.
//!
//! Invariant: every listed object becomes an entry, a problem, a skipped
//! line (an unusable path; a file where the store also holds a folder of
//! that name: the folder wins), or a key the host must read.
use std::collections::BTreeSet;

use super::{Files, Given, Obj, Result, Session, SessionError};
use crate::manifest::{self, Object};
use crate::paths;
use crate::plan::Entry;

impl Session {
    pub(super) fn ingest_plain(
        &mut self,
        mut parts: Vec<Vec<Obj>>,
        manifest: Option<Given>,
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
        // The listing is worked on in place, part by part: a key's path is
        // the key past the prefix, borrowed, never copied, until the
        // objects left to read are known.
        let n = self.prefix.len();
        let (root, prefix) = (&self.show_root, &self.prefix);
        let (skipped, entries, problems) = (
            &mut self.listing.skipped,
            &mut self.listing.entries,
            &mut self.listing.problems,
        );
        for part in &mut parts {
            if let Some(o) = part.iter().find(|o| !o.key.starts_with(prefix.as_str())) {
                return Err(SessionError::InvalidInput(format!(
                    "{} is not under {prefix}",
                    o.key
                )));
            }
            part.retain(|o| match paths::check(&o.key[n..]) {
                Ok(()) => true,
                Err(why) => {
                    skipped.push(format!("{root}{} (not a usable path: {why})", o.key));
                    false
                }
            });
        }
        // An object store can hold both `a` and `a/b`; a file system
        // cannot. The folder wins.
        let mut folders = BTreeSet::new();
        for o in parts.iter().flatten() {
            for parent in paths::ancestors(&o.key[n..]) {
                folders.insert(parent.to_string());
            }
        }
        // What the listing says itself goes to the entries (or problems);
        // what it does not say stays, to be vouched for or read.
        for part in &mut parts {
            part.retain(|o| {
                let rel = &o.key[n..];
                if folders.contains(rel) {
                    skipped.push(format!(
                        "{root}{} (both a file and a folder in the bucket; the folder's files \
                         are used)",
                        o.key
                    ));
                    return false;
                }
                match o.entry.as_deref() {
                    Some(Ok(e)) => {
                        entries.push(Entry {
                            path: rel.to_string(),
                            ..e.clone()
                        });
                        false
                    }
                    Some(Err(why)) => {
                        problems.push(why.clone());
                        false
                    }
                    None => true,
                }
            });
        }
        drop(folders);
        let Some(key) = self.manifest_key.clone() else {
            // No manifest: whatever lacks metadata is read.
            let unknown = to_read(parts, n, |_| true);
            return Ok(self.wait_for(unknown));
        };
        let listed = parts.iter().flatten().map(|o| Object {
            path: &o.key[n..],
            size: o.size,
            etag: &o.etag,
        });
        let read = manifest.map(|g| g.decoded).unwrap_or_default();
        let r = manifest::reconcile(read, listed);
        if let Some(problem) = &r.problem {
            self.listing.skipped.push(format!(
                "the manifest {} ({problem}); it is rebuilt from the listing",
                self.show(&key)
            ));
        }
        self.exact = r.exact;
        self.dirty = !r.exact;
        let want: BTreeSet<String> = r.unknown.into_iter().collect();
        // The listed objects the manifest vouched for are done with: their
        // memory goes before the records are spread into entries and files.
        let unknown = to_read(parts, n, |rel| want.contains(rel));
        drop(want);
        // They are listed from the records (`finish_listing`).
        self.files = Files::confirmed(r.known);
        Ok(self.wait_for(unknown))
    }
}

/// The objects of `parts` (keys `n` bytes of prefix long) whose path
/// `wanted` selects, as `wait_for` takes them; each part's memory goes as
/// soon as it has been gone through.
fn to_read(
    parts: Vec<Vec<Obj>>,
    n: usize,
    wanted: impl Fn(&str) -> bool,
) -> Vec<(String, Obj, u64)> {
    parts
        .into_iter()
        .flatten()
        .filter(|o| wanted(&o.key[n..]))
        .map(|o| {
            let (rel, size) = (o.key[n..].to_string(), o.size);
            (rel, o, size)
        })
        .collect()
}
