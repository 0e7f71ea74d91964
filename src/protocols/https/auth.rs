//! Who is asking: HTTP Basic credentials, checked like every other
//! protocol's password login (`protocols::login`: the ban of the address,
//! `allow_from`, one argon2 verification whatever the refusal, failures
//! counted toward the same ban as SFTP's and FTP's).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine as _;

use super::State;
use super::error::HttpError;
use crate::protocols::login::{self, Attempt, Refused};
use crate::tenant::{Tenant, Ticket};

/// A logged-in partner, for the length of one request: the request is one
/// of its sessions (listed, counted toward `max_sessions`, kicked).
pub struct Partner {
    pub tenant: Arc<Tenant>,
    pub partner: String,
    pub peer: SocketAddr,
    pub ticket: Ticket,
}

impl Partner {
    /// The source journaled with what this request does.
    pub fn source(&self) -> String {
        self.peer.to_string()
    }
}

impl FromRequestParts<State> for Partner {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Partner, HttpError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0)
            .ok_or_else(|| HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "no peer address"))?;
        let Some((user, password)) = basic(&parts.headers) else {
            return Err(HttpError::unauthorized());
        };
        let attempt = Attempt {
            hub: &state.hub,
            bound: state.tenant.as_deref(),
            user: &user,
            ip: peer.ip(),
            protocol: "https",
            tls: true,
            refuse: false,
        };
        let candidate = match login::password_login(attempt, &password).await {
            Ok(candidate) => candidate,
            Err(Refused::Banned) => {
                return Err(HttpError::new(
                    StatusCode::FORBIDDEN,
                    "too many failed logins from this address; try again later",
                ));
            }
            Err(Refused::Incorrect) => {
                tracing::info!(%peer, user = %user, "HTTPS login refused");
                return Err(HttpError::unauthorized());
            }
        };
        let ticket = state
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
            })?;
        Ok(Partner {
            tenant: candidate.tenant,
            partner: candidate.partner,
            peer,
            ticket,
        })
    }
}

/// The user and password of an `Authorization: Basic` header.
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
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic(&headers), None);
    }
}
