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

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File, FileAttributes, Handle, Name, OpenFlags, Packet, StatusCode,
    Version,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::journal::{Entry, Mailbox};
use crate::store::Blob;
use crate::tenant::{
    FOLDERS, Hub, MailboxError, MailboxPath, PendingUpload, RECEIPTS, Special, Tenant, Way,
};

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
    pub _ticket: crate::tenant::Ticket,
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
    replies: mpsc::Sender<Bytes>,
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
pub async fn run<S>(stream: S, cx: Context, exit: Option<Exit>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(stream);
    let (replies, outgoing) = mpsc::channel::<Bytes>(256);
    let writer = tokio::spawn(write_loop(writer, outgoing));
    let shared = Arc::new(Shared {
        cx,
        handles: Mutex::new(Some(HashMap::new())),
        next_handle: AtomicU64::new(1),
        replies,
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
    // Every reply is written; then the exit status, then EOF; dropping
    // the stream closes the channel.
    if let Ok(mut writer) = writer.await {
        if let Some(exit) = exit {
            let _ = exit.handle.exit_status_request(exit.channel, 0).await;
        }
        let _ = writer.shutdown().await;
    }
    drop(reader);
}

/// Writes replies until every sender is gone; returns the writer, still open.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut outgoing: mpsc::Receiver<Bytes>,
) -> W {
    while let Some(first) = outgoing.recv().await {
        if writer.write_all(&first).await.is_err() {
            break;
        }
        // Send what else is ready before flushing: fewer, fuller SSH packets.
        while let Ok(more) = outgoing.try_recv() {
            if writer.write_all(&more).await.is_err() {
                break;
            }
        }
        if writer.flush().await.is_err() {
            break;
        }
    }
    writer
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
        let mut body = BytesMut::zeroed(len);
        reader.read_exact(&mut body).await?;
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

async fn reply(shared: &Shared, packet: Packet, _permit: OwnedSemaphorePermit) {
    match Bytes::try_from(packet) {
        Ok(bytes) => {
            let _ = shared.replies.send(bytes).await;
        }
        Err(e) => tracing::error!(error = %e, "cannot encode an SFTP reply"),
    }
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
        Packet::MkDir(_) | Packet::RmDir(_) => Err(MailboxError::PermissionDenied(
            "a mailbox has fixed folders: /inbox and /outbox".into(),
        )),
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

/// `statvfs@openssh.com`: the file system of the data directory, so that
/// clients that check free space before an upload see the real figure.
fn statvfs(cx: &Context, id: u32) -> Packet {
    match rustix::fs::statvfs(&cx.hub.config().data_dir) {
        Ok(s) => {
            let mut out = BytesMut::new();
            for value in [
                s.f_bsize, s.f_frsize, s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree,
                s.f_favail, s.f_fsid, 0, 255,
            ] {
                out.extend_from_slice(&value.to_be_bytes());
            }
            Packet::ExtendedReply(ExtendedReply {
                id,
                data: out.to_vec(),
            })
        }
        Err(e) => status(id, StatusCode::Failure, &e.to_string()),
    }
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
    match parse(path)? {
        MailboxPath::Root | MailboxPath::Folder(_) | MailboxPath::Special(_) => Ok(dir_attrs()),
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

/// What a handle's worker holds.
enum State {
    Dir {
        files: Vec<File>,
        sent: bool,
    },
    Download(Download),
    Upload(Option<PendingUpload>, Option<String>),
    /// A `/receipts` file, generated when opened; not journaled as a download.
    Generated(Blob),
    /// A `/resend` request: acted on when closed.
    Resend(String),
}

/// Attributes of a generated file: its size, and now.
fn generated_attrs(size: usize) -> FileAttributes {
    let now = (crate::journal::Timestamp::now().0 / 1000).clamp(0, i64::from(u32::MAX)) as u32;
    FileAttributes {
        size: Some(size as u64),
        permissions: Some(0o100_444),
        atime: Some(now),
        mtime: Some(now),
        ..FileAttributes::empty()
    }
}

struct Download {
    entry: Entry,
    blob: Blob,
    /// Byte ranges read, merged: to tell a full download from a partial one.
    read: Vec<(u64, u64)>,
}

impl Download {
    fn note(&mut self, start: u64, end: u64) {
        self.read.push((start, end));
        merge(&mut self.read);
    }

    fn bytes_read(&self) -> u64 {
        self.read.iter().map(|(s, e)| e - s).sum()
    }
}

/// Sorts byte ranges and merges those that touch or overlap.
fn merge(ranges: &mut Vec<(u64, u64)>) {
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(s, e) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *ranges = merged;
}

fn new_handle(shared: &Arc<Shared>, state: State) -> Result<String, MailboxError> {
    let name = format!("h{}", shared.next_handle.fetch_add(1, Ordering::Relaxed));
    let (queue, jobs) = mpsc::unbounded_channel();
    let refused = {
        let mut guard = shared.handles.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            // The client left while this handle was being opened: no one
            // can use or close it. (Found by the `sftp_packets` fuzz target:
            // kept, its queue held the session and its worker for ever.)
            None => Err("the session has ended".to_owned()),
            Some(handles) if handles.len() >= MAX_HANDLES => {
                Err(format!("more than {MAX_HANDLES} open handles"))
            }
            Some(handles) => match shared.cx.tenant.handle_slot() {
                Some(slot) => {
                    handles.insert(name.clone(), queue);
                    Ok(slot)
                }
                None => Err("too many open handles in this tenant's sessions: close some".into()),
            },
        }
    };
    let slot = match refused {
        Ok(slot) => slot,
        Err(why) => {
            // As for any handle not closed: a resumed upload is kept again, a
            // download journaled.
            abandon(&shared.cx, state);
            return Err(MailboxError::PermissionDenied(why));
        }
    };
    let worker = Arc::clone(shared);
    let handle = name.clone();
    shared
        .runtime
        .spawn(work(worker, handle, state, jobs, slot));
    Ok(name)
}

fn open(shared: &Arc<Shared>, path: &str, flags: OpenFlags) -> Result<String, MailboxError> {
    let cx = &shared.cx;
    let path = parse(path)?;
    let state = match (&path, flags.contains(OpenFlags::WRITE)) {
        (MailboxPath::SpecialFile(Special::Resend, request), true) => {
            Some(State::Resend(request.clone()))
        }
        (MailboxPath::SpecialFile(Special::Receipts, name), false) => Some(State::Generated(
            Blob::inline(cx.tenant.receipt(&cx.partner, name)?),
        )),
        (MailboxPath::Special(_) | MailboxPath::SpecialFile(..), _) => {
            return Err(MailboxError::PermissionDenied(
                "/receipts is read-only and /resend takes new requests only".into(),
            ));
        }
        (MailboxPath::File(mailbox, name), false) => cx
            .tenant
            .checksum_file(&cx.partner, *mailbox, name)?
            .map(|content| State::Generated(Blob::inline(content))),
        _ => None,
    };
    if let Some(state) = state {
        return new_handle(shared, state);
    }
    let state = if flags.contains(OpenFlags::WRITE) {
        let truncate = flags.contains(OpenFlags::TRUNCATE);
        if !truncate && exists(cx, &path)? {
            return Err(MailboxError::PermissionDenied(
                "files are immutable once stored: upload a new file instead of changing one".into(),
            ));
        }
        // Without truncation (OpenSSH `reput` opens with APPEND), an
        // interrupted upload of this name goes on where it stopped.
        let resumed = if truncate {
            None
        } else {
            cx.tenant.resume_upload(&cx.partner, &path)?
        };
        let upload = match resumed {
            Some(upload) => upload,
            None => cx.tenant.begin_upload(&cx.partner, &path)?,
        };
        State::Upload(Some(upload), None)
    } else {
        let MailboxPath::File(mailbox, name) = path else {
            return Err(MailboxError::PermissionDenied("that is a folder".into()));
        };
        let (entry, blob) = cx.tenant.open(&cx.partner, mailbox, &name)?;
        State::Download(Download {
            entry,
            blob,
            read: Vec::new(),
        })
    };
    new_handle(shared, state)
}

fn exists(cx: &Context, path: &MailboxPath) -> Result<bool, MailboxError> {
    match path {
        MailboxPath::File(mailbox, name) => {
            Ok(cx.tenant.entry(&cx.partner, *mailbox, name)?.is_some())
        }
        _ => Ok(true),
    }
}

fn open_dir(shared: &Arc<Shared>, path: &str) -> Result<String, MailboxError> {
    let cx = &shared.cx;
    let files = match parse(path)? {
        MailboxPath::Special(Special::Receipts) => RECEIPTS
            .into_iter()
            .map(|name| {
                let attrs = generated_attrs(cx.tenant.receipt(&cx.partner, name)?.len());
                Ok(File {
                    filename: name.into(),
                    longname: long_name(name, &attrs, &cx.partner),
                    attrs,
                })
            })
            .collect::<Result<_, MailboxError>>()?,
        // Requests are taken at once: the folder is always empty.
        MailboxPath::Special(Special::Resend) => Vec::new(),
        MailboxPath::Root => FOLDERS
            .into_iter()
            .map(|name| File {
                filename: name.into(),
                longname: long_name(name, &dir_attrs(), &cx.partner),
                attrs: dir_attrs(),
            })
            .collect(),
        MailboxPath::Folder(mailbox) => {
            let entries = cx.tenant.list(&cx.partner, mailbox)?;
            let checksums = cx.tenant.checksum_files(&cx.partner, mailbox, &entries)?;
            let file = |name: &str, attrs: FileAttributes| File {
                filename: name.to_owned(),
                longname: long_name(name, &attrs, &cx.partner),
                attrs,
            };
            entries
                .iter()
                .map(|entry| file(&entry.name, file_attrs(entry)))
                .chain(checksums.iter().map(|(name, content, entry)| {
                    let mut attrs = file_attrs(entry);
                    attrs.size = Some(content.len() as u64);
                    file(name, attrs)
                }))
                .collect()
        }
        MailboxPath::File(..) | MailboxPath::SpecialFile(..) => {
            return Err(MailboxError::PermissionDenied("that is a file".into()));
        }
    };
    new_handle(shared, State::Dir { files, sent: false })
}

/// An `ls -l` line, as OpenSSH's server writes it.
fn long_name(name: &str, attrs: &FileAttributes, owner: &str) -> String {
    let dir = attrs.permissions.is_some_and(|p| p & 0o040_000 != 0);
    crate::protocols::listing::ls_line(
        name,
        dir,
        attrs.size.unwrap_or(0),
        attrs.mtime.map(i64::from),
        owner,
    )
}

/// A handle's worker: serves its requests in order until closed, each on
/// the file threads. Holds the tenant's handle slot while it lives.
async fn work(
    shared: Arc<Shared>,
    handle: String,
    state: State,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    _slot: crate::tenant::HandleSlot,
) {
    let (up, down) = {
        let cx = &shared.cx;
        (
            cx.tenant.throttle(&cx.partner, Way::Up),
            cx.tenant.throttle(&cx.partner, Way::Down),
        )
    };
    let mut state = Some(state);
    while let Some(Job { packet, _permit }) = jobs.recv().await {
        let id = packet.get_request_id();
        // Bandwidth limits hold back the reply: the client keeps only so
        // many requests in flight, so its rate follows.
        if let Packet::Write(write) = &packet {
            up.pace(write.data.len()).await;
        }
        let closing = matches!(packet, Packet::Close(_));
        let Some(current) = state.take() else { break };
        let job = Arc::clone(&shared);
        let done = on_files(&shared, move || {
            let mut current = current;
            let answer = if closing {
                close(&job.cx, &mut current, id)
            } else {
                serve(&mut current, packet)
            };
            (current, answer)
        })
        .await;
        let answer = match done {
            Some((next, answer)) => {
                state = Some(next);
                answer
            }
            // A bug lost the handle's state: the handle ends here.
            None => status(id, StatusCode::Failure, "internal error"),
        };
        if let Packet::Data(data) = &answer {
            down.pace(data.data.len()).await;
        }
        let closed = closing || state.is_none();
        if closed {
            // Gone from the map before the reply, so that no request sent
            // after the client saw the close is queued here.
            shared
                .handles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .map(|handles| handles.remove(&handle));
        }
        reply(&shared, answer, _permit).await;
        if closed {
            // Requests queued before the removal (pipelined after the
            // close) are answered, not dropped.
            jobs.close();
            while let Ok(late) = jobs.try_recv() {
                let id = late.packet.get_request_id();
                reply(
                    &shared,
                    status(id, StatusCode::Failure, "handle closed"),
                    late._permit,
                )
                .await;
            }
            return;
        }
    }
    // The session ended without a close: an upload is kept to resume (or
    // journaled as failed), a download is journaled as partial.
    if let Some(state) = state {
        let job = Arc::clone(&shared);
        on_files(&shared, move || abandon(&job.cx, state)).await;
    }
}

fn serve(state: &mut State, packet: Packet) -> Packet {
    let id = packet.get_request_id();
    match (state, packet) {
        (State::Dir { files, sent }, Packet::ReadDir(_)) => {
            if *sent || files.is_empty() {
                return status(id, StatusCode::Eof, "end of directory");
            }
            *sent = true;
            Packet::Name(Name {
                id,
                files: std::mem::take(files),
            })
        }
        (State::Download(download), Packet::Read(read)) => {
            let len = read.len.min(MAX_IO) as usize;
            let mut buf = vec![0; len];
            let mut filled = 0;
            while filled < len {
                match download
                    .blob
                    .read_at(&mut buf[filled..], read.offset + filled as u64)
                {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return status(id, StatusCode::Failure, &e.to_string()),
                }
            }
            if filled == 0 {
                return status(id, StatusCode::Eof, "end of file");
            }
            buf.truncate(filled);
            download.note(read.offset, read.offset + filled as u64);
            Packet::Data(Data { id, data: buf })
        }
        (State::Upload(upload, failed), Packet::Write(write)) => {
            let Some(upload) = upload else {
                return status(id, StatusCode::Failure, "the upload has failed");
            };
            if failed.is_some() {
                return status(
                    id,
                    StatusCode::Failure,
                    failed.as_deref().unwrap_or_default(),
                );
            }
            if write.offset != upload.size() {
                // Writes arrive in order; a gap or a rewrite means a client
                // this server cannot store faithfully.
                let why = format!(
                    "write at offset {} but {} bytes were written: uploads must be sequential",
                    write.offset,
                    upload.size()
                );
                *failed = Some(why.clone());
                return status(id, StatusCode::Failure, &why);
            }
            // A failed write (the size limit, a full disk) fails the file:
            // SFTP v3 has no quota status, so clients get a failure with why.
            match std::io::Write::write_all(upload, &write.data) {
                Ok(()) => ok(id),
                Err(e) => {
                    *failed = Some(e.to_string());
                    status(id, StatusCode::Failure, &e.to_string())
                }
            }
        }
        (State::Download(d), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: file_attrs(&d.entry),
        }),
        (State::Upload(upload, _), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: FileAttributes {
                size: Some(upload.as_ref().map_or(0, PendingUpload::size)),
                permissions: Some(FILE_MODE),
                ..FileAttributes::empty()
            },
        }),
        (State::Dir { .. }, Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: dir_attrs(),
        }),
        (State::Generated(blob), Packet::Read(read)) => {
            let len = read.len.min(MAX_IO) as usize;
            let mut buf = vec![0; len];
            match blob.read_at(&mut buf, read.offset) {
                Ok(0) => status(id, StatusCode::Eof, "end of file"),
                Ok(n) => {
                    buf.truncate(n);
                    Packet::Data(Data { id, data: buf })
                }
                Err(e) => status(id, StatusCode::Failure, &e.to_string()),
            }
        }
        (State::Generated(blob), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: generated_attrs(blob.size() as usize),
        }),
        // A request names its file and carries nothing: its bytes are not kept.
        (State::Resend(_), Packet::Write(_)) => ok(id),
        (State::Resend(_), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: generated_attrs(0),
        }),
        // Times and modes are ferry's to keep; accepting them keeps `put -p` working.
        (_, Packet::FSetStat(_)) => ok(id),
        // The bytes are synced when the file is committed at close.
        (_, Packet::Extended(_)) => ok(id),
        (_, _) => status(id, StatusCode::Failure, "not possible on this handle"),
    }
}

fn close(cx: &Context, state: &mut State, id: u32) -> Packet {
    let source = cx.peer.to_string();
    match std::mem::replace(
        state,
        State::Dir {
            files: Vec::new(),
            sent: true,
        },
    ) {
        State::Dir { .. } => ok(id),
        State::Download(d) => {
            record_download(cx, &d);
            ok(id)
        }
        State::Upload(Some(upload), None) => match cx.tenant.finish(upload, "sftp", &source) {
            Ok(finished) => {
                tracing::info!(tenant = %cx.tenant.name(), partner = %cx.partner, ?finished,
                    "SFTP upload stored");
                cx.hub.notify();
                ok(id)
            }
            Err(e) => failure(id, &e),
        },
        State::Upload(Some(upload), Some(why)) => {
            cx.tenant
                .abort(upload, "sftp", &source, &std::io::Error::other(why.clone()));
            status(id, StatusCode::Failure, &why)
        }
        State::Upload(None, _) => status(id, StatusCode::Failure, "the upload has failed"),
        State::Generated(_) => ok(id),
        State::Resend(request) => match cx.tenant.resend(&cx.partner, &request, &source) {
            Ok(entry) => {
                tracing::info!(tenant = %cx.tenant.name(), partner = %cx.partner,
                    name = %entry.name, "resent on request");
                ok(id)
            }
            Err(e) => failure(id, &e),
        },
    }
}

fn abandon(cx: &Context, state: State) {
    let source = cx.peer.to_string();
    match state {
        // Kept (invisible) so that the client can resume it.
        State::Upload(Some(upload), None) => cx.tenant.suspend(
            upload,
            "sftp",
            &source,
            &std::io::Error::other("the client disconnected before closing the file"),
        ),
        State::Upload(Some(upload), Some(why)) => {
            cx.tenant
                .abort(upload, "sftp", &source, &std::io::Error::other(why))
        }
        State::Download(d) => record_download(cx, &d),
        _ => {}
    }
}

fn record_download(cx: &Context, d: &Download) {
    let bytes = d.bytes_read();
    let complete = d
        .read
        .first()
        .is_some_and(|r| r.0 == 0 && r.1 >= d.entry.size)
        || d.entry.size == 0;
    if let Err(e) = cx.tenant.record_download(
        &cx.partner,
        &d.entry,
        bytes,
        complete,
        "sftp",
        &cx.peer.to_string(),
    ) {
        tracing::error!(error = %crate::error_chain(&e), "cannot journal a download");
    }
    if complete {
        cx.hub.notify();
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
