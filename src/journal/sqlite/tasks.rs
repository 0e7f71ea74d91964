//! The pipeline's work: tasks claimed when due, the writes of each step in
//! one transaction, dead letters listed. SQLite's implementation: what the
//! writes of a step are is decided in `pipeline/transitions.rs`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;

impl TaskQueue for SqliteJournal {
    fn due_tasks(
        &self,
        tenant: &str,
        now: Timestamp,
        busy: &[i64],
        limit: usize,
    ) -> Result<Vec<Task>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT id, tenant, message, step, attempts FROM tasks
             WHERE tenant = ?1 AND state = 'pending' AND next_at <= ?2
             ORDER BY next_at, id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![tenant, now.0, (limit + busy.len()) as i64], |row| {
            let step: String = row.get(3)?;
            Ok((|| {
                Ok(Task {
                    id: row.get(0)?,
                    tenant: row.get(1)?,
                    message: MessageId(row.get(2)?),
                    step: step_json(&step)?,
                    attempts: row.get(4)?,
                    lease: None,
                })
            })())
        })?;
        let mut tasks = collect(rows)?;
        let leases = lock(&self.leases);
        let now = Instant::now();
        tasks.retain(|t| {
            !busy.contains(&t.id) && leases.get(&t.id).is_none_or(|lease| lease.until <= now)
        });
        tasks.truncate(limit);
        Ok(tasks)
    }

    fn next_due(&self) -> Result<Option<Timestamp>> {
        let conn = self.read();
        let at: Option<i64> = conn
            .prepare_cached("SELECT MIN(next_at) FROM tasks WHERE state = 'pending'")?
            .query_row([], |row| row.get(0))?;
        Ok(at.map(Timestamp))
    }

    fn lease(&self, task: &mut Task, owner: &str, term: Duration) -> Result<bool> {
        let pending = self
            .read()
            .prepare_cached("SELECT 1 FROM tasks WHERE id = ?1 AND state = 'pending'")?
            .exists([task.id])?;
        let mut leases = lock(&self.leases);
        let now = Instant::now();
        leases.retain(|_, lease| lease.until > now);
        if !pending || leases.contains_key(&task.id) {
            return Ok(false);
        }
        let token = new_token();
        leases.insert(
            task.id,
            Lease {
                owner: owner.to_owned(),
                until: now + term,
                token,
            },
        );
        task.lease = Some(token);
        Ok(true)
    }

    fn renew(&self, owner: &str, tasks: &[(i64, i64)], term: Duration) -> Result<Vec<i64>> {
        let mut leases = lock(&self.leases);
        let until = Instant::now() + term;
        let mut lost = Vec::new();
        for &(id, token) in tasks {
            match leases.get_mut(&id) {
                Some(lease) if lease.owner == owner && lease.token == token => lease.until = until,
                _ => lost.push(id),
            }
        }
        Ok(lost)
    }

    fn release_leases(&self, owner: &str) -> Result<u64> {
        let mut leases = lock(&self.leases);
        let before = leases.len();
        leases.retain(|_, lease| lease.owner != owner);
        Ok((before - leases.len()) as u64)
    }

    fn step(
        &self,
        tenant: &str,
        write: &mut dyn FnMut(&mut dyn StepWriter) -> Result<()>,
    ) -> Result<()> {
        self.write(|tx| {
            write(&mut SqliteStep {
                tx,
                tenant,
                leases: &self.leases,
            })
        })
    }

    fn push_started(&self, tenant: &str, message: MessageId) -> Result<bool> {
        self.write(|tx| {
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO pushes (tenant, message, started_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![tenant, message.0, Timestamp::now().0])?;
            Ok(inserted == 0)
        })
    }

    fn open_tasks(&self) -> Result<Vec<(String, String, u64)>> {
        let conn = self.read();
        // `tasks_due` leads with the state: done tasks are not scanned.
        let mut statement = conn.prepare_cached(
            "SELECT tenant, state, COUNT(*) FROM tasks
             WHERE state IN ('pending', 'dead') GROUP BY tenant, state ORDER BY tenant, state",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn dead_tasks(&self, tenant: &str) -> Result<Vec<DeadTask>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT id, message, step, attempts, last_error FROM tasks
             WHERE tenant = ?1 AND state = 'dead' ORDER BY id",
        )?;
        let rows = statement.query_map([tenant], |row| {
            let step: String = row.get(2)?;
            let (id, message, attempts, last_error) =
                (row.get(0)?, row.get(1)?, row.get(3)?, row.get(4)?);
            Ok(step_json(&step).map(|step| DeadTask {
                id,
                tenant: tenant.to_owned(),
                message: MessageId(message),
                step: step.name().to_owned(),
                attempts,
                last_error,
            }))
        })?;
        collect(rows)
    }
}

/// One step's transaction: the savepoint of a write, scoped to its tenant.
struct SqliteStep<'a> {
    tx: &'a Connection,
    tenant: &'a str,
    leases: &'a Mutex<std::collections::HashMap<i64, Lease>>,
}

impl SqliteStep<'_> {
    /// Whether the step's worker may finish `task`: its lease is the
    /// task's, or it has none and no other worker's lease runs. The lease
    /// ends here (if the step then rolls back, the task is due again).
    fn own(&self, task: &Task) -> Result<()> {
        let mut leases = lock(self.leases);
        let ours = match (leases.get(&task.id), task.lease) {
            (Some(lease), Some(token)) => lease.token == token,
            (Some(lease), None) => lease.until <= Instant::now(),
            (None, token) => token.is_none(),
        };
        if !ours {
            return Err(JournalError::Corrupt(format!(
                "task {} is leased to another worker",
                task.id
            )));
        }
        leases.remove(&task.id);
        Ok(())
    }
}

impl StepWriter for SqliteStep<'_> {
    fn complete(&mut self, task: &Task) -> Result<()> {
        self.own(task)?;
        done(self.tx, task)
    }

    fn reschedule(&mut self, task: &Task, at: Timestamp, error: &str) -> Result<()> {
        self.own(task)?;
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE tasks SET attempts = attempts + 1, next_at = ?3, last_error = ?4
                 WHERE id = ?1 AND tenant = ?2 AND state = 'pending'",
            )?
            .execute(params![task.id, self.tenant, at.0, error])?;
        pending_changed(task, changed)
    }

    fn bury(&mut self, task: &Task, error: &str) -> Result<()> {
        self.own(task)?;
        let changed = self
            .tx
            .prepare_cached(
                "UPDATE tasks SET state = 'dead', attempts = attempts + 1, last_error = ?3
                 WHERE id = ?1 AND tenant = ?2 AND state = 'pending'",
            )?
            .execute(params![task.id, self.tenant, error])?;
        pending_changed(task, changed)
    }

    fn revive(&mut self, task: i64) -> Result<Option<(MessageId, Step)>> {
        let found: Option<(i64, String)> = self
            .tx
            .prepare_cached(
                "SELECT message, step FROM tasks WHERE tenant = ?1 AND id = ?2 AND state = 'dead'",
            )?
            .query_row(params![self.tenant, task], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let Some((message, step)) = found else {
            return Ok(None);
        };
        let step = step_json(&step)?;
        self.tx
            .prepare_cached(
                "UPDATE tasks SET state = 'pending', attempts = 0, next_at = ?2
                 WHERE id = ?1 AND state = 'dead'",
            )?
            .execute(params![task, Timestamp::now().0])?;
        Ok(Some((MessageId(message), step)))
    }

    fn append(
        &mut self,
        kind: EventKind,
        message: Option<MessageId>,
        partner: Option<&str>,
        detail: &Value,
    ) -> Result<()> {
        append(self.tx, self.tenant, kind, message, partner, detail).map(drop)
    }

    fn set_state(
        &mut self,
        message: MessageId,
        state: MessageState,
        reason: Option<&str>,
    ) -> Result<()> {
        set_state(self.tx, message, state, reason)
    }

    fn queue(&mut self, message: MessageId, step: &Step) -> Result<()> {
        queue(self.tx, self.tenant, message, step)
    }

    fn add_derived(&mut self, m: &DerivedMessage<'_>) -> Result<MessageId> {
        rows::derived(&mut self.tx, self.tenant, m)
    }

    fn place(
        &mut self,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
        message: MessageId,
    ) -> Result<()> {
        place(self.tx, self.tenant, partner, mailbox, name, message)
    }

    fn rename(&mut self, partner: &str, mailbox: Mailbox, old: &str, new: &str) -> Result<bool> {
        let moved = self
            .tx
            .prepare_cached(
                "UPDATE OR REPLACE mailbox SET name = ?5
                 WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4",
            )?
            .execute(params![self.tenant, partner, mailbox.as_str(), old, new])?;
        Ok(moved == 1)
    }

    fn write_kv(&mut self, writes: &[KvWrite]) -> Result<()> {
        apply_kv(self.tx, self.tenant, writes)
    }

    fn pending_deliveries(&mut self, message: MessageId) -> Result<u64> {
        let pending: i64 = self
            .tx
            .prepare_cached(
                "SELECT COUNT(*) FROM tasks
                 WHERE message = ?1 AND state = 'pending'
                 AND json_extract(step, '$.step') = 'deliver'",
            )?
            .query_row([message.0], |row| row.get(0))?;
        Ok(pending as u64)
    }

    fn push_finished(&mut self, message: MessageId) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM pushes WHERE tenant = ?1 AND message = ?2")?
            .execute(params![self.tenant, message.0])?;
        Ok(())
    }
}

/// A step that changed no pending task changes nothing: it rolls back.
fn pending_changed(task: &Task, changed: usize) -> Result<()> {
    if changed == 1 {
        Ok(())
    } else {
        Err(JournalError::Corrupt(format!(
            "task {} is not pending any more",
            task.id
        )))
    }
}
