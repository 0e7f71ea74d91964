//! The admin API's proof routes: a tenant's latest checkpoint (made now
//! with POST), and the proof of the events about one of a partner's files,
//! the same file the partner downloads as `/receipts/proofs/NAME.json`.

use axum::Json;
use axum::extract::Path;
use serde_json::Value;

use super::State;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::on_tenant;
use crate::proofs::ProofError;
use crate::tenant::MailboxError;

fn refused(e: ProofError) -> ApiError {
    match e {
        ProofError::Journal(e) => ApiError::internal(&e),
        ProofError::Invalid(why) => ApiError::not_found(why),
    }
}

pub(super) async fn latest(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    checkpoint(state, caller, name, false).await
}

pub(super) async fn make(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    checkpoint(state, caller, name, true).await
}

/// The tenant's latest checkpoint, or (`new`) one signed now.
async fn checkpoint(
    state: axum::extract::State<State>,
    caller: Caller,
    name: String,
    new: bool,
) -> ApiResult<Json<Value>> {
    let hub = state.hub.clone();
    on_tenant(&state, &caller, &name, move |tenant| {
        let notary = hub.notary();
        let made = if new {
            notary.checkpoint(tenant.name())
        } else {
            notary.latest(tenant.name())
        };
        Ok(Json(
            serde_json::json!({ "checkpoint": made.map_err(refused)? }),
        ))
    })
    .await
}

pub(super) async fn proof(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, file)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    on_tenant(&state, &caller, &name, move |tenant| {
        let bytes = match tenant.receipt(&partner, &format!("proofs/{file}.json")) {
            Ok(bytes) => bytes,
            Err(MailboxError::NotFound(what)) => return Err(ApiError::not_found(what)),
            Err(MailboxError::UnknownPartner(p)) => {
                return Err(ApiError::not_found(format!("no partner `{p}`")));
            }
            Err(e) => return Err(ApiError::internal(&e)),
        };
        serde_json::from_slice(&bytes)
            .map(Json)
            .map_err(|e| ApiError::internal(&e))
    })
    .await
}
