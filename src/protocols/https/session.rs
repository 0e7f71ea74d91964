//! The partner web client's logins: a random session id in a cookie
//! (`__Host-ferry`: `Secure`, `HttpOnly`, `SameSite=Strict`, path `/`, no
//! domain), a new one at every login, each with its own CSRF token and
//! the partner's session `Ticket` (so a web login counts toward
//! `max_sessions`, is listed, and ends when an administrator kicks it or
//! the account's credentials change).
//!
//! Sessions live in memory, per listener: a restart logs everybody out,
//! which is the safe direction. They end after `IDLE` without a request
//! and `LIFETIME` after the login whatever happens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::tenant::{Tenant, Ticket};

/// The cookie's name: the `__Host-` prefix makes browsers refuse it
/// unless it is `Secure`, has path `/` and no `Domain`.
pub const COOKIE: &str = "__Host-ferry";
/// A session unused this long is over.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after its login.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Logins kept at once by one listener; past it a new login is refused
/// until others end, rather than memory growing with logins.
const MAX_SESSIONS: usize = 10_000;

/// One login of the web client.
pub struct WebSession {
    pub tenant: Arc<Tenant>,
    pub partner: String,
    pub login: String,
    pub csrf: String,
    pub ticket: Arc<Ticket>,
    started: Instant,
    last_seen: Instant,
}

#[derive(Default)]
pub struct WebSessions {
    live: Mutex<HashMap<String, WebSession>>,
}

/// What a request gets from its cookie.
pub struct Found {
    pub tenant: Arc<Tenant>,
    pub partner: String,
    pub login: String,
    pub csrf: String,
    pub ticket: Arc<Ticket>,
}

impl WebSessions {
    /// A new session; its id (for the cookie), or `None` when the listener
    /// keeps as many as it may.
    pub fn start(
        &self,
        tenant: Arc<Tenant>,
        partner: String,
        login: String,
        ticket: Ticket,
    ) -> Option<String> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        live.retain(|_, s| alive(s, now));
        if live.len() >= MAX_SESSIONS {
            return None;
        }
        let id = random_token();
        live.insert(
            id.clone(),
            WebSession {
                tenant,
                partner,
                login,
                csrf: random_token(),
                ticket: Arc::new(ticket),
                started: now,
                last_seen: now,
            },
        );
        Some(id)
    }

    /// The live session `id` names, its last use moved to now.
    pub fn find(&self, id: &str) -> Option<Found> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let session = live.get_mut(id)?;
        if !alive(session, now) {
            live.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(Found {
            tenant: Arc::clone(&session.tenant),
            partner: session.partner.clone(),
            login: session.login.clone(),
            csrf: session.csrf.clone(),
            ticket: Arc::clone(&session.ticket),
        })
    }

    /// Ends session `id` (a logout).
    pub fn end(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

fn alive(session: &WebSession, now: Instant) -> bool {
    now.duration_since(session.last_seen) < IDLE
        && now.duration_since(session.started) < LIFETIME
        && !session.ticket.is_kicked()
}

/// 32 random bytes, hex: a session id or a CSRF token.
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub use crate::web::same_token;

/// The `Set-Cookie` value that starts session `id`.
pub fn cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that ends the session in the browser.
pub fn expired_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session id in a request's `Cookie` headers, if any.
pub fn from_headers(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_cookies() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "other=1; __Host-ferry=f00d; x=y".parse().unwrap(),
        );
        assert_eq!(from_headers(&headers).as_deref(), Some("f00d"));
        assert!(cookie("f00d").contains("HttpOnly; SameSite=Strict"));
    }
}
