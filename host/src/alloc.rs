//! The allocator's settings, made first thing in `main`, and the moments
//! poof hands memory back to the system (docs/BENCHMARKS.md, "Memory", has
//! the measurements behind each value).
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

/// Hands back to the system what the allocator holds freed: called between
/// phases, once a path's listing and walk are done with and before its plan,
/// when a run's resident memory peaks. glibc keeps up to `TRIM_THRESHOLD` free
/// at an arena's top, and every small block freed inside it, resident: the
/// listing's pages, freed by then, were 8 to 12 MiB of a 200,000-file no-op's
/// peak. Takes a few milliseconds.
pub fn give_back_freed() {
    #[cfg(target_env = "musl")]
    collect_mimalloc();
    #[cfg(target_env = "gnu")]
    // SAFETY: `malloc_trim` only returns free memory of glibc's own arenas
    // to the system; it takes any argument and any moment.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// mimalloc: returns what its heaps hold freed now, without waiting for the
/// purge delay.
#[cfg_attr(not(target_env = "musl"), allow(dead_code))]
fn collect_mimalloc() {
    // SAFETY: `mi_collect` frees mimalloc's own free pages; without `force`
    // it is the cheap form mimalloc documents for occasional calls.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_collect(false)
    };
}

/// Drops `bytes`, read-only data of this binary that is done with for now
/// (the embedded guest, once loaded), from the process's resident memory.
/// The pages stay mapped: touched again, the kernel reads them in again from
/// the binary. Whole pages inside `bytes` only; Linux only, elsewhere nothing.
///
/// # Safety
///
/// `bytes` must be read-only data of this binary (`include_bytes!` in a
/// `static`): dropped pages of the heap or a stack would read as zeros.
#[allow(unsafe_code)]
pub unsafe fn drop_resident(bytes: &'static [u8]) {
    #[cfg(target_os = "linux")]
    {
        let page = page_size();
        if page == 0 {
            return;
        }
        let start = (bytes.as_ptr() as usize).next_multiple_of(page);
        let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
        if end > start {
            // SAFETY: [start, end) lies inside `bytes`, which is (the
            // caller's contract) read-only data of this binary: a private mapping of its file
            // that nothing writes. On such pages MADV_DONTNEED only drops
            // them from memory; a later read maps them in again from the file
            // (madvise(2)), so `bytes` keeps its contents for every reader.
            #[allow(unsafe_code)]
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}

/// The system's page size, or 0 when it cannot be read.
#[cfg(unix)]
pub fn page_size() -> usize {
    // SAFETY: `sysconf` reads a constant of the system.
    #[allow(unsafe_code)]
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page).unwrap_or(0)
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

    #[test]
    fn freed_memory_given_back_is_not_missed() {
        let kept: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 4096]).collect();
        drop((0..4096).map(|_| vec![1u8; 4096]).collect::<Vec<_>>());
        give_back_freed();
        collect_mimalloc();
        assert!(
            kept.iter()
                .enumerate()
                .all(|(i, v)| v.iter().all(|&b| b == i as u8))
        );
    }

    /// Three pages and a bit of static data, not page-aligned.
    static DATA: [u8; 3 * 4096 + 100] = {
        let mut d = [0u8; 3 * 4096 + 100];
        let mut i = 0;
        while i < d.len() {
            d[i] = (i % 251) as u8;
            i += 1;
        }
        d
    };

    #[test]
    fn static_bytes_dropped_from_memory_read_the_same() {
        let before: u64 = DATA.iter().map(|&b| u64::from(b)).sum();
        // SAFETY: `DATA` is an immutable static: read-only data of the test binary.
        #[allow(unsafe_code)]
        unsafe {
            drop_resident(&DATA)
        };
        let again: u64 = std::hint::black_box(&DATA)
            .iter()
            .map(|&b| u64::from(b))
            .sum();
        assert_eq!(before, again);
        assert!(DATA.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        // Less than a page, or nothing: nothing to drop, nothing breaks.
        #[allow(unsafe_code)]
        unsafe {
            drop_resident(&DATA[10..20]);
            drop_resident(&[]);
        }
    }

    const MIB: usize = 1 << 20;
}
