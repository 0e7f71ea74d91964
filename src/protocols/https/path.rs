//! A request's path as a place in the partner's view.
//!
//! The path is split on `/` before anything is decoded, and each segment is
//! percent-decoded on its own: `%2F` inside a segment is refused rather
//! than turned into a separator, and `%2e%2e` decodes to `..`, which
//! `MailboxPath` refuses like a plain one. Nothing here touches a file.

use percent_encoding::percent_decode_str;

use crate::tenant::{MailboxError, MailboxPath};

/// The mailbox path a request's (still encoded) path names.
pub fn mailbox_path(raw: &str) -> Result<MailboxPath, MailboxError> {
    let mut decoded = String::with_capacity(raw.len());
    for (i, segment) in raw.split('/').enumerate() {
        if i > 0 {
            decoded.push('/');
        }
        let segment = percent_decode_str(segment)
            .decode_utf8()
            .map_err(|_| MailboxError::InvalidPath("the path is not UTF-8".into()))?;
        if segment.contains(['/', '\\']) {
            return Err(MailboxError::InvalidPath(
                "an encoded `/` or `\\` is not allowed in a name".into(),
            ));
        }
        if segment == ".." {
            return Err(MailboxError::InvalidPath("`..` is not allowed".into()));
        }
        decoded.push_str(&segment);
    }
    MailboxPath::parse(&decoded)
}

pub use crate::web::{encode_path, encode_segment};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Mailbox;

    #[test]
    fn encoded_separators_and_dots_are_refused() {
        for hostile in [
            "/outbox/..%2f..%2fetc%2fpasswd",
            "/outbox/%2e%2e/x",
            "/outbox/a%2Fb",
            "/outbox/a%5cb",
            "/inbox/%2E%2E",
            "/outbox/%ff",
        ] {
            assert!(
                matches!(mailbox_path(hostile), Err(MailboxError::InvalidPath(_))),
                "{hostile} was not refused"
            );
        }
    }

    #[test]
    fn names_decode_per_segment() {
        assert_eq!(
            mailbox_path("/outbox/a%20b.csv").unwrap(),
            MailboxPath::File(Mailbox::Outbox, "a b.csv".into())
        );
        assert_eq!(
            mailbox_path("/inbox/batch/2026/a.csv").unwrap(),
            MailboxPath::File(Mailbox::Inbox, "batch/2026/a.csv".into())
        );
        assert_eq!(
            mailbox_path("/outbox/").unwrap(),
            MailboxPath::Folder(Mailbox::Outbox)
        );
        assert_eq!(encode_path("batch/a b%.csv"), "batch/a%20b%25.csv");
    }
}
