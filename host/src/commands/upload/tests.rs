//! Upload's verify-then-wipe against the in-memory store, on the plain and
//! the sealed layout, with the real guest: only files whose copy was proved
//! equal are wiped; a lost write, a copy tampered with or removed after the
//! backup, or a read that fails keeps the local file, with a reason.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::cli::{BackupArgs, FilterArgs, SyncArgs};
use crate::layout::plain;
use crate::store::memory::{Fault, MemoryStore, Op};
use crate::store::{Meta, Store};
use crate::testkit::{LAYOUTS, QUIET, backup_keyed, conf, path, pool, remote, write};

fn args(verify: VerifyMode, transfers: u16) -> UploadArgs {
    UploadArgs {
        backup: BackupArgs {
            sync: SyncArgs {
                dry_run: false,
                yes: false,
                max_delete: None,
                checksum: false,
                transfers,
                filter: FilterArgs::default(),
            },
            max_overwrite: None,
        },
        verify,
        shred: false,
        keep_binary: false,
    }
}

/// Backs `local` up as upload does (nothing deleted remotely); the backup
/// must complete, as upload verifies only paths whose backup did.
fn backup(local: &Path, remote: &dyn Remote) {
    let conf = conf(local);
    let opts = super::super::sync_options(
        &args(VerifyMode::Read, 4).backup.sync,
        None,
        Direction::Up,
        true,
    );
    let mut guest = pool().lease().unwrap();
    let outcome = sync::run(&conf, remote, &mut guest, opts, &Filters::default(), &QUIET).unwrap();
    assert_eq!(outcome.exit, Exit::Success);
    assert!(outcome.paths.iter().all(|p| p.complete));
}

fn verify(local: &Path, remote: &dyn Remote, args: &UploadArgs) -> PathWipe {
    let mut guest = pool().lease().unwrap();
    verify_and_wipe(
        &path(local),
        &crate::filters::none(),
        remote,
        &mut guest,
        args,
        &QUIET,
    )
    .unwrap()
}

/// The files under `root`, relative, sorted.
fn files(root: &Path) -> Vec<String> {
    walk::walk(root, Links::Follow)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.path)
        .collect()
}

/// The one kept file's name and reason.
fn only_kept(r: &PathWipe) -> (&str, &str) {
    assert_eq!(r.kept.len(), 1, "{r:?}");
    (&r.kept[0].0, &r.kept[0].1)
}

/// Each kept file's reason, by name.
fn reasons(r: &PathWipe) -> BTreeMap<&str, &str> {
    r.kept
        .iter()
        .map(|(f, why)| (f.as_str(), why.as_str()))
        .collect()
}

#[test]
fn wipes_exactly_the_verified_files() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        let root = local.path();
        write(root, "a", "alpha");
        write(root, "sub/b", "beta");
        write(root, "changed", "before");
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        backup(root, &*remote);
        // After the backup: one file changes (same size), one appears.
        write(root, "changed", "after!");
        write(root, "late", "not backed up");
        let r = verify(root, &*remote, &args(VerifyMode::Read, 4));
        assert_eq!((r.wiped, r.kept.len()), (2, 2), "{layout}: {r:?}");
        let reasons = reasons(&r);
        assert_eq!(
            reasons.keys().copied().collect::<Vec<_>>(),
            ["changed", "late"],
            "{layout}"
        );
        assert!(reasons["changed"].contains("differs"), "{layout}: {r:?}");
        assert!(reasons["late"].contains("no copy"), "{layout}: {r:?}");
        assert_eq!(files(root), ["changed", "late"], "{layout}");
        assert!(!root.join("sub").exists(), "{layout}: the emptied folder");
        assert_eq!(
            std::fs::read_to_string(root.join("changed")).unwrap(),
            "after!"
        );
    }
}

#[test]
fn a_lost_write_keeps_the_file() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        let root = local.path();
        write(root, "a", "1");
        write(root, "b", "2");
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        // The first put answers success and stores nothing.
        store.inject(Fault::LoseWrite { n: 1 });
        backup(root, &*remote);
        store.heal();
        let lost: Vec<&str> = ["a", "b"]
            .into_iter()
            .filter(|f| remote.read_sha256("Docs", f).unwrap().is_none())
            .collect();
        assert_eq!(lost.len(), 1, "{layout}: one file's write was lost");
        let r = verify(root, &*remote, &args(VerifyMode::Read, 4));
        assert_eq!(r.wiped, 1, "{layout}: {r:?}");
        let (file, why) = only_kept(&r);
        assert_eq!(file, lost[0], "{layout}");
        assert!(why.contains("no copy"), "{layout}: {why}");
        assert_eq!(files(root), [lost[0]], "{layout}");
    }
}

#[test]
fn a_copy_tampered_with_after_the_backup_keeps_the_file() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        let root = local.path();
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        let keys = backup_keyed(
            backup,
            root,
            &*remote,
            &store,
            &[("a", "alpha"), ("b", "beta")],
        );
        let mut bytes = store.bytes(&keys["a"]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        store.tamper(&keys["a"], bytes);
        for how in [VerifyMode::Read, VerifyMode::Stored] {
            if (layout, how) == ("plain", VerifyMode::Stored) {
                // The stored hash proves what was sent, not what is stored:
                // see `stored_hash_is_used_without_reading_the_copy`.
                continue;
            }
            let r = verify(root, &*remote, &args(how, 4));
            let (file, why) = only_kept(&r);
            assert_eq!(file, "a", "{layout} {how:?}");
            // Plain reads other bytes; sealed fails to authenticate them.
            let expected = match layout {
                "plain" => "differs",
                _ => "could not be checked",
            };
            assert!(why.contains(expected), "{layout} {how:?}: {why}");
            assert_eq!(files(root), ["a"], "{layout} {how:?}");
            write(root, "b", "beta");
        }
    }
}

#[test]
fn a_copy_removed_after_the_backup_keeps_the_file() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        let root = local.path();
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        let keys = backup_keyed(
            backup,
            root,
            &*remote,
            &store,
            &[("a", "alpha"), ("b", "beta")],
        );
        store.remove_behind(&keys["b"]);
        if layout == "plain" {
            // What the S3 client would have stored with it.
            use sha2::{Digest, Sha256};
            store_hash(&store, &keys["a"], &hex::encode(Sha256::digest(b"alpha")));
        }
        for how in [VerifyMode::Read, VerifyMode::Stored] {
            let r = verify(root, &*remote, &args(how, 4));
            assert_eq!(r.wiped, 1, "{layout} {how:?}: {r:?}");
            let (file, why) = only_kept(&r);
            assert_eq!(file, "b", "{layout} {how:?}");
            assert!(why.contains("no copy"), "{layout} {how:?}: {why}");
            assert_eq!(files(root), ["b"], "{layout} {how:?}");
            write(root, "a", "alpha");
        }
    }
}

#[test]
fn a_read_that_keeps_failing_keeps_every_file() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        let root = local.path();
        write(root, "a", "1");
        write(root, "b", "2");
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        backup(root, &*remote);
        // Every read from now on fails (the backup's reads are few).
        for n in 1..=64 {
            store.inject(Fault::Fail {
                op: Some(Op::Get),
                n,
            });
        }
        let r = verify(root, &*remote, &args(VerifyMode::Read, 4));
        assert_eq!((r.wiped, r.kept.len()), (0, 2), "{layout}: {r:?}");
        for (file, why) in &r.kept {
            assert!(
                why.contains("could not be checked") && why.contains("injected failure"),
                "{layout}: {file}: {why}"
            );
        }
        assert_eq!(files(root), ["a", "b"], "{layout}");
    }
}

#[test]
fn one_failed_read_is_retried_by_plain_and_keeps_the_file_on_sealed() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        let root = local.path();
        write(root, "a", "1");
        write(root, "b", "2");
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        backup(root, &*remote);
        // One file at a time, in order: the next store call is a's read.
        let next = store.requests().unwrap() + 1;
        store.inject(Fault::Fail { op: None, n: next });
        let r = verify(root, &*remote, &args(VerifyMode::Read, 1));
        match layout {
            // The plain layout reads the copy again, in full.
            "plain" => {
                assert_eq!((r.wiped, r.kept.len()), (2, 0), "{r:?}");
                assert!(files(root).is_empty());
            }
            _ => {
                assert_eq!(r.wiped, 1, "{r:?}");
                let (file, why) = only_kept(&r);
                assert_eq!(file, "a");
                assert!(why.contains("injected failure"), "{why}");
                assert_eq!(files(root), ["a"]);
            }
        }
    }
}

/// The plain layout writes no `sha256` metadata itself (the S3 client
/// does, with every file it uploads); the memory store keeps user metadata,
/// so `--verify=stored` finds none there and keeps every file, saying why.
#[test]
fn stored_verify_without_a_stored_hash_keeps_the_files() {
    let local = tempfile::tempdir().unwrap();
    let root = local.path();
    write(root, "a", "1");
    write(root, "b", "2");
    let store = Arc::new(MemoryStore::new());
    let remote = remote("plain", &store);
    backup(root, &*remote);
    let user = store.meta("Docs/a").unwrap().user;
    assert!(!user.contains_key(plain::SHA256), "{user:?}");
    let r = verify(root, &*remote, &args(VerifyMode::Stored, 4));
    assert_eq!((r.wiped, r.kept.len()), (0, 2), "{r:?}");
    for (_, why) in &r.kept {
        assert!(why.contains("has no stored sha256"), "{why}");
    }
    assert_eq!(files(root), ["a", "b"]);
}

/// Adds `sha256` metadata to `key`, as the S3 client writes it.
fn store_hash(store: &MemoryStore, key: &str, hex: &str) {
    let mut meta: Meta = store.meta(key).unwrap();
    meta.user.insert(plain::SHA256.into(), hex.into());
    store.set_meta(key, &meta).unwrap();
}

#[test]
fn stored_hash_is_used_without_reading_the_copy() {
    use sha2::{Digest, Sha256};
    let local = tempfile::tempdir().unwrap();
    let root = local.path();
    write(root, "a", "alpha");
    write(root, "b", "beta");
    write(root, "c", "gamma");
    let store = Arc::new(MemoryStore::new());
    let remote = remote("plain", &store);
    backup(root, &*remote);
    store_hash(&store, "Docs/a", &hex::encode(Sha256::digest(b"alpha")));
    store_hash(&store, "Docs/b", &hex::encode(Sha256::digest(b"not beta")));
    store_hash(&store, "Docs/c", "not hex");
    // No read succeeds: only the stored hash can prove `a`.
    for n in 1..=64 {
        store.inject(Fault::Fail {
            op: Some(Op::Get),
            n,
        });
    }
    let r = verify(root, &*remote, &args(VerifyMode::Stored, 4));
    assert_eq!((r.wiped, r.kept.len()), (1, 2), "{r:?}");
    let reasons = reasons(&r);
    assert!(reasons["b"].contains("differs"), "{r:?}");
    assert!(reasons["c"].contains("malformed sha256"), "{r:?}");
    assert_eq!(files(root), ["b", "c"]);
}
