//! Removes the local files `poof upload` verified, and nothing else.
//!
//! Which files, symbolic links and emptied folders may go is the guest's
//! decision (`wipe.wit`); this module gathers the facts it needs (which
//! folder on a file's path is a link, `link_on_path`) and carries the plan
//! out inside one configured folder, the root. Invariants:
//! - nothing outside the root is touched: every path is checked
//!   (`pathguard::check`), and no symbolic link is ever followed. A file or
//!   folder whose path goes through a link is refused, whatever the plan
//!   says; a link the plan lists is removed itself (the link only, never
//!   what it points to);
//! - no file system boundary is crossed: every folder and file removed is on
//!   the root's device, and (on Linux) no mount point below the root, such
//!   as a bind mount, is entered, whatever its device;
//! - a file is removed only while it is still the file that was verified
//!   (same inode, size and modification time);
//! - with `shred`, a regular file is overwritten with zeros and flushed
//!   before it is unlinked, after checking (lstat, open without following
//!   links, fstat) that the open file is the one examined. A file with other
//!   hard links is unlinked but not overwritten, and the report says so;
//! - the folders the plan lists are tried in its order (deepest first) with
//!   rmdir, which removes only an empty folder; the root itself is never
//!   removed (no safe relative path names it);
//! - every file that stays is reported with its reason.
//!
//! Shredding is best effort and often useless: see docs/WIPE.md.

use std::collections::HashSet;
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
    /// A folder on the path is a symbolic link, which the wipe never goes through.
    #[error(
        "{0} is a symbolic link, and poof never removes anything through a link; what is behind it was kept"
    )]
    ThroughLink(PathBuf),
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

/// What the guest's wipe plan lets go, with what the verification saw.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Files to remove, relative to the root, with the stamp their
    /// verification saw (none for a file that is itself a link).
    pub files: Vec<(String, Option<Stamp>)>,
    /// Links to remove (the link only), each with the files behind it.
    pub links: Vec<(String, Vec<String>)>,
    /// Folders to try to remove once emptied, in this order.
    pub folders: Vec<String>,
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

/// The first folder on `rel`'s path (below `root`) that is a symbolic link,
/// found with lstat, one folder after the other, never following a link. A
/// fact for the guest's wipe plan: `None` when there is none, or when the
/// path is unsafe or a folder on it cannot be examined (the wipe examines
/// the path again, and refuses what it cannot).
pub fn link_on_path(root: &Path, rel: &str) -> Option<String> {
    crate::pathguard::check(rel).ok()?;
    for (i, _) in rel.match_indices('/') {
        let folder = &rel[..i];
        let m = fs::symlink_metadata(root.join(folder)).ok()?;
        if m.file_type().is_symlink() {
            return Some(folder.to_string());
        }
        if !m.is_dir() {
            return None;
        }
    }
    None
}

/// Carries out the guest's wipe plan under `root`: its files, then its
/// links, then its folders. Fails as a whole only when the root itself is
/// unusable.
pub fn wipe(root: &Path, plan: &Plan, opts: Options) -> Result<Report, WipeError> {
    let bounds = Bounds::new(root)?;
    let mut report = Report::default();
    for (rel, stamp) in &plan.files {
        match wipe_one(&bounds, rel, *stamp, opts, &mut report) {
            Ok(Step::Removed) => report.removed.push(rel.clone()),
            Ok(Step::Gone) => report.gone.push(rel.clone()),
            Err(e) => report.failures.push((rel.clone(), e)),
        }
    }
    for (link, files) in &plan.links {
        match remove_link(&bounds, link) {
            Ok(Step::Removed) => {
                report.links_removed.push(link.clone());
                report.removed.extend(files.iter().cloned());
            }
            Ok(Step::Gone) => report.gone.extend(files.iter().cloned()),
            Err(e) => {
                for f in files {
                    report.failures.push((f.clone(), copy_err(&e)));
                }
            }
        }
    }
    report.folders_removed = prune(&bounds, &plan.folders);
    Ok(report)
}

enum Step {
    Removed,
    Gone,
}

/// Examines the folders above `rel` with lstat, never following a link:
/// each must be a real folder on the root's file system, and none a link.
/// `Ok(None)` when one of them, or `rel` itself, is gone; otherwise what
/// `rel` is (not followed either).
fn examine(b: &Bounds, rel: &str) -> Result<Option<Metadata>, WipeError> {
    crate::pathguard::check(rel).map_err(|why| WipeError::UnsafePath {
        path: rel.into(),
        why: why.to_string(),
    })?;
    for (i, _) in rel.match_indices('/') {
        let folder = &rel[..i];
        let path = b.root.join(folder);
        let m = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
        };
        if m.file_type().is_symlink() {
            return Err(WipeError::ThroughLink(path));
        }
        if !m.is_dir() {
            return Err(WipeError::NotAFile {
                path,
                kind: "not a folder",
            });
        }
        b.check(folder, &m)?;
    }
    let path = b.root.join(rel);
    match fs::symlink_metadata(&path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&path)(e)),
    }
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
    let Some(m) = examine(b, rel)? else {
        return Ok(Step::Gone);
    };
    let path = b.root.join(rel);
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

/// Removes the link `link` itself, after checking that the folders above it
/// are real folders on the root's file system and that it is still a link.
fn remove_link(b: &Bounds, link: &str) -> Result<Step, WipeError> {
    let Some(m) = examine(b, link)? else {
        return Ok(Step::Gone);
    };
    let path = b.root.join(link);
    if !m.file_type().is_symlink() {
        return Err(WipeError::Changed(path));
    }
    b.check(link, &m)?;
    fs::remove_file(&path).map_err(io_err(&path))?;
    Ok(Step::Removed)
}

/// Tries to remove each of `folders`, in order, and returns how many went.
/// A folder is tried only when its path is safe, goes through no link and
/// stays on the root's file system; rmdir then fails, and leaves it, when
/// something is still in it.
fn prune(b: &Bounds, folders: &[String]) -> usize {
    let mut removed = 0;
    for f in folders {
        let Ok(Some(m)) = examine(b, f) else {
            continue;
        };
        if !m.is_dir() || b.check(f, &m).is_err() {
            continue;
        }
        if fs::remove_dir(b.root.join(f)).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let m = fs::metadata(root.join("f")).unwrap();
        fs::write(root.join("g"), "other").unwrap();
        shred(&root.join("f"), &m).unwrap();
        assert_eq!(fs::read(root.join("f")).unwrap(), [0u8; 6]);
        let stamp = Stamp::of(&fs::metadata(root.join("g")).unwrap());
        fs::write(root.join("g"), "other, changed").unwrap();
        let plan = Plan {
            files: vec![("g".into(), Some(stamp))],
            ..Plan::default()
        };
        let r = wipe(&root, &plan, Options { shred: true }).unwrap();
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
        let r = wipe(&root, &all(&["f"]), Options { shred: true }).unwrap();
        assert_eq!(r.removed, ["f"]);
        assert_eq!(fs::read(d.path().join("outside")).unwrap(), b"shared");
        assert!(r.notes[0].contains("hard link"), "{:?}", r.notes);
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
}
