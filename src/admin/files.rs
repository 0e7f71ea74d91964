//! The admin API's answers that are not JSON documents of the journal: a
//! message's content (streamed, as an attachment) and a tenant's last hour
//! a minute at a time (from `metrics`).

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::State;
use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use crate::journal::{MessageId, MessageQuery};

/// Bytes read from the store per step of a download.
const CHUNK: usize = 1 << 20;

/// `GET /api/v1/tenants/{tenant}/messages/{id}/content`: the file a message
/// names, whole, as an attachment (never shown by a browser).
pub(super) async fn content(
    state: axum::extract::State<State>,
    caller: Caller,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<Response> {
    let tenant = caller.tenant(&state, &name)?;
    let opened = tokio::task::spawn_blocking(move || {
        let message = tenant
            .journal()
            .messages(&MessageQuery {
                id: Some(MessageId(id)),
                tenant: Some(tenant.name().to_owned()),
                ..MessageQuery::default()
            })
            .map_err(|e| ApiError::internal(&e))?
            .pop()
            .ok_or_else(|| ApiError::not_found(format!("no message {id} in this tenant")))?;
        let hash = message.hash.ok_or_else(|| {
            ApiError::not_found(format!("message {id} has no content (its upload failed)"))
        })?;
        let blob = tenant.content(&hash).map_err(|e| ApiError::internal(&e))?;
        Ok::<_, ApiError>((message.name, blob))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let (file, blob) = opened;
    let size = blob.size();
    let blob = Arc::new(blob);
    let stream = futures_util::stream::unfold(0u64, move |at| {
        let blob = Arc::clone(&blob);
        async move {
            if at >= size {
                return None;
            }
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0; CHUNK.min((size - at) as usize)];
                let n = blob.read_at(&mut buf, at)?;
                buf.truncate(n);
                Ok::<_, std::io::Error>(buf)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            match read {
                Ok(buf) if buf.is_empty() => Some((
                    Err(std::io::Error::other("the stored file ended early")),
                    size,
                )),
                Ok(buf) => {
                    let next = at + buf.len() as u64;
                    Some((Ok(Bytes::from(buf)), next))
                }
                Err(e) => Some((Err(e), size)),
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    let base = file.rsplit('/').next().unwrap_or(&file).to_owned();
    let plain: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
        crate::web::encode_segment(&base)
    );
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response.into_response())
}

/// `GET /api/v1/tenants/{tenant}/activity`: files and bytes received and
/// downloaded, and uploads that failed, per minute over the last hour.
pub(super) async fn activity(
    state: axum::extract::State<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = caller.tenant(&state, &name)?;
    let minutes = crate::metrics::metrics().activity(tenant.name());
    Ok(Json(json!({ "minutes": minutes })))
}
