//! `purge_path` over the memory store with the real guest: a path backed up
//! plain, then encrypted, loses its plain objects only when every one is
//! proved equal to its encrypted copy; an altered copy on either side, a
//! path never backed up encrypted, or a failed deletion keeps them (and the
//! plain manifest), and a rerun finishes.

use std::path::Path;
use std::sync::Arc;

use super::{Tally, purge_path};
use crate::engine::sync::Direction;
use crate::exit::Exit;
use crate::remote::Remote;
use crate::store::memory::{Fault, MemoryStore, Op};
use crate::sync;
use crate::testkit::{self, QUIET};

const MANIFEST: &str = ".poof/manifests/Docs.json";

fn backup(local: &Path, remote: &dyn Remote) {
    let opts = testkit::options(Direction::Up);
    let mut guest = testkit::pool().lease().unwrap();
    let filters = crate::filters::Filters::default();
    let out = sync::run(
        &testkit::conf(local),
        remote,
        &mut guest,
        opts,
        &filters,
        &QUIET,
    )
    .unwrap();
    assert_eq!(out.exit, Exit::Success);
}

/// Two files backed up plain (`encrypted`: then encrypted too).
fn setup(encrypted: bool) -> (tempfile::TempDir, Arc<MemoryStore>) {
    let dir = tempfile::tempdir().unwrap();
    testkit::write(dir.path(), "a.txt", "alpha");
    testkit::write(dir.path(), "sub/b.txt", "bravo, a little longer");
    let store = Arc::new(MemoryStore::new());
    backup(dir.path(), &testkit::plain(&store));
    if encrypted {
        backup(dir.path(), &testkit::sealed(&store));
    }
    assert_eq!(
        plain_keys(&store),
        [MANIFEST, "Docs/a.txt", "Docs/sub/b.txt"]
    );
    (dir, store)
}

/// The plain objects and the plain manifest the store holds.
fn plain_keys(store: &MemoryStore) -> Vec<String> {
    store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("Docs/") || k == MANIFEST)
        .collect()
}

/// The sealed objects (every key that is neither plain nor poof's own).
fn sealed_keys(store: &MemoryStore) -> Vec<String> {
    store
        .keys()
        .into_iter()
        .filter(|k| !k.starts_with("Docs/") && !k.starts_with(".poof/"))
        .collect()
}

fn purge(store: &Arc<MemoryStore>) -> Tally {
    let plain = testkit::plain(store);
    let sealed = testkit::sealed(store);
    let mut guest = testkit::pool().lease().unwrap();
    purge_path(&plain, &sealed, "Docs", &mut guest, &QUIET).unwrap()
}

#[test]
fn every_plain_object_proved_equal_goes_and_the_manifest_last() {
    let (_dir, store) = setup(true);
    let sealed = sealed_keys(&store);
    assert_eq!(sealed.len(), 2);
    let t = purge(&store);
    assert!(t.held.is_empty() && t.failed.is_empty(), "{t:?}");
    assert_eq!((t.objects, t.verified, t.deleted, t.bytes), (2, 2, 2, 27));
    assert!(t.manifest_deleted);
    assert!(plain_keys(&store).is_empty(), "{:?}", store.keys());
    assert_eq!(sealed_keys(&store), sealed, "the encrypted copies stay");
    let listing = testkit::sealed(&store).list("Docs").unwrap();
    assert_eq!(listing.entries.len(), 2);
    // Nothing is left to purge.
    let t = purge(&store);
    assert_eq!((t.objects, t.deleted, t.manifest_deleted), (0, 0, false));
    assert!(t.held.is_empty() && t.failed.is_empty(), "{t:?}");
}

#[test]
fn an_altered_copy_on_either_side_keeps_every_plain_object() {
    let (_dir, store) = setup(true);
    // The plain copy of a.txt no longer holds what the encrypted one does.
    store.tamper("Docs/a.txt", b"ALPHA".to_vec());
    let t = purge(&store);
    assert_eq!((t.verified, t.deleted, t.manifest_deleted), (1, 0, false));
    assert_eq!(t.held.len(), 1, "{t:?}");
    assert!(
        t.held[0].contains("Docs/a.txt") && t.held[0].contains("other content"),
        "{t:?}"
    );
    assert_eq!(plain_keys(&store).len(), 3);

    // An encrypted copy whose content was altered does not open.
    let (_dir, store) = setup(true);
    let victim = sealed_keys(&store)
        .into_iter()
        .max_by_key(|k| store.bytes(k).unwrap().len())
        .unwrap();
    let mut bytes = store.bytes(&victim).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    store.tamper(&victim, bytes);
    let t = purge(&store);
    assert_eq!((t.verified, t.deleted), (1, 0), "{t:?}");
    assert!(
        t.held.len() == 1 && t.held[0].contains("could not be compared"),
        "{t:?}"
    );
    assert_eq!(plain_keys(&store).len(), 3);
}

#[test]
fn a_path_never_backed_up_encrypted_says_so() {
    let (_dir, store) = setup(false);
    let t = purge(&store);
    assert_eq!((t.objects, t.verified, t.deleted), (2, 0, 0));
    assert_eq!(t.held.len(), 1, "{t:?}");
    assert!(t.held[0].contains("never backed up encrypted"), "{t:?}");
    assert_eq!(plain_keys(&store).len(), 3);
}

#[test]
fn a_failed_deletion_keeps_the_manifest_and_a_rerun_finishes() {
    let (_dir, store) = setup(true);
    store.inject(Fault::Fail {
        op: Some(Op::Delete),
        n: 1,
    });
    let t = purge(&store);
    assert_eq!((t.deleted, t.failed.len()), (1, 1), "{t:?}");
    assert!(!t.manifest_deleted);
    assert!(t.failed[0].contains("deleting"), "{t:?}");
    let left = plain_keys(&store);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&MANIFEST.to_string()));
    store.heal();
    let t = purge(&store);
    assert!(t.held.is_empty() && t.failed.is_empty(), "{t:?}");
    assert_eq!((t.objects, t.deleted), (1, 1));
    assert!(t.manifest_deleted);
    assert!(plain_keys(&store).is_empty());
}
