//! USER, PASS, AUTH, PBSZ, PROT: who the client is and whether the session
//! is protected.

use std::io;
use std::sync::Arc;

use super::session::{Login, Session, blocking};
use crate::protocols::login::{self, Candidate};

/// Whether `candidate` may only log in over TLS.
fn needs_tls(candidate: &Candidate) -> bool {
    candidate.account.require_tls || candidate.tenant.config().require_tls
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
    if s.server.guard.banned(s.peer.ip()) {
        return refuse_banned(s).await;
    }
    let bound = s.server.listener.tenant.clone();
    let candidate = login::resolve(&s.server.hub, bound.as_deref(), arg);
    let tenant_needs_tls = bound
        .as_deref()
        .and_then(|t| s.server.hub.tenant(t))
        .is_some_and(|t| t.config().require_tls);
    if !s.control.is_tls() && (tenant_needs_tls || candidate.as_ref().is_some_and(needs_tls)) {
        // Refused before the password crosses the network in clear text.
        s.user = None;
        return s
            .control
            .reply(
                530,
                "this account logs in over TLS only: use AUTH TLS or implicit FTPS",
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
    if s.server.guard.banned(s.peer.ip()) {
        return refuse_banned(s).await;
    }
    let candidate = login::resolve(&s.server.hub, s.server.listener.tenant.as_deref(), &user);
    if s.server
        .guard
        .login_banned(&user, candidate.as_ref().map(|c| c.tenant.as_ref()))
    {
        return s
            .control
            .reply(
                530,
                "this login is blocked for a while after failed attempts",
            )
            .await;
    }
    let ok = match &candidate {
        Some(c) if c.allows(s.peer.ip()) && (!needs_tls(c) || s.control.is_tls()) => {
            let account = c.account.clone();
            let password = arg.to_owned();
            blocking(move || login::password_matches(&account, &password)).await
        }
        _ => false,
    };
    let Some(candidate) = candidate.filter(|_| ok) else {
        let guard = Arc::clone(&s.server.guard);
        let hub = Arc::clone(&s.server.hub);
        let tenant =
            login::resolve(&hub, s.server.listener.tenant.as_deref(), &user).map(|c| c.tenant);
        let ip = s.peer.ip();
        let protocol = s.server.listener.protocol.as_str();
        blocking(move || {
            let limits = hub.config().limits.clone();
            guard.failed(
                ip,
                &user,
                tenant.as_deref(),
                hub.journal().as_ref(),
                &limits,
                protocol,
            );
        })
        .await;
        return s.control.reply(530, "login incorrect").await;
    };
    tracing::info!(peer = %s.peer, user = %user, tls = s.control.is_tls(), "FTP login");
    let protocol = s.server.listener.protocol.as_str();
    let ticket = match s.server.hub.open_session(
        &candidate.tenant,
        &candidate.partner,
        &candidate.account.login,
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
    s.login = Some(Login {
        ticket,
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
    s.control.upgrade(Arc::clone(&s.server.tls)).await?;
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
        "C" => {
            s.protect_data = false;
            s.control
                .reply(200, "data connections are in clear text")
                .await
        }
        _ => s.control.reply(536, "only PROT C and PROT P").await,
    }
}
