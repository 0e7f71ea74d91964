//! `cargo fuzz run ftp_commands`: see `ferry::fuzzing::ftp` for what is fed
//! and what is checked.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry::fuzzing::ftp::run(input));
