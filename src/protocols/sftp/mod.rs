//! The SFTP server: SSH on russh, the `sftp` subsystem served by ferry's own
//! dispatcher (`session.rs`) over each account's mailbox view, and the
//! legacy scp protocol (`scp -O`) on exec channels (`scp.rs`).
//!
//! russh runs a connection's handler methods one at a time, so the handler
//! only authenticates and hands the channel to a spawned session task.

mod scp;
pub(crate) mod session;

use std::borrow::Cow;
use std::future::Future as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId, MethodKind, MethodSet, Preferred};
use tokio::net::TcpListener;

use super::login::{self, Candidate};
use crate::config::Listener;
use crate::secrets::host_keys;
use crate::tenant::Hub;

/// The SSH window: large, so that a single stream is not throttled by
/// round trips on fast links.
const WINDOW: u32 = 16 << 20;
/// The largest SSH packet payload (the russh client logs an error above 65535).
const MAX_PACKET: u32 = 65535;

/// Binds the listener (so that a taken port fails the start) and returns
/// the loop that serves it until dropped.
pub async fn bind(
    hub: Arc<Hub>,
    listener: Listener,
) -> Result<impl std::future::Future<Output = ()> + Send, super::BindError> {
    let data_dir = hub.config().data_dir.clone();
    let keys = {
        let data_dir = data_dir.clone();
        tokio::task::spawn_blocking(move || host_keys::load_or_create(&data_dir)).await??
    };
    let idle = hub.config().limits.idle_timeout;
    let config = HostKeys {
        stamp: host_keys::stamp(&data_dir),
        data_dir,
        idle,
        config: server_config(keys, idle),
    };
    let tcp = TcpListener::bind(listener.address)
        .await
        .map_err(|source| super::BindError::Bind {
            what: "SFTP listener".into(),
            address: listener.address,
            source,
        })?;
    tracing::info!(address = %listener.address, tenant = ?listener.tenant, "SFTP listening");
    Ok(accept(hub, listener, tcp, config))
}

/// The server configuration with the host keys as their files are: a
/// connection after the files were replaced gets the new keys (rotation
/// without a restart); files that cannot be read leave the keys in use.
struct HostKeys {
    data_dir: std::path::PathBuf,
    stamp: crate::secrets::Stamp<2>,
    idle: Duration,
    config: Arc<russh::server::Config>,
}

impl HostKeys {
    fn current(&mut self) -> Arc<russh::server::Config> {
        let now = host_keys::stamp(&self.data_dir);
        if now != self.stamp {
            self.stamp = now;
            match host_keys::load(&self.data_dir) {
                Ok(keys) => {
                    tracing::info!("SSH host keys replaced");
                    self.config = server_config(keys, self.idle);
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "new SSH host keys cannot be used; the current ones stay")
                }
            }
        }
        Arc::clone(&self.config)
    }
}

fn server_config(keys: Vec<russh::keys::PrivateKey>, idle: Duration) -> Arc<russh::server::Config> {
    let mut methods = MethodSet::empty();
    methods.push(MethodKind::PublicKey);
    methods.push(MethodKind::Password);
    Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard(Cow::Borrowed("SSH-2.0-ferry")),
        methods,
        keys,
        window_size: WINDOW,
        maximum_packet_size: MAX_PACKET,
        nodelay: true,
        // Messages queued from the session's tasks to its connection: russh
        // encrypts everything queued into one write buffer before it writes
        // to the socket, and that buffer keeps its largest size for the
        // connection's life. Ten (the default) grew it to ~450 KiB a session
        // (90 MiB for 200 downloads); four keep it near 128 KiB, at the same
        // throughput here.
        event_buffer_size: 4,
        auth_rejection_time: Duration::from_millis(500),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: Some(idle),
        preferred: Preferred {
            cipher: Cow::Borrowed(crate::ssh::CIPHERS),
            ..Preferred::default()
        },
        ..Default::default()
    })
}

async fn accept(hub: Arc<Hub>, listener: Listener, tcp: TcpListener, mut keys: HostKeys) {
    loop {
        let (socket, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, say: wait a little, keep serving.
                tracing::warn!(error = %e, "accepting an SFTP connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if hub.guard().banned(listener.tenant.as_deref(), peer.ip()) {
            tracing::info!(%peer, "refused a connection from a banned address");
            continue;
        }
        let limits = hub.config().limits.clone();
        let startup = match hub.gate().enter(listener.address, peer.ip(), &limits) {
            Ok(startup) => startup,
            Err(full) => {
                tracing::info!(%peer, %full, "SSH connection turned away");
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let authenticated = Arc::new(AtomicBool::new(false));
        let handler = Connection {
            hub: Arc::clone(&hub),
            bound: listener.tenant.clone(),
            peer,
            user: None,
            key_verified: None,
            channels: Vec::new(),
            startup: Some(startup),
            authenticated: Arc::clone(&authenticated),
        };
        let config = keys.current();
        let socket = Grace::new(socket, limits.login_grace, authenticated);
        tokio::spawn(async move {
            match russh::server::run_stream(config, socket, handler).await {
                Ok(session) => {
                    if let Err(e) = session.await {
                        tracing::debug!(%peer, error = %e, "SSH session ended with an error");
                    }
                }
                Err(e) => tracing::debug!(%peer, error = %e, "SSH handshake failed"),
            }
        });
    }
}

/// A connection that must log in within `login_grace` (OpenSSH's
/// `LoginGraceTime`): until the handler marks it authenticated, a read
/// after the deadline fails, whatever the client sends or holds back.
struct Grace<S> {
    inner: S,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    authenticated: Arc<AtomicBool>,
}

impl<S> Grace<S> {
    fn new(inner: S, grace: Duration, authenticated: Arc<AtomicBool>) -> Grace<S> {
        Grace {
            inner,
            deadline: Box::pin(tokio::time::sleep(grace)),
            authenticated,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Grace<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        if !self.authenticated.load(Ordering::Relaxed) && self.deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no login within login_grace",
            )));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Grace<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One SSH connection.
struct Connection {
    hub: Arc<Hub>,
    bound: Option<String>,
    peer: SocketAddr,
    /// The authenticated account.
    user: Option<Candidate>,
    /// The login whose key was verified, for accounts that need a key and
    /// then the password.
    key_verified: Option<String>,
    /// Opened session channels waiting for their subsystem request.
    channels: Vec<Channel<Msg>>,
    /// The connection's place among those not logged in yet; `None` once
    /// logged in.
    startup: Option<crate::tenant::gate::Startup>,
    /// Set at login, for the login-grace watchdog.
    authenticated: Arc<AtomicBool>,
}

impl Connection {
    /// Marks the connection logged in as `candidate`.
    fn accept(&mut self, candidate: Candidate) -> Auth {
        self.user = Some(candidate);
        self.startup = None;
        self.authenticated.store(true, Ordering::Relaxed);
        Auth::Accept
    }

    /// Whether the address is banned from the logins `user` aims at.
    fn banned(&self, user: &str) -> bool {
        let tenant = login::aimed_at(&self.hub, self.bound.as_deref(), user);
        self.hub.guard().banned(tenant.as_deref(), self.peer.ip())
    }
}

/// Why an SSH connection's handler stopped: the SSH layer's own error, or
/// a blocking task of its that did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
    #[error("a blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl russh::server::Handler for Connection {
    type Error = ConnectionError;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        // An account that needs its key and then its password is refused
        // here until its key was verified, like a wrong password: a
        // different answer would tell that the account exists.
        let key_first = login::resolve(&self.hub, self.bound.as_deref(), user)
            .is_some_and(|c| c.account.key_and_password)
            && self.key_verified.as_deref() != Some(user);
        let attempt = login::Attempt {
            hub: &self.hub,
            bound: self.bound.as_deref(),
            user,
            ip: self.peer.ip(),
            protocol: "sftp",
            tls: true,
            refuse: key_first,
        };
        match login::password_login(attempt, password).await {
            Ok(candidate) => {
                tracing::info!(peer = %self.peer, user, "SFTP login (password)");
                Ok(self.accept(candidate))
            }
            Err(_) => Ok(Auth::reject()),
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Only keys that could succeed are worth a signature from the client.
        let known = login::resolve(&self.hub, self.bound.as_deref(), user).is_some_and(|c| {
            login::key_matches(&c.account, offer.public_key) && c.allows(self.peer.ip())
        });
        Ok(if known { Auth::Accept } else { Auth::reject() })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.banned(user) {
            return Ok(Auth::reject());
        }
        let candidate = login::resolve(&self.hub, self.bound.as_deref(), user);
        match candidate {
            Some(c)
                if login::key_matches(&c.account, key.public_key) && c.allows(self.peer.ip()) =>
            {
                if c.account.key_and_password {
                    // Half-way: the password must follow.
                    self.key_verified = Some(user.to_owned());
                    return Ok(Auth::Reject {
                        proceed_with_methods: Some(MethodSet::from(&[MethodKind::Password][..])),
                        partial_success: true,
                    });
                }
                tracing::info!(peer = %self.peer, user, "SFTP login (public key)");
                Ok(self.accept(c))
            }
            _ => {
                let tenant = login::aimed_at(&self.hub, self.bound.as_deref(), user);
                let (hub, ip, user) = (Arc::clone(&self.hub), self.peer.ip(), user.to_owned());
                tokio::task::spawn_blocking(move || {
                    login::failed(&hub, ip, &user, tenant.as_deref(), "sftp")
                })
                .await?;
                Ok(Auth::reject())
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.push(channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if name != "sftp" {
            session.channel_failure(channel_id)?;
            return Ok(());
        }
        let Some((channel, context, exit)) = self.start(channel_id, "sftp", session)? else {
            return Ok(());
        };
        let (mut incoming, outgoing) = channel.split();
        tokio::spawn(async move {
            session::run(incoming.make_reader(), outgoing, context, Some(exit)).await;
        });
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel_id: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // No shell and no commands but the one `scp -O` runs (`scp.rs`).
        let Some(mode) = scp::parse(data) else {
            session.channel_failure(channel_id)?;
            return Ok(());
        };
        let Some((channel, context, exit)) = self.start(channel_id, "scp", session)? else {
            return Ok(());
        };
        let (mut incoming, outgoing) = channel.split();
        tokio::spawn(async move {
            match mode {
                Ok(mode) => scp::run(incoming.make_reader(), outgoing, context, exit, mode).await,
                // A command scp cannot serve: its error, as scp prints it.
                Err(why) => {
                    let line = format!("\x01{why}\n");
                    let _ = outgoing.data_bytes(bytes::Bytes::from(line)).await;
                    let _ = exit.handle.exit_status_request(exit.channel, 1).await;
                    let _ = outgoing.eof().await;
                    let _ = outgoing.close().await;
                }
            }
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)?;
        Ok(())
    }
}

impl Connection {
    /// Opens a logged-in session on an open channel for `protocol`
    /// (`sftp`, `scp`): its ticket (limits, kicks), the channel taken, the
    /// request answered. `None` (the request refused) when the channel is
    /// unknown, nobody is logged in, or the session limit is reached.
    fn start(
        &mut self,
        channel_id: ChannelId,
        protocol: &'static str,
        session: &mut Session,
    ) -> Result<Option<(Channel<Msg>, session::Context, session::Exit)>, russh::Error> {
        let position = self.channels.iter().position(|c| c.id() == channel_id);
        let (Some(user), Some(position)) = (&self.user, position) else {
            session.channel_failure(channel_id)?;
            return Ok(None);
        };
        let ticket = match self.hub.open_session(
            &user.tenant,
            &user.partner,
            &user.account,
            protocol,
            self.peer,
        ) {
            Ok(ticket) => ticket,
            Err(why) => {
                tracing::warn!(peer = %self.peer, %why, protocol, "session refused: session limit");
                session.channel_failure(channel_id)?;
                return Ok(None);
            }
        };
        // A kick (or the tenant's removal) ends the whole connection.
        let kicked = ticket.kicked();
        let handle = session.handle();
        tokio::spawn(async move {
            if !kicked.await {
                return;
            }
            let _ = handle
                .disconnect(
                    russh::Disconnect::ByApplication,
                    "the session was closed by the server's operator".into(),
                    "en".into(),
                )
                .await;
        });
        let channel = self.channels.swap_remove(position);
        session.channel_success(channel_id)?;
        let context = session::Context {
            hub: Arc::clone(&self.hub),
            tenant: Arc::clone(&user.tenant),
            partner: user.partner.clone(),
            peer: self.peer,
            ticket,
        };
        let exit = session::Exit {
            handle: session.handle(),
            channel: channel_id,
        };
        Ok(Some((channel, context, exit)))
    }
}
