//! The configuration loader: the input is `ferry.toml`, written to a file
//! and loaded as `ferry serve` loads it (TOML, then every check of the
//! model, including files it names, relative to the configuration).
//!
//! Promises checked: loading never panics, and a refusal names where the
//! mistake is: the file, a line within that file (1 to its last line) and
//! a column, for every problem, so that an operator can go to it (the end
//! of the file counts as a place).

use std::sync::OnceLock;

use crate::config::{ConfigError, load};

fn dir() -> &'static std::path::Path {
    // Process-wide: the fuzz harness's scratch directory, made once per fuzzing process.
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| super::scratch("config"))
}

/// Loads the input as a configuration file (see the module's comment).
pub fn run(input: &[u8]) {
    let path = dir().join("ferry.toml");
    std::fs::write(&path, input).expect("writing the configuration");
    match load(&path) {
        Ok(_) => {}
        Err(ConfigError::Read { path: read, .. }) => {
            // Only a file that is not UTF-8 is unreadable as a configuration.
            assert!(
                read != path || std::str::from_utf8(input).is_err(),
                "{} refused as unreadable although it is text",
                read.display()
            );
        }
        Err(ConfigError::Invalid(problems)) => {
            assert!(!problems.is_empty(), "refused without a problem");
            for problem in &problems {
                let Ok(text) = std::fs::read(&problem.file) else {
                    panic!(
                        "a problem in {}, which cannot be read",
                        problem.file.display()
                    );
                };
                // A final newline ends the last line; it does not start one.
                let newlines = text.iter().filter(|&&b| b == b'\n').count();
                let lines = (newlines + usize::from(!text.ends_with(b"\n"))).max(1);
                // The end of a file that ends with a newline is line N + 1,
                // column 1, as editors show it: where a cut-off entry is.
                let at_end =
                    text.ends_with(b"\n") && problem.line == lines + 1 && problem.column == 1;
                assert!(
                    ((1..=lines).contains(&problem.line) && problem.column >= 1) || at_end,
                    "{problem}: line {} of a file of {lines} lines",
                    problem.line
                );
                assert!(!problem.message.is_empty(), "{problem}: no message");
            }
        }
    }
}
