//! Careful local file writes and removals, shared by downloads and the
//! local-folder remote.
//!
//! Invariants:
//! - nothing is ever written or removed through a symbolic link inside the
//!   root: `safe_join` refuses a path whose folders include a link;
//! - a file appears under its final name only once it is complete: content
//!   goes to a temporary name in the same folder, gets its permissions and
//!   modification time, is flushed to disk, and is then renamed;
//! - a source file that changes while it is read is reported, not copied.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use filetime::FileTime;

use crate::engine::sync::Entry;

/// Prefix of the temporary files poof writes before renaming them into place.
pub const TEMP_PREFIX: &str = ".poof-tmp-";

/// Joins a checked relative path to `root`, refusing any folder on the way
/// that is a symbolic link or not a folder. Missing folders are fine.
pub fn safe_join(root: &Path, rel: &str) -> io::Result<PathBuf> {
    if let Err(why) = crate::pathguard::check(rel) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{rel:?} is not a safe relative path: {why}"),
        ));
    }
    let mut path = root.to_path_buf();
    let mut segments = rel.split('/').peekable();
    while let Some(seg) = segments.next() {
        path.push(seg);
        if segments.peek().is_some() {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} is a symbolic link; poof does not write through links",
                            path.display()
                        ),
                    ));
                }
                Ok(m) if !m.is_dir() => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("{} is in the way: it is not a folder", path.display()),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(path)
}

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to
/// disk now, without waiting: a large download hands each part to the disk
/// as soon as it is complete, so that the `fsync` before the rename
/// (`write_atomically`) waits for the last part, not the whole file. A hint:
/// errors are left to that `fsync` to report. Linux only; elsewhere nothing.
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: `sync_file_range` reads only its integer arguments; the
        // descriptor is `file`'s, open for the whole call.
        #[allow(unsafe_code)]
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// How much of a file written in order `Writeback` lets grow before it hands
/// it to the disk: the size of a ranged download's parts.
pub const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

/// A file written from its start, in order (a download, a decryption),
/// handed to the disk every `WRITEBACK_EVERY` bytes as it grows
/// (`start_writeback`).
pub struct Writeback<'a> {
    file: &'a mut File,
    written: u64,
    handed: u64,
}

impl<'a> Writeback<'a> {
    /// Writes into `file` from where it stands, which must be its start.
    pub fn new(file: &'a mut File) -> Self {
        Writeback {
            file,
            written: 0,
            handed: 0,
        }
    }
}

impl Write for Writeback<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.file.write(buf)?;
        self.written += k as u64;
        if self.written - self.handed >= WRITEBACK_EVERY {
            start_writeback(self.file, self.handed, self.written - self.handed);
            self.handed = self.written;
        }
        Ok(k)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Copies `src` to `root/rel` atomically, with the entry's modification time
/// and (when known) permission bits. Fails if `src` does not match `entry`
/// (size or modification time), before or after it was read.
pub fn copy_into(src: &Path, root: &Path, entry: &Entry) -> io::Result<()> {
    // Checked before opening: opening a named pipe would block.
    if !fs::metadata(src)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", src.display()),
        ));
    }
    let mut input = File::open(src)?;
    check_unchanged(src, &input.metadata()?, entry)?;
    // Both checks run before the rename: a source rewritten while it was
    // read must never replace a good copy with a torn one.
    write_atomically(root, entry, |out| {
        let written = io::copy(&mut input, out)?;
        if written != entry.size {
            return Err(changed(src));
        }
        check_unchanged(src, &input.metadata()?, entry)
    })
}

/// Writes a file at `root/rel` from whatever `fill` writes into it, then
/// gives it the entry's metadata and renames it into place. Returns what
/// `fill` returned. On any error the temporary file is removed.
pub fn write_atomically<T>(
    root: &Path,
    entry: &Entry,
    fill: impl FnOnce(&mut File) -> io::Result<T>,
) -> io::Result<T> {
    let dest = safe_join(root, &entry.path)?;
    let parent = dest.parent().expect("a joined path has a parent");
    fs::create_dir_all(parent)?;
    // Not derived from the final name, which may already be as long as a
    // name can be.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = parent.join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        // Readable too: a ranged download hashes what it wrote by reading
        // it back (`s3::ranged`).
        let mut out = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        let value = fill(&mut out)?;
        out.flush()?;
        if let Some(mode) = entry.mode {
            out.set_permissions(fs::Permissions::from_mode(mode & 0o777))?;
        } else {
            out.set_permissions(fs::Permissions::from_mode(0o644))?;
        }
        filetime::set_file_handle_times(&out, None, Some(file_time(entry.mtime_ns)))?;
        out.sync_all()?;
        if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is a folder in the way", dest.display()),
            ));
        }
        fs::rename(&tmp, &dest)?;
        Ok(value)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes temporary files (`.poof-tmp-PID-N`) that an interrupted poof run
/// left in a store, unless the process that wrote one still runs. Returns a
/// line per file it could not remove.
pub fn remove_leftovers(paths: &[PathBuf]) -> Vec<String> {
    let mut problems = Vec::new();
    for p in paths {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let pid = name
            .strip_prefix(TEMP_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let alive = pid.is_some_and(|pid| {
            pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
        });
        if alive {
            continue;
        }
        if let Err(e) = fs::remove_file(p)
            && e.kind() != io::ErrorKind::NotFound
        {
            problems.push(format!(
                "cannot remove {}, a temporary file of an interrupted poof run: {e}",
                p.display()
            ));
        }
    }
    problems
}

/// Sets the permission bits of `root/rel`, never following a link.
pub fn set_mode(root: &Path, entry: &Entry) -> io::Result<()> {
    let path = safe_join(root, &entry.path)?;
    let meta = fs::symlink_metadata(&path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", path.display()),
        ));
    }
    let mode = entry.mode.unwrap_or(0o644) & 0o777;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))
}

/// Removes `root/rel` (a link itself, never its target), then every folder
/// above it that this left empty, up to but not including `root`. A folder
/// in the place of `rel` is removed with everything in it.
pub fn remove(root: &Path, rel: &str) -> io::Result<()> {
    let path = safe_join(root, rel)?;
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&path)?,
        Ok(_) => fs::remove_file(&path)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    Ok(())
}

/// Reads up to `buf.len()` bytes, retrying short reads; returns how many.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The SHA-256 of everything `r` yields, read in 256 KiB blocks.
pub fn sha256_of(r: &mut impl Read) -> io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(hasher.finalize().into()),
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The SHA-256 of the regular file `root/rel`, never through a link;
/// `None` when it does not exist.
pub fn sha256_file(root: &Path, rel: &str) -> io::Result<Option<[u8; 32]>> {
    let path = safe_join(root, rel)?;
    match fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a regular file", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)?;
    sha256_of(&mut f).map(Some)
}

fn check_unchanged(src: &Path, meta: &fs::Metadata, entry: &Entry) -> io::Result<()> {
    let mtime = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
    if meta.len() != entry.size || mtime != entry.mtime_ns {
        return Err(changed(src));
    }
    Ok(())
}

fn changed(src: &Path) -> io::Error {
    io::Error::other(format!(
        "{} changed while poof was copying it; it was not copied, run poof again",
        src.display()
    ))
}

/// Converts nanoseconds since the epoch to a `FileTime`.
pub fn file_time(ns: i64) -> FileTime {
    FileTime::from_unix_time(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// Reads `path` whole; `None` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes `bytes` to `path` as a private file (mode 0600, its folder made
/// 0700 when missing) through a temporary file renamed over it, so that a
/// kill leaves the old file or the new one, never a part.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_file_handed_to_the_disk_as_it_grows_holds_every_byte_in_order() {
        let d = tempfile::tempdir().unwrap();
        let len = 3 * WRITEBACK_EVERY as usize + 12_345;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let written = write_atomically(d.path(), &entry("f", len as u64), |file| {
            let mut out = Writeback::new(file);
            // Pieces of 1,000,003 bytes: handed over after the 9th (the
            // first 8 MiB or more), then after the 18th, then not again.
            for piece in data.chunks(1_000_003) {
                out.write_all(piece)?;
            }
            out.flush()?;
            Ok(out.handed)
        })
        .unwrap();
        assert_eq!(written, 18 * 1_000_003);
        assert_eq!(fs::read(d.path().join("f")).unwrap(), data);
        // A hint past the end, or of no bytes, or beyond what an offset
        // can say, changes nothing and reports nothing.
        let f = File::open(d.path().join("f")).unwrap();
        start_writeback(&f, len as u64 * 2, 10);
        start_writeback(&f, 0, 0);
        start_writeback(&f, u64::MAX, u64::MAX);
        assert_eq!(fs::read(d.path().join("f")).unwrap(), data);
    }

    fn entry(path: &str, size: u64) -> Entry {
        Entry {
            path: path.into(),
            size,
            mtime_ns: 1_600_000_000_123_456_789,
            mode: Some(0o640),
        }
    }

    #[test]
    fn copy_keeps_content_time_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::write(&src, "hello").unwrap();
        let e = entry("x", 5);
        filetime::set_file_mtime(&src, file_time(e.mtime_ns)).unwrap();
        let root = d.path().join("root");
        copy_into(
            &src,
            &root,
            &Entry {
                path: "a/b/c".into(),
                ..e.clone()
            },
        )
        .unwrap();
        let out = root.join("a/b/c");
        assert_eq!(fs::read(&out).unwrap(), b"hello");
        let m = fs::metadata(&out).unwrap();
        assert_eq!(m.mode() & 0o777, 0o640);
        assert_eq!(m.mtime() * 1_000_000_000 + m.mtime_nsec(), e.mtime_ns);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(root.join("a/b")).unwrap().count(), 1);
    }

    #[test]
    fn a_source_that_changed_is_not_copied() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        fs::write(&src, "hello, longer now").unwrap();
        let root = d.path().join("root");
        let err = copy_into(&src, &root, &entry("x", 5)).unwrap_err();
        assert!(
            err.to_string().contains("changed while poof was copying"),
            "{err}"
        );
        assert!(!root.join("x").exists());
    }

    #[test]
    fn never_writes_through_a_link() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir(&root).unwrap();
        symlink(outside.path(), root.join("link")).unwrap();
        let err = write_atomically(&root, &entry("link/f", 0), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        assert!(safe_join(&root, "../x").is_err());
        // Removing the link removes the link, not what it points to.
        fs::write(outside.path().join("keep"), "k").unwrap();
        remove(&root, "link").unwrap();
        assert!(outside.path().join("keep").exists());
        assert!(!root.join("link").exists());
    }

    #[test]
    fn remove_prunes_emptied_folders_but_not_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/f"), "x").unwrap();
        fs::write(root.join("g"), "x").unwrap();
        remove(&root, "a/b/f").unwrap();
        assert!(!root.join("a").exists());
        remove(&root, "g").unwrap();
        assert!(root.is_dir());
    }
}
