//! The tenants the nodes of a cluster share. In cluster mode (a PostgreSQL
//! journal) tenants, partners, accounts, tokens and plugin choices live in
//! the journal, one document per tenant (`journal::Settings`), not in each
//! node's files:
//!
//! - `ferry tenants import` and the admin API's edits *share* a tenant:
//!   its document goes to the journal with a new revision, its plugin
//!   components to the object store by SHA-256 (`_plugins/objects/SHA256`,
//!   beside the tenants' content; no tenant name starts with `_`), and its
//!   token, passwords and keys sealed with the nodes' secrets key, as the
//!   host keys are (`secrets::shared`).
//! - Every node *fetches* them into its copy, `DATA_DIR/shared/tenants`
//!   (the layout of `config::shared`), which `config::load` reads like a
//!   tenants directory: at start, when another node announces a change, and
//!   when a heartbeat finds a revision it does not have (announcements are
//!   lost while a connection is down).
//! - `ferry tenants export` writes them back as files, in the same layout.
//!
//! So an admin API change made on one node is checked there by the same
//! loader as any file, then in force on every node within a heartbeat.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::shared::{CarriedKind, Portable};
use crate::journal::{Conflict, Journal, JournalError, SharedTenant};
use crate::secrets::SecretsError;
use crate::secrets::shared::Key;
use crate::store::{ContentHash, Store, StoreError};

/// The tenant name under which plugin components are kept in the object
/// store: tenant names start with a letter or digit, so it is no tenant's.
pub const PLUGINS: &str = "_plugins";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("the shared settings in the journal")]
    Journal(#[from] JournalError),
    #[error("the plugin components in the object store")]
    Store(#[from] StoreError),
    #[error("the sealed files of tenant `{tenant}`")]
    Secrets {
        tenant: String,
        #[source]
        source: SecretsError,
    },
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tenant `{tenant}` is shared damaged: {why}")]
    Corrupt { tenant: String, why: String },
    #[error(
        "tenant `{tenant}` was changed on another node meanwhile (revision {} there, this change \
         was made from {}): try again",
        conflict.found, conflict.expected
    )]
    Conflict { tenant: String, conflict: Conflict },
    #[error(
        "shared tenants keep their plugin components in the object store: this node has none \
         (`[server] store = \"s3://BUCKET\"`)"
    )]
    NoObjectStore,
}

/// The object store's area for plugin components.
pub(crate) fn plugin_area(s3: &crate::store::S3) -> Store {
    Store::remote(s3, PLUGINS)
}

/// Writes a portable tenant into `dir`, in the layout a node's copy has:
/// its files, then its document. What `ferry tenants import` checks
/// before it shares anything.
pub(crate) fn lay_out(tenant: &Portable, dir: &Path) -> Result<(), SettingsError> {
    for file in &tenant.files {
        let path = dir.join(&file.path);
        match file.kind {
            CarriedKind::Plugin => write_atomically(&path, &file.bytes)?,
            CarriedKind::Secret => write_private(&path, &file.bytes)?,
        }
    }
    write_atomically(
        &crate::config::shared::document_path(dir, &tenant.name),
        tenant.document.as_bytes(),
    )
}

/// What a node needs to share and fetch tenants.
pub(crate) struct Shared<'a> {
    pub journal: &'a dyn Journal,
    /// The object store's `_plugins` area, when the node has an object store.
    pub plugins: Option<Store>,
    pub key: &'a Key,
}

/// What a fetch changed in the copy.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Tenants written anew or removed.
    pub changed: Vec<String>,
}

impl Shared<'_> {
    /// Shares `tenant` (a new revision of it) made by `by`. `expected` is
    /// the revision it was made from; `None` replaces whatever is shared.
    pub fn share(
        &self,
        tenant: &Portable,
        by: &str,
        expected: Option<u64>,
    ) -> Result<u64, SettingsError> {
        let mut secrets = Vec::new();
        for file in &tenant.files {
            match file.kind {
                CarriedKind::Plugin => {
                    let plugins = self.plugins.as_ref().ok_or(SettingsError::NoObjectStore)?;
                    plugins.put_bytes(&file.bytes)?;
                }
                CarriedKind::Secret => secrets.push((file.path.as_str(), file.bytes.as_slice())),
            }
        }
        let sealed_files = self
            .key
            .seal(&aad(&tenant.name), &bundle(&secrets))
            .map_err(|source| SettingsError::Secrets {
                tenant: tenant.name.clone(),
                source,
            })?;
        let shared = SharedTenant {
            tenant: tenant.name.clone(),
            document: tenant.document.clone(),
            sealed_files,
            revision: 0,
            updated_at: crate::journal::Timestamp::now(),
            updated_by: by.to_owned(),
        };
        self.journal
            .put_shared_tenant(&shared, expected)?
            .map_err(|conflict| SettingsError::Conflict {
                tenant: tenant.name.clone(),
                conflict,
            })
    }

    /// Brings the copy in `dir` (`DATA_DIR/shared/tenants`) to what the
    /// journal holds: tenants whose revision moved on are written anew,
    /// tenants no longer shared removed. Each tenant's document is written
    /// last, once the files it names are in place.
    pub fn fetch(&self, dir: &Path) -> Result<Fetched, SettingsError> {
        let mut have = revisions(dir);
        let shared = self.journal.shared_tenants()?;
        let mut fetched = Fetched::default();
        for tenant in &shared {
            let path = crate::config::shared::document_path(dir, &tenant.tenant);
            if have.get(&tenant.tenant) == Some(&tenant.revision) && path.is_file() {
                continue;
            }
            self.write_out(tenant, dir)?;
            have.insert(tenant.tenant.clone(), tenant.revision);
            fetched.changed.push(tenant.tenant.clone());
        }
        let gone: Vec<String> = have
            .keys()
            .filter(|name| !shared.iter().any(|t| &t.tenant == *name))
            .cloned()
            .collect();
        for name in gone {
            remove_file(&crate::config::shared::document_path(dir, &name))?;
            let secrets = dir.join("secrets").join(&name);
            if secrets.exists() {
                std::fs::remove_dir_all(&secrets).map_err(io(&secrets))?;
            }
            have.remove(&name);
            fetched.changed.push(name);
        }
        if !fetched.changed.is_empty() {
            set_revisions(dir, &have)?;
        }
        Ok(fetched)
    }

    /// Whether the journal holds revisions the copy in `dir` lacks: one
    /// small query, for each heartbeat.
    pub fn behind(&self, dir: &Path) -> Result<bool, SettingsError> {
        let shared: BTreeMap<String, u64> = self.journal.shared_revisions()?.into_iter().collect();
        Ok(shared != revisions(dir))
    }

    /// Writes every shared tenant (or only `only`) into `dir`, in the
    /// layout `ferry tenants import` reads back: what `ferry tenants
    /// export` does. Returns the tenants written.
    pub fn export(&self, dir: &Path, only: Option<&str>) -> Result<Vec<String>, SettingsError> {
        let mut written = Vec::new();
        for tenant in self.journal.shared_tenants()? {
            if only.is_some_and(|only| only != tenant.tenant) {
                continue;
            }
            self.write_out(&tenant, dir)?;
            written.push(tenant.tenant);
        }
        Ok(written)
    }

    /// Writes one tenant's files, then its document, into `dir`.
    fn write_out(&self, tenant: &SharedTenant, dir: &Path) -> Result<(), SettingsError> {
        let corrupt = |why: String| SettingsError::Corrupt {
            tenant: tenant.tenant.clone(),
            why,
        };
        // The name becomes a file name: never one that leads elsewhere.
        if !crate::config::valid_name(&tenant.tenant) {
            return Err(corrupt("its name is not a tenant's name".into()));
        }
        let plain = self
            .key
            .open(&aad(&tenant.tenant), &tenant.sealed_files)
            .map_err(|source| SettingsError::Secrets {
                tenant: tenant.tenant.clone(),
                source,
            })?;
        for (path, bytes) in unbundle(&plain).map_err(|why| corrupt(why.into()))? {
            let relative = safe_relative(&path, &format!("secrets/{}/", tenant.tenant))
                .ok_or_else(|| corrupt(format!("a sealed file is named `{path}`")))?;
            write_private(&dir.join(relative), &bytes)?;
        }
        for sha in crate::config::shared::plugin_references(&tenant.document) {
            let path = dir.join("plugins").join(format!("{sha}.wasm"));
            if path.is_file() {
                continue;
            }
            let plugins = self.plugins.as_ref().ok_or(SettingsError::NoObjectStore)?;
            let hash: ContentHash = sha
                .parse()
                .map_err(|_| corrupt(format!("a plugin is named `{sha}`")))?;
            let mut blob = plugins.read(&hash)?;
            let mut bytes = Vec::with_capacity(blob.size() as usize);
            std::io::copy(&mut blob, &mut bytes).map_err(|source| {
                SettingsError::Store(StoreError::Io {
                    doing: "reading a plugin component",
                    source,
                })
            })?;
            if hex::encode(Sha256::digest(&bytes)) != sha {
                return Err(corrupt(format!("plugin component {sha} has other bytes")));
            }
            write_atomically(&path, &bytes)?;
        }
        write_atomically(
            &crate::config::shared::document_path(dir, &tenant.tenant),
            tenant.document.as_bytes(),
        )
    }
}

/// The revisions the copy in `dir` holds (`dir/../revisions.json`).
pub fn revisions(dir: &Path) -> BTreeMap<String, u64> {
    std::fs::read(revisions_file(dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Records that the copy holds `tenant` at `revision` (after this node
/// shared it).
pub fn set_revision(dir: &Path, tenant: &str, revision: u64) -> Result<(), SettingsError> {
    let mut have = revisions(dir);
    have.insert(tenant.to_owned(), revision);
    set_revisions(dir, &have)
}

/// Records that the copy no longer holds `tenant` (after this node stopped
/// sharing it).
pub fn forget_revision(dir: &Path, tenant: &str) -> Result<(), SettingsError> {
    let mut have = revisions(dir);
    have.remove(tenant);
    set_revisions(dir, &have)
}

fn set_revisions(dir: &Path, have: &BTreeMap<String, u64>) -> Result<(), SettingsError> {
    let json = serde_json::to_vec_pretty(have).expect("a map of numbers serializes");
    write_atomically(&revisions_file(dir), &json)
}

fn revisions_file(dir: &Path) -> PathBuf {
    dir.with_file_name("revisions.json")
}

/// The associated data a tenant's sealed files are sealed with: a sealed
/// bundle moved to another tenant does not open.
fn aad(tenant: &str) -> String {
    format!("tenant-files/{tenant}")
}

/// `path` when it lies under `prefix` with no `..`, `.` or empty
/// component: a sealed file's name never leads out of the copy.
fn safe_relative<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (!rest.is_empty()
        && rest
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\')))
    .then_some(path)
}

/// Files as one byte string: for each, its path's and its bytes' lengths
/// (8 bytes each, big-endian) and then both.
fn bundle(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, bytes) in files {
        out.extend_from_slice(&(path.len() as u64).to_be_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn unbundle(mut rest: &[u8]) -> Result<Vec<(String, Vec<u8>)>, &'static str> {
    let take = |rest: &mut &[u8]| -> Result<Vec<u8>, &'static str> {
        let (len, tail) = rest.split_at_checked(8).ok_or("cut short")?;
        let len = u64::from_be_bytes(len.try_into().expect("8 bytes"));
        let len = usize::try_from(len).map_err(|_| "cut short")?;
        let (bytes, tail) = tail.split_at_checked(len).ok_or("cut short")?;
        *rest = tail;
        Ok(bytes.to_vec())
    };
    let mut files = Vec::new();
    while !rest.is_empty() {
        let path = String::from_utf8(take(&mut rest)?).map_err(|_| "a name is not UTF-8")?;
        files.push((path, take(&mut rest)?));
    }
    Ok(files)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SettingsError + '_ {
    move |source| SettingsError::Io {
        path: path.to_owned(),
        source,
    }
}

fn remove_file(path: &Path) -> Result<(), SettingsError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path)(e)),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename: a
/// reader (the configuration's loader, a plugin watcher) never sees half.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), SettingsError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// A secret's file: owner-only, as the host keys are.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SettingsError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    crate::secrets::tls::write_private(path, bytes).map_err(|source| SettingsError::Secrets {
        tenant: String::new(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_comes_apart_as_it_was_made() {
        let files = [("secrets/acme/a", &b"one"[..]), ("secrets/acme/b", b"")];
        let back = unbundle(&bundle(&files)).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], ("secrets/acme/a".to_owned(), b"one".to_vec()));
        assert_eq!(back[1], ("secrets/acme/b".to_owned(), Vec::new()));
        assert!(unbundle(&bundle(&files)[..20]).is_err());
    }

    #[test]
    fn sealed_file_names_stay_in_their_tenant() {
        assert!(safe_relative("secrets/acme/api_token_file", "secrets/acme/").is_some());
        assert!(safe_relative("secrets/acme/../../x", "secrets/acme/").is_none());
        assert!(safe_relative("secrets/other/key", "secrets/acme/").is_none());
        assert!(safe_relative("secrets/acme/", "secrets/acme/").is_none());
    }
}
