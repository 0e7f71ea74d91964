//! Commands on one file over the control connection: DELE, RNFR/RNTO, SIZE,
//! MDTM, MLST, HASH and XSHA256.

use std::io;

use super::session::{Session, blocking, folder_path};
use crate::journal::{Entry, Mailbox};
use crate::protocols::listing::time_val;
use crate::tenant::{MailboxError, MailboxPath, Special};

/// The visible file at `path`, or why not.
async fn entry(s: &Session, path: &MailboxPath) -> Result<Entry, MailboxError> {
    let MailboxPath::File(mailbox, name) = path.clone() else {
        return Err(MailboxError::PermissionDenied("that is a folder".into()));
    };
    let (tenant, partner) = s.who();
    blocking(move || {
        tenant
            .entry(&partner, mailbox, &name)?
            .ok_or_else(|| MailboxError::NotFound(format!("/{}/{name}", mailbox.as_str())))
    })
    .await
}

pub async fn delete(s: &mut Session, arg: &str) -> io::Result<()> {
    let (tenant, partner) = s.who();
    let result = match s.resolve(arg) {
        Ok(MailboxPath::File(mailbox, name)) => {
            blocking(move || tenant.hide(&partner, mailbox, &name)).await
        }
        Ok(_) => Err(MailboxError::PermissionDenied(
            "folders cannot be deleted".into(),
        )),
        Err(e) => Err(e),
    };
    match result {
        // The file leaves the partner's view; its content and history stay.
        Ok(()) => s.control.reply(250, "deleted").await,
        Err(e) => s.fail(&e).await,
    }
}

pub async fn rename_from(s: &mut Session, arg: &str) -> io::Result<()> {
    match s.resolve(arg) {
        Ok(path @ MailboxPath::File(..)) => {
            s.rename_from = Some(path);
            s.control.reply(350, "ready for RNTO").await
        }
        Ok(_) => s.control.reply(550, "only files can be renamed").await,
        Err(e) => s.fail(&e).await,
    }
}

pub async fn rename_to(s: &mut Session, arg: &str) -> io::Result<()> {
    let Some(from) = s.rename_from.take() else {
        return s.control.reply(503, "send RNFR first").await;
    };
    let (tenant, partner) = s.who();
    let result = match (from, s.resolve(arg)) {
        (MailboxPath::File(from_box, from), Ok(MailboxPath::File(to_box, to)))
            if from_box == to_box =>
        {
            blocking(move || tenant.rename(&partner, from_box, &from, &to)).await
        }
        (_, Ok(MailboxPath::File(..))) => Err(MailboxError::PermissionDenied(
            "files cannot move between /inbox and /outbox".into(),
        )),
        (_, Ok(_)) => Err(MailboxError::PermissionDenied(
            "the target is a folder".into(),
        )),
        (_, Err(e)) => Err(e),
    };
    match result {
        Ok(()) => s.control.reply(250, "renamed").await,
        Err(e) => s.fail(&e).await,
    }
}

/// A `/receipts` file as of now.
pub async fn receipt(s: &Session, name: &str) -> Result<Vec<u8>, MailboxError> {
    let (tenant, partner) = s.who();
    let name = name.to_owned();
    blocking(move || tenant.receipt(&partner, &name)).await
}

pub async fn size(s: &mut Session, arg: &str) -> io::Result<()> {
    let path = match s.resolve(arg) {
        Ok(path) => path,
        Err(e) => return s.fail(&e).await,
    };
    if let MailboxPath::SpecialFile(Special::Receipts, name) = &path {
        return match receipt(s, name).await {
            Ok(bytes) => s.control.reply(213, &bytes.len().to_string()).await,
            Err(e) => s.fail(&e).await,
        };
    }
    if let MailboxPath::File(mailbox, name) = &path {
        let (tenant, partner, mailbox, name) = (s.who().0, s.who().1, *mailbox, name.clone());
        if let Ok(Some(content)) =
            blocking(move || tenant.checksum_file(&partner, mailbox, &name)).await
        {
            return s.control.reply(213, &content.len().to_string()).await;
        }
    }
    match entry(s, &path).await {
        Ok(entry) => s.control.reply(213, &entry.size.to_string()).await,
        Err(MailboxError::NotFound(why)) => {
            // An interrupted upload shows its size to its sender, who
            // resumes from there (REST + STOR, or APPE).
            let (tenant, partner) = s.who();
            let kept = match path {
                MailboxPath::File(Mailbox::Inbox, name) => {
                    blocking(move || tenant.suspended_size(&partner, &name)).await
                }
                _ => Ok(None),
            };
            match kept {
                Ok(Some(size)) => s.control.reply(213, &size.to_string()).await,
                Ok(None) => s.fail(&MailboxError::NotFound(why)).await,
                Err(e) => s.fail(&e).await,
            }
        }
        Err(e) => s.fail(&e).await,
    }
}

pub async fn modified(s: &mut Session, arg: &str) -> io::Result<()> {
    let result = match s.resolve(arg) {
        Ok(path) => entry(s, &path).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(entry) => {
            s.control
                .reply(213, &time_val(entry.created_at.0 / 1000))
                .await
        }
        Err(e) => s.fail(&e).await,
    }
}

/// RFC 3659 facts of a file.
pub fn file_facts(entry: &Entry, mailbox: Mailbox) -> String {
    // Inbox files can be renamed (completion by rename) and deleted;
    // outbox files read and deleted.
    let perm = match mailbox {
        Mailbox::Inbox => "rdf",
        Mailbox::Outbox => "rd",
    };
    format!(
        "type=file;size={};modify={};perm={perm};",
        entry.size,
        time_val(entry.created_at.0 / 1000)
    )
}

/// RFC 3659 facts of a folder, by name (`None`: the root).
pub fn folder_facts(folder: Option<&str>) -> &'static str {
    match folder {
        // Files are created in the inbox, and requests in /resend.
        Some("inbox" | "resend") => "type=dir;perm=elc;",
        _ => "type=dir;perm=el;",
    }
}

pub async fn mlst(s: &mut Session, arg: &str) -> io::Result<()> {
    let path = match s.resolve(arg) {
        Ok(path) => path,
        Err(e) => return s.fail(&e).await,
    };
    let (tenant, partner) = s.who();
    let path = match super::session::blocking(move || tenant.resolve(&partner, path)).await {
        Ok(path) => path,
        Err(e) => return s.fail(&e).await,
    };
    let (facts, name) = match &path {
        MailboxPath::Root => (folder_facts(None).to_owned(), "/".to_owned()),
        MailboxPath::Folder(mailbox) => (
            folder_facts(Some(mailbox.as_str())).to_owned(),
            folder_path(*mailbox),
        ),
        MailboxPath::Special(special) => (
            folder_facts(Some(special.as_str())).to_owned(),
            format!("/{}", special.as_str()),
        ),
        MailboxPath::Subfolder(mailbox, folder) => (
            match mailbox {
                Mailbox::Inbox => "type=dir;perm=elcmd;",
                Mailbox::Outbox => "type=dir;perm=el;",
            }
            .to_owned(),
            format!("{}/{folder}", folder_path(*mailbox)),
        ),
        MailboxPath::SpecialFile(Special::Receipts, name) => match receipt(s, name).await {
            Ok(bytes) => (
                format!("type=file;size={};perm=r;", bytes.len()),
                format!("/receipts/{name}"),
            ),
            Err(e) => return s.fail(&e).await,
        },
        MailboxPath::SpecialFile(Special::Resend, name) => {
            return s
                .fail(&MailboxError::NotFound(format!("/resend/{name}")))
                .await;
        }
        MailboxPath::File(mailbox, name) => match entry(s, &path).await {
            Ok(entry) => (
                file_facts(&entry, *mailbox),
                format!("{}/{name}", folder_path(*mailbox)),
            ),
            Err(e) => return s.fail(&e).await,
        },
    };
    s.control
        .reply(250, &format!("Listing {name}\n{facts} {name}\nEnd"))
        .await
}

/// `HASH` (draft-bryan-ftp-hash, SHA-256 only) and `XSHA256`: the hash the
/// store recorded when the file arrived, not a new read of the file.
pub async fn hash(s: &mut Session, arg: &str, draft: bool) -> io::Result<()> {
    let result = match s.resolve(arg) {
        Ok(path) => entry(s, &path).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(entry) if draft => {
            let end = entry.size.saturating_sub(1);
            s.control
                .reply(213, &format!("SHA-256 0-{end} {} {arg}", entry.hash))
                .await
        }
        Ok(entry) => s.control.reply(213, &entry.hash.to_string()).await,
        Err(e) => s.fail(&e).await,
    }
}
