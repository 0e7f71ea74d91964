//! `server.store` and `[store.s3]`: where content is kept.

use toml::Spanned;

use super::error::{Problem, Source};
use super::model::{S3Backend, StoreBackend};
use super::raw::StoreSection;
use super::values;

/// Reads the content store's settings; problems are located in `source`.
pub(super) fn store(
    source: &Source,
    url: &Option<Spanned<String>>,
    section: &Option<StoreSection>,
    problems: &mut Vec<Problem>,
) -> StoreBackend {
    let s3 = section.as_ref().and_then(|s| s.s3.as_ref());
    let Some(url) = url else {
        if let Some(s3) = s3 {
            problems.push(source.problem(
                Some(s3.span()),
                "store.s3",
                "`[store.s3]` is used only with `server.store = \"s3://BUCKET\"`".to_owned(),
            ));
        }
        return StoreBackend::Local;
    };
    let bucket = url.get_ref().strip_prefix("s3://").unwrap_or_default();
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !bucket_ok {
        problems.push(
            source.problem(
                Some(url.span()),
                "server.store",
                "expected `s3://BUCKET` (a bucket name of 3 to 63 lowercase letters, digits, `-` \
             or `.`; leave `store` out to keep content in each tenant's directory)"
                    .to_owned(),
            ),
        );
    }
    let Some(s3) = s3 else {
        return StoreBackend::S3(S3Backend {
            bucket: bucket.to_owned(),
            endpoint: None,
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
        });
    };
    let s3 = s3.get_ref();
    let endpoint = s3.endpoint.as_ref().and_then(|endpoint| {
        let text = endpoint.get_ref();
        let fine = (text.starts_with("http://") || text.starts_with("https://"))
            && text
                .split_once("://")
                .is_some_and(|(_, host)| !host.is_empty());
        if !fine {
            problems.push(source.problem(
                Some(endpoint.span()),
                "store.s3.endpoint",
                "expected `http://HOST:PORT` or `https://HOST:PORT`".to_owned(),
            ));
        }
        fine.then(|| text.trim_end_matches('/').to_owned())
    });
    let secret_access_key = values::secret(
        source,
        "store.s3",
        ("secret_access_key_file", &s3.secret_access_key_file),
        ("secret_access_key_env", &s3.secret_access_key_env),
        "the secret access key",
        problems,
    );
    let access_key_id = s3.access_key_id.as_ref().map(|id| id.get_ref().clone());
    let secret_given = s3.secret_access_key_file.is_some() || s3.secret_access_key_env.is_some();
    if access_key_id.is_some() != secret_given {
        let at = s3
            .access_key_id
            .as_ref()
            .or(s3.secret_access_key_file.as_ref())
            .or(s3.secret_access_key_env.as_ref());
        problems.push(
            source.problem(
                at.map(Spanned::span),
                "store.s3.access_key_id",
                "give both `access_key_id` and the secret access key (`secret_access_key_file` or \
             `secret_access_key_env`), or neither for unsigned requests"
                    .to_owned(),
            ),
        );
    }
    StoreBackend::S3(S3Backend {
        bucket: bucket.to_owned(),
        endpoint,
        region: s3
            .region
            .as_ref()
            .map_or_else(|| "us-east-1".to_owned(), |r| r.get_ref().clone()),
        access_key_id,
        secret_access_key,
    })
}
