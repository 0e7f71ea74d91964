//! The HTTPS listener (`protocol = "https"`): the file API that scripts
//! use with `curl`, over TLS, with the FTPS certificate handling
//! (`secrets::tls`: the listener's files, or a self-signed pair made in the
//! data directory).
//!
//! Paths are the partner's view, as over SFTP and FTP: `PUT /inbox/NAME`
//! streams an upload (resumable with `Content-Range`), `GET /outbox/NAME`
//! a download (`Range`, an `ETag` that is the SHA-256), `GET /outbox/` a
//! listing (JSON with `Accept: application/json`), `GET /receipts/sent.csv`,
//! `POST /resend/NAME`, `DELETE /outbox/NAME` (hides). Every request is
//! authenticated with HTTP Basic (`auth.rs`), and each one is a session of
//! the partner while it runs: it counts toward `max_sessions`, is listed
//! by the admin API, and a kick cuts it.
//!
//! `path.rs` turns the request's path into a `MailboxPath`, one
//! percent-decoded segment at a time, so that an encoded `/` or `..`
//! never becomes a separator; `files.rs` dispatches on it; `upload.rs` and
//! `download.rs` move the bytes; `error.rs` maps `MailboxError` kinds to
//! statuses.

mod auth;
mod download;
mod error;
mod files;
mod path;
mod session;
mod upload;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;

use crate::config::Listener;
use crate::tenant::Hub;

/// What every request of one listener shares.
#[derive(Clone)]
struct State {
    hub: Arc<Hub>,
    /// The listener's tenant: plain logins belong to it.
    tenant: Option<Arc<str>>,
    /// The web client's logins.
    sessions: Arc<session::WebSessions>,
}

/// The TLS handshake and the first request's headers must come within
/// this; later requests' headers too (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once by one listener; more wait in the kernel's
/// backlog. Each costs a task and TLS buffers, no thread.
const MAX_CONNECTIONS: usize = 1024;
/// What each connection reads from its socket at a time, below TLS.
const READ_BUFFER: usize = 64 << 10;

/// Binds the listener (so that a taken port fails the start) and returns
/// the loop that serves it until dropped.
pub async fn bind(
    hub: Arc<Hub>,
    listener: Listener,
) -> Result<impl Future<Output = ()> + Send + use<>, super::BindError> {
    let data_dir = hub.config().data_dir.clone();
    let tls = listener.ftp.tls.clone();
    let (resolver, cert) = tokio::task::spawn_blocking(move || {
        crate::secrets::tls::certificate(&data_dir, tls.as_ref())
    })
    .await??;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| super::BindError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // The server's order, AES-128-GCM first: clients such as curl ask for
    // AES-256-GCM first, which costs both ends more CPU per byte for no
    // safety that matters here (the SSH side makes the same choice).
    config.ignore_client_order = true;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let socket = tokio::net::TcpListener::bind(listener.address)
        .await
        .map_err(|source| super::BindError::Bind {
            what: "HTTPS listener".into(),
            address: listener.address,
            source,
        })?;
    tracing::info!(
        address = %listener.address,
        tenant = listener.tenant.as_deref().unwrap_or("(named at login)"),
        certificate = %cert.display(),
        "HTTPS listener ready"
    );
    let state = State {
        hub: Arc::clone(&hub),
        tenant: listener.tenant.as_deref().map(Arc::from),
        sessions: Arc::default(),
    };
    let app = files::routes().with_state(state);
    Ok(serve(hub, listener, socket, acceptor, app))
}

/// rustls' default cryptography with AES-128-GCM as the first choice.
fn provider() -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    provider
}

/// Accepts connections: each one passes the hub's gate (connections not
/// logged in yet, per listener and address) until its TLS handshake is
/// done, then hyper serves its requests.
async fn serve(
    hub: Arc<Hub>,
    listener: Listener,
    socket: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (stream, peer) = match socket.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: back off instead of spinning.
                tracing::warn!(error = %e, "accepting an HTTPS connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let limits = hub.config().limits.clone();
        let startup = match hub.gate().enter(listener.address, peer.ip(), &limits) {
            Ok(startup) => startup,
            Err(full) => {
                tracing::info!(%peer, %full, "HTTPS connection turned away");
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            // rustls reads about one TLS record (16 KiB) a call: without a
            // buffer below it, a 256 MiB upload took 16,397 `recvfrom`
            // calls; with it, 4,112 (2026-12-07, `strace -c`).
            let stream = tokio::io::BufReader::with_capacity(READ_BUFFER, stream);
            let tls = match tokio::time::timeout(limits.login_grace, acceptor.accept(stream)).await
            {
                Ok(Ok(tls)) => tls,
                _ => {
                    tracing::debug!(%peer, "HTTPS handshake failed");
                    return;
                }
            };
            drop(startup);
            serve_connection(tls, peer, app, limits.idle_timeout).await;
            drop(permit);
        });
    }
}

/// Serves one connection's requests. A connection on which no request
/// has started for `idle` is closed once the one in flight (an upload of
/// any length) has ended: keep-alive never holds a connection for ever.
async fn serve_connection<S>(stream: S, peer: SocketAddr, app: Router, idle: Duration)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use std::sync::atomic::{AtomicU64, Ordering};
    use tower::ServiceExt as _;
    let opened = std::time::Instant::now();
    let last_request = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&last_request);
    // Handlers learn the client's address as axum's `ConnectInfo`.
    let app = app.map_request(move |mut request: hyper::Request<hyper::body::Incoming>| {
        seen.store(opened.elapsed().as_millis() as u64, Ordering::Relaxed);
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    });
    let service = hyper_util::service::TowerToHyperService::new(app);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT.min(idle));
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "an HTTPS connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(idle / 4), if !closing => {
                let quiet = (opened.elapsed().as_millis() as u64)
                    .saturating_sub(last_request.load(Ordering::Relaxed));
                if quiet >= idle.as_millis() as u64 {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}
