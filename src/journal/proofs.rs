//! The role that keeps a tenant's Merkle tree (`merkle.rs`) and its
//! signed checkpoints: the journal as evidence a third party can check
//! without holding it. Signing is not the journal's business: `src/proofs`
//! signs and hands the checkpoint here to keep.

use serde::{Deserialize, Serialize};

use super::merkle::{Hash, NodeId};
use super::{JournalError, Result};

/// An event as stored, its detail the exact text the chain hashed: what a
/// verifier recomputes the event's hash from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    pub tenant: String,
    pub seq: u64,
    pub at: i64,
    pub kind: String,
    pub message: Option<i64>,
    pub partner: Option<String>,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// A signed tree head: the tenant's first `size` events have the Merkle
/// root `root` (hex); `signature` (base64) is the journal key's Ed25519
/// signature over [`Checkpoint::signed_text`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub tenant: String,
    pub size: u64,
    pub root: String,
    /// Milliseconds since the Unix epoch.
    pub time: i64,
    pub key_id: String,
    pub signature: String,
}

impl Checkpoint {
    /// What is signed: lines, not JSON, so that a verifier in any language
    /// rebuilds the same bytes from the fields without canonical JSON.
    pub fn signed_text(tenant: &str, size: u64, root: &str, time: i64) -> String {
        format!("ferry-checkpoint-v1\ntenant {tenant}\nsize {size}\nroot {root}\ntime {time}\n")
    }
}

/// A tenant's tree and checkpoints.
pub trait Proofs: Send + Sync {
    /// Adds the events recorded since the last call to the tenant's tree
    /// and answers how many events it holds. Cheap when nothing is new;
    /// never on an upload's path.
    fn extend_tree(&self, tenant: &str) -> Result<u64>;

    /// Stored subtrees, in the order asked; an error when one is missing
    /// (the tree was not extended that far).
    fn tree_nodes(&self, tenant: &str, ids: &[NodeId]) -> Result<Vec<Hash>>;

    /// Events by seq, as stored, in the order asked; those missing are left out.
    fn raw_events(&self, tenant: &str, seqs: &[u64]) -> Result<Vec<RawEvent>>;

    /// Up to `limit` events from seq `from` on, in chain order, as stored.
    fn events_from(&self, tenant: &str, from: u64, limit: usize) -> Result<Vec<RawEvent>>;

    /// Keeps a checkpoint and journals it as a `checkpoint` event (its
    /// detail the checkpoint), in one transaction.
    fn put_checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;

    /// The newest checkpoint of a tenant.
    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<Checkpoint>>;
}

/// A stored node's bytes as a hash (both backends keep them as 32 bytes).
pub(super) fn stored_node(bytes: &[u8]) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| JournalError::Corrupt("a merkle node is not 32 bytes".into()))
}

/// An event's chain hash, stored as hex, as the data of its leaf.
pub(super) fn event_hash(text: &str) -> Result<Hash> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| JournalError::Corrupt(format!("`{text}` is not an event hash")))?;
    Ok(out)
}
