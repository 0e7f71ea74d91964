//! The console at `/ui/` on the admin listener: server-rendered pages over
//! the admin API's own handlers (`routes.rs`), called in-process with the
//! caller the console's login stands for, so that every page shows what
//! the API answers and every button does what the API does: one source
//! of truth, the same scoping (a tenant's token sees its tenant only), the
//! same validation and errors.
//!
//! A login is a token (the operator's or a tenant's) typed once; the
//! console keeps it server-side behind a random session id in a cookie
//! (`ferry_console`: `HttpOnly`, `SameSite=Strict`, path `/ui`; `Secure`
//! when the request came over TLS through a proxy that says so). The
//! token is checked against the configuration in force at every request,
//! so a reload that rotates it ends the session. Every form that changes
//! something carries the session's CSRF token, and its `Origin` must be
//! this listener.

mod pages;
mod partners;
mod tenants;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Form, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::State;
use super::auth::Caller;

/// The console's cookie.
const COOKIE: &str = "ferry_console";
/// A console session unused this long is over.
const IDLE: Duration = Duration::from_secs(30 * 60);
/// A console session is over this long after its login.
const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Console logins kept at once; past it a login is refused.
const MAX_SESSIONS: usize = 1000;

pub fn routes() -> axum::Router<State> {
    axum::Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(home))
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/tenants", get(tenants::tenants).post(tenants::put))
        .route("/ui/tenants/{tenant}/remove", post(tenants::remove))
        .route("/ui/t/{tenant}/messages", get(pages::messages))
        .route("/ui/t/{tenant}/messages/{id}", get(pages::message))
        .route("/ui/t/{tenant}/messages/{id}/content", get(pages::content))
        .route("/ui/t/{tenant}/messages/{id}/resend", post(pages::resend))
        .route("/ui/t/{tenant}/sessions", get(pages::sessions))
        .route(
            "/ui/t/{tenant}/sessions/{id}/close",
            post(pages::close_session),
        )
        .route("/ui/t/{tenant}/dead-letters", get(pages::dead_letters))
        .route(
            "/ui/t/{tenant}/dead-letters/{task}/retry",
            post(pages::retry),
        )
        .route(
            "/ui/t/{tenant}/verify",
            get(pages::verify_page).post(pages::verify),
        )
        .route("/ui/t/{tenant}/activity", get(pages::activity))
        .route("/ui/t/{tenant}/partners", get(partners::partners))
        .route(
            "/ui/t/{tenant}/partners/{partner}/accounts/{login}/password",
            post(partners::set_password),
        )
        .route(
            "/ui/t/{tenant}/partners/{partner}/plugins/{role}",
            get(partners::plugins),
        )
        .route(
            "/ui/t/{tenant}/partners/{partner}/plugins/{role}/activate",
            post(partners::activate),
        )
        .route(
            "/ui/t/{tenant}/partners/{partner}/plugins/{role}/rollback",
            post(partners::rollback),
        )
        .route("/static/ferry.css", get(crate::web::stylesheet))
        .layer(axum::middleware::from_fn(security_headers))
}

async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in crate::web::SECURITY_HEADERS {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The console's logins: the token each stands for, server-side.
#[derive(Default)]
pub struct ConsoleSessions {
    live: Mutex<HashMap<String, Login>>,
}

struct Login {
    token: String,
    csrf: String,
    started: Instant,
    last_seen: Instant,
}

impl ConsoleSessions {
    fn start(&self, token: String) -> Option<String> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        live.retain(|_, l| fresh(l, now));
        if live.len() >= MAX_SESSIONS {
            return None;
        }
        let id = hex::encode(rand::random::<[u8; 32]>());
        live.insert(
            id.clone(),
            Login {
                token,
                csrf: hex::encode(rand::random::<[u8; 32]>()),
                started: now,
                last_seen: now,
            },
        );
        Some(id)
    }

    fn find(&self, id: &str) -> Option<(String, String)> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let login = live.get_mut(id)?;
        if !fresh(login, now) {
            live.remove(id);
            return None;
        }
        login.last_seen = now;
        Some((login.token.clone(), login.csrf.clone()))
    }

    fn end(&self, id: &str) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

fn fresh(login: &Login, now: Instant) -> bool {
    now.duration_since(login.last_seen) < IDLE && now.duration_since(login.started) < LIFETIME
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

/// Whether a form was posted from one of this listener's pages.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ours = [format!("http://{host}"), format!("https://{host}")];
    if let Some(origin) = headers.get(header::ORIGIN) {
        return origin.to_str().is_ok_and(|o| ours.iter().any(|x| x == o));
    }
    headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|r| ours.iter().any(|x| r.starts_with(&format!("{x}/"))))
}

/// A logged-in console user: the caller its token is now, and the
/// session's id and CSRF token.
pub struct Console {
    pub caller: Caller,
    pub id: String,
    pub csrf: String,
}

impl Console {
    /// The tenants this login may look at, for the navigation.
    fn tenants(&self, state: &State) -> Vec<String> {
        state
            .hub
            .config()
            .tenants
            .keys()
            .filter(|t| {
                self.caller == Caller::Operator || self.caller == Caller::Tenant((*t).clone())
            })
            .cloned()
            .collect()
    }

    pub fn nav(&self, state: &State, tenant: &str) -> Nav {
        Nav {
            tenants: self.tenants(state),
            tenant: tenant.to_owned(),
            csrf: self.csrf.clone(),
            who: match &self.caller {
                Caller::Operator => "operator".to_owned(),
                Caller::Tenant(t) => format!("tenant {t}"),
            },
        }
    }

    pub fn csrf_ok(&self, token: &str) -> bool {
        crate::web::same_token(token, &self.csrf)
    }
}

/// What the layout's navigation shows.
pub struct Nav {
    pub tenants: Vec<String>,
    pub tenant: String,
    pub csrf: String,
    pub who: String,
}

/// Why a console request was turned away: the login page, or a refusal.
pub enum Refusal {
    LogIn,
    Forbidden(&'static str),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::LogIn => Redirect::to("/ui/").into_response(),
            Refusal::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
        }
    }
}

impl FromRequestParts<State> for Console {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Console, Refusal> {
        let id = session_id(&parts.headers).ok_or(Refusal::LogIn)?;
        let (token, csrf) = state.console.find(&id).ok_or(Refusal::LogIn)?;
        let Ok(caller) = super::auth::caller_for(state, &token) else {
            // The token was rotated by a reload: this login is over.
            state.console.end(&id);
            return Err(Refusal::LogIn);
        };
        let safe = matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        if !safe && !same_origin(&parts.headers) {
            return Err(Refusal::Forbidden(
                "this form did not come from this console's pages",
            ));
        }
        Ok(Console { caller, id, csrf })
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    error: Option<String>,
}

/// The items of a JSON array from the API, as a page's rows (none when
/// it is not an array).
pub fn rows<T>(list: &serde_json::Value, row: impl Fn(&serde_json::Value) -> T) -> Vec<T> {
    list.as_array()
        .map(|items| items.iter().map(row).collect())
        .unwrap_or_default()
}

/// After a form's change through the API: on to `to`, or the API's error.
pub fn redirect_after<T>(done: Result<T, super::error::ApiError>, to: &str) -> Response {
    match done {
        Ok(_) => Redirect::to(to).into_response(),
        Err(e) => (e.status, e.message).into_response(),
    }
}

/// The status a page is served with and the error it shows, if any.
pub fn shown(error: Option<(StatusCode, String)>) -> (StatusCode, Option<String>) {
    match error {
        Some((status, why)) => (status, Some(why)),
        None => (StatusCode::OK, None),
    }
}

pub fn render(page: &impl Template, status: StatusCode) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be made",
            )
                .into_response()
        }
    }
}

/// `/ui/`: the login form, or the first tenant's messages.
async fn home(state: axum::extract::State<State>, parts: Parts) -> Response {
    let mut parts = parts;
    match Console::from_request_parts(&mut parts, &state).await {
        Ok(console) => match console.tenants(&state).first() {
            Some(tenant) => Redirect::to(&format!(
                "/ui/t/{}/messages",
                crate::web::encode_segment(tenant)
            ))
            .into_response(),
            None => render(
                &LoginPage {
                    error: Some("No tenant is configured.".into()),
                },
                StatusCode::OK,
            ),
        },
        Err(_) => render(&LoginPage { error: None }, StatusCode::OK),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

async fn login(
    state: axum::extract::State<State>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !same_origin(&headers) {
        return Refusal::Forbidden("log in from this console's login page").into_response();
    }
    let token = form.token.trim().to_owned();
    if super::auth::caller_for(&state, &token).is_err() {
        tracing::warn!("console login with an unknown token");
        return render(
            &LoginPage {
                error: Some("Unknown token.".into()),
            },
            StatusCode::UNAUTHORIZED,
        );
    }
    if let Some(old) = session_id(&headers) {
        state.console.end(&old);
    }
    let Some(id) = state.console.start(token) else {
        return render(
            &LoginPage {
                error: Some("Too many console logins; try again later.".into()),
            },
            StatusCode::SERVICE_UNAVAILABLE,
        );
    };
    let mut response = Redirect::to("/ui/").into_response();
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(cookie) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

async fn logout(
    state: axum::extract::State<State>,
    console: Console,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    state.console.end(&console.id);
    let mut response = Redirect::to("/ui/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// A form whose CSRF token is not the session's.
pub fn stale() -> Response {
    Refusal::Forbidden("this form is stale or came from elsewhere: reload the page").into_response()
}
