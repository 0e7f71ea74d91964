//! One FTP session: its state, the command loop and the dispatch of each
//! verb to its handler.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::control::{Control, Line};
use super::data::Channel;
use super::{Server, auth, files, navigate, transfer};
use crate::journal::Mailbox;
use crate::store::StoreError;
use crate::tenant::{MailboxError, MailboxPath, Tenant};

/// An authenticated partner.
pub struct Login {
    pub tenant: Arc<Tenant>,
    pub partner: String,
    pub user: String,
    /// Data connections must be TLS (`PROT P`): the account or its tenant
    /// requires TLS.
    pub needs_tls: bool,
    /// The session's entry among the live sessions (limits, kicks).
    pub ticket: crate::tenant::Ticket,
}

pub struct Session {
    pub server: Arc<Server>,
    pub control: Control,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The name given with USER, waiting for PASS.
    pub user: Option<String>,
    pub login: Option<Login>,
    /// `/` or a folder.
    pub cwd: MailboxPath,
    /// Where the next transfer's data connection comes from (PASV or PORT).
    pub channel: Option<Channel>,
    /// The offset REST gave for the next transfer.
    pub rest: u64,
    /// The path RNFR named, for RNTO.
    pub rename_from: Option<MailboxPath>,
    /// `PROT P`: data connections in TLS.
    pub protect_data: bool,
    /// Command lines that arrived during a transfer, served after it.
    pub pending: VecDeque<Line>,
    pub quit: bool,
    /// Refused paths journaled so far.
    pub refusals: u32,
    /// The connection's place among those not logged in yet; `None` once
    /// logged in.
    pub startup: Option<crate::tenant::gate::Startup>,
    /// When the connection came: it must log in within `login_grace`.
    pub connected: Instant,
    /// The last command other than `NOOP`: a session idle for
    /// `idle_timeout` is closed, keep-alives or not.
    pub active: Instant,
}

/// Refused paths journaled per session: enough to show an attempt, not so
/// many that a client can flood the journal.
pub const JOURNALED_REFUSALS: u32 = 16;

/// Serves a session until the client quits or goes away.
pub async fn run(
    server: Arc<Server>,
    control: Control,
    peer: SocketAddr,
    local: SocketAddr,
    startup: crate::tenant::gate::Startup,
) {
    let mut session = Session {
        server,
        control,
        peer,
        local,
        user: None,
        login: None,
        cwd: MailboxPath::Root,
        channel: None,
        rest: 0,
        rename_from: None,
        protect_data: false,
        pending: VecDeque::new(),
        quit: false,
        refusals: 0,
        startup: Some(startup),
        connected: Instant::now(),
        active: Instant::now(),
    };
    if let Err(e) = session.serve().await {
        tracing::debug!(%peer, error = %e, "FTP session ended");
    }
    session.control.shutdown().await;
}

impl Session {
    async fn serve(&mut self) -> io::Result<()> {
        if auth::banned(self, None) {
            return auth::refuse_banned(self).await;
        }
        self.control.reply(220, "ferry FTP server ready").await?;
        while !self.quit {
            if self.login.as_ref().is_some_and(|l| l.ticket.is_kicked()) {
                self.quit = true;
                return self
                    .control
                    .reply(421, "the session was closed by the server's operator")
                    .await;
            }
            let line = match self.pending.pop_front() {
                Some(line) => line,
                None => {
                    // An operator's kick (or the tenant's removal) ends the
                    // session here between commands, and in `transfer::run`
                    // during a transfer.
                    // The ticket lives as long as the login, so its wait
                    // ends only with a kick.
                    let kicked = self.login.as_ref().map(|l| l.ticket.kicked());
                    let kicked = async {
                        match kicked {
                            Some(kicked) => kicked.await,
                            None => std::future::pending().await,
                        }
                    };
                    let limits = self.server.hub.config().limits.clone();
                    let deadline = match &self.login {
                        None => self.connected + limits.login_grace,
                        Some(_) => self.active + limits.idle_timeout,
                    };
                    let read = tokio::time::timeout_at(deadline.into(), self.control.read_line());
                    // Biased, kick first: a command that arrives together
                    // with the kick must not be served after the
                    // credentials were revoked.
                    let line = tokio::select! {
                        biased;
                        true = kicked => {
                            self.quit = true;
                            return self.control.reply(421, "the session was closed by the server's operator").await;
                        }
                        line = read => line,
                    };
                    match line {
                        Err(_) if self.login.is_none() => {
                            return self.control.reply(421, "no login in time; closing").await;
                        }
                        Err(_) => {
                            return self.control.reply(421, "idle for too long; closing").await;
                        }
                        Ok(line) => match line? {
                            Some(line) => line,
                            None => return Ok(()),
                        },
                    }
                }
            };
            match line {
                Line::TooLong => self.control.reply(500, "command line too long").await?,
                Line::Command(text) => self.command(&text).await?,
            }
        }
        Ok(())
    }

    async fn command(&mut self, text: &str) -> io::Result<()> {
        let (verb, arg) = text.split_once(' ').unwrap_or((text, ""));
        let verb = verb.to_ascii_uppercase();
        if verb != "NOOP" {
            self.active = Instant::now();
        }
        if verb == "PASS" {
            // Never the password itself in a log.
            tracing::debug!(peer = %self.peer, "FTP command PASS ****");
        } else {
            tracing::debug!(peer = %self.peer, command = %text, "FTP command");
        }
        // Verbs allowed before login.
        match verb.as_str() {
            "USER" => return auth::user(self, arg).await,
            "PASS" => return auth::pass(self, arg).await,
            "AUTH" => return auth::auth(self, arg).await,
            "PBSZ" => return auth::pbsz(self, arg).await,
            "PROT" => return auth::prot(self, arg).await,
            "CCC" => {
                return self
                    .control
                    .reply(534, "the control connection stays protected")
                    .await;
            }
            "FEAT" => return self.feat().await,
            "SYST" => return self.control.reply(215, "UNIX Type: L8").await,
            "NOOP" => return self.control.reply(200, "OK").await,
            "HELP" => {
                return self
                    .control
                    .reply(214, "see RFC 959; FEAT lists the extensions")
                    .await;
            }
            "OPTS" => return self.opts(arg).await,
            "QUIT" => {
                self.quit = true;
                return self.control.reply(221, "goodbye").await;
            }
            _ => {}
        }
        if !KNOWN.contains(&verb.as_str()) {
            return self
                .control
                .reply(500, &format!("unknown command {verb}"))
                .await;
        }
        if self.login.is_none() {
            return self
                .control
                .reply(530, "log in first (USER and PASS)")
                .await;
        }
        match verb.as_str() {
            "TYPE" => self.type_(arg).await,
            "MODE" => self.simple(arg, "S", "stream mode").await,
            "STRU" => self.simple(arg, "F", "file structure").await,
            "ALLO" => {
                self.control
                    .reply(202, "no storage allocation needed")
                    .await
            }
            "PWD" | "XPWD" => navigate::pwd(self).await,
            "CWD" | "XCWD" => navigate::cwd(self, arg).await,
            "CDUP" | "XCUP" => navigate::cwd(self, "..").await,
            "PASV" => transfer::pasv(self, false).await,
            "EPSV" => transfer::epsv(self, arg).await,
            "PORT" => transfer::port(self, arg, false).await,
            "EPRT" => transfer::port(self, arg, true).await,
            "REST" => transfer::rest(self, arg).await,
            "STOR" => transfer::store(self, arg, false).await,
            "APPE" => transfer::store(self, arg, true).await,
            "RETR" => transfer::retrieve(self, arg).await,
            "LIST" => transfer::list(self, arg, transfer::Listing::Long).await,
            "NLST" => transfer::list(self, arg, transfer::Listing::Names).await,
            "MLSD" => transfer::list(self, arg, transfer::Listing::Facts).await,
            "ABOR" => self.control.reply(225, "no transfer to abort").await,
            "DELE" => files::delete(self, arg).await,
            "RNFR" => files::rename_from(self, arg).await,
            "RNTO" => files::rename_to(self, arg).await,
            "SIZE" => files::size(self, arg).await,
            "MDTM" => files::modified(self, arg).await,
            "MLST" => files::mlst(self, arg).await,
            "HASH" | "XSHA256" => files::hash(self, arg, verb == "HASH").await,
            "MKD" | "XMKD" => navigate::mkd(self, arg).await,
            "RMD" | "XRMD" => navigate::rmd(self, arg).await,
            "STAT" => {
                let user = self.login.as_ref().map_or("", |l| l.user.as_str());
                self.control
                    .reply(
                        211,
                        &format!("ferry FTP server\nlogged in as {user}\nend of status"),
                    )
                    .await
            }
            _ => {
                self.control
                    .reply(502, &format!("{verb} is not implemented"))
                    .await
            }
        }
    }

    async fn feat(&mut self) -> io::Result<()> {
        let mut features = vec![
            "Extensions supported:",
            "UTF8",
            "EPSV",
            "PASV",
            "SIZE",
            "MDTM",
            "REST STREAM",
            "MLST type*;size*;modify*;perm*;",
            "TVFS",
            "AUTH TLS",
            "PBSZ",
            "PROT",
            "HASH SHA-256*",
            "XSHA256",
        ];
        if self.server.listener.ftp.active_mode {
            features.push("EPRT");
        }
        features.push("End");
        self.control.reply(211, &features.join("\n")).await
    }

    async fn opts(&mut self, arg: &str) -> io::Result<()> {
        let (option, value) = arg.split_once(' ').unwrap_or((arg, ""));
        match (
            option.to_ascii_uppercase().as_str(),
            value.trim().to_ascii_uppercase().as_str(),
        ) {
            ("UTF8", "ON" | "") => self.control.reply(200, "UTF-8 is always on").await,
            ("HASH", "SHA-256" | "") => self.control.reply(200, "SHA-256").await,
            ("HASH", _) => self.control.reply(501, "only SHA-256 is offered").await,
            ("MLST", _) => {
                self.control
                    .reply(200, "MLST OPTS type;size;modify;perm;")
                    .await
            }
            _ => {
                self.control
                    .reply(501, &format!("unknown option {option}"))
                    .await
            }
        }
    }

    async fn type_(&mut self, arg: &str) -> io::Result<()> {
        // ASCII and image both move the bytes as they are (no line-ending
        // rewriting): a stored file keeps the hash its sender computed.
        match arg.trim().to_ascii_uppercase().as_str() {
            "I" | "L 8" => self.control.reply(200, "type set to I").await,
            "A" | "A N" => {
                self.control
                    .reply(200, "type set to A (bytes are not rewritten)")
                    .await
            }
            _ => self.control.reply(504, "only types A and I").await,
        }
    }

    async fn simple(&mut self, arg: &str, only: &str, what: &str) -> io::Result<()> {
        if arg.trim().eq_ignore_ascii_case(only) {
            self.control.reply(200, what).await
        } else {
            self.control.reply(504, &format!("only {what}")).await
        }
    }

    /// The path an argument names, relative to the current folder.
    pub fn resolve(&self, arg: &str) -> Result<MailboxPath, MailboxError> {
        if arg.is_empty() {
            return Ok(self.cwd.clone());
        }
        if arg.starts_with('/') {
            return MailboxPath::parse(arg);
        }
        let base = match &self.cwd {
            MailboxPath::Root => String::new(),
            cwd => view_path(cwd),
        };
        MailboxPath::parse(&format!("{base}/{arg}"))
    }

    /// The logged-in partner's tenant and name (dispatch guarantees a login).
    pub fn who(&self) -> (Arc<Tenant>, String) {
        let login = self.login.as_ref().expect("dispatch checks the login");
        (Arc::clone(&login.tenant), login.partner.clone())
    }

    /// Replies with the FTP code for a mailbox error.
    pub async fn fail(&mut self, error: &MailboxError) -> io::Result<()> {
        if let (MailboxError::InvalidPath(why), Some(login)) = (error, &self.login)
            && self.refusals < JOURNALED_REFUSALS
        {
            self.refusals += 1;
            let (tenant, partner) = (Arc::clone(&login.tenant), login.partner.clone());
            let (peer, why) = (self.peer.to_string(), why.clone());
            blocking(move || tenant.refused_path(&partner, "ftp", &peer, &why)).await;
        }
        let code = match error {
            MailboxError::NotFound(_) | MailboxError::UnknownPartner(_) => 550,
            MailboxError::InvalidPath(_) => 553,
            MailboxError::PermissionDenied(_)
            | MailboxError::Rejected(_)
            | MailboxError::Exists(_) => 550,
            MailboxError::Store(StoreError::TooLarge { .. }) | MailboxError::Quota(_) => 552,
            _ => 451,
        };
        let text = crate::error_chain(error).replace('\n', " ");
        self.control.reply(code, &text).await
    }
}

/// A path as the client sees it: `/`, `/inbox`, `/inbox/batch/a.csv`.
pub fn view_path(path: &MailboxPath) -> String {
    match path {
        MailboxPath::Root => "/".to_owned(),
        MailboxPath::Folder(mailbox) => folder_path(*mailbox),
        MailboxPath::File(mailbox, name) | MailboxPath::Subfolder(mailbox, name) => {
            format!("/{}/{name}", mailbox.as_str())
        }
        MailboxPath::Special(special) => format!("/{}", special.as_str()),
        MailboxPath::SpecialFile(special, name) => format!("/{}/{name}", special.as_str()),
    }
}

/// A mailbox folder's name as the client sees it.
pub fn folder_path(mailbox: Mailbox) -> String {
    format!("/{}", mailbox.as_str())
}

/// Runs blocking work (the journal, the store, argon2) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Verbs that need a login (the others are handled before that check).
const KNOWN: &[&str] = &[
    "TYPE", "MODE", "STRU", "ALLO", "PWD", "XPWD", "CWD", "XCWD", "CDUP", "XCUP", "PASV", "EPSV",
    "PORT", "EPRT", "REST", "STOR", "APPE", "RETR", "LIST", "NLST", "MLSD", "ABOR", "DELE", "RNFR",
    "RNTO", "SIZE", "MDTM", "MLST", "HASH", "XSHA256", "MKD", "XMKD", "RMD", "XRMD", "STAT",
];
