//! Uploads: `PUT /inbox/NAME` streamed into the store as it arrives, 1 MiB
//! at a time (the same `Tenant` calls as SFTP and FTP: the same atomic
//! commit, journal, pipeline, quotas and completion rules).
//!
//! Resuming: a request cut off keeps what it received (invisible) as an
//! interrupted upload. `HEAD /inbox/NAME` then answers `308` with
//! `Upload-Offset: N` (and `Range: bytes=0-N-1`), and a `PUT` with
//! `Content-Range: bytes N-LAST/TOTAL` continues from there (`curl -C N`).
//! A part that does not reach `TOTAL` is kept the same way and answered
//! `308`, so a file can also be sent in several parts on purpose.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::auth::Partner;
use super::error::{HttpError, HttpResult};
use super::files::blocking;
use super::path;
use crate::journal::Mailbox;
use crate::tenant::{Finished, MailboxError, MailboxPath, PendingUpload, Way};

/// Bytes gathered from the request before they are written.
const CHUNK: usize = 1 << 20;
/// How long a request body may send nothing before the upload is treated
/// as cut off (and kept to resume).
const STALL: std::time::Duration = std::time::Duration::from_secs(300);

/// `308` with where an interrupted upload of this name stopped.
pub fn resume_here(kept: u64) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    let headers = response.headers_mut();
    headers.insert("upload-offset", HeaderValue::from(kept));
    if kept > 0
        && let Ok(range) = HeaderValue::from_str(&format!("bytes=0-{}", kept - 1))
    {
        headers.insert(header::RANGE, range);
    }
    response
}

/// What waiting for the body gave.
enum Next<T> {
    Frame(Option<T>),
    Stalled,
    Kicked,
}

/// How the body ended.
enum Ended {
    Complete,
    Cut(String),
    Refused(std::io::Error),
}

pub async fn put(
    who: &Partner,
    name: String,
    headers: &HeaderMap,
    body: Body,
) -> HttpResult<Response> {
    let part = content_range(headers)?;
    put_stream(who, name, part, body.into_data_stream()).await
}

/// An upload of `name` from `stream` (a request's body, a form's file),
/// as a whole file or, with `part`, from where a kept one stopped.
pub async fn put_stream<E: std::fmt::Display>(
    who: &Partner,
    name: String,
    part: Option<Part>,
    stream: impl futures_util::Stream<Item = Result<bytes::Bytes, E>>,
) -> HttpResult<Response> {
    let offset = part.map_or(0, |p| p.start);
    let path = MailboxPath::File(Mailbox::Inbox, name.clone());
    let (tenant, partner) = (who.tenant.clone(), who.partner.clone());
    let begun = if offset == 0 && tenant.upload_begins_in_memory(&partner) {
        // Nothing is read or written before the first bytes.
        tenant.begin_at(&partner, &path, 0, false)
    } else {
        let path = path.clone();
        blocking(move || tenant.begin_at(&partner, &path, offset, false)).await
    };
    let mut upload = match begun {
        Ok(upload) => upload,
        Err(MailboxError::PermissionDenied(why)) if offset > 0 => {
            // The wrong offset: say where to resume.
            let mut response = HttpError::new(StatusCode::CONFLICT, why).into_response();
            let (tenant, partner, wanted) = (who.tenant.clone(), who.partner.clone(), name.clone());
            if let Ok(Some(kept)) = blocking(move || tenant.suspended_size(&partner, &wanted)).await
            {
                response
                    .headers_mut()
                    .insert("upload-offset", HeaderValue::from(kept));
            }
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    upload.shown_in(&who.ticket);
    let (upload_back, ended) = receive(who, upload, stream).await;
    upload = upload_back;
    let source = who.source();
    let tenant = who.tenant.clone();
    match ended {
        Ended::Cut(why) => {
            let kept = upload.size();
            let error = std::io::Error::other(why.clone());
            blocking(move || tenant.suspend(upload, "https", &source, &error)).await;
            Err(HttpError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "the upload was cut ({why}); {kept} bytes kept: resume with Content-Range: bytes {kept}-"
                ),
            ))
        }
        Ended::Refused(e) => {
            let status = match e.kind() {
                std::io::ErrorKind::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
                std::io::ErrorKind::StorageFull => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            let why = e.to_string();
            blocking(move || tenant.abort(upload, "https", &source, &e)).await;
            Err(HttpError::new(status, format!("upload refused: {why}")))
        }
        Ended::Complete => {
            if let Some(part) = part
                && upload.size() < part.total.unwrap_or(0)
            {
                // A part, not the whole: kept for the next one.
                let kept = upload.size();
                let error = std::io::Error::other("a part of a resumable upload");
                blocking(move || tenant.suspend(upload, "https", &source, &error)).await;
                return Ok(resume_here(kept));
            }
            if let Some(total) = part.and_then(|p| p.total)
                && upload.size() != total
            {
                let error = std::io::Error::other(format!(
                    "{} bytes received, Content-Range said {total}",
                    upload.size()
                ));
                let why = error.to_string();
                blocking(move || tenant.abort(upload, "https", &source, &error)).await;
                return Err(HttpError::new(StatusCode::BAD_REQUEST, why));
            }
            let finished = blocking(move || tenant.finish(upload, "https", &source)).await?;
            Ok(stored(&name, finished))
        }
    }
}

/// The answer to a stored upload: `201` with what was stored, or `202` when
/// the partner's completion rule waits for a rename or a sidecar.
fn stored(name: &str, finished: Finished) -> Response {
    match finished {
        Finished::Received(ingested) => {
            let sha256 = ingested.committed.hash.to_string();
            let mut response = (
                StatusCode::CREATED,
                Json(serde_json::json!({
                    "name": name,
                    "size": ingested.committed.size,
                    "sha256": sha256,
                    "message": ingested.message.0,
                })),
            )
                .into_response();
            let headers = response.headers_mut();
            if let Ok(etag) = HeaderValue::from_str(&format!("\"{sha256}\"")) {
                headers.insert(header::ETAG, etag);
            }
            if let Ok(location) =
                HeaderValue::from_str(&format!("/inbox/{}", path::encode_path(name)))
            {
                headers.insert(header::LOCATION, location);
            }
            response
        }
        Finished::Pending(message) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({
                "name": name,
                "message": message.0,
                "pending": "stored, waiting for its completion signal",
            })),
        )
            .into_response(),
    }
}

/// Reads the body into the upload until it ends, is cut off, stalls, the
/// store refuses it, or the session is kicked. What arrived before a cut
/// is written too: it is what a resume continues from.
///
/// One write is in flight while the next megabyte arrives: the request's
/// TLS is decrypted on the session's task while the previous chunk goes
/// into the file on a blocking thread (and into the hash on the upload's
/// hashing thread).
async fn receive<E: std::fmt::Display>(
    who: &Partner,
    upload: PendingUpload,
    stream: impl futures_util::Stream<Item = Result<bytes::Bytes, E>>,
) -> (PendingUpload, Ended) {
    let mut stream = std::pin::pin!(stream);
    let throttle = who.tenant.throttle(&who.partner, Way::Up);
    let kicked = who.ticket.kicked();
    tokio::pin!(kicked);
    let mut writer = Writer {
        idle: Some(upload),
        in_flight: None,
        spare: Vec::new(),
    };
    let mut buf = Vec::with_capacity(CHUNK);
    loop {
        let next = tokio::select! {
            frame = tokio::time::timeout(STALL, stream.next()) => match frame {
                Ok(frame) => Next::Frame(frame),
                Err(_) => Next::Stalled,
            },
            true = &mut kicked => Next::Kicked,
        };
        let ended = match next {
            Next::Frame(Some(Ok(bytes))) => {
                buf.extend_from_slice(&bytes);
                None
            }
            Next::Frame(None) => Some(Ended::Complete),
            Next::Frame(Some(Err(e))) => Some(Ended::Cut(e.to_string())),
            Next::Stalled => Some(Ended::Cut(
                "the client sent nothing for five minutes".into(),
            )),
            Next::Kicked => Some(Ended::Cut(
                "the session was closed by an administrator".into(),
            )),
        };
        if buf.len() >= CHUNK || (ended.is_some() && !buf.is_empty()) {
            throttle.pace(buf.len()).await;
            match writer.write(buf).await {
                Ok(next) => buf = next,
                Err((upload, e)) => return (upload, Ended::Refused(e)),
            }
        }
        if let Some(ended) = ended {
            return match writer.finish().await {
                Ok(upload) => (upload, ended),
                Err((upload, e)) => (upload, Ended::Refused(e)),
            };
        }
    }
}

/// The upload's writes: at most one on a blocking thread at a time.
struct Writer {
    /// The upload, when no write has it.
    idle: Option<PendingUpload>,
    in_flight: Option<tokio::task::JoinHandle<(PendingUpload, std::io::Result<Vec<u8>>)>>,
    /// Buffers given back by finished writes, to fill again.
    spare: Vec<Vec<u8>>,
}

type Failed = (PendingUpload, std::io::Error);

impl Writer {
    /// Waits for the write in flight, if any; the upload is then idle.
    async fn settle(&mut self) -> Result<(), Failed> {
        let Some(handle) = self.in_flight.take() else {
            return Ok(());
        };
        let (upload, written) = match handle.await {
            Ok(done) => done,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        match written {
            Ok(buf) => {
                self.spare.push(buf);
                self.idle = Some(upload);
                Ok(())
            }
            Err(e) => Err((upload, e)),
        }
    }

    /// Hands `buf` to the upload (in place while it stays in memory, on a
    /// blocking thread once it reaches a file) and gives back an empty
    /// buffer to fill next.
    async fn write(&mut self, buf: Vec<u8>) -> Result<Vec<u8>, Failed> {
        self.settle().await?;
        let mut upload = self.idle.take().expect("no write in flight");
        let len = buf.len();
        if upload.stays_in_memory(len) {
            let written = upload.write_owned(buf, len);
            return match written {
                Ok(next) => {
                    self.idle = Some(upload);
                    Ok(empty(next))
                }
                Err(e) => Err((upload, e)),
            };
        }
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            let written = upload.write_owned(buf, len);
            (upload, written)
        }));
        Ok(empty(self.spare.pop().unwrap_or_default()))
    }

    /// Waits for the last write; the upload is whole (or failed).
    async fn finish(mut self) -> Result<PendingUpload, Failed> {
        self.settle().await?;
        Ok(self.idle.take().expect("no write in flight"))
    }
}

/// `buf` emptied, with room for a chunk.
fn empty(mut buf: Vec<u8>) -> Vec<u8> {
    buf.clear();
    buf.reserve(CHUNK);
    buf
}

/// A `Content-Range: bytes START-LAST/TOTAL` (or `*` for an unknown total)
/// on a `PUT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    start: u64,
    total: Option<u64>,
}

fn content_range(headers: &HeaderMap) -> HttpResult<Option<Part>> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || {
        HttpError::new(
            StatusCode::BAD_REQUEST,
            "Content-Range must be `bytes START-LAST/TOTAL` (or `/*`)",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let spec = text.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse::<u64>().map_err(|_| bad())?),
    };
    let start = match range.trim().split_once('-') {
        Some((start, _)) => start.trim().parse::<u64>().map_err(|_| bad())?,
        // `bytes */TOTAL`: nothing in this request, only the total.
        None if range.trim() == "*" => total.unwrap_or(0),
        None => return Err(bad()),
    };
    Ok(Some(Part { start, total }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(value: &str) -> Option<Part> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_RANGE, value.parse().unwrap());
        content_range(&headers).ok().flatten()
    }

    #[test]
    fn content_ranges() {
        assert_eq!(
            part("bytes 100-199/200"),
            Some(Part {
                start: 100,
                total: Some(200)
            })
        );
        assert_eq!(
            part("bytes 0-99/*"),
            Some(Part {
                start: 0,
                total: None
            })
        );
        assert_eq!(part("bytes x-1/2"), None);
        assert_eq!(part("items 0-1/2"), None);
    }
}
