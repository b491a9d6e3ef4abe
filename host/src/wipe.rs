//! Removes the local files `poof upload` verified, and nothing else.
//!
//! Which files, symbolic links and emptied folders may go is the guest's
//! decision (`wipe.wit`); this module gathers the facts it needs (which
//! folder on a file's path is a link, `link_on_path`) and carries the plan
//! out inside one configured folder, the root. Invariants:
//! - nothing outside the root is touched: every path is checked
//!   (`pathguard::check`), and no symbolic link is ever followed. The root
//!   is opened once as a folder handle (its last component no link), and
//!   every path is walked from that handle one folder at a time, each opened
//!   with `O_DIRECTORY | O_NOFOLLOW` from the one above (`at.rs`); the file
//!   is examined, opened and unlinked relative to its folder's handle. So
//!   swapping a folder for a link after it was examined cannot redirect a
//!   removal: the handle still names the folder that was examined. A file or
//!   folder whose path goes through a link is refused, whatever the plan
//!   says; a link the plan lists is removed itself (the link only, never
//!   what it points to);
//! - right before each removal, the path is confirmed: from the root's
//!   handle, each name still leads to the folder opened for it (and none is
//!   a link), and the last one to the file examined. A tree rearranged since
//!   the walk keeps what it holds (`ThroughLink`, `Moved`, `Changed`);
//! - no file system boundary is crossed: every folder and file removed is on
//!   the root's device, and (on Linux) no mount point below the root, such
//!   as a bind mount, is entered, whatever its device;
//! - a file is removed only while it is still the file that was verified
//!   (same inode, size and modification time);
//! - with `shred`, a regular file is overwritten with zeros and flushed
//!   before it is unlinked, after checking (`fstatat`, `openat` without
//!   following links, `fstat`) that the open file is the one examined. A
//!   file with other hard links is unlinked but not overwritten, and the
//!   report says so;
//! - the folders the plan lists are tried in its order (deepest first) with
//!   `unlinkat(AT_REMOVEDIR)`, which removes only an empty folder; the root
//!   itself is never removed (no safe relative path names it);
//! - every file that stays is reported with its reason.
//!
//! What this cannot prevent (no system call unlinks a name only if it still
//! names a given inode): someone who can write in a folder below the root
//! may put another entry under a file's name between the last check and the
//! unlink, and that entry (in that same folder, never elsewhere) is removed
//! instead. Shredding is best effort and often useless. See docs/WIPE.md.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

mod at;

use at::{Dir, Facts, Kind, OpenError};

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
    /// A folder on the path was moved or replaced while the wipe was in it.
    #[error("{0} was moved or replaced during the wipe; what is in it was kept, run upload again")]
    Moved(PathBuf),
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

    /// The stamp of what `fstatat` saw.
    fn of_facts(f: &Facts) -> Stamp {
        Stamp {
            dev: f.dev,
            ino: f.ino,
            size: f.size,
            mtime_ns: f.mtime_ns,
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

/// The root's handle and identity, and the boundaries below it.
struct Bounds {
    root: PathBuf,
    /// The root, opened once; every path is walked from it.
    dir: Dir,
    /// The root without symbolic links, as mount points are written.
    canonical: PathBuf,
    /// Mount points strictly below the root (Linux), canonical.
    mounts: HashSet<PathBuf>,
}

impl Bounds {
    fn new(root: &Path) -> Result<Bounds, WipeError> {
        let dir = Dir::open_root(root).map_err(|_| WipeError::BadRoot(root.into()))?;
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
            dir,
            canonical,
            mounts,
        })
    }

    /// Fails unless `rel` (already examined: `f`) is on the root's file
    /// system and is no mount point.
    fn check(&self, rel: &str, f: &Facts) -> Result<(), WipeError> {
        if f.dev != self.dir.facts.dev {
            return Err(WipeError::OtherFileSystem(self.root.join(rel)));
        }
        self.no_mount_point(rel)
    }

    /// Fails when `rel` is a mount point (Linux), before anything opens it.
    fn no_mount_point(&self, rel: &str) -> Result<(), WipeError> {
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

/// Where a path is: the folders above it, each opened from the one above
/// (the first from the root) without following a link, and its last name.
/// Only the handle of the last folder is kept (a deep path holds no more
/// than two open at a time).
struct Walk<'a> {
    /// Each folder above the last component: its path relative to the root,
    /// its name, and what `fstat` saw of it once opened.
    dirs: Vec<(&'a str, &'a str, Facts)>,
    /// The folder that holds the last component (`None`: the root).
    parent: Option<Dir>,
    /// The last component.
    name: &'a str,
}

impl Walk<'_> {
    /// The handle of the folder that holds the last component.
    fn parent<'b>(&'b self, b: &'b Bounds) -> &'b Dir {
        self.parent.as_ref().unwrap_or(&b.dir)
    }
}

/// Walks to `rel` from the root's handle, opening each folder above it with
/// `O_DIRECTORY | O_NOFOLLOW` from the one above: each must be a real folder
/// on the root's file system, and none a link (a mount point is refused
/// before it is opened). `Ok(None)` when one of them, or `rel` itself, is
/// gone; otherwise the walk and what `rel` is (`fstatat` in its folder, not
/// following a link either).
fn examine<'a>(b: &Bounds, rel: &'a str) -> Result<Option<(Walk<'a>, Facts)>, WipeError> {
    crate::pathguard::check(rel).map_err(|why| WipeError::UnsafePath {
        path: rel.into(),
        why: why.to_string(),
    })?;
    let mut dirs = Vec::new();
    let mut parent: Option<Dir> = None;
    let mut start = 0;
    for (i, _) in rel.match_indices('/') {
        let (folder, name) = (&rel[..i], &rel[start..i]);
        start = i + 1;
        b.no_mount_point(folder)?;
        let dir = match parent.as_ref().unwrap_or(&b.dir).open_dir(name) {
            Ok(d) => d,
            Err(OpenError::Gone) => return Ok(None),
            Err(OpenError::Link) => return Err(WipeError::ThroughLink(b.root.join(folder))),
            Err(OpenError::NotDir) => {
                return Err(WipeError::NotAFile {
                    path: b.root.join(folder),
                    kind: "not a folder",
                });
            }
            Err(OpenError::Io(e)) => return Err(io_err(&b.root.join(folder))(e)),
        };
        b.check(folder, &dir.facts)?;
        dirs.push((folder, name, dir.facts));
        parent = Some(dir);
    }
    let walk = Walk {
        dirs,
        parent,
        name: &rel[start..],
    };
    match walk.parent(b).stat(walk.name) {
        Ok(Some(f)) => Ok(Some((walk, f))),
        Ok(None) => Ok(None),
        Err(e) => Err(io_err(&b.root.join(rel))(e)),
    }
}

/// Right before a removal: confirms, walking again from the root's handle
/// the same way, that each folder's name still leads to the folder the walk
/// opened (none is now a link) and the last name to what was examined
/// (`seen`). A tree rearranged since the walk keeps what it holds. The
/// unlink that follows goes through the walk's handle whatever happens
/// after this, so it cannot leave the folder that was examined.
fn confirm(b: &Bounds, rel: &str, walk: &Walk, seen: &Facts) -> Result<(), WipeError> {
    let mut again: Option<Dir> = None;
    for (folder, name, facts) in &walk.dirs {
        let path = b.root.join(folder);
        again = match again.as_ref().unwrap_or(&b.dir).open_dir(name) {
            Ok(d) if d.facts.same(facts) => Some(d),
            Err(OpenError::Link) => return Err(WipeError::ThroughLink(path)),
            Err(OpenError::Io(e)) => return Err(io_err(&path)(e)),
            _ => return Err(WipeError::Moved(path)),
        };
    }
    let path = b.root.join(rel);
    match walk.parent(b).stat(walk.name).map_err(io_err(&path))? {
        Some(f) if f.same(seen) && f.kind == seen.kind => Ok(()),
        _ => Err(WipeError::Changed(path)),
    }
}

/// Runs between a removal's checks and its confirmation; in tests, a hook
/// that changes the tree at that very moment (`tests::after_check`).
#[cfg(not(test))]
fn after_check(_rel: &str) {}

#[cfg(test)]
use tests::after_check;

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

fn wipe_one(
    b: &Bounds,
    rel: &str,
    stamp: Option<Stamp>,
    opts: Options,
    report: &mut Report,
) -> Result<Step, WipeError> {
    let Some((walk, m)) = examine(b, rel)? else {
        return Ok(Step::Gone);
    };
    let path = b.root.join(rel);
    let parent = walk.parent(b);
    match m.kind {
        Kind::Link => {
            // A link to a file: the backup stored what it points to; the
            // link itself goes, its target stays.
            after_check(rel);
            confirm(b, rel, &walk, &m)?;
            parent.unlink(walk.name, false).map_err(io_err(&path))?;
            return Ok(Step::Removed);
        }
        Kind::File => {}
        Kind::Dir => {
            return Err(WipeError::NotAFile {
                path,
                kind: "a folder",
            });
        }
        Kind::Other(kind) => return Err(WipeError::NotAFile { path, kind }),
    }
    b.check(rel, &m)?;
    if let Some(s) = stamp
        && s != Stamp::of_facts(&m)
    {
        return Err(WipeError::Changed(path));
    }
    after_check(rel);
    confirm(b, rel, &walk, &m)?;
    if opts.shred {
        if m.nlink > 1 {
            report.notes.push(format!(
                "{} has {} other hard links: it was unlinked, not overwritten, and its content stays reachable through them",
                path.display(),
                m.nlink - 1
            ));
        } else if !parent.shred(walk.name, &m).map_err(io_err(&path))? {
            return Err(WipeError::Changed(path));
        }
    }
    parent.unlink(walk.name, false).map_err(io_err(&path))?;
    Ok(Step::Removed)
}

/// Removes the link `link` itself, after checking that the folders above it
/// are real folders on the root's file system and that it is still a link.
fn remove_link(b: &Bounds, link: &str) -> Result<Step, WipeError> {
    let Some((walk, m)) = examine(b, link)? else {
        return Ok(Step::Gone);
    };
    let path = b.root.join(link);
    if m.kind != Kind::Link {
        return Err(WipeError::Changed(path));
    }
    b.check(link, &m)?;
    after_check(link);
    confirm(b, link, &walk, &m)?;
    walk.parent(b)
        .unlink(walk.name, false)
        .map_err(io_err(&path))?;
    Ok(Step::Removed)
}

/// Tries to remove each of `folders`, in order, and returns how many went.
/// A folder is tried only when its path is safe, goes through no link and
/// stays on the root's file system; `unlinkat(AT_REMOVEDIR)` then fails,
/// and leaves it, when something is still in it.
fn prune(b: &Bounds, folders: &[String]) -> usize {
    let mut removed = 0;
    for f in folders {
        let Ok(Some((walk, m))) = examine(b, f) else {
            continue;
        };
        if m.kind != Kind::Dir || b.check(f, &m).is_err() {
            continue;
        }
        after_check(f);
        if confirm(b, f, &walk, &m).is_err() {
            continue;
        }
        if walk.parent(b).unlink(walk.name, true).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests;
