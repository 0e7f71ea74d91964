//! Idle SFTP sessions, many of them from one process: each logs in with the
//! key, opens the `sftp` subsystem, completes the SFTP handshake, and then
//! holds its connection open without a request until dropped. russh is the
//! client (one `sftp` process per session would measure the clients).

use std::path::Path;
use std::sync::Arc;

use russh::keys::{PrivateKeyWithHashAlg, load_secret_key};
use russh_sftp::client::RawSftpSession;
use tokio::sync::Semaphore;

/// Accepts any host key: the bench's servers are its own, on loopback.
struct Loopback;

impl russh::client::Handler for Loopback {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// One open session; dropping it closes the connection.
pub struct Idle {
    _sftp: RawSftpSession,
    _ssh: russh::client::Handle<Loopback>,
}

async fn open_one(
    port: u16,
    user: &str,
    key: Arc<russh::keys::PrivateKey>,
) -> Result<Idle, String> {
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: None,
        ..Default::default()
    });
    let mut ssh = russh::client::connect(config, ("127.0.0.1", port), Loopback)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let auth = ssh
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key, None))
        .await
        .map_err(|e| format!("login: {e}"))?;
    if !auth.success() {
        return Err("login refused".into());
    }
    let channel = ssh
        .channel_open_session()
        .await
        .map_err(|e| format!("channel: {e}"))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| format!("subsystem: {e}"))?;
    let sftp = RawSftpSession::new(channel.into_stream());
    sftp.init().await.map_err(|e| format!("SFTP init: {e}"))?;
    Ok(Idle {
        _sftp: sftp,
        _ssh: ssh,
    })
}

/// Opens `count` sessions, `parallel` handshakes at a time (sshd's
/// `MaxStartups` drops unauthenticated connections past its limit).
pub fn open(
    runtime: &tokio::runtime::Runtime,
    port: u16,
    user: &'static str,
    key: &Path,
    count: usize,
    parallel: usize,
) -> Vec<Idle> {
    let key = Arc::new(load_secret_key(key, None).unwrap());
    runtime.block_on(async {
        let gate = Arc::new(Semaphore::new(parallel));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..count {
            let (gate, key) = (Arc::clone(&gate), Arc::clone(&key));
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await.unwrap();
                open_one(port, user, key).await
            });
        }
        let mut sessions = Vec::with_capacity(count);
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(session) => sessions.push(session),
                Err(e) => panic!("an idle session on port {port} failed: {e}"),
            }
        }
        sessions
    })
}
