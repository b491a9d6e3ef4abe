//! `download --to` and `--path` against the in-memory store, on both
//! layouts, with the real guest deciding: a restore into another folder
//! deletes nothing there, a subset restore touches nothing outside it, and
//! `--path` and `--to` are refused in words.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::cli::FilterArgs;
use crate::engine::sync::Filter;
use crate::remote::Remote;
use crate::store::memory::MemoryStore;
use crate::sync::{Options, run_paths};
use crate::testkit::{LAYOUTS, QUIET, conf, options, path, pool, remote, write};

fn opts(direction: Direction, restore_elsewhere: bool) -> Options {
    Options {
        restore_elsewhere,
        ..options(direction)
    }
}

/// Syncs `local` as the path `Docs` with `filter`.
fn sync(local: &Path, remote: &dyn Remote, opts: Options, filter: Filter) -> Exit {
    let mut guest = pool().lease().unwrap();
    let jobs = [(path(local), filter)];
    run_paths(&jobs, remote, &mut guest, opts, &QUIET)
        .unwrap()
        .exit
}

fn unfiltered() -> Filter {
    crate::filters::none()
}

fn including(pattern: &str) -> Filter {
    let args = FilterArgs {
        include: vec![pattern.into()],
        ..FilterArgs::default()
    };
    Filters::from_args(&args)
        .unwrap()
        .for_path(&path(Path::new("/nonexistent")))
        .unwrap()
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// A backed-up folder: `a`, `notes/todo.txt`, `notes/done.txt`.
fn backed_up(layout: &str) -> (tempfile::TempDir, Box<dyn Remote>) {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a", "a");
    write(src.path(), "notes/todo.txt", "todo");
    write(src.path(), "notes/done.txt", "done");
    let remote = remote(layout, &Arc::new(MemoryStore::new()));
    let up = opts(Direction::Up, false);
    assert_eq!(sync(src.path(), &*remote, up, unfiltered()), Exit::Success);
    (src, remote)
}

#[test]
fn a_restore_elsewhere_keeps_every_file_already_there() {
    for layout in LAYOUTS {
        let (_src, remote) = backed_up(layout);
        let to = tempfile::tempdir().unwrap();
        write(to.path(), "mine.txt", "mine");
        write(to.path(), "notes/mine.txt", "mine too");
        write(to.path(), "a", "an older a");
        let down = opts(Direction::Down, true);
        assert_eq!(sync(to.path(), &*remote, down, unfiltered()), Exit::Success);
        assert_eq!(read(to.path(), "a"), "a", "{layout}: replaced");
        assert_eq!(read(to.path(), "notes/todo.txt"), "todo");
        assert_eq!(read(to.path(), "mine.txt"), "mine", "{layout}");
        assert_eq!(read(to.path(), "notes/mine.txt"), "mine too", "{layout}");
        // The same folder, downloaded the ordinary way, loses them.
        let plain_down = opts(Direction::Down, false);
        assert_eq!(
            sync(to.path(), &*remote, plain_down, unfiltered()),
            Exit::Success
        );
        assert!(!to.path().join("mine.txt").exists(), "{layout}");
    }
}

#[test]
fn a_file_in_the_way_is_kept_and_its_copy_fails() {
    for layout in LAYOUTS {
        let (_src, remote) = backed_up(layout);
        let to = tempfile::tempdir().unwrap();
        // A file `notes` stands where the copy has a folder.
        write(to.path(), "notes", "a file of mine");
        let down = opts(Direction::Down, true);
        assert_eq!(sync(to.path(), &*remote, down, unfiltered()), Exit::Partial);
        assert_eq!(read(to.path(), "notes"), "a file of mine", "{layout}");
        assert_eq!(read(to.path(), "a"), "a", "{layout}");
    }
}

#[test]
fn a_subset_restore_touches_nothing_outside_it() {
    for layout in LAYOUTS {
        for elsewhere in [false, true] {
            let (_src, remote) = backed_up(layout);
            let to = tempfile::tempdir().unwrap();
            write(to.path(), "mine.txt", "mine");
            write(to.path(), "a", "a local a");
            let down = opts(Direction::Down, elsewhere);
            let filter = including("/notes/todo.txt");
            assert_eq!(sync(to.path(), &*remote, down, filter), Exit::Success);
            assert_eq!(read(to.path(), "notes/todo.txt"), "todo");
            assert!(!to.path().join("notes/done.txt").exists(), "{layout}");
            assert_eq!(read(to.path(), "a"), "a local a", "{layout} {elsewhere}");
            assert_eq!(read(to.path(), "mine.txt"), "mine", "{layout} {elsewhere}");
        }
    }
}

#[test]
fn path_picks_one_configured_path_or_is_refused_in_words() {
    let mut c = conf(Path::new("/home/me/docs"));
    c.paths.push(SyncPath {
        local: "/home/me/pics".into(),
        cloud: "Photos".into(),
        exclude: Vec::new(),
    });
    let chosen = chosen_paths(&c, Some("Photos")).unwrap();
    assert_eq!(chosen.len(), 1);
    assert_eq!(chosen[0].local, Path::new("/home/me/pics"));
    assert_eq!(chosen_paths(&c, None).unwrap().len(), 2);
    let err = chosen_paths(&c, Some("Music")).unwrap_err().0;
    assert!(
        err.starts_with(
            "no configured path is kept in the cloud folder \"Music\"; the configured ones"
        ),
        "{err}"
    );
    assert!(
        err.ends_with("are: Docs (/home/me/docs), Photos (/home/me/pics)"),
        "{err}"
    );
    let err = chosen_paths(&c, Some("Photos/2024")).unwrap_err().0;
    assert!(err.contains("add --include '/2024/**'"), "{err}");
}

#[test]
fn a_restore_into_a_backed_up_folder_is_warned_about() {
    let home = tempfile::tempdir().unwrap();
    let docs = home.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    let c = conf(&docs);
    let job = |local: std::path::PathBuf| SyncPath {
        local,
        ..path(&docs)
    };
    // Into its own folder: an ordinary restore that deletes nothing.
    assert_eq!(inside_a_source(&c, &job(docs.clone())), None);
    // Elsewhere: nothing to say.
    assert_eq!(
        inside_a_source(&c, &job(home.path().join("restore/Docs"))),
        None
    );
    // Inside the folder (spelled with `..`, not yet there): the next
    // backup would upload it again.
    let inside = docs.join("x/../restored/Docs");
    let w = inside_a_source(&c, &job(inside)).expect("a warning");
    assert!(
        w.contains("which poof backs up (cloud folder Docs): the next backup would upload"),
        "{w}"
    );
    // --to must be a folder.
    let file = home.path().join("f");
    std::fs::write(&file, "").unwrap();
    let err = restore_root(&file).unwrap_err().0;
    assert!(
        err.ends_with("not a folder; give a folder to restore into (it is created if missing)"),
        "{err}"
    );
}
