//! The wipe's only access to the file system: system calls relative to
//! folder handles (rustix), never a path resolved from the top.
//!
//! A folder is opened with `O_DIRECTORY | O_NOFOLLOW` from the handle of the
//! folder above it, so a handle always names a real folder that was reached
//! without following a link; a file is examined with `fstatat` without
//! following a link, opened (to shred it) with `O_NOFOLLOW` and removed with
//! `unlinkat`, each relative to its folder's handle. Moving or replacing a
//! folder by its path after it was opened cannot redirect any of these calls:
//! the handle goes on naming the folder that was opened.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

/// What a file, link or folder is, as `lstat` (or `fstat`) saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    Link,
    /// Something else, in words ("a named pipe", ...).
    Other(&'static str),
}

/// The facts of one `fstatat` or `fstat`, in the stamp's units.
#[derive(Debug, Clone, Copy)]
pub(super) struct Facts {
    pub kind: Kind,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

impl Facts {
    // The fields' types differ between systems (and between rustix's
    // backends): on some every cast below is to the same type.
    #[allow(clippy::unnecessary_cast, trivial_numeric_casts)]
    fn of(st: &Stat) -> Facts {
        let kind = match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Kind::File,
            FileType::Directory => Kind::Dir,
            FileType::Symlink => Kind::Link,
            FileType::Fifo => Kind::Other("a named pipe"),
            FileType::Socket => Kind::Other("a socket"),
            _ => Kind::Other("a device"),
        };
        Facts {
            kind,
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            nlink: st.st_nlink as u64,
            size: st.st_size as u64,
            mtime_ns: (st.st_mtime as i64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_mtime_nsec as i64),
        }
    }

    /// Whether both name the same file (device and inode).
    pub fn same(&self, other: &Facts) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// A folder opened without following a link, with what `fstat` saw of it.
pub(super) struct Dir {
    fd: OwnedFd,
    pub facts: Facts,
}

/// Why a folder could not be opened.
pub(super) enum OpenError {
    /// Nothing has that name.
    Gone,
    /// It is a symbolic link.
    Link,
    /// It is something else than a folder.
    NotDir,
    /// The system said no.
    Io(io::Error),
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl Dir {
    /// Opens `path` as a folder; fails when its last component is a link
    /// (the folders above it are the user's configured path, followed).
    pub fn open_root(path: &Path) -> io::Result<Dir> {
        Dir::from_fd(rustix::fs::open(path, DIR_FLAGS, Mode::empty())?)
    }

    /// Opens the entry `name` of this folder as a folder, never following a
    /// link.
    pub fn open_dir(&self, name: &str) -> Result<Dir, OpenError> {
        match rustix::fs::openat(&self.fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Dir::from_fd(fd).map_err(OpenError::Io),
            Err(rustix::io::Errno::NOENT) => Err(OpenError::Gone),
            // Systems differ in what they say for a link (ELOOP, ENOTDIR,
            // EMLINK): ask what is there, without following it.
            Err(e) => match self.stat(name) {
                Ok(Some(f)) if f.kind == Kind::Link => Err(OpenError::Link),
                Ok(Some(f)) if f.kind != Kind::Dir => Err(OpenError::NotDir),
                Ok(None) => Err(OpenError::Gone),
                _ => Err(OpenError::Io(e.into())),
            },
        }
    }

    fn from_fd(fd: OwnedFd) -> io::Result<Dir> {
        let facts = Facts::of(&rustix::fs::fstat(&fd)?);
        if facts.kind != Kind::Dir {
            return Err(io::Error::from(rustix::io::Errno::NOTDIR));
        }
        Ok(Dir { fd, facts })
    }

    /// `fstatat(AT_SYMLINK_NOFOLLOW)` of the entry `name`: `None` when
    /// nothing has that name.
    pub fn stat(&self, name: &str) -> io::Result<Option<Facts>> {
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Facts::of(&st))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the entry `name` of this folder (`unlinkat`): a file or a
    /// link itself, or with `dir` an empty folder.
    pub fn unlink(&self, name: &str, dir: bool) -> io::Result<()> {
        let flags = if dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        Ok(rustix::fs::unlinkat(&self.fd, name, flags)?)
    }

    /// Overwrites the regular file `name` of this folder with zeros and
    /// flushes it. It is opened without following a link, and only when the
    /// open file is `seen` (same device and inode, still a regular file) is
    /// anything written; `Ok(false)` otherwise.
    pub fn shred(&self, name: &str, seen: &Facts) -> io::Result<bool> {
        let flags =
            OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())?;
        let now = Facts::of(&rustix::fs::fstat(&fd)?);
        if now.kind != Kind::File || !now.same(seen) {
            return Ok(false);
        }
        let mut f = File::from(fd);
        let zeros = vec![0u8; 1 << 20];
        let mut left = now.size;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            f.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        f.sync_all()?;
        Ok(true)
    }
}
