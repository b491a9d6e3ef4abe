//! cargo fuzz target `manifest`: see `poof_fuzz::manifest` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::manifest(data));
