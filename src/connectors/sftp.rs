//! SFTP connector: russh as the SSH client, russh-sftp's raw session for
//! the protocol, and ferry's own pipelining on top.
//!
//! russh-sftp's `File` reads one request at a time, which over loopback
//! caps a download at a fraction of what the server can give. Here reads
//! and writes of [`CHUNK`] bytes are kept [`IN_FLIGHT`] deep, each request a
//! task on the connector runtime, their results consumed in order.
//!
//! Requests leave in the order they are made ([`start`]): a server that
//! handles them one after another, as OpenSSH's does, then never holds a
//! byte past a gap, so the size of a partial file after a cut is how much of
//! it is there. For servers that might not, a resumed write still starts
//! [`SftpRemote::resume_margin`] bytes earlier.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use russh::Preferred;
use russh::keys::{HashAlg, PrivateKeyWithHashAlg};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use tokio::task::JoinHandle;

use super::{ConnectorError, Remote, RemoteFile, Result, runtime};
use crate::config::Connector;

/// Requests kept in flight per transfer.
const IN_FLIGHT: usize = 16;
/// The largest read or write asked for; servers that announce smaller
/// limits (`limits@openssh.com`) get those.
const CHUNK: u32 = 255 * 1024;
/// russh's client never enlarges its receive window after the handshake,
/// so it has to be large from the start.
const WINDOW: u32 = 16 * 1024 * 1024;

pub struct SftpRemote {
    target: String,
    sftp: Arc<RawSftpSession>,
    /// Keeps the SSH connection open as long as the session is used.
    ssh: russh::client::Handle<Pinned>,
    posix_rename: bool,
    read_len: u32,
    write_len: u32,
    timeout: Duration,
}

/// The client side's one decision: is this the server whose key the
/// configuration pins?
struct Pinned {
    expected: String,
    found: Arc<std::sync::Mutex<Option<String>>>,
}

impl russh::client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            // Certificates are not pinned by fingerprint; refuse them.
            return Ok(false);
        };
        let found = key.fingerprint(HashAlg::Sha256).to_string();
        let ok = found == self.expected;
        *self.found.lock().unwrap_or_else(|p| p.into_inner()) = Some(found);
        Ok(ok)
    }
}

impl SftpRemote {
    pub fn connect(connector: &Connector) -> Result<SftpRemote> {
        let target = connector.describe();
        let timeout = connector.timeout;
        let found = Arc::new(std::sync::Mutex::new(None));
        let handler = Pinned {
            expected: connector.host_key.clone().unwrap_or_default(),
            found: Arc::clone(&found),
        };
        let config = Arc::new(russh::client::Config {
            window_size: WINDOW,
            maximum_packet_size: 65535,
            nodelay: true,
            inactivity_timeout: Some(timeout.max(Duration::from_secs(5)) * 4),
            preferred: Preferred {
                cipher: Cow::Borrowed(crate::ssh::CIPHERS),
                ..Preferred::default()
            },
            ..Default::default()
        });
        let address = (connector.host.clone(), connector.port);
        let connect_error = |e: russh::Error| {
            let found = found.lock().unwrap_or_else(|p| p.into_inner()).clone();
            match (e, found) {
                (russh::Error::UnknownKey, Some(found)) => ConnectorError::HostKey {
                    target: target.clone(),
                    found,
                    expected: connector.host_key.clone().unwrap_or_default(),
                },
                (e, _) => ConnectorError::Connect {
                    target: target.clone(),
                    source: std::io::Error::other(e),
                },
            }
        };
        let mut ssh = block_on(&target, "connecting", timeout, async {
            russh::client::connect(config, address, handler).await
        })?
        .map_err(connect_error)?;

        let mut authenticated = false;
        if let Some(key_file) = &connector.key_file {
            let key = russh::keys::load_secret_key(key_file, None).map_err(|e| {
                ConnectorError::Local(format!(
                    "cannot load the private key {}: {e}",
                    key_file.display()
                ))
            })?;
            authenticated = block_on(&target, "logging in with a key", timeout, async {
                let hash = ssh.best_supported_rsa_hash().await?.flatten();
                ssh.authenticate_publickey(
                    &connector.user,
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
            })?
            .map_err(|e| io_error(&target, "logging in", e))?
            .success();
        }
        if !authenticated && let Some(password) = &connector.password {
            authenticated = block_on(&target, "logging in with a password", timeout, async {
                ssh.authenticate_password(&connector.user, password.expose())
                    .await
            })?
            .map_err(|e| io_error(&target, "logging in", e))?
            .success();
        }
        if !authenticated {
            return Err(ConnectorError::Login { target });
        }

        let (sftp, posix_rename, limits) = block_on(&target, "starting SFTP", timeout, async {
            let channel = ssh
                .channel_open_session()
                .await
                .map_err(std::io::Error::other)?;
            channel
                .request_subsystem(true, "sftp")
                .await
                .map_err(std::io::Error::other)?;
            let sftp = RawSftpSession::new(channel.into_stream());
            sftp.set_timeout(timeout.as_secs().max(1));
            let version = sftp.init().await.map_err(std::io::Error::other)?;
            let has = |name: &str| version.extensions.contains_key(name);
            let limits = if has("limits@openssh.com") {
                sftp.limits().await.ok()
            } else {
                None
            };
            Ok::<_, std::io::Error>((sftp, has("posix-rename@openssh.com"), limits))
        })?
        .map_err(|source| ConnectorError::Io {
            target: target.clone(),
            doing: "starting SFTP".into(),
            source,
        })?;
        let limit = |value: Option<u64>| {
            value
                .filter(|v| *v > 0)
                .map_or(32 * 1024, |v| v.min(CHUNK as u64) as u32)
        };
        let (read_len, write_len) = match &limits {
            Some(l) => (limit(Some(l.max_read_len)), limit(Some(l.max_write_len))),
            // Without limits, 32 KiB is what every server must accept.
            None => (32 * 1024, 32 * 1024),
        };
        Ok(SftpRemote {
            target,
            sftp: Arc::new(sftp),
            ssh,
            posix_rename,
            read_len,
            write_len,
            timeout,
        })
    }

    fn run<T>(&self, doing: &str, future: impl Future<Output = Result<T, SftpError>>) -> Result<T> {
        self.unless_closed(doing, future)?
            .map_err(|e| self.refused(doing, e))
    }

    /// Runs `future` until it ends or the SSH connection closes. A request
    /// in flight when the connection drops would otherwise wait for its
    /// timeout: russh-sftp does not fail pending requests on a closed stream.
    fn unless_closed<T>(&self, doing: &str, future: impl Future<Output = T>) -> Result<T> {
        let ssh = &self.ssh;
        let closed = async {
            while !ssh.is_closed() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let raced = async {
            tokio::select! {
                result = future => Some(result),
                () = closed => None,
            }
        };
        block_on(&self.target, doing, self.timeout * 4, raced)?.ok_or_else(|| ConnectorError::Io {
            target: self.target.clone(),
            doing: doing.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the connection closed",
            ),
        })
    }

    fn refused(&self, doing: &str, e: SftpError) -> ConnectorError {
        ConnectorError::Refused {
            target: self.target.clone(),
            doing: doing.to_owned(),
            message: e.to_string(),
        }
    }
}

fn io_error(target: &str, doing: &str, e: russh::Error) -> ConnectorError {
    ConnectorError::Io {
        target: target.to_owned(),
        doing: doing.to_owned(),
        source: std::io::Error::other(e),
    }
}

/// Runs `future` on the connector runtime from a plain thread, bounded by `limit`.
fn block_on<T>(
    target: &str,
    doing: &str,
    limit: Duration,
    future: impl Future<Output = T>,
) -> Result<T> {
    runtime()
        .block_on(async { tokio::time::timeout(limit, future).await })
        .map_err(|_| ConnectorError::Io {
            target: target.to_owned(),
            doing: doing.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"),
        })
}

fn is_status(e: &SftpError, code: StatusCode) -> bool {
    matches!(e, SftpError::Status(status) if status.status_code == code)
}

impl Remote for SftpRemote {
    fn target(&self) -> &str {
        &self.target
    }

    fn list(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        let sftp = Arc::clone(&self.sftp);
        let dir = if dir.is_empty() { "." } else { dir };
        self.run("listing", async move {
            let handle = sftp.opendir(dir).await?.handle;
            let mut files = Vec::new();
            loop {
                match sftp.readdir(handle.as_str()).await {
                    Ok(name) => {
                        files.extend(name.files.into_iter().filter(|f| f.attrs.is_regular()).map(
                            |f| RemoteFile {
                                size: f.attrs.size.unwrap_or(0),
                                modified: f.attrs.mtime.map(i64::from),
                                name: f.filename,
                            },
                        ))
                    }
                    Err(e) if is_status(&e, StatusCode::Eof) => break,
                    Err(e) => return Err(e),
                }
            }
            let _ = sftp.close(handle).await;
            files.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(files)
        })
    }

    fn size(&mut self, path: &str) -> Result<Option<u64>> {
        let sftp = Arc::clone(&self.sftp);
        let path = path.to_owned();
        self.run("looking up", async move {
            match sftp.stat(path).await {
                Ok(attrs) if attrs.attrs.is_regular() => Ok(attrs.attrs.size),
                Ok(_) => Ok(None),
                Err(e) if is_status(&e, StatusCode::NoSuchFile) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn get(&mut self, path: &str, offset: u64, sink: &mut dyn Write) -> Result<u64> {
        let sftp = Arc::clone(&self.sftp);
        let handle = self.run("opening", {
            let sftp = Arc::clone(&sftp);
            let path = path.to_owned();
            async move {
                Ok(sftp
                    .open(path, OpenFlags::READ, FileAttributes::empty())
                    .await?
                    .handle)
            }
        })?;
        let chunk = self.read_len;
        let read = |at: u64, len: u32| -> JoinHandle<Result<Vec<u8>, SftpError>> {
            let sftp = Arc::clone(&sftp);
            let handle = handle.clone();
            start(async move {
                match sftp.read(handle, at, len).await {
                    Ok(data) => Ok(data.data),
                    Err(e) if is_status(&e, StatusCode::Eof) => Ok(Vec::new()),
                    Err(e) => Err(e),
                }
            })
        };
        let mut queue: VecDeque<(u64, JoinHandle<_>)> = VecDeque::new();
        let mut next = offset;
        let mut position = offset;
        let mut result = Ok(());
        'transfer: loop {
            while queue.len() < IN_FLIGHT {
                queue.push_back((next, read(next, chunk)));
                next += chunk as u64;
            }
            let (at, pending) = queue.pop_front().expect("the queue was just filled");
            debug_assert_eq!(at, position);
            let mut data = match self.join("reading", pending) {
                Ok(data) => data,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            // A server may answer a read with fewer bytes than asked
            // before the end: ask for the rest before going on, so that
            // bytes reach the sink in order.
            let mut wanted = chunk as usize;
            loop {
                if data.is_empty() {
                    break 'transfer;
                }
                if let Err(e) = sink.write_all(&data) {
                    result = Err(ConnectorError::Local(format!("storing {path}: {e}")));
                    break 'transfer;
                }
                position += data.len() as u64;
                wanted -= data.len().min(wanted);
                if wanted == 0 {
                    break;
                }
                data = match self.join("reading", read(position, wanted as u32)) {
                    Ok(data) => data,
                    Err(e) => {
                        result = Err(e);
                        break 'transfer;
                    }
                };
            }
        }
        for (_, pending) in queue {
            pending.abort();
        }
        let sftp_close = Arc::clone(&sftp);
        let _ = self.run("closing", async move {
            sftp_close.close(handle).await.map(|_| ())
        });
        result.map(|()| position - offset)
    }

    fn put(
        &mut self,
        path: &str,
        offset: u64,
        source: &mut dyn Read,
        confirmed: &mut Option<u64>,
    ) -> Result<u64> {
        let sftp = Arc::clone(&self.sftp);
        let flags = if offset == 0 {
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE
        } else {
            OpenFlags::WRITE
        };
        let handle = self.run("creating", {
            let sftp = Arc::clone(&sftp);
            let path = path.to_owned();
            async move {
                Ok(sftp
                    .open(path, flags, FileAttributes::empty())
                    .await?
                    .handle)
            }
        })?;
        let mut queue: VecDeque<(u64, JoinHandle<Result<(), SftpError>>)> = VecDeque::new();
        let mut position = offset;
        *confirmed = Some(offset);
        let mut buf = vec![0; self.write_len as usize];
        let mut result = Ok(());
        loop {
            let n = match fill(source, &mut buf) {
                Ok(n) => n,
                Err(e) => {
                    result = Err(ConnectorError::Local(format!("reading for {path}: {e}")));
                    break;
                }
            };
            if n == 0 {
                break;
            }
            let sftp = Arc::clone(&sftp);
            let handle = handle.clone();
            let data = buf[..n].to_vec();
            let at = position;
            position += n as u64;
            queue.push_back((
                position,
                start(async move { sftp.write(handle, at, data).await.map(|_| ()) }),
            ));
            if queue.len() >= IN_FLIGHT {
                let (end, pending) = queue.pop_front().expect("the queue is full");
                if let Err(e) = self.join("writing", pending) {
                    result = Err(e);
                    break;
                }
                *confirmed = Some(end);
            }
        }
        for (end, pending) in queue {
            if result.is_ok() {
                result = self.join("writing", pending);
                if result.is_ok() {
                    *confirmed = Some(end);
                }
            } else {
                pending.abort();
            }
        }
        let sftp_close = Arc::clone(&sftp);
        // The close is what tells the server the file is complete; its
        // failure is the upload's.
        let closed = self.run("closing", async move {
            sftp_close.close(handle).await.map(|_| ())
        });
        result.and(closed).map(|()| position - offset)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        let sftp = Arc::clone(&self.sftp);
        let (from, to) = (from.to_owned(), to.to_owned());
        if self.posix_rename {
            // OpenSSH's plain rename refuses an existing target; its
            // extension replaces it atomically, as rename(2) does.
            let mut data = Vec::new();
            for s in [&from, &to] {
                data.extend_from_slice(&(s.len() as u32).to_be_bytes());
                data.extend_from_slice(s.as_bytes());
            }
            return self.run("renaming", async move {
                match sftp.extended("posix-rename@openssh.com", data).await? {
                    russh_sftp::protocol::Packet::Status(s) if s.status_code == StatusCode::Ok => {
                        Ok(())
                    }
                    russh_sftp::protocol::Packet::Status(s) => Err(SftpError::Status(s)),
                    _ => Err(SftpError::UnexpectedPacket),
                }
            });
        }
        self.run("renaming", async move {
            if sftp.rename(from.as_str(), to.as_str()).await.is_ok() {
                return Ok(());
            }
            let _ = sftp.remove(to.as_str()).await;
            sftp.rename(from, to).await.map(|_| ())
        })
    }

    fn delete(&mut self, path: &str) -> Result<()> {
        let sftp = Arc::clone(&self.sftp);
        let path = path.to_owned();
        self.run(
            "deleting",
            async move { sftp.remove(path).await.map(|_| ()) },
        )
    }

    fn sha256(&mut self, _path: &str) -> Result<Option<String>> {
        // OpenSSH offers no hash extension, and `check-file` is rare:
        // SFTP transfers are verified by size.
        Ok(None)
    }

    /// Every write in flight when a connection drops may be lost while a
    /// later one was kept, by a server that does not handle a handle's
    /// requests in order: so much is written again.
    fn resume_margin(&self) -> u64 {
        IN_FLIGHT as u64 * u64::from(self.write_len)
    }
}

/// Starts an SFTP request as a task on the connector runtime, after
/// polling it once here: russh-sftp queues a request for the wire on its
/// first poll, so requests leave in the order `start` is called, whatever
/// order the runtime's threads later poll the tasks in.
fn start<T: Send + 'static>(request: impl Future<Output = T> + Send + 'static) -> JoinHandle<T> {
    let mut request = Box::pin(request);
    let first = runtime().block_on(std::future::poll_fn(|cx| {
        Poll::Ready(request.as_mut().poll(cx))
    }));
    match first {
        Poll::Ready(done) => runtime().spawn(async move { done }),
        Poll::Pending => runtime().spawn(request),
    }
}

impl SftpRemote {
    fn join<T>(&self, doing: &str, pending: JoinHandle<Result<T, SftpError>>) -> Result<T> {
        match self.unless_closed(doing, pending)? {
            Ok(result) => result.map_err(|e| self.refused(doing, e)),
            Err(e) => Err(ConnectorError::Local(format!("{doing}: {e}"))),
        }
    }
}

impl Drop for SftpRemote {
    fn drop(&mut self) {
        let _ = self.sftp.close_session();
        let ssh = &self.ssh;
        let _ = runtime().block_on(async {
            tokio::time::timeout(
                Duration::from_secs(2),
                ssh.disconnect(russh::Disconnect::ByApplication, "", "en"),
            )
            .await
        });
    }
}

/// Reads until `buf` is full or the source ends.
fn fill(source: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
