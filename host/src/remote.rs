//! The one interface every remote implements, so that backup, download and
//! their tests run the same way on every kind of store.
//!
//! A remote holds one tree of files per configured path, under that path's
//! cloud folder name. Invariant: a remote only ever touches paths under the
//! cloud folder it is given, and only paths the guest's plan named.

pub mod folder;

use std::path::Path;

use anyhow::Result;

use crate::config::RemoteSpec;
use crate::engine::sync::Entry;

/// What a remote holds under one cloud folder.
#[derive(Debug, Default)]
pub struct RemoteListing {
    /// False when nothing was ever stored under this cloud folder.
    pub exists: bool,
    /// Every file, sorted by path.
    pub entries: Vec<Entry>,
    /// Objects that could not be listed; the listing is then incomplete.
    pub problems: Vec<String>,
    /// Objects skipped on purpose, with the reason.
    pub skipped: Vec<String>,
}

/// A place snapshots are kept.
pub trait Remote: Send + Sync {
    /// A short description for messages, e.g. `folder /media/usb/poof`.
    fn describe(&self) -> String;

    /// Modification times closer than this are taken as equal (the precision the remote keeps).
    fn mtime_window_ns(&self) -> u64;

    /// Fails, saying what to do, when the remote cannot be used at all
    /// (a folder remote whose disk is not mounted, for example).
    fn check_ready(&self) -> Result<()>;

    /// Lists every file under `dir`.
    fn list(&self, dir: &str) -> Result<RemoteListing>;

    /// Stores the local file `src` as `dir/entry.path`, with the entry's metadata.
    fn upload(&self, dir: &str, entry: &Entry, src: &Path) -> Result<()>;

    /// Writes `dir/entry.path` to `local_root/entry.path`, atomically, with the entry's metadata.
    fn download(&self, dir: &str, entry: &Entry, local_root: &Path) -> Result<()>;

    /// Sets the stored permission bits of `dir/entry.path`.
    fn set_mode(&self, dir: &str, entry: &Entry) -> Result<()>;

    /// Removes `dir/path`.
    fn delete(&self, dir: &str, path: &str) -> Result<()>;
}

/// Opens the remote a config names.
pub fn open(spec: &RemoteSpec) -> Box<dyn Remote> {
    match spec {
        RemoteSpec::Folder(root) => Box::new(folder::FolderRemote::new(root.clone())),
    }
}
