//! PWD, CWD, CDUP: moving between `/` and its folders.

use std::io;

use super::session::{Session, folder_path};
use crate::tenant::MailboxPath;

pub async fn pwd(s: &mut Session) -> io::Result<()> {
    let path = match &s.cwd {
        MailboxPath::Folder(mailbox) => folder_path(*mailbox),
        MailboxPath::Special(special) => format!("/{}", special.as_str()),
        _ => "/".to_owned(),
    };
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
    match target {
        Ok(folder @ (MailboxPath::Root | MailboxPath::Folder(_) | MailboxPath::Special(_))) => {
            s.cwd = folder;
            s.control.reply(250, "folder changed").await
        }
        Ok(MailboxPath::File(..) | MailboxPath::SpecialFile(..)) => {
            s.control.reply(550, "not a folder").await
        }
        Err(e) => s.fail(&e).await,
    }
}
