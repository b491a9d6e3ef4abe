//! The allocator's settings, made first thing in `main` (docs/BENCHMARKS.md,
//! "Memory", has the measurements behind each value).
//!
//! poof's transfer threads allocate and free 5 MiB upload parts and many
//! small buffers all the time. Left to their defaults, both allocators poof
//! runs on keep much of what was freed:
//!
//! - **glibc** (the development build): its threshold for giving a large
//!   block its own mapping rises to the size of any such block freed, so
//!   parts freed by many threads then stay in its per-thread arenas: a
//!   4 × 256 MiB upload peaked at 134–155 MiB RSS. poof fixes the threshold
//!   at 1 MiB (parts go back to the system when freed) and lets an arena keep
//!   up to 32 MiB free at its top before trimming it (below that, trimming
//!   after every small file cost 5 s of system time per 10,000 files): 52 MiB.
//!   It also lets threads share two arenas instead of one each (up to eight
//!   per core): every thread that lists a page of a long listing kept its
//!   own 2.5 MiB arena, 13 MiB more at the peak of a 200,000-file no-op,
//!   and sharing cost no measurable time on 10,000 small uploads.
//! - **mimalloc 3** (the static musl build, `main.rs`): it keeps memory freed
//!   by a thread for a second before returning it (95–106 MiB on that
//!   upload). Returning it at once cost a `madvise` per small file (6.8 s of
//!   system time for 10,000 files instead of 0.7); 10 ms keeps both near
//!   their best (83 MiB, 1.1 s).

/// mimalloc's `mi_option_purge_delay` (`mi_option_e` in its `mimalloc.h`,
/// version 3, as `libmimalloc-sys` pins it): milliseconds before freed
/// memory is returned to the system.
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// poof's purge delay for mimalloc, in milliseconds.
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
const PURGE_AFTER_MS: std::ffi::c_long = 10;

/// glibc: blocks of this size or more get their own mapping, returned to the
/// system when freed.
#[cfg(target_env = "gnu")]
const MMAP_THRESHOLD: libc::c_int = 1 << 20;

/// glibc: how many arenas the threads share.
#[cfg(target_env = "gnu")]
const ARENA_MAX: libc::c_int = 2;

/// glibc: free memory at an arena's top kept before it is trimmed.
#[cfg(target_env = "gnu")]
const TRIM_THRESHOLD: libc::c_int = 32 << 20;

/// Tunes the allocator of this build. Call it first thing in `main`, before
/// any thread starts. Returns whether the allocator took every setting.
pub fn tune() -> bool {
    #[cfg(target_env = "musl")]
    return set_mimalloc_purge_delay();
    #[cfg(target_env = "gnu")]
    return set_glibc_thresholds();
    #[allow(unreachable_code)]
    true
}

/// mimalloc returns freed memory after `PURGE_AFTER_MS`.
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
fn set_mimalloc_purge_delay() -> bool {
    // SAFETY: `mi_option_set` only stores an integer in mimalloc's option
    // table; `PURGE_DELAY` names an option of that table (the test below
    // checks that it is the purge delay, by its default).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_AFTER_MS)
    };
    true
}

/// glibc's mmap and trim thresholds and its number of arenas, fixed.
#[cfg(target_env = "gnu")]
fn set_glibc_thresholds() -> bool {
    // SAFETY: `mallopt` sets an allocator parameter; glibc documents both
    // and takes them at any time, and nothing else runs yet.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            && libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_is_mimallocs_purge_delay() {
        // Nothing in the test binary sets it: its default, 1000 ms in
        // mimalloc 3, is the only option of the table with that value.
        #[allow(unsafe_code)]
        let before = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(before, 1000, "option {PURGE_DELAY} is not the purge delay");
        assert!(set_mimalloc_purge_delay());
        #[allow(unsafe_code)]
        let after = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(after, PURGE_AFTER_MS);
    }

    #[test]
    fn this_builds_allocator_takes_its_settings() {
        assert!(tune());
        // Allocating after the change still works, large and small.
        let big = vec![7u8; 3 * MIB];
        let small: Vec<u8> = (0..100).collect();
        assert_eq!(big[3 * MIB - 1] + small[99], 106);
    }

    const MIB: usize = 1 << 20;
}
