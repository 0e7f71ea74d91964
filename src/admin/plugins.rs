//! The admin API's plugin routes: a partner's plugin versions, activating
//! one, rolling back, and replaying one on the partner's past files.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::State;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Body};
use super::routes::{OrInternal as _, on_tenant};
use crate::plugin::Role;
use crate::tenant::{Activate, HubError};

/// A plugin role from a path: 400 for anything else.
fn role(text: &str) -> ApiResult<Role> {
    text.parse().map_err(|_| {
        ApiError::bad_request(format!("`{text}` is not validator, router or acknowledger"))
    })
}

pub(super) async fn versions(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, role_name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    let role = role(&role_name)?;
    on_tenant(&state, &caller, &name, move |tenant| {
        let path = tenant
            .config()
            .partners
            .get(&partner)
            .and_then(|p| p.plugins.get(role.as_str()).cloned())
            .ok_or_else(|| {
                ApiError::not_found(format!("partner `{partner}` has no {role} plugin"))
            })?;
        let journal = tenant.journal();
        let events = journal
            .plugin_events(tenant.name(), &partner, role.as_str())
            .or_internal()?;
        let pin = journal
            .plugin_pin(tenant.name(), &partner, role.as_str())
            .or_internal()?;
        let versions: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "at": e.at.to_string(),
                    "status": e.detail["status"],
                    "sha256": e.detail["sha256"],
                    "reason": e.detail["reason"],
                    "by": e.detail["by"],
                })
            })
            .collect();
        Ok(Json(json!({
            "file": path.display().to_string(),
            "pinned": pin.map(|p| p.sha256),
            "versions": versions,
        })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActivateRequest {
    /// The SHA-256 of a version that served before, or the file's own.
    pub sha256: String,
}

pub(super) async fn activate(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, role_name)): Path<(String, String, String)>,
    Body(request): Body<ActivateRequest>,
) -> ApiResult<Json<Value>> {
    let which = Activate::Version(request.sha256.to_ascii_lowercase());
    switch(state, caller, (name, partner, role_name), which).await
}

pub(super) async fn rollback(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, role_name)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    switch(
        state,
        caller,
        (name, partner, role_name),
        Activate::Previous,
    )
    .await
}

/// Who a change is journaled as having been made by.
fn who(caller: &Caller) -> String {
    match caller {
        Caller::Operator => "operator".to_owned(),
        Caller::Tenant(t) => format!("tenant {t}"),
    }
}

async fn switch(
    state: axum::extract::State<State>,
    caller: Caller,
    (name, partner, role_name): (String, String, String),
    which: Activate,
) -> ApiResult<Json<Value>> {
    let role = role(&role_name)?;
    let hub = state.hub.clone();
    let by = who(&caller);
    on_tenant(&state, &caller, &name, move |tenant| {
        match hub.activate_plugin(tenant.name(), &partner, role, &which, &by) {
            Ok(activated) => Ok(Json(json!(activated))),
            Err(HubError::PluginVersion(why)) => Err(ApiError::new(StatusCode::CONFLICT, why)),
            Err(e) => Err(ApiError::internal(&e)),
        }
    })
    .await
}

/// How many of the partner's newest files a replay decides again, unless
/// the request says otherwise; and the most it may ask for.
const REPLAY_DEFAULT: usize = 100;
const REPLAY_MAX: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayRequest {
    /// A version that served, or the file's own.
    pub sha256: String,
    /// How many of the newest files (100 when absent, at most 10,000).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Decides the partner's newest files again with one version of its
/// validator or router, and reports each decision it would change.
/// Nothing is recorded or changed.
pub(super) async fn replay(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, role_name)): Path<(String, String, String)>,
    Body(request): Body<ReplayRequest>,
) -> ApiResult<Json<Value>> {
    let role = role(&role_name)?;
    let limit = request.limit.unwrap_or(REPLAY_DEFAULT);
    if limit == 0 || limit > REPLAY_MAX {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {REPLAY_MAX}"
        )));
    }
    let hub = state.hub.clone();
    let sha = request.sha256.to_ascii_lowercase();
    on_tenant(&state, &caller, &name, move |tenant| {
        match hub.replay_plugin(tenant.name(), &partner, role, &sha, limit) {
            Ok(report) => Ok(Json(json!({
                "sha256": sha,
                "compared": report.compared,
                "differ": report.differ,
                "files": report.files,
            }))),
            Err(HubError::PluginVersion(why)) => Err(ApiError::new(StatusCode::CONFLICT, why)),
            Err(HubError::Plugin(why)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("version {sha} does not load: {why}"),
            )),
            Err(e) => Err(ApiError::internal(&e)),
        }
    })
    .await
}

/// A new version of a partner's plugin, the component as the body
/// (`Content-Type: application/wasm`): checked against the role's world and
/// the tenant's `max_plugin_size`, kept by its SHA-256, replayed on the
/// partner's last 100 files, journaled with who sent it. It does not serve
/// until `.../activate` names it.
pub(super) async fn upload(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, role_name)): Path<(String, String, String)>,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let role = role(&role_name)?;
    let tenant = caller.tenant(&state, &name)?;
    let limit = tenant.config().max_plugin_size;
    let bytes = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the component is larger than the tenant's max_plugin_size ({limit} bytes), or its upload broke off"),
            )
        })?;
    let by = who(&caller);
    let hub = state.hub.clone();
    on_tenant(&state, &caller, &name, move |tenant| {
        match hub.upload_plugin(tenant.name(), &partner, role, &bytes, &by) {
            Ok(uploaded) => Ok((StatusCode::CREATED, Json(json!(uploaded)))),
            Err(HubError::PluginUpload(why)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("refused: {why}"),
            )),
            Err(HubError::PluginVersion(why)) => Err(ApiError::new(StatusCode::CONFLICT, why)),
            Err(e) => Err(ApiError::internal(&e)),
        }
    })
    .await
}
