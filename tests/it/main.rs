//! poof's integration tests: one binary that runs the real `poof` (built by
//! `cargo xtask build --release`, found through `POOF_BIN`) against real
//! remotes in fresh temporary folders.

mod common;

mod auditor;
mod check;
mod cluster;
mod config_errors;
mod credentials;
mod crypt;
mod faults;
mod filters;
mod guards;
mod harness;
mod hostile;
mod json;
mod kill;
mod knobs;
mod legacy;
mod memory;
mod neuter;
mod passphrase;
mod proxy;
mod purge;
mod rclone;
mod restore;
mod rewrite;
mod rotate;
mod s3;
mod schedule;
mod setup;
mod sync;
mod upload;
