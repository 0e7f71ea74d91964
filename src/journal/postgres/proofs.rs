//! The tenant's Merkle tree and its signed checkpoints.
//! PostgreSQL's implementation. Two nodes extending the same tenant's tree
//! at once write the same rows (the tree is a function of the chain), so
//! neither waits for the other and a conflict changes nothing.

use super::*;
use crate::journal::merkle::{self, Hash, NodeId, NodeStore};
use crate::journal::proofs::{event_hash, stored_node};

/// Events added to the tree per transaction.
const BATCH: i64 = 10_000;

struct Nodes<'a, 'b> {
    tx: &'a mut Tx<'b>,
    tenant: &'a str,
}

impl NodeStore for Nodes<'_, '_> {
    type Error = JournalError;

    fn get(&mut self, (level, idx): NodeId) -> Result<Hash> {
        let row = self
            .tx
            .query_opt(
                "SELECT hash FROM merkle_nodes WHERE tenant = $1 AND level = $2 AND idx = $3",
                &[&self.tenant, &(level as i32), &(idx as i64)],
            )
            .map_err(db)?
            .ok_or_else(|| {
                JournalError::Corrupt(format!("merkle node ({level}, {idx}) is missing"))
            })?;
        stored_node(&col::<Vec<u8>>(&row, 0)?)
    }

    fn put(&mut self, (level, idx): NodeId, hash: Hash) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO merkle_nodes (tenant, level, idx, hash) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, level, idx) DO NOTHING",
                &[&self.tenant, &(level as i32), &(idx as i64), &&hash[..]],
            )
            .map_err(db)?;
        Ok(())
    }
}

fn raw_event(tenant: &str, row: &Row) -> Result<RawEvent> {
    Ok(RawEvent {
        tenant: tenant.to_owned(),
        seq: col_u64(row, 0)?,
        at: col(row, 1)?,
        kind: col(row, 2)?,
        message: col(row, 3)?,
        partner: col(row, 4)?,
        detail: col(row, 5)?,
        prev_hash: col(row, 6)?,
        hash: col(row, 7)?,
    })
}

fn checkpoint(tenant: &str, row: &Row) -> Result<Checkpoint> {
    Ok(Checkpoint {
        tenant: tenant.to_owned(),
        size: col_u64(row, 0)?,
        root: col(row, 1)?,
        time: col(row, 2)?,
        key_id: col(row, 3)?,
        signature: col(row, 4)?,
    })
}

impl Proofs for PostgresJournal {
    fn extend_tree(&self, tenant: &str) -> Result<u64> {
        loop {
            let (size, more) = self.write(|tx| {
                let size: i64 = match tx
                    .query_opt("SELECT size FROM merkle_heads WHERE tenant = $1", &[&tenant])
                    .map_err(db)?
                {
                    Some(row) => col(&row, 0)?,
                    None => 0,
                };
                let rows = tx
                    .query(
                        "SELECT seq, hash FROM events WHERE tenant = $1 AND seq > $2
                         ORDER BY seq LIMIT $3",
                        &[&tenant, &size, &BATCH],
                    )
                    .map_err(db)?;
                let mut at = size;
                let mut nodes = Nodes { tx, tenant };
                for row in &rows {
                    let seq: i64 = col(row, 0)?;
                    if seq != at + 1 {
                        return Err(JournalError::Corrupt(format!(
                            "event {} is missing from {tenant}'s chain",
                            at + 1
                        )));
                    }
                    merkle::append(&mut nodes, at as u64, &event_hash(&col::<String>(row, 1)?)?)?;
                    at = seq;
                }
                tx.execute(
                    "INSERT INTO merkle_heads (tenant, size) VALUES ($1, $2)
                     ON CONFLICT (tenant) DO UPDATE SET size = GREATEST(merkle_heads.size, excluded.size)",
                    &[&tenant, &at],
                )
                .map_err(db)?;
                Ok((at as u64, rows.len() as i64 == BATCH))
            })?;
            if !more {
                return Ok(size);
            }
        }
    }

    fn tree_nodes(&self, tenant: &str, ids: &[NodeId]) -> Result<Vec<Hash>> {
        self.read(|c| {
            let mut out = Vec::with_capacity(ids.len());
            for (level, idx) in ids {
                let row = c
                    .query_opt(
                        "SELECT hash FROM merkle_nodes WHERE tenant = $1 AND level = $2 AND idx = $3",
                        &[&tenant, &(*level as i32), &(*idx as i64)],
                    )
                    .map_err(db)?
                    .ok_or_else(|| {
                        JournalError::Corrupt(format!("merkle node ({level}, {idx}) is missing"))
                    })?;
                out.push(stored_node(&col::<Vec<u8>>(&row, 0)?)?);
            }
            Ok(out)
        })
    }

    fn raw_events(&self, tenant: &str, seqs: &[u64]) -> Result<Vec<RawEvent>> {
        self.read(|c| {
            let mut out = Vec::with_capacity(seqs.len());
            for seq in seqs {
                let Some(row) = c
                    .query_opt(
                        "SELECT seq, at, kind, message, partner, detail, prev_hash, hash FROM events
                         WHERE tenant = $1 AND seq = $2",
                        &[&tenant, &(*seq as i64)],
                    )
                    .map_err(db)?
                else {
                    continue;
                };
                out.push(raw_event(tenant, &row)?);
            }
            Ok(out)
        })
    }

    fn events_from(&self, tenant: &str, from: u64, limit: usize) -> Result<Vec<RawEvent>> {
        self.read(|c| {
            c.query(
                "SELECT seq, at, kind, message, partner, detail, prev_hash, hash FROM events
                 WHERE tenant = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                &[&tenant, &(from as i64), &(limit as i64)],
            )
            .map_err(db)?
            .iter()
            .map(|row| raw_event(tenant, row))
            .collect()
        })
    }

    fn put_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        let detail = serde_json::to_value(c).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO checkpoints (tenant, size, root, at, key_id, signature)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, size) DO UPDATE SET root = excluded.root, at = excluded.at,
                     key_id = excluded.key_id, signature = excluded.signature",
                &[
                    &c.tenant,
                    &(c.size as i64),
                    &c.root,
                    &c.time,
                    &c.key_id,
                    &c.signature,
                ],
            )
            .map_err(db)?;
            append(tx, &c.tenant, EventKind::Checkpoint, None, None, &detail)?;
            Ok(())
        })
    }

    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<Checkpoint>> {
        self.read(|c| {
            c.query_opt(
                "SELECT size, root, at, key_id, signature FROM checkpoints
                 WHERE tenant = $1 ORDER BY size DESC LIMIT 1",
                &[&tenant],
            )
            .map_err(db)?
            .map(|row| checkpoint(tenant, &row))
            .transpose()
        })
    }
}
