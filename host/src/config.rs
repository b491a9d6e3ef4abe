//! `poof.conf`: where it lives, what it says, and whether it makes sense.
//!
//! The file keeps poof 1.x's JSON shape, so a 1.x user's file works as it is:
//!
//! ```json
//! { "bucket": "poofbackup-jdoe-3f1c9a2b7d4e",
//!   "confFile": "/home/jdoe/.config/poof/rclone-poof.conf",
//!   "paths": { "/home/jdoe/Documents": "Documents" },
//!   "remote": "file:///media/usb/poof" }
//! ```
//!
//! An entry of `paths` may also be an object with the path's own exclude
//! patterns: `{"cloud": "Documents", "exclude": ["*.tmp", "cache/"]}`.
//!
//! This module only gathers its parts: `locations` finds poof's files,
//! `poofconf` reads and validates `poof.conf`, and `remote_spec` reads its
//! `remote`. Everything is re-exported here, so callers name
//! `crate::config::PoofConf` and never the part it lives in.
//!
//! Invariant: a `PoofConf` that loaded is valid. Every local path is
//! absolute and is a folder (or missing), every cloud folder name is a safe
//! relative path used by one local path only, and the remote is understood.
//! Anything else is a `ConfigError` naming the file and the problem, raised
//! before anything is touched.

pub mod edit;
mod locations;
mod poofconf;
mod remote_spec;

pub use locations::Locations;
pub use poofconf::{PoofConf, SyncPath};
pub use remote_spec::RemoteSpec;
pub(crate) use remote_spec::check_bucket;
