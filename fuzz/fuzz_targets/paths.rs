//! cargo fuzz target `paths`: see `poof_fuzz::paths` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::paths(data));
