//! Tenants at run time: the live configuration, each tenant's store, the
//! pipeline's view of them, and the mailbox operations protocols call.
//!
//! The [`Hub`] holds an immutable snapshot (`Arc<Snapshot>`) that a reload
//! replaces whole: a session keeps the snapshot it started with for the
//! length of one operation, and nothing ever sees half of a reload.

mod access;
mod cluster;
pub mod gate;
pub mod guard;
mod mailbox;
mod plugins;
mod polls;
pub mod pool;
mod receipts;
mod sessions;
mod shared;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::json;

pub use crate::usage::{ConnectorSlot, HandleSlot, QuotaExceeded, Throttle, Way};
pub use cluster::ClusterSession;
pub use mailbox::{
    FOLDERS, Finished, Ingested, Listing, MailboxError, MailboxPath, PendingUpload, Special, Tenant,
};
pub use plugins::{Activate, Activated, Uploaded};
pub use polls::{PollStatus, Polls};
pub use receipts::RECEIPTS;
pub use sessions::{Opening, SessionInfo, Sessions, Ticket, Transfer, TransferInfo};

use crate::config::{self, Config, JournalBackend};
use crate::journal::{EventKind, Journal, JournalError, PostgresJournal, SqliteJournal, Timestamp};

/// How often a serving node tells the journal it is alive.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);
use crate::pipeline::{Leasing, Pipeline, StepSource, Steps, StepsFor};
use crate::plugin::{Limits, PluginEngine, PluginError, PluginStep, Registry, Role, SlotKey};
use crate::proofs::Notary;
use crate::store::{S3, S3Settings, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("another ferry process is running on the data directory {}", path.display())]
    Locked { path: std::path::PathBuf },
    #[error("cannot open the store of tenant `{tenant}`")]
    Store {
        tenant: String,
        #[source]
        source: StoreError,
    },
    /// The object store named by `server.store` cannot be used.
    #[error("the content store")]
    ObjectStore(#[source] StoreError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The host keys or certificate the nodes share.
    #[error("the secrets the nodes share")]
    Secrets(#[from] crate::secrets::SecretsError),
    /// A reload refused: the configuration's own problems, located.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("the tenants the nodes share")]
    Settings(#[from] crate::settings::SettingsError),
    /// A tenant's own change refused because of problems elsewhere, which
    /// are not the tenant's to see (the log names them).
    #[error(
        "the server's configuration has problems outside tenant `{0}`; \
         the operator has been told, try again later"
    )]
    ProblemsElsewhere(String),
    #[error("tenant `{0}` is no longer configured")]
    NoLongerConfigured(String),
    #[error("plugin host: {0}")]
    Plugin(String),
    #[error("tenant `{0}` is still configured: remove it from the configuration and reload first")]
    StillConfigured(String),
    #[error("nothing of a tenant `{0}` is kept")]
    NothingToPurge(String),
    #[error("cannot remove the store of tenant `{tenant}` at {}", path.display())]
    Purge {
        tenant: String,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A plugin version that cannot be activated: no such plugin, or a
    /// version that never served.
    #[error("{0}")]
    PluginVersion(String),
    /// A plugin upload refused: not a component, the wrong world, or it
    /// fails on every file it was replayed on.
    #[error("{0}")]
    PluginUpload(String),
}

/// What a purge removed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Purged {
    pub tenant: String,
    pub journal_rows: u64,
    pub store_removed: bool,
}

impl From<PluginError> for HubError {
    fn from(e: PluginError) -> HubError {
        HubError::Plugin(e.to_string())
    }
}

/// One immutable state of the configuration with what was opened from it.
struct Snapshot {
    config: Arc<Config>,
    tenants: BTreeMap<String, Arc<Tenant>>,
}

/// How long a blob is safe from retention's sweep after a commit wrote or
/// reused it, journaled or not: far longer than any upload takes from its
/// commit in the store to its record in the journal.
pub const SWEEP_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Everything one ferry process serves.
pub struct Hub {
    journal: Arc<dyn Journal>,
    /// The object store that holds every tenant's content, when
    /// `server.store` names one (fixed for the life of the process).
    s3: Option<S3>,
    snapshot: RwLock<Arc<Snapshot>>,
    pipeline: Arc<PipelineSlot>,
    /// The plugin host, started when the first partner names a plugin.
    plugins: OnceLock<Arc<Registry>>,
    /// Whether plugin files are watched (by `serve`; not by one-shot commands).
    watching: AtomicBool,
    /// Every tenant's logged-in sessions.
    sessions: Arc<Sessions>,
    /// Every tenant's storage and bandwidth meters, across reloads.
    meters: Arc<crate::usage::Meters>,
    /// Failed logins and bans, for every listener.
    guard: guard::Guard,
    /// Connections not logged in yet, for every listener.
    gate: Arc<gate::Gate>,
    /// The threads of sessions' blocking work, shared fairly by tenants.
    files: pool::Pool,
    /// The other nodes' sessions as their heartbeats last said, and when
    /// they were read (`cluster.rs`).
    elsewhere: cluster::Elsewhere,
    /// Held while the copy of the shared tenants is written (`shared.rs`).
    copy_lock: shared::CopyLock,
    /// When each pull source was polled here and is due next (`polls.rs`).
    polls: Polls,
    /// Signs the journal's checkpoints and cuts proofs (`src/proofs`).
    notary: Arc<Notary>,
}

/// The exclusive right to run the pipeline on a data directory, held as a
/// lock on `DATA_DIR/ferry.lock` for as long as this value lives. Other
/// processes (a `ferry put` beside a running server) may still ingest: the
/// journal and the store are safe for that, only pipeline steps are not.
pub struct PipelineLock {
    _file: File,
}

impl PipelineLock {
    pub fn try_acquire(data_dir: &Path) -> Result<Option<PipelineLock>, HubError> {
        let path = data_dir.join("ferry.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| HubError::DataDir {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                // The holder's pid, for `ferry plugin rollback` to signal it.
                use std::io::Write as _;
                let mut file = file;
                let _ = file.set_len(0);
                let _ = writeln!(file, "{}", std::process::id());
                Ok(Some(PipelineLock { _file: file }))
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(source)) => Err(HubError::DataDir { path, source }),
        }
    }

    /// The pid of the process holding the lock, if one does.
    pub fn holder(data_dir: &Path) -> Option<i32> {
        let path = data_dir.join("ferry.lock");
        let file = File::open(&path).ok()?;
        match file.try_lock_shared() {
            Err(std::fs::TryLockError::WouldBlock) => {
                std::fs::read_to_string(&path).ok()?.trim().parse().ok()
            }
            _ => None,
        }
    }

    pub fn acquire(data_dir: &Path) -> Result<PipelineLock, HubError> {
        Self::try_acquire(data_dir)?.ok_or_else(|| HubError::Locked {
            path: data_dir.to_owned(),
        })
    }
}

impl Hub {
    /// Opens the journal and every tenant's store.
    pub fn open(config: Config) -> Result<Arc<Hub>, HubError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| HubError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let journal: Arc<dyn Journal> = match &config.journal {
            JournalBackend::Sqlite => Arc::new(SqliteJournal::open(
                &config.data_dir.join("journal.sqlite"),
            )?),
            JournalBackend::Postgres(url) => {
                let journal = PostgresJournal::connect(url.expose())?;
                // Every node presents the same host keys and certificate.
                let key = config.secrets_key.as_ref().map(config::Secret::expose);
                crate::secrets::shared::share(&journal, &config.data_dir, key.unwrap_or_default())?;
                Arc::new(journal)
            }
        };
        let s3 = match &config.store {
            config::StoreBackend::Local => None,
            config::StoreBackend::S3(s3) => Some(
                S3::connect(&S3Settings {
                    bucket: s3.bucket.clone(),
                    endpoint: s3.endpoint.clone(),
                    region: s3.region.clone(),
                    access_key_id: s3.access_key_id.clone(),
                    secret_access_key: s3
                        .secret_access_key
                        .as_ref()
                        .map(|key| key.expose().to_owned()),
                })
                .map_err(HubError::ObjectStore)?,
            ),
        };
        // A node of a cluster starts with the shared tenants as the journal
        // holds them now.
        let config = shared::fetch_at_start(config, journal.as_ref(), s3.as_ref())?;
        let meters = Arc::new(crate::usage::Meters::default());
        let files = pool::Pool::new(config.limits.file_threads as usize, "ferry-files");
        let pipeline = Arc::new(PipelineSlot::default());
        // After `share`: on a cluster, the key every node signs with.
        let key = crate::secrets::journal_key::JournalKey::load_or_create(&config.data_dir)?;
        let notary = Arc::new(Notary::new(Arc::clone(&journal), Arc::new(key)));
        let snapshot = Self::build(
            &journal,
            s3.as_ref(),
            &meters,
            &pipeline,
            &notary,
            Arc::new(config),
            None,
        )?;
        let hub = Arc::new(Hub {
            journal,
            s3,
            snapshot: RwLock::new(Arc::new(snapshot)),
            pipeline,
            plugins: OnceLock::new(),
            watching: AtomicBool::new(false),
            sessions: Arc::default(),
            meters,
            guard: guard::Guard::default(),
            gate: Arc::default(),
            files,
            elsewhere: Default::default(),
            copy_lock: Default::default(),
            polls: Polls::default(),
            notary,
        });
        Ok(hub)
    }

    /// Signs the journal's checkpoints and cuts proofs.
    pub fn notary(&self) -> &Arc<Notary> {
        &self.notary
    }

    /// The plugin registry, starting the plugin engine on first use.
    pub fn plugins(&self) -> Result<&Arc<Registry>, HubError> {
        if let Some(registry) = self.plugins.get() {
            return Ok(registry);
        }
        let data_dir = self.config().data_dir.clone();
        let engine = PluginEngine::new(Some(&data_dir.join("plugins").join("cache")))?;
        let mut registry = Registry::new(Arc::new(engine), Arc::clone(&self.journal), &data_dir);
        // Every version that serves on a node of a cluster is kept in the
        // object store too, where the other nodes find a version pinned by
        // a rollback that they never served themselves.
        if self.config().shared_tenants.is_some()
            && let Some(store) = self.plugin_store()
        {
            registry.share_versions(store);
        }
        Ok(self.plugins.get_or_init(|| Arc::new(registry)))
    }

    /// Loads the plugins the configuration names, and drops the slots of
    /// those it no longer names. Only once the pipeline runs in this
    /// process: commands that only read need no plugin engine.
    fn sync_plugins(&self) -> Result<(), HubError> {
        if self
            .pipeline
            .0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
        {
            return Ok(());
        }
        let snapshot = self.snapshot();
        let mut wanted = Vec::new();
        for (tenant_name, tenant) in &snapshot.config.tenants {
            for (partner_name, partner) in &tenant.partners {
                for (role, path) in &partner.plugins {
                    let role: Role = role.parse().map_err(HubError::Plugin)?;
                    let key = SlotKey {
                        tenant: tenant_name.clone(),
                        partner: partner_name.clone(),
                        role,
                    };
                    wanted.push((key, path.clone()));
                }
            }
        }
        if wanted.is_empty() && self.plugins.get().is_none() {
            return Ok(());
        }
        let started = self.plugins.get().is_none();
        let registry = self.plugins()?;
        if started && self.watching.load(Ordering::SeqCst) {
            registry.watch()?;
        }
        registry.sync(&wanted);
        Ok(())
    }

    /// Watches plugin files from now on and swaps in new versions as they
    /// change.
    pub fn watch_plugins(&self) -> Result<(), HubError> {
        self.watching.store(true, Ordering::SeqCst);
        if let Some(registry) = self.plugins.get() {
            registry.watch()?;
        }
        Ok(())
    }

    fn build(
        journal: &Arc<dyn Journal>,
        s3: Option<&S3>,
        meters: &crate::usage::Meters,
        pipeline: &Arc<PipelineSlot>,
        notary: &Arc<Notary>,
        config: Arc<Config>,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, HubError> {
        let mut tenants = BTreeMap::new();
        for (name, tenant_config) in &config.tenants {
            // A tenant whose root did not move keeps its open store.
            let store = match previous.and_then(|p| p.tenants.get(name)) {
                _ if let Some(s3) = s3 => Store::remote(s3, name),
                Some(old) if old.config().root == tenant_config.root => old.store().clone(),
                _ => Store::open(&tenant_config.root).map_err(|source| HubError::Store {
                    tenant: name.clone(),
                    source,
                })?,
            };
            tenants.insert(
                name.clone(),
                Arc::new(Tenant::new(
                    Arc::new(tenant_config.clone()),
                    store,
                    Arc::clone(journal),
                    config.limits.clone(),
                    meters.configure(tenant_config),
                    Arc::clone(pipeline),
                    Arc::clone(notary),
                )),
            );
        }
        Ok(Snapshot { config, tenants })
    }

    /// The threads that do sessions' file and journal work, in turns by tenant.
    pub fn files(&self) -> &pool::Pool {
        &self.files
    }

    /// Connections not logged in yet, counted for every listener.
    pub fn gate(&self) -> &Arc<gate::Gate> {
        &self.gate
    }

    /// Failed logins and bans, shared by every listener.
    pub fn guard(&self) -> &guard::Guard {
        &self.guard
    }

    /// Every tenant's logged-in sessions.
    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// When each pull source was polled here, and is due next.
    pub fn polls(&self) -> &Polls {
        &self.polls
    }

    /// Registers a logged-in session of `partner` (its login `login`) of
    /// `tenant`, within the tenant's and the partner's `max_sessions`.
    pub fn open_session(
        &self,
        tenant: &Tenant,
        partner: &str,
        account: &config::Account,
        protocol: &str,
        peer: std::net::SocketAddr,
    ) -> Result<Ticket, String> {
        let config = tenant.config();
        let partner_limit = config.partners.get(partner).and_then(|p| p.max_sessions);
        let elsewhere = match (config.max_sessions, partner_limit) {
            (None, None) => (0, 0),
            _ => self.sessions_elsewhere(&config.name, partner),
        };
        let ticket = self.sessions.open(&Opening {
            tenant: &config.name,
            partner,
            login: &account.login,
            protocol,
            peer,
            credentials: sessions::credentials(account),
            tenant_limit: config.max_sessions,
            partner_limit,
            elsewhere,
        })?;
        // Every login is journaled (an access event, unless the tenant's
        // `access_events` is off), off the caller's thread: sessions open
        // on the async threads, a journal write waits for the disk.
        if !config.access_events {
            return Ok(ticket);
        }
        let journal = Arc::clone(&self.journal);
        let tenant = config.name.clone();
        let detail = json!({
            "partner": partner, "login": account.login, "protocol": protocol,
            "peer": peer.to_string(),
        });
        let record = move || {
            if let Err(e) = journal.record_event(&tenant, EventKind::Login, detail) {
                tracing::error!(error = %crate::error_chain(&e), "cannot journal a login");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(record)),
            Err(_) => record(),
        }
        Ok(ticket)
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.snapshot().config)
    }

    pub fn tenant(&self, name: &str) -> Option<Arc<Tenant>> {
        self.snapshot().tenants.get(name).cloned()
    }

    /// Removes leftovers of writes a crash interrupted. Only the holder of
    /// the pipeline lock may call it: another process may be mid-upload.
    pub fn recover(&self, _lock: &PipelineLock) -> Result<usize, HubError> {
        let mut removed = 0;
        for (name, tenant) in &self.snapshot().tenants {
            // Interrupted uploads kept for resumption are not leftovers.
            let keep = self.journal.suspended(name)?;
            removed += tenant
                .store()
                .clean_staging(&keep)
                .map_err(|source| HubError::Store {
                    tenant: name.clone(),
                    source,
                })?;
        }
        Ok(removed)
    }

    /// Applies each tenant's `retention_days` as of `now`: files older than
    /// that leave every mailbox (an `expired` event each). Then every
    /// tenant's store is swept of the blobs its journal no longer names and
    /// no commit touched within [`SWEEP_GRACE`] (by the file system's clock,
    /// whatever `now` says: the grace protects uploads in flight, between
    /// their commit in the store and their record in the journal). Returns
    /// the blobs removed.
    pub fn expire(&self, now: Timestamp) -> Result<usize, HubError> {
        let mut removed = 0;
        for (name, tenant) in &self.snapshot().tenants {
            if let Some(days) = tenant.config().retention_days {
                let before = Timestamp(now.0 - i64::from(days) * 86_400_000);
                self.journal.expire(name, before)?;
            }
            // The mark is read before the sweep looks at the store.
            let in_use = self.journal.content_in_use(name)?;
            removed += tenant
                .store()
                .sweep(&in_use, SWEEP_GRACE)
                .map_err(|source| HubError::Store {
                    tenant: name.clone(),
                    source,
                })?;
            tenant.recount();
        }
        Ok(removed)
    }

    /// Gives up every tenant's interrupted uploads kept longer than
    /// `limits.resume_for`; returns how many.
    pub fn expire_suspended(&self, now: Timestamp) -> usize {
        self.snapshot()
            .tenants
            .values()
            .map(|tenant| tenant.expire_suspended(now))
            .sum()
    }

    /// The pipeline of this hub, created (with the plugins it runs) on first use.
    pub fn pipeline(self: &Arc<Self>) -> Result<Arc<Pipeline>, HubError> {
        let pipeline = {
            let mut slot = self.pipeline.0.write().unwrap_or_else(|p| p.into_inner());
            if let Some(pipeline) = &*slot {
                return Ok(Arc::clone(pipeline));
            }
            let source: Arc<dyn StepSource> = Arc::new(HubSteps(Arc::downgrade(self)));
            let config = self.config();
            let leasing = Leasing {
                owner: config.node.clone(),
                term: config.limits.task_lease,
            };
            let pipeline = Pipeline::new(Arc::clone(&self.journal), source, leasing);
            Arc::clone(slot.insert(pipeline))
        };
        self.sync_plugins()?;
        Ok(pipeline)
    }

    /// Wakes the pipeline, if this process runs one: for work queued
    /// outside the tenants' own operations (a dead letter revived, a
    /// configuration reloaded). The tenants wake it themselves.
    pub fn notify(&self) {
        self.pipeline.notify();
    }

    /// Deletes what a removed tenant left: its journal records (its chain
    /// too) and its store, `DATA_DIR/tenants/NAME`, unless a configured
    /// tenant's root is there. Refused while the tenant is configured.
    pub fn purge(&self, tenant: &str) -> Result<Purged, HubError> {
        let snapshot = self.snapshot();
        if snapshot.config.tenants.contains_key(tenant) {
            return Err(HubError::StillConfigured(tenant.to_owned()));
        }
        // The name becomes a directory name below: a plain one only.
        if !config::valid_name(tenant) {
            return Err(HubError::NothingToPurge(tenant.to_owned()));
        }
        let root = snapshot.config.data_dir.join("tenants").join(tenant);
        // Not a store a configured tenant has, or has inside it, or is in.
        let in_use = snapshot
            .config
            .tenants
            .values()
            .any(|t| t.root.starts_with(&root) || root.starts_with(&t.root));
        // The journal first: a store without records is only disk space,
        // records without their store would be a tenant half there.
        let rows = self.journal.purge_tenant(tenant)?;
        let store_removed = !in_use && root.is_dir();
        if store_removed {
            std::fs::remove_dir_all(&root).map_err(|source| HubError::Purge {
                tenant: tenant.to_owned(),
                path: root.clone(),
                source,
            })?;
        }
        if rows == 0 && !store_removed {
            return Err(HubError::NothingToPurge(tenant.to_owned()));
        }
        self.meters.forget(tenant);
        self.guard.forget(tenant);
        tracing::warn!(tenant, rows, store_removed, "tenant purged");
        Ok(Purged {
            tenant: tenant.to_owned(),
            journal_rows: rows,
            store_removed,
        })
    }

    /// Re-reads the configuration from `path` and applies it. A bad
    /// configuration is refused and the one in force stays.
    pub fn reload(&self, path: &Path) -> Result<(), HubError> {
        let config = config::load(path)?;
        self.apply(config)?;
        self.announce(None);
        Ok(())
    }

    /// Reads the configuration again because another node announced a
    /// change (nodes that share a `tenants_dir` see each other's admin
    /// edits this way), as far as that node did: one tenant's (its own
    /// change through the admin API, whatever else waits for the operator)
    /// or all of it. Not announced again.
    pub fn reload_announced(&self, path: &Path, tenant: Option<&str>) -> Result<(), HubError> {
        match tenant {
            Some(tenant) => self.reload_tenant_quietly(path, tenant),
            None => self.apply(config::load(path)?),
        }
    }

    /// Tells the other nodes of the journal that the configuration changed:
    /// all of it, or one tenant's. The payload is `NODE` or `NODE/TENANT`.
    fn announce(&self, tenant: Option<&str>) {
        let node = self.config().node.clone();
        self.tell_config(&node, tenant);
    }

    /// Re-reads the configuration from `path` and applies the part of it
    /// that is `tenant`'s, and nothing else: what a tenant's own change
    /// through the admin API may do. Another tenant's pending edits, or the
    /// server's, wait for the operator's reload; their problems are not
    /// shown (a tenant learns only that there are some, the log says which).
    pub fn reload_tenant(&self, path: &Path, tenant: &str) -> Result<(), HubError> {
        self.reload_tenant_quietly(path, tenant)?;
        self.announce(Some(tenant));
        Ok(())
    }

    fn reload_tenant_quietly(&self, path: &Path, tenant: &str) -> Result<(), HubError> {
        let mut config = match config::load(path) {
            Ok(config) => config,
            Err(config::ConfigError::Invalid(problems)) => {
                let current = self.snapshot();
                let source = current.config.tenants.get(tenant).map(|t| t.source.clone());
                let prefix = format!("tenants.{tenant}");
                let (own, others): (Vec<_>, Vec<_>) = problems.into_iter().partition(|p| {
                    Some(&p.file) == source.as_ref()
                        && (current.config.sources.first() != Some(&p.file)
                            || p.key == prefix
                            || p.key.starts_with(&format!("{prefix}.")))
                });
                if !own.is_empty() {
                    return Err(config::ConfigError::Invalid(own).into());
                }
                tracing::error!(tenant, problems = %config::ConfigError::Invalid(others),
                    "a tenant's change waits: the configuration has problems elsewhere");
                return Err(HubError::ProblemsElsewhere(tenant.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let current = self.snapshot();
        let Some(own) = config.tenants.remove(tenant) else {
            return Err(HubError::NoLongerConfigured(tenant.to_owned()));
        };
        let mut merged = (*current.config).clone();
        merged.tenants.insert(tenant.to_owned(), own);
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(
            format!("{}|{tenant}|{}", current.config.digest, config.digest).as_bytes(),
        );
        merged.digest = hex::encode(digest);
        self.apply(merged)
    }

    /// Applies a configuration that was loaded and checked.
    fn apply(&self, config: Config) -> Result<(), HubError> {
        let current = self.snapshot();
        if config.digest == current.config.digest && config::same_secrets(&config, &current.config)
        {
            tracing::info!("configuration unchanged");
            // Plugin files and rollback pins live outside the configuration.
            self.sync_plugins()?;
            return Ok(());
        }
        let next = Self::build(
            &self.journal,
            self.s3.as_ref(),
            &self.meters,
            &self.pipeline,
            &self.notary,
            Arc::new(config),
            Some(&current),
        )?;
        for name in next.tenants.keys() {
            self.journal.record_event(
                name,
                EventKind::ConfigReloaded,
                json!({ "digest": next.config.digest, "previous": current.config.digest }),
            )?;
        }
        let removed: Vec<_> = current
            .tenants
            .keys()
            .filter(|name| !next.tenants.contains_key(*name))
            .collect();
        if !removed.is_empty() {
            tracing::warn!(
                ?removed,
                "tenants removed from the configuration; their sessions are closed, their data stays"
            );
            for name in &removed {
                self.sessions.kick_tenant(name);
            }
        }
        let (digest, tenants) = (next.config.digest.clone(), next.tenants.len());
        let config = Arc::clone(&next.config);
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        // Revoked credentials end their sessions: an account deleted or
        // changed, a partner gone, an address no longer allowed.
        self.sessions.revoke(|session, credentials| {
            let Some(tenant) = config.tenants.get(&session.tenant) else {
                return false;
            };
            let Some((partner, account)) = tenant.account(&session.login) else {
                return false;
            };
            let allowed = partner.allow_from.is_empty()
                || session
                    .peer
                    .parse::<std::net::SocketAddr>()
                    .is_ok_and(|peer| partner.allow_from.iter().any(|net| net.contains(peer.ip())));
            partner.name == session.partner
                && sessions::credentials(account) == credentials
                && allowed
        });
        tracing::info!(%digest, tenants, "configuration reloaded");
        self.sync_plugins()?;
        self.notify();
        Ok(())
    }
}

/// Where the hub keeps its pipeline once this process runs one, shared with
/// every `Tenant`, so that an operation that queues work wakes the
/// pipeline itself (the protocols need not know there is one).
#[derive(Default)]
pub struct PipelineSlot(RwLock<Option<Arc<Pipeline>>>);

impl PipelineSlot {
    /// Wakes the pipeline's workers, if there are any in this process
    /// (`ferry put` without a server has none: the server's workers find
    /// the task when they look).
    pub fn notify(&self) {
        if let Some(pipeline) = &*self.0.read().unwrap_or_else(|p| p.into_inner()) {
            pipeline.notify();
        }
    }
}

/// The pipeline's view of the hub. Weak, so that the hub and its pipeline
/// do not keep each other alive.
struct HubSteps(std::sync::Weak<Hub>);

impl StepSource for HubSteps {
    fn resolve(&self, tenant: &str) -> Option<(Arc<config::Tenant>, Store, StepsFor)> {
        let hub = self.0.upgrade()?;
        let tenant = hub.tenant(tenant)?;
        let config = Arc::clone(tenant.config());
        let registry = hub.plugins.get().cloned();
        let limits = Limits {
            deadline: config.plugin_deadline,
            memory: config.plugin_memory,
            ..Limits::default()
        };
        let tenant_name = config.name.clone();
        // The plugins' CPU time only (steps without plugins make no calls):
        // the built-in steps and the journal are ferry's own work.
        let meter = Arc::clone(&tenant);
        let charge: crate::plugin::CpuCharge = Arc::new(move |used| {
            if !used.is_zero() {
                meter.charge_cpu(used);
            }
        });
        // A partner's role is served by its plugin where it names one, and
        // by the built-in step otherwise.
        let steps: StepsFor = Arc::new(move |partner: &str| {
            let mut steps = Steps::default();
            let Some(registry) = &registry else {
                return steps;
            };
            let step = |role| {
                registry.slot(&tenant_name, partner, role).map(|slot| {
                    Arc::new(PluginStep::new(
                        slot,
                        Arc::clone(registry.engine()),
                        limits,
                        Arc::clone(&charge),
                    ))
                })
            };
            if let Some(step) = step(Role::Validator) {
                steps.validator = step;
            }
            if let Some(step) = step(Role::Router) {
                steps.router = step;
            }
            if let Some(step) = step(Role::Acknowledger) {
                steps.acknowledger = step;
            }
            steps
        });
        Some((config, tenant.store().clone(), steps))
    }

    fn tenants(&self) -> Vec<String> {
        self.0
            .upgrade()
            .map(|hub| hub.config().tenants.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn cpu_ready(&self, tenant: &str) -> bool {
        self.0
            .upgrade()
            .and_then(|hub| hub.tenant(tenant))
            .is_none_or(|t| t.cpu_ready())
    }

    fn connector_slot(&self, tenant: &str) -> Option<ConnectorSlot> {
        self.0.upgrade()?.tenant(tenant)?.connector_slot()
    }

    fn push_throttle(&self, tenant: &str, partner: &str) -> Option<Throttle> {
        let hub = self.0.upgrade()?;
        Some(hub.tenant(tenant)?.throttle(partner, Way::Down))
    }

    fn max_attempts(&self) -> u32 {
        self.0
            .upgrade()
            .map_or(10, |hub| hub.config().limits.max_attempts)
    }

    fn max_file_size(&self) -> Option<u64> {
        self.0
            .upgrade()
            .and_then(|hub| hub.config().limits.max_file_size)
    }
}
