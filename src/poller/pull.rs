//! One poll of a partner's server: list the pull directory, take the files
//! that match and are stable, ingest each one (recorded with its remote key
//! in the same journal transaction), then deal with the source as the
//! configuration says. A file already recorded is never fetched again; if a
//! crash came between its ingest and its disposition, the disposition is
//! done on the next poll.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use crate::config::{Disposition, Pull, Stable};
use crate::connectors::{Remote, RemoteFile, join};
use crate::journal::{MessageId, PulledKey};
use crate::store::ContentHash;
use crate::tenant::{MailboxPath, PendingUpload, Tenant};
use crate::usage::{Throttle, Way};

/// What a poll remembers until the next one: the size and time each file
/// had, for the `unchanged` rule, and the bytes of fetches that were cut.
/// Lost on restart, which costs one poll and a fetch from the start.
#[derive(Default)]
pub struct PollMemory {
    seen: HashMap<String, (u64, Option<i64>)>,
    /// Fetches cut short, by remote path, size and time: the next poll
    /// continues one from where it stopped, if the file is still the same.
    partial: HashMap<(String, u64, Option<i64>), PendingUpload>,
    /// The last refused connection that was journaled, so that a server
    /// refused on every poll is journaled once.
    pub(super) last_refusal: Option<String>,
}

/// What one poll did.
#[derive(Debug, Default)]
pub struct PullReport {
    pub listed: usize,
    pub ingested: Vec<(String, MessageId)>,
    /// Files seen for the first time or still changing.
    pub waiting: usize,
    /// Problems with single files; the poll went on with the others.
    pub errors: Vec<String>,
}

/// Polls `pull.from` on `remote` once for `partner` of `tenant`.
pub fn poll_source(
    remote: &mut dyn Remote,
    tenant: &Tenant,
    partner: &str,
    pull: &Pull,
    memory: &mut PollMemory,
) -> crate::connectors::Result<PullReport> {
    let files = remote.list(&pull.from)?;
    let mut report = PullReport {
        listed: files.len(),
        ..PullReport::default()
    };
    let (stable, waiting) = memory.stable(pull, &files);
    report.waiting = waiting;
    // A partial fetch of a file that changed or went away is of no use.
    memory.partial.retain(|(path, size, modified), _| {
        files.iter().any(|f| {
            join(&pull.from, &f.name) == *path && f.size == *size && f.modified == *modified
        })
    });
    for file in stable {
        match pull_one(remote, tenant, partner, pull, file, &mut memory.partial) {
            Ok(Some(message)) => report.ingested.push((file.name.clone(), message)),
            Ok(None) => {}
            Err(e) => report.errors.push(format!("{}: {e}", file.name)),
        }
    }
    Ok(report)
}

impl PollMemory {
    /// The files of a listing that pass the stable rule, and how many
    /// wanted ones do not yet; remembers this listing for the next call.
    pub(super) fn stable<'a>(
        &mut self,
        pull: &Pull,
        files: &'a [RemoteFile],
    ) -> (Vec<&'a RemoteFile>, usize) {
        let names: HashSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
        let mut seen = HashMap::new();
        let mut stable = Vec::new();
        for file in files {
            if !wanted(pull, &file.name) {
                continue;
            }
            seen.insert(file.name.clone(), (file.size, file.modified));
            let ok = match pull.stable {
                Stable::Unchanged => self.seen.get(&file.name) == Some(&(file.size, file.modified)),
                Stable::DoneFile => names.contains(format!("{}.done", file.name).as_str()),
                Stable::Sidecar => names.contains(format!("{}.sha256", file.name).as_str()),
            };
            if ok {
                stable.push(file);
            }
        }
        let waiting = seen.len() - stable.len();
        self.seen = seen;
        (stable, waiting)
    }
}

/// Whether a remote name is one to pull: it matches a pattern (or there are
/// none), and it is not a completion marker of the stable rule.
pub(super) fn wanted(pull: &Pull, name: &str) -> bool {
    let marker = match pull.stable {
        Stable::DoneFile => name.ends_with(".done"),
        Stable::Sidecar => name.ends_with(".sha256"),
        Stable::Unchanged => false,
    };
    // Files renamed in place by an earlier pull are done with.
    let disposed =
        matches!(&pull.then, Disposition::Suffix(suffix) if name.ends_with(suffix.as_str()));
    !marker
        && !disposed
        && (pull.patterns.is_empty() || pull.patterns.iter().any(|p| p.is_match(name)))
}

/// Pulls one stable file unless it was pulled before. Returns the new message.
fn pull_one(
    remote: &mut dyn Remote,
    tenant: &Tenant,
    partner: &str,
    pull: &Pull,
    file: &RemoteFile,
    partial: &mut HashMap<(String, u64, Option<i64>), PendingUpload>,
) -> Result<Option<MessageId>, String> {
    let path = join(&pull.from, &file.name);
    let key = PulledKey {
        tenant: tenant.name().to_owned(),
        partner: partner.to_owned(),
        path: path.clone(),
        size: file.size,
        modified: file.modified,
    };
    let journal = tenant.journal();
    if let Some(pulled) = journal.pulled(&key).map_err(|e| crate::error_chain(&e))? {
        if !pulled.disposed && pull.then != Disposition::Leave {
            dispose(remote, tenant, pull, &key, &file.name)?;
        }
        return Ok(None);
    }
    let expected = match pull.stable {
        Stable::Sidecar => Some(read_sidecar(remote, &format!("{path}.sha256"))?),
        _ => None,
    };
    let target = MailboxPath::inbox_file(&file.name).map_err(|e| e.to_string())?;
    let identity = (path.clone(), file.size, file.modified);
    let mut upload = match partial.remove(&identity) {
        Some(upload) => upload,
        None => tenant
            .begin_upload(partner, &target)
            .map_err(|e| crate::error_chain(&e))?,
    };
    let protocol = format!(
        "{}-pull",
        remote.target().split(':').next().unwrap_or("remote")
    );
    let source = format!("{}{}", remote.target(), absolute(&path));
    let resumed_from = upload.size();
    if resumed_from > 0 {
        tracing::info!(path, resumed_from, "continuing a fetch that was cut");
    }
    let began = std::time::Instant::now();
    let throttle = tenant.throttle(partner, Way::Up);
    let copied = remote.get(&path, resumed_from, &mut Cut::new(&mut upload, throttle));
    let size = upload.size();
    match copied {
        Ok(_) if size == file.size => {}
        Ok(_) => {
            // The file changed while it was read: take it on a later poll.
            let why = format!("the server listed {} bytes and sent {size}", file.size);
            tenant.abort(
                upload,
                &protocol,
                &source,
                &std::io::Error::other(why.clone()),
            );
            return Err(why);
        }
        Err(e) if size > resumed_from && size < file.size => {
            // The bytes so far are kept (invisible) for the next poll.
            partial.insert(identity, upload);
            return Err(format!(
                "{} (the next poll continues from byte {size})",
                crate::error_chain(&e)
            ));
        }
        Err(e) => {
            tenant.abort(upload, &protocol, &source, &e);
            return Err(crate::error_chain(&e));
        }
    }
    let ingested = tenant
        .commit_pulled(upload, &protocol, &source, &key, expected.as_ref())
        .map_err(|e| crate::error_chain(&e))?;
    crate::metrics::metrics().transfer(tenant.name(), &protocol, began.elapsed().as_secs_f64());
    tracing::info!(tenant = tenant.name(), partner, path, size, message = %ingested.message, "pulled");
    if pull.then != Disposition::Leave {
        dispose(remote, tenant, pull, &key, &file.name)?;
    }
    Ok(Some(ingested.message))
}

/// The sink of a fetch: paced to the tenant's and partner's upload rates.
/// With the test fault `pull.cut`, the first fetch of the process fails
/// after 1 MiB, as a dropped connection would.
struct Cut<'a> {
    sink: &'a mut PendingUpload,
    cut_at: Option<u64>,
    throttle: Throttle,
}

impl<'a> Cut<'a> {
    fn new(sink: &'a mut PendingUpload, throttle: Throttle) -> Cut<'a> {
        let cut_at = crate::fault::once("pull.cut").then_some(1 << 20);
        Cut {
            sink,
            cut_at,
            throttle,
        }
    }
}

impl Write for Cut<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(at) = self.cut_at {
            let room = at.saturating_sub(self.sink.size());
            if room == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "injected fault `pull.cut` (FERRY_FAULTS)",
                ));
            }
            let n = buf.len().min(room as usize);
            return self.sink.write(&buf[..n]);
        }
        let n = self.sink.write(buf)?;
        self.throttle.pace_blocking(n);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.sink.flush()
    }
}

fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// The hash a `NAME.sha256` sidecar names (sha256sum format: the first word).
fn read_sidecar(remote: &mut dyn Remote, path: &str) -> Result<ContentHash, String> {
    let mut text = Limited(Vec::new());
    remote
        .get(path, 0, &mut text)
        .map_err(|e| crate::error_chain(&e))?;
    let text = String::from_utf8_lossy(&text.0);
    text.split_whitespace()
        .next()
        .and_then(|word| word.to_ascii_lowercase().parse().ok())
        .ok_or_else(|| format!("{path} does not start with a SHA-256 in hex"))
}

/// A sink that refuses more than a sidecar can hold.
struct Limited(Vec<u8>);

impl Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > 4096 {
            return Err(std::io::Error::other("a sidecar of more than 4 KiB"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Deals with a pulled file's source and records that it was done.
pub(super) fn dispose(
    remote: &mut dyn Remote,
    tenant: &Tenant,
    pull: &Pull,
    key: &PulledKey,
    name: &str,
) -> Result<(), String> {
    let path = &key.path;
    let done = match &pull.then {
        Disposition::Leave => return Ok(()),
        Disposition::Delete => remote
            .delete(path)
            .map(|()| serde_json::json!({ "deleted": path })),
        Disposition::Move(dir) => {
            let to = join(dir, name);
            remote
                .rename(path, &to)
                .map(|()| serde_json::json!({ "moved": path, "to": to }))
        }
        Disposition::Suffix(suffix) => {
            let to = format!("{path}{suffix}");
            remote
                .rename(path, &to)
                .map(|()| serde_json::json!({ "moved": path, "to": to }))
        }
    };
    // Marker files go with the file they mark.
    let marker = match pull.stable {
        Stable::DoneFile => Some(format!("{path}.done")),
        Stable::Sidecar => Some(format!("{path}.sha256")),
        Stable::Unchanged => None,
    };
    let detail = done.map_err(|e| crate::error_chain(&e))?;
    if let Some(marker) = marker {
        let _ = remote.delete(&marker);
    }
    tenant
        .journal()
        .mark_disposed(key, &detail)
        .map_err(|e| crate::error_chain(&e))
}
