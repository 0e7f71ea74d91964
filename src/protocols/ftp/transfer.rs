//! Commands that use a data connection: PASV, EPSV, PORT, EPRT, REST, STOR,
//! APPE, RETR, LIST, NLST, MLSD; and ABOR while one runs.
//!
//! A `226` after STOR means the file is stored, synced and journaled. An
//! upload that did not end cleanly (ABOR, the data connection cut off, a TLS
//! data connection closed without `close_notify`, the control connection
//! gone) is kept invisible and resumable, never committed.

use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use super::control::Line;
use super::data::{self, BUFFER, Channel, Data};
use super::files::{file_facts, folder_facts};
use super::session::{Session, blocking};
use crate::journal::{Entry, Mailbox};
use crate::protocols::listing::ls_line;
use crate::store::Blob;
use crate::tenant::{
    FOLDERS, Finished, MailboxError, MailboxPath, PendingUpload, RECEIPTS, Special, Throttle,
    Transfer, Way,
};

pub async fn pasv(s: &mut Session, extended: bool) -> io::Result<()> {
    let local = s.local.ip();
    let listener = match data::listen(local, s.server.listener.ftp.passive_ports).await {
        Ok(listener) => listener,
        Err(e) => return s.control.reply(425, &format!("no passive port: {e}")).await,
    };
    let port = listener.local_addr()?.port();
    s.channel = Some(Channel::Passive(listener));
    if extended {
        return s
            .control
            .reply(229, &format!("Entering Extended Passive Mode (|||{port}|)"))
            .await;
    }
    let advertised = s.server.listener.ftp.passive_address.unwrap_or(local);
    let IpAddr::V4(v4) = advertised else {
        return s.control.reply(522, "PASV is IPv4 only: use EPSV").await;
    };
    let [a, b, c, d] = v4.octets();
    s.control
        .reply(
            227,
            &format!(
                "Entering Passive Mode ({a},{b},{c},{d},{},{})",
                port >> 8,
                port & 0xff
            ),
        )
        .await
}

pub async fn epsv(s: &mut Session, arg: &str) -> io::Result<()> {
    match arg.trim().to_ascii_uppercase().as_str() {
        "ALL" => {
            s.control
                .reply(200, "EPSV ALL: only EPSV from now on")
                .await
        }
        "" | "1" | "2" => pasv(s, true).await,
        _ => {
            s.control
                .reply(522, "network protocol not supported, use (1,2)")
                .await
        }
    }
}

/// PORT and EPRT: off unless the listener allows active mode, and then only
/// to the control connection's own address and an unprivileged port, so
/// that ferry can never be made to connect to a third party (FTP bounce).
pub async fn port(s: &mut Session, arg: &str, extended: bool) -> io::Result<()> {
    if !s.server.listener.ftp.active_mode {
        return s
            .control
            .reply(502, "active mode is off on this server: use PASV or EPSV")
            .await;
    }
    let target = if extended {
        data::parse_eprt(arg.trim())
    } else {
        data::parse_port(arg.trim())
    };
    let Some(target) = target else {
        return s.control.reply(501, "cannot read that address").await;
    };
    if target.ip() != s.peer.ip() || target.port() < 1024 {
        tracing::warn!(peer = %s.peer, %target, "PORT to a foreign address or privileged port refused");
        return s
            .control
            .reply(
                504,
                "data connections go only to your own address, to a port above 1023",
            )
            .await;
    }
    s.channel = Some(Channel::Active(target));
    s.control.reply(200, "PORT accepted").await
}

pub async fn rest(s: &mut Session, arg: &str) -> io::Result<()> {
    match arg.trim().parse::<u64>() {
        Ok(offset) => {
            s.rest = offset;
            s.control
                .reply(350, &format!("restarting at {offset}: send STOR or RETR"))
                .await
        }
        Err(_) => s.control.reply(501, "REST needs a byte offset").await,
    }
}

/// Command lines kept while a transfer runs, to be served after it (each
/// at most `control::MAX_LINE` bytes). Clients send one or two (`STAT`,
/// `NOOP`); more is a flood.
const MAX_PENDING: usize = 16;

/// How a transfer on its blocking thread ended.
enum Ended<T> {
    Done(T),
    /// The client sent ABOR.
    Aborted(T),
    /// The control connection closed: the session is over.
    ControlClosed(T),
}

/// Runs `work` on a blocking thread with the data connection while the
/// control connection stays responsive: ABOR cuts the data connection,
/// other commands wait until the transfer ends. An operator's kick cuts it
/// too, answers `421` and ends the session (an upload is kept to resume).
async fn run<T: Send + 'static>(
    s: &mut Session,
    socket: std::net::TcpStream,
    work: impl FnOnce(io::Result<Data>) -> T + Send + 'static,
) -> Ended<T> {
    let cutter = socket.try_clone();
    let tls = s.protect_data.then(|| Arc::clone(&s.server.data_tls));
    let mut handle = tokio::task::spawn_blocking(move || work(Data::new(socket, tls)));
    let cut = || {
        if let Ok(socket) = &cutter {
            let _ = socket.shutdown(std::net::Shutdown::Both);
        }
    };
    let kicked = s.login.as_ref().map(|l| l.ticket.kicked());
    // Completes only with a kick, so that the loop may poll it again.
    let mut kicked = std::pin::pin!(async {
        if let Some(kicked) = kicked
            && kicked.await
        {
            return true;
        }
        std::future::pending().await
    });
    loop {
        tokio::select! {
            result = &mut handle => return Ended::Done(joined(result)),
            true = &mut kicked => {
                cut();
                let ended = joined((&mut handle).await);
                let _ = s
                    .control
                    .reply(421, "the session was closed by the server's operator")
                    .await;
                return Ended::ControlClosed(ended);
            }
            line = s.control.read_line() => match line {
                Ok(Some(Line::Command(text))) if text.trim().eq_ignore_ascii_case("ABOR") => {
                    cut();
                    return Ended::Aborted(joined((&mut handle).await));
                }
                Ok(Some(line)) if s.pending.len() < MAX_PENDING => s.pending.push_back(line),
                Ok(Some(_)) => {
                    // A client that floods the control connection while
                    // its data connection stalls would grow memory without
                    // end: the session ends (an upload is kept to resume).
                    cut();
                    let ended = joined((&mut handle).await);
                    tracing::warn!(peer = %s.peer, "FTP session closed: too many commands during a transfer");
                    let _ = s
                        .control
                        .reply(421, "too many commands sent during a transfer; closing")
                        .await;
                    return Ended::ControlClosed(ended);
                }
                Ok(None) | Err(_) => {
                    cut();
                    return Ended::ControlClosed(joined((&mut handle).await));
                }
            },
        }
    }
}

fn joined<T>(result: Result<T, tokio::task::JoinError>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Opens the data connection of a transfer (after its `150`); when none
/// comes, says so with `425` and returns `None`.
async fn connect(s: &mut Session, channel: Channel) -> io::Result<Option<std::net::TcpStream>> {
    match data::open(channel, s.peer.ip()).await {
        Ok(socket) => Ok(Some(socket)),
        Err(e) => {
            s.control
                .reply(425, &format!("cannot open the data connection: {e}"))
                .await?;
            Ok(None)
        }
    }
}

/// The two replies RFC 959 gives an ABOR that cut a transfer short.
async fn aborted(s: &mut Session) -> io::Result<()> {
    s.control
        .reply(
            426,
            "transfer aborted: nothing stored, nothing journaled as complete",
        )
        .await?;
    s.control.reply(226, "ABOR done").await
}

/// Takes the data channel PASV or PORT prepared, or says why not. Under
/// `require_tls` a data connection in clear text is refused (RFC 4217's
/// 521): the files must not cross unprotected when the login may not.
async fn channel(s: &mut Session) -> io::Result<Option<Channel>> {
    if s.login.as_ref().is_some_and(|l| l.needs_tls) && !s.protect_data {
        s.channel = None;
        s.control
            .reply(
                521,
                "data connections of this account must be protected: send PBSZ 0 and PROT P",
            )
            .await?;
        return Ok(None);
    }
    match s.channel.take() {
        Some(channel) => Ok(Some(channel)),
        None => {
            s.control
                .reply(425, "no data connection: send PASV or EPSV first")
                .await?;
            Ok(None)
        }
    }
}

/// Bytes read from an upload's data connection at a time. A megabyte
/// rather than [`BUFFER`]: each read's buffer goes whole to the hashing
/// thread, and a quarter as many hand-offs (fewer futex wake-ups and
/// context switches between the receiving, hashing and client threads on
/// two cores) took a 1 GiB `curl` put from 733-944 to 868-1,201 MB/s here
/// (2026-12-07, interleaved with the old size). The hasher's queue bounds
/// what one upload holds to a few of these.
const RECEIVE_BUFFER: usize = 1 << 20;

/// How receiving an upload ended.
enum Received {
    /// The client closed the data connection cleanly.
    Complete,
    /// The data connection broke or was cut: the upload is incomplete.
    Cut(io::Error),
    /// The store refused the bytes (size limit, disk full).
    Refused(io::Error),
}

fn receive(data: io::Result<Data>, upload: &mut PendingUpload, throttle: &Throttle) -> Received {
    let mut data = match data {
        Ok(data) => data,
        Err(e) => return Received::Cut(e),
    };
    let mut buf = vec![0; RECEIVE_BUFFER];
    loop {
        match data.read(&mut buf) {
            Ok(0) => {
                // Answer the client's TLS `close_notify` with ours: clients
                // (Python's ssl) wait for it before they read the reply.
                let _ = data.finish();
                return Received::Complete;
            }
            Ok(n) => {
                // The buffer goes to the hashing thread instead of a copy
                // of it; another comes back.
                buf = match upload.write_owned(buf, n) {
                    Ok(next) => next,
                    Err(e) => return Received::Refused(e),
                };
                // Only a fresh buffer is zeroed: a used one is overwritten.
                buf.resize(RECEIVE_BUFFER, 0);
                throttle.pace_blocking(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Over TLS this includes a close without `close_notify`: a
            // truncation, not the end of the file.
            Err(e) => return Received::Cut(e),
        }
    }
}

/// STOR and APPE (and REST + STOR): an upload into the inbox.
pub async fn store(s: &mut Session, arg: &str, append: bool) -> io::Result<()> {
    let rest = std::mem::take(&mut s.rest);
    let path = match s.resolve(arg) {
        Ok(MailboxPath::SpecialFile(Special::Resend, request)) => {
            return request_resend(s, request).await;
        }
        Ok(path) => path,
        Err(e) => return s.fail(&e).await,
    };
    let Some(channel) = channel(s).await? else {
        return Ok(());
    };
    let (tenant, partner) = s.who();
    let begun = if rest == 0 && !append && tenant.upload_begins_in_memory(&partner) {
        // A new upload for a partner without quota reads and writes nothing
        // before its first bytes: begun here, without a blocking thread's
        // turn (a small file's STOR then has one, its commit).
        tenant.begin_at(&partner, &path, rest, append)
    } else {
        let tenant = Arc::clone(&tenant);
        let partner = partner.clone();
        let path = path.clone();
        blocking(move || tenant.begin_at(&partner, &path, rest, append)).await
    };
    let mut upload = match begun {
        Ok(upload) => upload,
        Err(e) => return s.fail(&e).await,
    };
    let name = match &path {
        MailboxPath::File(_, name) => name.clone(),
        _ => String::new(),
    };
    if let Some(login) = &s.login {
        upload.shown_in(&login.ticket);
    }
    let from = upload.size();
    s.control
        .reply(150, &format!("ready to receive {name} from byte {from}"))
        .await?;
    let source = s.peer.to_string();
    let Some(socket) = connect(s, channel).await? else {
        let why = io::Error::other("no data connection came");
        keep(&tenant, upload, &source, why).await;
        return Ok(());
    };
    let throttle = tenant.throttle(&partner, Way::Up);
    let ended = run(s, socket, move |data| {
        let outcome = receive(data, &mut upload, &throttle);
        (upload, outcome)
    })
    .await;
    match ended {
        Ended::Done((upload, Received::Complete)) => {
            if s.control.closed_now() {
                // The client went away as the data connection ended: a
                // killed client, not a finished file.
                let cut =
                    io::Error::other("the control connection closed with the data connection");
                keep(&tenant, upload, &source, cut).await;
                s.quit = true;
                return Ok(());
            }
            let finished = {
                let tenant = Arc::clone(&tenant);
                blocking(move || tenant.finish(upload, "ftp", &source)).await
            };
            match finished {
                Ok(Finished::Received(ingested)) => {
                    tracing::info!(tenant = %tenant.name(), partner = %partner, name = %name,
                        size = ingested.committed.size, "FTP upload stored");
                    s.control
                        .reply(
                            226,
                            &format!(
                                "stored {name}: {} bytes, sha256 {}",
                                ingested.committed.size, ingested.committed.hash
                            ),
                        )
                        .await
                }
                Ok(Finished::Pending(_)) => {
                    s.control
                        .reply(
                            226,
                            &format!("stored {name}, waiting for its completion signal"),
                        )
                        .await
                }
                Err(e) => s.fail(&e).await,
            }
        }
        Ended::Done((upload, Received::Refused(e))) => {
            let why = e.to_string();
            // 552: exceeded storage allocation, for the size limit and quotas.
            let code = match e.kind() {
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => 552,
                _ => 451,
            };
            blocking(move || tenant.abort(upload, "ftp", &source, &e)).await;
            s.control
                .reply(code, &format!("upload refused: {why}"))
                .await
        }
        Ended::Done((upload, Received::Cut(e))) => {
            let why = e.to_string();
            keep(&tenant, upload, &source, e).await;
            s.control
                .reply(
                    426,
                    &format!("data connection lost ({why}): nothing stored; resume with REST"),
                )
                .await
        }
        Ended::Aborted((upload, _)) => {
            keep(
                &tenant,
                upload,
                &source,
                io::Error::other("aborted by the client (ABOR)"),
            )
            .await;
            aborted(s).await
        }
        Ended::ControlClosed((upload, _)) => {
            let cut = io::Error::other("the control connection closed during the upload");
            keep(&tenant, upload, &source, cut).await;
            s.quit = true;
            Ok(())
        }
    }
}

/// Keeps an unfinished upload invisible and resumable.
async fn keep(
    tenant: &Arc<crate::tenant::Tenant>,
    upload: PendingUpload,
    source: &str,
    why: io::Error,
) {
    let tenant = Arc::clone(tenant);
    let source = source.to_owned();
    blocking(move || tenant.suspend(upload, "ftp", &source, &why)).await;
}

/// RETR (and REST + RETR): a download, journaled as complete or partial.
pub async fn retrieve(s: &mut Session, arg: &str) -> io::Result<()> {
    let rest = std::mem::take(&mut s.rest);
    let (mailbox, name) = match s.resolve(arg) {
        Ok(MailboxPath::File(mailbox, name)) => (mailbox, name),
        Ok(MailboxPath::SpecialFile(Special::Receipts, name)) => {
            return send_receipt(s, &name, rest).await;
        }
        Ok(MailboxPath::SpecialFile(Special::Resend, name)) => {
            let missing = MailboxError::NotFound(format!("/resend/{name}"));
            return s.fail(&missing).await;
        }
        Ok(_) => return s.control.reply(550, "that is a folder").await,
        Err(e) => return s.fail(&e).await,
    };
    let (tenant, partner) = s.who();
    let opened = {
        let (tenant, partner, name) = (Arc::clone(&tenant), partner.clone(), name.clone());
        blocking(move || tenant.open(&partner, mailbox, &name)).await
    };
    let (entry, blob) = match opened {
        Ok(opened) => opened,
        Err(MailboxError::NotFound(why)) => {
            // Perhaps the virtual `NAME.sha256` of an outbox file.
            let checksum = {
                let (tenant, partner, name) = (Arc::clone(&tenant), partner.clone(), name.clone());
                blocking(move || tenant.checksum_file(&partner, mailbox, &name)).await
            };
            return match checksum {
                Ok(Some(content)) => send_generated(s, &name, content, rest).await,
                Ok(None) => s.fail(&MailboxError::NotFound(why)).await,
                Err(e) => s.fail(&e).await,
            };
        }
        Err(e) => return s.fail(&e).await,
    };
    if rest > entry.size {
        return s
            .control
            .reply(
                554,
                &format!("REST {rest} is past the end ({} bytes)", entry.size),
            )
            .await;
    }
    let Some(channel) = channel(s).await? else {
        return Ok(());
    };
    s.control
        .reply(
            150,
            &format!("sending {name} ({} bytes) from byte {rest}", entry.size),
        )
        .await?;
    let Some(socket) = connect(s, channel).await? else {
        return Ok(());
    };
    let throttle = tenant.throttle(&partner, Way::Down);
    let transfer = s
        .login
        .as_ref()
        .map(|l| l.ticket.transfer("download", &name, rest));
    let ended = run(s, socket, move |data| {
        send(data, &blob, rest, &throttle, transfer.as_ref())
    })
    .await;
    let (sent, result, aborted, closed) = match ended {
        Ended::Done((sent, result)) => (sent, result, false, false),
        Ended::Aborted((sent, result)) => (sent, result, true, false),
        Ended::ControlClosed((sent, result)) => (sent, result, false, true),
    };
    let complete = rest == 0 && sent == entry.size && result.is_ok() && !aborted;
    record_download(s, &tenant, &partner, &entry, sent, complete).await;
    if closed {
        s.quit = true;
        return Ok(());
    }
    if aborted {
        return self::aborted(s).await;
    }
    match result {
        Ok(()) => s.control.reply(226, &format!("sent {name}")).await,
        Err(e) => {
            s.control
                .reply(426, &format!("data connection lost: {e}"))
                .await
        }
    }
}

/// RETR of a `/receipts` file: generated now, not journaled as a download.
async fn send_receipt(s: &mut Session, name: &str, rest: u64) -> io::Result<()> {
    match super::files::receipt(s, name).await {
        Ok(bytes) => send_generated(s, name, bytes, rest).await,
        Err(e) => s.fail(&e).await,
    }
}

/// RETR of a generated file (a receipts list, a checksum file).
async fn send_generated(s: &mut Session, name: &str, bytes: Vec<u8>, rest: u64) -> io::Result<()> {
    let Some(channel) = channel(s).await? else {
        return Ok(());
    };
    s.control
        .reply(150, &format!("sending {name} ({} bytes)", bytes.len()))
        .await?;
    let Some(socket) = connect(s, channel).await? else {
        return Ok(());
    };
    let blob = Blob::inline(bytes);
    let (tenant, partner) = s.who();
    let throttle = tenant.throttle(&partner, Way::Down);
    let ended = run(s, socket, move |data| {
        send(data, &blob, rest, &throttle, None).1
    })
    .await;
    reply_sent(s, ended, &format!("sent {name}")).await
}

/// The replies after sending something that is not journaled (a generated
/// file, a listing): `226`, `426` for a broken connection, the ABOR pair,
/// or the end of the session.
async fn reply_sent(s: &mut Session, ended: Ended<io::Result<()>>, done: &str) -> io::Result<()> {
    match ended {
        Ended::Done(Ok(())) => s.control.reply(226, done).await,
        Ended::Done(Err(e)) => {
            s.control
                .reply(426, &format!("data connection lost: {e}"))
                .await
        }
        Ended::Aborted(_) => aborted(s).await,
        Ended::ControlClosed(_) => {
            s.quit = true;
            Ok(())
        }
    }
}

/// STOR into `/resend`: the request's content is not kept (an empty file
/// is the convention); once it is complete, the file it names goes back
/// into the outbox.
async fn request_resend(s: &mut Session, request: String) -> io::Result<()> {
    let Some(channel) = channel(s).await? else {
        return Ok(());
    };
    s.control
        .reply(150, &format!("ready for the resend request {request}"))
        .await?;
    let Some(socket) = connect(s, channel).await? else {
        return Ok(());
    };
    let ended = run(s, socket, |data| -> io::Result<()> {
        let mut data = data?;
        // At most a little: a request names its file, it carries none.
        io::copy(&mut (&mut data).take(64 << 10), &mut io::sink())?;
        data.finish()
    })
    .await;
    match ended {
        Ended::Done(Ok(())) => {}
        Ended::Done(Err(e)) => {
            return s
                .control
                .reply(426, &format!("data connection lost: {e}"))
                .await;
        }
        Ended::Aborted(_) => return aborted(s).await,
        Ended::ControlClosed(_) => {
            s.quit = true;
            return Ok(());
        }
    }
    let (tenant, partner) = s.who();
    let source = s.peer.to_string();
    let resent = {
        let request = request.clone();
        blocking(move || tenant.resend(&partner, &request, &source)).await
    };
    match resent {
        Ok(entry) => {
            s.control
                .reply(226, &format!("{} is back in /outbox", entry.name))
                .await
        }
        Err(e) => s.fail(&e).await,
    }
}

/// Sends `blob` from byte `from`; counts what went out in `transfer`
/// (the session's entry) as it goes.
fn send(
    data: io::Result<Data>,
    blob: &Blob,
    from: u64,
    throttle: &Throttle,
    transfer: Option<&Transfer>,
) -> (u64, io::Result<()>) {
    let mut data = match data {
        Ok(data) => data,
        Err(e) => return (0, Err(e)),
    };
    if let (Data::Plain(socket), Some(file)) = (&data, blob.file()) {
        let (sent, result) = send_file(socket, file, from, blob.size(), throttle, transfer);
        return (sent, result.and_then(|()| data.finish()));
    }
    let mut buf = vec![0; BUFFER];
    let mut offset = from;
    let mut sent = 0;
    loop {
        let n = match blob.read_at(&mut buf, offset) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (sent, Err(e)),
        };
        if let Err(e) = data.write_all(&buf[..n]) {
            return (sent, Err(e));
        }
        throttle.pace_blocking(n);
        offset += n as u64;
        sent += n as u64;
        if let Some(transfer) = transfer {
            transfer.set(offset);
        }
    }
    (sent, data.finish())
}

/// Bytes `sendfile` moves per call: fewer calls than [`BUFFER`] would make,
/// fine enough for the throttle.
const SENDFILE_CHUNK: u64 = 1 << 20;

/// Feeds a plain data connection from the store's file with `sendfile`:
/// the kernel moves the bytes from the page cache to the socket, none pass
/// through ferry (vsftpd does the same). TLS needs the bytes in user space.
fn send_file(
    socket: &std::net::TcpStream,
    file: std::os::fd::BorrowedFd<'_>,
    from: u64,
    size: u64,
    throttle: &Throttle,
    transfer: Option<&Transfer>,
) -> (u64, io::Result<()>) {
    let mut offset = from;
    while offset < size {
        // A chunk at a time, so that the throttle paces the transfer.
        let chunk = (size - offset).min(SENDFILE_CHUNK) as usize;
        match rustix::fs::sendfile(socket, file, Some(&mut offset), chunk) {
            // The content is immutable: a short file is a damaged store.
            Ok(0) => {
                let short = io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the stored file ends at byte {offset}, before its size {size}"),
                );
                return (offset - from, Err(short));
            }
            Ok(n) => {
                throttle.pace_blocking(n);
                if let Some(transfer) = transfer {
                    transfer.set(offset);
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            // The socket's send timeout ran out.
            Err(rustix::io::Errno::AGAIN) => {
                let stalled =
                    io::Error::new(io::ErrorKind::TimedOut, "the data connection stalled");
                return (offset - from, Err(stalled));
            }
            Err(e) => return (offset - from, Err(e.into())),
        }
    }
    (offset - from, Ok(()))
}

async fn record_download(
    s: &Session,
    tenant: &Arc<crate::tenant::Tenant>,
    partner: &str,
    entry: &Entry,
    sent: u64,
    complete: bool,
) {
    let (tenant, partner, entry) = (Arc::clone(tenant), partner.to_owned(), entry.clone());
    let source = s.peer.to_string();
    let recorded =
        blocking(move || tenant.record_download(&partner, &entry, sent, complete, "ftp", &source))
            .await;
    if let Err(e) = recorded {
        tracing::error!(error = %crate::error_chain(&e), "cannot journal a download");
    }
}

/// What a listing command sends.
pub enum Listing {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names.
    Names,
    /// MLSD: RFC 3659 facts.
    Facts,
}

pub async fn list(s: &mut Session, arg: &str, kind: Listing) -> io::Result<()> {
    // `LIST -la` and the like: options are for `ls`, not paths.
    let arg = arg
        .split_whitespace()
        .filter(|word| !word.starts_with('-'))
        .collect::<Vec<_>>()
        .join(" ");
    let path = match s.resolve(&arg) {
        Ok(path) => path,
        Err(e) => return s.fail(&e).await,
    };
    let owner = s.login.as_ref().map_or(String::new(), |l| l.user.clone());
    let (tenant, partner) = s.who();
    let source = s.peer.to_string();
    let text = blocking(move || -> Result<String, MailboxError> {
        let now = crate::journal::Timestamp::now().0 / 1000;
        let generated_line = |name: &str, size: u64| match kind {
            Listing::Long => ls_line(name, false, size, Some(now), &owner),
            Listing::Names => name.to_owned(),
            Listing::Facts => format!("type=file;size={size};perm=r; {name}"),
        };
        let generated = |name: &str| -> Result<String, MailboxError> {
            let size = tenant.receipt(&partner, name)?.len() as u64;
            Ok(generated_line(name, size))
        };
        let path = tenant.resolve(&partner, path)?;
        let lines: Vec<String> = match &path {
            MailboxPath::Root => FOLDERS
                .into_iter()
                .map(|name| match kind {
                    Listing::Long => ls_line(name, true, 0, None, &owner),
                    Listing::Names => name.to_owned(),
                    Listing::Facts => format!("{} {name}", folder_facts(Some(name))),
                })
                .collect(),
            MailboxPath::Special(Special::Receipts) => RECEIPTS
                .into_iter()
                .map(generated)
                .collect::<Result<_, _>>()?,
            // Requests are taken at once: the folder is always empty.
            MailboxPath::Special(Special::Resend) => Vec::new(),
            MailboxPath::SpecialFile(Special::Receipts, name) => vec![generated(name)?],
            MailboxPath::SpecialFile(Special::Resend, name) => {
                return Err(MailboxError::NotFound(format!("/resend/{name}")));
            }
            MailboxPath::Folder(mailbox) | MailboxPath::Subfolder(mailbox, _) => {
                let folder = match &path {
                    MailboxPath::Subfolder(_, folder) => folder.as_str(),
                    _ => "",
                };
                let listing = tenant.list_folder(&partner, *mailbox, folder)?;
                tenant.record_listing(&partner, *mailbox, folder, &listing, "ftp", &source);
                let checksums = tenant.checksum_files(&partner, *mailbox, &listing.files)?;
                listing
                    .folders
                    .iter()
                    .map(|name| match kind {
                        Listing::Long => ls_line(name, true, 0, None, &owner),
                        Listing::Names => name.to_owned(),
                        Listing::Facts => format!("type=dir;perm=el; {name}"),
                    })
                    .chain(
                        listing
                            .files
                            .iter()
                            .map(|entry| line(entry, *mailbox, &kind, &owner)),
                    )
                    .chain(checksums.iter().map(|(name, content, entry)| {
                        let virtual_entry = Entry {
                            name: name.clone(),
                            size: content.len() as u64,
                            ..entry.clone()
                        };
                        line(&virtual_entry, *mailbox, &kind, &owner)
                    }))
                    .collect()
            }
            MailboxPath::File(mailbox, name) => match tenant.entry(&partner, *mailbox, name)? {
                Some(entry) => vec![line(&entry, *mailbox, &kind, &owner)],
                None => match tenant.checksum_file(&partner, *mailbox, name)? {
                    Some(content) => vec![generated_line(name, content.len() as u64)],
                    None => {
                        return Err(MailboxError::NotFound(format!(
                            "/{}/{name}",
                            mailbox.as_str()
                        )));
                    }
                },
            },
        };
        Ok(lines.iter().map(|l| format!("{l}\r\n")).collect())
    })
    .await;
    let text = match text {
        Ok(text) => text,
        Err(e) => return s.fail(&e).await,
    };
    let Some(channel) = channel(s).await? else {
        return Ok(());
    };
    s.control.reply(150, "here comes the listing").await?;
    let Some(socket) = connect(s, channel).await? else {
        return Ok(());
    };
    let ended = run(s, socket, move |data| -> io::Result<()> {
        let mut data = data?;
        data.write_all(text.as_bytes())?;
        data.finish()
    })
    .await;
    reply_sent(s, ended, "listing sent").await
}

fn line(entry: &Entry, mailbox: Mailbox, kind: &Listing, owner: &str) -> String {
    match kind {
        Listing::Long => ls_line(
            &entry.name,
            false,
            entry.size,
            Some(entry.created_at.0 / 1000),
            owner,
        ),
        Listing::Names => entry.name.clone(),
        Listing::Facts => format!("{} {}", file_facts(entry, mailbox), entry.name),
    }
}
