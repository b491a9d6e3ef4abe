//! `poof ls` against the in-memory store, on both layouts: what it lists
//! (decrypted names, sizes, times), under a sub-path, and what it says
//! when there is nothing there.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::engine::sync::Direction;
use crate::store::memory::MemoryStore;
use crate::testkit::{LAYOUTS, QUIET, conf, options, pool, remote, write};

fn backed_up(layout: &str) -> (tempfile::TempDir, Box<dyn Remote>) {
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.txt", "alpha");
    write(src.path(), "sub/b.txt", "bee");
    write(src.path(), "sub/c/d.txt", "d");
    write(src.path(), "subway.txt", "not under sub");
    let remote = remote(layout, &Arc::new(MemoryStore::new()));
    let opts = options(Direction::Up);
    let mut guest = pool().lease().unwrap();
    let filters = crate::filters::Filters::default();
    crate::sync::run(
        &conf(src.path()),
        &*remote,
        &mut guest,
        opts,
        &filters,
        &QUIET,
    )
    .unwrap();
    (src, remote)
}

#[test]
fn a_sub_path_is_a_file_or_a_folder() {
    assert!(under("sub/b.txt", "sub"));
    assert!(under("sub", "sub"));
    assert!(!under("subway.txt", "sub"));
    assert!(under("anything", ""));
}

#[test]
fn listings_exit_codes_and_names() {
    for layout in LAYOUTS {
        let (src, remote) = backed_up(layout);
        let c = conf(src.path());
        let path = &c.paths[0];
        assert_eq!(
            list_files(path, "", &*remote, &QUIET).unwrap(),
            Exit::Success
        );
        assert_eq!(
            list_files(path, "sub", &*remote, &QUIET).unwrap(),
            Exit::Success
        );
        // Nothing there: exit 1.
        assert_eq!(
            list_files(path, "nope", &*remote, &QUIET).unwrap(),
            Exit::Partial,
            "{layout}"
        );
        assert_eq!(list_paths(&c, &*remote, &QUIET).unwrap(), Exit::Success);
        // The listing `ls` prints from is the decrypted one.
        let names: Vec<String> = remote
            .list("Docs")
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            names,
            ["a.txt", "sub/b.txt", "sub/c/d.txt", "subway.txt"],
            "{layout}"
        );
    }
}

#[test]
fn a_cloud_dir_argument_finds_the_longest_configured_folder() {
    let mut c = conf(Path::new("/a"));
    c.paths.push(crate::config::SyncPath {
        local: "/b".into(),
        cloud: "Docs/old".into(),
        exclude: Vec::new(),
    });
    let found = |arg| {
        let (p, sub) = super::super::find_cloud(&c, arg).unwrap();
        (p.cloud.clone(), sub.to_string())
    };
    assert_eq!(found("Docs"), ("Docs".into(), "".into()));
    assert_eq!(found("Docs/"), ("Docs".into(), "".into()));
    assert_eq!(found("Docs/x/y"), ("Docs".into(), "x/y".into()));
    assert_eq!(found("Docs/old/z"), ("Docs/old".into(), "z".into()));
    assert!(super::super::find_cloud(&c, "Doc").is_err());
    assert!(super::super::find_cloud(&c, "Docsx").is_err());
}
