//! cargo fuzz target `names`: see `poof_fuzz::names` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::names(data));
