//! cargo fuzz target `blob`: see `poof_fuzz::blob` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::blob(data));
