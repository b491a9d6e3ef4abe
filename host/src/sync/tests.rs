//! The sync's orchestration against the in-memory store, with faults: what
//! a failure in the middle of a run may and may not do, on the plain and on
//! the sealed layout, with the real guest deciding.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::store::Store;
use crate::store::memory::{Fault, MemoryStore, Op};
use crate::testkit::{LAYOUTS, QUIET, conf, plain, plan_input, pool, remote, sealed, write};

fn opts(direction: Direction) -> Options {
    crate::testkit::options(direction)
}

fn run(local: &Path, remote: &dyn Remote, direction: Direction) -> Outcome {
    let mut inst = pool().lease().unwrap();
    super::run(
        &conf(local),
        remote,
        &mut inst,
        opts(direction),
        &Filters::default(),
        &QUIET,
    )
    .unwrap()
}

fn names(remote: &dyn Remote) -> Vec<String> {
    remote
        .list("Docs")
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.path)
        .collect()
}

#[test]
fn a_backup_then_a_no_op_served_by_the_manifest() {
    let local = tempfile::tempdir().unwrap();
    for i in 0..5 {
        write(local.path(), &format!("d/f{i}"), &format!("file {i}"));
    }
    let store = Arc::new(MemoryStore::new());
    assert_eq!(
        run(local.path(), &plain(&store), Direction::Up).exit,
        Exit::Success
    );
    assert!(
        store
            .keys()
            .contains(&".poof/manifests/Docs.json".to_string())
    );
    let remote = plain(&store);
    let before = store.requests().unwrap();
    let again = run(local.path(), &remote, Direction::Up);
    assert_eq!(again.exit, Exit::Success);
    // One listing and one manifest read: no head, no put.
    assert_eq!(store.requests().unwrap() - before, 2);
    assert_eq!(names(&remote), ["d/f0", "d/f1", "d/f2", "d/f3", "d/f4"]);
}

#[test]
fn a_failed_put_mid_run_deletes_nothing() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        write(local.path(), "keep", "k");
        write(local.path(), "gone", "g");
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        assert_eq!(
            run(local.path(), &*remote, Direction::Up).exit,
            Exit::Success
        );
        std::fs::remove_file(local.path().join("gone")).unwrap();
        for i in 0..3 {
            write(local.path(), &format!("new{i}"), "n");
        }
        store.inject(Fault::Fail {
            op: Some(Op::Put),
            n: 4,
        });
        let outcome = run(local.path(), &*remote, Direction::Up);
        assert_eq!(outcome.exit, Exit::Partial, "{layout}");
        assert!(!outcome.paths[0].complete);
        store.heal();
        let listed = names(&*remote);
        assert!(listed.contains(&"gone".to_string()), "{layout}: {listed:?}");
        // The next run finishes the job, deletion included.
        assert_eq!(
            run(local.path(), &*remote, Direction::Up).exit,
            Exit::Success
        );
        assert_eq!(
            names(&*remote),
            ["keep", "new0", "new1", "new2"],
            "{layout}"
        );
    }
}

#[test]
fn deletions_cut_short_leave_no_record_of_objects_gone() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        // Few enough deletions for the mass-delete guard.
        for f in ["a", "b", "c"] {
            write(local.path(), f, f);
        }
        for i in 0..7 {
            write(local.path(), &format!("keep{i}"), "k");
        }
        let store = Arc::new(MemoryStore::new());
        let open = || remote(layout, &store);
        assert_eq!(
            run(local.path(), &*open(), Direction::Up).exit,
            Exit::Success
        );
        for f in ["a", "b", "c"] {
            std::fs::remove_file(local.path().join(f)).unwrap();
        }
        // Killed right after the first of the three deletions.
        store.inject(Fault::DieAfter {
            op: Op::Delete,
            n: 1,
        });
        let outcome = run(local.path(), &*open(), Direction::Up);
        assert_ne!(outcome.exit, Exit::Success, "{layout}");
        store.heal();
        // A new process: the manifest records no object that is gone (the
        // listing reports nothing as deleted by someone else); the object
        // left is read again, and the next run deletes it.
        let remote = open();
        let listing = remote.list("Docs").unwrap();
        assert!(
            listing.problems.is_empty(),
            "{layout}: {:?}",
            listing.problems
        );
        assert_eq!(listing.entries.len(), 9, "{layout}");
        assert_eq!(
            run(local.path(), &*open(), Direction::Up).exit,
            Exit::Success
        );
        let kept: Vec<String> = (0..7).map(|i| format!("keep{i}")).collect();
        assert_eq!(names(&*open()), kept, "{layout}");
    }
}

#[test]
fn a_manifest_not_written_before_the_deletions_stops_them() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        for i in 0..10 {
            write(local.path(), &format!("f{i}"), "x");
        }
        let store = Arc::new(MemoryStore::new());
        let open = || remote(layout, &store);
        assert_eq!(
            run(local.path(), &*open(), Direction::Up).exit,
            Exit::Success
        );
        let stored = store.keys();
        for i in 0..3 {
            std::fs::remove_file(local.path().join(format!("f{i}"))).unwrap();
        }
        // Each key was put once: the next put is the manifest written
        // before the deletions, and it fails.
        store.inject(Fault::Fail {
            op: Some(Op::Put),
            n: stored.len() as u64 + 1,
        });
        let outcome = run(local.path(), &*open(), Direction::Up);
        assert_eq!(outcome.exit, Exit::Partial, "{layout}");
        store.heal();
        assert_eq!(store.keys(), stored, "{layout}: nothing may be deleted");
        assert_eq!(names(&*open()).len(), 10, "{layout}");
    }
}

#[test]
fn a_lost_write_is_noticed_and_repaired() {
    let local = tempfile::tempdir().unwrap();
    write(local.path(), "a", "1");
    write(local.path(), "b", "2");
    let store = Arc::new(MemoryStore::new());
    store.inject(Fault::LoseWrite { n: 1 });
    assert_eq!(
        run(local.path(), &plain(&store), Direction::Up).exit,
        Exit::Success
    );
    store.heal();
    let remote = plain(&store);
    // The manifest records both files, the store holds one: the listing
    // wins, and the read-back that upload's wipe relies on says so.
    assert_eq!(names(&remote).len(), 1);
    let missing = if store.bytes("Docs/a").is_none() {
        "a"
    } else {
        "b"
    };
    assert_eq!(remote.read_sha256("Docs", missing).unwrap(), None);
    assert_eq!(
        run(local.path(), &remote, Direction::Up).exit,
        Exit::Success
    );
    assert_eq!(names(&plain(&store)), ["a", "b"]);
}

#[test]
fn a_lost_plain_manifest_is_rebuilt_from_the_objects() {
    let local = tempfile::tempdir().unwrap();
    write(local.path(), "a", "1");
    let store = Arc::new(MemoryStore::new());
    run(local.path(), &plain(&store), Direction::Up);
    store.remove_behind(".poof/manifests/Docs.json");
    let remote = plain(&store);
    let before = store.requests().unwrap();
    assert_eq!(names(&remote), ["a"]);
    // list, manifest (missing), one head per object.
    assert_eq!(store.requests().unwrap() - before, 3);
    remote.finish("Docs").unwrap();
    assert!(store.bytes(".poof/manifests/Docs.json").is_some());
}

/// A restore folder holding the backed-up `a` and `b`, plus `extra`, which a
/// download deletes when it trusts the remote's listing.
fn restore_folder() -> tempfile::TempDir {
    let restore = tempfile::tempdir().unwrap();
    write(restore.path(), "a", "1");
    write(restore.path(), "b", "2");
    write(restore.path(), "extra", "local only");
    restore
}

#[test]
fn a_sound_sealed_remote_makes_a_download_delete_extras() {
    let local = tempfile::tempdir().unwrap();
    write(local.path(), "a", "1");
    write(local.path(), "b", "2");
    let store = Arc::new(MemoryStore::new());
    run(local.path(), &sealed(&store), Direction::Up);
    let restore = restore_folder();
    assert_eq!(
        run(restore.path(), &sealed(&store), Direction::Down).exit,
        Exit::Success
    );
    assert!(!restore.path().join("extra").exists());
}

#[test]
fn a_stale_listing_does_not_make_a_download_delete() {
    let local = tempfile::tempdir().unwrap();
    write(local.path(), "a", "1");
    let store = Arc::new(MemoryStore::new());
    run(local.path(), &sealed(&store), Direction::Up);
    // From now on the store lists only `a`, whatever it holds.
    store.inject(Fault::StaleListing);
    write(local.path(), "b", "2");
    assert_eq!(
        run(local.path(), &sealed(&store), Direction::Up).exit,
        Exit::Success
    );
    // The sealed manifest records `b`, which the listing lacks.
    let restore = restore_folder();
    run(restore.path(), &sealed(&store), Direction::Down);
    for f in ["a", "b", "extra"] {
        assert!(restore.path().join(f).exists(), "{f} was deleted");
    }
}

#[test]
fn a_tampered_sealed_manifest_stops_deletions() {
    let local = tempfile::tempdir().unwrap();
    write(local.path(), "a", "1");
    write(local.path(), "b", "2");
    let store = Arc::new(MemoryStore::new());
    run(local.path(), &sealed(&store), Direction::Up);
    let manifest = store
        .keys()
        .into_iter()
        .find(|k| k.starts_with(".poof/manifests/"))
        .expect("a sealed manifest");
    let mut bytes = store.bytes(&manifest).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    store.tamper(&manifest, bytes);
    let restore = restore_folder();
    run(restore.path(), &sealed(&store), Direction::Down);
    assert!(
        restore.path().join("extra").exists(),
        "nothing is deleted on a manifest that does not open"
    );
}

#[test]
fn the_remote_side_of_a_plan_stays_in_the_guest() {
    for layout in LAYOUTS {
        let local = tempfile::tempdir().unwrap();
        for i in 0..3 {
            write(local.path(), &format!("f{i}"), "x");
        }
        let store = Arc::new(MemoryStore::new());
        let remote = remote(layout, &store);
        assert_eq!(
            run(local.path(), &*remote, Direction::Up).exit,
            Exit::Success
        );
        let walked = walk::walk(local.path(), Links::Follow).unwrap();
        let stored = remote.list_for_plan("Docs", &[]).unwrap();
        assert!(stored.exists, "{layout}");
        assert!(stored.entries.is_empty(), "{layout}: kept in the session");
        let input = PlanInput {
            mtime_window_ns: remote.mtime_window_ns(),
            ..plan_input(walked.entries, Vec::new())
        };
        let mut spare = pool().lease().unwrap();
        let none = crate::filters::none();
        let plan = remote
            .plan(
                "Docs",
                &mut spare,
                input.clone(),
                walk::Local::default(),
                &none,
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            plan.unchanged, 3,
            "{layout}: planned against the kept listing"
        );
        assert!(plan.copy.is_empty() && plan.delete.is_empty(), "{layout}");
        // The kept listing went to that plan: a second one is refused
        // rather than planned against nothing.
        let again = remote
            .plan("Docs", &mut spare, input, walk::Local::default(), &none)
            .unwrap();
        assert!(again.is_err(), "{layout}: {again:?}");
    }
}
