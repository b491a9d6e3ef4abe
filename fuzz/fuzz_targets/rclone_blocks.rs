//! cargo fuzz target `rclone_blocks`: see `poof_fuzz::rclone_blocks` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| poof_fuzz::rclone_blocks(data));
