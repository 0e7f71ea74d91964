//! `ferry journal verify`'s check of the Merkle tree: recomputed from the
//! events' hashes alone and compared with every checkpoint ever journaled
//! and with the stored tree, so that a stored node or a checkpoint changed
//! after the fact is found, not only an event. The chain is checked first
//! (`Chain::verify`): the leaves are its hashes.

use super::{Notary, ProofError, format};
use crate::journal::merkle::{self, Hash, NodeId};
use crate::journal::{Checkpoint, JournalError};

/// Events read at a time.
const BATCH: usize = 10_000;

/// What the check found: the tree's size and how many checkpoints agree
/// with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeAudit {
    pub size: u64,
    pub checkpoints: usize,
}

/// The roots of a tree being built one leaf at a time: the perfect
/// subtrees of its binary decomposition, largest first, each with its
/// height. One hash per level: memory grows with log n.
#[derive(Default)]
struct Frontier {
    nodes: Vec<(u32, Hash)>,
    size: u64,
    /// The subtrees completed since they were last compared with the
    /// stored ones.
    formed: Vec<(NodeId, Hash)>,
}

impl Frontier {
    fn push(&mut self, data: &Hash) {
        let index = self.size;
        let mut node = (0, merkle::leaf_hash(data));
        self.formed.push(((0, index), node.1));
        while let Some(&(height, left)) = self.nodes.last() {
            if height != node.0 {
                break;
            }
            self.nodes.pop();
            node = (height + 1, merkle::node_hash(&left, &node.1));
            self.formed.push(((node.0, index >> node.0), node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// The Merkle tree hash of the leaves so far (RFC 6962 §2.1): the
    /// subtrees folded from the right.
    fn root(&self) -> Hash {
        let mut nodes = self.nodes.iter().rev();
        let Some(&(_, mut root)) = nodes.next() else {
            return merkle::empty_root();
        };
        for (_, left) in nodes {
            root = merkle::node_hash(left, &root);
        }
        root
    }
}

impl Notary {
    /// Checks the tenant's tree: every journaled checkpoint is signed by
    /// this server's key and its root is the root of the events it counts,
    /// recomputed here; the stored tree gives the same root for all the
    /// events. The first disagreement is the error.
    pub fn audit(&self, tenant: &str) -> Result<TreeAudit, ProofError> {
        let size = self.journal.extend_tree(tenant)?;
        let public = self.key.public();
        // First pass: the checkpoints, from their events (what was signed
        // and handed out), not from the table kept for lookups.
        let mut claims: Vec<(u64, Checkpoint)> = Vec::new();
        self.each_event(tenant, size, |event| {
            if event.kind != "checkpoint" {
                return Ok(());
            }
            let checkpoint: Checkpoint = serde_json::from_str(&event.detail).map_err(|e| {
                ProofError::Invalid(format!("event {} is not a checkpoint: {e}", event.seq))
            })?;
            format::verify_checkpoint(&checkpoint, &public)
                .map_err(|why| ProofError::Invalid(format!("event {}: {why}", event.seq)))?;
            if checkpoint.size >= event.seq {
                return Err(ProofError::Invalid(format!(
                    "event {}: a checkpoint of {} events cannot come before its last",
                    event.seq, checkpoint.size
                )));
            }
            claims.push((event.seq, checkpoint));
            Ok(())
        })?;
        claims.sort_by_key(|(_, c)| c.size);
        // Second pass: the tree, leaf by leaf, its root taken at each
        // checkpoint's size.
        let mut frontier = Frontier::default();
        let mut next = claims.iter().peekable();
        let mut check = |frontier: &Frontier| -> Result<(), ProofError> {
            while let Some((seq, claim)) = next.next_if(|(_, c)| c.size == frontier.size) {
                let root = hex::encode(frontier.root());
                if root != claim.root {
                    return Err(ProofError::Invalid(format!(
                        "the checkpoint of event {seq} signs root {} for {} events; the events give {root}",
                        claim.root, claim.size
                    )));
                }
            }
            Ok(())
        };
        check(&frontier)?;
        self.each_event(tenant, size, |event| {
            frontier.push(&event_leaf(&event.hash, event.seq)?);
            if frontier.formed.len() >= BATCH {
                self.compare_stored(tenant, &mut frontier.formed)?;
            }
            check(&frontier)
        })?;
        self.compare_stored(tenant, &mut frontier.formed)?;
        let stored = self.root(tenant, size)?;
        if stored != frontier.root() {
            return Err(ProofError::Invalid(format!(
                "the stored tree's root for {size} events is {}; the events give {}: the stored tree was altered",
                hex::encode(stored),
                hex::encode(frontier.root())
            )));
        }
        Ok(TreeAudit {
            size,
            checkpoints: claims.len(),
        })
    }

    /// Compares subtrees recomputed from the events with the stored ones
    /// (those proofs are cut from), and empties `formed`.
    fn compare_stored(
        &self,
        tenant: &str,
        formed: &mut Vec<(NodeId, Hash)>,
    ) -> Result<(), ProofError> {
        let ids: Vec<NodeId> = formed.iter().map(|(id, _)| *id).collect();
        let stored = self.journal.tree_nodes(tenant, &ids).map_err(|e| match e {
            JournalError::Corrupt(why) => ProofError::Invalid(format!("the stored tree: {why}")),
            e => e.into(),
        })?;
        for ((id, hash), stored) in formed.iter().zip(&stored) {
            if hash != stored {
                return Err(ProofError::Invalid(format!(
                    "the stored tree's node {id:?} (level, index) is {}; the events give {}: the stored tree was altered",
                    hex::encode(stored),
                    hex::encode(hash)
                )));
            }
        }
        formed.clear();
        Ok(())
    }

    /// Calls `each` on the tenant's first `size` events, in order, a batch
    /// at a time.
    fn each_event(
        &self,
        tenant: &str,
        size: u64,
        mut each: impl FnMut(&crate::journal::RawEvent) -> Result<(), ProofError>,
    ) -> Result<(), ProofError> {
        let mut from = 1;
        while from <= size {
            let events = self.journal.events_from(tenant, from, BATCH)?;
            if events.is_empty() {
                return Err(ProofError::Invalid(format!(
                    "the tree counts {size} events; the journal has {}",
                    from - 1
                )));
            }
            for event in events.iter().take_while(|e| e.seq <= size) {
                if event.seq != from {
                    return Err(ProofError::Invalid(format!(
                        "event {from} is missing (found {} instead)",
                        event.seq
                    )));
                }
                each(event)?;
                from += 1;
            }
            if events.last().is_some_and(|e| e.seq > size) {
                break;
            }
        }
        if from != size + 1 {
            return Err(ProofError::Invalid(format!("event {from} is missing")));
        }
        Ok(())
    }
}

fn event_leaf(hash: &str, seq: u64) -> Result<Hash, ProofError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hash, &mut out)
        .map_err(|_| ProofError::Invalid(format!("event {seq}'s hash `{hash}` is not hex")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frontier's root is the RFC's Merkle tree hash for every size
    /// (computed here by the recursive definition).
    #[test]
    fn frontier_roots_are_merkle_tree_hashes() {
        fn mth(leaves: &[Hash]) -> Hash {
            match leaves.len() {
                0 => merkle::empty_root(),
                1 => merkle::leaf_hash(&leaves[0]),
                n => {
                    // The largest power of two below n.
                    let k = if n.is_power_of_two() {
                        n / 2
                    } else {
                        n.next_power_of_two() / 2
                    };
                    merkle::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
                }
            }
        }
        let leaves: Vec<Hash> = (0..70u8).map(|i| [i; 32]).collect();
        let mut frontier = Frontier::default();
        assert_eq!(frontier.root(), mth(&[]));
        for n in 1..=leaves.len() {
            frontier.push(&leaves[n - 1]);
            assert_eq!(frontier.root(), mth(&leaves[..n]), "size {n}");
        }
    }
}
