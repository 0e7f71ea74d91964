//! The nodes sharing the journal, and the jobs one of them runs at a time.
//! PostgreSQL's implementation: a row per node, a row per job lease, their
//! times by the database's clock, which every node shares.

use super::tasks::{NOW_MS, millis};
use super::*;

impl Cluster for PostgresJournal {
    fn heartbeat(&self, beat: &NodeBeat) -> Result<()> {
        let load = beat.load.to_string();
        self.read(|c| {
            c.execute(
                &format!(
                    "INSERT INTO nodes (name, version, started_at, beat_at, load)
                     VALUES ($1, $2, $3, {NOW_MS}, $4)
                     ON CONFLICT (name) DO UPDATE SET version = excluded.version,
                         started_at = excluded.started_at, beat_at = excluded.beat_at,
                         load = excluded.load"
                ),
                &[&beat.node, &beat.version, &beat.started_at.0, &load],
            )
            .map_err(db)
        })?;
        Ok(())
    }

    fn nodes(&self) -> Result<Vec<NodeStatus>> {
        self.read(|c| {
            c.query(
                &format!(
                    "SELECT name, version, started_at, beat_at, {NOW_MS} - beat_at, load
                     FROM nodes ORDER BY beat_at DESC, name"
                ),
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|row| -> Result<NodeStatus> {
                let load: String = col(row, 5)?;
                Ok(NodeStatus {
                    node: col(row, 0)?,
                    version: col(row, 1)?,
                    started_at: Timestamp(col(row, 2)?),
                    last_beat: Timestamp(col(row, 3)?),
                    silent_for_ms: col(row, 4)?,
                    load: serde_json::from_str(&load)
                        .map_err(|e| JournalError::Corrupt(format!("a node's load: {e}")))?,
                })
            })
            .collect()
        })
    }

    fn hold(&self, job: &str, owner: &str, term: Duration) -> Result<bool> {
        // One statement: of two nodes asking at once, one inserts or takes
        // the row and the other finds it held.
        let held = self.read(|c| {
            c.execute(
                &format!(
                    "INSERT INTO job_leases (job, owner, until) VALUES ($1, $2, {NOW_MS} + $3)
                     ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, until = excluded.until
                     WHERE job_leases.owner = excluded.owner OR job_leases.until <= {NOW_MS}"
                ),
                &[&job, &owner, &millis(term)],
            )
            .map_err(db)
        })?;
        Ok(held == 1)
    }

    fn secret(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            let row = c
                .query_opt("SELECT sealed FROM secrets WHERE name = $1", &[&name])
                .map_err(db)?;
            row.map(|row| col::<Vec<u8>>(&row, 0)).transpose()
        })
    }

    fn offer_secret(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO secrets (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[&name, &sealed],
            )
            .map_err(db)?;
            let row = tx
                .query_one("SELECT sealed FROM secrets WHERE name = $1", &[&name])
                .map_err(db)?;
            col::<Vec<u8>>(&row, 0)
        })
    }

    fn tell(&self, topic: Topic, message: &str) -> Result<()> {
        self.read(|c| {
            c.execute("SELECT pg_notify($1, $2)", &[&channel(topic), &message])
                .map_err(db)
        })?;
        Ok(())
    }

    fn on_told(&self, topic: Topic, heard: Box<dyn Fn(&str) + Send + Sync>) {
        self.listen(channel(topic), heard);
    }

    fn let_go(&self, job: &str, owner: &str) -> Result<()> {
        self.read(|c| {
            c.execute(
                "DELETE FROM job_leases WHERE job = $1 AND owner = $2",
                &[&job, &owner],
            )
            .map_err(db)
        })?;
        Ok(())
    }
}

/// The channel of a topic.
fn channel(topic: Topic) -> &'static str {
    match topic {
        Topic::Config => "ferry_config",
        Topic::Bans => "ferry_bans",
        Topic::Sessions => "ferry_sessions",
    }
}
