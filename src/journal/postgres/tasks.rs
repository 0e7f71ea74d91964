//! The pipeline's work: tasks claimed when due, the writes of each step in
//! one transaction, dead letters listed. PostgreSQL's implementation: what
//! the writes of a step are is decided in `pipeline/transitions.rs`.

use super::*;

impl TaskQueue for PostgresJournal {
    fn due_tasks(
        &self,
        tenant: &str,
        now: Timestamp,
        busy: &[i64],
        limit: usize,
    ) -> Result<Vec<Task>> {
        self.read(|c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT id, tenant, message, step, attempts FROM tasks
                         WHERE tenant = $1 AND state = 'pending' AND next_at <= $2
                         AND (lease_until IS NULL OR lease_until <= {NOW_MS})
                         ORDER BY next_at, id LIMIT $3"
                    ),
                    &[&tenant, &now.0, &((limit + busy.len()) as i64)],
                )
                .map_err(db)?;
            let mut tasks = rows
                .iter()
                .map(|row| -> Result<Task> {
                    let step: String = col(row, 3)?;
                    Ok(Task {
                        id: col(row, 0)?,
                        tenant: col(row, 1)?,
                        message: MessageId(col(row, 2)?),
                        step: step_json(&step)?,
                        attempts: col_u32(row, 4)?,
                        lease: None,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            tasks.retain(|t| !busy.contains(&t.id));
            tasks.truncate(limit);
            Ok(tasks)
        })
    }

    fn next_due(&self) -> Result<Option<Timestamp>> {
        self.read(|c| {
            let row = c
                .query_one(
                    "SELECT MIN(next_at) FROM tasks WHERE state = 'pending'",
                    &[],
                )
                .map_err(db)?;
            Ok(col::<Option<i64>>(&row, 0)?.map(Timestamp))
        })
    }

    fn lease(&self, task: &mut Task, owner: &str, term: Duration) -> Result<bool> {
        let token = new_token();
        // One statement: a lease that is taken is taken by one writer, and
        // its end is the database's clock, the same for every node.
        let leased = self.read(|c| {
            c.execute(
                &format!(
                    "UPDATE tasks SET lease_owner = $2, lease_until = {NOW_MS} + $3, lease_token = $4
                     WHERE id = $1 AND state = 'pending'
                     AND (lease_until IS NULL OR lease_until <= {NOW_MS})"
                ),
                &[&task.id, &owner, &millis(term), &token],
            )
            .map_err(db)
        })?;
        if leased == 1 {
            task.lease = Some(token);
        }
        Ok(leased == 1)
    }

    fn renew(&self, owner: &str, tasks: &[(i64, i64)], term: Duration) -> Result<Vec<i64>> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = tasks.iter().map(|&(id, _)| id).collect();
        let tokens: Vec<i64> = tasks.iter().map(|&(_, token)| token).collect();
        let renewed: Vec<i64> = self.read(|c| {
            c.query(
                &format!(
                    "UPDATE tasks SET lease_until = {NOW_MS} + $2
                     FROM unnest($3::BIGINT[], $4::BIGINT[]) AS held(id, token)
                     WHERE tasks.id = held.id AND tasks.lease_token = held.token
                     AND tasks.lease_owner = $1 AND tasks.state = 'pending'
                     RETURNING tasks.id"
                ),
                &[&owner, &millis(term), &ids, &tokens],
            )
            .map_err(db)?
            .iter()
            .map(|row| col::<i64>(row, 0))
            .collect()
        })?;
        Ok(ids.into_iter().filter(|id| !renewed.contains(id)).collect())
    }

    fn on_new_work(&self, wake: Box<dyn Fn() + Send + Sync>) -> bool {
        // `heard("")` after a reconnection wakes a worker too: what was
        // notified while the connection was down is looked for then.
        self.listen(WORK_CHANNEL, Box::new(move |_| wake()));
        true
    }

    fn release_leases(&self, owner: &str) -> Result<u64> {
        let released = self.read(|c| {
            c.execute(
                "UPDATE tasks SET lease_owner = NULL, lease_until = NULL, lease_token = NULL
                 WHERE lease_owner = $1 AND state = 'pending'",
                &[&owner],
            )
            .map_err(db)
        })?;
        Ok(released)
    }

    fn step(
        &self,
        tenant: &str,
        write: &mut dyn FnMut(&mut dyn StepWriter) -> Result<()>,
    ) -> Result<()> {
        // The tenant's chain head is locked before `write` runs (the batch's
        // first trip), as `StepWriter` promises: what the step reads, no
        // other writer of the tenant changes before the commit.
        self.step_batched(tenant, write)
    }

    fn push_started(&self, tenant: &str, message: MessageId) -> Result<bool> {
        self.write(|tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO pushes (tenant, message, started_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&tenant, &message.0, &Timestamp::now().0],
                )
                .map_err(db)?;
            Ok(inserted == 0)
        })
    }

    fn open_tasks(&self) -> Result<Vec<(String, String, u64)>> {
        self.read(|c| {
            // `tasks_due` leads with the state: done tasks are not scanned.
            c.query(
                "SELECT tenant, state, COUNT(*) FROM tasks
                 WHERE state IN ('pending', 'dead') GROUP BY tenant, state ORDER BY tenant, state",
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|row| -> Result<(String, String, u64)> {
                Ok((col(row, 0)?, col(row, 1)?, col_u64(row, 2)?))
            })
            .collect()
        })
    }

    fn dead_tasks(&self, tenant: &str) -> Result<Vec<DeadTask>> {
        self.read(|c| {
            c.query(
                "SELECT id, message, step, attempts, last_error FROM tasks
                 WHERE tenant = $1 AND state = 'dead' ORDER BY id",
                &[&tenant],
            )
            .map_err(db)?
            .iter()
            .map(|row| -> Result<DeadTask> {
                let step: String = col(row, 2)?;
                Ok(DeadTask {
                    id: col(row, 0)?,
                    tenant: tenant.to_owned(),
                    message: MessageId(col(row, 1)?),
                    step: step_json(&step)?.name().to_owned(),
                    attempts: col_u32(row, 3)?,
                    last_error: col(row, 4)?,
                })
            })
            .collect()
        })
    }
}

/// One step's transaction, scoped to its tenant, whose chain head it holds:
/// statement by statement, for a tenant's first event (`step_batched`
/// batches every other step).
pub(super) struct PgStep<'a, 'b> {
    pub(super) tx: &'a mut Tx<'b>,
    pub(super) tenant: &'a str,
}

impl PgStep<'_, '_> {
    /// Applies `set` (whose parameters start at `$4`) to a pending task of
    /// the tenant that is this worker's, and ends its lease: its token is
    /// the task's, or it has none and no other worker's lease runs. A task
    /// finished elsewhere, or taken over after this worker's lease ran out,
    /// fails the step, which rolls back: this is what makes steps
    /// exactly-once across nodes.
    fn finish(&mut self, task: &Task, set: &str, more: &[&(dyn ToSql + Sync)]) -> Result<()> {
        let sql = format!(
            "UPDATE tasks SET {set}, lease_owner = NULL, lease_until = NULL, lease_token = NULL
             WHERE id = $1 AND tenant = $2 AND state = 'pending'
             AND (lease_token = $3 OR ($3::BIGINT IS NULL
                  AND (lease_until IS NULL OR lease_until <= {NOW_MS})))"
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&task.id, &self.tenant, &task.lease];
        params.extend_from_slice(more);
        let changed = self.tx.execute(&sql, &params).map_err(db)?;
        if changed != 1 {
            return Err(JournalError::Corrupt(format!(
                "task {} is not pending any more, or another worker holds it",
                task.id
            )));
        }
        Ok(())
    }
}

impl StepWriter for PgStep<'_, '_> {
    fn complete(&mut self, task: &Task) -> Result<()> {
        self.finish(task, "state = 'done'", &[])
    }

    fn reschedule(&mut self, task: &Task, at: Timestamp, error: &str) -> Result<()> {
        self.finish(
            task,
            "attempts = attempts + 1, next_at = $4, last_error = $5",
            &[&at.0, &error],
        )
    }

    fn bury(&mut self, task: &Task, error: &str) -> Result<()> {
        self.finish(
            task,
            "state = 'dead', attempts = attempts + 1, last_error = $4",
            &[&error],
        )
    }

    fn revive(&mut self, task: i64) -> Result<Option<(MessageId, Step)>> {
        revive(self.tx, self.tenant, task)
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
        rows::derived(self.tx, self.tenant, m)
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
        Ok(rename(self.tx, self.tenant, partner, mailbox, old, new)?.is_some())
    }

    fn write_kv(&mut self, writes: &[KvWrite]) -> Result<()> {
        apply_kv(self.tx, self.tenant, writes)
    }

    fn pending_deliveries(&mut self, message: MessageId) -> Result<u64> {
        pending_deliveries(self.tx, message)
    }

    fn push_finished(&mut self, message: MessageId) -> Result<()> {
        self.tx
            .execute(
                "DELETE FROM pushes WHERE tenant = $1 AND message = $2",
                &[&self.tenant, &message.0],
            )
            .map_err(db)?;
        Ok(())
    }
}

/// How many deliveries of `message` are still pending
/// (`StepWriter::pending_deliveries`), on either kind of step.
pub(super) fn pending_deliveries(c: &mut impl Cached, message: MessageId) -> Result<u64> {
    // `::json`, not `::jsonb`: only the one field is read, and json
    // accepts every text serde_json writes (jsonb refuses `\u0000`).
    let row = c
        .query_one(
            "SELECT COUNT(*) FROM tasks
             WHERE message = $1 AND state = 'pending'
             AND (step::json ->> 'step') = 'deliver'",
            &[&message.0],
        )
        .map_err(db)?;
    col_u64(&row, 0)
}

/// Puts dead task `task` of `tenant` back to pending (`StepWriter::revive`),
/// on either kind of step.
pub(super) fn revive(
    c: &mut impl Cached,
    tenant: &str,
    task: i64,
) -> Result<Option<(MessageId, Step)>> {
    let found = c
        .query_opt(
            "SELECT message, step FROM tasks WHERE tenant = $1 AND id = $2 AND state = 'dead'",
            &[&tenant, &task],
        )
        .map_err(db)?;
    let Some(row) = found else {
        return Ok(None);
    };
    let message: i64 = col(&row, 0)?;
    let step: String = col(&row, 1)?;
    let step = step_json(&step)?;
    c.execute(
        "UPDATE tasks SET state = 'pending', attempts = 0, next_at = $2
         WHERE id = $1 AND state = 'dead'",
        &[&task, &Timestamp::now().0],
    )
    .map_err(db)?;
    Ok(Some((MessageId(message), step)))
}

/// Now, in milliseconds, by the database's clock: leases are measured by
/// the one clock every node shares.
pub(super) const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::BIGINT";

pub(super) fn millis(term: Duration) -> i64 {
    i64::try_from(term.as_millis()).unwrap_or(i64::MAX)
}
