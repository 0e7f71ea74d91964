//! Placing one file on a partner's server: written under a temporary name,
//! continued rather than restarted after a dropped connection, checked, and
//! only then renamed to its real name, so that the partner never sees a
//! partial file under the name it waits for.

use std::io::{Read, Seek, SeekFrom};

use super::{ConnectorError, Remote, Result, join};
use crate::config::Push;
use crate::usage::Throttle;

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
    /// How long the successful attempt took, from connecting to the checked
    /// rename; the caller, which connects, sets it.
    pub seconds: f64,
}

/// What is pushed: the name on the partner's server, and the size and
/// SHA-256 it is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub name: &'a str,
    pub size: u64,
    pub sha256: &'a str,
}

/// What the attempts of one push learn about the partner's server, carried
/// from one attempt to the next.
#[derive(Debug, Default, Clone, Copy)]
pub struct Attempts {
    /// An earlier attempt of this delivery may have left bytes behind: only
    /// then is a temporary file continued, and a finished file under the
    /// real name taken as this delivery's.
    pub retry: bool,
    /// The size of the temporary file the last attempt found on the server
    /// (0 when it found none), once it got that far: it grows from attempt
    /// to attempt while they make progress.
    pub kept: Option<u64>,
    /// Where the last write stood confirmed by the server (see
    /// [`Remote::put`]). `None` after a restart: the resume then starts
    /// [`Remote::resume_margin`] bytes before the end of the partial file.
    pub confirmed: Option<u64>,
}

/// Pushes `content` (the bytes `file` describes) into the push directory,
/// continuing what the earlier `attempts` left on the server.
pub fn push_file<C: Read + Seek>(
    remote: &mut dyn Remote,
    push: &Push,
    file: &Outgoing<'_>,
    content: &mut C,
    attempts: &mut Attempts,
    throttle: Option<&Throttle>,
) -> Result<PushReport> {
    let Outgoing { name, size, sha256 } = *file;
    let retry = attempts.retry;
    let path = join(&push.to, name);
    let temp = format!("{path}{}", push.temp_suffix);
    let mut report = PushReport {
        server: remote.target().to_owned(),
        path: path.clone(),
        size,
        resumed_from: 0,
        verified_by: "size",
        already_there: false,
        seconds: 0.0,
    };
    let temp_size = remote.size(&temp)?;
    if retry && temp_size.is_none() && remote.size(&path)? == Some(size) {
        report.verified_by = verify_hash(remote, &path, sha256)?;
        report.already_there = true;
        return Ok(report);
    }
    attempts.kept = Some(temp_size.unwrap_or(0));
    let offset = match temp_size {
        Some(kept) if retry && kept <= size => match attempts.confirmed {
            Some(confirmed) => kept.min(confirmed),
            None => kept.saturating_sub(remote.resume_margin()),
        },
        _ => 0,
    };
    content
        .seek(SeekFrom::Start(offset))
        .map_err(|e| ConnectorError::Local(e.to_string()))?;
    report.resumed_from = offset;
    let mut source = Paced(content.take(size - offset), throttle);
    remote.put(&temp, offset, &mut source, &mut attempts.confirmed)?;
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

/// The bytes of a push, paced to the tenant's and partner's download
/// rates; with the test fault `push.slow` each read waits a little, so that
/// a test can stop ferry mid-transfer.
struct Paced<'a, R>(R, Option<&'a Throttle>);

impl<R: Read> Read for Paced<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if crate::fault::check("push.slow").is_err() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let n = self.0.read(buf)?;
        if let Some(throttle) = self.1 {
            throttle.pace_blocking(n);
        }
        Ok(n)
    }
}
