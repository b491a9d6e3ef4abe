//! The `poof` binary: the host library plus the embedded guest component.
//!
//! This crate is kept tiny on purpose: changing the guest recompiles only it.

use std::process::ExitCode;

// mimalloc on every build: musl's allocator is several times slower for
// poof's large buffers, and glibc's keeps what many threads freed in its
// per-thread arenas (a 4 × 256 MiB upload peaked at 119–160 MiB RSS with
// it; docs/BENCHMARKS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The guest component, built by `cargo xtask build` before this crate, and
/// its precompiled form (see `poof::engine`).
static GUEST: poof::engine::Guest = poof::engine::Guest::new(
    include_bytes!(env!(
        "POOF_GUEST_WASM",
        "build poof with `cargo xtask build`: it builds the guest first"
    )),
    include_bytes!(env!(
        "POOF_GUEST_PRECOMPILED",
        "build poof with `cargo xtask build`: it precompiles the guest"
    )),
);

fn main() -> ExitCode {
    poof::alloc::return_freed_memory_at_once();
    // SAFETY: nothing has run yet but the standard library's start-up, which
    // starts no thread: this is the one moment when the environment may be
    // changed soundly (`take_from_env`'s contract).
    #[allow(unsafe_code)]
    unsafe {
        poof::crypt::keys::take_from_env()
    };
    poof::main(&GUEST)
}
