//! The partner web client: a login form, then one page with the partner's
//! outbox (download links), what it sent and what became of each file, an
//! upload form (with a progress bar per file when scripts run; a plain
//! multipart form otherwise), the receipts and a resend form. Every action
//! is the same `Tenant` call the file API and the other protocols make.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Form, Multipart, Query, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use futures_util::TryStreamExt as _;
use serde::Deserialize;

use super::State;
use super::auth::{self, Partner, Via};
use super::error::HttpError;
use super::files::blocking;
use super::session;
use crate::journal::{Direction, Mailbox, MessageQuery, MessageState};
use crate::tenant::MailboxPath;

/// Files shown in each table of the page, newest first.
const SHOWN: usize = 200;

#[derive(Template)]
#[template(path = "partner/login.html")]
struct LoginPage {
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "partner/mailbox.html")]
struct MailboxPage {
    partner: String,
    login: String,
    csrf: String,
    notice: Option<&'static str>,
    error: Option<String>,
    outbox: Vec<OutboxRow>,
    sent: Vec<SentRow>,
}

struct OutboxRow {
    name: String,
    href: String,
    size: u64,
    sha256: String,
    when: String,
    downloaded: String,
}

struct SentRow {
    name: String,
    size: u64,
    sha256: String,
    when: String,
    status: String,
    /// `ok`, `bad` or empty: the status cell's colour.
    tone: &'static str,
}

fn page(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => HttpError::internal(&e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `/`: the mailbox page for a logged-in browser, the login form for
/// anyone else; with Basic credentials, the file API's listing of `/`.
pub async fn home(
    axum::extract::State(state): axum::extract::State<State>,
    Query(done): Query<Done>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let with_cookie =
        session::from_headers(&parts.headers).is_some_and(|id| state.sessions.find(&id).is_some());
    if !with_cookie && !parts.headers.contains_key(header::AUTHORIZATION) {
        return page(&LoginPage { error: None }, StatusCode::OK);
    }
    use axum::extract::FromRequestParts as _;
    let who = match Partner::from_request_parts(&mut parts, &state).await {
        Ok(who) => who,
        Err(e) => return e.into_response(),
    };
    if matches!(who.via, Via::Basic | Via::Token) {
        return super::files::dispatch(who, Request::from_parts(parts, body)).await;
    }
    let notice = match done.done.as_deref() {
        Some("sent") => Some("Your files were stored."),
        Some("resent") => Some("The file is back in your outbox."),
        Some("hidden") => Some("The file was removed from your view (it is kept)."),
        _ => None,
    };
    mailbox(&who, notice, None, StatusCode::OK).await
}

/// The mailbox page, with a notice or an error.
async fn mailbox(
    who: &Partner,
    notice: Option<&'static str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let Via::Cookie { csrf, .. } = &who.via else {
        return HttpError::new(StatusCode::FORBIDDEN, "log in first").into_response();
    };
    let (tenant, partner) = (who.tenant.clone(), who.partner.clone());
    let rows = blocking(
        move || -> Result<(Vec<OutboxRow>, Vec<SentRow>), HttpError> {
            Ok((
                outbox_rows(&tenant, &partner)?,
                sent_rows(&tenant, &partner)?,
            ))
        },
    )
    .await;
    let (outbox, sent) = match rows {
        Ok(rows) => rows,
        Err(e) => return e.into_response(),
    };
    page(
        &MailboxPage {
            partner: who.partner.clone(),
            login: who.login.clone(),
            csrf: csrf.clone(),
            notice,
            error,
            outbox,
            sent,
        },
        status,
    )
}

fn outbox_rows(tenant: &crate::tenant::Tenant, partner: &str) -> Result<Vec<OutboxRow>, HttpError> {
    let downloads: HashMap<String, String> = tenant
        .journal()
        .offered_files(tenant.name(), partner)
        .map_err(|e| HttpError::internal(&e))?
        .into_iter()
        .filter_map(|row| Some((row.name, crate::web::when(row.downloaded_at?))))
        .collect();
    let mut entries = tenant.list(partner, Mailbox::Outbox)?;
    entries.sort_by_key(|e| std::cmp::Reverse(e.created_at));
    Ok(entries
        .into_iter()
        .take(SHOWN)
        .map(|entry| OutboxRow {
            href: format!("/outbox/{}", crate::web::encode_path(&entry.name)),
            size: entry.size,
            sha256: entry.hash.to_string(),
            when: crate::web::when(entry.created_at),
            downloaded: downloads
                .get(&entry.name)
                .cloned()
                .unwrap_or_else(|| "not yet".into()),
            name: entry.name,
        })
        .collect())
}

/// What the partner sent, newest first, each with what became of it:
/// the verdict, the partners it went to, and which of them downloaded it.
fn sent_rows(tenant: &crate::tenant::Tenant, partner: &str) -> Result<Vec<SentRow>, HttpError> {
    let journal = tenant.journal();
    let internal = |e: crate::journal::JournalError| HttpError::internal(&e);
    let mut sent = journal
        .messages(&MessageQuery {
            tenant: Some(tenant.name().to_owned()),
            partner: Some(partner.to_owned()),
            direction: Some(Direction::In),
            limit: Some(SHOWN),
            ..MessageQuery::default()
        })
        .map_err(internal)?;
    sent.sort_by_key(|m| std::cmp::Reverse(m.id));
    // The copies made for the receivers, by the message they came from.
    let mut copies: HashMap<i64, Vec<(String, MessageState)>> = HashMap::new();
    if let Some(oldest) = sent.last() {
        for copy in journal
            .messages(&MessageQuery {
                tenant: Some(tenant.name().to_owned()),
                direction: Some(Direction::Out),
                since: Some(oldest.created_at),
                ..MessageQuery::default()
            })
            .map_err(internal)?
        {
            if let Some(origin) = copy.origin {
                copies
                    .entry(origin.0)
                    .or_default()
                    .push((copy.partner, copy.state));
            }
        }
    }
    Ok(sent
        .into_iter()
        .map(|message| {
            let to = copies.remove(&message.id.0).unwrap_or_default();
            let (status, tone) = status(message.state, message.reason.as_deref(), &to);
            SentRow {
                name: message.name,
                size: message.size,
                sha256: message.hash.map(|h| h.to_string()).unwrap_or_default(),
                when: crate::web::when(message.created_at),
                status,
                tone,
            }
        })
        .collect())
}

/// One line on a sent file: its state in words, then each receiver.
fn status(
    state: MessageState,
    reason: Option<&str>,
    copies: &[(String, MessageState)],
) -> (String, &'static str) {
    let because = reason.map(|r| format!(": {r}")).unwrap_or_default();
    let (words, tone) = match state {
        MessageState::Pending => ("stored, waiting for its completion signal".to_owned(), ""),
        MessageState::Received => ("received, being checked".to_owned(), ""),
        MessageState::Rejected => (format!("rejected{because}"), "bad"),
        MessageState::Quarantined => (format!("quarantined{because}"), "bad"),
        MessageState::Held => (format!("accepted, held{because}"), ""),
        MessageState::Failed => (format!("failed{because}"), "bad"),
        MessageState::Routed => ("accepted, being delivered".to_owned(), ""),
        _ => ("accepted, delivered".to_owned(), "ok"),
    };
    let mut line = words;
    for (to, copy) in copies {
        let done = if *copy == MessageState::Downloaded {
            "downloaded"
        } else {
            "not downloaded yet"
        };
        line.push_str(&format!("; {to}: {done}"));
    }
    (line, tone)
}

#[derive(Deserialize)]
pub struct Credentials {
    user: String,
    password: String,
}

/// `POST /login`: a new session (a new id, whatever cookie came with the
/// request), then the mailbox page.
pub async fn login(
    axum::extract::State(state): axum::extract::State<State>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    if !auth::same_origin(&parts.headers) {
        return HttpError::new(StatusCode::FORBIDDEN, "log in from this site's login page")
            .into_response();
    }
    let peer = match auth::peer(&parts) {
        Ok(peer) => peer,
        Err(e) => return e.into_response(),
    };
    use axum::extract::FromRequest as _;
    let Ok(Form(form)) =
        Form::<Credentials>::from_request(Request::from_parts(parts.clone(), body), &state).await
    else {
        return page(
            &LoginPage {
                error: Some("Give a login and a password.".into()),
            },
            StatusCode::BAD_REQUEST,
        );
    };
    let candidate = match auth::check_password(&state, peer, &form.user, &form.password).await {
        Ok(candidate) => candidate,
        Err(e) => {
            let error = if e.status == StatusCode::FORBIDDEN {
                e.message
            } else {
                "Login incorrect.".into()
            };
            return page(&LoginPage { error: Some(error) }, e.status);
        }
    };
    let ticket = match auth::open_session(&state, &candidate, peer, &form.user) {
        Ok(ticket) => ticket,
        Err(e) => {
            return page(
                &LoginPage {
                    error: Some(e.message),
                },
                e.status,
            );
        }
    };
    if let Some(old) = session::from_headers(&parts.headers) {
        state.sessions.end(&old);
    }
    let login = candidate.account.login.clone();
    let Some(id) = state
        .sessions
        .start(candidate.tenant, candidate.partner, login, ticket)
    else {
        return page(
            &LoginPage {
                error: Some("Too many people are logged in; try again later.".into()),
            },
            StatusCode::SERVICE_UNAVAILABLE,
        );
    };
    parts.headers.clear();
    let mut response = Redirect::to("/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::cookie(&id)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// `POST /logout`: the session ends here and in the browser.
pub async fn logout(
    axum::extract::State(state): axum::extract::State<State>,
    who: Partner,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let Via::Cookie { id, .. } = &who.via else {
        return Redirect::to("/").into_response();
    };
    if !who.csrf_ok(Some(&form.csrf)) {
        return csrf_refused();
    }
    state.sessions.end(id);
    let mut response = Redirect::to("/").into_response();
    if let Ok(cookie) = HeaderValue::from_str(&session::expired_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn csrf_refused() -> Response {
    HttpError::new(
        StatusCode::FORBIDDEN,
        "this form is stale or came from elsewhere: reload the page",
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct Named {
    csrf: String,
    name: String,
}

/// `POST /resend`: a file given before, back in the outbox.
pub async fn resend(who: Partner, Form(form): Form<Named>) -> Response {
    if !who.csrf_ok(Some(&form.csrf)) {
        return csrf_refused();
    }
    let (tenant, partner, source) = (who.tenant.clone(), who.partner.clone(), who.source());
    let name = form.name.trim().to_owned();
    match blocking(move || tenant.resend(&partner, &name, &source)).await {
        Ok(_) => Redirect::to("/?done=resent").into_response(),
        Err(e) => {
            let e = HttpError::from(e);
            mailbox(&who, None, Some(e.message), e.status).await
        }
    }
}

/// `POST /hide`: a file of the outbox out of view (kept, as elsewhere).
pub async fn hide(who: Partner, Form(form): Form<Named>) -> Response {
    if !who.csrf_ok(Some(&form.csrf)) {
        return csrf_refused();
    }
    let (tenant, partner) = (who.tenant.clone(), who.partner.clone());
    let name = form.name;
    match blocking(move || tenant.hide(&partner, Mailbox::Outbox, &name)).await {
        Ok(()) => Redirect::to("/?done=hidden").into_response(),
        Err(e) => {
            let e = HttpError::from(e);
            mailbox(&who, None, Some(e.message), e.status).await
        }
    }
}

/// `POST /upload`: the form's files (multipart, the CSRF token first),
/// each streamed into the inbox as a `PUT` would be.
pub async fn upload(who: Partner, mut multipart: Multipart) -> Response {
    let mut checked = false;
    let mut stored = 0;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                return HttpError::new(StatusCode::BAD_REQUEST, e.body_text()).into_response();
            }
        };
        match field.name() {
            Some("csrf") => {
                let token = field.text().await.unwrap_or_default();
                if !who.csrf_ok(Some(&token)) {
                    return csrf_refused();
                }
                checked = true;
            }
            Some("file") if checked => {
                let name = field.file_name().unwrap_or_default().to_owned();
                if name.is_empty() {
                    continue;
                }
                if let Err(e) = MailboxPath::inbox_file(&name) {
                    let e = HttpError::from(e);
                    return mailbox(&who, None, Some(e.message), e.status).await;
                }
                let bytes = field.map_err(|e| e.body_text());
                if let Err(e) = super::upload::put_stream(&who, name, None, bytes).await {
                    return mailbox(&who, None, Some(e.message), e.status).await;
                }
                stored += 1;
            }
            _ => return csrf_refused(),
        }
    }
    if stored == 0 {
        return mailbox(
            &who,
            None,
            Some("Choose at least one file.".into()),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    Redirect::to("/?done=sent").into_response()
}
