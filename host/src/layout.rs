//! Layouts: how a tree of files becomes objects in a store, each written
//! once, over any `Store`.
//!
//! - `plain`: one object per file under `CLOUD/REL`, content unchanged, the
//!   modification time and permission bits in rclone's user metadata
//!   (`mtime`, `mode`), so poof 1.x, rclone and poof share buckets;
//! - `sealed`: poof's encrypted format (docs/FORMAT.md): encrypted names,
//!   sealed content, a sealed manifest;
//! - `legacy`: poof 1.x's encrypted format, rclone crypt, read only
//!   (docs/RCLONE-CRYPT.md).
//!
//! Both implement `crate::remote::Remote`, which is all that sync, upload,
//! download and check see: no code outside this module knows whether a
//! remote's content is encrypted.
//!
//! Invariant: a layout touches only keys under the cloud folder it is given
//! and poof's reserved keys (`.poof/…`), and only paths the plan named.

pub mod freshness;
pub mod legacy;
pub mod plain;
pub mod sealed;
pub mod session;

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::engine::sync::Entry;
use crate::store::{Body, Meta, Store};

/// Reads one of poof's own objects (the wrapped key, a manifest), stored
/// outside every cloud folder; `None` when there is none.
pub fn read_reserved(store: &dyn Store, name: &str) -> Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    match store.get(name, &mut bytes) {
        Ok(_) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", store.show(name))),
    }
}

/// Writes (replaces) one of poof's own objects, private to the owner.
pub fn write_reserved(store: &dyn Store, name: &str, bytes: &[u8]) -> Result<()> {
    store.check_ready()?;
    store
        .put(name, Body::Bytes(bytes.to_vec()), &Meta::default())
        .with_context(|| format!("writing {}", store.show(name)))?;
    Ok(())
}

/// Opens the local file behind `entry` for an upload, checking first that
/// it is a regular file (opening a named pipe would block) that still has
/// the listed size and modification time.
pub fn open_source(src: &Path, entry: &Entry) -> Result<File> {
    let m = std::fs::metadata(src).with_context(|| format!("reading {}", src.display()))?;
    if !m.is_file() {
        bail!("{} is not a regular file", src.display());
    }
    let file = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    check_unchanged(src, &file, entry)?;
    Ok(file)
}

/// Fails when `src` no longer has the entry's size and modification time.
pub fn check_unchanged(src: &Path, file: &File, entry: &Entry) -> Result<()> {
    let m = file
        .metadata()
        .with_context(|| format!("reading {}", src.display()))?;
    let mtime = m.mtime() * 1_000_000_000 + m.mtime_nsec();
    if m.len() != entry.size || mtime != entry.mtime_ns {
        bail!(
            "{} changed while poof was copying it; it was not copied, run poof again",
            src.display()
        );
    }
    Ok(())
}
