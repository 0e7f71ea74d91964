//! The web pages ferry serves: the partner web client (on HTTPS
//! listeners, `protocols::https`) and, later, the operators' console (on
//! the admin listener). Server-rendered with askama, whose templates are
//! checked when ferry is compiled and escape every value they print;
//! one stylesheet, no inline script or style, so that the
//! `Content-Security-Policy` below can forbid both.

use askama::Template;
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::tenant::Listing;

/// Headers every page and file answer carries: no guessing of content
/// types, no framing by another site, nothing loaded from elsewhere and no
/// inline script, no referrer sent on.
pub const SECURITY_HEADERS: &[(HeaderName, &str)] = &[
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::REFERRER_POLICY, "same-origin"),
];

/// One row of a folder's page.
struct Row {
    name: String,
    href: String,
    folder: bool,
    size: String,
    sha256: String,
    when: String,
}

#[derive(Template)]
#[template(path = "listing.html")]
struct ListingPage<'a> {
    title: &'a str,
    rows: Vec<Row>,
}

/// A folder's content as a page of links (the file API's answer to a
/// browser; `Accept: application/json` gets JSON instead). `shown` is the
/// folder's path as the partner sees it, ending in `/`.
pub fn listing_page(shown: &str, listing: &Listing) -> Response {
    let base = encode_path(shown);
    let link = |name: &str| format!("{base}{}", encode_segment(name));
    let mut rows: Vec<Row> = listing
        .folders
        .iter()
        .map(|folder| Row {
            name: format!("{folder}/"),
            href: format!("{}/", link(folder)),
            folder: true,
            size: String::new(),
            sha256: String::new(),
            when: String::new(),
        })
        .collect();
    rows.extend(listing.files.iter().map(|file| Row {
        name: file.name.clone(),
        href: link(&file.name),
        folder: false,
        size: file.size.to_string(),
        sha256: file.hash.to_string(),
        when: when(file.created_at),
    }));
    render(&ListingPage { title: shown, rows })
}

/// `name` as one segment of a URL path (everything but unreserved
/// characters encoded), for links and `Location` headers.
pub fn encode_segment(name: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// A path (`batch/a b.csv`, `/outbox/`) with each segment encoded and its
/// separators kept.
pub fn encode_path(path: &str) -> String {
    path.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// Compares two tokens (session ids, CSRF tokens) in time that does not
/// depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A journal time as pages show it: `2026-12-07 08:25:18 UTC`.
pub fn when(at: crate::journal::Timestamp) -> String {
    let text = at.to_string();
    match text.get(..19) {
        Some(day_and_time) => format!("{} UTC", day_and_time.replace('T', " ")),
        None => text,
    }
}

/// A byte count as pages show it: `512 bytes`, `1.5 KiB`, `3.2 GiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The one stylesheet, compiled in.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/ferry.css"),
    )
        .into_response()
}

/// The partner web client's one script (upload progress), compiled in.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/ferry.js"),
    )
        .into_response()
}

/// A page, or a 500 that says the template failed (it cannot, short of a
/// bug: askama checks templates when ferry is compiled).
fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be made",
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_times() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert_eq!(
            when(crate::journal::Timestamp(1_795_316_645_123)),
            "2026-11-22 03:04:05 UTC"
        );
        assert_eq!(encode_path("/outbox/a b.csv"), "/outbox/a%20b.csv");
    }

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(5 << 20), "5.0 MiB");
        assert_eq!(size(3 << 40), "3.0 TiB");
    }
}
