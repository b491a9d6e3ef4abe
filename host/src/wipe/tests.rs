use super::*;
use std::cell::RefCell;
use std::io::Read;
use std::os::unix::fs::symlink;

fn all(paths: &[&str]) -> Plan {
    Plan {
        files: paths.iter().map(|p| (p.to_string(), None)).collect(),
        ..Plan::default()
    }
}

fn strings(paths: &[&str]) -> Vec<String> {
    paths.iter().map(|p| p.to_string()).collect()
}

/// What a test runs between a removal's checks and its confirmation.
type Hook = Box<dyn FnMut(&str)>;

thread_local! {
    /// This thread's hook, if any.
    static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
}

/// Called by the wipe between a removal's checks and its confirmation:
/// runs this thread's hook, if any.
pub(super) fn after_check(rel: &str) {
    HOOK.with_borrow_mut(|h| {
        if let Some(h) = h {
            h(rel)
        }
    });
}

/// Runs `f` with `hook` called between each removal's checks and its
/// confirmation (on this thread only, so tests running beside it see none).
fn with_hook<T>(hook: impl FnMut(&str) + 'static, f: impl FnOnce() -> T) -> T {
    HOOK.set(Some(Box::new(hook)));
    let out = f();
    HOOK.set(None);
    out
}

#[test]
fn removes_files_and_emptied_folders_but_keeps_the_root_and_the_rest() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    fs::create_dir_all(root.join("a/b")).unwrap();
    fs::create_dir_all(root.join("was-empty")).unwrap();
    fs::write(root.join("a/b/f"), "x").unwrap();
    fs::write(root.join("a/keep"), "k").unwrap();
    fs::write(root.join("top"), "t").unwrap();
    let plan = Plan {
        // The root is never removed, even when listed: no safe path names it.
        folders: strings(&["a/b", "a", "", ".", ".."]),
        ..all(&["a/b/f", "top", "missing"])
    };
    let r = wipe(&root, &plan, Options::default()).unwrap();
    assert_eq!(r.removed, ["a/b/f", "top"]);
    assert_eq!(r.gone, ["missing"]);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(r.folders_removed, 1);
    assert!(!root.join("a/b").exists());
    assert!(root.join("a/keep").exists());
    assert!(root.join("was-empty").is_dir());
    assert!(root.is_dir());
}

#[test]
fn never_follows_links_or_leaves_the_root() {
    let d = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("f"), "precious").unwrap();
    let root = d.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::create_dir(outside.path().join("empty")).unwrap();
    symlink(outside.path(), root.join("dirlink")).unwrap();
    symlink(outside.path(), root.join("keptlink")).unwrap();
    symlink(outside.path().join("f"), root.join("filelink")).unwrap();
    let plan = Plan {
        // A file and folders through a link the plan does not remove are
        // refused, whatever the plan says.
        folders: strings(&["keptlink/empty", "keptlink"]),
        links: vec![("dirlink".into(), strings(&["dirlink/f"]))],
        ..all(&["keptlink/f", "filelink", "../escape", "/etc/passwd"])
    };
    let r = wipe(&root, &plan, Options { shred: true }).unwrap();
    assert_eq!(fs::read(outside.path().join("f")).unwrap(), b"precious");
    assert!(outside.path().join("empty").is_dir());
    assert!(fs::symlink_metadata(root.join("dirlink")).is_err());
    assert!(fs::symlink_metadata(root.join("filelink")).is_err());
    assert!(fs::symlink_metadata(root.join("keptlink")).is_ok());
    assert_eq!(r.links_removed, ["dirlink"]);
    assert_eq!(r.removed, ["filelink", "dirlink/f"]);
    assert_eq!(r.folders_removed, 0);
    let failed: Vec<&str> = r.failures.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(failed, ["keptlink/f", "../escape", "/etc/passwd"]);
    assert!(matches!(r.failures[0].1, WipeError::ThroughLink(_)));
    assert!(
        r.failures[1..]
            .iter()
            .all(|(_, e)| matches!(e, WipeError::UnsafePath { .. }))
    );
}

#[test]
fn link_on_path_names_the_first_link_without_following_it() {
    let d = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir(outside.path().join("sub")).unwrap();
    symlink(outside.path(), outside.path().join("inner")).unwrap();
    let root = d.path().join("root");
    fs::create_dir_all(root.join("a/b")).unwrap();
    symlink(outside.path(), root.join("a/l")).unwrap();
    symlink(outside.path().join("sub"), root.join("filelike")).unwrap();
    assert_eq!(link_on_path(&root, "a/l/inner/f").as_deref(), Some("a/l"));
    assert_eq!(link_on_path(&root, "a/l/f").as_deref(), Some("a/l"));
    assert_eq!(link_on_path(&root, "a/b/f"), None);
    // The file itself is no folder on its path.
    assert_eq!(link_on_path(&root, "a/l"), None);
    assert_eq!(link_on_path(&root, "f"), None);
    assert_eq!(link_on_path(&root, "missing/x/f"), None);
    assert_eq!(link_on_path(&root, "../root/a/l/f"), None);
}

#[test]
fn a_link_that_changed_is_kept_with_its_files() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    fs::create_dir_all(root.join("l")).unwrap();
    fs::write(root.join("l/f"), "now a real folder").unwrap();
    let plan = Plan {
        links: vec![
            ("l".into(), strings(&["l/f"])),
            ("gone".into(), strings(&["gone/g"])),
        ],
        ..Plan::default()
    };
    let r = wipe(&root, &plan, Options::default()).unwrap();
    assert!(root.join("l/f").exists());
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].0, "l/f");
    assert!(
        r.failures[0]
            .1
            .to_string()
            .contains("changed after it was verified"),
        "{}",
        r.failures[0].1
    );
    assert_eq!(r.gone, ["gone/g"]);
    assert!(r.links_removed.is_empty());
}

#[test]
fn shred_overwrites_and_a_changed_file_is_kept() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("f"), "secret").unwrap();
    fs::write(root.join("g"), "other").unwrap();
    // An open handle sees what was written before the unlink (holding the
    // file open adds no hard link).
    let mut held = fs::File::open(root.join("f")).unwrap();
    let r = wipe(&root, &all(&["f"]), Options { shred: true }).unwrap();
    assert_eq!(r.removed, ["f"]);
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    assert!(!root.join("f").exists());
    let mut now = Vec::new();
    held.read_to_end(&mut now).unwrap();
    assert_eq!(now, [0u8; 6]);
    let stamp = Stamp::of(&fs::metadata(root.join("g")).unwrap());
    fs::write(root.join("g"), "other, changed").unwrap();
    // The upload stamps with std's metadata, the wipe compares with
    // `fstatat`: an unchanged file matches its stamp.
    fs::write(root.join("h"), "unchanged").unwrap();
    let same = Stamp::of(&fs::metadata(root.join("h")).unwrap());
    let plan = Plan {
        files: vec![("g".into(), Some(stamp)), ("h".into(), Some(same))],
        ..Plan::default()
    };
    let r = wipe(&root, &plan, Options { shred: true }).unwrap();
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    assert!(matches!(r.failures[0].1, WipeError::Changed(_)));
    assert!(root.join("g").exists());
    assert_eq!(r.removed, ["h"]);
}

#[test]
fn hard_links_are_not_shredded() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::write(d.path().join("outside"), "shared").unwrap();
    fs::hard_link(d.path().join("outside"), root.join("f")).unwrap();
    let r = wipe(&root, &all(&["f"]), Options { shred: true }).unwrap();
    assert_eq!(r.removed, ["f"]);
    assert_eq!(fs::read(d.path().join("outside")).unwrap(), b"shared");
    assert!(r.notes[0].contains("hard link"), "{:?}", r.notes);
}

/// A deep path is walked holding two folder handles at a time, not one per
/// level, so no limit on open files is reached.
#[test]
fn a_deep_file_is_wiped() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    let deep = vec!["d"; 1500].join("/");
    fs::create_dir_all(root.join(&deep)).unwrap();
    let file = format!("{deep}/f");
    fs::write(root.join(&file), "x").unwrap();
    let plan = Plan {
        folders: vec![deep.clone()],
        ..all(&[file.as_str()])
    };
    let r = wipe(&root, &plan, Options { shred: true }).unwrap();
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    assert_eq!(r.removed, [file]);
    assert_eq!(r.folders_removed, 1);
    assert!(!root.join(&deep).exists());
}

#[test]
fn a_root_that_is_a_link_is_refused() {
    let d = tempfile::tempdir().unwrap();
    fs::create_dir(d.path().join("real")).unwrap();
    symlink(d.path().join("real"), d.path().join("root")).unwrap();
    let err = wipe(&d.path().join("root"), &Plan::default(), Options::default()).unwrap_err();
    assert!(matches!(err, WipeError::BadRoot(_)));
}

#[test]
fn mountinfo_escapes_are_undone() {
    assert_eq!(unescape_mount("/mnt/my\\040disk"), "/mnt/my disk");
    assert_eq!(unescape_mount("/plain"), "/plain");
    assert!(mount_points().iter().any(|p| p == Path::new("/")) || !cfg!(target_os = "linux"));
}

/// A folder `root/a` holding a file `f`, a link `l` and an empty folder
/// `b`, and a folder outside the root holding the same names.
struct Race {
    _d: tempfile::TempDir,
    outside: tempfile::TempDir,
    root: PathBuf,
}

impl Race {
    fn new() -> Race {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        for base in [root.join("a"), outside.path().to_path_buf()] {
            fs::create_dir_all(base.join("b")).unwrap();
            fs::write(base.join("f"), "precious").unwrap();
            symlink("f", base.join("l")).unwrap();
        }
        Race {
            _d: d,
            outside,
            root,
        }
    }

    /// Asserts that everything outside the root is still there.
    fn outside_intact(&self) {
        let o = self.outside.path();
        assert_eq!(fs::read(o.join("f")).unwrap(), b"precious");
        assert!(fs::symlink_metadata(o.join("l")).unwrap().is_symlink());
        assert!(o.join("b").is_dir());
    }
}

/// The race the folder handles close: right after the checks, the folder
/// above a file, a link or a folder the wipe is about to remove is swapped
/// for a link to a folder outside the root (with the same names in it). A
/// wipe by paths would then remove what is outside; this one removes
/// nothing, and says the file was kept because of the link.
#[test]
fn a_folder_swapped_for_a_link_after_the_check_removes_nothing_outside() {
    let cases = [
        ("file", all(&["a/f"]), false),
        ("shredded file", all(&["a/f"]), true),
        (
            "link",
            Plan {
                links: vec![("a/l".into(), strings(&["a/l/x"]))],
                ..Plan::default()
            },
            false,
        ),
        (
            "folder",
            Plan {
                folders: strings(&["a/b"]),
                ..Plan::default()
            },
            false,
        ),
    ];
    for (what, plan, shred) in cases {
        let race = Race::new();
        let (root, outside) = (race.root.clone(), race.outside.path().to_path_buf());
        let swaps = std::rc::Rc::new(std::cell::Cell::new(0));
        let counted = swaps.clone();
        let r = with_hook(
            move |_| {
                fs::rename(root.join("a"), root.join("moved")).unwrap();
                symlink(&outside, root.join("a")).unwrap();
                counted.set(counted.get() + 1);
            },
            || wipe(&race.root, &plan, Options { shred }).unwrap(),
        );
        assert_eq!(swaps.get(), 1, "{what}");
        race.outside_intact();
        // Nothing was removed inside either: the moved folder is whole.
        let moved = race.root.join("moved");
        assert_eq!(fs::read(moved.join("f")).unwrap(), b"precious", "{what}");
        assert!(fs::symlink_metadata(moved.join("l")).is_ok(), "{what}");
        assert!(moved.join("b").is_dir(), "{what}");
        assert!(r.removed.is_empty(), "{what}: {:?}", r.removed);
        assert!(r.links_removed.is_empty(), "{what}");
        assert_eq!(r.folders_removed, 0, "{what}");
        if what == "folder" {
            assert!(r.failures.is_empty(), "{what}: {:?}", r.failures);
            continue;
        }
        let failed: Vec<&str> = r.failures.iter().map(|(p, _)| p.as_str()).collect();
        let file = if what == "link" { "a/l/x" } else { "a/f" };
        assert_eq!(failed, [file], "{what}");
        let why = r.failures[0].1.to_string();
        assert!(
            why.contains("a is a symbolic link") && why.contains("was kept"),
            "{what}: {why}"
        );
    }
}

/// A folder replaced by another real folder after the checks: the name no
/// longer leads to the folder examined, so the file in each is kept.
#[test]
fn a_folder_replaced_after_the_check_keeps_its_file() {
    let race = Race::new();
    let root = race.root.clone();
    fs::create_dir(root.join("other")).unwrap();
    fs::write(root.join("other/f"), "not verified").unwrap();
    let r = with_hook(
        move |_| {
            fs::rename(root.join("a"), root.join("moved")).unwrap();
            fs::rename(root.join("other"), root.join("a")).unwrap();
        },
        || wipe(&race.root, &all(&["a/f"]), Options::default()).unwrap(),
    );
    assert!(r.removed.is_empty());
    assert!(
        matches!(r.failures[0].1, WipeError::Moved(_)),
        "{:?}",
        r.failures
    );
    assert_eq!(fs::read(race.root.join("a/f")).unwrap(), b"not verified");
    assert_eq!(fs::read(race.root.join("moved/f")).unwrap(), b"precious");
}

/// The same race run for real, many times: a thread swaps the folder for a
/// link to the outside and back while the files in it are wiped. Whatever
/// the interleaving, nothing outside the root is removed.
#[test]
fn a_racing_swap_never_removes_anything_outside() {
    use rustix::fs::{Mode, OFlags};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const FILES: usize = 20;
    let names: Vec<String> = (0..FILES).map(|i| format!("f{i}")).collect();
    let race = Race::new();
    let (root, outside) = (race.root.clone(), race.outside.path());
    for n in &names {
        fs::write(outside.join(n), "precious").unwrap();
    }
    symlink(outside, root.join("lnk")).unwrap();
    // The real folder, to refill whatever its name is at the moment.
    let real = rustix::fs::open(root.join("a"), OFlags::DIRECTORY, Mode::empty()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for (from, to) in [("a", "real"), ("lnk", "a"), ("a", "lnk"), ("real", "a")] {
                    fs::rename(root.join(from), root.join(to)).unwrap();
                }
                swaps += 1;
            }
            swaps
        })
    };
    let plan = Plan {
        files: names.iter().map(|n| (format!("a/{n}"), None)).collect(),
        ..Plan::default()
    };
    let (mut removed, mut kept) = (0, 0);
    for round in 0..300 {
        for n in &names {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW;
            rustix::fs::openat(&real, n.as_str(), flags, Mode::from_raw_mode(0o644)).unwrap();
        }
        let r = wipe(
            &root,
            &plan,
            Options {
                shred: round % 2 == 1,
            },
        )
        .unwrap();
        assert_eq!(r.removed.len() + r.gone.len() + r.failures.len(), FILES);
        removed += r.removed.len();
        kept += r.failures.len();
        for n in &names {
            assert_eq!(
                fs::read(outside.join(n)).unwrap(),
                b"precious",
                "round {round}"
            );
        }
        race.outside_intact();
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    eprintln!("{swaps} swaps, {removed} files removed, {kept} kept");
}
