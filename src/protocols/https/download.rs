//! Downloads: a stored file streamed from the store in 1 MiB reads on the
//! blocking threads, whole or one `Range`, with its SHA-256 as the `ETag`;
//! journaled as `downloaded` when every byte went out in one response, as
//! partial otherwise (when the response ends or the client goes away).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::auth::Partner;
use super::error::{HttpError, HttpResult};
use super::files::blocking;
use super::path;
use crate::journal::{Entry, Mailbox};
use crate::store::Blob;
use crate::tenant::{MailboxError, Tenant, Throttle, Way};

/// Bytes read from the store per step of a download.
const CHUNK: usize = 1 << 20;

/// `GET` or `HEAD` of a file in the partner's view.
pub async fn file(
    who: &Partner,
    mailbox: Mailbox,
    name: String,
    headers: &HeaderMap,
    head: bool,
) -> HttpResult<Response> {
    let opened = {
        let (tenant, partner, name) = (who.tenant.clone(), who.partner.clone(), name.clone());
        blocking(move || tenant.open(&partner, mailbox, &name)).await
    };
    let (entry, blob) = match opened {
        Ok(opened) => opened,
        Err(MailboxError::NotFound(why)) => return missing(who, mailbox, name, why, head).await,
        Err(e) => return Err(e.into()),
    };
    let etag = format!("\"{}\"", entry.hash);
    let size = entry.size;
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, value(&etag));
        return Ok(response);
    }
    let range = match wanted_range(headers, size, &etag) {
        Ok(range) => range,
        Err(()) => {
            let mut response = HttpError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the file has {size} bytes"),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_RANGE, value(&format!("bytes */{size}")));
            return Ok(response);
        }
    };
    let (start, end) = range.unwrap_or((0, size));
    let mut response = if head {
        Response::new(Body::empty())
    } else {
        let sending = Sending {
            tenant: Arc::clone(&who.tenant),
            partner: who.partner.clone(),
            source: who.source(),
            entry,
            blob: Arc::new(blob),
            throttle: who.tenant.throttle(&who.partner, Way::Down),
            next: start,
            end,
            whole: range.is_none(),
            sent: 0,
            transfer: who.ticket.transfer("download", &name, start),
        };
        Response::new(Body::from_stream(sending.stream()))
    };
    let headers = response.headers_mut();
    attachment(headers, &name, "application/octet-stream");
    headers.insert(header::ETAG, value(&etag));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, value(&(end - start).to_string()));
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            value(&format!("bytes {start}-{}/{size}", end.saturating_sub(1))),
        );
    }
    Ok(response)
}

/// A file that is not in the view: perhaps a virtual `NAME.sha256`, or (on
/// `HEAD` of an inbox file) an interrupted upload, whose kept size says
/// where to resume.
async fn missing(
    who: &Partner,
    mailbox: Mailbox,
    name: String,
    why: String,
    head: bool,
) -> HttpResult<Response> {
    let (tenant, partner, wanted) = (who.tenant.clone(), who.partner.clone(), name.clone());
    let checksum = blocking(move || tenant.checksum_file(&partner, mailbox, &wanted)).await?;
    if let Some(content) = checksum {
        return Ok(generated(&name, "text/plain; charset=utf-8", content, head));
    }
    if mailbox == Mailbox::Inbox {
        let (tenant, partner, wanted) = (who.tenant.clone(), who.partner.clone(), name.clone());
        if let Some(kept) = blocking(move || tenant.suspended_size(&partner, &wanted)).await? {
            return Ok(super::upload::resume_here(kept));
        }
    }
    Err(MailboxError::NotFound(why).into())
}

/// A file made when asked (a receipts list, a checksum file): not
/// journaled as a download.
pub fn generated(name: &str, content_type: &str, bytes: Vec<u8>, head: bool) -> Response {
    let length = bytes.len();
    let mut response = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(bytes))
    };
    let headers = response.headers_mut();
    attachment(headers, name, content_type);
    headers.insert(header::CONTENT_LENGTH, value(&length.to_string()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Headers that make a browser save the bytes, never show or run them:
/// whatever a partner uploaded is served as an attachment.
fn attachment(headers: &mut HeaderMap, name: &str, content_type: &str) {
    let file = name.rsplit('/').next().unwrap_or(name);
    // The plain `filename` keeps printable ASCII only; `filename*` has the
    // exact name (RFC 6266).
    let plain: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    headers.insert(header::CONTENT_TYPE, value(content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        value(&format!(
            "attachment; filename=\"{plain}\"; filename*=UTF-8''{}",
            path::encode_segment(file)
        )),
    );
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The one byte range asked for (`Range: bytes=A-B`, `A-`, `-N`), as
/// `[start, end)`. `None` for the whole file: no `Range`, an `If-Range`
/// that is not the current `ETag`, several ranges (answered whole, as
/// RFC 9110 allows), or a header that is not a byte range. `Err` when the
/// range starts past the end (416).
fn wanted_range(headers: &HeaderMap, size: u64, etag: &str) -> Result<Option<(u64, u64)>, ()> {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok())
        && if_range.trim() != etag
    {
        return Ok(None);
    }
    let Some(spec) = range.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        (true, true) => return Ok(None),
        // The last N bytes.
        (true, false) => match last.parse::<u64>() {
            Ok(0) => return Err(()),
            Ok(n) => (size.saturating_sub(n), size),
            Err(_) => return Ok(None),
        },
        (false, _) => {
            let Ok(start) = first.parse::<u64>() else {
                return Ok(None);
            };
            let end = if last.is_empty() {
                size
            } else {
                match last.parse::<u64>() {
                    Ok(last) if last >= start => last.saturating_add(1).min(size),
                    _ => return Ok(None),
                }
            };
            (start, end)
        }
    };
    if parsed.0 >= size {
        return Err(());
    }
    Ok(Some(parsed))
}

/// A download in progress, read ahead one chunk at a time.
struct Sending {
    tenant: Arc<Tenant>,
    partner: String,
    source: String,
    entry: Entry,
    blob: Arc<Blob>,
    throttle: Throttle,
    next: u64,
    end: u64,
    /// Whether the response is the whole file (no `Range`).
    whole: bool,
    sent: u64,
    /// Its entry among the session's transfers.
    transfer: crate::tenant::Transfer,
}

impl Sending {
    fn stream(self) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
        futures_util::stream::unfold(self, |mut s| async move {
            if s.next >= s.end {
                return None;
            }
            let len = CHUNK.min((s.end - s.next) as usize);
            let (blob, at) = (Arc::clone(&s.blob), s.next);
            let read = blocking(move || {
                let mut buf = vec![0; len];
                let mut filled = 0;
                while filled < len {
                    match blob.read_at(&mut buf[filled..], at + filled as u64) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                buf.truncate(filled);
                Ok(buf)
            })
            .await;
            match read {
                Ok(buf) if buf.is_empty() => {
                    // The store has fewer bytes than the journal says.
                    s.end = s.next;
                    Some((Err(std::io::Error::other("the stored file ended early")), s))
                }
                Ok(buf) => {
                    s.throttle.pace(buf.len()).await;
                    s.next += buf.len() as u64;
                    s.sent += buf.len() as u64;
                    s.transfer.set(s.next);
                    Some((Ok(Bytes::from(buf)), s))
                }
                Err(e) => {
                    s.end = s.next;
                    Some((Err(e), s))
                }
            }
        })
    }
}

impl Drop for Sending {
    /// Journals how the download ended, once the response is done with
    /// (sent, or dropped when the client went away).
    fn drop(&mut self) {
        let complete = self.whole && self.sent == self.entry.size;
        let (tenant, partner, source) = (
            Arc::clone(&self.tenant),
            std::mem::take(&mut self.partner),
            std::mem::take(&mut self.source),
        );
        let (entry, sent) = (self.entry.clone(), self.sent);
        let record = move || {
            if let Err(e) =
                tenant.record_download(&partner, &entry, sent, complete, "https", &source)
            {
                tracing::warn!(error = %crate::error_chain(&e), "cannot journal an HTTPS download");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(record);
            }
            Err(_) => record(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(spec: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, spec.parse().unwrap());
        wanted_range(&headers, size, "\"x\"")
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(range("bytes=0-99", 1000), Ok(Some((0, 100))));
        assert_eq!(range("bytes=900-", 1000), Ok(Some((900, 1000))));
        assert_eq!(range("bytes=-100", 1000), Ok(Some((900, 1000))));
        assert_eq!(range("bytes=-5000", 1000), Ok(Some((0, 1000))));
        assert_eq!(range("bytes=990-2000", 1000), Ok(Some((990, 1000))));
        assert_eq!(range("bytes=1000-", 1000), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(range("bytes=5-1", 1000), Ok(None));
        assert_eq!(range("items=0-1", 1000), Ok(None));
    }
}
