//! cargo fuzz target `rclone_obscured`: see `poof_fuzz::rclone_obscured` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::rclone_obscured(data));
