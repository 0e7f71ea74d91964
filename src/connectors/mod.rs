//! Connectors: ferry as a client of partners' own servers.
//!
//! A [`Remote`] is one logged-in session on a partner's server (SFTP, FTP,
//! FTPS or a local directory), with the handful of operations pulling and
//! pushing need: list a directory, read from an offset, write from an
//! offset, rename, delete, and ask for a hash where the server can give one.
//! Every method blocks: connectors run on the pipeline's worker threads and
//! on the poller's threads, never on the protocol servers' async threads.
//!
//! `push.rs` places a delivered file on the partner's server (temporary
//! name, resume, rename, verify), and `fxp.rs` moves a file between two FTP
//! servers directly. Fetching what a partner leaves on its server is the
//! poller's (`crate::poller`), which commits through the tenant: connectors
//! know remote servers, not mailboxes.

mod ftp;
mod fxp;
mod local;
mod push;
mod sftp;

use std::io::{self, Read, Write};
use std::sync::OnceLock;

use crate::config::{Connector, ConnectorProtocol};

pub use fxp::{FxpReport, fxp_transfer};
pub use push::{Attempts, Outgoing, PushReport, push_file};

/// Why a connector operation failed. Every variant names the server it
/// concerns; none carries a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("cannot connect to {target}")]
    Connect {
        target: String,
        #[source]
        source: io::Error,
    },
    #[error("{target} presented host key {found}, but the configuration pins {expected}")]
    HostKey {
        target: String,
        found: String,
        expected: String,
    },
    /// An FTPS server whose certificate does not check out against the
    /// configured `tls_ca_file` (or the system's roots).
    #[error("{target} presented a certificate ferry does not trust: {why}")]
    Certificate { target: String, why: String },
    #[error("{target} refused the login")]
    Login { target: String },
    /// The server answered, but not as hoped.
    #[error("{target}: {doing}: {message}")]
    Refused {
        target: String,
        doing: String,
        message: String,
    },
    #[error("{target}: {doing}")]
    Io {
        target: String,
        doing: String,
        #[source]
        source: io::Error,
    },
    /// The bytes on the server are not the bytes ferry sent or expected.
    #[error("{target}: verification failed for {path}: {why}")]
    Verify {
        target: String,
        path: String,
        why: String,
    },
    #[error("reading ferry's copy: {0}")]
    Local(String),
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// A file in a remote directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    pub size: u64,
    /// Seconds since the Unix epoch, when the server tells.
    pub modified: Option<i64>,
}

/// One session on a partner's server. Paths are the server's own, `/`
/// separated; connectors never map them onto ferry's file system.
pub trait Remote: Send {
    /// What logs and the journal call this server (no password).
    fn target(&self) -> &str;

    /// The regular files of `dir`.
    fn list(&mut self, dir: &str) -> Result<Vec<RemoteFile>>;

    /// The size of `path`, or `None` when there is no such file.
    fn size(&mut self, path: &str) -> Result<Option<u64>>;

    /// Copies `path` from `offset` to its end into `sink`; returns the bytes copied.
    fn get(&mut self, path: &str, offset: u64, sink: &mut dyn Write) -> Result<u64>;

    /// Writes `source` into `path` from `offset`: 0 creates or truncates the
    /// file, a larger offset continues a partial one. Returns the bytes written.
    ///
    /// Protocols whose writes the server confirms one by one (SFTP) keep
    /// `confirmed` at the offset below which every byte is confirmed, so
    /// that after a failure the next attempt can start there; protocols that
    /// write one ordered stream leave it alone, as the size of the partial
    /// file on the server then tells how much of it is there.
    fn put(
        &mut self,
        path: &str,
        offset: u64,
        source: &mut dyn Read,
        confirmed: &mut Option<u64>,
    ) -> Result<u64>;

    /// Renames `from` to `to`, replacing `to` if it exists.
    fn rename(&mut self, from: &str, to: &str) -> Result<()>;

    fn delete(&mut self, path: &str) -> Result<()>;

    /// The SHA-256 of `path` in lowercase hex, when the server can compute
    /// one (FTP `HASH` or `XSHA256`); `None` when it cannot.
    fn sha256(&mut self, path: &str) -> Result<Option<String>>;

    /// How far before the end of a partial file a resumed write starts:
    /// the bytes an interrupted session may have left with gaps in them.
    /// 0 for protocols that write one ordered stream.
    fn resume_margin(&self) -> u64 {
        0
    }
}

/// Opens a session on the server `connector` describes.
pub fn connect(connector: &Connector) -> Result<Box<dyn Remote>> {
    Ok(match connector.protocol {
        ConnectorProtocol::Local => Box::new(local::LocalDir::open(connector)?),
        ConnectorProtocol::Sftp => Box::new(sftp::SftpRemote::connect(connector)?),
        ConnectorProtocol::Ftp | ConnectorProtocol::Ftps | ConnectorProtocol::FtpsImplicit => {
            Box::new(ftp::FtpRemote::connect(connector)?)
        }
    })
}

/// `dir/name`, for remote paths.
pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The runtime SFTP connectors run russh on. Their callers are plain
/// threads that block on it, so one small runtime serves every connector.
fn runtime() -> &'static tokio::runtime::Runtime {
    // Process-wide: threads shared by every tenant's connectors, whose
    // transfers are bounded per tenant (`max_connector_transfers`).
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("connector")
            .enable_all()
            .build()
            .expect("building the connector runtime")
    })
}

/// The size of every read and write: large, so that a 1 GiB transfer costs
/// a few thousand system calls, not millions.
const CHUNK: usize = 256 * 1024;

/// Copies `reader` into `writer` in [`CHUNK`]s; returns the bytes copied.
fn copy(reader: &mut dyn Read, writer: &mut dyn Write) -> io::Result<u64> {
    let mut buf = vec![0; CHUNK];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        writer.write_all(&buf[..n])?;
        total += n as u64;
    }
}
