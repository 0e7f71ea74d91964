//! USER, PASS, AUTH, PBSZ, PROT: who the client is and whether the session
//! is protected.

use std::io;
use std::sync::Arc;

use super::session::{Login, Session};
use crate::protocols::login;

/// The tenant whose bans apply to this session before a login names one:
/// the listener's.
fn bound(s: &Session) -> Option<&str> {
    s.server.listener.tenant.as_deref()
}

/// Whether the address is banned from the logins this session may try.
pub fn banned(s: &Session, user: Option<&str>) -> bool {
    let tenant = match user {
        Some(user) => login::aimed_at(&s.server.hub, bound(s), user),
        None => bound(s).map(str::to_owned),
    };
    s.server.hub.guard().banned(tenant.as_deref(), s.peer.ip())
}

/// Ends the session of an address banned for failed logins.
pub async fn refuse_banned(s: &mut Session) -> io::Result<()> {
    s.quit = true;
    s.control
        .reply(
            421,
            "too many failed logins from your address; try again later",
        )
        .await
}

pub async fn user(s: &mut Session, arg: &str) -> io::Result<()> {
    if s.login.is_some() {
        return s.control.reply(503, "already logged in").await;
    }
    if arg.is_empty() {
        return s.control.reply(501, "USER needs a name").await;
    }
    if banned(s, Some(arg)) {
        return refuse_banned(s).await;
    }
    // Only what holds for every login of the listener is said here: an
    // answer that depended on the account would tell which ones exist.
    let tenant_needs_tls = bound(s)
        .and_then(|t| s.server.hub.tenant(t))
        .is_some_and(|t| t.config().require_tls);
    if !s.control.is_tls() && tenant_needs_tls {
        // Refused before the password crosses the network in clear text.
        s.user = None;
        return s
            .control
            .reply(
                530,
                "this server takes logins over TLS only: use AUTH TLS or implicit FTPS",
            )
            .await;
    }
    s.user = Some(arg.to_owned());
    s.control
        .reply(331, &format!("password required for {arg}"))
        .await
}

pub async fn pass(s: &mut Session, arg: &str) -> io::Result<()> {
    let Some(user) = s.user.take() else {
        return s.control.reply(503, "send USER first").await;
    };
    let attempt = login::Attempt {
        hub: &s.server.hub,
        bound: s.server.listener.tenant.as_deref(),
        user: &user,
        ip: s.peer.ip(),
        protocol: s.server.listener.protocol.as_str(),
        tls: s.control.is_tls(),
        refuse: false,
    };
    let candidate = match login::password_login(attempt, arg).await {
        Ok(candidate) => candidate,
        Err(login::Refused::Banned) => return refuse_banned(s).await,
        Err(login::Refused::Incorrect) => return s.control.reply(530, "login incorrect").await,
    };
    tracing::info!(peer = %s.peer, user = %user, tls = s.control.is_tls(), "FTP login");
    let protocol = s.server.listener.protocol.as_str();
    let ticket = match s.server.hub.open_session(
        &candidate.tenant,
        &candidate.partner,
        &candidate.account,
        protocol,
        s.peer,
    ) {
        Ok(ticket) => ticket,
        Err(why) => {
            tracing::warn!(peer = %s.peer, user = %user, %why, "FTP login refused: session limit");
            s.quit = true;
            return s
                .control
                .reply(421, "too many sessions for this account; try again later")
                .await;
        }
    };
    s.startup = None;
    s.login = Some(Login {
        ticket,
        needs_tls: login::needs_tls(&candidate),
        tenant: candidate.tenant,
        partner: candidate.partner,
        user,
    });
    s.control
        .reply(230, "logged in: your mailbox has /inbox and /outbox")
        .await
}

pub async fn auth(s: &mut Session, arg: &str) -> io::Result<()> {
    if !matches!(
        arg.trim().to_ascii_uppercase().as_str(),
        "TLS" | "TLS-C" | "SSL"
    ) {
        return s.control.reply(504, "only AUTH TLS").await;
    }
    if s.control.is_tls() {
        return s
            .control
            .reply(503, "the connection is already protected")
            .await;
    }
    s.control
        .reply(234, "AUTH TLS OK: starting the handshake")
        .await?;
    // A handshake that never ends must not hold the connection for ever.
    let grace = s.server.hub.config().limits.login_grace;
    tokio::time::timeout(grace, s.control.upgrade(Arc::clone(&s.server.tls)))
        .await
        .map_err(|_| {
            io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long")
        })??;
    // A new protected session: whatever was said in clear text is forgotten.
    s.user = None;
    s.login = None;
    Ok(())
}

pub async fn pbsz(s: &mut Session, _arg: &str) -> io::Result<()> {
    if !s.control.is_tls() {
        return s.control.reply(503, "AUTH TLS first").await;
    }
    s.control.reply(200, "PBSZ=0").await
}

pub async fn prot(s: &mut Session, arg: &str) -> io::Result<()> {
    if !s.control.is_tls() {
        return s.control.reply(503, "AUTH TLS first").await;
    }
    match arg.trim().to_ascii_uppercase().as_str() {
        "P" => {
            s.protect_data = true;
            s.control.reply(200, "data connections are protected").await
        }
        "C" if s.login.as_ref().is_some_and(|l| l.needs_tls) => {
            s.control
                .reply(
                    534,
                    "this account's data connections must be protected: PROT P",
                )
                .await
        }
        "C" => {
            s.protect_data = false;
            s.control
                .reply(200, "data connections are in clear text")
                .await
        }
        _ => s.control.reply(536, "only PROT C and PROT P").await,
    }
}
