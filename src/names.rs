//! The rule for the names partners and plugins give files: what a
//! mailbox accepts (`tenant::MailboxPath`) and what an acknowledger may
//! write (`pipeline`), in one place that both depend on. A file's name is
//! its path relative to its mailbox (`batch/2026/a.csv`): each component is
//! a file name, and the whole is a key in the journal, never a path on
//! disk.

/// The longest file name, in bytes (what most file systems allow).
pub const MAX_NAME: usize = 255;

/// `name` if it is a valid file name, or why not: not empty, `.` or `..`,
/// at most [`MAX_NAME`] bytes, no `/` or `\\`, no NUL or control
/// characters.
pub fn check_file_name(name: &str) -> Result<&str, &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("a file name is needed");
    }
    if name.len() > MAX_NAME {
        return Err("a name is longer than 255 bytes");
    }
    if name.contains('/') || name.contains('\\') {
        return Err("a name may not contain `/` or `\\`");
    }
    if name.chars().any(char::is_control) {
        return Err("a name may not contain NUL or control characters");
    }
    Ok(name)
}

/// The deepest a file may lie below its mailbox, in folders.
pub const MAX_DEPTH: usize = 16;

/// `path` if it is a valid relative path: one to [`MAX_DEPTH`] + 1
/// components separated by `/`, each a valid file name (so no empty
/// component, `.` or `..`).
pub fn check_relative_path(path: &str) -> Result<&str, &'static str> {
    let mut depth = 0;
    for component in path.split('/') {
        check_file_name(component)?;
        depth += 1;
    }
    if depth > MAX_DEPTH + 1 {
        return Err("folders may be at most 16 deep");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert!(check_relative_path("a.csv").is_ok());
        assert!(check_relative_path("batch/2026/12/a.csv").is_ok());
        for bad in ["", "/a", "a/", "a//b", "a/../b", "./a", "a/\0b"] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
        let deep = vec!["d"; MAX_DEPTH + 1].join("/");
        assert!(check_relative_path(&deep).is_ok());
        assert!(check_relative_path(&format!("{deep}/x")).is_err());
    }
}
