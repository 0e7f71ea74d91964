//! The hub among the nodes sharing its journal: its heartbeat, and the
//! sessions of every node, listed and closed from any of them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{HEARTBEAT, Hub, HubError, SessionInfo};
use crate::journal::{NodeBeat, Timestamp, Topic};

/// A session and the node it is on, as the admin API lists them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterSession {
    pub node: String,
    #[serde(flatten)]
    pub session: SessionInfo,
}

/// Other nodes' sessions are read again after this long, at a login that
/// needs them (a tenant or partner with `max_sessions`).
const ELSEWHERE_FOR: Duration = Duration::from_secs(1);

/// The other nodes' sessions, as last read from the journal.
#[derive(Default)]
pub(super) struct Elsewhere(Mutex<Option<(Instant, Vec<ClusterSession>)>>);

impl Hub {
    /// How many sessions of `tenant`, and of its `partner`, the other nodes
    /// have (as their heartbeats said, read at most a second ago): a
    /// tenant's or a partner's `max_sessions` holds across nodes, up to what
    /// a second's logins on two nodes at once can overshoot. A journal that
    /// cannot be read counts none elsewhere (the node's own limit holds).
    pub(super) fn sessions_elsewhere(&self, tenant: &str, partner: &str) -> (u32, u32) {
        let mut cached = self.elsewhere.0.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = cached
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < ELSEWHERE_FOR);
        if !fresh {
            let others = self.others_sessions().unwrap_or_else(|e| {
                tracing::warn!(error = %crate::error_chain(&e),
                    "other nodes' sessions unknown; only this node's count toward limits");
                Vec::new()
            });
            *cached = Some((Instant::now(), others));
        }
        let others = cached
            .as_ref()
            .map(|(_, others)| others.as_slice())
            .unwrap_or_default();
        others
            .iter()
            .filter(|s| s.session.tenant == tenant)
            .fold((0, 0), |(t, p), s| {
                (t + 1, p + u32::from(s.session.partner == partner))
            })
    }

    /// Every session of the other live nodes, as their heartbeats said;
    /// nodes silent for longer than three heartbeats are left out.
    fn others_sessions(&self) -> Result<Vec<ClusterSession>, HubError> {
        let me = self.config().node.clone();
        let silent = i64::try_from((3 * HEARTBEAT).as_millis()).unwrap_or(i64::MAX);
        let mut all = Vec::new();
        for node in self.journal.nodes()? {
            if node.node == me || node.silent_for_ms > silent {
                continue;
            }
            let open = node.load.get("open").cloned().unwrap_or_default();
            let open: Vec<SessionInfo> = serde_json::from_value(open).unwrap_or_default();
            all.extend(open.into_iter().map(|session| ClusterSession {
                node: node.node.clone(),
                session,
            }));
        }
        Ok(all)
    }

    /// Tells the journal this node is alive, with its load: for the nodes
    /// list of the admin API (`GET /api/v1/cluster`).
    pub fn heartbeat(&self, started_at: Timestamp) -> Result<(), HubError> {
        let config = self.config();
        let tasks = self
            .pipeline
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |pipeline| pipeline.running());
        let open = self.sessions.list(None);
        self.journal.heartbeat(&NodeBeat {
            node: config.node.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            // The sessions themselves too: the admin API of every node
            // lists and closes the sessions of all of them.
            load: json!({
                "sessions": open.len(),
                "tasks_running": tasks,
                "open": open,
            }),
        })?;
        // Limits the nodes share: each moves its share of a tenant's or a
        // partner's rate (the rate divided by the live nodes, renegotiated
        // at each beat as nodes come and go), and counts the bytes kept
        // for quotas again from the journal, where every node's uploads are.
        let silent = i64::try_from((3 * HEARTBEAT).as_millis()).unwrap_or(i64::MAX);
        let alive = self
            .journal
            .nodes()?
            .iter()
            .filter(|n| n.silent_for_ms <= silent)
            .count();
        let alive = u32::try_from(alive).unwrap_or(u32::MAX);
        let snapshot = self.snapshot();
        if self.meters.set_share(alive) {
            tracing::info!(
                nodes = alive,
                "live nodes changed: each moves its share of the rates"
            );
            for tenant in snapshot.config.tenants.values() {
                self.meters.configure(tenant);
            }
        } else if alive > 1 {
            for tenant in snapshot.tenants.values() {
                tenant.recount();
            }
        }
        Ok(())
    }

    /// The live sessions of `tenant` on every node sharing the journal,
    /// each with its node: this node's as they are, the others' as their
    /// last heartbeat said (sent within a second of a change).
    pub fn cluster_sessions(&self, tenant: &str) -> Result<Vec<ClusterSession>, HubError> {
        let me = self.config().node.clone();
        let mut all: Vec<ClusterSession> = self
            .sessions
            .list(Some(tenant))
            .into_iter()
            .map(|session| ClusterSession {
                node: me.clone(),
                session,
            })
            .collect();
        all.extend(
            self.others_sessions()?
                .into_iter()
                .filter(|s| s.session.tenant == tenant),
        );
        Ok(all)
    }

    /// Asks session `id` of `tenant` on `node` to close: here at once, on
    /// another node through the journal. `false` when no such session is
    /// known.
    pub fn kick_anywhere(&self, tenant: &str, id: u64, node: &str) -> Result<bool, HubError> {
        if node == self.config().node {
            return Ok(self.sessions.kick(tenant, id));
        }
        let known = self
            .cluster_sessions(tenant)?
            .iter()
            .any(|s| s.node == node && s.session.id == id);
        if known {
            self.journal
                .tell(Topic::Sessions, &format!("kick {node} {tenant} {id}"))?;
        }
        Ok(known)
    }

    /// Applies what another node told of sessions (`Topic::Sessions`): a
    /// kick of one of this node's.
    pub fn heard_of_sessions(&self, told: &str) {
        let mut words = told.split(' ');
        if let (Some("kick"), Some(node), Some(tenant), Some(Ok(id))) = (
            words.next(),
            words.next(),
            words.next(),
            words.next().map(str::parse::<u64>),
        ) && node == self.config().node
            && self.sessions.kick(tenant, id)
        {
            tracing::info!(
                tenant,
                session = id,
                "session kicked through another node's admin API"
            );
        }
    }
}
