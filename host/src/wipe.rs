//! Removes the local files `poof upload` verified, and nothing else.
//!
//! Which files may go is the guest's decision (`wipe.wit`); this module
//! carries it out inside one configured folder, the root. Invariants:
//! - nothing outside the root is touched: every path is checked
//!   (`paths::check`), and no symbolic link is ever followed. A link the
//!   backup went through is removed itself (the link only, never what it
//!   points to), and only once every file backed up through it may go;
//! - no file system boundary is crossed: every folder and file removed is on
//!   the root's device, and (on Linux) no mount point below the root, such
//!   as a bind mount, is entered, whatever its device;
//! - a file is removed only while it is still the file that was verified
//!   (same inode, size and modification time);
//! - with `shred`, a regular file is overwritten with zeros and flushed
//!   before it is unlinked, after checking (lstat, open without following
//!   links, fstat) that the open file is the one examined. A file with other
//!   hard links is unlinked but not overwritten, and the report says so;
//! - folders emptied by the wipe are removed bottom-up; the root itself is
//!   always kept, and so are folders that were empty before (they hold no
//!   data and were not backed up);
//! - every file that stays is reported with its reason.
//!
//! Shredding is best effort and often useless: see docs/WIPE.md.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file (or the whole root) was not wiped.
#[derive(Debug, thiserror::Error)]
pub enum WipeError {
    /// The root is not a real folder (missing, a file, or a symbolic link).
    #[error(
        "{0} is not a folder (or is a symbolic link); poof wipes only inside a real folder, so nothing was removed"
    )]
    BadRoot(PathBuf),
    /// The path is not a safe relative path.
    #[error("{path:?} is not a safe relative path ({why}); not removed")]
    UnsafePath {
        /// The offending path.
        path: String,
        /// Why it is unsafe.
        why: String,
    },
    /// The file or a folder above it is on another file system than the root.
    #[error(
        "{0} is on another file system than the folder being wiped; poof never wipes across file systems, remove it yourself"
    )]
    OtherFileSystem(PathBuf),
    /// The file or a folder above it is a mount point (e.g. a bind mount).
    #[error(
        "{0} is a mount point inside the folder being wiped; poof never wipes across it, remove it yourself"
    )]
    MountPoint(PathBuf),
    /// Something that is not a regular file, link or folder is in the way.
    #[error("{path} is {kind}, not a regular file; not removed")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The file changed between its verification and its removal.
    #[error("{0} changed after it was verified; it was kept, run upload again")]
    Changed(PathBuf),
    /// A system call failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// What the verification saw of a file, checked again just before removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Device and inode.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds.
    pub mtime_ns: i64,
}

impl Stamp {
    /// The stamp of a file's metadata.
    pub fn of(m: &Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: crate::walk::mtime_ns(m),
        }
    }
}

/// How to wipe.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Overwrite regular files before unlinking them.
    pub shred: bool,
}

/// What a wipe did, per path.
#[derive(Debug, Default)]
pub struct Report {
    /// Files (and links) removed, relative to the root.
    pub removed: Vec<String>,
    /// Files that were already gone.
    pub gone: Vec<String>,
    /// Links the backup went through, removed themselves (not their targets).
    pub links_removed: Vec<String>,
    /// Folders removed because the wipe emptied them.
    pub folders_removed: usize,
    /// Things worth saying that are no failure (e.g. a hard link not shredded).
    pub notes: Vec<String>,
    /// What could not be removed, and why.
    pub failures: Vec<(String, WipeError)>,
}

/// The root's identity and the boundaries below it.
struct Bounds {
    root: PathBuf,
    /// The root without symbolic links, as mount points are written.
    canonical: PathBuf,
    dev: u64,
    /// Mount points strictly below the root (Linux), canonical.
    mounts: HashSet<PathBuf>,
}

impl Bounds {
    fn new(root: &Path) -> Result<Bounds, WipeError> {
        let m = fs::symlink_metadata(root).map_err(|_| WipeError::BadRoot(root.into()))?;
        if !m.is_dir() {
            return Err(WipeError::BadRoot(root.into()));
        }
        let canonical = fs::canonicalize(root).map_err(|source| WipeError::Io {
            path: root.into(),
            source,
        })?;
        let mounts = mount_points()
            .into_iter()
            .filter(|p| p != &canonical && p.starts_with(&canonical))
            .collect();
        Ok(Bounds {
            root: root.into(),
            canonical,
            dev: m.dev(),
            mounts,
        })
    }

    /// Fails unless `rel` (already examined: `m`) is on the root's file system
    /// and is no mount point.
    fn check(&self, rel: &str, m: &Metadata) -> Result<(), WipeError> {
        if m.dev() != self.dev {
            return Err(WipeError::OtherFileSystem(self.root.join(rel)));
        }
        if self.mounts.contains(&self.canonical.join(rel)) {
            return Err(WipeError::MountPoint(self.root.join(rel)));
        }
        Ok(())
    }
}

/// Every mount point of this process's mount namespace (Linux; elsewhere
/// none, and the device check alone guards the boundary).
pub fn mount_points() -> Vec<PathBuf> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount(p)))
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, and so on).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Wipes the files `wipe` (with the stamps their verification saw) under
/// `root`. `keep` lists the files that must stay; a link the backup went
/// through is removed only when nothing under it is kept. Fails as a whole
/// only when the root itself is unusable.
pub fn wipe(
    root: &Path,
    wipe: &[(String, Option<Stamp>)],
    keep: &[String],
    opts: Options,
) -> Result<Report, WipeError> {
    let bounds = Bounds::new(root)?;
    let mut report = Report::default();
    let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for (rel, stamp) in wipe {
        match wipe_one(&bounds, rel, *stamp, opts, &mut report) {
            Ok(Step::Removed) => {
                report.removed.push(rel.clone());
                touched.insert(rel.clone());
            }
            Ok(Step::Gone) => report.gone.push(rel.clone()),
            Ok(Step::BehindLink(link)) => links.entry(link).or_default().push(rel.clone()),
            Err(e) => report.failures.push((rel.clone(), e)),
        }
    }
    for (link, files) in links {
        let prefix = format!("{link}/");
        if let Some(k) = keep.iter().find(|k| k.starts_with(&prefix) || **k == link) {
            for f in files {
                report.failures.push((
                    f,
                    WipeError::Io {
                        path: root.join(&link),
                        source: io::Error::other(format!(
                            "it is a symbolic link, kept because {k} behind it was not verified"
                        )),
                    },
                ));
            }
            continue;
        }
        match remove_link(&bounds, &link) {
            Ok(()) => {
                report.links_removed.push(link.clone());
                report.removed.extend(files);
                touched.insert(link);
            }
            Err(e) => {
                for f in files {
                    report.failures.push((f, copy_err(&e)));
                }
            }
        }
    }
    report.folders_removed = prune(&bounds, &touched);
    Ok(report)
}

enum Step {
    Removed,
    Gone,
    /// The path goes through this link (relative to the root).
    BehindLink(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WipeError + '_ {
    move |source| WipeError::Io {
        path: path.into(),
        source,
    }
}

fn copy_err(e: &WipeError) -> WipeError {
    WipeError::Io {
        path: PathBuf::new(),
        source: io::Error::other(e.to_string()),
    }
}

fn kind_of(m: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let ft = m.file_type();
    if ft.is_dir() {
        "a folder"
    } else if ft.is_fifo() {
        "a named pipe"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a device"
    }
}

fn wipe_one(
    b: &Bounds,
    rel: &str,
    stamp: Option<Stamp>,
    opts: Options,
    report: &mut Report,
) -> Result<Step, WipeError> {
    crate::pathguard::check(rel).map_err(|why| WipeError::UnsafePath {
        path: rel.into(),
        why: why.to_string(),
    })?;
    let segments: Vec<&str> = rel.split('/').collect();
    for i in 1..segments.len() {
        let sub = segments[..i].join("/");
        let path = b.root.join(&sub);
        let m = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Step::Gone),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if m.file_type().is_symlink() {
            return Ok(Step::BehindLink(sub));
        }
        if !m.is_dir() {
            return Err(WipeError::NotAFile {
                path,
                kind: "not a folder",
            });
        }
        b.check(&sub, &m)?;
    }
    let path = b.root.join(rel);
    let m = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Step::Gone),
        Err(e) => return Err(io_err(&path)(e)),
    };
    if m.file_type().is_symlink() {
        // A link to a file: the backup stored what it points to; the link
        // itself goes, its target stays.
        fs::remove_file(&path).map_err(io_err(&path))?;
        return Ok(Step::Removed);
    }
    if !m.is_file() {
        return Err(WipeError::NotAFile {
            kind: kind_of(&m),
            path,
        });
    }
    b.check(rel, &m)?;
    if let Some(s) = stamp
        && s != Stamp::of(&m)
    {
        return Err(WipeError::Changed(path));
    }
    if opts.shred {
        if m.nlink() > 1 {
            report.notes.push(format!(
                "{} has {} other hard links: it was unlinked, not overwritten, and its content stays reachable through them",
                path.display(),
                m.nlink() - 1
            ));
        } else {
            shred(&path, &m)?;
        }
    }
    fs::remove_file(&path).map_err(io_err(&path))?;
    Ok(Step::Removed)
}

/// Overwrites a regular file with zeros and flushes it, after checking that
/// the file opened (without following a link) is the one examined.
fn shred(path: &Path, seen: &Metadata) -> Result<(), WipeError> {
    let mut f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err(path))?;
    let now = f.metadata().map_err(io_err(path))?;
    if !now.is_file() || now.dev() != seen.dev() || now.ino() != seen.ino() {
        return Err(WipeError::Changed(path.into()));
    }
    let zeros = vec![0u8; 1 << 20];
    let mut left = now.len();
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        f.write_all(&zeros[..n]).map_err(io_err(path))?;
        left -= n as u64;
    }
    f.sync_all().map_err(io_err(path))
}

fn remove_link(b: &Bounds, link: &str) -> Result<(), WipeError> {
    let path = b.root.join(link);
    let m = fs::symlink_metadata(&path).map_err(io_err(&path))?;
    if !m.file_type().is_symlink() {
        return Err(WipeError::Changed(path));
    }
    // A link is an entry of its parent folder, which was checked on the way.
    fs::remove_file(&path).map_err(io_err(&path))
}

/// Removes the folders above the removed entries that are now empty,
/// deepest first, never the root; returns how many went.
fn prune(b: &Bounds, touched: &BTreeSet<String>) -> usize {
    let mut folders: BTreeSet<String> = BTreeSet::new();
    for rel in touched {
        let mut rest = rel.as_str();
        while let Some((parent, _)) = rest.rsplit_once('/') {
            folders.insert(parent.to_string());
            rest = parent;
        }
    }
    let mut folders: Vec<String> = folders.into_iter().collect();
    folders.sort_by_key(|f| std::cmp::Reverse(f.matches('/').count()));
    let mut removed = 0;
    for f in folders {
        let path = b.root.join(&f);
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !m.is_dir() || b.check(&f, &m).is_err() {
            continue;
        }
        // Fails, and leaves the folder, when something is still in it.
        if fs::remove_dir(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn all(paths: &[&str]) -> Vec<(String, Option<Stamp>)> {
        paths.iter().map(|p| (p.to_string(), None)).collect()
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
        let r = wipe(
            &root,
            &all(&["a/b/f", "top", "missing"]),
            &["a/keep".into()],
            Options::default(),
        )
        .unwrap();
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
        symlink(outside.path(), root.join("dirlink")).unwrap();
        symlink(outside.path().join("f"), root.join("filelink")).unwrap();
        let r = wipe(
            &root,
            &all(&["dirlink/f", "filelink", "../escape", "/etc/passwd"]),
            &[],
            Options { shred: true },
        )
        .unwrap();
        assert_eq!(fs::read(outside.path().join("f")).unwrap(), b"precious");
        assert!(fs::symlink_metadata(root.join("dirlink")).is_err());
        assert!(fs::symlink_metadata(root.join("filelink")).is_err());
        assert_eq!(r.links_removed, ["dirlink"]);
        let unsafe_paths: Vec<&str> = r.failures.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(unsafe_paths, ["../escape", "/etc/passwd"]);
        assert!(
            r.failures
                .iter()
                .all(|(_, e)| matches!(e, WipeError::UnsafePath { .. }))
        );
    }

    #[test]
    fn a_link_with_unverified_files_behind_it_stays() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("f"), "1").unwrap();
        fs::write(outside.path().join("g"), "2").unwrap();
        let root = d.path().join("root");
        fs::create_dir(&root).unwrap();
        symlink(outside.path(), root.join("l")).unwrap();
        let r = wipe(&root, &all(&["l/f"]), &["l/g".into()], Options::default()).unwrap();
        assert!(fs::symlink_metadata(root.join("l")).is_ok());
        assert_eq!(r.failures.len(), 1);
        assert!(
            r.failures[0].1.to_string().contains("l/g"),
            "{}",
            r.failures[0].1
        );
    }

    #[test]
    fn shred_overwrites_and_a_changed_file_is_kept() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("f"), "secret").unwrap();
        let m = fs::metadata(root.join("f")).unwrap();
        fs::write(root.join("g"), "other").unwrap();
        shred(&root.join("f"), &m).unwrap();
        assert_eq!(fs::read(root.join("f")).unwrap(), [0u8; 6]);
        let stamp = Stamp::of(&fs::metadata(root.join("g")).unwrap());
        fs::write(root.join("g"), "other, changed").unwrap();
        let r = wipe(
            &root,
            &[("g".into(), Some(stamp))],
            &[],
            Options { shred: true },
        )
        .unwrap();
        assert!(matches!(r.failures[0].1, WipeError::Changed(_)));
        assert!(root.join("g").exists());
    }

    #[test]
    fn hard_links_are_not_shredded() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(d.path().join("outside"), "shared").unwrap();
        fs::hard_link(d.path().join("outside"), root.join("f")).unwrap();
        let r = wipe(&root, &all(&["f"]), &[], Options { shred: true }).unwrap();
        assert_eq!(r.removed, ["f"]);
        assert_eq!(fs::read(d.path().join("outside")).unwrap(), b"shared");
        assert!(r.notes[0].contains("hard link"), "{:?}", r.notes);
    }

    #[test]
    fn a_root_that_is_a_link_is_refused() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("real")).unwrap();
        symlink(d.path().join("real"), d.path().join("root")).unwrap();
        let err = wipe(&d.path().join("root"), &[], &[], Options::default()).unwrap_err();
        assert!(matches!(err, WipeError::BadRoot(_)));
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mount("/mnt/my\\040disk"), "/mnt/my disk");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert!(mount_points().iter().any(|p| p == Path::new("/")) || !cfg!(target_os = "linux"));
    }
}
