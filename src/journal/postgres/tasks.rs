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
                    "SELECT id, tenant, message, step, attempts FROM tasks
                     WHERE tenant = $1 AND state = 'pending' AND next_at <= $2
                     ORDER BY next_at, id LIMIT $3",
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

    fn step(
        &self,
        tenant: &str,
        write: &mut dyn FnMut(&mut dyn StepWriter) -> Result<()>,
    ) -> Result<()> {
        // The tenant's chain head is locked before `write` runs (see
        // `write_tenant`), as `StepWriter` promises: what the step reads, no
        // other writer of the tenant changes before the commit.
        self.write_tenant(tenant, |tx| write(&mut PgStep { tx, tenant }))
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

/// One step's transaction, scoped to its tenant, whose chain head it holds.
struct PgStep<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    tenant: &'a str,
}

impl StepWriter for PgStep<'_, '_> {
    fn complete(&mut self, task: &Task) -> Result<()> {
        done(self.tx, task)
    }

    fn reschedule(&mut self, task: &Task, at: Timestamp, error: &str) -> Result<()> {
        self.tx
            .execute(
                "UPDATE tasks SET attempts = attempts + 1, next_at = $3, last_error = $4
                 WHERE id = $1 AND tenant = $2 AND state = 'pending'",
                &[&task.id, &self.tenant, &at.0, &error],
            )
            .map_err(db)?;
        Ok(())
    }

    fn bury(&mut self, task: &Task, error: &str) -> Result<()> {
        self.tx
            .execute(
                "UPDATE tasks SET state = 'dead', attempts = attempts + 1, last_error = $3
                 WHERE id = $1 AND tenant = $2 AND state = 'pending'",
                &[&task.id, &self.tenant, &error],
            )
            .map_err(db)?;
        Ok(())
    }

    fn revive(&mut self, task: i64) -> Result<Option<(MessageId, Step)>> {
        let found = self
            .tx
            .query_opt(
                "SELECT message, step FROM tasks WHERE tenant = $1 AND id = $2 AND state = 'dead'",
                &[&self.tenant, &task],
            )
            .map_err(db)?;
        let Some(row) = found else {
            return Ok(None);
        };
        let message: i64 = col(&row, 0)?;
        let step: String = col(&row, 1)?;
        let step = step_json(&step)?;
        self.tx
            .execute(
                "UPDATE tasks SET state = 'pending', attempts = 0, next_at = $2
                 WHERE id = $1 AND state = 'dead'",
                &[&task, &Timestamp::now().0],
            )
            .map_err(db)?;
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

    fn add_outgoing(&mut self, m: &OutgoingMessage<'_>) -> Result<MessageId> {
        insert_message(
            self.tx,
            &NewMessage {
                tenant: self.tenant,
                partner: m.partner,
                direction: Direction::Out,
                name: m.name,
                size: m.size,
                hash: Some(m.hash),
                state: MessageState::Available,
                protocol: m.protocol,
                source: m.source,
                origin: Some(m.origin),
                reason: None,
            },
        )
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
        // `::json`, not `::jsonb`: only the one field is read, and json
        // accepts every text serde_json writes (jsonb refuses `\u0000`).
        let row = self
            .tx
            .query_one(
                "SELECT COUNT(*) FROM tasks
                 WHERE message = $1 AND state = 'pending'
                 AND (step::json ->> 'step') = 'deliver'",
                &[&message.0],
            )
            .map_err(db)?;
        col_u64(&row, 0)
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
