//! Which version of a partner's plugin serves: activation, rollback, and
//! the replay of a version on the partner's past files before it serves.

use super::{Hub, HubError};
use crate::plugin::{ReplayError, ReplayReport, ReplayScope, Role};

/// Which version of a partner's plugin to serve.
#[derive(Debug, Clone)]
pub enum Activate {
    /// The one that served before the current one.
    Previous,
    /// One that served before, by its SHA-256; the file's own version ends
    /// any pin.
    Version(String),
}

/// What an activation changed: `from` and `to` are SHA-256s.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Activated {
    pub from: String,
    pub to: String,
    /// Whether `to` is pinned (the file holds another version).
    pub pinned: bool,
}

impl Hub {
    /// Serves another version of `partner`'s `role` plugin: pins it in the
    /// journal (for as long as the plugin file stays the one it was pinned
    /// against) and, when this process runs the pipeline, loads it now.
    /// Another process applies the pin at its next reload or start.
    pub fn activate_plugin(
        &self,
        tenant: &str,
        partner: &str,
        role: Role,
        which: &Activate,
    ) -> Result<Activated, HubError> {
        use sha2::Digest as _;
        let refuse = |why: String| Err(HubError::PluginVersion(why));
        let Some(path) = self.tenant(tenant).and_then(|t| {
            t.config()
                .partners
                .get(partner)?
                .plugins
                .get(role.as_str())
                .cloned()
        }) else {
            return refuse(format!(
                "partner `{partner}` of `{tenant}` has no {role} plugin"
            ));
        };
        // The versions that served, oldest first, without repeats in a row.
        let mut served: Vec<String> = Vec::new();
        for event in self.journal.plugin_events(tenant, partner, role.as_str())? {
            let status = event.detail["status"].as_str().unwrap_or_default();
            if matches!(status, "activated" | "rolled-back")
                && let Some(sha) = event.detail["sha256"].as_str()
                && served.last().map(String::as_str) != Some(sha)
            {
                served.push(sha.to_owned());
            }
        }
        let Some(current) = served.last().cloned() else {
            return refuse(format!("no version of this {role} plugin has served yet"));
        };
        let file_sha = match std::fs::read(&path) {
            Ok(bytes) => hex::encode(sha2::Sha256::digest(bytes)),
            Err(e) => return refuse(format!("cannot read {}: {e}", path.display())),
        };
        let target = match which {
            Activate::Previous => match served.iter().rev().nth(1) {
                Some(previous) => previous.clone(),
                None => {
                    return refuse(format!(
                        "no earlier version of this {role} plugin has served: nothing to roll back to"
                    ));
                }
            },
            Activate::Version(sha) if *sha == file_sha || served.contains(sha) => sha.clone(),
            Activate::Version(sha) => {
                return refuse(format!(
                    "version {sha} of this {role} plugin never served; its versions: {}",
                    served.join(", ")
                ));
            }
        };
        let pinned = target != file_sha;
        let pin = pinned.then(|| crate::journal::PluginPin {
            sha256: target.clone(),
            file_sha256: file_sha,
        });
        self.journal
            .set_plugin_pin(tenant, partner, role.as_str(), pin.as_ref())?;
        if let Some(registry) = self.plugins.get()
            && let Some(slot) = registry.slot(tenant, partner, role)
            && let crate::plugin::Change::Refused { reason } = registry.reload(&slot)?
        {
            return refuse(format!("version {target} does not load: {reason}"));
        }
        // The other nodes apply the pin when told: a rollback on one node is
        // a rollback on all.
        self.announce(Some(tenant));
        Ok(Activated {
            from: current,
            to: target,
            pinned,
        })
    }

    /// Replays version `sha` of `partner`'s `role` plugin (one that served,
    /// or the file's own) on the partner's newest `limit` uploads, and says
    /// which decisions it would change. Nothing is decided or recorded.
    pub fn replay_plugin(
        &self,
        tenant: &str,
        partner: &str,
        role: Role,
        sha: &str,
        limit: usize,
    ) -> Result<ReplayReport, HubError> {
        let refuse = |why: String| HubError::PluginVersion(why);
        let tenant = self
            .tenant(tenant)
            .ok_or_else(|| refuse(format!("no tenant `{tenant}`")))?;
        let config = tenant.config();
        let (params, path) = config
            .partners
            .get(partner)
            .and_then(|p| Some((p.params.clone(), p.plugins.get(role.as_str())?.clone())))
            .ok_or_else(|| {
                refuse(format!(
                    "partner `{partner}` of `{}` has no {role} plugin",
                    tenant.name()
                ))
            })?;
        let registry = self
            .plugins
            .get()
            .ok_or_else(|| refuse("this process runs no plugins".to_owned()))?;
        let bytes = registry.version_bytes(&path, sha).map_err(|e| {
            refuse(format!(
                "no version {sha} of this {role} plugin is kept: {e}"
            ))
        })?;
        let plugin = registry.engine().load(&bytes, role)?;
        let scope = ReplayScope {
            journal: &self.journal,
            store: tenant.store(),
            tenant: tenant.name(),
            partner,
            params,
            limits: crate::plugin::Limits {
                deadline: config.plugin_deadline,
                memory: config.plugin_memory,
                ..crate::plugin::Limits::default()
            },
            since: None,
            limit,
        };
        crate::plugin::replay(registry.engine(), &plugin, &scope).map_err(|e| match e {
            ReplayError::Journal(e) => HubError::Journal(e),
            e @ ReplayError::Role(_) => refuse(e.to_string()),
        })
    }
}
