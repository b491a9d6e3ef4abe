//! Turns the raw listing of an encrypted cloud folder into plain entries,
//! the same way on every remote.
//!
//! Invariant: every listed object is accounted for: it becomes an entry
//! (its name decrypted, its size from `plain-size`, its time and mode from
//! the sealed manifest where the manifest vouches for it, else from its
//! authenticated header), or a `skipped` line (a name that is no encrypted
//! name at all), or a `problem` naming it (tampered name or header, wrong
//! size, an object id the manifest does not record). Objects the manifest
//! records but the listing lacks are problems too, so that a download never
//! deletes local files on the word of a bucket someone pruned.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Result;

use super::{Crypt, Records, describe};
use crate::engine::GuestError;
use crate::engine::manifest::{Object as Listed, Stored};
use crate::engine::sync::Entry;
use crate::remote::RemoteListing;

/// How many headers are read at once.
const HEADER_THREADS: usize = 16;

/// One object as the store lists it.
#[derive(Debug, Clone)]
pub struct Raw {
    /// Its encrypted path, relative to the remote's root or prefix.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// The store's ETag, or the folder remote's stand-in for one.
    pub etag: String,
}

impl Crypt {
    /// The plain listing of `cloud` from its raw objects and its sealed
    /// manifest (`None` when there is none). `read_header` reads an
    /// object's first `header-size` bytes; `show` names an object in messages.
    pub fn list(
        &self,
        cloud: &str,
        raw: Vec<Raw>,
        manifest: Option<Vec<u8>>,
        read_header: impl Fn(&Raw) -> Result<Vec<u8>> + Sync,
        show: impl Fn(&str) -> String,
    ) -> Result<RemoteListing> {
        let mut listing = RemoteListing {
            exists: !raw.is_empty(),
            ..RemoteListing::default()
        };
        let prefix = format!("{cloud}/");
        let mut lease = self.lease()?;
        let mut objects: BTreeMap<String, (Raw, u64)> = BTreeMap::new();
        // Objects whose name decrypts but which fail a check: listed, so
        // that a download names them and fails, and a backup replaces them.
        let mut bad: BTreeMap<String, String> = BTreeMap::new();
        let mut names = Vec::new();
        for r in raw {
            let path = match lease.decrypt_path(&r.name)? {
                Ok(p) => p,
                Err(GuestError::InvalidInput(_)) => {
                    listing.skipped.push(format!(
                        "{} (not an encrypted name; left alone)",
                        show(&r.name)
                    ));
                    continue;
                }
                Err(e) => {
                    listing
                        .problems
                        .push(format!("{}: its name {}", show(&r.name), describe(&e)));
                    continue;
                }
            };
            let Some(rel) = path.strip_prefix(&prefix) else {
                listing.problems.push(format!(
                    "{}: it belongs to {path:?}, not to {cloud}; it was moved",
                    show(&r.name)
                ));
                continue;
            };
            let size = match lease.inst().plain_size(r.size)? {
                Ok(s) => s,
                Err(e) => {
                    bad.insert(
                        rel.to_string(),
                        format!("{} ({cloud}/{rel}): {}", show(&r.name), describe(&e)),
                    );
                    0
                }
            };
            names.push((rel.to_string(), r.name.clone()));
            objects.insert(rel.to_string(), (r, size));
        }

        let (bytes, manifest_problem) = match manifest {
            None => (Vec::new(), None),
            Some(sealed) => match lease.open_blob(&Self::manifest_context(cloud), &sealed) {
                Ok(b) => (b, None),
                Err(e) => (Vec::new(), Some(format!("{e:#}"))),
            },
        };
        if let Some(p) = manifest_problem {
            listing.problems.push(format!(
                "the manifest of {cloud} ({}) cannot be opened: {p}; it is rebuilt from the listing",
                show(&self.manifest_name_with(&mut lease, cloud)?)
            ));
        }
        let listed: Vec<Listed> = objects
            .iter()
            .map(|(rel, (r, size))| Listed {
                path: rel.clone(),
                size: *size,
                etag: r.etag.clone(),
            })
            .collect();
        let rec = lease.inst().manifest_reconcile(&bytes, &listed)?;
        if let Some(p) = &rec.problem {
            listing.skipped.push(format!(
                "the manifest of {cloud} ({p}); it is rebuilt from the listing"
            ));
        }
        drop(lease);

        let ids: BTreeMap<String, String> = rec.ids.into_iter().collect();
        for path in ids.keys() {
            if !objects.contains_key(path) {
                listing.problems.push(format!(
                    "{cloud}/{path}: the manifest records it but the remote does not hold it \
                     (deleted or renamed by someone else); nothing is deleted on its account"
                ));
            }
        }
        let mut files: BTreeMap<String, Stored> = BTreeMap::new();
        for s in rec.known {
            listing.entries.push(s.entry.clone());
            files.insert(s.entry.path.clone(), s);
        }
        let unknown: Vec<(String, &(Raw, u64))> = rec
            .unknown
            .iter()
            .filter(|p| !bad.contains_key(*p))
            .filter_map(|p| Some((p.clone(), objects.get(p)?)))
            .collect();
        let raws: Vec<&(Raw, u64)> = unknown.iter().map(|(_, o)| *o).collect();
        let headers = read_all(&raws, &read_header);
        let mut lease = self.lease()?;
        for ((rel, (r, size)), header) in unknown.into_iter().zip(headers) {
            let got = header.and_then(|h| lease.header_meta(&format!("{cloud}/{rel}"), &h));
            let (meta, id) = match got {
                Ok(m) => m,
                Err(e) => {
                    let why = format!("{} ({cloud}/{rel}): {e:#}", show(&r.name));
                    bad.insert(rel, why);
                    continue;
                }
            };
            if meta.size != *size {
                bad.insert(
                    rel.clone(),
                    format!(
                        "{} ({cloud}/{rel}): its header says {} bytes but the object holds {size}; \
                     it was truncated or extended",
                        show(&r.name),
                        meta.size
                    ),
                );
                continue;
            }
            if let Some(want) = ids.get(&rel)
                && *want != id
            {
                bad.insert(
                    rel.clone(),
                    format!(
                        "{} ({cloud}/{rel}): its object id is not the one the manifest records: an \
                     older version was put back (replayed), or the manifest is stale",
                        show(&r.name)
                    ),
                );
                continue;
            }
            let entry = Entry {
                path: rel.clone(),
                size: meta.size,
                mtime_ns: meta.mtime_ns,
                mode: meta.mode,
            };
            listing.entries.push(entry.clone());
            files.insert(
                rel,
                Stored {
                    entry,
                    etag: r.etag.clone(),
                    object_id: Some(id),
                },
            );
        }
        drop(lease);
        for (rel, why) in &bad {
            let known = files.contains_key(rel);
            if !known && let Some((_, size)) = objects.get(rel) {
                listing.entries.push(Entry {
                    path: rel.clone(),
                    size: *size,
                    mtime_ns: 0,
                    mode: None,
                });
            }
            listing.skipped.push(format!("{why} (it is not restored)"));
        }
        listing.entries.sort_by(|a, b| a.path.cmp(&b.path));

        let mut expected: std::collections::HashMap<String, String> = ids.into_iter().collect();
        for (p, s) in &files {
            if let Some(id) = &s.object_id {
                expected.entry(p.clone()).or_insert_with(|| id.clone());
            }
        }
        // A listing that found anything amiss never rewrites the manifest:
        // its records are what the next run checks the bucket against.
        let dirty = !rec.exact && listing.problems.is_empty() && bad.is_empty();
        let cloud_name = self.with_records(cloud, |r| r.cloud.clone());
        self.with_records(cloud, |r| {
            *r = Records {
                files,
                bad,
                ids: expected,
                names: names.into_iter().collect(),
                cloud: cloud_name,
                dirty,
            }
        });
        Ok(listing)
    }

    fn manifest_name_with(&self, lease: &mut super::Lease<'_>, cloud: &str) -> Result<String> {
        if let Some(c) = self.with_records(cloud, |r| r.cloud.clone()) {
            return Ok(format!("{}/{c}.bin", super::MANIFEST_DIR));
        }
        Ok(format!(
            "{}/{}.bin",
            super::MANIFEST_DIR,
            lease.encrypt_path(cloud)?
        ))
    }
}

/// Reads the headers of `objects`, `HEADER_THREADS` at a time, in order.
fn read_all(
    objects: &[&(Raw, u64)],
    read_header: &(impl Fn(&Raw) -> Result<Vec<u8>> + Sync),
) -> Vec<Result<Vec<u8>>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Vec<u8>>)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..HEADER_THREADS.min(objects.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((r, _)) = objects.get(i) else { return };
                    let h = read_header(r);
                    results.lock().expect("no panics while locked").push((i, h));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("no panics while locked");
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
