//! The host's side of a remote's guest sessions (wit/session.wit): one
//! guest instance, one session per cloud folder, behind one lock.
//!
//! The session decides; this file only carries facts to it (the store's
//! listing, the manifest's bytes, what it asked to be read) and its answers
//! back. Invariant: every listing starts a fresh session, so nothing a
//! session concluded from an earlier listing outlives the next one.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Mutex;

use anyhow::{Result, anyhow};

use super::freshness::Memory;
use crate::crypt::describe;
use crate::engine::session::{Listed, Read};
use crate::engine::sync::{Direction, Entry, Filter, Plan, PlanInput};
use crate::engine::{Crypto, GuestError, Handle, Instance};
use crate::exit::Refused;
use crate::remote::RemoteListing;
use crate::store::{ObjectInfo, Store};
use crate::walk::Local;

/// Which kind of session a remote opens.
enum Kind {
    Plain {
        lists_metadata: bool,
        beside: Beside,
    },
    /// Sealed, with the unlocked keyring held in the sessions' instance,
    /// and what this machine remembers of the folders' manifests.
    Sealed { key: Handle, memory: Memory },
}

struct Inner {
    inst: Instance,
    by_cloud: HashMap<String, Handle>,
}

/// What a plain remote's store holds beside the plain folders: the facts
/// the guest weighs before a plain layout may be used there.
#[derive(Debug, Clone, Copy, Default)]
pub struct Beside {
    /// The store holds poof's key (`.poof/key`).
    pub key_stored: bool,
    /// Its owner chose plain copies beside it (`.poof/plain`).
    pub plain_chosen: bool,
}

/// The sessions of one remote.
pub struct Sessions {
    kind: Kind,
    show_root: String,
    inner: Mutex<Inner>,
}

/// The guest's refusal, in words.
pub fn refusal(e: GuestError) -> anyhow::Error {
    anyhow!(describe(&e))
}

impl Sessions {
    /// Plain sessions in `inst`, for a store that does (or does not) list
    /// metadata, holding `beside` beside its plain folders.
    pub fn plain(inst: Instance, store: &dyn Store, beside: Beside) -> Self {
        Sessions {
            kind: Kind::Plain {
                lists_metadata: store.lists_metadata(),
                beside,
            },
            show_root: store.show(""),
            inner: Mutex::new(Inner {
                inst,
                by_cloud: HashMap::new(),
            }),
        }
    }

    /// Sealed sessions in `inst`, whose keyring `key` is unlocked, given
    /// what this machine remembers of the folders' manifests.
    pub fn sealed(inst: Instance, key: Handle, store: &dyn Store, memory: Memory) -> Self {
        Sessions {
            kind: Kind::Sealed { key, memory },
            show_root: store.show(""),
            inner: Mutex::new(Inner {
                inst,
                by_cloud: HashMap::new(),
            }),
        }
    }

    fn open(&self, inner: &mut Inner, cloud: &str) -> Result<Handle> {
        let made = match &self.kind {
            Kind::Plain {
                lists_metadata,
                beside,
            } => inner.inst.session_plain(
                cloud,
                *lists_metadata,
                &self.show_root,
                beside.key_stored,
                beside.plain_chosen,
            )?,
            Kind::Sealed { key, memory } => inner.inst.session_sealed(
                cloud,
                key,
                &self.show_root,
                memory.get(cloud).as_ref(),
                memory.trust_remote,
            )?,
        };
        made.map_err(refusal)
    }

    /// Runs `f` on the session of `cloud`, opening it first if needed.
    pub fn with<T>(
        &self,
        cloud: &str,
        f: impl FnOnce(&mut Instance, &Handle) -> Result<T>,
    ) -> Result<T> {
        let mut inner = self
            .inner
            .lock()
            .expect("no panics while a session is used");
        if !inner.by_cloud.contains_key(cloud) {
            let h = self.open(&mut inner, cloud)?;
            inner.by_cloud.insert(cloud.to_string(), h);
        }
        let Inner { inst, by_cloud } = &mut *inner;
        f(inst, &by_cloud[cloud])
    }

    /// Starts a fresh session for `cloud`, ending the one before.
    fn fresh(&self, cloud: &str) -> Result<()> {
        let mut inner = self
            .inner
            .lock()
            .expect("no panics while a session is used");
        let h = self.open(&mut inner, cloud)?;
        if let Some(old) = inner.by_cloud.insert(cloud.to_string(), h) {
            inner.inst.drop_handle(old)?;
        }
        Ok(())
    }

    /// Lists `cloud`: the store's objects under the session's prefix go to
    /// the guest part by part as the store lists them (`to_listed` turns
    /// each object into what the session is given), then the manifest; the
    /// objects it asks about are read with `read` (several at once), and
    /// its conclusion comes back. `hints` go to the store's `list_each`
    /// (names under the session's prefix the keys are probably spread
    /// over; empty when none are known). With `keep` the entries stay in
    /// the session for `plan` and the listing returned has none.
    pub fn list(
        &self,
        store: &dyn Store,
        cloud: &str,
        hints: &[String],
        keep: bool,
        to_listed: impl Fn(ObjectInfo) -> Listed,
        read: impl Fn(&str) -> Read + Sync,
    ) -> Result<RemoteListing> {
        self.fresh(cloud)?;
        let (prefix, manifest_key) = self.with(cloud, |inst, h| {
            Ok((inst.session_prefix(h)?, inst.session_manifest_key(h)?))
        })?;
        // The manifest is read while the objects are listed and goes to the
        // guest as soon as it is read; each part of the listing goes to the
        // guest as it comes: the host never holds the whole listing, nor
        // the manifest beside it.
        let mut listed = 0usize;
        let mut refused = None;
        let (l, manifest) = std::thread::scope(|s| {
            let reading = manifest_key.as_deref().map(|k| {
                s.spawn(move || -> Result<bool> {
                    let Some(mut bytes) = super::read_reserved(store, k)? else {
                        return Ok(false);
                    };
                    // In parts from the front, this copy shrinking as the
                    // guest's grows: never both whole at once.
                    let total = bytes.len() as u64;
                    loop {
                        let n = bytes.len().min(MANIFEST_PART);
                        let part: Vec<u8> = bytes.drain(..n).collect();
                        bytes.shrink_to_fit();
                        self.with(cloud, |inst, h| {
                            inst.session_add_manifest(h, &part, total)?.map_err(refusal)
                        })?;
                        if bytes.is_empty() {
                            return Ok(true);
                        }
                    }
                })
            });
            let l = store.list_each(&prefix, hints, &mut |part| {
                listed += part.len();
                let objects: Vec<Listed> = part.into_iter().map(&to_listed).collect();
                let added = self.with(cloud, |inst, h| {
                    inst.session_add_objects(h, &objects)?.map_err(refusal)
                });
                match added {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        refused = Some(e);
                        ControlFlow::Break(())
                    }
                }
            });
            let manifest = reading.map(|r| r.join().expect("reading does not panic"));
            (l, manifest)
        });
        let l = l?;
        if let Some(e) = refused {
            return Err(e);
        }
        let manifest = match manifest {
            Some(m) => m.map_err(|e| e.context(format!("reading the manifest of {cloud}")))?,
            None => false,
        };
        let asked = self.with(cloud, |inst, h| {
            inst.session_ingest_listing(h, &[], None)?
                .map_err(|e| match e {
                    // A folder refused as a whole (a stale manifest) is a
                    // safety refusal: exit code 3.
                    GuestError::Refused(why) => Refused(why).into(),
                    e => refusal(e),
                })
        })?;
        log::trace!(
            target: "poof::listing",
            "{cloud}: {} objects listed, manifest {}, {} to read for their metadata ({} at once)",
            listed,
            if manifest { "read" } else { "absent" },
            asked.len(),
            crate::knobs::checkers()
        );
        let reads = crate::pool::map(&asked, crate::knobs::checkers(), |k| read(k));
        let listing = self.with(cloud, |inst, h| {
            for (key, r) in asked.iter().zip(&reads) {
                inst.session_ingest_read(h, key, r)?.map_err(refusal)?;
            }
            inst.session_finish_listing(h, keep)?.map_err(refusal)
        })?;
        self.remember(cloud)?;
        let mut problems = l.problems;
        problems.extend(listing.problems);
        let mut skipped = l.skipped;
        skipped.extend(listing.skipped);
        Ok(RemoteListing {
            exists: listing.exists,
            entries: listing.entries,
            problems,
            skipped,
        })
    }

    /// The plan for `cloud`, made by its session: from the entries its
    /// listing kept, when it kept them, and the local side given in parts
    /// (`LOCAL_PART` entries each): the walk's entries `local` made into
    /// entries a part at a time, after those `input` carries on that side
    /// (freed here once given). The walk is never one list of entries.
    pub fn plan(
        &self,
        cloud: &str,
        mut input: PlanInput,
        local: Local,
        filter: &Filter,
    ) -> Crypto<Plan> {
        let given = std::mem::take(match input.direction {
            Direction::Up => &mut input.source,
            Direction::Down => &mut input.target,
        });
        self.with(cloud, |inst, h| {
            let total = (given.len() + local.len()) as u64;
            let mut add = |part: Vec<Entry>| inst.session_add_local(h, &part, total);
            if let Err(refused) = in_parts(given, LOCAL_PART, &mut add)? {
                return Ok(Err(refused));
            }
            for part in local.parts(LOCAL_PART) {
                if let Err(refused) = add(part)? {
                    return Ok(Err(refused));
                }
            }
            drop(local);
            crate::alloc::give_back_freed();
            inst.session_plan(h, &input, filter)
        })
    }

    /// The key of the object of `cloud/path`.
    pub fn object_key(&self, cloud: &str, path: &str) -> Result<String> {
        self.with(cloud, |inst, h| {
            inst.session_object_key(h, path)?
                .map_err(|e| anyhow!("{path:?} cannot be stored: {}", describe(&e)))
        })
    }

    /// Records an upload.
    pub fn uploaded(
        &self,
        cloud: &str,
        file: &Entry,
        etag: Option<&str>,
        object_id: Option<&str>,
    ) -> Result<()> {
        self.with(cloud, |inst, h| {
            inst.session_uploaded(h, file, etag, object_id)
        })
    }

    /// Records a deletion.
    pub fn deleted(&self, cloud: &str, path: &str) -> Result<()> {
        self.with(cloud, |inst, h| inst.session_deleted(h, path))
    }

    /// Records that `paths` of `cloud` are going and writes the manifest
    /// that no longer records them (`Remote::before_deletions`).
    pub fn forget(
        &self,
        store: &dyn Store,
        cloud: &str,
        paths: &[String],
        describe_remote: &str,
    ) -> Result<()> {
        for path in paths {
            self.deleted(cloud, path)?;
        }
        self.finish(store, cloud, describe_remote)
    }

    /// Records new permission bits.
    pub fn mode_set(&self, cloud: &str, file: &Entry) -> Result<()> {
        self.with(cloud, |inst, h| {
            inst.session_mode_set(h, file)?.map_err(refusal)
        })
    }

    /// Fails, in the guest's words, when `path` must not be restored.
    pub fn check_restore(&self, cloud: &str, path: &str) -> Result<()> {
        self.with(cloud, |inst, h| {
            inst.session_check_restore(h, path)?.map_err(refusal)
        })
    }

    /// Fails, in the guest's words, when a restored object's id is wrong.
    pub fn check_object_id(&self, cloud: &str, path: &str, id: &str) -> Result<()> {
        self.with(cloud, |inst, h| {
            inst.session_check_object_id(h, path, id)?.map_err(refusal)
        })
    }

    /// Writes the manifest of `cloud` when the session says it changed.
    pub fn finish(&self, store: &dyn Store, cloud: &str, describe_remote: &str) -> Result<()> {
        let Some(name) = self.with(cloud, |inst, h| inst.session_manifest_key(h))? else {
            return Ok(());
        };
        let entropy = crate::crypt::entropy()?;
        let bytes = self.with(cloud, |inst, h| {
            inst.session_manifest(h, &entropy)?.map_err(refusal)
        })?;
        if let Some(bytes) = bytes {
            store
                .put(&name, crate::store::Body::Bytes(bytes), &Default::default())
                .map_err(|e| {
                    anyhow::Error::from(e).context(format!(
                        "writing the manifest of {cloud} to {describe_remote}"
                    ))
                })?;
            self.remember(cloud)?;
        }
        Ok(())
    }

    /// Records what the session of `cloud` says to remember, if anything.
    fn remember(&self, cloud: &str) -> Result<()> {
        let Kind::Sealed { memory, .. } = &self.kind else {
            return Ok(());
        };
        match self.with(cloud, |inst, h| inst.session_remember(h))? {
            Some(f) => memory.record(cloud, f),
            None => Ok(()),
        }
    }
}

/// Bytes of a manifest read per `session.add-manifest` call.
const MANIFEST_PART: usize = 1 << 20;

/// Entries of the plan's local side per `session.add-local` call: 8,192
/// lowered take 256 KiB of the guest's memory.
const LOCAL_PART: usize = 8192;

/// Calls `give` with the entries of `all` in order, `per` at a time (none
/// when `all` is empty), freeing each part once given; stops at the first
/// error or refusal.
fn in_parts<T>(
    mut all: Vec<T>,
    per: usize,
    mut give: impl FnMut(Vec<T>) -> Crypto<()>,
) -> Crypto<()> {
    // Taken from the end, which frees the list as it goes without moving
    // what is left: reversed first, each part reversed back.
    all.reverse();
    while !all.is_empty() {
        let mut part = all.split_off(all.len().saturating_sub(per.max(1)));
        part.reverse();
        all.shrink_to_fit();
        if let Err(refused) = give(part)? {
            return Ok(Err(refused));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_come_in_order_and_stop_at_a_refusal() {
        let mut seen = Vec::new();
        let all: Vec<u32> = (0..10).collect();
        in_parts(all, 4, |part| {
            seen.push(part);
            Ok(Ok(()))
        })
        .unwrap()
        .unwrap();
        assert_eq!(seen, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);

        let mut calls = 0;
        in_parts(Vec::<u32>::new(), 4, |_| {
            calls += 1;
            Ok(Ok(()))
        })
        .unwrap()
        .unwrap();
        assert_eq!(calls, 0, "nothing to give: no call");

        let mut given = 0;
        let refused = in_parts((0..10).collect::<Vec<u32>>(), 3, |part| {
            given += part.len();
            Ok(if given > 3 {
                Err(GuestError::InvalidInput("no".into()))
            } else {
                Ok(())
            })
        })
        .unwrap();
        assert!(refused.is_err());
        assert_eq!(given, 6, "stopped at the refused part");
        assert!(in_parts(vec![1], 0, |_| Err(anyhow!("trapped"))).is_err());
    }
}
