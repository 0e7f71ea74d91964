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
use super::super::routes::{self, AccountRequest, ActivateRequest};
use super::{Console, CsrfForm, Nav, render, stale};

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
    accounts: Vec<AccountRow>,
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
    let (status, error) = match error {
        Some((status, why)) => (status, Some(why)),
        None => (StatusCode::OK, None),
    };
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
    notice: Option<String>,
    error: Option<String>,
}

async fn plugins_page(
    state: axum::extract::State<State>,
    console: Console,
    (tenant, partner, role): (String, String, String),
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let answer = routes::plugin_versions(
        state.clone(),
        console.caller.clone(),
        Path((tenant.clone(), partner.clone(), role.clone())),
    )
    .await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let versions = json["versions"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| VersionRow {
                    when: text(&v["at"]),
                    status: text(&v["status"]),
                    sha256: text(&v["sha256"]),
                    reason: text(&v["reason"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let (status, error) = match error {
        Some((status, why)) => (status, Some(why)),
        None => (StatusCode::OK, None),
    };
    render(
        &PluginsPage {
            nav: console.nav(&state, &tenant),
            partner,
            role,
            file: text(&json["file"]),
            pinned: json["pinned"].as_str().map(str::to_owned),
            versions,
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
    plugins_page(state, console, which, notice, None).await
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
    let done = routes::activate_plugin(
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
    let done =
        routes::rollback_plugin(state.clone(), console.caller.clone(), Path(which.clone())).await;
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
        Err(e) => plugins_page(state, console, which, None, Some((e.status, e.message))).await,
    }
}
