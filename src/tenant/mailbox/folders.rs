//! Folders inside mailboxes. A file's name is its path relative to its
//! mailbox (`batch/2026/a.csv`); a folder is either one a partner made in
//! its inbox (`mkdir`, `MKD`, kept in the journal) or one that files are
//! in. Nothing here is a directory on disk: folders are prefixes of the
//! journal's keys.

use super::*;

/// What one folder holds: its files (named relative to the folder) and
/// the names of its folders, each sorted.
#[derive(Debug, Default)]
pub struct Listing {
    pub files: Vec<Entry>,
    pub folders: Vec<String>,
}

impl Tenant {
    /// `path` as it is in `partner`'s view: a `File` that names a folder
    /// becomes a `Subfolder`; anything else is returned as it is.
    pub fn resolve(&self, partner: &str, path: MailboxPath) -> Result<MailboxPath, MailboxError> {
        let MailboxPath::File(mailbox, name) = &path else {
            return Ok(path);
        };
        // Most paths asked about are files: one index lookup says so
        // before the folders are looked at.
        if self
            .journal
            .find_entry(&self.config.name, partner, *mailbox, name)?
            .is_some()
        {
            return Ok(path);
        }
        if self.is_folder(partner, *mailbox, name)? {
            return Ok(MailboxPath::Subfolder(*mailbox, name.clone()));
        }
        Ok(path)
    }

    /// Whether `path` is a folder of `partner`'s `mailbox`: made there, or
    /// holding files (a file of that very name is not a folder).
    pub fn is_folder(
        &self,
        partner: &str,
        mailbox: Mailbox,
        path: &str,
    ) -> Result<bool, MailboxError> {
        self.partner(partner)?;
        let journal = &self.journal;
        let tenant = &self.config.name;
        if journal
            .folders(tenant, partner, mailbox)?
            .iter()
            .any(|f| f == path || f.starts_with(&format!("{path}/")))
        {
            return Ok(true);
        }
        Ok(journal.has_files_below(tenant, partner, mailbox, path)?)
    }

    /// What `folder` (relative to `mailbox`; empty for the mailbox itself)
    /// holds directly.
    pub fn list_folder(
        &self,
        partner: &str,
        mailbox: Mailbox,
        folder: &str,
    ) -> Result<Listing, MailboxError> {
        let entries = self.list(partner, mailbox)?;
        let made = self.journal.folders(&self.config.name, partner, mailbox)?;
        let prefix = if folder.is_empty() {
            String::new()
        } else {
            format!("{folder}/")
        };
        let mut listing = Listing::default();
        let mut folders = std::collections::BTreeSet::new();
        for entry in entries {
            let Some(rest) = entry.name.strip_prefix(&prefix) else {
                continue;
            };
            match rest.split_once('/') {
                Some((child, _)) => {
                    folders.insert(child.to_owned());
                }
                None => listing.files.push(Entry {
                    name: rest.to_owned(),
                    ..entry
                }),
            }
        }
        for path in &made {
            if let Some(rest) = path.strip_prefix(&prefix) {
                let child = rest.split_once('/').map_or(rest, |(child, _)| child);
                folders.insert(child.to_owned());
            }
        }
        listing.folders = folders.into_iter().collect();
        listing.files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listing)
    }

    /// Makes a folder in `partner`'s inbox (the outbox is ferry's to fill).
    pub fn make_folder(&self, partner: &str, path: &MailboxPath) -> Result<(), MailboxError> {
        self.partner(partner)?;
        let MailboxPath::File(Mailbox::Inbox, name) = path else {
            return Err(MailboxError::PermissionDenied(
                "folders can only be made in /inbox".to_owned(),
            ));
        };
        let taken = self
            .journal
            .find_entry(&self.config.name, partner, Mailbox::Inbox, name)?
            .is_some();
        if taken || self.is_folder(partner, Mailbox::Inbox, name)? {
            return Err(MailboxError::Exists(format!("/inbox/{name}")));
        }
        self.journal
            .make_folder(&self.config.name, partner, Mailbox::Inbox, name)?;
        Ok(())
    }

    /// Removes an empty folder made in `partner`'s inbox.
    pub fn remove_folder(&self, partner: &str, path: &MailboxPath) -> Result<(), MailboxError> {
        self.partner(partner)?;
        let (MailboxPath::File(Mailbox::Inbox, name)
        | MailboxPath::Subfolder(Mailbox::Inbox, name)) = path
        else {
            return Err(MailboxError::PermissionDenied(
                "only folders made in /inbox can be removed".to_owned(),
            ));
        };
        let listing = self.list_folder(partner, Mailbox::Inbox, name)?;
        if !listing.files.is_empty() || !listing.folders.is_empty() {
            return Err(MailboxError::PermissionDenied(format!(
                "/inbox/{name} is not empty"
            )));
        }
        if self
            .journal
            .remove_folder(&self.config.name, partner, Mailbox::Inbox, name)?
        {
            Ok(())
        } else {
            Err(MailboxError::NotFound(format!("/inbox/{name}")))
        }
    }
}
