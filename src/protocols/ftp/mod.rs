//! The FTP and FTPS server: ferry's own protocol engine on tokio + rustls.
//!
//! libunftp was the first choice (see ARCHITECTURE.md for why it is not
//! used): its public API cannot add verbs (`HASH`, `XSHA256`) or serve a
//! connection it did not accept itself (implicit FTPS). So this module
//! speaks FTP itself: `control.rs` reads lines and writes replies over
//! plain TCP or TLS, `session.rs` holds a session's state and dispatches
//! each verb to its handler (`auth.rs`, `navigate.rs`, `files.rs`,
//! `transfer.rs`), and `data.rs` opens data connections and moves bytes on
//! blocking threads with large buffers. Every file operation goes through
//! `tenant::Tenant`, exactly as the SFTP server's do.

mod auth;
mod control;
mod data;
mod files;
mod navigate;
mod session;
mod tls;
mod transfer;

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use super::login::Guard;
use crate::config::{Listener, Protocol};
use crate::tenant::Hub;

/// What every session of one listener shares.
pub struct Server {
    pub hub: Arc<Hub>,
    pub listener: Listener,
    pub tls: Arc<rustls::ServerConfig>,
    /// For data connections (`PROT P`).
    pub data_tls: Arc<rustls::ServerConfig>,
    pub guard: Arc<Guard>,
}

/// Binds the listener (so that a taken port fails the start) and returns
/// the loop that serves it until dropped.
pub async fn bind(
    hub: Arc<Hub>,
    listener: Listener,
) -> anyhow::Result<impl std::future::Future<Output = ()> + Send> {
    let data_dir = hub.config().data_dir.clone();
    let options = listener.ftp.clone();
    let (tls, data_tls) =
        tokio::task::spawn_blocking(move || tls::server_config(&data_dir, &options)).await??;
    let socket = TcpListener::bind(listener.address).await.with_context(|| {
        format!(
            "binding the {} listener on {}",
            listener.protocol.as_str(),
            listener.address
        )
    })?;
    tracing::info!(
        address = %listener.address,
        protocol = listener.protocol.as_str(),
        tenant = listener.tenant.as_deref().unwrap_or("(named at login)"),
        "FTP listener ready"
    );
    let server = Arc::new(Server {
        hub,
        listener,
        tls,
        data_tls,
        guard: Arc::new(Guard::default()),
    });
    Ok(async move {
        loop {
            let (stream, peer) = match socket.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an FTP connection failed");
                    continue;
                }
            };
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let local = match stream.local_addr() {
                    Ok(local) => local,
                    Err(_) => return,
                };
                let control = if server.listener.protocol == Protocol::Ftps {
                    // Implicit FTPS: TLS from the first byte.
                    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&server.tls));
                    match tokio::time::timeout(
                        std::time::Duration::from_secs(30),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => control::Control::new(control::Stream::Tls(Box::new(tls))),
                        _ => {
                            tracing::debug!(%peer, "implicit FTPS handshake failed");
                            return;
                        }
                    }
                } else {
                    control::Control::new(control::Stream::Plain(stream))
                };
                session::run(server, control, peer, local).await;
            });
        }
    })
}
