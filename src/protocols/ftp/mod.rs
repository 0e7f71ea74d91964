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

use tokio::net::TcpListener;

use crate::config::{Listener, Protocol};
use crate::tenant::Hub;

/// What every session of one listener shares.
pub struct Server {
    pub hub: Arc<Hub>,
    pub listener: Listener,
    pub tls: Arc<rustls::ServerConfig>,
    /// For data connections (`PROT P`).
    pub data_tls: Arc<rustls::ServerConfig>,
}

/// Binds the listener (so that a taken port fails the start) and returns
/// the loop that serves it until dropped.
pub async fn bind(
    hub: Arc<Hub>,
    listener: Listener,
) -> Result<impl std::future::Future<Output = ()> + Send, super::BindError> {
    let data_dir = hub.config().data_dir.clone();
    let options = listener.ftp.clone();
    let (tls, data_tls) =
        tokio::task::spawn_blocking(move || tls::server_config(&data_dir, &options)).await??;
    let socket = TcpListener::bind(listener.address)
        .await
        .map_err(|source| super::BindError::Bind {
            what: format!("{} listener", listener.protocol.as_str()),
            address: listener.address,
            source,
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
    });
    Ok(async move {
        loop {
            let (stream, peer) = match socket.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait a little (a loop
                    // that retries at once would spin a core and fill the
                    // log), then serve on.
                    tracing::warn!(error = %e, "accepting an FTP connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let server = Arc::clone(&server);
            let limits = server.hub.config().limits.clone();
            let startup = server
                .hub
                .gate()
                .enter(server.listener.address, peer.ip(), &limits);
            tokio::spawn(async move {
                let startup = match startup {
                    Ok(startup) => startup,
                    Err(full) => {
                        tracing::info!(%peer, %full, "FTP connection turned away");
                        if server.listener.protocol == Protocol::Ftp {
                            use tokio::io::AsyncWriteExt as _;
                            let mut stream = stream;
                            let reply = format!("421 {full}\r\n");
                            let _ = tokio::time::timeout(
                                std::time::Duration::from_secs(1),
                                stream.write_all(reply.as_bytes()),
                            )
                            .await;
                        }
                        return;
                    }
                };
                let _ = stream.set_nodelay(true);
                let local = match stream.local_addr() {
                    Ok(local) => local,
                    Err(_) => return,
                };
                let control = if server.listener.protocol == Protocol::Ftps {
                    // Implicit FTPS: TLS from the first byte, within the
                    // time a login may take.
                    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&server.tls));
                    match tokio::time::timeout(limits.login_grace, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => control::Control::new(control::Stream::Tls(Box::new(tls))),
                        _ => {
                            tracing::debug!(%peer, "implicit FTPS handshake failed");
                            return;
                        }
                    }
                } else {
                    control::Control::new(control::Stream::Plain(stream))
                };
                session::run(server, control, peer, local, startup).await;
            });
        }
    })
}
