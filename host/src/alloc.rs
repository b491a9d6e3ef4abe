//! The allocator's one setting: poof runs on mimalloc (`main.rs`), whose
//! version 3 keeps memory freed by a thread for a second before it returns
//! it to the system. poof's transfer threads free part buffers and HTTP
//! buffers all the time, so with that delay a 4 × 256 MiB upload peaked at
//! 93–102 MiB RSS; returning memory at once took it to 76–79 MiB, with the
//! same CPU time (docs/BENCHMARKS.md).

/// mimalloc's `mi_option_purge_delay` (`mi_option_e` in its `mimalloc.h`,
/// version 3, as `libmimalloc-sys` pins it): milliseconds before freed
/// memory is returned to the system; 0 returns it at once.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc return freed memory to the system at once. Call it first
/// thing in `main`, before any thread starts.
pub fn return_freed_memory_at_once() {
    // SAFETY: `mi_option_set` only stores an integer in mimalloc's option
    // table; `PURGE_DELAY` names an option of that table (the test below
    // checks that it is the purge delay, by its default).
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0)
    };
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
        return_freed_memory_at_once();
        #[allow(unsafe_code)]
        let after = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(after, 0);
    }
}
