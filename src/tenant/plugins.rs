//! Which version of a partner's plugin serves: activation, rollback, and
//! the replay of a version on the partner's past files before it serves.

use serde_json::json;

use super::{Hub, HubError};
use crate::journal::EventKind;
use crate::plugin::{Plugin, ReplayError, ReplayReport, ReplayScope, Role};

/// How many of the partner's newest files an uploaded version is replayed on.
const UPLOAD_REPLAY: usize = 100;

/// What an upload of a plugin version came to: kept, checked, replayed,
/// not serving until it is activated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Uploaded {
    pub sha256: String,
    pub size: usize,
    pub active: bool,
    pub replay: ReplayReport,
}

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
    /// Another process applies the pin at its next reload or start. The
    /// request is journaled with `by`, who made it; the version's start
    /// to serve is journaled by the process that loads it.
    pub fn activate_plugin(
        &self,
        tenant: &str,
        partner: &str,
        role: Role,
        which: &Activate,
        by: &str,
    ) -> Result<Activated, HubError> {
        use sha2::Digest as _;
        let refuse = |why: String| Err(HubError::PluginVersion(why));
        let Some(path) = self.plugin_file(tenant, partner, role) else {
            return refuse(format!(
                "partner `{partner}` of `{tenant}` has no {role} plugin"
            ));
        };
        // The versions that served, oldest first, without repeats in a row,
        // and those uploaded through the API (which may serve next).
        let mut served: Vec<String> = Vec::new();
        let mut uploaded: Vec<String> = Vec::new();
        for event in self.journal.plugin_events(tenant, partner, role.as_str())? {
            let status = event.detail["status"].as_str().unwrap_or_default();
            if status == "uploaded"
                && let Some(sha) = event.detail["sha256"].as_str()
            {
                uploaded.push(sha.to_owned());
            }
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
            Activate::Version(sha)
                if *sha == file_sha || served.contains(sha) || uploaded.contains(sha) =>
            {
                sha.clone()
            }
            Activate::Version(sha) => {
                return refuse(format!(
                    "version {sha} of this {role} plugin never served and was not uploaded; its versions: {}",
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
        let action = match which {
            Activate::Previous => "roll-back",
            Activate::Version(_) => "activate",
        };
        self.journal.record_event(
            tenant,
            EventKind::PluginVersion,
            json!({
                "partner": partner, "role": role.as_str(), "status": "requested",
                "action": action, "sha256": target, "from": current, "by": by,
            }),
        )?;
        tracing::info!(tenant, partner, role = %role, sha256 = %target, by, action, "plugin version requested");
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
    /// was uploaded, or the file's own) on the partner's newest `limit`
    /// uploads, and says which decisions it would change. Nothing is decided
    /// or recorded.
    pub fn replay_plugin(
        &self,
        tenant: &str,
        partner: &str,
        role: Role,
        sha: &str,
        limit: usize,
    ) -> Result<ReplayReport, HubError> {
        let (registry, path) = self.plugin_slot(tenant, partner, role)?;
        let bytes = registry.version_bytes(&path, sha).map_err(|e| {
            HubError::PluginVersion(format!(
                "no version {sha} of this {role} plugin is kept: {e}"
            ))
        })?;
        let plugin = registry.engine().load(&bytes, role)?;
        self.replay_loaded(registry.engine(), (tenant, partner), &plugin, limit)
    }

    /// Takes a new version of `partner`'s `role` plugin from the admin API:
    /// checks it against the role's world and the tenant's
    /// `max_plugin_size`, keeps it by its SHA-256, replays it on the
    /// partner's newest files, and journals the upload with `by` and the
    /// replay's counts. It does not serve until activated. A version that
    /// fails on every file it is replayed on is refused.
    pub fn upload_plugin(
        &self,
        tenant: &str,
        partner: &str,
        role: Role,
        bytes: &[u8],
        by: &str,
    ) -> Result<Uploaded, HubError> {
        use sha2::Digest as _;
        let refuse = |why: String| HubError::PluginUpload(why);
        let (registry, _) = self.plugin_slot(tenant, partner, role)?;
        let plugin = registry
            .engine()
            .load(bytes, role)
            .map_err(|e| refuse(e.to_string()))?;
        // An acknowledger's actions are not decisions to compare.
        let report = match role {
            Role::Acknowledger => ReplayReport {
                compared: 0,
                differ: 0,
                files: Vec::new(),
            },
            _ => {
                self.replay_loaded(registry.engine(), (tenant, partner), &plugin, UPLOAD_REPLAY)?
            }
        };
        let failed = report
            .files
            .iter()
            .filter(|f| f.candidate.get("error").is_some())
            .count();
        if report.compared > 0 && failed == report.compared {
            let first = report.files[0].candidate["error"].to_string();
            return Err(refuse(format!(
                "it fails on every one of the partner's last {} files (the first: {first})",
                report.compared
            )));
        }
        let sha = hex::encode(sha2::Sha256::digest(bytes));
        registry
            .keep(&sha, bytes)
            .map_err(|e| HubError::PluginVersion(format!("cannot keep the version: {e}")))?;
        self.journal.record_event(
            tenant,
            EventKind::PluginVersion,
            json!({
                "partner": partner, "role": role.as_str(), "status": "uploaded",
                "sha256": sha, "size": bytes.len(), "by": by,
                "replayed": report.compared, "differ": report.differ, "failed": failed,
            }),
        )?;
        tracing::info!(tenant, partner, role = %role, sha256 = %sha, by, "plugin version uploaded");
        Ok(Uploaded {
            sha256: sha,
            size: bytes.len(),
            active: false,
            replay: report,
        })
    }

    /// The file configured for a partner's role, if any.
    fn plugin_file(&self, tenant: &str, partner: &str, role: Role) -> Option<std::path::PathBuf> {
        self.tenant(tenant)?
            .config()
            .partners
            .get(partner)?
            .plugins
            .get(role.as_str())
            .cloned()
    }

    /// The plugin host and the configured file of a partner's role.
    fn plugin_slot(
        &self,
        tenant: &str,
        partner: &str,
        role: Role,
    ) -> Result<(&std::sync::Arc<crate::plugin::Registry>, std::path::PathBuf), HubError> {
        let refuse = |why: String| HubError::PluginVersion(why);
        let path = self.plugin_file(tenant, partner, role).ok_or_else(|| {
            refuse(format!(
                "partner `{partner}` of `{tenant}` has no {role} plugin configured \
                     (`{role} = FILE` in its section makes the slot)"
            ))
        })?;
        let registry = self
            .plugins
            .get()
            .ok_or_else(|| refuse("this process runs no plugins".to_owned()))?;
        Ok((registry, path))
    }

    /// Replays a loaded version on the partner's newest `limit` files.
    fn replay_loaded(
        &self,
        engine: &crate::plugin::PluginEngine,
        (tenant, partner): (&str, &str),
        plugin: &Plugin,
        limit: usize,
    ) -> Result<ReplayReport, HubError> {
        let refuse = |why: String| HubError::PluginVersion(why);
        let tenant = self
            .tenant(tenant)
            .ok_or_else(|| refuse(format!("no tenant `{tenant}`")))?;
        let config = tenant.config();
        let params = config
            .partners
            .get(partner)
            .map(|p| p.params.clone())
            .ok_or_else(|| refuse(format!("no partner `{partner}`")))?;
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
        crate::plugin::replay(engine, plugin, &scope).map_err(|e| match e {
            ReplayError::Journal(e) => HubError::Journal(e),
            e @ ReplayError::Role(_) => refuse(e.to_string()),
        })
    }
}
