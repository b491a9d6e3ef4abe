//! cargo fuzz target `plan`: see `poof_fuzz::plan` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::plan(data));
