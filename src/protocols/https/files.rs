//! The file API's requests, dispatched on the method and the place in the
//! partner's view the path names (the same `MailboxPath` and `Tenant`
//! calls as SFTP's and FTP's requests).

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::State;
use super::auth::Partner;
use super::error::{HttpError, HttpResult};
use super::{download, path, upload, web};
use crate::journal::Mailbox;
use crate::tenant::{FOLDERS, Listing, MailboxError, MailboxPath, RECEIPTS, Special};

pub fn routes() -> Router<State> {
    use axum::routing::{get, post};
    Router::new()
        .route("/", get(web::home).head(web::home))
        .route("/login", post(web::login))
        .route("/logout", post(web::logout))
        .route("/resend", post(web::resend))
        .route("/hide", post(web::hide))
        // Files of any size: the upload streams, so no body limit.
        .route(
            "/upload",
            post(web::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/static/ferry.css", get(crate::web::stylesheet))
        .route("/static/ferry.js", get(crate::web::script))
        .fallback(dispatch)
        .layer(axum::middleware::from_fn(security_headers))
}

/// Runs blocking work (the journal, the store) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A request of the file API.
pub async fn dispatch(who: Partner, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    match serve(&who, &parts.method, parts.uri.path(), &parts.headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn serve(
    who: &Partner,
    method: &Method,
    raw_path: &str,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let path = match path::mailbox_path(raw_path) {
        Ok(path) => path,
        Err(e) => {
            if let MailboxError::InvalidPath(why) = &e {
                let (tenant, partner) = (who.tenant.clone(), who.partner.clone());
                let (source, why) = (who.source(), why.clone());
                blocking(move || tenant.refused_path(&partner, "https", &source, &why)).await;
            }
            return Err(e.into());
        }
    };
    let path = {
        let (tenant, partner) = (who.tenant.clone(), who.partner.clone());
        blocking(move || tenant.resolve(&partner, path)).await?
    };
    let head = method == Method::HEAD;
    if !matches!(*method, Method::GET | Method::HEAD)
        && !who.csrf_ok(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))
    {
        return Err(HttpError::new(
            StatusCode::FORBIDDEN,
            "a change made with the web client's cookie needs its X-CSRF-Token",
        ));
    }
    match (method.clone(), path) {
        (Method::GET | Method::HEAD, MailboxPath::Root) => Ok(listing(
            headers,
            "/",
            Listing {
                files: Vec::new(),
                folders: FOLDERS.iter().map(|f| (*f).to_owned()).collect(),
            },
        )),
        (Method::GET | Method::HEAD, MailboxPath::Folder(mailbox)) => {
            folder(who, headers, mailbox, String::new()).await
        }
        (Method::GET | Method::HEAD, MailboxPath::Subfolder(mailbox, folder_path)) => {
            folder(who, headers, mailbox, folder_path).await
        }
        (Method::GET | Method::HEAD, MailboxPath::Special(special)) => {
            let files = match special {
                Special::Receipts => RECEIPTS.iter().map(|f| (*f).to_owned()).collect(),
                Special::Resend => Vec::new(),
            };
            Ok(listing(
                headers,
                &format!("/{}/", special.as_str()),
                Listing {
                    files: Vec::new(),
                    folders: files,
                },
            ))
        }
        (Method::GET | Method::HEAD, MailboxPath::SpecialFile(Special::Receipts, name)) => {
            let (tenant, partner, wanted) = (who.tenant.clone(), who.partner.clone(), name.clone());
            let bytes = blocking(move || tenant.receipt(&partner, &wanted)).await?;
            Ok(download::generated(
                &name,
                "text/csv; charset=utf-8",
                bytes,
                head,
            ))
        }
        (Method::GET | Method::HEAD, MailboxPath::File(mailbox, name)) => {
            download::file(who, mailbox, name, headers, head).await
        }
        (Method::PUT, MailboxPath::File(Mailbox::Inbox, name)) => {
            upload::put(who, name, headers, body).await
        }
        (Method::PUT | Method::POST, MailboxPath::SpecialFile(Special::Resend, request)) => {
            let (tenant, partner, source) = (who.tenant.clone(), who.partner.clone(), who.source());
            let entry = blocking(move || tenant.resend(&partner, &request, &source)).await?;
            Ok(Json(serde_json::json!({
                "name": entry.name,
                "size": entry.size,
                "sha256": entry.hash.to_string(),
                "location": format!("/outbox/{}", path::encode_path(&entry.name)),
            }))
            .into_response())
        }
        (Method::DELETE, MailboxPath::File(mailbox, name)) => {
            let (tenant, partner) = (who.tenant.clone(), who.partner.clone());
            blocking(move || tenant.hide(&partner, mailbox, &name)).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (method, MailboxPath::File(Mailbox::Inbox, name)) if method.as_str() == "MKCOL" => {
            let (tenant, partner) = (who.tenant.clone(), who.partner.clone());
            let path = MailboxPath::File(Mailbox::Inbox, name);
            blocking(move || tenant.make_folder(&partner, &path)).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        (_, path) => Err(not_allowed(&path)),
    }
}

/// 405, saying what the place takes.
fn not_allowed(path: &MailboxPath) -> HttpError {
    let allowed = match path {
        MailboxPath::File(Mailbox::Inbox, _) => "GET, HEAD, PUT, DELETE, MKCOL",
        MailboxPath::File(Mailbox::Outbox, _) => "GET, HEAD, DELETE",
        MailboxPath::SpecialFile(Special::Resend, _) => "POST, PUT",
        _ => "GET, HEAD",
    };
    HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("not allowed here; this path takes {allowed}"),
    )
}

async fn folder(
    who: &Partner,
    headers: &HeaderMap,
    mailbox: Mailbox,
    folder: String,
) -> HttpResult<Response> {
    let shown = if folder.is_empty() {
        format!("/{}/", mailbox.as_str())
    } else {
        format!("/{}/{folder}/", mailbox.as_str())
    };
    let (tenant, partner, source) = (who.tenant.clone(), who.partner.clone(), who.source());
    let listing = blocking(move || {
        let listing = tenant.list_folder(&partner, mailbox, &folder)?;
        tenant.record_listing(&partner, mailbox, &folder, &listing, "https", &source);
        Ok::<_, MailboxError>(listing)
    })
    .await?;
    Ok(listing_response(headers, &shown, listing))
}

fn listing(headers: &HeaderMap, shown: &str, listing: Listing) -> Response {
    listing_response(headers, shown, listing)
}

/// A folder's content: JSON for `Accept: application/json`, otherwise a
/// plain HTML page of links.
fn listing_response(headers: &HeaderMap, shown: &str, listing: Listing) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let files: Vec<_> = listing
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "size": f.size,
                    "sha256": f.hash.to_string(),
                    "created_at": f.created_at.to_string(),
                })
            })
            .collect();
        return Json(serde_json::json!({
            "path": shown,
            "folders": listing.folders,
            "files": files,
        }))
        .into_response();
    }
    crate::web::listing_page(shown, &listing).into_response()
}

/// Headers on every answer: no sniffing of content types, no framing, no
/// scripts or styles from anywhere but this listener, no referrer to other
/// sites.
async fn security_headers(request: Request, next: axum::middleware::Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in crate::web::SECURITY_HEADERS {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    response
}
