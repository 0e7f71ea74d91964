//! Which plugin version serves each (tenant, partner, role), and how a new
//! version replaces it without a restart.
//!
//! A [`Slot`] holds the version in service behind an `RwLock<Arc<Plugin>>`:
//! a call clones the `Arc` and runs on that version to the end, so a swap
//! never disturbs a call in flight. `refresh` reads the configured file,
//! and when its SHA-256 changed compiles it (off the hot path: on the
//! reload or watcher thread), checks it against the role's world and swaps
//! it in; a version that fails is refused, the one in service stays, and
//! both outcomes are `plugin-version` events in the journal. Every version
//! that served is kept in `DATA_DIR/plugins/` by its SHA-256, so that
//! `ferry plugin rollback` can bring back the previous one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Plugin, PluginEngine, PluginError, Role};
use crate::journal::{EventKind, Journal, JournalError, PluginPin};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotKey {
    pub tenant: String,
    pub partner: String,
    pub role: Role,
}

/// The versions of one (tenant, partner, role).
pub struct Slot {
    pub key: SlotKey,
    path: RwLock<PathBuf>,
    current: RwLock<Option<Arc<Plugin>>>,
    /// Why the newest file was refused, while it stays refused.
    refused: Mutex<Option<String>>,
    /// Whether the version in service is one a rollback pinned: when the
    /// pin goes (from another node), the file's version comes back even
    /// though the file is the one seen last.
    pinned: std::sync::atomic::AtomicBool,
    /// The SHA-256 of the file when last read, to skip unchanged files.
    seen: Mutex<Option<String>>,
}

impl Slot {
    /// The version in service, or why there is none.
    pub fn current(&self) -> Result<Arc<Plugin>, String> {
        if let Some(plugin) = &*self.current.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(Arc::clone(plugin));
        }
        Err(self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "the plugin is not loaded".to_owned()))
    }

    pub fn path(&self) -> PathBuf {
        self.path.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// All slots of the process.
pub struct Registry {
    engine: Arc<PluginEngine>,
    journal: Arc<dyn Journal>,
    /// Where every version that served is kept, by SHA-256.
    versions: PathBuf,
    /// On a node of a cluster, the object store's plugin area: versions
    /// are kept there too, and found there when not kept here.
    shared: Option<crate::store::Store>,
    slots: RwLock<HashMap<SlotKey, Arc<Slot>>>,
    /// Serialises refreshes, so that two triggers never compile the same file twice.
    refreshing: Mutex<()>,
    /// Set once watching starts; `sync` adds the directories of new slots.
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

/// What a refresh did to a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    Activated { sha256: String },
    Refused { reason: String },
}

impl Registry {
    pub fn new(engine: Arc<PluginEngine>, journal: Arc<dyn Journal>, data_dir: &Path) -> Registry {
        Registry {
            engine,
            journal,
            versions: data_dir.join("plugins"),
            shared: None,
            slots: RwLock::new(HashMap::new()),
            refreshing: Mutex::new(()),
            watcher: Mutex::new(None),
        }
    }

    /// Keeps versions in `store` (the object store's plugin area) as well.
    pub fn share_versions(&mut self, store: crate::store::Store) {
        self.shared = Some(store);
    }

    pub fn engine(&self) -> &Arc<PluginEngine> {
        &self.engine
    }

    pub fn slot(&self, tenant: &str, partner: &str, role: Role) -> Option<Arc<Slot>> {
        let key = SlotKey {
            tenant: tenant.to_owned(),
            partner: partner.to_owned(),
            role,
        };
        self.slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    }

    /// Makes the slots match the configuration (`wanted`), then refreshes
    /// every slot. Slots no longer configured are dropped; calls in flight
    /// on them finish on the version they hold.
    pub fn sync(&self, wanted: &[(SlotKey, PathBuf)]) {
        {
            let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
            slots.retain(|key, _| wanted.iter().any(|(k, _)| k == key));
            for (key, path) in wanted {
                match slots.get(key) {
                    Some(slot) => {
                        let mut current = slot.path.write().unwrap_or_else(|p| p.into_inner());
                        if *current != *path {
                            *current = path.clone();
                            *slot.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
                        }
                    }
                    None => {
                        slots.insert(
                            key.clone(),
                            Arc::new(Slot {
                                key: key.clone(),
                                path: RwLock::new(path.clone()),
                                current: RwLock::new(None),
                                refused: Mutex::new(None),
                                pinned: Default::default(),
                                seen: Mutex::new(None),
                            }),
                        );
                    }
                }
            }
        }
        self.watch_dirs();
        self.refresh_where(|_| true);
    }

    /// Refreshes the slots whose file is `path` (after a file system event).
    pub fn file_changed(&self, path: &Path) {
        self.refresh_where(|slot| slot.path() == path);
    }

    fn refresh_where(&self, which: impl Fn(&Slot) -> bool) {
        let slots: Vec<Arc<Slot>> = self
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|slot| which(slot))
            .cloned()
            .collect();
        for slot in slots {
            if let Err(e) = self.refresh(&slot) {
                tracing::error!(error = %crate::error_chain(&e), tenant = %slot.key.tenant,
                    partner = %slot.key.partner, role = %slot.key.role, "cannot record a plugin change");
            }
        }
    }

    /// Loads the slot's file or pinned version now, even if the file is
    /// the one seen last (a pin was set or cleared).
    pub fn reload(&self, slot: &Slot) -> Result<Change, JournalError> {
        *slot.seen.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.refresh(slot)
    }

    /// Loads the slot's file (or its pinned version) if it changed.
    pub fn refresh(&self, slot: &Slot) -> Result<Change, JournalError> {
        let _one_at_a_time = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let path = slot.path();
        let key = &slot.key;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                let reason = format!("cannot read {}: {e}", path.display());
                return self.refuse(slot, None, &path, reason);
            }
        };
        let file_sha = hex::encode(Sha256::digest(&bytes));
        let current_sha = slot.current().ok().map(|p| p.sha256.clone());

        // A rollback pins an older version for as long as the file is the one
        // it was rolled back from; a new file ends the pin.
        let pin = self
            .journal
            .plugin_pin(&key.tenant, &key.partner, key.role.as_str())?;
        let (bytes, sha, pinned) = match pin {
            Some(PluginPin {
                sha256,
                file_sha256,
            }) if file_sha256 == file_sha => {
                if current_sha.as_deref() == Some(sha256.as_str()) {
                    return Ok(Change::Unchanged);
                }
                match self.kept(&sha256) {
                    Ok(old) => (old, sha256, true),
                    Err(e) => {
                        let reason = format!("the pinned version {sha256} is not kept: {e}");
                        return self.refuse(slot, Some(&sha256), &path, reason);
                    }
                }
            }
            Some(_) => {
                self.journal
                    .set_plugin_pin(&key.tenant, &key.partner, key.role.as_str(), None)?;
                (bytes, file_sha.clone(), false)
            }
            None => (bytes, file_sha.clone(), false),
        };

        let mut seen = slot.seen.lock().unwrap_or_else(|p| p.into_inner());
        let was_pinned = slot.pinned.load(std::sync::atomic::Ordering::Relaxed);
        if !pinned && !was_pinned && seen.as_deref() == Some(file_sha.as_str()) {
            return Ok(Change::Unchanged);
        }
        *seen = Some(file_sha);
        drop(seen);
        if current_sha.as_deref() == Some(sha.as_str()) {
            return Ok(Change::Unchanged);
        }

        let plugin = match self.engine.load(&bytes, key.role) {
            Ok(plugin) => plugin,
            Err(e) => return self.refuse(slot, Some(&sha), &path, e.to_string()),
        };
        if let Err(e) = self.keep(&sha, &bytes) {
            tracing::warn!(error = %e, "cannot keep a plugin version for rollback");
        }
        let previous = slot
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(Arc::new(plugin))
            .map(|p| p.sha256.clone());
        *slot.refused.lock().unwrap_or_else(|p| p.into_inner()) = None;
        slot.pinned
            .store(pinned, std::sync::atomic::Ordering::Relaxed);
        // A pin to a version that served before is a rollback; a pin to
        // one that never did (uploaded through the API) is its activation.
        let served_before = pinned
            && self
                .journal
                .plugin_events(&key.tenant, &key.partner, key.role.as_str())?
                .iter()
                .any(|e| {
                    e.detail["sha256"] == sha.as_str()
                        && matches!(
                            e.detail["status"].as_str(),
                            Some("activated" | "rolled-back")
                        )
                });
        let status = if served_before {
            "rolled-back"
        } else {
            "activated"
        };
        tracing::info!(tenant = %key.tenant, partner = %key.partner, role = %key.role,
            sha256 = %sha, ?previous, "plugin version {status}");
        self.journal.record_event(
            &key.tenant,
            EventKind::PluginVersion,
            json!({
                "partner": key.partner, "role": key.role.as_str(), "status": status,
                "sha256": sha, "previous": previous, "path": path.display().to_string(),
            }),
        )?;
        Ok(Change::Activated { sha256: sha })
    }

    fn refuse(
        &self,
        slot: &Slot,
        sha: Option<&str>,
        path: &Path,
        reason: String,
    ) -> Result<Change, JournalError> {
        let key = &slot.key;
        let kept = slot.current().ok().map(|p| p.sha256.clone());
        tracing::error!(tenant = %key.tenant, partner = %key.partner, role = %key.role,
            path = %path.display(), %reason, kept = ?kept, "plugin version refused");
        *slot.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!(
            "{} plugin {} refused: {reason}",
            key.role,
            path.display()
        ));
        self.journal.record_event(
            &key.tenant,
            EventKind::PluginVersion,
            json!({
                "partner": key.partner, "role": key.role.as_str(), "status": "refused",
                "sha256": sha, "kept": kept, "path": path.display().to_string(), "reason": reason,
            }),
        )?;
        Ok(Change::Refused { reason })
    }

    /// The bytes of version `sha` of a slot whose file is `file`: the file's
    /// own when it holds that version, else a kept one (one that served).
    pub fn version_bytes(&self, file: &Path, sha: &str) -> std::io::Result<Vec<u8>> {
        if let Ok(bytes) = std::fs::read(file)
            && hex::encode(Sha256::digest(&bytes)) == sha
        {
            return Ok(bytes);
        }
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(std::io::Error::other("not a SHA-256"));
        }
        self.kept(&sha.to_ascii_lowercase())
    }

    /// A kept version's bytes: from this node's versions, or else from the
    /// object store's (where another node kept it), then kept here too.
    fn kept(&self, sha: &str) -> std::io::Result<Vec<u8>> {
        let here = std::fs::read(self.versions.join(format!("{sha}.wasm")));
        let (Err(e), Some(shared)) = (&here, &self.shared) else {
            return here;
        };
        let Ok(hash) = sha.parse() else {
            return here;
        };
        let mut blob = shared
            .read(&hash)
            .map_err(|_| std::io::Error::new(e.kind(), e.to_string()))?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut blob, &mut bytes)?;
        if hex::encode(Sha256::digest(&bytes)) != sha {
            return Err(std::io::Error::other(
                "the object store's copy has other bytes",
            ));
        }
        self.keep(sha, &bytes)?;
        Ok(bytes)
    }

    /// Keeps a version's bytes by SHA-256, for rollback or a later
    /// activation (an upload, checked by the caller), in the object store
    /// too on a node of a cluster.
    pub fn keep(&self, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(shared) = &self.shared
            && let Ok(hash) = sha.parse()
            && !shared.contains(&hash)
            && let Err(e) = shared.put_bytes(bytes)
        {
            tracing::warn!(error = %crate::error_chain(&e), sha, "a plugin version is not kept in the object store");
        }
        std::fs::create_dir_all(&self.versions)?;
        let path = self.versions.join(format!("{sha}.wasm"));
        if path.exists() {
            return Ok(());
        }
        let tmp = self
            .versions
            .join(format!("{sha}.tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, path)
    }

    /// Starts watching the directories of the slots' files: a slot is
    /// refreshed when its file changes. Slots added later by `sync` are
    /// watched too.
    pub fn watch(self: &Arc<Self>) -> Result<(), PluginError> {
        let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && (event.kind.is_create() || event.kind.is_modify())
            {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
        })
        .map_err(|e| PluginError::Engine(format!("starting the plugin file watcher: {e}")))?;
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher);
        self.watch_dirs();
        let registry = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("plugin-watch".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Writers produce several events per file; let them settle.
                    let mut changed = vec![first];
                    while let Ok(more) = rx.recv_timeout(Duration::from_millis(50)) {
                        changed.push(more);
                    }
                    changed.sort();
                    changed.dedup();
                    let Some(registry) = registry.upgrade() else {
                        break;
                    };
                    for path in changed {
                        registry.file_changed(&path);
                    }
                }
            })
            .map_err(|e| PluginError::Engine(format!("starting the plugin watcher thread: {e}")))?;
        Ok(())
    }

    fn watch_dirs(&self) {
        use notify::Watcher as _;
        let mut guard = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        let Some(watcher) = guard.as_mut() else {
            return;
        };
        let mut dirs: Vec<PathBuf> = self
            .slots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(|slot| slot.path().parent().map(Path::to_owned))
            .collect();
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            if let Err(e) = watcher.watch(&dir, notify::RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot watch a plugin directory");
            }
        }
    }
}
