//! The console's partner pages: a tenant's partners and accounts (with a
//! new password set through the API's account edit, located errors and
//! all), and each plugin's versions (activate one, roll back), over the
//! API's own handlers.

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::super::State;
use super::super::error::Body;
use super::super::plugins::{self, ActivateRequest, ReplayRequest};
use super::super::routes::{self, AccountRequest};
use super::{Console, CsrfForm, Nav, render, rows, shown, stale};

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub struct AccountRow {
    login: String,
    how: String,
}

pub struct PartnerRow {
    name: String,
    routes: String,
    plugins: Vec<String>,
    connector: String,
    /// The pull source's last poll and next one, when it has one.
    polling: Option<String>,
    accounts: Vec<AccountRow>,
}

/// "last poll 2026-12-07 10:02:11 UTC: took 1 file; next 10:03:11 UTC".
fn polling(status: &Value) -> Option<String> {
    let next = status["next_poll"].as_i64()?;
    let next = crate::web::when(crate::journal::Timestamp(next));
    Some(match status["last_poll"].as_i64() {
        Some(last) => format!(
            "last poll {}: {}; next {next}",
            crate::web::when(crate::journal::Timestamp(last)),
            text(&status["outcome"])
        ),
        None => format!("{}; next look {next}", text(&status["outcome"])),
    })
}

#[derive(Template)]
#[template(path = "console/partners.html")]
struct PartnersPage {
    nav: Nav,
    rows: Vec<PartnerRow>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Outcome {
    done: Option<String>,
    /// On a plugin's page: the version to replay on the partner's past files.
    replay: Option<String>,
}

async fn partners_page(
    state: axum::extract::State<State>,
    console: Console,
    tenant: String,
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let answer =
        routes::partners(state.clone(), console.caller.clone(), Path(tenant.clone())).await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|items| items.iter().map(text).collect())
            .unwrap_or_default()
    };
    let rows = json["partners"]
        .as_array()
        .map(|partners| {
            partners
                .iter()
                .map(|p| PartnerRow {
                    name: text(&p["name"]),
                    routes: list(&p["routes"]).join(", "),
                    plugins: list(&p["plugins"]),
                    connector: text(&p["connector"]),
                    polling: polling(&p["polling"]),
                    accounts: p["accounts"]
                        .as_array()
                        .map(|accounts| {
                            accounts
                                .iter()
                                .map(|a| {
                                    let mut how = Vec::new();
                                    if a["password"].as_bool() == Some(true) {
                                        how.push("password".to_owned());
                                    }
                                    let keys = a["ssh_keys"].as_u64().unwrap_or(0);
                                    if keys > 0 {
                                        how.push(format!("{keys} SSH key(s)"));
                                    }
                                    if a["require_tls"].as_bool() == Some(true) {
                                        how.push("TLS only".to_owned());
                                    }
                                    AccountRow {
                                        login: text(&a["login"]),
                                        how: how.join(", "),
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let (status, error) = shown(error);
    render(
        &PartnersPage {
            nav: console.nav(&state, &tenant),
            rows,
            notice,
            error,
        },
        status,
    )
}

pub async fn partners(
    state: axum::extract::State<State>,
    console: Console,
    Path(tenant): Path<String>,
    Query(outcome): Query<Outcome>,
) -> Response {
    let notice = (outcome.done.as_deref() == Some("password"))
        .then(|| "The password was changed and the configuration reloaded.".to_owned());
    partners_page(state, console, tenant, notice, None).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    password: String,
}

pub async fn set_password(
    state: axum::extract::State<State>,
    console: Console,
    Path((tenant, partner, login)): Path<(String, String, String)>,
    Form(form): Form<PasswordForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let done = routes::put_account(
        state.clone(),
        console.caller.clone(),
        Path((tenant.clone(), partner, login)),
        Body(AccountRequest {
            password: Some(form.password),
            ssh_keys: None,
        }),
    )
    .await;
    match done {
        Ok(_) => Redirect::to(&format!(
            "/ui/t/{}/partners?done=password",
            crate::web::encode_segment(&tenant)
        ))
        .into_response(),
        Err(e) => partners_page(state, console, tenant, None, Some((e.status, e.message))).await,
    }
}

pub struct VersionRow {
    when: String,
    status: String,
    sha256: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "console/plugins.html")]
struct PluginsPage {
    nav: Nav,
    partner: String,
    role: String,
    file: String,
    pinned: Option<String>,
    versions: Vec<VersionRow>,
    replay: Option<Replay>,
    notice: Option<String>,
    error: Option<String>,
}

/// A replay's report as the page shows it.
struct Replay {
    sha256: String,
    compared: u64,
    differ: u64,
    changed: Vec<ReplayRow>,
}

struct ReplayRow {
    message: String,
    name: String,
    when: String,
    recorded: String,
    candidate: String,
}

/// Replays `sha256` through the API's handler: the report, or why not.
async fn run_replay(
    state: &axum::extract::State<State>,
    console: &Console,
    which: &(String, String, String),
    sha256: String,
) -> Result<Replay, (StatusCode, String)> {
    let answer = plugins::replay(
        state.clone(),
        console.caller.clone(),
        Path(which.clone()),
        Body(ReplayRequest {
            sha256: sha256.clone(),
            limit: None,
        }),
    )
    .await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return Err((e.status, e.message)),
    };
    let changed = json["files"]
        .as_array()
        .map(|files| {
            files
                .iter()
                .filter(|f| f["same"] == Value::Bool(false))
                .map(|f| ReplayRow {
                    message: text(&f["message"]),
                    name: text(&f["name"]),
                    when: crate::web::when(crate::journal::Timestamp(
                        f["received_at"].as_i64().unwrap_or_default(),
                    )),
                    recorded: text(&f["recorded"]),
                    candidate: text(&f["candidate"]),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Replay {
        sha256,
        compared: json["compared"].as_u64().unwrap_or_default(),
        differ: json["differ"].as_u64().unwrap_or_default(),
        changed,
    })
}

async fn plugins_page(
    state: axum::extract::State<State>,
    console: Console,
    (tenant, partner, role): (String, String, String),
    notice: Option<String>,
    mut error: Option<(StatusCode, String)>,
    replay: Option<String>,
) -> Response {
    let which = (tenant, partner, role);
    let replay = match replay {
        Some(sha) => match run_replay(&state, &console, &which, sha).await {
            Ok(report) => Some(report),
            Err(why) => {
                error = Some(why);
                None
            }
        },
        None => None,
    };
    let (tenant, partner, role) = which;
    let answer = plugins::versions(
        state.clone(),
        console.caller.clone(),
        Path((tenant.clone(), partner.clone(), role.clone())),
    )
    .await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let versions = rows(&json["versions"], |v| VersionRow {
        when: text(&v["at"]),
        status: text(&v["status"]),
        sha256: text(&v["sha256"]),
        reason: text(&v["reason"]),
    });
    let (status, error) = shown(error);
    render(
        &PluginsPage {
            nav: console.nav(&state, &tenant),
            partner,
            role,
            file: text(&json["file"]),
            pinned: json["pinned"].as_str().map(str::to_owned),
            versions,
            replay,
            notice,
            error,
        },
        status,
    )
}

pub async fn plugins(
    state: axum::extract::State<State>,
    console: Console,
    Path(which): Path<(String, String, String)>,
    Query(outcome): Query<Outcome>,
) -> Response {
    let notice = match outcome.done.as_deref() {
        Some("activated") => Some("That version serves now.".to_owned()),
        Some("rolled-back") => Some("The previous version serves now.".to_owned()),
        _ => None,
    };
    plugins_page(state, console, which, notice, None, outcome.replay).await
}

#[derive(Deserialize)]
pub struct ActivateForm {
    csrf: String,
    sha256: String,
}

pub async fn activate(
    state: axum::extract::State<State>,
    console: Console,
    Path(which): Path<(String, String, String)>,
    Form(form): Form<ActivateForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let done = plugins::activate(
        state.clone(),
        console.caller.clone(),
        Path(which.clone()),
        Body(ActivateRequest {
            sha256: form.sha256,
        }),
    )
    .await;
    outcome(state, console, which, done.map(|_| "activated")).await
}

pub async fn rollback(
    state: axum::extract::State<State>,
    console: Console,
    Path(which): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let done = plugins::rollback(state.clone(), console.caller.clone(), Path(which.clone())).await;
    outcome(state, console, which, done.map(|_| "rolled-back")).await
}

async fn outcome(
    state: axum::extract::State<State>,
    console: Console,
    which: (String, String, String),
    done: Result<&'static str, super::super::error::ApiError>,
) -> Response {
    match done {
        Ok(what) => {
            let (tenant, partner, role) = &which;
            Redirect::to(&format!(
                "/ui/t/{}/partners/{}/plugins/{}?done={what}",
                crate::web::encode_segment(tenant),
                crate::web::encode_segment(partner),
                crate::web::encode_segment(role)
            ))
            .into_response()
        }
        Err(e) => {
            plugins_page(
                state,
                console,
                which,
                None,
                Some((e.status, e.message)),
                None,
            )
            .await
        }
    }
}
