//! The console's pages. Each calls the admin API's handler for what it
//! shows or does (`super::super::routes`, `files`) with the login's
//! caller, and renders the JSON it answers; an API error is shown on the
//! page with the API's own words and status.

use askama::Template;
use axum::Json;
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;

use super::super::State;
use super::super::error::{ApiError, Body};
use super::super::routes::{self, MessagesQuery, OnNode, ResendRequest};
use super::{Console, CsrfForm, Nav, redirect_after, render, rows, stale};
use crate::journal::Timestamp;

/// Messages per page of a search.
const PAGE: usize = 50;

/// A number, a string or nothing, as a page shows a JSON value.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An event's detail as `key: value` pairs.
fn detail(value: &Value) -> String {
    match value.as_object() {
        Some(fields) => fields
            .iter()
            .map(|(key, value)| format!("{key}: {}", text(value)))
            .collect::<Vec<_>>()
            .join("; "),
        None => text(value),
    }
}

fn time(value: &Value) -> String {
    value
        .as_i64()
        .map(|ms| crate::web::when(Timestamp(ms)))
        .unwrap_or_else(|| text(value))
}

/// The colour of a state: green when it went through, red when it stopped.
fn tone(state: &str) -> &'static str {
    match state {
        "delivered" | "downloaded" | "available" => "ok",
        "rejected" | "quarantined" | "failed" => "bad",
        _ => "",
    }
}

fn failed(e: ApiError) -> (StatusCode, String) {
    (e.status, e.message)
}

pub struct MessageRow {
    id: i64,
    name: String,
    partner: String,
    direction: String,
    size: String,
    state: String,
    tone: &'static str,
    when: String,
    sha256: String,
    reason: String,
    protocol: String,
    source: String,
    origin: Option<i64>,
}

fn message_row(m: &Value) -> MessageRow {
    let state = text(&m["state"]);
    MessageRow {
        id: m["id"].as_i64().unwrap_or_default(),
        name: text(&m["name"]),
        partner: text(&m["partner"]),
        direction: text(&m["direction"]),
        size: text(&m["size"]),
        tone: tone(&state),
        state,
        when: time(&m["created_at"]),
        sha256: text(&m["sha256"]),
        reason: text(&m["reason"]),
        protocol: text(&m["protocol"]),
        source: text(&m["source"]),
        origin: m["origin"].as_i64(),
    }
}

/// The search form's values as typed, to show them again.
#[derive(Default)]
pub struct Shown {
    name: String,
    partner: String,
    direction: String,
    state: String,
    sha256: String,
    since: String,
    until: String,
}

#[derive(Template)]
#[template(path = "console/messages.html")]
struct MessagesPage {
    nav: Nav,
    q: Shown,
    states: &'static [&'static str],
    rows: Vec<MessageRow>,
    next: Option<String>,
    error: Option<String>,
}

const STATES: &[&str] = &[
    "pending",
    "received",
    "rejected",
    "quarantined",
    "held",
    "routed",
    "delivered",
    "failed",
    "available",
    "downloaded",
    "transformed",
];

pub async fn messages(
    state: axum::extract::State<State>,
    console: Console,
    Path(tenant): Path<String>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let mut query = query.map(|Query(q)| q).unwrap_or_default();
    query.limit = Some(PAGE);
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let shown = Shown {
        name: v(&query.name),
        partner: v(&query.partner),
        direction: v(&query.direction),
        state: v(&query.state),
        sha256: v(&query.sha256),
        since: v(&query.since),
        until: v(&query.until),
    };
    let answer = routes::messages(
        state.clone(),
        console.caller.clone(),
        Path(tenant.clone()),
        Ok(Query(query)),
    )
    .await;
    let (rows, error, status) = match answer {
        Ok(Json(json)) => (
            json["messages"]
                .as_array()
                .map(|list| list.iter().map(message_row).collect())
                .unwrap_or_default(),
            None,
            StatusCode::OK,
        ),
        Err(e) => {
            let (status, why) = failed(e);
            if status == StatusCode::NOT_FOUND {
                return (status, why).into_response();
            }
            (Vec::new(), Some(why), status)
        }
    };
    let next = (rows.len() == PAGE).then(|| {
        let last: &MessageRow = rows.last().expect("a full page");
        let pairs = [
            ("name", &shown.name),
            ("partner", &shown.partner),
            ("direction", &shown.direction),
            ("state", &shown.state),
            ("sha256", &shown.sha256),
            ("since", &shown.since),
            ("until", &shown.until),
        ];
        let mut link = format!(
            "/ui/t/{}/messages?before={}",
            crate::web::encode_segment(&tenant),
            last.id
        );
        for (key, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            link.push_str(&format!("&{key}={}", crate::web::encode_segment(value)));
        }
        link
    });
    render(
        &MessagesPage {
            nav: console.nav(&state, &tenant),
            q: shown,
            states: STATES,
            rows,
            next,
            error,
        },
        status,
    )
}

pub struct EventRow {
    seq: String,
    when: String,
    kind: String,
    partner: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage {
    nav: Nav,
    m: MessageRow,
    events: Vec<EventRow>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct Notice {
    done: Option<String>,
}

pub async fn message(
    state: axum::extract::State<State>,
    console: Console,
    Path((tenant, id)): Path<(String, i64)>,
    Query(notice): Query<Notice>,
) -> Response {
    let answer = routes::message(
        state.clone(),
        console.caller.clone(),
        Path((tenant.clone(), id)),
    )
    .await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let events = rows(&json["events"], |e| EventRow {
        seq: text(&e["seq"]),
        when: time(&e["at"]),
        kind: text(&e["kind"]),
        partner: text(&e["partner"]),
        detail: detail(&e["detail"]),
    });
    let notice = match notice.done.as_deref() {
        Some("resent") => Some("Put back in the partner's outbox.".to_owned()),
        _ => None,
    };
    render(
        &MessagePage {
            nav: console.nav(&state, &tenant),
            m: message_row(&json["message"]),
            events,
            notice,
        },
        StatusCode::OK,
    )
}

/// The content of a message, through the API's own route.
pub async fn content(
    state: axum::extract::State<State>,
    console: Console,
    Path((tenant, id)): Path<(String, i64)>,
) -> Response {
    match super::super::files::content(state, console.caller, Path((tenant, id))).await {
        Ok(response) => response,
        Err(e) => (e.status, e.message).into_response(),
    }
}

/// "Send again": the message's content back in its partner's outbox.
pub async fn resend(
    state: axum::extract::State<State>,
    console: Console,
    Path((tenant, id)): Path<(String, i64)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let found = routes::message(
        state.clone(),
        console.caller.clone(),
        Path((tenant.clone(), id)),
    )
    .await;
    let message = match found {
        Ok(Json(json)) => json["message"].clone(),
        Err(e) => return (e.status, e.message).into_response(),
    };
    let (partner, file) = (text(&message["partner"]), text(&message["sha256"]));
    let done = routes::resend(
        state,
        console.caller,
        Path((tenant.clone(), partner)),
        Body(ResendRequest { file }),
    )
    .await;
    redirect_after(
        done,
        &format!(
            "/ui/t/{}/messages/{id}?done=resent",
            crate::web::encode_segment(&tenant)
        ),
    )
}

pub struct SessionRow {
    id: String,
    partner: String,
    login: String,
    protocol: String,
    peer: String,
    when: String,
    node: String,
    /// What it is moving now: "upload orders.csv, 1.2 MiB so far".
    moving: Vec<String>,
}

/// One transfer of a session, as the sessions page says it.
fn moving(transfer: &Value) -> String {
    format!(
        "{} {}: {} so far",
        text(&transfer["direction"]),
        text(&transfer["name"]),
        crate::web::size(transfer["bytes"].as_u64().unwrap_or_default())
    )
}

#[derive(Template)]
#[template(path = "console/sessions.html")]
struct SessionsPage {
    nav: Nav,
    rows: Vec<SessionRow>,
    notice: Option<String>,
}

pub async fn sessions(
    state: axum::extract::State<State>,
    console: Console,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let answer =
        routes::sessions(state.clone(), console.caller.clone(), Path(tenant.clone())).await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let rows = json["sessions"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|s| SessionRow {
                    id: text(&s["id"]),
                    partner: text(&s["partner"]),
                    login: text(&s["login"]),
                    protocol: text(&s["protocol"]),
                    peer: text(&s["peer"]),
                    when: time(&s["started_at"]),
                    node: text(&s["node"]),
                    moving: s["transfers"]
                        .as_array()
                        .map(|list| list.iter().map(moving).collect())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let notice = (notice.done.as_deref() == Some("closed"))
        .then(|| "The session is being closed.".to_owned());
    render(
        &SessionsPage {
            nav: console.nav(&state, &tenant),
            rows,
            notice,
        },
        StatusCode::OK,
    )
}

#[derive(Deserialize)]
pub struct CloseForm {
    csrf: String,
    node: Option<String>,
}

pub async fn close_session(
    state: axum::extract::State<State>,
    console: Console,
    Path((tenant, id)): Path<(String, u64)>,
    Form(form): Form<CloseForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let node = form.node.filter(|n| !n.is_empty());
    let done = routes::kick(
        state,
        console.caller,
        Path((tenant.clone(), id)),
        Query(OnNode { node }),
    )
    .await;
    redirect_after(
        done,
        &format!(
            "/ui/t/{}/sessions?done=closed",
            crate::web::encode_segment(&tenant)
        ),
    )
}

pub struct DeadRow {
    task: String,
    message: String,
    step: String,
    attempts: String,
    error: String,
}

#[derive(Template)]
#[template(path = "console/dead.html")]
struct DeadPage {
    nav: Nav,
    rows: Vec<DeadRow>,
    notice: Option<String>,
}

pub async fn dead_letters(
    state: axum::extract::State<State>,
    console: Console,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let answer =
        routes::dead_letters(state.clone(), console.caller.clone(), Path(tenant.clone())).await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let rows = rows(&json["dead_letters"], |d| DeadRow {
        task: text(&d["task"]),
        message: text(&d["message"]),
        step: text(&d["step"]),
        attempts: text(&d["attempts"]),
        error: text(&d["last_error"]),
    });
    let notice = (notice.done.as_deref() == Some("retried"))
        .then(|| "The task is pending again.".to_owned());
    render(
        &DeadPage {
            nav: console.nav(&state, &tenant),
            rows,
            notice,
        },
        StatusCode::OK,
    )
}

pub async fn retry(
    state: axum::extract::State<State>,
    console: Console,
    Path((tenant, task)): Path<(String, i64)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    match routes::retry(state, console.caller, Path((tenant.clone(), task))).await {
        Ok(_) => Redirect::to(&format!(
            "/ui/t/{}/dead-letters?done=retried",
            crate::web::encode_segment(&tenant)
        ))
        .into_response(),
        Err(e) => (e.status, e.message).into_response(),
    }
}

pub struct Verdict {
    ok: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "console/verify.html")]
struct VerifyPage {
    nav: Nav,
    result: Option<Verdict>,
}

pub async fn verify_page(
    state: axum::extract::State<State>,
    console: Console,
    Path(tenant): Path<String>,
) -> Response {
    if let Err(e) = console.caller.tenant(&state, &tenant) {
        return (e.status, e.message).into_response();
    }
    render(
        &VerifyPage {
            nav: console.nav(&state, &tenant),
            result: None,
        },
        StatusCode::OK,
    )
}

pub async fn verify(
    state: axum::extract::State<State>,
    console: Console,
    Path(tenant): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !console.csrf_ok(&form.csrf) {
        return stale();
    }
    let answer = routes::verify(state.clone(), console.caller.clone(), Path(tenant.clone())).await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let ok = json["ok"].as_bool().unwrap_or(false);
    let text = if ok {
        format!(
            "Intact: {} events, each linked to the one before; the last one's hash is {}.",
            text(&json["events"]),
            text(&json["head"])
        )
    } else {
        format!("Broken: {}", text(&json["problem"]))
    };
    render(
        &VerifyPage {
            nav: console.nav(&state, &tenant),
            result: Some(Verdict { ok, text }),
        },
        StatusCode::OK,
    )
}

pub struct Bar {
    class: &'static str,
    x: u32,
    y: u32,
    w: u32,
    h: u32,
    title: String,
}

pub struct Chart {
    width: u32,
    height: u32,
    base: u32,
    top: u64,
    bars: Vec<Bar>,
}

#[derive(Default)]
pub struct Totals {
    received: u64,
    received_bytes: u64,
    downloaded: u64,
    downloaded_bytes: u64,
    errors: u64,
}

#[derive(Template)]
#[template(path = "console/activity.html")]
struct ActivityPage {
    nav: Nav,
    chart: Chart,
    totals: Totals,
}

/// The last hour as a bar chart drawn on the server (SVG, no script):
/// files received and downloaded per minute.
pub async fn activity(
    state: axum::extract::State<State>,
    console: Console,
    Path(tenant): Path<String>,
) -> Response {
    let answer =
        super::super::files::activity(state.clone(), console.caller.clone(), Path(tenant.clone()))
            .await;
    let json = match answer {
        Ok(Json(json)) => json,
        Err(e) => return (e.status, e.message).into_response(),
    };
    let minutes = json["minutes"].as_array().cloned().unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64
        / 60;
    let count = |m: &Value, key: &str| m[key].as_u64().unwrap_or(0);
    let top = minutes
        .iter()
        .map(|m| count(m, "files_in").max(count(m, "files_out")))
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, base) = (720u32, 200u32, 180u32);
    let slot = width / 60;
    let mut bars = Vec::new();
    let mut totals = Totals::default();
    for m in &minutes {
        let ago = now - m["minute"].as_i64().unwrap_or(now);
        if !(0..60).contains(&ago) {
            continue;
        }
        let x = (59 - ago as u32) * slot;
        totals.received += count(m, "files_in");
        totals.received_bytes += count(m, "bytes_in");
        totals.downloaded += count(m, "files_out");
        totals.downloaded_bytes += count(m, "bytes_out");
        totals.errors += count(m, "failed");
        for (class, key, offset) in [("up", "files_in", 1), ("down", "files_out", slot / 2)] {
            let n = count(m, key);
            if n == 0 {
                continue;
            }
            let h = ((n * u64::from(base - 16)) / top) as u32;
            bars.push(Bar {
                class,
                x: x + offset,
                y: base - h,
                w: slot / 2 - 1,
                h,
                title: format!(
                    "{ago} min ago: {n} {}",
                    if class == "up" {
                        "received"
                    } else {
                        "downloaded"
                    }
                ),
            });
        }
    }
    render(
        &ActivityPage {
            nav: console.nav(&state, &tenant),
            chart: Chart {
                width,
                height,
                base,
                top,
                bars,
            },
            totals,
        },
        StatusCode::OK,
    )
}
