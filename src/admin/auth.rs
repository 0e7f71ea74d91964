//! Who is calling: the operator, or one tenant, by bearer token.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use super::State;
use super::error::ApiError;
use crate::journal::EventKind;
use crate::tenant::Tenant;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Operator,
    Tenant(String),
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "this API needs `Authorization: Bearer TOKEN`",
                )
            })?;
        caller_for(state, token)
    }
}

/// The caller a token names, in the configuration in force now (so a
/// reload rotates tokens): the operator, a tenant, or a `401`.
pub fn caller_for(state: &State, token: &str) -> Result<Caller, ApiError> {
    let config = state.hub.config();
    if let Some(admin) = &config.admin
        && same(token, admin.token.expose())
    {
        return Ok(Caller::Operator);
    }
    config
        .tenants
        .values()
        .find(|t| {
            t.api_token
                .as_ref()
                .is_some_and(|t| same(token, t.expose()))
        })
        .map(|t| Caller::Tenant(t.name.clone()))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unknown token"))
}

impl Caller {
    /// The tenant `name`, if this caller may see it. A tenant asking for
    /// another one gets the same `404` as for a tenant that does not
    /// exist, and the attempt is journaled in its own tenant.
    pub fn tenant(&self, state: &State, name: &str) -> Result<Arc<Tenant>, ApiError> {
        let missing = || ApiError::not_found(format!("no tenant `{name}`"));
        match self {
            Caller::Operator => state.hub.tenant(name).ok_or_else(missing),
            Caller::Tenant(own) if own == name => state.hub.tenant(name).ok_or_else(missing),
            Caller::Tenant(own) => {
                let detail = serde_json::json!({ "api": "admin", "asked_for_tenant": name });
                // A journal write syncs: off the async threads, and the
                // answer need not wait for it.
                let (journal, own_name) = (Arc::clone(state.hub.journal()), own.clone());
                tokio::task::spawn_blocking(move || {
                    if let Err(e) =
                        journal.record_event(&own_name, EventKind::AccessRefused, detail)
                    {
                        tracing::error!(error = %crate::error_chain(&e), "cannot journal a refused API access");
                    }
                });
                tracing::warn!(tenant = %own, asked_for = %name, "API token of one tenant used for another");
                Err(missing())
            }
        }
    }

    /// Operator-only operations (the server's configuration).
    pub fn operator(&self) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Tenant(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "this needs the operator's token",
            )),
        }
    }
}

/// Compares two tokens in time that does not depend on where they differ:
/// their SHA-256 digests, byte by byte, to the end.
fn same(given: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
