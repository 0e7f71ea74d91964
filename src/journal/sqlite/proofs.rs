//! The tenant's Merkle tree and its signed checkpoints.
//! SQLite's implementation.

use super::*;
use crate::journal::merkle::{self, Hash, NodeId, NodeStore};
use crate::journal::proofs::{event_hash, stored_node};

/// Events added to the tree per transaction: the writers of the tenant's
/// chain wait for none of it (the tree has its own tables), but a large
/// backlog is still better done in steps.
const BATCH: i64 = 10_000;

struct Nodes<'a> {
    tx: &'a Connection,
    tenant: &'a str,
}

impl NodeStore for Nodes<'_> {
    type Error = JournalError;

    fn get(&mut self, (level, idx): NodeId) -> Result<Hash> {
        let bytes: Vec<u8> = self
            .tx
            .prepare_cached(
                "SELECT hash FROM merkle_nodes WHERE tenant = ?1 AND level = ?2 AND idx = ?3",
            )?
            .query_row(params![self.tenant, level, idx as i64], |row| row.get(0))
            .optional()?
            .ok_or_else(|| {
                JournalError::Corrupt(format!("merkle node ({level}, {idx}) is missing"))
            })?;
        stored_node(&bytes)
    }

    fn put(&mut self, (level, idx): NodeId, hash: Hash) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO merkle_nodes (tenant, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![self.tenant, level, idx as i64, &hash[..]])?;
        Ok(())
    }
}

/// An event row (`seq, at, kind, message, partner, detail, prev_hash, hash`).
fn raw_event(tenant: &str, row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok(RawEvent {
        tenant: tenant.to_owned(),
        seq: row.get::<_, i64>(0)? as u64,
        at: row.get(1)?,
        kind: row.get(2)?,
        message: row.get(3)?,
        partner: row.get(4)?,
        detail: row.get(5)?,
        prev_hash: row.get(6)?,
        hash: row.get(7)?,
    })
}

impl Proofs for SqliteJournal {
    fn extend_tree(&self, tenant: &str) -> Result<u64> {
        loop {
            let (size, more) = self.write(|tx| {
                let size: i64 = tx
                    .prepare_cached("SELECT size FROM merkle_heads WHERE tenant = ?1")?
                    .query_row([tenant], |row| row.get(0))
                    .optional()?
                    .unwrap_or(0);
                let hashes: Vec<(i64, String)> = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT seq, hash FROM events WHERE tenant = ?1 AND seq > ?2
                         ORDER BY seq LIMIT ?3",
                    )?;
                    let rows = stmt.query_map(params![tenant, size, BATCH], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                let mut nodes = Nodes { tx, tenant };
                let mut at = size;
                for (seq, hash) in &hashes {
                    if *seq != at + 1 {
                        return Err(JournalError::Corrupt(format!(
                            "event {} is missing from {tenant}'s chain",
                            at + 1
                        )));
                    }
                    merkle::append(&mut nodes, at as u64, &event_hash(hash)?)?;
                    at = *seq;
                }
                tx.prepare_cached(
                    "INSERT INTO merkle_heads (tenant, size) VALUES (?1, ?2)
                     ON CONFLICT(tenant) DO UPDATE SET size = excluded.size",
                )?
                .execute(params![tenant, at])?;
                Ok((at as u64, hashes.len() as i64 == BATCH))
            })?;
            if !more {
                return Ok(size);
            }
        }
    }

    fn tree_nodes(&self, tenant: &str, ids: &[NodeId]) -> Result<Vec<Hash>> {
        let conn = self.read();
        let mut nodes = Nodes { tx: &conn, tenant };
        ids.iter().map(|id| nodes.get(*id)).collect()
    }

    fn raw_events(&self, tenant: &str, seqs: &[u64]) -> Result<Vec<RawEvent>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at, kind, message, partner, detail, prev_hash, hash FROM events
             WHERE tenant = ?1 AND seq = ?2",
        )?;
        let mut out = Vec::new();
        for seq in seqs {
            let event = stmt
                .query_row(params![tenant, *seq as i64], |row| raw_event(tenant, row))
                .optional()?;
            out.extend(event);
        }
        Ok(out)
    }

    fn events_from(&self, tenant: &str, from: u64, limit: usize) -> Result<Vec<RawEvent>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at, kind, message, partner, detail, prev_hash, hash FROM events
             WHERE tenant = ?1 AND seq >= ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![tenant, from as i64, limit as i64], |row| {
            raw_event(tenant, row)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn put_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        let detail = serde_json::to_value(c).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO checkpoints (tenant, size, root, at, key_id, signature)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                c.tenant,
                c.size as i64,
                c.root,
                c.time,
                c.key_id,
                c.signature
            ])?;
            append(tx, &c.tenant, EventKind::Checkpoint, None, None, &detail)?;
            Ok(())
        })
    }

    fn latest_checkpoint(&self, tenant: &str) -> Result<Option<Checkpoint>> {
        let conn = self.read();
        Ok(conn
            .prepare_cached(
                "SELECT size, root, at, key_id, signature FROM checkpoints
                 WHERE tenant = ?1 ORDER BY size DESC LIMIT 1",
            )?
            .query_row([tenant], |row| {
                Ok(Checkpoint {
                    tenant: tenant.to_owned(),
                    size: row.get::<_, i64>(0)? as u64,
                    root: row.get(1)?,
                    time: row.get(2)?,
                    key_id: row.get(3)?,
                    signature: row.get(4)?,
                })
            })
            .optional()?)
    }
}
