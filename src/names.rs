//! The rule for the names partners and plugins give files: what a
//! mailbox accepts (`tenant::MailboxPath`) and what an acknowledger may
//! write (`pipeline`), in one place that both depend on.

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
