//! cargo fuzz target `rclone_names`: see `poof_fuzz::rclone_names` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::rclone_names(data));
