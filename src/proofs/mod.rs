//! Evidence a third party checks offline: signed checkpoints of each
//! tenant's journal (its Merkle tree, `journal/merkle.rs`), inclusion
//! proofs of the events about one file against them, and consistency
//! proofs between two checkpoints (RFC 6962/9162, as Certificate
//! Transparency). `format.rs` holds the files and their verification; the
//! key is `secrets/journal_key.rs`.
//!
//! A checkpoint is made on demand (`ferry journal checkpoint`, a proof
//! whose events the latest checkpoint does not cover) and on the server's
//! schedule (`[journal] checkpoint_every`); each is journaled as an event,
//! so the next checkpoint covers the one before it.

mod audit;
pub mod format;
pub mod listing;

use std::sync::Arc;

use base64::Engine as _;

use crate::journal::merkle::{self, Hash};
use crate::journal::{Checkpoint, Journal, JournalError, Timestamp};
use crate::secrets::journal_key::JournalKey;
pub use audit::TreeAudit;
pub use format::{Consistency, Proof, ProvenEvent, Subject};

#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("{0}")]
    Invalid(String),
}

/// Signs checkpoints and cuts proofs, for every tenant.
pub struct Notary {
    journal: Arc<dyn Journal>,
    key: Arc<JournalKey>,
}

impl Notary {
    pub fn new(journal: Arc<dyn Journal>, key: Arc<JournalKey>) -> Notary {
        Notary { journal, key }
    }

    pub fn key(&self) -> &JournalKey {
        &self.key
    }

    /// Signs the tenant's tree as it is now and keeps (and journals) the
    /// checkpoint.
    pub fn checkpoint(&self, tenant: &str) -> Result<Checkpoint, ProofError> {
        let size = self.journal.extend_tree(tenant)?;
        let root = hex::encode(self.root(tenant, size)?);
        let time = Timestamp::now().0;
        let text = Checkpoint::signed_text(tenant, size, &root, time);
        let checkpoint = Checkpoint {
            tenant: tenant.to_owned(),
            size,
            root,
            time,
            key_id: self.key.key_id(),
            signature: base64::engine::general_purpose::STANDARD
                .encode(self.key.sign(text.as_bytes())),
        };
        self.journal.put_checkpoint(&checkpoint)?;
        tracing::info!(tenant, size, root = %checkpoint.root, "journal checkpoint signed");
        Ok(checkpoint)
    }

    /// The newest checkpoint, made now when the tenant has none.
    pub fn latest(&self, tenant: &str) -> Result<Checkpoint, ProofError> {
        match self.journal.latest_checkpoint(tenant)? {
            Some(c) => Ok(c),
            None => self.checkpoint(tenant),
        }
    }

    /// The server's schedule: a checkpoint when the tenant's journal grew
    /// since the latest and `policy.every` has passed, or once it grew by
    /// `policy.events`. A quiet tenant gets no new ones.
    pub fn checkpoint_if_due(
        &self,
        tenant: &str,
        policy: &crate::config::Checkpoints,
    ) -> Result<Option<Checkpoint>, ProofError> {
        let latest = self.journal.latest_checkpoint(tenant)?;
        let size = self.journal.extend_tree(tenant)?;
        let due = match &latest {
            None => size > 0,
            // The latest checkpoint's own event is the one event after it.
            Some(c) if size <= c.size + 1 => false,
            Some(c) => {
                let age = Timestamp::now().0.saturating_sub(c.time).max(0) as u128;
                age >= policy.every.as_millis() || size - c.size > policy.events
            }
        };
        if due {
            self.checkpoint(tenant).map(Some)
        } else {
            Ok(None)
        }
    }

    fn root(&self, tenant: &str, size: u64) -> Result<Hash, ProofError> {
        Ok(merkle::range_hashes(&[(0, size)], |ids| self.journal.tree_nodes(tenant, ids))?[0])
    }

    /// The inclusion proof of events `seqs` (of `subject`) against the
    /// latest checkpoint, or a new one when the latest does not cover them.
    pub fn prove(&self, tenant: &str, subject: Subject, seqs: &[u64]) -> Result<Proof, ProofError> {
        let newest =
            seqs.iter().copied().max().ok_or_else(|| {
                ProofError::Invalid(format!("no event of {} to prove", subject.name))
            })?;
        let mut checkpoint = self.latest(tenant)?;
        if checkpoint.size < newest {
            checkpoint = self.checkpoint(tenant)?;
        }
        let size = checkpoint.size;
        let events = self.journal.raw_events(tenant, seqs)?;
        let mut proven = Vec::with_capacity(events.len());
        for event in events {
            let index = event.seq - 1;
            let path = merkle::range_hashes(&merkle::inclusion_ranges(index, size), |ids| {
                self.journal.tree_nodes(tenant, ids)
            })?;
            proven.push(ProvenEvent {
                event,
                leaf_index: index,
                path: path.iter().map(hex::encode).collect(),
            });
        }
        Ok(Proof {
            format: format::PROOF_FORMAT.into(),
            checkpoint,
            subject,
            events: proven,
        })
    }

    /// That the tenant's journal now extends the one `earlier` signed: a
    /// new checkpoint and the consistency proof from `earlier` to it.
    pub fn consistency(&self, earlier: &Checkpoint) -> Result<Consistency, ProofError> {
        let tenant = &earlier.tenant;
        let now = self.checkpoint(tenant)?;
        if earlier.size > now.size {
            return Err(ProofError::Invalid(format!(
                "the checkpoint is of {} events but {tenant}'s journal holds {}: events were removed",
                earlier.size, now.size
            )));
        }
        let path =
            merkle::range_hashes(&merkle::consistency_ranges(earlier.size, now.size), |ids| {
                self.journal.tree_nodes(tenant, ids)
            })?;
        Ok(Consistency {
            format: format::CONSISTENCY_FORMAT.into(),
            from: earlier.clone(),
            to: now,
            path: path.iter().map(hex::encode).collect(),
        })
    }
}
