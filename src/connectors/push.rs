//! Placing one file on a partner's server: written under a temporary name,
//! continued rather than restarted after a dropped connection, checked, and
//! only then renamed to its real name, so that the partner never sees a
//! partial file under the name it waits for.

use std::io::{Read, Seek, SeekFrom};

use super::{ConnectorError, Remote, Result, join};
use crate::config::Push;

/// What a push did, for the journal.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub server: String,
    pub path: String,
    pub size: u64,
    /// Where the write started: more than 0 when an earlier attempt's bytes
    /// were kept.
    pub resumed_from: u64,
    /// `sha256` when the server computed the hash, `size` otherwise.
    pub verified_by: &'static str,
    /// An earlier attempt had finished on the server (the rename happened)
    /// but ferry had not recorded it.
    pub already_there: bool,
}

/// Pushes `content` (`size` bytes with SHA-256 `sha256`) as `name` into the
/// push directory. `retry` says an earlier attempt of this delivery may
/// have left bytes behind: only then is a temporary file continued, and a
/// finished file under the real name taken as this delivery's.
pub fn push_file<C: Read + Seek>(
    remote: &mut dyn Remote,
    push: &Push,
    name: &str,
    content: &mut C,
    size: u64,
    sha256: &str,
    retry: bool,
) -> Result<PushReport> {
    let path = join(&push.to, name);
    let temp = format!("{path}{}", push.temp_suffix);
    let mut report = PushReport {
        server: remote.target().to_owned(),
        path: path.clone(),
        size,
        resumed_from: 0,
        verified_by: "size",
        already_there: false,
    };
    let temp_size = remote.size(&temp)?;
    if retry && temp_size.is_none() && remote.size(&path)? == Some(size) {
        report.verified_by = verify_hash(remote, &path, sha256)?;
        report.already_there = true;
        return Ok(report);
    }
    let offset = match temp_size {
        Some(kept) if retry && kept <= size => kept,
        _ => 0,
    };
    content
        .seek(SeekFrom::Start(offset))
        .map_err(|e| ConnectorError::Local(e.to_string()))?;
    report.resumed_from = offset;
    remote.put(&temp, offset, &mut content.take(size - offset))?;
    let written = remote.size(&temp)?;
    if written != Some(size) {
        // Whatever is there is not this file: the next attempt starts over.
        let _ = remote.delete(&temp);
        return Err(ConnectorError::Verify {
            target: remote.target().to_owned(),
            path: temp,
            why: format!("the server holds {written:?} bytes, ferry sent {size}"),
        });
    }
    report.verified_by = match verify_hash(remote, &temp, sha256) {
        Ok(by) => by,
        Err(e) => {
            let _ = remote.delete(&temp);
            return Err(e);
        }
    };
    remote.rename(&temp, &path)?;
    match remote.size(&path)? {
        Some(found) if found == size => Ok(report),
        found => Err(ConnectorError::Verify {
            target: remote.target().to_owned(),
            path,
            why: format!("after the rename the server holds {found:?} bytes, expected {size}"),
        }),
    }
}

/// Compares the server's SHA-256 of `path` with ours, when it can give one.
fn verify_hash(remote: &mut dyn Remote, path: &str, sha256: &str) -> Result<&'static str> {
    match remote.sha256(path)? {
        None => Ok("size"),
        Some(theirs) if theirs.eq_ignore_ascii_case(sha256) => Ok("sha256"),
        Some(theirs) => Err(ConnectorError::Verify {
            target: remote.target().to_owned(),
            path: path.to_owned(),
            why: format!("the server computes SHA-256 {theirs}, ferry sent {sha256}"),
        }),
    }
}
