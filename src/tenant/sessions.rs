//! The logged-in sessions of every tenant: counted against the tenant's
//! and the partner's `max_sessions`, listed by the admin API, and closed
//! on request (a kick, or the tenant's removal).
//!
//! A protocol opens a [`Ticket`] when a login is accepted and keeps it for
//! as long as the session lives; dropping it ends the session's entry. A
//! kick flips the ticket's watch channel, which the protocol's session
//! loop (FTP) or a task next to the connection (SFTP) waits on.
//!
//! While a session moves a file it holds a [`Transfer`] from its ticket:
//! the file's name, which way, and the bytes so far (one relaxed atomic
//! store per write or read), shown with the session and gone when the
//! transfer ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::watch;

use crate::journal::Timestamp;
use crate::metrics::SessionGauge;

/// What the admin API shows of a session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionInfo {
    pub id: u64,
    pub tenant: String,
    pub partner: String,
    pub login: String,
    pub protocol: String,
    pub peer: String,
    pub started_at: Timestamp,
    /// What the session is moving now. Absent in a heartbeat from a node
    /// that predates it.
    #[serde(default)]
    pub transfers: Vec<TransferInfo>,
}

/// One file a session is moving now.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TransferInfo {
    /// `upload` or `download`.
    pub direction: String,
    pub name: String,
    /// Bytes received or sent so far (an upload resumed counts what it
    /// resumed from).
    pub bytes: u64,
    pub started_at: Timestamp,
}

/// A transfer in progress, as the registry holds it.
struct Moving {
    direction: &'static str,
    name: String,
    bytes: AtomicU64,
    started_at: Timestamp,
}

struct Live {
    info: SessionInfo,
    transfers: Vec<Arc<Moving>>,
    /// What the login was accepted with ([`credentials`]): a session whose
    /// account changed or went is ended at the next reload.
    credentials: u64,
    kick: watch::Sender<bool>,
}

/// A fingerprint of what lets an account in: its password hash, keys and
/// the rules on how it logs in. Two accounts with the same fingerprint
/// accept the same logins.
pub fn credentials(account: &crate::config::Account) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    account.login.hash(&mut hasher);
    account.password_hash.hash(&mut hasher);
    account.ssh_keys.hash(&mut hasher);
    account.token_sha256.hash(&mut hasher);
    account.key_and_password.hash(&mut hasher);
    account.require_tls.hash(&mut hasher);
    hasher.finish()
}

#[derive(Default)]
pub struct Sessions {
    next: AtomicU64,
    live: Mutex<HashMap<u64, Live>>,
    /// Woken when a session opens or closes: `serve` then tells the other
    /// nodes (its heartbeat carries the list).
    changed: tokio::sync::Notify,
}

/// Who is logging in, for [`Sessions::open`].
pub struct Opening<'a> {
    pub tenant: &'a str,
    pub partner: &'a str,
    pub login: &'a str,
    pub protocol: &'a str,
    pub peer: SocketAddr,
    /// The account's [`credentials`].
    pub credentials: u64,
    /// The tenant's and the partner's `max_sessions`.
    pub tenant_limit: Option<u32>,
    pub partner_limit: Option<u32>,
    /// The tenant's and the partner's sessions on the other nodes of the
    /// journal, which count toward the same limits.
    pub elsewhere: (u32, u32),
}

/// A live session's place in the registry; dropping it removes it.
pub struct Ticket {
    id: u64,
    sessions: Weak<Sessions>,
    kicked: watch::Receiver<bool>,
    _gauge: SessionGauge,
}

impl Sessions {
    /// Registers a session, unless its tenant or partner is at its limit
    /// (then `Err` says which).
    pub fn open(self: &Arc<Self>, who: &Opening<'_>) -> Result<Ticket, String> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let of_tenant = live.values().filter(|l| l.info.tenant == who.tenant);
        let (tenant_count, partner_count) = of_tenant.fold(who.elsewhere, |(t, p), l| {
            (t + 1, p + u32::from(l.info.partner == who.partner))
        });
        if let Some(limit) = who.tenant_limit
            && tenant_count >= limit
        {
            return Err(format!(
                "tenant `{}` has {limit} sessions open, its limit",
                who.tenant
            ));
        }
        if let Some(limit) = who.partner_limit
            && partner_count >= limit
        {
            return Err(format!(
                "partner `{}` has {limit} sessions open, its limit",
                who.partner
            ));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (kick, kicked) = watch::channel(false);
        live.insert(
            id,
            Live {
                info: SessionInfo {
                    id,
                    tenant: who.tenant.to_owned(),
                    partner: who.partner.to_owned(),
                    login: who.login.to_owned(),
                    protocol: who.protocol.to_owned(),
                    peer: who.peer.to_string(),
                    started_at: Timestamp::now(),
                    transfers: Vec::new(),
                },
                transfers: Vec::new(),
                credentials: who.credentials,
                kick,
            },
        );
        self.changed.notify_one();
        Ok(Ticket {
            id,
            sessions: Arc::downgrade(self),
            kicked,
            _gauge: crate::metrics::metrics().session(who.tenant, who.protocol),
        })
    }

    /// The live sessions of `tenant` (every tenant's with `None`), oldest first.
    pub fn list(&self, tenant: Option<&str>) -> Vec<SessionInfo> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut list: Vec<SessionInfo> = live
            .values()
            .filter(|l| tenant.is_none_or(|t| l.info.tenant == t))
            .map(|l| SessionInfo {
                transfers: l
                    .transfers
                    .iter()
                    .map(|m| TransferInfo {
                        direction: m.direction.to_owned(),
                        name: m.name.clone(),
                        bytes: m.bytes.load(Ordering::Relaxed),
                        started_at: m.started_at,
                    })
                    .collect(),
                ..l.info.clone()
            })
            .collect();
        list.sort_by_key(|s| s.id);
        list
    }

    /// Resolves when a session opened or closed since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Asks session `id` of `tenant` to close; `false` when there is none.
    pub fn kick(&self, tenant: &str, id: u64) -> bool {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        match live.get(&id) {
            Some(l) if l.info.tenant == tenant => {
                l.kick.send_replace(true);
                true
            }
            _ => false,
        }
    }

    /// Asks every session whose login `still_valid` no longer accepts (given
    /// the session and the fingerprint it logged in with) to close: an
    /// account deleted, its password or keys changed, its partner gone.
    /// Returns how many.
    pub fn revoke(&self, still_valid: impl Fn(&SessionInfo, u64) -> bool) -> usize {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut revoked = 0;
        for session in live.values() {
            if !still_valid(&session.info, session.credentials) {
                tracing::warn!(tenant = %session.info.tenant, login = %session.info.login,
                    id = session.info.id, "closing a session whose credentials were revoked");
                session.kick.send_replace(true);
                revoked += 1;
            }
        }
        revoked
    }

    /// Asks every session of `tenant` to close; returns how many there were.
    pub fn kick_tenant(&self, tenant: &str) -> usize {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut kicked = 0;
        for session in live.values().filter(|l| l.info.tenant == tenant) {
            session.kick.send_replace(true);
            kicked += 1;
        }
        kicked
    }
}

impl Ticket {
    /// Whether the session was asked to close already (checked before a
    /// command that was read ahead is served).
    pub fn is_kicked(&self) -> bool {
        *self.kicked.borrow()
    }

    /// Resolves when the session is asked to close (`true`), or when its
    /// ticket is dropped and nobody can ask any more (`false`).
    pub fn kicked(&self) -> impl Future<Output = bool> + Send + 'static {
        let mut kicked = self.kicked.clone();
        async move { kicked.wait_for(|k| *k).await.is_ok() }
    }
}

impl Ticket {
    /// Shows `name` among the files this session is moving (`upload` or
    /// `download`), from `bytes`, until the returned [`Transfer`] drops.
    pub fn transfer(&self, direction: &'static str, name: &str, bytes: u64) -> Transfer {
        let moving = Arc::new(Moving {
            direction,
            name: name.to_owned(),
            bytes: AtomicU64::new(bytes),
            started_at: Timestamp::now(),
        });
        if let Some(sessions) = self.sessions.upgrade()
            && let Some(live) = sessions
                .live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&self.id)
        {
            live.transfers.push(Arc::clone(&moving));
        }
        Transfer {
            moving,
            session: self.id,
            sessions: self.sessions.clone(),
        }
    }
}

/// A file being moved by a session; dropping it ends its entry.
pub struct Transfer {
    moving: Arc<Moving>,
    session: u64,
    sessions: Weak<Sessions>,
}

impl Transfer {
    /// The bytes moved so far.
    pub fn set(&self, bytes: u64) {
        self.moving.bytes.store(bytes, Ordering::Relaxed);
    }

    /// `bytes` more moved.
    pub fn add(&self, bytes: u64) {
        self.moving.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transfer")
            .field("name", &self.moving.name)
            .field("bytes", &self.moving.bytes)
            .finish()
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        if let Some(sessions) = self.sessions.upgrade()
            && let Some(live) = sessions
                .live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&self.session)
        {
            live.transfers.retain(|m| !Arc::ptr_eq(m, &self.moving));
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(sessions) = self.sessions.upgrade() {
            sessions
                .live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&self.id);
            sessions.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opening<'a>(tenant: &'a str, partner: &'a str) -> Opening<'a> {
        Opening {
            tenant,
            partner,
            login: partner,
            protocol: "sftp",
            peer: "127.0.0.1:1".parse().unwrap(),
            credentials: 0,
            tenant_limit: Some(3),
            partner_limit: Some(2),
            elsewhere: (0, 0),
        }
    }

    #[test]
    fn limits_count_per_tenant_and_partner_and_free_on_drop() {
        let sessions = Arc::new(Sessions::default());
        let a1 = sessions.open(&opening("acme", "alice")).unwrap();
        let _a2 = sessions.open(&opening("acme", "alice")).unwrap();
        let refused = sessions.open(&opening("acme", "alice")).err().unwrap();
        assert!(refused.contains("partner `alice`"), "{refused}");
        let _b = sessions.open(&opening("acme", "bob")).unwrap();
        let refused = sessions.open(&opening("acme", "carol")).err().unwrap();
        assert!(refused.contains("tenant `acme`"), "{refused}");
        // Another tenant's sessions do not count.
        let _g = sessions.open(&opening("globex", "alice")).unwrap();
        drop(a1);
        assert!(sessions.open(&opening("acme", "alice")).is_ok());
        assert_eq!(sessions.list(Some("globex")).len(), 1);
    }

    #[test]
    fn a_transfer_shows_with_its_session_until_it_ends() {
        let sessions = Arc::new(Sessions::default());
        let ticket = sessions.open(&opening("acme", "alice")).unwrap();
        let upload = ticket.transfer("upload", "orders.csv", 10);
        upload.add(5);
        let download = ticket.transfer("download", "invoice.pdf", 0);
        download.set(7);
        let shown = &sessions.list(Some("acme"))[0].transfers;
        let seen: Vec<(&str, &str, u64)> = shown
            .iter()
            .map(|t| (t.direction.as_str(), t.name.as_str(), t.bytes))
            .collect();
        assert_eq!(
            seen,
            [("upload", "orders.csv", 15), ("download", "invoice.pdf", 7)]
        );
        drop(upload);
        assert_eq!(sessions.list(Some("acme"))[0].transfers.len(), 1);
        // A transfer that outlives its session ends quietly.
        drop(ticket);
        drop(download);
        assert!(sessions.list(None).is_empty());
    }

    #[tokio::test]
    async fn a_kick_reaches_its_session_only_and_not_across_tenants() {
        let sessions = Arc::new(Sessions::default());
        let a = sessions.open(&opening("acme", "alice")).unwrap();
        let g = sessions.open(&opening("globex", "alice")).unwrap();
        let (a_id, g_id) = (a.id, g.id);
        assert!(
            !sessions.kick("acme", g_id),
            "acme cannot kick globex's session"
        );
        assert!(sessions.kick("acme", a_id));
        let heard = tokio::time::timeout(std::time::Duration::from_secs(5), a.kicked()).await;
        assert_eq!(heard, Ok(true), "the kicked session hears it");
        let g_waits = tokio::time::timeout(std::time::Duration::from_millis(50), g.kicked()).await;
        assert!(g_waits.is_err(), "globex's session was not kicked");
        assert_eq!(sessions.kick_tenant("globex"), 1);
        // A waiter outlives no session: it ends when the ticket goes.
        let waiter = tokio::spawn(a.kicked());
        let ended = g.kicked();
        drop(g);
        assert!(ended.await, "kicked before it was dropped");
        let other = sessions.open(&opening("acme", "bob")).unwrap();
        let waiting = tokio::spawn(other.kicked());
        drop(other);
        assert!(!waiting.await.unwrap(), "dropped, not kicked");
        assert!(waiter.await.unwrap());
    }
}
