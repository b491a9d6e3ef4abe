//! cargo fuzz target `wrapped_key`: see `poof_fuzz::wrapped_key` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::wrapped_key(data));
