//! A store in a local folder (`file:///media/usb/poof`): each object is a
//! plain file under the root, its key the file's relative path.
//!
//! The folder keeps a modification time and permission bits natively (the
//! `Meta` fields of the same names) and no user metadata. Its version tag
//! is the file's size and modification time, which every write changes.
//!
//! Invariants:
//! - the root must already exist; it is never created, so an unmounted disk
//!   is reported instead of filled on the wrong device;
//! - a write goes to a temporary file in the same folder and is renamed into
//!   place only once complete (`fsx::write_atomically`), so an object is
//!   whole or absent, and temporary files a killed run left are removed by
//!   the next listing;
//! - links and special files are never followed, read or listed as objects;
//! - deleting the last object of a folder removes the folders it emptied.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::{
    Body, Listing, Meta, ObjectInfo, Put, Result, Store, StoreError, check_key, check_prefix,
};
use crate::engine::sync::Entry;
use crate::fsx;
use crate::walk::{self, Links};

/// Objects as files under a local folder.
pub struct FolderStore {
    root: PathBuf,
}

impl FolderStore {
    /// A store rooted at `root`.
    pub fn new(root: PathBuf) -> Self {
        FolderStore { root }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        fsx::safe_join(&self.root, key).map_err(|e| StoreError::from_io(e, self.show(key)))
    }

    /// The path of an object and what `lstat` says of it; an error when it
    /// is missing or not a regular file (a link is never followed).
    fn regular(&self, key: &str) -> Result<(PathBuf, fs::Metadata)> {
        let path = self.path(key)?;
        let m = fs::symlink_metadata(&path).map_err(|e| StoreError::from_io(e, self.show(key)))?;
        if !m.is_file() {
            return Err(StoreError::other(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok((path, m))
    }

    /// Opens an object for reading, never through a link, never blocking
    /// on a named pipe.
    fn open(&self, key: &str) -> Result<File> {
        let (path, _) = self.regular(key)?;
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| StoreError::from_io(e, format!("reading {}", path.display())))
    }

    fn info(&self, key: &str, m: &fs::Metadata) -> ObjectInfo {
        ObjectInfo {
            key: key.to_string(),
            size: m.len(),
            etag: pseudo_etag(m.len(), m.mtime(), m.mtime_nsec()),
            mtime_ns: Some(walk::mtime_ns(m)),
            mode: Some(m.mode() & 0o7777),
            user: Some(Default::default()),
        }
    }
}

/// The stand-in for an ETag: the file's size and modification time (the
/// same text poof has always recorded in sealed manifests of folders).
fn pseudo_etag(len: u64, secs: i64, nsec: i64) -> String {
    format!("{len}:{secs}.{nsec}")
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Store for FolderStore {
    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }

    fn show(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }

    fn check_ready(&self) -> Result<()> {
        match fs::metadata(&self.root) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(StoreError::other(format!(
                "remote {} is not a folder",
                self.root.display()
            ))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StoreError::NotFound(anyhow!(
                "remote folder {} does not exist; mount the disk or create the folder, then run poof again",
                self.root.display()
            ))),
            Err(e) => Err(StoreError::other(format!(
                "cannot reach remote folder {}: {e}",
                self.root.display()
            ))),
        }
    }

    fn keeps_user_metadata(&self) -> bool {
        false
    }

    fn lists_metadata(&self) -> bool {
        true
    }

    fn list(&self, prefix: &str) -> Result<Listing> {
        check_prefix(prefix)?;
        let top = match prefix.strip_suffix('/') {
            Some(p) => {
                fsx::safe_join(&self.root, p).map_err(|e| StoreError::from_io(e, self.show(p)))?
            }
            None => self.root.clone(),
        };
        // A store holds regular files only: links and special files found
        // there are skipped with a warning, never followed or copied.
        let l = walk::walk(&top, Links::Skip).map_err(|e| StoreError::Other(e.into()))?;
        // Leftovers of a killed run are poof's own, and go.
        let mut skipped = l.skipped;
        skipped.extend(fsx::remove_leftovers(&l.leftovers));
        let mut objects = Vec::with_capacity(l.entries.len());
        for e in l.entries {
            let (secs, nsec) = (
                e.mtime_ns.div_euclid(1_000_000_000),
                e.mtime_ns.rem_euclid(1_000_000_000),
            );
            objects.push(ObjectInfo {
                key: format!("{prefix}{}", e.path),
                size: e.size,
                etag: pseudo_etag(e.size, secs, nsec),
                mtime_ns: Some(e.mtime_ns),
                mode: e.mode,
                user: Some(Default::default()),
            });
        }
        Ok(Listing {
            exists: l.exists,
            objects,
            problems: l.problems,
            skipped,
        })
    }

    fn head(&self, key: &str) -> Result<ObjectInfo> {
        let (_, m) = self.regular(key)?;
        Ok(self.info(key, &m))
    }

    fn get(&self, key: &str, out: &mut dyn Write) -> Result<u64> {
        let mut f = crate::knobs::Throttled(self.open(key)?);
        io::copy(&mut f, out)
            .map_err(|e| StoreError::from_io(e, format!("reading {}", self.show(key))))
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let mut f = self.open(key)?;
        let what = |e| StoreError::from_io(e, format!("reading {}", self.show(key)));
        io::Seek::seek(&mut f, io::SeekFrom::Start(start)).map_err(what)?;
        let mut buf = vec![0u8; len as usize];
        let n = fsx::read_full(&mut f, &mut buf).map_err(what)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn get_file(&self, key: &str, file: &mut File, _dest: &Path) -> Result<u64> {
        // File to file: the kernel copies (copy_file_range) where it can.
        let mut f = self.open(key)?;
        if crate::knobs::limited() {
            return io::copy(&mut crate::knobs::Throttled(f), file)
                .map_err(|e| StoreError::from_io(e, format!("reading {}", self.show(key))));
        }
        io::copy(&mut f, file)
            .map_err(|e| StoreError::from_io(e, format!("reading {}", self.show(key))))
    }

    fn put(&self, key: &str, body: Body<'_>, meta: &Meta) -> Result<Put> {
        check_key(key)?;
        let target = Entry {
            path: key.to_string(),
            size: body.len(),
            mtime_ns: meta.mtime_ns.unwrap_or_else(now_ns),
            mode: Some(meta.mode.unwrap_or(0o600)),
        };
        // With --bwlimit, what is read counts against the shared limit; a
        // file is otherwise copied file to file (copy_file_range).
        let limited = crate::knobs::limited();
        fsx::write_atomically(&self.root, &target, |out| {
            match body {
                Body::Bytes(b) => {
                    crate::knobs::throttle(b.len());
                    out.write_all(&b)
                }
                Body::File { file, path, len, unchanged } => {
                    let n = if limited {
                        io::copy(&mut crate::knobs::Throttled((&*file).take(len)), out)?
                    } else {
                        io::copy(&mut (&*file).take(len), out)?
                    };
                    if n != len {
                        return Err(io::Error::other(format!(
                            "{} changed while poof was copying it; it was not copied, run poof again",
                            path.display()
                        )));
                    }
                    // Before the rename: a source rewritten while it was read
                    // must never replace a good copy with a torn one.
                    unchanged()
                }
                Body::HeadLast {
                    reader,
                    len,
                    head_len,
                    path,
                } => {
                    // A placeholder for the head, the rest, then the head
                    // at offset 0; the rename makes it visible only then.
                    let mut head = vec![0; head_len as usize];
                    out.write_all(&head)?;
                    let n = io::copy(&mut crate::knobs::Throttled(&mut *reader), out)?;
                    if n != len - head_len {
                        return Err(super::changed(path));
                    }
                    super::put_head(reader, &mut head, path)?;
                    out.seek(io::SeekFrom::Start(0))?;
                    out.write_all(&head)
                }
            }
        })
        .map_err(|e| StoreError::from_io(e, format!("writing {}", self.show(key))))?;
        let m = fs::symlink_metadata(self.path(key)?)
            .map_err(|e| StoreError::from_io(e, format!("reading {}", self.show(key))))?;
        Ok(Put {
            etag: Some(self.info(key, &m).etag),
        })
    }

    fn set_meta(&self, key: &str, meta: &Meta) -> Result<()> {
        let path = self.path(key)?;
        let entry = Entry {
            path: key.to_string(),
            size: 0,
            mtime_ns: 0,
            mode: meta.mode,
        };
        fsx::set_mode(&self.root, &entry).map_err(|e| {
            StoreError::from_io(e, format!("setting permissions on {}", path.display()))
        })?;
        if let Some(ns) = meta.mtime_ns {
            filetime::set_symlink_file_times(&path, fsx::file_time(ns), fsx::file_time(ns))
                .map_err(|e| {
                    StoreError::from_io(e, format!("setting the time of {}", path.display()))
                })?;
        }
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        fsx::remove(&self.root, key)
            .map_err(|e| StoreError::from_io(e, format!("deleting {}", self.show(key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_with_native_time_and_mode() {
        let d = tempfile::tempdir().unwrap();
        let s = FolderStore::new(d.path().to_path_buf());
        let meta = Meta {
            mtime_ns: Some(1_600_000_000_123_456_789),
            mode: Some(0o640),
            ..Meta::default()
        };
        s.put("a/b.txt", Body::Bytes(b"hi".to_vec()), &meta)
            .unwrap();
        let l = s.list("a/").unwrap();
        assert_eq!(l.objects.len(), 1);
        let o = &l.objects[0];
        assert_eq!((o.key.as_str(), o.size), ("a/b.txt", 2));
        assert_eq!(o.mtime_ns, Some(1_600_000_000_123_456_789));
        assert_eq!(o.mode, Some(0o640));
        assert_eq!(s.head("a/b.txt").unwrap(), *o);
        assert_eq!(s.get_range("a/b.txt", 1, 10).unwrap(), b"i");
        s.delete("a/b.txt").unwrap();
        assert!(!d.path().join("a").exists(), "emptied folders go");
        assert!(s.head("a/b.txt").unwrap_err().is_not_found());
    }

    #[test]
    fn a_missing_root_is_reported_not_created() {
        let d = tempfile::tempdir().unwrap();
        let s = FolderStore::new(d.path().join("unmounted"));
        let e = s.check_ready().unwrap_err();
        assert!(e.is_not_found());
        assert!(e.to_string().contains("mount the disk"), "{e}");
    }

    #[test]
    fn a_head_last_body_is_written_in_place_or_not_at_all() {
        let d = tempfile::tempdir().unwrap();
        let s = FolderStore::new(d.path().to_path_buf());
        let put = |head: Option<&[u8]>, rest: &[u8], len: u64| {
            let mut r = crate::store::TestHeadLast::new(head, rest);
            let body = Body::HeadLast {
                reader: &mut r,
                len,
                head_len: 2,
                path: Path::new("src"),
            };
            s.put("x", body, &Meta::default())
        };
        // Short, long, or a head that fails: nothing, not even a temp file.
        for (head, rest, len) in [
            (Some(&b"hd"[..]), &b"abc"[..], 6),
            (Some(b"hd"), b"abcde", 6),
            (None, b"abcd", 6),
            (Some(b"h"), b"abcd", 6),
        ] {
            let e = anyhow::Error::from(put(head, rest, len).unwrap_err());
            assert!(format!("{e:#}").contains("src"), "{e:#}");
            assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
        }
        put(Some(b"hd"), b"abcd", 6).unwrap();
        assert_eq!(fs::read(d.path().join("x")).unwrap(), b"hdabcd");
    }
}
