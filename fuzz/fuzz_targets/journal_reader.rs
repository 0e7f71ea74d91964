//! `cargo fuzz run journal_reader`: see `ferry::fuzzing::journal` for what is fed
//! and what is checked.

#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| ferry::fuzzing::journal::run(input));
