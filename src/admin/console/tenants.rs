//! The console's tenants page: every tenant the login reaches, and for the
//! operator the API's own tenant edits (add or replace a tenant's file in
//! the tenants directory, remove one), with the API's validation and its
//! located errors shown as they are.

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::State;
use super::super::auth::Caller;
use super::super::error::Body;
use super::super::routes::{self, TenantRequest};
use super::{Console, CsrfForm, Nav, render, rows, shown, stale};

pub struct TenantRow {
    name: String,
    partners: String,
}

#[derive(Template)]
#[template(path = "console/tenants.html")]
struct TenantsPage {
    nav: Nav,
    operator: bool,
    rows: Vec<TenantRow>,
    /// What the add form held, shown again after an error.
    name: String,
    toml: String,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Outcome {
    done: Option<String>,
}

async fn page(
    state: axum::extract::State<State>,
    console: Console,
    (name, toml): (String, String),
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let Json(json) = routes::tenants(state.clone(), console.caller.clone()).await;
    let rows = rows(&json["tenants"], |t| TenantRow {
        name: t["name"].as_str().unwrap_or_default().to_owned(),
        partners: t["partners"].to_string(),
    });
    let here = console.tenants(&state).first().cloned().unwrap_or_default();
    let (status, error) = shown(error);
    render(
        &TenantsPage {
            nav: console.nav(&state, &here),
            operator: console.caller == Caller::Operator,
            rows,
            name,
            toml,
            notice,
            error,
        },
        status,
    )
}

pub async fn tenants(
    state: axum::extract::State<State>,
    console: Console,
    Query(outcome): Query<Outcome>,
) -> Response {
    let notice = match outcome.done.as_deref() {
        Some("written") => Some("The tenant's file is written and in force.".to_owned()),
        Some("removed") => Some(
            "The tenant is removed: its sessions are closed, its data kept until a purge."
                .to_owned(),
        ),
        _ => None,
    };
    page(state, console, Default::default(), notice, None).await
}

#[derive(Deserialize)]
pub struct TenantForm {
    csrf: String,
    name: String,
    toml: String,
}

/// Adds or replaces a tenant through the API's `PUT /api/v1/tenants/NAME`.
pub async fn put(
    state: axum::extract::State<State>,
    console: Console,
    Form(form): Form<TenantForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let name = form.name.trim().to_owned();
    let written = routes::put_tenant(
        state.clone(),
        console.caller.clone(),
        Path(name.clone()),
        Body(TenantRequest {
            toml: form.toml.clone(),
        }),
    )
    .await;
    match written {
        Ok(_) => Redirect::to("/ui/tenants?done=written").into_response(),
        Err(e) => {
            let error = Some((e.status, e.message));
            page(state, console, (name, form.toml), None, error).await
        }
    }
}

/// Removes a tenant through the API's `DELETE /api/v1/tenants/NAME`.
pub async fn remove(
    state: axum::extract::State<State>,
    console: Console,
    Path(name): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let removed = routes::delete_tenant(state.clone(), console.caller.clone(), Path(name)).await;
    match removed {
        Ok(_) => Redirect::to("/ui/tenants?done=removed").into_response(),
        Err(e) => {
            let error = Some((e.status, e.message));
            page(state, console, Default::default(), None, error).await
        }
    }
}
