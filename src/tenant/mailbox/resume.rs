//! Where an upload starts: at byte 0, or where an interrupted upload of the
//! same name stopped. The servers share the rule (FTP's `REST` + `STOR` and
//! `APPE`, HTTPS's `Content-Range`), so that it cannot differ between them.

use crate::journal::Mailbox;

use super::{MailboxError, MailboxPath, PendingUpload, Tenant};

impl Tenant {
    /// Starts the upload of `path` at `offset`, or, with `append`, wherever
    /// a kept interrupted upload of it stopped. An offset other than the
    /// kept upload's size is refused with that size in the message; an
    /// offset or append without a kept upload is refused too, since stored
    /// files never change.
    pub fn begin_at(
        &self,
        partner: &str,
        path: &MailboxPath,
        offset: u64,
        append: bool,
    ) -> Result<PendingUpload, MailboxError> {
        let MailboxPath::File(Mailbox::Inbox, name) = path else {
            return Err(MailboxError::PermissionDenied(
                "files can only be uploaded into /inbox".into(),
            ));
        };
        if offset > 0 || append {
            match self.suspended_size(partner, name)? {
                Some(size) if append || size == offset => {
                    if let Some(upload) = self.resume_upload(partner, path)? {
                        return Ok(upload);
                    }
                }
                Some(size) => {
                    return Err(MailboxError::PermissionDenied(format!(
                        "an upload of {name} can resume at byte {size}, not {offset}"
                    )));
                }
                None if offset > 0 => {
                    return Err(MailboxError::NotFound(format!(
                        "no interrupted upload of {name} to resume"
                    )));
                }
                None => {}
            }
            if self.entry(partner, Mailbox::Inbox, name)?.is_some() {
                return Err(MailboxError::PermissionDenied(
                    "files are immutable once stored: upload a new file instead of appending"
                        .into(),
                ));
            }
        }
        self.begin_upload(partner, path)
    }
}
