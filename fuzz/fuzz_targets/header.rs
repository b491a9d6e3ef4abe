//! cargo fuzz target `header`: see `poof_fuzz::header` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::header(data));
