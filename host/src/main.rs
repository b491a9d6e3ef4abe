//! The `poof` binary: the host library plus the embedded guest component.
//!
//! This crate is kept tiny on purpose: changing the guest recompiles only it.

use std::process::ExitCode;

// musl's allocator is several times slower for poof's large buffers: the
// static build uses mimalloc. The glibc build keeps glibc's, which with
// `alloc::tune`'s settings holds less for poof's many transfer threads (a
// restore of 8 × 25 MiB peaked at 34 MiB RSS on glibc, 87 MiB on mimalloc;
// docs/BENCHMARKS.md, "Memory").
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The guest component, built by `cargo xtask build` before this crate, and
/// its precompiled form (see `poof::engine`).
// SAFETY: both are `include_bytes!` in a static: the binary's read-only data;
// the precompiled form is what `cargo xtask build` precompiled for it.
#[allow(unsafe_code)]
static GUEST: poof::engine::Guest = unsafe {
    poof::engine::Guest::embedded(
        include_bytes!(env!(
            "POOF_GUEST_WASM",
            "build poof with `cargo xtask build`: it builds the guest first"
        )),
        &PRECOMPILED.tagged,
    )
};

/// The precompiled guest (its tag, then wasmtime's bytes), placed so that
/// wasmtime's bytes start on a page of their own: their machine code can
/// then run where it lies, without a copy (`poof::engine`).
static PRECOMPILED: &Padded<[u8]> = &Padded {
    pad: [0; PAD],
    tagged: *include_bytes!(env!(
        "POOF_GUEST_PRECOMPILED",
        "build poof with `cargo xtask build`: it precompiles the guest"
    )),
};

/// `tagged` after `PAD` bytes, from an address aligned to
/// `PRECOMPILED_ALIGN`; asserted below, as `PAD`'s value.
#[repr(C, align(4096))]
struct Padded<T: ?Sized> {
    pad: [u8; PAD],
    tagged: T,
}

const PAD: usize = poof::engine::PRECOMPILED_ALIGN - poof::engine::TAG_LEN;
const _: () = assert!(std::mem::align_of::<Padded<[u8; 0]>>() == poof::engine::PRECOMPILED_ALIGN);

fn main() -> ExitCode {
    // An allocator that refuses a setting keeps its default: more memory,
    // nothing wrong.
    let _ = poof::alloc::tune();
    // SAFETY: nothing has run yet but the standard library's start-up, which
    // starts no thread: this is the one moment when the environment may be
    // changed soundly (`take_from_env`'s contract).
    #[allow(unsafe_code)]
    unsafe {
        poof::crypt::keys::take_from_env()
    };
    poof::main(&GUEST)
}
