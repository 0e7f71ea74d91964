//! The pipeline's work: tasks claimed when due, each step's outcome
//! recorded with the task marked done in one transaction, retries and dead
//! letters.
//! SQLite's implementation.

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
                })
            })())
        })?;
        let mut tasks = collect(rows)?;
        tasks.retain(|t| !busy.contains(&t.id));
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

    fn finish_process(
        &self,
        task: &Task,
        (verdict, verdict_by): (&Verdict, &Provenance),
        routing: Option<(&Routing, &Provenance)>,
    ) -> Result<()> {
        let message = self.message(&task.tenant, task.message)?;
        self.write(|tx| {
            done(tx, task)?;
            apply_kv(tx, &task.tenant, &verdict_by.kv)?;
            if let Some((_, routing_by)) = routing {
                apply_kv(tx, &task.tenant, &routing_by.kv)?;
            }
            append(
                tx,
                &task.tenant,
                EventKind::Verdict,
                Some(message.id),
                Some(&message.partner),
                &with_provenance(verdict, verdict_by),
            )?;
            match verdict {
                Verdict::Reject { reasons } => {
                    set_state(
                        tx,
                        message.id,
                        MessageState::Rejected,
                        Some(&reasons.join("; ")),
                    )?;
                    queue(
                        tx,
                        &task.tenant,
                        message.id,
                        &Step::Acknowledge(AckEvent::Rejected {
                            reasons: reasons.clone(),
                        }),
                    )?;
                }
                Verdict::Quarantine { reason } => {
                    set_state(tx, message.id, MessageState::Quarantined, Some(reason))?;
                }
                Verdict::Accept => {
                    let (routing, routing_by) = routing.ok_or_else(|| {
                        JournalError::Corrupt("an accepted message needs a routing".to_owned())
                    })?;
                    append(
                        tx,
                        &task.tenant,
                        EventKind::Routed,
                        Some(message.id),
                        Some(&message.partner),
                        &with_provenance(routing, routing_by),
                    )?;
                    match routing {
                        Routing::Hold { reason } => {
                            set_state(tx, message.id, MessageState::Held, Some(reason))?;
                        }
                        Routing::Deliver(deliveries) if deliveries.is_empty() => {
                            set_state(
                                tx,
                                message.id,
                                MessageState::Held,
                                Some("no route matched"),
                            )?;
                        }
                        Routing::Deliver(deliveries) => {
                            set_state(tx, message.id, MessageState::Routed, None)?;
                            for delivery in deliveries {
                                queue(
                                    tx,
                                    &task.tenant,
                                    message.id,
                                    &Step::Deliver(delivery.clone()),
                                )?;
                            }
                        }
                    }
                }
            }
            Ok(())
        })
    }

    fn finish_delivery(&self, task: &Task, delivery: &Delivery, push: bool) -> Result<MessageId> {
        let source = self.message(&task.tenant, task.message)?;
        let hash = source.hash.ok_or_else(|| {
            JournalError::Corrupt(format!("message {} has no content", source.id))
        })?;
        self.write(|tx| {
            done(tx, task)?;
            let out = insert_message(
                tx,
                &NewMessage {
                    tenant: &task.tenant,
                    partner: &delivery.to,
                    direction: Direction::Out,
                    name: &delivery.name,
                    size: source.size,
                    hash: Some(&hash),
                    state: MessageState::Available,
                    protocol: "delivery",
                    source: &source.partner,
                    origin: Some(source.id),
                    reason: None,
                },
            )?;
            place(tx, &task.tenant, &delivery.to, Mailbox::Outbox, &delivery.name, out)?;
            if push {
                queue(tx, &task.tenant, out, &Step::Push)?;
            }
            append(
                tx,
                &task.tenant,
                EventKind::Delivered,
                Some(out),
                Some(&delivery.to),
                &json!({ "from": source.id, "from_partner": source.partner, "name": delivery.name }),
            )?;
            // The last delivery of a message completes it and asks for its acknowledgement.
            let remaining: i64 = tx.prepare_cached(
                    "SELECT COUNT(*) FROM tasks
                     WHERE message = ?1 AND state = 'pending'
                     AND json_extract(step, '$.step') = 'deliver'",
                )?
                .query_row([source.id.0],
                |row| row.get(0),
            )?;
            if remaining == 0 {
                set_state(tx, source.id, MessageState::Delivered, None)?;
                queue(tx, &task.tenant, source.id, &Step::Acknowledge(AckEvent::Delivered))?;
            }
            Ok(out)
        })
    }

    fn finish_acknowledge(
        &self,
        task: &Task,
        files: &[AckFile],
        renames: &[Rename],
        by: &Provenance,
    ) -> Result<()> {
        let Step::Acknowledge(event) = &task.step else {
            return Err(JournalError::Corrupt(format!(
                "task {} is not an acknowledgement",
                task.id
            )));
        };
        self.write(|tx| {
            done(tx, task)?;
            apply_kv(tx, &task.tenant, &by.kv)?;
            let mut placed = Vec::new();
            for file in files {
                let id = insert_message(
                    tx,
                    &NewMessage {
                        tenant: &task.tenant,
                        partner: &file.partner,
                        direction: Direction::Out,
                        name: &file.name,
                        size: file.size,
                        hash: Some(&file.hash),
                        state: MessageState::Available,
                        protocol: "ack",
                        source: "ferry",
                        origin: Some(task.message),
                        reason: None,
                    },
                )?;
                place(
                    tx,
                    &task.tenant,
                    &file.partner,
                    Mailbox::Outbox,
                    &file.name,
                    id,
                )?;
                if file.push {
                    queue(tx, &task.tenant, id, &Step::Push)?;
                }
                placed.push(json!({ "partner": file.partner, "name": file.name, "message": id }));
            }
            let mut renamed = Vec::new();
            for r in renames {
                // A rename of a file that is not there (any more) is recorded
                // as skipped rather than failing the acknowledgement.
                let moved = tx
                    .prepare_cached(
                        "UPDATE OR REPLACE mailbox SET name = ?5
                     WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4",
                    )?
                    .execute(params![
                        task.tenant,
                        r.partner,
                        r.mailbox.as_str(),
                        r.old_name,
                        r.new_name
                    ])?;
                renamed.push(json!({ "rename": r, "done": moved == 1 }));
            }
            let mut detail = json!({ "event": event, "files": placed, "by": by.by });
            if !renamed.is_empty() {
                detail["renames"] = json!(renamed);
            }
            if !by.logs.is_empty() {
                detail["logs"] = json!(by.logs);
            }
            append(
                tx,
                &task.tenant,
                EventKind::Acknowledged,
                Some(task.message),
                None,
                &detail,
            )?;
            Ok(())
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

    fn finish_push(&self, task: &Task, partner: &str, detail: &Value) -> Result<()> {
        let message = self.message(&task.tenant, task.message)?;
        self.write(|tx| {
            done(tx, task)?;
            append(
                tx,
                &task.tenant,
                EventKind::Pushed,
                Some(message.id),
                Some(partner),
                detail,
            )?;
            set_state(tx, message.id, MessageState::Downloaded, None)?;
            tx.prepare_cached("DELETE FROM pushes WHERE tenant = ?1 AND message = ?2")?
                .execute(params![task.tenant, message.id.0])?;
            // The file is on the partner's server: for its sender that is
            // as good as a download.
            if let Some(origin) = message.origin {
                queue(
                    tx,
                    &task.tenant,
                    origin,
                    &Step::Acknowledge(AckEvent::Downloaded {
                        by: partner.to_owned(),
                    }),
                )?;
            }
            Ok(())
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

    fn revive_task(&self, tenant: &str, id: i64) -> Result<bool> {
        let step: Option<(i64, String)> = self
            .read()
            .prepare_cached(
                "SELECT message, step FROM tasks WHERE tenant = ?1 AND id = ?2 AND state = 'dead'",
            )?
            .query_row(params![tenant, id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((message, step)) = step else {
            return Ok(false);
        };
        let step = step_json(&step)?;
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE tasks SET state = 'pending', attempts = 0, next_at = ?2
                     WHERE id = ?1 AND state = 'dead'",
                )?
                .execute(params![id, Timestamp::now().0])?;
            if changed != 1 {
                return Ok(false);
            }
            let state = match step {
                Step::Process => Some(MessageState::Received),
                Step::Deliver(_) => Some(MessageState::Routed),
                Step::Push => Some(MessageState::Available),
                Step::Acknowledge(_) => None,
            };
            if let Some(state) = state {
                set_state(tx, MessageId(message), state, None)?;
            }
            append(
                tx,
                tenant,
                EventKind::Retried,
                Some(MessageId(message)),
                None,
                &json!({ "step": step, "revived": true, "task": id }),
            )?;
            Ok(true)
        })
    }

    fn retry_task(&self, task: &Task, error: &str, at: Timestamp) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                    "UPDATE tasks SET attempts = attempts + 1, next_at = ?2, last_error = ?3
                     WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![task.id, at.0, error],
            )?;
            append(
                tx,
                &task.tenant,
                EventKind::Retried,
                Some(task.message),
                None,
                &json!({ "step": task.step, "attempt": task.attempts + 1, "error": error, "next_at": at.0 }),
            )?;
            Ok(())
        })
    }

    fn fail_task(&self, task: &Task, error: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE tasks SET state = 'dead', attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1 AND state = 'pending'",
            )?
            .execute(params![task.id, error])?;
            // A message whose acknowledgement failed was still delivered:
            // its state says so, and the `failed` event tells the rest.
            if !matches!(task.step, Step::Acknowledge(_)) {
                set_state(tx, task.message, MessageState::Failed, Some(error))?;
            }
            append(
                tx,
                &task.tenant,
                EventKind::Failed,
                Some(task.message),
                None,
                &json!({ "step": task.step, "attempts": task.attempts + 1, "error": error }),
            )?;
            // A failed acknowledgement is not acknowledged again: that could loop.
            if !matches!(task.step, Step::Acknowledge(_)) {
                queue(
                    tx,
                    &task.tenant,
                    task.message,
                    &Step::Acknowledge(AckEvent::Failed {
                        reason: error.to_owned(),
                    }),
                )?;
            }
            Ok(())
        })
    }
}
