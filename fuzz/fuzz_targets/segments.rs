//! cargo fuzz target `segments`: see `poof_fuzz::segments` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::segments(data));
