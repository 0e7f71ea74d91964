//! The settings the nodes of one journal share: their tenants (partners,
//! accounts, tokens, plugin choices), one document per tenant, each with
//! a revision that every change moves on. See `crate::settings` for what
//! the documents hold and how a node keeps its copy of them.

use super::{JournalError, Result, Timestamp};

/// One shared tenant as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTenant {
    pub tenant: String,
    /// The tenant's TOML, as a file of a `tenants_dir` (its file
    /// references rewritten to the shared copy's layout).
    pub document: String,
    /// The files the document names that are secrets (tokens, passwords,
    /// keys), sealed together with the nodes' secrets key.
    pub sealed_files: Vec<u8>,
    /// 1 for the first version, one more for each change.
    pub revision: u64,
    pub updated_at: Timestamp,
    /// The node, or `import`, that made this revision.
    pub updated_by: String,
}

/// A change to a shared tenant was refused because another change came
/// first: `expected` is the revision the writer started from, `found` the
/// one in the journal (0: the tenant is not shared any more, or not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    pub expected: u64,
    pub found: u64,
}

/// The shared settings. The embedded journal has one node and no shared
/// settings: its methods say so.
pub trait Settings: Send + Sync {
    /// Every shared tenant, by name.
    fn shared_tenants(&self) -> Result<Vec<SharedTenant>> {
        Err(unsupported())
    }

    /// The revision of every shared tenant: what a node compares with its
    /// copy to learn, cheaply, whether it is behind.
    fn shared_revisions(&self) -> Result<Vec<(String, u64)>> {
        Err(unsupported())
    }

    /// Stores `tenant`'s new version. `expected` is the revision it was
    /// made from (`None`: replace whatever is there, as an import does);
    /// the new revision, or the conflict when another change came first.
    fn put_shared_tenant(
        &self,
        tenant: &SharedTenant,
        expected: Option<u64>,
    ) -> Result<std::result::Result<u64, Conflict>> {
        let _ = (tenant, expected);
        Err(unsupported())
    }

    /// Stops sharing `tenant`: whether it was shared.
    fn remove_shared_tenant(&self, tenant: &str) -> Result<bool> {
        let _ = tenant;
        Err(unsupported())
    }
}

fn unsupported() -> JournalError {
    JournalError::Unsupported(
        "the embedded journal has no shared settings: they live in a PostgreSQL journal \
         (`[server] journal = \"postgres://...\"`)",
    )
}
