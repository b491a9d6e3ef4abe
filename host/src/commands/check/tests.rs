//! Check's orchestration against the in-memory store, on the plain and the
//! sealed layout, with the real guest: identical trees show no difference;
//! a tampered, missing or unreadable copy, a file on one side only and a
//! stale listing are each counted as differences, never a silent pass.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::engine::sync::Direction;
use crate::filters;
use crate::store::Store;
use crate::store::memory::{Fault, MemoryStore, Op};
use crate::testkit::{LAYOUTS, QUIET, backup_keyed, conf, path, pool, remote, write};

/// Plain `poof check`: every copy read back, four at once.
const FULL: Reads = Reads {
    quick: false,
    transfers: 4,
};

/// `poof backup` of `local`, which must succeed.
fn backup(local: &Path, remote: &dyn Remote) {
    let conf = conf(local);
    let opts = crate::testkit::options(Direction::Up);
    let mut guest = pool().lease().unwrap();
    let outcome = crate::sync::run(
        &conf,
        remote,
        &mut guest,
        opts,
        &crate::filters::Filters::default(),
        &QUIET,
    )
    .unwrap();
    assert_eq!(outcome.exit, Exit::Success);
}

/// `poof check` of one path: how many differences.
fn differences(local: &Path, remote: &dyn Remote) -> usize {
    let mut guest = pool().lease().unwrap();
    check_path(
        &path(local),
        &filters::none(),
        remote,
        &mut guest,
        FULL,
        &QUIET,
    )
    .unwrap()
}

/// `poof check` of one path with `--exclude` patterns: how many differences.
fn differences_excluding(local: &Path, remote: &dyn Remote, exclude: &[&str]) -> usize {
    let args = crate::cli::FilterArgs {
        exclude: exclude.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    };
    let filter = crate::filters::Filters::from_args(&args)
        .unwrap()
        .for_path(&path(local))
        .unwrap();
    let mut guest = pool().lease().unwrap();
    check_path(&path(local), &filter, remote, &mut guest, FULL, &QUIET).unwrap()
}

/// What the store holds, key by key.
fn snapshot(store: &MemoryStore) -> Vec<(String, Vec<u8>)> {
    store
        .keys()
        .into_iter()
        .map(|k| {
            let b = store.bytes(&k).unwrap();
            (k, b)
        })
        .collect()
}

/// A folder of three files backed up into a new store: the local folder,
/// the store, the remote and each file's object key.
fn backed_up(
    layout: &str,
) -> (
    tempfile::TempDir,
    Arc<MemoryStore>,
    Box<dyn Remote>,
    BTreeMap<String, String>,
) {
    let local = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let remote = remote(layout, &store);
    let files = [("a", "alpha"), ("sub/b", "beta"), ("c", "gamma")];
    let keys = backup_keyed(backup, local.path(), &*remote, &store, &files);
    (local, store, remote, keys)
}

#[test]
fn files_the_filter_leaves_out_are_compared_on_neither_side() {
    for layout in LAYOUTS {
        let (local, store, remote, keys) = backed_up(layout);
        // Left out by the filter: a local file the backup never copied, a
        // copy whose file is gone, and a copy that differs from its file.
        write(local.path(), "junk.tmp", "scratch");
        std::fs::remove_file(local.path().join("c")).unwrap();
        write(local.path(), "sub/b", "BETA!");
        assert_eq!(differences(local.path(), &*remote), 3, "{layout}");
        let excluded = differences_excluding(local.path(), &*remote, &["*.tmp", "/c", "sub/"]);
        assert_eq!(excluded, 0, "{layout}");
        // What the filter keeps is still compared: a tampered copy of `a`.
        let key = &keys["a"];
        let mut bytes = store.bytes(key).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        store.tamper(key, bytes);
        assert_eq!(
            differences_excluding(local.path(), &*remote, &["*.tmp", "/c", "sub/"]),
            1,
            "{layout}"
        );
    }
}

#[test]
fn identical_trees_have_no_difference_and_nothing_changes() {
    for layout in LAYOUTS {
        let (local, store, remote, _) = backed_up(layout);
        let before = snapshot(&store);
        assert_eq!(differences(local.path(), &*remote), 0, "{layout}");
        assert_eq!(snapshot(&store), before, "{layout}: check wrote nothing");
        let local_files = walk::walk(local.path(), Links::Follow).unwrap().entries;
        assert_eq!(local_files.len(), 3, "{layout}: check removed nothing");
    }
}

#[test]
fn a_tampered_copy_is_a_difference() {
    for layout in LAYOUTS {
        for same_size in [true, false] {
            let (local, store, remote, keys) = backed_up(layout);
            let mut bytes = store.bytes(&keys["sub/b"]).unwrap();
            if same_size {
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
            } else {
                bytes.push(0);
            }
            store.tamper(&keys["sub/b"], bytes);
            assert_eq!(
                differences(local.path(), &*remote),
                1,
                "{layout}, same size: {same_size}"
            );
        }
    }
}

/// On the sealed layout, an object the manifest records and the store
/// lacks is also a listing problem, reported besides the file itself.
fn manifest_records(layout: &str) -> usize {
    match layout {
        "plain" => 0,
        _ => 1,
    }
}

#[test]
fn a_missing_copy_is_a_difference() {
    for layout in LAYOUTS {
        let (local, store, remote, keys) = backed_up(layout);
        store.remove_behind(&keys["a"]);
        assert_eq!(
            differences(local.path(), &*remote),
            1 + manifest_records(layout),
            "{layout}"
        );
    }
}

#[test]
fn a_file_on_one_side_only_is_a_difference() {
    for layout in LAYOUTS {
        let (local, _store, remote, _) = backed_up(layout);
        write(local.path(), "new", "local only");
        assert_eq!(
            differences(local.path(), &*remote),
            1,
            "{layout}: extra local"
        );
        std::fs::remove_file(local.path().join("new")).unwrap();
        std::fs::remove_file(local.path().join("c")).unwrap();
        assert_eq!(
            differences(local.path(), &*remote),
            1,
            "{layout}: extra remote"
        );
    }
}

#[test]
fn every_difference_is_counted() {
    for layout in LAYOUTS {
        let (local, store, remote, keys) = backed_up(layout);
        let d = backup_keyed(
            backup,
            local.path(),
            &*remote,
            &store,
            &[("d", "delta"), ("e", "epsilon")],
        );
        let mut bytes = store.bytes(&keys["a"]).unwrap();
        bytes[0] ^= 1;
        store.tamper(&keys["a"], bytes);
        store.remove_behind(&d["e"]);
        std::fs::remove_file(local.path().join("c")).unwrap();
        write(local.path(), "new", "local only");
        // a differs, c only on the copy, e and new only here; d and sub/b
        // are the same.
        assert_eq!(
            differences(local.path(), &*remote),
            4 + manifest_records(layout),
            "{layout}"
        );
    }
}

#[test]
fn an_unreadable_copy_is_a_difference() {
    for layout in LAYOUTS {
        let (local, store, _, _) = backed_up(layout);
        // How many calls a new remote's listing makes (list, manifest).
        let before = store.requests().unwrap();
        remote(layout, &store).list("Docs").unwrap();
        let listing = store.requests().unwrap() - before;
        // Every call after the next listing fails: the copies' reads.
        let remote = remote(layout, &store);
        let next = store.requests().unwrap() + listing + 1;
        for n in next..next + 64 {
            store.inject(Fault::Fail { op: None, n });
        }
        assert_eq!(differences(local.path(), &*remote), 3, "{layout}");
    }
}

#[test]
fn an_unreadable_listing_is_an_error_not_a_pass() {
    for layout in LAYOUTS {
        let (local, store, remote, _) = backed_up(layout);
        // Every read from now on fails, the manifest's included.
        for n in 1..=64 {
            store.inject(Fault::Fail {
                op: Some(Op::Get),
                n,
            });
        }
        let mut guest = pool().lease().unwrap();
        let r = check_path(
            &path(local.path()),
            &filters::none(),
            &*remote,
            &mut guest,
            FULL,
            &QUIET,
        );
        let e = r.expect_err(layout);
        assert!(format!("{e:#}").contains("manifest"), "{layout}: {e:#}");
    }
}

#[test]
fn a_stale_listing_is_not_a_silent_pass() {
    for layout in LAYOUTS {
        // The listing misses a file backed up since.
        let (local, store, remote, _) = backed_up(layout);
        store.inject(Fault::StaleListing);
        write(
            local.path(),
            "later",
            "backed up after the listing's moment",
        );
        backup(local.path(), &*remote);
        assert!(store.keys().len() > 4, "{layout}: `later` is stored");
        assert_eq!(
            differences(local.path(), &*remote),
            1 + manifest_records(layout),
            "{layout}: a listing without `later`"
        );

        // The listing shows a copy that is gone, and one that changed.
        let (local, store, remote, keys) = backed_up(layout);
        store.inject(Fault::StaleListing);
        store.remove_behind(&keys["a"]);
        let mut bytes = store.bytes(&keys["c"]).unwrap();
        bytes.push(0);
        store.tamper(&keys["c"], bytes);
        assert_eq!(
            differences(local.path(), &*remote),
            2,
            "{layout}: a listing with the old `a` and `c`"
        );
    }
}
