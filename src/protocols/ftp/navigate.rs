//! PWD, CWD, CDUP: moving between `/` and its folders; MKD and RMD:
//! folders in the inbox.

use std::io;

use super::session::{Session, blocking, view_path};
use crate::tenant::{MailboxError, MailboxPath};

pub async fn pwd(s: &mut Session) -> io::Result<()> {
    let path = view_path(&s.cwd);
    s.control
        .reply(257, &format!("\"{path}\" is the current folder"))
        .await
}

pub async fn cwd(s: &mut Session, arg: &str) -> io::Result<()> {
    // `..` goes up within the view (never above `/`); elsewhere `..` in a
    // path is refused, as in every other command.
    let target = match arg.trim_end_matches('/') {
        ".." | "/.." => Ok(MailboxPath::Root),
        "" | "/" => Ok(MailboxPath::Root),
        other => s.resolve(other),
    };
    // A path below a mailbox is a folder only if the tenant says so.
    let target = match target {
        Ok(path @ MailboxPath::File(..)) => {
            let (tenant, partner) = s.who();
            blocking(move || tenant.resolve(&partner, path)).await
        }
        other => other,
    };
    match target {
        Ok(
            folder @ (MailboxPath::Root
            | MailboxPath::Folder(_)
            | MailboxPath::Subfolder(..)
            | MailboxPath::Special(_)),
        ) => {
            s.cwd = folder;
            s.control.reply(250, "folder changed").await
        }
        Ok(MailboxPath::File(..) | MailboxPath::SpecialFile(..)) => {
            s.control.reply(550, "not a folder").await
        }
        Err(e) => s.fail(&e).await,
    }
}

pub async fn mkd(s: &mut Session, arg: &str) -> io::Result<()> {
    let path = match s.resolve(arg) {
        Ok(path) => path,
        Err(e) => return s.fail(&e).await,
    };
    let shown = view_path(&path);
    let (tenant, partner) = s.who();
    match blocking(move || tenant.make_folder(&partner, &path)).await {
        // RFC 959: the new folder's path, quoted.
        Ok(()) => {
            let quoted = shown.replace('"', "\"\"");
            s.control.reply(257, &format!("\"{quoted}\" created")).await
        }
        Err(e) => s.fail(&e).await,
    }
}

pub async fn rmd(s: &mut Session, arg: &str) -> io::Result<()> {
    let path = match s.resolve(arg) {
        Ok(path) => path,
        Err(e) => return s.fail(&e).await,
    };
    if matches!(
        path,
        MailboxPath::Root | MailboxPath::Folder(_) | MailboxPath::Special(_)
    ) {
        let e = MailboxError::PermissionDenied("the view's own folders stay".into());
        return s.fail(&e).await;
    }
    let (tenant, partner) = s.who();
    match blocking(move || tenant.remove_folder(&partner, &path)).await {
        Ok(()) => s.control.reply(250, "folder removed").await,
        Err(e) => s.fail(&e).await,
    }
}
