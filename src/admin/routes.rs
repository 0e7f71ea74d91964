//! The routes of `/api/v1` and their handlers.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use std::sync::Arc;

use super::State;
use super::auth::Caller;
use super::error::{ApiError, ApiResult, Body};
use crate::config::edit::{AccountChange, EditError};
use crate::journal::{Direction, MessageId, MessageQuery, MessageState, Timestamp};
use crate::pipeline::Transitions;
use crate::settings::SettingsError;
use crate::tenant::{HubError, Tenant};

/// The document that describes these routes, checked in next to them.
const OPENAPI: &str = include_str!("openapi.json");

pub fn routes() -> axum::Router<State> {
    axum::Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/tenants", get(tenants))
        .route(
            "/api/v1/tenants/{tenant}",
            get(tenant).put(put_tenant).delete(delete_tenant),
        )
        .route("/api/v1/tenants/{tenant}/partners", get(partners))
        .route("/api/v1/tenants/{tenant}/messages", get(messages))
        .route("/api/v1/tenants/{tenant}/messages/{id}", get(message))
        .route(
            "/api/v1/tenants/{tenant}/messages/{id}/content",
            get(super::files::content),
        )
        .route(
            "/api/v1/tenants/{tenant}/activity",
            get(super::files::activity),
        )
        .route("/api/v1/tenants/{tenant}/verify", post(verify))
        .route(
            "/api/v1/tenants/{tenant}/checkpoint",
            get(super::proofs::latest).post(super::proofs::make),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/proofs/{name}",
            get(super::proofs::proof),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/resend",
            post(resend),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/plugins/{role}",
            get(super::plugins::versions).put(super::plugins::upload),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/plugins/{role}/activate",
            post(super::plugins::activate),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/plugins/{role}/rollback",
            post(super::plugins::rollback),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/plugins/{role}/replay",
            post(super::plugins::replay),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/accounts/{login}",
            axum::routing::put(put_account).delete(delete_account),
        )
        .route(
            "/api/v1/tenants/{tenant}/partners/{partner}/accounts/{login}/token",
            post(new_token),
        )
        .route("/api/v1/tenants/{tenant}/dead-letters", get(dead_letters))
        .route(
            "/api/v1/tenants/{tenant}/dead-letters/{task}/retry",
            post(retry),
        )
        .route("/api/v1/tenants/{tenant}/sessions", get(sessions))
        .route(
            "/api/v1/tenants/{tenant}/sessions/{id}",
            axum::routing::delete(kick),
        )
        .route("/api/v1/tenants/{tenant}/bans", get(tenant_bans))
        .route(
            "/api/v1/tenants/{tenant}/bans/{address}",
            axum::routing::delete(lift_tenant_ban),
        )
        .route("/api/v1/bans", get(all_bans))
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/bans/{address}", axum::routing::delete(lift_ban))
        .route("/api/v1/reload", post(reload))
        .route("/metrics", get(scrape))
        .fallback(|| async { ApiError::not_found("no such route; see /api/v1/openapi.json") })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Runs journal work on a blocking thread.
pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(work).await.or_internal()?
}

/// Runs `work` on tenant `name`, if the caller may reach it, on a
/// blocking thread: the shape of most handlers.
pub(super) async fn on_tenant<T: Send + 'static>(
    state: &State,
    caller: &Caller,
    name: &str,
    work: impl FnOnce(Arc<Tenant>) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let tenant = caller.tenant(state, name)?;
    blocking(move || work(tenant)).await
}

/// Failures of the journal are ferry's, not the caller's.
pub(super) trait OrInternal<T> {
    fn or_internal(self) -> ApiResult<T>;
}

impl<T, E: std::error::Error> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> ApiResult<T> {
        self.map_err(|e| ApiError::internal(&e))
    }
}

pub(super) async fn tenants(state: axum::extract::State<State>, caller: Caller) -> Json<Value> {
    let config = state.hub.config();
    let list: Vec<Value> = config
        .tenants
        .values()
        .filter(|t| caller == Caller::Operator || caller == Caller::Tenant(t.name.clone()))
        .map(|t| json!({ "name": t.name, "partners": t.partners.len() }))
        .collect();
    Json(json!({ "tenants": list }))
}

async fn tenant(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    let config = tenant.config();
    Ok(Json(json!({
        "name": config.name,
        "retention_days": config.retention_days,
        "require_tls": config.require_tls,
        "plugin_deadline_ms": config.plugin_deadline.as_millis() as u64,
        "plugin_memory": config.plugin_memory,
        "partners": config.partners.keys().collect::<Vec<_>>(),
    })))
}

pub(super) async fn partners(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    let partners: Vec<Value> = tenant
        .config()
        .partners
        .values()
        .map(|p| {
            // Logins and how they authenticate; never a hash or a key.
            let accounts: Vec<Value> = p
                .accounts
                .iter()
                .map(|a| {
                    json!({
                        "login": a.login,
                        "password": a.password_hash.is_some(),
                        "ssh_keys": a.ssh_keys.len(),
                        "key_and_password": a.key_and_password,
                        "require_tls": a.require_tls,
                    })
                })
                .collect();
            json!({
                "name": p.name,
                "accounts": accounts,
                "routes": p.routes.iter().map(|r| &r.to).collect::<Vec<_>>(),
                "plugins": p.plugins.keys().collect::<Vec<_>>(),
                "connector": p.connector.as_ref().map(|c| c.describe()),
                "pull": p.pull.as_ref().map(|pull| &pull.from),
                // As this node's poller last said.
                "polling": state.hub.polls().get(tenant.name(), &p.name),
                "push": p.push.as_ref().map(|push| &push.to),
            })
        })
        .collect();
    Ok(Json(json!({ "partners": partners })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct MessagesQuery {
    pub partner: Option<String>,
    pub direction: Option<String>,
    /// A part of the name.
    pub name: Option<String>,
    pub sha256: Option<String>,
    /// A state: `received`, `rejected`, `delivered`, `downloaded`...
    pub state: Option<String>,
    /// RFC 3339 times: committed at or after `since`, before `until`.
    pub since: Option<String>,
    pub until: Option<String>,
    /// The next page: messages older than this id.
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

impl MessagesQuery {
    /// The journal's query for one tenant; a `400` for a value that
    /// cannot be one.
    pub(super) fn to_query(&self, tenant: &str) -> ApiResult<MessageQuery> {
        let blank = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let direction = match blank(&self.direction).as_deref() {
            None => None,
            Some("in") => Some(Direction::In),
            Some("out") => Some(Direction::Out),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "direction `{other}`: expected `in` or `out`"
                )));
            }
        };
        let state = match blank(&self.state) {
            None => None,
            Some(state) => Some(state.parse::<MessageState>().map_err(|_| {
                ApiError::bad_request(format!(
                    "state `{state}`: expected one of pending, received, rejected, \
                     quarantined, held, routed, delivered, failed, available, downloaded"
                ))
            })?),
        };
        let time = |what: &str, v: &Option<String>| -> ApiResult<Option<Timestamp>> {
            blank(v)
                .map(|text| {
                    humantime::parse_rfc3339_weak(text.trim())
                        .map(|t| {
                            let millis = t
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap_or_default()
                                .as_millis();
                            Timestamp(millis as i64)
                        })
                        .map_err(|_| {
                            ApiError::bad_request(format!(
                                "{what} `{text}`: expected a time such as 2026-12-07T08:00:00Z"
                            ))
                        })
                })
                .transpose()
        };
        let sha256 = blank(&self.sha256).map(|h| h.trim().to_ascii_lowercase());
        if let Some(hash) = &sha256
            && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ApiError::bad_request(format!(
                "sha256 `{hash}`: expected 64 hexadecimal digits"
            )));
        }
        Ok(MessageQuery {
            tenant: Some(tenant.to_owned()),
            partner: blank(&self.partner),
            direction,
            name: blank(&self.name),
            sha256,
            state,
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            before: self.before.map(MessageId),
            limit: Some(self.limit.unwrap_or(100).min(10_000)),
            ..MessageQuery::default()
        })
    }
}

pub(super) async fn messages(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    on_tenant(&state, &caller, &name, move |tenant| {
        let query = query.to_query(tenant.name())?;
        let messages = tenant.journal().messages(&query).or_internal()?;
        Ok(Json(json!({ "messages": messages })))
    })
    .await
}

pub(super) async fn message(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    on_tenant(&state, &caller, &name, move |tenant| {
        let journal = tenant.journal();
        // Scoped by tenant: another tenant's message id is not found.
        let message = journal
            .messages(&MessageQuery {
                id: Some(MessageId(id)),
                tenant: Some(tenant.name().to_owned()),
                ..MessageQuery::default()
            })
            .or_internal()?
            .pop()
            .ok_or_else(|| ApiError::not_found(format!("no message {id} in this tenant")))?;
        let events = journal
            .message_events(tenant.name(), message.id)
            .or_internal()?;
        Ok(Json(json!({ "message": message, "events": events })))
    })
    .await
}

pub(super) async fn verify(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    on_tenant(&state, &caller, &name, move |tenant| {
        let report = tenant.journal().verify(tenant.name()).or_internal()?;
        Ok(Json(json!({
            "tenant": report.tenant,
            "ok": report.problem.is_none(),
            "events": report.events,
            "head": report.head,
            "problem": report.problem.map(|p| p.to_string()),
        })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResendRequest {
    /// A name once in the partner's outbox, or a SHA-256.
    pub file: String,
}

pub(super) async fn resend(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner)): Path<(String, String)>,
    Body(request): Body<ResendRequest>,
) -> ApiResult<Json<Value>> {
    on_tenant(&state, &caller, &name, move |tenant| {
        let entry = tenant
            .resend(&partner, &request.file, "admin-api")
            .map_err(|e| match e {
                crate::tenant::MailboxError::NotFound(why) => ApiError::not_found(why),
                crate::tenant::MailboxError::UnknownPartner(_) => {
                    ApiError::not_found(format!("no partner `{partner}` in this tenant"))
                }
                other => ApiError::internal(&other),
            })?;
        Ok(Json(json!({
            "name": entry.name,
            "message": entry.message,
            "sha256": entry.hash.to_string(),
            "size": entry.size,
        })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountRequest {
    /// Hashed here (argon2id); only the hash is written.
    #[serde(default)]
    pub password: Option<String>,
    /// OpenSSH `authorized_keys` lines; replaces the account's keys.
    #[serde(default)]
    pub ssh_keys: Option<Vec<String>>,
}

pub(super) async fn put_account(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, login)): Path<(String, String, String)>,
    Body(request): Body<AccountRequest>,
) -> ApiResult<Json<Value>> {
    if request.password.is_none() && request.ssh_keys.is_none() {
        return Err(ApiError::bad_request(
            "give a `password`, `ssh_keys` or both",
        ));
    }
    if request.password.as_deref() == Some("") {
        return Err(ApiError::bad_request("the password is empty"));
    }
    let password_hash = match request.password {
        Some(password) => Some(
            blocking(move || {
                crate::config::hash_password(&password)
                    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))
            })
            .await?,
        ),
        None => None,
    };
    let change = AccountChange::Set {
        password_hash,
        ssh_keys: request.ssh_keys,
        token_sha256: None,
    };
    change_account(state, caller, (name, partner, login), change).await
}

/// Makes a new bearer token for an account's use of the HTTPS file API
/// (replacing the one it had): only its SHA-256 is written, and the token
/// is in this answer and nowhere else.
pub(super) async fn new_token(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, login)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let exists = caller
        .tenant(&state, &name)?
        .config()
        .partners
        .get(&partner)
        .is_some_and(|p| p.accounts.iter().any(|a| a.login == login));
    if !exists {
        return Err(ApiError::not_found(format!(
            "partner `{partner}` has no account `{login}`"
        )));
    }
    let token = format!(
        "ferry_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
    );
    let change = AccountChange::Set {
        password_hash: None,
        ssh_keys: None,
        token_sha256: Some(hex::encode(sha2::Sha256::digest(token.as_bytes()))),
    };
    let Json(mut answer) = change_account(state, caller, (name, partner, login), change).await?;
    answer["token"] = json!(token);
    Ok(Json(answer))
}

async fn delete_account(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, partner, login)): Path<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    change_account(state, caller, (name, partner, login), AccountChange::Remove).await
}

/// Writes an account change into the tenant's configuration file and
/// reloads; a change the configuration refuses (a login another partner
/// has, a bad key) is undone and answered with the problems, a 422.
async fn change_account(
    state: axum::extract::State<State>,
    caller: Caller,
    (name, partner, login): (String, String, String),
    change: AccountChange,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    // A tenant's own change applies to that tenant only.
    let only = matches!(caller, Caller::Tenant(_)).then(|| tenant.name().to_owned());
    let (hub, path, edits) = (
        state.hub.clone(),
        state.config_path.clone(),
        state.edits.clone(),
    );
    blocking(move || {
        let _one = edits.lock().unwrap_or_else(|p| p.into_inner());
        let _copy = hub.editing_shared();
        let edit = crate::config::edit::edit_account(
            &hub.config(),
            tenant.name(),
            &partner,
            &login,
            &change,
        )
        .map_err(edit_error)?;
        reload_or_undo(&hub, &path, &edit, only.as_deref())?;
        tracing::info!(tenant = %tenant.name(), partner, login, file = %edit.path.display(),
            removed = matches!(change, AccountChange::Remove), "account changed through the admin API");
        Ok(Json(json!({
            "partner": partner,
            "login": login,
            "removed": matches!(change, AccountChange::Remove),
            "file": edit.path.display().to_string(),
            "digest": hub.config().digest,
        })))
    })
    .await
}

/// Reloads after `edit` (only tenant `only`'s part of the configuration,
/// for a tenant's own change); when the configuration refuses the result,
/// puts the file back and answers 422 with the problems.
fn reload_or_undo(
    hub: &crate::tenant::Hub,
    path: &std::path::Path,
    edit: &crate::config::edit::Edit,
    only: Option<&str>,
) -> ApiResult<()> {
    let reloaded = match only {
        Some(tenant) => hub.reload_tenant(path, tenant),
        None => hub.reload(path),
    };
    let e = match reloaded {
        // On a node of a cluster an edit of a shared tenant is shared now,
        // or undone.
        Ok(()) => match shared_tenant(hub, edit) {
            None => return Ok(()),
            Some(tenant) => match hub.share_tenant(&tenant) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            },
        },
        Err(e) => e,
    };
    if let Err(undo) = edit.undo() {
        return Err(ApiError::internal(&undo));
    }
    let status = match &e {
        HubError::Settings(SettingsError::Conflict { .. }) => StatusCode::CONFLICT,
        HubError::Settings(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    if status != StatusCode::UNPROCESSABLE_ENTITY {
        // The edit loaded before it was refused: the file as it was, again.
        let restored = match only {
            Some(tenant) => hub.reload_tenant(path, tenant),
            None => hub.reload(path),
        };
        if let Err(again) = restored {
            tracing::error!(error = %crate::error_chain(&again), "the configuration before a refused edit does not load again");
        }
    }
    Err(ApiError::new(status, crate::error_chain(&e)))
}

/// The tenant whose file `edit` changed, when that file is in this node's
/// copy of the shared tenants.
fn shared_tenant(hub: &crate::tenant::Hub, edit: &crate::config::edit::Edit) -> Option<String> {
    let copy = hub.shared_copy()?;
    if edit.path.parent() != Some(copy.as_path()) {
        return None;
    }
    Some(edit.path.file_stem()?.to_string_lossy().into_owned())
}

fn edit_error(e: EditError) -> ApiError {
    match e {
        EditError::NotFound(why) => ApiError::not_found(why),
        EditError::Unsupported(why) => ApiError::new(StatusCode::CONFLICT, why),
        EditError::Parse { why, .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why),
        other => ApiError::internal(&other),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TenantRequest {
    /// The tenant's file, as it would be in the tenants directory.
    pub toml: String,
}

/// Adds or replaces a tenant in the tenants directory (operator only);
/// it is in force when this returns, other tenants untouched.
pub(super) async fn put_tenant(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
    Body(request): Body<TenantRequest>,
) -> ApiResult<Json<Value>> {
    caller.operator()?;
    let (hub, path, edits) = (
        state.hub.clone(),
        state.config_path.clone(),
        state.edits.clone(),
    );
    blocking(move || {
        let _one = edits.lock().unwrap_or_else(|p| p.into_inner());
        let _copy = hub.editing_shared();
        let existed = hub.tenant(&name).is_some();
        let edit = crate::config::edit::write_tenant(&hub.config(), &name, &request.toml)
            .map_err(edit_error)?;
        reload_or_undo(&hub, &path, &edit, None)?;
        tracing::info!(tenant = %name, file = %edit.path.display(), "tenant written through the admin API");
        Ok(Json(json!({
            "tenant": name,
            "created": !existed,
            "file": edit.path.display().to_string(),
            "digest": hub.config().digest,
        })))
    })
    .await
}

/// Removes a tenant from the tenants directory, closing its sessions and
/// keeping its data; a tenant no longer configured is purged instead
/// (operator only).
pub(super) async fn delete_tenant(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.operator()?;
    if state.hub.tenant(&name).is_none() {
        return purge(state, name).await;
    }
    let (hub, path, edits) = (
        state.hub.clone(),
        state.config_path.clone(),
        state.edits.clone(),
    );
    blocking(move || {
        let _one = edits.lock().unwrap_or_else(|p| p.into_inner());
        let _copy = hub.editing_shared();
        let edit = crate::config::edit::remove_tenant(&hub.config(), &name).map_err(edit_error)?;
        reload_or_undo(&hub, &path, &edit, None)?;
        Ok(Json(json!({
            "tenant": name,
            "removed": true,
            "purged": false,
            "file": edit.path.display().to_string(),
        })))
    })
    .await
}

pub(super) async fn dead_letters(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    on_tenant(&state, &caller, &name, move |tenant| {
        let tasks = tenant.journal().dead_tasks(tenant.name()).or_internal()?;
        let tasks: Vec<Value> = tasks
            .into_iter()
            .map(|t| {
                json!({
                    "task": t.id,
                    "message": t.message,
                    "step": t.step,
                    "attempts": t.attempts,
                    "last_error": t.last_error,
                })
            })
            .collect();
        Ok(Json(json!({ "dead_letters": tasks })))
    })
    .await
}

pub(super) async fn retry(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, task)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    let hub = state.hub.clone();
    blocking(move || {
        let revived = tenant
            .journal()
            .revive_task(tenant.name(), task)
            .or_internal()?;
        if !revived {
            return Err(ApiError::not_found(format!(
                "no dead-lettered task {task} in this tenant"
            )));
        }
        hub.notify();
        Ok(Json(json!({ "task": task, "state": "pending" })))
    })
    .await
}

/// The tenant's sessions on every node sharing the journal.
pub(super) async fn sessions(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    let hub = Arc::clone(&state.hub);
    blocking(move || {
        let sessions = hub.cluster_sessions(tenant.name()).or_internal()?;
        Ok(Json(json!({ "sessions": sessions })))
    })
    .await
}

/// Which node a kicked session is on (`?node=`; this one by default).
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct OnNode {
    pub node: Option<String>,
}

/// Closes a session at once: FTP answers 421 (a transfer in progress is
/// cut, an upload kept to resume), SFTP disconnects. A session on another
/// node (`?node=NAME`) is closed by that node, told through the journal.
pub(super) async fn kick(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, id)): Path<(String, u64)>,
    axum::extract::Query(on): axum::extract::Query<OnNode>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    let hub = Arc::clone(&state.hub);
    blocking(move || {
        let node = on.node.unwrap_or_else(|| hub.config().node.clone());
        if !hub
            .kick_anywhere(tenant.name(), id, &node)
            .or_internal()?
        {
            return Err(ApiError::not_found(format!(
                "no session {id} of this tenant on node `{node}`"
            )));
        }
        tracing::info!(tenant = %tenant.name(), session = id, node, "session kicked through the admin API");
        Ok(Json(json!({ "session": id, "node": node, "closing": true })))
    })
    .await
}

/// The addresses banned from a tenant's logins after failed attempts.
async fn tenant_bans(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    Ok(Json(
        json!({ "bans": state.hub.guard().bans(Some(tenant.name())) }),
    ))
}

fn origin(address: &str) -> ApiResult<crate::tenant::guard::Origin> {
    address.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("`{address}` is not an IP address"),
        )
    })
}

/// Lifts a ban of one of the tenant's addresses (an IPv6 address lifts its /64).
async fn lift_tenant_ban(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, address)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    let origin = origin(&address)?;
    let journal = state.hub.journal();
    if state
        .hub
        .guard()
        .lift_everywhere(Some(tenant.name()), origin, &**journal)
        == 0
    {
        return Err(ApiError::not_found(format!(
            "{origin} is not banned in this tenant"
        )));
    }
    tracing::info!(tenant = %tenant.name(), %origin, "ban lifted through the admin API");
    Ok(Json(
        json!({ "address": origin.to_string(), "lifted": true }),
    ))
}

/// The nodes that share this node's journal, the most recent first.
async fn cluster(state: axum::extract::State<State>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.operator()?;
    let hub = state.hub.clone();
    blocking(move || {
        let nodes = hub.journal().nodes().or_internal()?;
        let alive = crate::tenant::HEARTBEAT.as_millis() as i64 * 3;
        let nodes: Vec<Value> = nodes
            .into_iter()
            .map(|n| {
                let mut node = json!(n);
                node["alive"] = json!(n.silent_for_ms < alive);
                node
            })
            .collect();
        Ok(Json(json!({ "nodes": nodes })))
    })
    .await
}

/// Every ban in force, strangers' (failures at unknown tenants) included.
async fn all_bans(state: axum::extract::State<State>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.operator()?;
    Ok(Json(json!({ "bans": state.hub.guard().bans(None) })))
}

/// Lifts every ban of an address, in every tenant.
async fn lift_ban(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(address): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.operator()?;
    let origin = origin(&address)?;
    let lifted = state
        .hub
        .guard()
        .lift_everywhere(None, origin, &**state.hub.journal());
    if lifted == 0 {
        return Err(ApiError::not_found(format!("{origin} is not banned")));
    }
    tracing::info!(%origin, lifted, "bans lifted through the admin API");
    Ok(Json(
        json!({ "address": origin.to_string(), "lifted": lifted }),
    ))
}

/// `GET /metrics`: a tenant's token sees that tenant's series only.
async fn scrape(
    state: axum::extract::State<State>,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    let journal = Arc::clone(state.hub.journal());
    let tasks = blocking(move || journal.open_tasks().or_internal()).await?;
    let body = crate::metrics::metrics().render(
        |tenant| match &caller {
            Caller::Operator => true,
            Caller::Tenant(own) => own == tenant,
        },
        &tasks,
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    ))
}

/// Purges a tenant the configuration no longer names.
async fn purge(state: axum::extract::State<State>, name: String) -> ApiResult<Json<Value>> {
    let hub = state.hub.clone();
    blocking(move || match hub.purge(&name) {
        Ok(purged) => Ok(Json(json!(purged))),
        Err(e @ HubError::StillConfigured(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e @ HubError::NothingToPurge(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e) => Err(ApiError::internal(&e)),
    })
    .await
}

async fn reload(state: axum::extract::State<State>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.operator()?;
    let (hub, path) = (state.hub.clone(), state.config_path.clone());
    blocking(move || match hub.reload(&path) {
        Ok(()) => Ok(Json(json!({ "digest": hub.config().digest }))),
        // The configuration's problems are the caller's to fix: say them.
        Err(e) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::error_chain(&e),
        )),
    })
    .await
}
