//! Who is asking: the web client's session cookie, an account's bearer
//! token (`protocols::login::token_login`), or HTTP Basic credentials,
//! checked like every other protocol's password login
//! (`protocols::login`: the ban of the address, `allow_from`, one argon2
//! verification whatever the refusal, failures counted toward the same ban
//! as SFTP's and FTP's).
//!
//! A request that changes something on the strength of a cookie must come
//! from a page of this listener: its `Origin` (or, without one, its
//! `Referer`) must be this listener's, and it must carry the session's
//! CSRF token (checked by the handler: a header for scripts, a form field
//! for forms). Basic credentials and bearer tokens are not sent by a
//! browser on another site's behalf unless the user typed them for this
//! one, so they need neither.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use base64::Engine as _;

use super::State;
use super::error::HttpError;
use crate::protocols::login::{self, Attempt, Refused};
use crate::tenant::{Tenant, Ticket};

/// A logged-in partner: the request is one of its sessions (listed,
/// counted toward `max_sessions`, kicked), its own while it runs with
/// Basic credentials, the web login's with a cookie.
pub struct Partner {
    pub tenant: Arc<Tenant>,
    pub partner: String,
    pub login: String,
    pub peer: SocketAddr,
    pub ticket: Arc<Ticket>,
    pub via: Via,
}

/// How the request proved who it is.
pub enum Via {
    Basic,
    /// A bearer token (`Authorization: Bearer ...`), the account's own.
    Token,
    /// The web client's cookie: the session's id and CSRF token.
    Cookie {
        id: String,
        csrf: String,
    },
}

impl Partner {
    /// The source journaled with what this request does.
    pub fn source(&self) -> String {
        self.peer.to_string()
    }

    /// Whether `token` is the session's CSRF token (always true with
    /// Basic credentials, which need none).
    pub fn csrf_ok(&self, token: Option<&str>) -> bool {
        match &self.via {
            Via::Basic | Via::Token => true,
            Via::Cookie { csrf, .. } => token.is_some_and(|t| super::session::same_token(t, csrf)),
        }
    }
}

/// The peer address hyper handed the request.
pub fn peer(parts: &Parts) -> Result<SocketAddr, HttpError> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
        .ok_or_else(|| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "no peer address"))
}

/// Whether a request comes from one of this listener's own pages: its
/// `Origin`, or its `Referer` when it has no `Origin`, is
/// `https://HOST` where `HOST` is the request's own `Host`.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ours = format!("https://{host}");
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(|o| o == ours);
    }
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|r| r == ours || r.starts_with(&format!("{ours}/")))
}

impl FromRequestParts<State> for Partner {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Partner, HttpError> {
        let peer = peer(parts)?;
        if let Some(id) = super::session::from_headers(&parts.headers)
            && let Some(found) = state.sessions.find(&id)
        {
            let safe = matches!(parts.method, Method::GET | Method::HEAD);
            if !safe && !same_origin(&parts.headers) {
                return Err(HttpError::new(
                    StatusCode::FORBIDDEN,
                    "this request did not come from this site's pages",
                ));
            }
            return Ok(Partner {
                tenant: found.tenant,
                partner: found.partner,
                login: found.login,
                peer,
                ticket: found.ticket,
                via: Via::Cookie {
                    id,
                    csrf: found.csrf,
                },
            });
        }
        if let Some(token) = bearer(&parts.headers) {
            let candidate = check_token(state, peer, token).await?;
            let login = candidate.account.login.clone();
            let ticket = open_session(state, &candidate, peer, &login)?;
            return Ok(Partner {
                tenant: candidate.tenant,
                partner: candidate.partner,
                login,
                peer,
                ticket: Arc::new(ticket),
                via: Via::Token,
            });
        }
        let Some((user, password)) = basic(&parts.headers) else {
            return Err(HttpError::unauthorized());
        };
        let candidate = check_password(state, peer, &user, &password).await?;
        let ticket = open_session(state, &candidate, peer, &user)?;
        Ok(Partner {
            tenant: candidate.tenant,
            partner: candidate.partner,
            login: candidate.account.login,
            peer,
            ticket: Arc::new(ticket),
            via: Via::Basic,
        })
    }
}

/// A password login (Basic credentials, the web client's form), refused
/// like every protocol's: `403` for a banned address, `401` otherwise.
pub async fn check_password(
    state: &State,
    peer: SocketAddr,
    user: &str,
    password: &str,
) -> Result<login::Candidate, HttpError> {
    let attempt = Attempt {
        hub: &state.hub,
        bound: state.tenant.as_deref(),
        user,
        ip: peer.ip(),
        protocol: "https",
        tls: true,
        refuse: false,
    };
    match login::password_login(attempt, password).await {
        Ok(candidate) => Ok(candidate),
        Err(Refused::Banned) => Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "too many failed logins from this address; try again later",
        )),
        Err(Refused::Incorrect) => {
            tracing::info!(%peer, user = %user, "HTTPS login refused");
            Err(HttpError::unauthorized())
        }
    }
}

/// The session of a login: refused past the tenant's or the partner's
/// `max_sessions`.
pub fn open_session(
    state: &State,
    candidate: &login::Candidate,
    peer: SocketAddr,
    user: &str,
) -> Result<Ticket, HttpError> {
    state
        .hub
        .open_session(
            &candidate.tenant,
            &candidate.partner,
            &candidate.account,
            "https",
            peer,
        )
        .map_err(|why| {
            tracing::warn!(%peer, user = %user, %why, "HTTPS request refused: session limit");
            HttpError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many sessions for this account; try again later",
            )
        })
}

/// The user and password of an `Authorization: Basic` header.
/// A bearer token's login: refused like a password's (`403` for a banned
/// address, `401` otherwise).
async fn check_token(
    state: &State,
    peer: SocketAddr,
    token: String,
) -> Result<login::Candidate, HttpError> {
    let (hub, bound) = (Arc::clone(&state.hub), state.tenant.clone());
    let checked = tokio::task::spawn_blocking(move || {
        login::token_login(&hub, bound.as_deref(), &token, peer.ip(), "https")
    })
    .await;
    match checked {
        Ok(Ok(candidate)) => Ok(candidate),
        Ok(Err(Refused::Banned)) => Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "too many failed logins from this address; try again later",
        )),
        Ok(Err(Refused::Incorrect)) => {
            tracing::info!(%peer, "HTTPS bearer token refused");
            Err(HttpError::unauthorized())
        }
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &axum::http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

fn basic(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "Basic YWxpY2U6YWxpY2U6cGFzcw==".parse().unwrap(),
        );
        assert_eq!(basic(&headers), Some(("alice".into(), "alice:pass".into())));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic(&headers), None);
        assert_eq!(bearer(&headers).as_deref(), Some("abc"));
    }
}
