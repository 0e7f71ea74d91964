//! `cargo fuzz run config_loader`: see `ferry::fuzzing::config` for what is fed
//! and what is checked.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry::fuzzing::config::run(input));
