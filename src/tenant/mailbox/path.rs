//! The paths partners name, checked: `/inbox/NAME`, `/outbox/NAME`, the
//! special folders, and the errors a mailbox operation ends in.

use super::*;

/// Why a mailbox operation was refused or failed. Each kind maps to one
/// SFTP status and one FTP reply.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("invalid path: {0}")]
    InvalidPath(String),
    #[error("no such file: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    Exists(String),
    #[error("not permitted: {0}")]
    PermissionDenied(String),
    #[error("unknown partner `{0}`")]
    UnknownPartner(String),
    #[error("the upload was not stored")]
    Store(#[from] StoreError),
    #[error("the journal failed")]
    Journal(#[from] JournalError),
    #[error("reading the upload failed")]
    Read(#[source] io::Error),
    #[error("the upload was refused: {0}")]
    Rejected(String),
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
}

/// A checked path inside a partner's mailbox view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxPath {
    /// `/`: the folders.
    Root,
    Folder(Mailbox),
    /// A file, or a folder, below a mailbox: its path relative to the
    /// mailbox (`batch/a.csv`). Which of the two it is, the tenant says
    /// ([`Tenant::resolve`](super::Tenant::resolve)).
    File(Mailbox, String),
    /// A folder below a mailbox, as [`Tenant::resolve`](super::Tenant::resolve)
    /// found it: its path relative to the mailbox (`batch/2026`).
    Subfolder(Mailbox, String),
    /// `/receipts` or `/resend`.
    Special(Special),
    /// A file in one of them: a generated answer, or a resend request.
    SpecialFile(Special, String),
}

/// The folders of a view that are not mailboxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// Answers generated from the journal when read: `sent.csv`, `received.csv`.
    Receipts,
    /// An empty file created here, named after a file or its SHA-256, asks
    /// for that file to be put back in the outbox.
    Resend,
}

impl Special {
    pub fn as_str(self) -> &'static str {
        match self {
            Special::Receipts => "receipts",
            Special::Resend => "resend",
        }
    }
}

impl MailboxPath {
    /// Parses a path as a client sends it (`/inbox/a.csv`, `outbox`, `/`).
    /// `.` and empty components are ignored; `..`, NUL, control characters
    /// and over-long names are refused outright rather than resolved.
    pub fn parse(path: &str) -> Result<MailboxPath, MailboxError> {
        MailboxPath::parse_unnamed(path).map_err(|e| match e {
            // The path in the message, for the client and the journal:
            // escaped, and cut short where it is long.
            MailboxError::InvalidPath(why) => {
                let shown: String = path.chars().take(120).collect();
                MailboxError::InvalidPath(format!("{shown:?}: {why}"))
            }
            other => other,
        })
    }

    fn parse_unnamed(path: &str) -> Result<MailboxPath, MailboxError> {
        if path.len() > MAX_PATH {
            return Err(MailboxError::InvalidPath(format!(
                "longer than {MAX_PATH} bytes"
            )));
        }
        let mut parts = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(MailboxError::InvalidPath("`..` is not allowed".to_owned()));
                }
                part => parts.push(check_name(part)?),
            }
        }
        let folder = |name: &str| match name {
            "inbox" => Ok(Ok(Mailbox::Inbox)),
            "outbox" => Ok(Ok(Mailbox::Outbox)),
            "receipts" => Ok(Err(Special::Receipts)),
            "resend" => Ok(Err(Special::Resend)),
            other => Err(MailboxError::NotFound(format!("/{other}"))),
        };
        match parts.as_slice() {
            [] => Ok(MailboxPath::Root),
            [box_name] => Ok(match folder(box_name)? {
                Ok(mailbox) => MailboxPath::Folder(mailbox),
                Err(special) => MailboxPath::Special(special),
            }),
            [box_name, name] => Ok(match folder(box_name)? {
                Ok(mailbox) => MailboxPath::File(mailbox, (*name).to_owned()),
                Err(special) => MailboxPath::SpecialFile(special, (*name).to_owned()),
            }),
            // The proofs of the partner's files: `/receipts/proofs/NAME.json`.
            [box_name, proofs, name]
                if folder(box_name)? == Err(Special::Receipts) && *proofs == "proofs" =>
            {
                Ok(MailboxPath::SpecialFile(
                    Special::Receipts,
                    format!("proofs/{name}"),
                ))
            }
            [box_name, rest @ ..] => match folder(box_name)? {
                Ok(mailbox) => {
                    let relative = rest.join("/");
                    crate::names::check_relative_path(&relative)
                        .map_err(|why| MailboxError::InvalidPath(why.to_owned()))?;
                    Ok(MailboxPath::File(mailbox, relative))
                }
                Err(special) => Err(MailboxError::NotFound(format!(
                    "{path}: /{} has no subfolders",
                    special.as_str()
                ))),
            },
        }
    }

    /// A path that must name a file in the inbox (relative to it, folders
    /// and all), for uploads and renames.
    pub fn inbox_file(name: &str) -> Result<MailboxPath, MailboxError> {
        crate::names::check_relative_path(name)
            .map_err(|why| MailboxError::InvalidPath(why.to_owned()))?;
        Ok(MailboxPath::File(Mailbox::Inbox, name.to_owned()))
    }
}

/// One file name: no separators, no NUL or control characters, not too long.
pub(super) fn check_name(name: &str) -> Result<&str, MailboxError> {
    crate::names::check_file_name(name).map_err(|why| MailboxError::InvalidPath(why.to_owned()))
}
