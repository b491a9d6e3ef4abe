//! poof's guest: the audited core that decides, run by the host in a sandbox.
//!
//! This file is only the adapter between the WIT bindings and the plain-Rust
//! modules that hold the logic (`plan`, `paths`, `probe`, `crypto`, `legacy`,
//! `wipe`, `check`, `purge`, ...). Those modules know nothing of WIT, so they
//! unit-test natively with `cargo test -p poof-guest`.
//! Invariant: nothing here performs I/O on its own; every fact comes from the
//! host through the contract in `wit/`.

pub mod check;
pub mod crypto;
pub mod filter;
pub mod legacy;
pub mod manifest;
pub mod paths;
pub mod plan;
pub mod probe;
pub mod purge;
pub mod session;
pub mod wipe;

// The canonical-ABI glue that wit-bindgen generates is `unsafe` by nature; it
// is the only unsafe code in the guest, and none of it is written by hand.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod component;

/// The WIT package this guest implements.
pub const CONTRACT: &str = "poof:core@0.1.0";
