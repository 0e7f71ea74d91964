//! The hub's side of the tenants the nodes share (`crate::settings`): its
//! copy fetched at start, on an announcement and when a heartbeat finds it
//! behind; a tenant shared after an admin API edit or an import.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::{Hub, HubError};
use crate::journal::Topic;
use crate::settings::{self, SettingsError, Shared};
use crate::store::Store;

/// Serialises what writes the copy: a fetch, an edit and its sharing.
#[derive(Default)]
pub(super) struct CopyLock(Mutex<()>);

impl Hub {
    /// Holds the node's copy of the shared tenants still: an admin API edit
    /// takes it from the file's change to its sharing, so that no fetch
    /// writes the copy in between.
    pub fn editing_shared(&self) -> MutexGuard<'_, ()> {
        self.copy_lock.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The object store's area for plugin components, when there is an
    /// object store.
    pub(crate) fn plugin_store(&self) -> Option<Store> {
        self.s3.as_ref().map(settings::plugin_area)
    }

    /// Runs `f` with what sharing needs, when this node shares tenants
    /// (its journal is PostgreSQL); `None` otherwise.
    fn with_shared<T>(
        &self,
        f: impl FnOnce(&Shared<'_>, &Path) -> Result<T, HubError>,
    ) -> Option<Result<T, HubError>> {
        with_shared(&self.config(), self.journal.as_ref(), self.s3.as_ref(), f)
    }

    /// Brings this node's copy of the shared tenants up to the journal:
    /// whether anything changed (the configuration must then be read
    /// again). Nothing to do off a cluster.
    pub fn fetch_shared(&self) -> Result<bool, HubError> {
        let _copy = self.editing_shared();
        self.with_shared(|shared, copy| {
            let fetched = shared.fetch(copy)?;
            if !fetched.changed.is_empty() {
                tracing::info!(tenants = ?fetched.changed, "shared tenants fetched");
            }
            Ok(!fetched.changed.is_empty())
        })
        .unwrap_or(Ok(false))
    }

    /// After a heartbeat: fetches and reloads when the journal holds a
    /// revision the copy lacks (an announcement this node missed).
    pub fn catch_up_shared(&self, config_path: &Path) -> Result<(), HubError> {
        let behind = self
            .with_shared(|shared, copy| Ok(shared.behind(copy)?))
            .unwrap_or(Ok(false))?;
        if behind && self.fetch_shared()? {
            self.reload_announced(config_path, None)?;
        }
        Ok(())
    }

    /// Shares tenant `tenant` as this node's copy now holds it (after an
    /// admin API edit that loaded), from the revision the copy had, and
    /// tells the other nodes. A change another node made first is refused
    /// (`SettingsError::Conflict`): the caller undoes its edit.
    pub fn share_tenant(&self, tenant: &str) -> Result<(), HubError> {
        let Some(copy) = self.config().shared_tenants.clone() else {
            return Ok(());
        };
        let data_dir = self.config().data_dir.clone();
        let node = self.config().node.clone();
        let document = crate::config::shared::document_path(&copy, tenant);
        let shared = self.with_shared(|shared, copy| {
            if !document.is_file() {
                // Removed from the copy: no longer shared.
                shared.journal.remove_shared_tenant(tenant)?;
                settings::forget_revision(copy, tenant)?;
                let secrets = copy.join("secrets").join(tenant);
                if let Err(e) = std::fs::remove_dir_all(&secrets)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(error = %e, path = %secrets.display(),
                        "a removed tenant's secrets stay in the copy");
                }
                return Ok(());
            }
            let expected = settings::revisions(copy).get(tenant).copied();
            for portable in crate::config::shared::portable_tenants(&document, &data_dir)? {
                let revision = shared.share(&portable, &node, Some(expected.unwrap_or(0)))?;
                settings::set_revision(copy, &portable.name, revision)?;
                tracing::info!(tenant, revision, "tenant shared");
            }
            Ok(())
        });
        shared.unwrap_or(Ok(()))?;
        self.tell_config(&node, Some(tenant));
        Ok(())
    }

    /// Shares the tenants of `file` (a tenant's file or a server file's
    /// `[tenants.*]`), each replacing what is shared under its name, and
    /// tells the running nodes: `ferry tenants import`. Returns each
    /// tenant's new revision.
    pub fn import_tenants(&self, file: &Path) -> Result<Vec<(String, u64)>, HubError> {
        let data_dir = self.config().data_dir.clone();
        // Told as `NODE:cli`, which no node is called: the node this
        // command shares a configuration with reads it too.
        let origin = format!("{}:cli", self.config().node);
        let server_file = self.config().sources[0].clone();
        let imported = self
            .with_shared(|shared, _| {
                let portable = crate::config::shared::portable_tenants(file, &data_dir)?;
                // Each tenant was checked alone; beside the others (one API
                // token for two tenants, say) a node's loader has the last
                // word, asked before anything is shared: the tenants shared
                // now, with these laid over them.
                let laid_out = LaidOut(
                    data_dir
                        .join("shared")
                        .join(format!("import-check-{}", std::process::id())),
                );
                shared.export(&laid_out.0, None)?;
                for tenant in &portable {
                    settings::lay_out(tenant, &laid_out.0)?;
                }
                crate::config::load_reading_shared(&server_file, Some(&laid_out.0))?;
                drop(laid_out);
                let mut imported = Vec::new();
                for tenant in &portable {
                    let revision = shared.share(tenant, "import", None)?;
                    imported.push((tenant.name.clone(), revision));
                }
                Ok(imported)
            })
            .unwrap_or_else(|| Err(no_cluster()))?;
        for (tenant, _) in &imported {
            self.tell_config(&origin, Some(tenant));
        }
        Ok(imported)
    }

    /// Writes the shared tenants (or one) into `dir`: `ferry tenants export`.
    pub fn export_tenants(&self, dir: &Path, only: Option<&str>) -> Result<Vec<String>, HubError> {
        self.with_shared(|shared, _| Ok(shared.export(dir, only)?))
            .unwrap_or_else(|| Err(no_cluster()))
    }

    /// The copy of the shared tenants, off a cluster `None`.
    pub fn shared_copy(&self) -> Option<PathBuf> {
        self.config().shared_tenants.clone()
    }

    /// Tells the other nodes that the configuration changed, as `origin`.
    pub(super) fn tell_config(&self, origin: &str, tenant: Option<&str>) {
        let payload = match tenant {
            Some(tenant) => format!("{origin}/{tenant}"),
            None => origin.to_owned(),
        };
        if let Err(e) = self.journal.tell(Topic::Config, &payload) {
            tracing::warn!(error = %crate::error_chain(&e),
                "the other nodes were not told of the change; they see it at their next heartbeat");
        }
    }
}

/// The configuration a node starts with: `config`, read again when its
/// copy of the shared tenants had to be brought up to the journal (the
/// first start of a node, or one after a while away).
pub(super) fn fetch_at_start(
    config: crate::config::Config,
    journal: &dyn crate::journal::Journal,
    s3: Option<&crate::store::S3>,
) -> Result<crate::config::Config, HubError> {
    let changed = with_shared(&config, journal, s3, |shared, copy| {
        Ok(shared.fetch(copy)?.changed)
    })
    .transpose()?
    .unwrap_or_default();
    if changed.is_empty() {
        return Ok(config);
    }
    tracing::info!(tenants = ?changed, "shared tenants fetched");
    Ok(crate::config::load(&config.sources[0])?)
}

/// Runs `f` with what sharing needs (the journal, the object store's
/// plugin area, the secrets key, the copy's directory), when `config` is a
/// node's of a cluster; `None` otherwise.
fn with_shared<T>(
    config: &crate::config::Config,
    journal: &dyn crate::journal::Journal,
    s3: Option<&crate::store::S3>,
    f: impl FnOnce(&Shared<'_>, &Path) -> Result<T, HubError>,
) -> Option<Result<T, HubError>> {
    let copy = config.shared_tenants.as_deref()?;
    let key = config
        .secrets_key
        .as_ref()
        .map(crate::config::Secret::expose)
        .unwrap_or_default();
    let key = match crate::secrets::shared::Key::new(key) {
        Ok(key) => key,
        Err(e) => return Some(Err(e.into())),
    };
    let shared = Shared {
        journal,
        plugins: s3.map(settings::plugin_area),
        key: &key,
    };
    Some(f(&shared, copy))
}

/// A directory of tenants laid out for a check, removed when dropped.
struct LaidOut(PathBuf);

impl Drop for LaidOut {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn no_cluster() -> HubError {
    HubError::Settings(SettingsError::Journal(
        crate::journal::JournalError::Unsupported(
            "tenants are shared by the nodes of a cluster: this configuration's journal is the \
         embedded one (`[server] journal = \"postgres://...\"` makes a node of a cluster)",
        ),
    ))
}
