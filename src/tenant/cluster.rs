//! The hub among the nodes sharing its journal: its heartbeat, and the
//! sessions of every node, listed and closed from any of them.

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

impl Hub {
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
        self.journal.heartbeat(&NodeBeat {
            node: config.node.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at,
            // The sessions themselves too: the admin API of every node
            // lists and closes the sessions of all of them.
            load: json!({
                "sessions": self.sessions.list(None).len(),
                "tasks_running": tasks,
                "open": self.sessions.list(None),
            }),
        })?;
        Ok(())
    }

    /// The live sessions of `tenant` on every node sharing the journal,
    /// each with its node: this node's as they are, the others' as their
    /// last heartbeat said (sent within a second of a change); nodes
    /// silent for longer than three heartbeats are left out.
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
        let silent = i64::try_from((3 * HEARTBEAT).as_millis()).unwrap_or(i64::MAX);
        for node in self.journal.nodes()? {
            if node.node == me || node.silent_for_ms > silent {
                continue;
            }
            let open = node.load.get("open").cloned().unwrap_or_default();
            let open: Vec<SessionInfo> = serde_json::from_value(open).unwrap_or_default();
            all.extend(
                open.into_iter()
                    .filter(|s| s.tenant == tenant)
                    .map(|session| ClusterSession {
                        node: node.node.clone(),
                        session,
                    }),
            );
        }
        Ok(all)
    }

    /// Asks session `id` of `tenant` on `node` (this one when `None`) to
    /// close: here at once, on another node through the journal. `false`
    /// when no such session is known.
    pub fn kick_anywhere(
        &self,
        tenant: &str,
        id: u64,
        node: Option<&str>,
    ) -> Result<bool, HubError> {
        let me = self.config().node.clone();
        match node {
            None => Ok(self.sessions.kick(tenant, id)),
            Some(node) if node == me => Ok(self.sessions.kick(tenant, id)),
            Some(node) => {
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
        }
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
