//! `cargo fuzz run sftp_packets`: see `ferry::fuzzing::sftp` for what is fed
//! and what is checked.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry::fuzzing::sftp::run(input));
