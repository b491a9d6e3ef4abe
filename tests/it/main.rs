//! poof's integration tests: one binary that runs the real `poof` (built by
//! `cargo xtask build --release`, found through `POOF_BIN`) against real
//! remotes in fresh temporary folders.

mod common;

mod auditor;
mod config_errors;
mod guards;
mod rclone;
mod s3;
mod setup;
mod sync;
