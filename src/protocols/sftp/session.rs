//! One SFTP session: a reader that decodes requests and dispatches them, a
//! writer that sends replies, and one worker per open handle.
//!
//! OpenSSH clients keep up to 64 requests in flight. Requests on one handle
//! (read, write, close, fstat, readdir) go to that handle's worker in
//! arrival order, so a file is written and hashed in order; everything else
//! runs concurrently. The reader never waits for a reply to be sent (the
//! writer does that), so a client's window filling up cannot stall the
//! session; a semaphore bounds the requests in flight, and with it memory.
//!
//! A handle's worker is an async task: an open handle costs memory, not a
//! thread. The blocking part of each request (the file, the journal) is a
//! job on the hub's file threads (`tenant::pool`), which serve tenants in
//! turns, so one tenant's hundreds of handles or requests cannot starve
//! another's. Handles are capped per session and per tenant
//! (`limits.max_open_handles`).

mod handles;
mod outgoing;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use russh_sftp::protocol::{
    Attrs, ExtendedReply, File, FileAttributes, Handle, Name, OpenFlags, Packet, StatusCode,
    Version, Write,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::journal::{Entry, Mailbox};
use crate::store::Blob;
use crate::tenant::{
    FOLDERS, Hub, MailboxError, MailboxPath, PendingUpload, RECEIPTS, Special, Tenant, Way,
};
use handles::*;
pub use outgoing::Outgoing;
#[cfg(any(test, feature = "fuzzing"))]
pub use outgoing::Stream;

/// The largest read or write a client may ask for, advertised through
/// `limits@openssh.com` (OpenSSH then sends 255 KiB writes, not 32 KiB).
const MAX_IO: u32 = 255 << 10;
/// The largest request accepted: a full write plus its header.
const MAX_REQUEST: usize = MAX_IO as usize + 1024;
/// Larger than this, a length is not a request at all: the session ends.
const HARD_LIMIT: usize = 1 << 20;
/// Requests in flight per session.
const IN_FLIGHT: usize = 128;
/// Open handles per session.
const MAX_HANDLES: usize = 256;

/// Who the session serves.
pub struct Context {
    pub hub: Arc<Hub>,
    pub tenant: Arc<Tenant>,
    pub partner: String,
    pub peer: SocketAddr,
    /// The session's entry among the live sessions (limits, kicks).
    pub ticket: crate::tenant::Ticket,
}

/// How to tell the client the subsystem ended: scp (in its SFTP mode)
/// fails without an exit status, which must come before the channel closes.
pub struct Exit {
    pub handle: russh::server::Handle,
    pub channel: russh::ChannelId,
}

struct Shared {
    cx: Context,
    /// The open handles' queues; `None` once the session has ended, so that
    /// a handle an `OPEN` still in progress makes afterwards is refused
    /// instead of kept (with its worker) for ever.
    handles: Mutex<Option<HashMap<String, mpsc::UnboundedSender<Job>>>>,
    next_handle: AtomicU64,
    replies: mpsc::Sender<Reply>,
    /// Bytes of reply data read (or encoded) and not yet written, at most
    /// [`REPLY_BYTES`]: a client keeps up to 64 reads in flight, and 200
    /// sessions each with 64 reads' data queued took 60 MiB.
    reply_bytes: Arc<Semaphore>,
    /// Refused paths so far.
    refusals: AtomicU32,
    /// Where handle workers are spawned from the file threads.
    runtime: tokio::runtime::Handle,
}

/// A request for a handle's worker, with its in-flight permit.
struct Job {
    packet: Packet,
    _permit: OwnedSemaphorePermit,
}

/// Serves the subsystem until the client closes the channel. `exit` is
/// `None` only for the fuzzing harness, which has no SSH channel.
pub async fn run<R, O>(reader: R, out: O, cx: Context, exit: Option<Exit>)
where
    R: AsyncRead + Send,
    O: Outgoing,
{
    let mut reader = std::pin::pin!(reader);
    let (replies, outgoing) = mpsc::channel::<Reply>(256);
    let writer = tokio::spawn(write_loop(out, outgoing));
    let shared = Arc::new(Shared {
        cx,
        handles: Mutex::new(Some(HashMap::new())),
        next_handle: AtomicU64::new(1),
        replies,
        reply_bytes: Arc::new(Semaphore::new(REPLY_BYTES)),
        refusals: AtomicU32::new(0),
        runtime: tokio::runtime::Handle::current(),
    });
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    if let Err(e) = read_loop(&mut reader, &shared, &permits).await {
        tracing::debug!(peer = %shared.cx.peer, error = %e, "SFTP session ended");
    }
    // Dropping the queues ends the workers; an upload not closed is
    // discarded. An `OPEN` still in progress finds the session ended.
    shared
        .handles
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    drop(shared);
    // Every reply is sent; then the exit status, then EOF and the close.
    if let Ok(out) = writer.await {
        if let Some(exit) = exit {
            let _ = exit.handle.exit_status_request(exit.channel, 0).await;
        }
        out.finish().await;
    }
}

/// An encoded reply, holding its share of [`REPLY_BYTES`] until written.
type Reply = (Bytes, Option<OwnedSemaphorePermit>);

/// Bytes of replies queued per session (see `Shared::reply_bytes`).
const REPLY_BYTES: usize = 256 << 10;

/// Sends replies until every sender is gone; returns the output, still open.
/// A reply's share of the budget is given back once the connection has it.
async fn write_loop<O: Outgoing>(mut out: O, mut outgoing: mpsc::Receiver<Reply>) -> O {
    while let Some((reply, _budget)) = outgoing.recv().await {
        if out.send(reply).await.is_err() {
            break;
        }
    }
    out
}

async fn read_loop<R: AsyncRead + Unpin>(
    reader: &mut R,
    shared: &Arc<Shared>,
    permits: &Arc<Semaphore>,
) -> std::io::Result<()> {
    loop {
        let len = reader.read_u32().await? as usize;
        if len == 0 || len > HARD_LIMIT {
            return Err(std::io::Error::other(format!(
                "a request of {len} bytes is not SFTP"
            )));
        }
        let permit = Arc::clone(permits)
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        if len > MAX_REQUEST {
            // Too large to serve, small enough to skip: answer and go on.
            let mut head = [0u8; 5];
            reader.read_exact(&mut head).await?;
            let mut rest = reader.take((len - 5) as u64);
            tokio::io::copy(&mut rest, &mut tokio::io::sink()).await?;
            let id = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
            reply(
                shared,
                status(id, StatusCode::BadMessage, "request too large"),
                permit,
            )
            .await;
            continue;
        }
        let kind = reader.read_u8().await?;
        if kind == SSH_FXP_WRITE {
            match read_write(reader, len - 1).await? {
                Ok(write) => dispatch(shared, Packet::Write(write), permit).await,
                Err(id) => {
                    let why = "a malformed write";
                    reply(shared, status(id, StatusCode::BadMessage, why), permit).await;
                }
            }
            continue;
        }
        // Read into spare capacity: zeroing 255 KiB per write first cost
        // a measurable share of a large upload.
        let mut body = BytesMut::with_capacity(len);
        body.put_u8(kind);
        while body.len() < len {
            let missing = (len - body.len()) as u64;
            if (&mut *reader).take(missing).read_buf(&mut body).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let mut body = body.freeze();
        let id = body
            .get(1..5)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        // Requests are types 1 and 3 to 20 (SFTP v3) and 200 (extended).
        let known = matches!(body[0], 1 | 3..=20 | 200);
        let packet = match Packet::try_from(&mut body) {
            Ok(packet) if known => packet,
            Ok(_) => {
                let why = "not a request";
                reply(shared, status(id, StatusCode::BadMessage, why), permit).await;
                continue;
            }
            Err(e) => {
                let code = if known {
                    StatusCode::BadMessage
                } else {
                    StatusCode::OpUnsupported
                };
                reply(shared, status(id, code, &e.to_string()), permit).await;
                continue;
            }
        };
        dispatch(shared, packet, permit).await;
    }
}

/// The packet type of a write request (draft-ietf-secsh-filexfer-02).
const SSH_FXP_WRITE: u8 = 6;

/// Reads the rest (`rest` bytes) of an `SSH_FXP_WRITE` field by field, its
/// data straight into the buffer the upload is written from: decoding the
/// whole request as a packet copied every uploaded byte once more. A
/// malformed write is consumed whole and answered by its id (`Err`).
async fn read_write<R: AsyncRead + Unpin>(
    reader: &mut R,
    rest: usize,
) -> std::io::Result<Result<Write, u32>> {
    // Id, handle length, offset, data length.
    const FIXED: usize = 4 + 4 + 8 + 4;
    if rest < FIXED {
        let id = match rest >= 4 {
            true => reader.read_u32().await?,
            false => 0,
        };
        skip(reader, rest.saturating_sub(4)).await?;
        return Ok(Err(id));
    }
    let id = reader.read_u32().await?;
    let handle_len = reader.read_u32().await? as usize;
    let mut left = rest - 8;
    if handle_len > left - 12 {
        skip(reader, left).await?;
        return Ok(Err(id));
    }
    let mut handle = vec![0; handle_len];
    reader.read_exact(&mut handle).await?;
    let offset = reader.read_u64().await?;
    let data_len = reader.read_u32().await? as usize;
    left -= handle_len + 12;
    let Ok(handle) = String::from_utf8(handle) else {
        skip(reader, left).await?;
        return Ok(Err(id));
    };
    if data_len != left {
        skip(reader, left).await?;
        return Ok(Err(id));
    }
    let mut data = Vec::with_capacity(data_len);
    while data.len() < data_len {
        let missing = (data_len - data.len()) as u64;
        if (&mut *reader).take(missing).read_buf(&mut data).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(Ok(Write {
        id,
        handle,
        offset,
        data,
    }))
}

async fn skip<R: AsyncRead + Unpin>(reader: &mut R, n: usize) -> std::io::Result<()> {
    let copied =
        tokio::io::copy(&mut (&mut *reader).take(n as u64), &mut tokio::io::sink()).await?;
    match copied == n as u64 {
        true => Ok(()),
        false => Err(std::io::ErrorKind::UnexpectedEof.into()),
    }
}

async fn reply(shared: &Shared, packet: Packet, permit: OwnedSemaphorePermit) {
    send(shared, encode(packet), permit, Budget::Take).await;
}

/// A reply's share of [`REPLY_BYTES`].
enum Budget {
    /// Taken when the reply is sent, if it is large.
    Take,
    /// Taken for a batch of reads before their data was read (see
    /// `handles::work`); the batch's last reply carries it.
    Held(Option<OwnedSemaphorePermit>),
}

fn encode(packet: Packet) -> Option<Bytes> {
    Bytes::try_from(packet)
        .map_err(|e| tracing::error!(error = %e, "cannot encode an SFTP reply"))
        .ok()
}

/// Queues an encoded reply for the writer, with its share of the budget.
async fn send(
    shared: &Shared,
    bytes: Option<Bytes>,
    _permit: OwnedSemaphorePermit,
    budget: Budget,
) {
    let Some(bytes) = bytes else { return };
    // Small replies (statuses, handles) need no share: a session waiting
    // for budget must still be able to answer them.
    let budget = if let Budget::Held(held) = budget {
        held
    } else if bytes.len() > 4096 {
        let want = bytes.len().min(REPLY_BYTES) as u32;
        Arc::clone(&shared.reply_bytes)
            .acquire_many_owned(want)
            .await
            .ok()
    } else {
        None
    };
    let _ = shared.replies.send((bytes, budget)).await;
}

fn status(id: u32, code: StatusCode, message: &str) -> Packet {
    Packet::status(id, code, message, "en")
}

fn ok(id: u32) -> Packet {
    status(id, StatusCode::Ok, "Ok")
}

/// The SFTP status for a mailbox error.
fn failure(id: u32, error: &MailboxError) -> Packet {
    let code = match error {
        MailboxError::NotFound(_) => StatusCode::NoSuchFile,
        // SFTP v3 has no "file exists"; OpenSSH's server answers a mkdir
        // of an existing folder with a plain failure too.
        MailboxError::InvalidPath(_) | MailboxError::PermissionDenied(_) => {
            StatusCode::PermissionDenied
        }
        _ => StatusCode::Failure,
    };
    status(id, code, &crate::error_chain(error))
}

fn handle_of(packet: &Packet) -> Option<&str> {
    match packet {
        Packet::Read(r) => Some(&r.handle),
        Packet::Write(w) => Some(&w.handle),
        Packet::Close(c) => Some(&c.handle),
        Packet::Fstat(f) => Some(&f.handle),
        Packet::FSetStat(f) => Some(&f.handle),
        Packet::ReadDir(r) => Some(&r.handle),
        _ => None,
    }
}

async fn dispatch(shared: &Arc<Shared>, packet: Packet, permit: OwnedSemaphorePermit) {
    let id = packet.get_request_id();
    if let Packet::Init(_) = packet {
        let mut version = Version::new();
        for (name, value) in [
            ("posix-rename@openssh.com", "1"),
            ("statvfs@openssh.com", "2"),
            ("fsync@openssh.com", "1"),
            ("limits@openssh.com", "1"),
        ] {
            version.extensions.insert(name.into(), value.into());
        }
        reply(shared, Packet::Version(version), permit).await;
        return;
    }
    let fsync_handle = match &packet {
        Packet::Extended(e) if e.request == "fsync@openssh.com" => {
            russh_sftp::de::from_bytes::<russh_sftp::extensions::FsyncExtension>(&mut Bytes::from(
                e.data.clone(),
            ))
            .ok()
            .map(|f| f.handle)
        }
        _ => None,
    };
    if let Some(handle) = handle_of(&packet).map(str::to_owned).or(fsync_handle) {
        let queue = shared
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|handles| handles.get(&handle).cloned());
        match queue {
            Some(queue) => {
                let job = Job {
                    packet,
                    _permit: permit,
                };
                if let Err(mpsc::error::SendError(job)) = queue.send(job) {
                    reply(
                        shared,
                        status(id, StatusCode::Failure, "handle closed"),
                        job._permit,
                    )
                    .await;
                }
            }
            None => {
                reply(
                    shared,
                    status(id, StatusCode::Failure, "no such handle"),
                    permit,
                )
                .await;
            }
        }
        return;
    }
    if let Packet::Open(open) = &packet
        && let Some(handle) = open_in_memory(shared, open)
    {
        reply(shared, Packet::Handle(Handle { id, handle }), permit).await;
        return;
    }
    // Everything else may touch the journal: on the file threads, in
    // parallel, in the tenant's turn.
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let job = Arc::clone(&shared);
        // A bug must not leave the client waiting for this request forever.
        let answer = on_files(&shared, move || request(&job, packet))
            .await
            .unwrap_or_else(|| status(id, StatusCode::Failure, "internal error"));
        reply(&shared, answer, permit).await;
    });
}

/// Runs blocking work of this session on the hub's file threads, in its
/// tenant's turn; `None` if it panicked.
async fn on_files<T: Send + 'static>(
    shared: &Shared,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let tenant = shared.cx.tenant.name().to_owned();
    shared.cx.hub.files().run(&tenant, work).await
}

/// Requests that do not name a handle.
fn request(shared: &Arc<Shared>, packet: Packet) -> Packet {
    let cx = &shared.cx;
    let id = packet.get_request_id();
    let result = match packet {
        Packet::RealPath(r) => Ok(Packet::Name(Name {
            id,
            files: vec![File {
                filename: normalize(&r.path),
                longname: String::new(),
                attrs: FileAttributes::empty(),
            }],
        })),
        Packet::Stat(s) => stat(cx, &s.path).map(|attrs| Packet::Attrs(Attrs { id, attrs })),
        Packet::Lstat(s) => stat(cx, &s.path).map(|attrs| Packet::Attrs(Attrs { id, attrs })),
        Packet::SetStat(s) => stat(cx, &s.path).map(|_| ok(id)),
        Packet::Open(o) => {
            open(shared, &o.filename, o.pflags).map(|handle| Packet::Handle(Handle { id, handle }))
        }
        Packet::OpenDir(o) => {
            open_dir(shared, &o.path).map(|handle| Packet::Handle(Handle { id, handle }))
        }
        Packet::Remove(r) => remove(cx, &r.filename).map(|()| ok(id)),
        Packet::Rename(r) => rename(cx, &r.oldpath, &r.newpath).map(|()| ok(id)),
        Packet::MkDir(m) => parse(&m.path)
            .and_then(|path| cx.tenant.make_folder(&cx.partner, &path))
            .map(|()| ok(id)),
        Packet::RmDir(r) => parse(&r.path)
            .and_then(|path| cx.tenant.remove_folder(&cx.partner, &path))
            .map(|()| ok(id)),
        Packet::ReadLink(_) | Packet::Symlink(_) => {
            return status(id, StatusCode::OpUnsupported, "links are not supported");
        }
        Packet::Extended(e) => return extended(cx, id, &e.request, e.data),
        _ => return status(id, StatusCode::BadMessage, "not a request"),
    };
    result.unwrap_or_else(|e| {
        if let MailboxError::InvalidPath(why) = &e
            && shared.refusals.fetch_add(1, Ordering::Relaxed) < JOURNALED_REFUSALS
        {
            cx.tenant
                .refused_path(&cx.partner, "sftp", &cx.peer.to_string(), why);
        }
        failure(id, &e)
    })
}

/// Refused paths journaled per session: enough to show an attempt, not so
/// many that a client can flood the journal.
const JOURNALED_REFUSALS: u32 = 16;

fn extended(cx: &Context, id: u32, request: &str, data: Vec<u8>) -> Packet {
    let mut data = Bytes::from(data);
    match request {
        "limits@openssh.com" => {
            let limits = russh_sftp::extensions::LimitsExtension {
                max_packet_len: MAX_REQUEST as u64,
                max_read_len: u64::from(MAX_IO),
                max_write_len: u64::from(MAX_IO),
                max_open_handles: MAX_HANDLES as u64,
            };
            match russh_sftp::ser::to_bytes(&limits) {
                Ok(bytes) => Packet::ExtendedReply(ExtendedReply {
                    id,
                    data: bytes.to_vec(),
                }),
                Err(e) => status(id, StatusCode::Failure, &e.to_string()),
            }
        }
        "posix-rename@openssh.com" => {
            #[derive(serde::Deserialize)]
            struct Paths {
                old: String,
                new: String,
            }
            match russh_sftp::de::from_bytes::<Paths>(&mut data) {
                Ok(p) => rename(cx, &p.old, &p.new).map_or_else(|e| failure(id, &e), |()| ok(id)),
                Err(e) => status(id, StatusCode::BadMessage, &e.to_string()),
            }
        }
        "statvfs@openssh.com" => statvfs(cx, id),
        _ => status(
            id,
            StatusCode::OpUnsupported,
            &format!("{request} is not supported"),
        ),
    }
}

/// `statvfs@openssh.com` (`df` in OpenSSH's `sftp`): the partner's quota
/// as the size, what it keeps as used, in 4 KiB blocks. Never the host's
/// file system, which is shared by every tenant and none of a partner's
/// business: without a quota, every figure is zero.
fn statvfs(cx: &Context, id: u32) -> Packet {
    const BLOCK: u64 = 4096;
    let (quota, used) = match cx.tenant.quota_usage(&cx.partner) {
        Ok(usage) => usage.unwrap_or((0, 0)),
        Err(e) => return status(id, StatusCode::Failure, &e.to_string()),
    };
    let (blocks, free) = (quota / BLOCK, quota.saturating_sub(used) / BLOCK);
    // bsize, frsize, blocks, bfree, bavail, files, ffree, favail, fsid,
    // flag (ST_NOSUID), namemax.
    let mut out = BytesMut::new();
    for value in [BLOCK, BLOCK, blocks, free, free, 0, 0, 0, 0, 2, 255] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    Packet::ExtendedReply(ExtendedReply {
        id,
        data: out.to_vec(),
    })
}

/// Resolves `.` and `..` lexically, never above `/`: what `realpath` answers.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

fn parse(path: &str) -> Result<MailboxPath, MailboxError> {
    // Relative paths are relative to the root of the view.
    MailboxPath::parse(path)
}

const DIR_MODE: u32 = 0o040_755;
const FILE_MODE: u32 = 0o100_644;

fn dir_attrs() -> FileAttributes {
    FileAttributes {
        permissions: Some(DIR_MODE),
        size: Some(0),
        ..FileAttributes::empty()
    }
}

fn file_attrs(entry: &Entry) -> FileAttributes {
    let mtime = (entry.created_at.0 / 1000).clamp(0, i64::from(u32::MAX)) as u32;
    FileAttributes {
        size: Some(entry.size),
        permissions: Some(FILE_MODE),
        atime: Some(mtime),
        mtime: Some(mtime),
        ..FileAttributes::empty()
    }
}

fn stat(cx: &Context, path: &str) -> Result<FileAttributes, MailboxError> {
    match cx.tenant.resolve(&cx.partner, parse(path)?)? {
        MailboxPath::Root
        | MailboxPath::Folder(_)
        | MailboxPath::Subfolder(..)
        | MailboxPath::Special(_) => Ok(dir_attrs()),
        MailboxPath::SpecialFile(Special::Receipts, name) => Ok(generated_attrs(
            cx.tenant.receipt(&cx.partner, &name)?.len(),
        )),
        MailboxPath::SpecialFile(Special::Resend, name) => {
            Err(MailboxError::NotFound(format!("/resend/{name}")))
        }
        MailboxPath::File(mailbox, name) => {
            if let Some(entry) = cx.tenant.entry(&cx.partner, mailbox, &name)? {
                return Ok(file_attrs(&entry));
            }
            if let Some(content) = cx.tenant.checksum_file(&cx.partner, mailbox, &name)? {
                return Ok(generated_attrs(content.len()));
            }
            // An interrupted upload shows its size to its sender, who
            // resumes from there.
            match cx.tenant.suspended_size(&cx.partner, &name)? {
                Some(size) if mailbox == Mailbox::Inbox => Ok(FileAttributes {
                    size: Some(size),
                    permissions: Some(FILE_MODE),
                    ..FileAttributes::empty()
                }),
                _ => Err(MailboxError::NotFound(path.to_owned())),
            }
        }
    }
}

fn remove(cx: &Context, path: &str) -> Result<(), MailboxError> {
    match parse(path)? {
        MailboxPath::File(mailbox, name) => cx.tenant.hide(&cx.partner, mailbox, &name),
        _ => Err(MailboxError::PermissionDenied(format!(
            "{path} is a folder"
        ))),
    }
}

fn rename(cx: &Context, old: &str, new: &str) -> Result<(), MailboxError> {
    match (parse(old)?, parse(new)?) {
        (MailboxPath::File(from_box, from), MailboxPath::File(to_box, to))
            if from_box == to_box =>
        {
            cx.tenant.rename(&cx.partner, from_box, &from, &to)
        }
        (MailboxPath::File(..), MailboxPath::File(..)) => Err(MailboxError::PermissionDenied(
            "files cannot move between /inbox and /outbox".into(),
        )),
        _ => Err(MailboxError::PermissionDenied(
            "only files can be renamed".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realpath_stays_in_the_root() {
        assert_eq!(normalize("."), "/");
        assert_eq!(normalize("../../etc/passwd"), "/etc/passwd");
        assert_eq!(normalize("/inbox/./a/../b"), "/inbox/b");
    }

    #[test]
    fn download_ranges_merge() {
        let mut read = vec![(0u64, 10u64), (20, 30), (10, 20), (40, 50)];
        merge(&mut read);
        assert_eq!(read, [(0, 30), (40, 50)]);
    }
}
