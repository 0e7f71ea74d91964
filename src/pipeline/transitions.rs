//! The pipeline's state machine: what each step's outcome changes in the
//! journal, written once against [`crate::journal::StepWriter`] so that
//! every backend applies the same transitions. A backend stores and
//! queries; it does not know what a verdict or a delivery means.
//!
//! Each transition is one transaction that marks its task done (or
//! reschedules or buries it), records the event that explains it, and
//! queues what comes next: a crash leaves all of a step or none of it.

use serde_json::{Value, json};

use crate::journal::{
    AckEvent, AckFile, Delivery, Derived, DerivedMessage, Direction, Download, EventKind, Mailbox,
    Mailboxes, MessageId, MessageState, Provenance, Rename, Result, Routing, Shaped, Step, Task,
    TaskQueue, Timestamp, Verdict,
};

/// The transitions of the pipeline, for any journal that has a task queue
/// and mailboxes.
pub trait Transitions: TaskQueue + Mailboxes {
    /// Completes a `Process` task: records the verdict and the routing, and
    /// queues the deliveries or the acknowledgement of a rejection.
    fn finish_process(
        &self,
        task: &Task,
        (verdict, verdict_by): (&Verdict, &Provenance),
        routing: Option<(&Routing, &Provenance)>,
    ) -> Result<()> {
        if matches!(verdict, Verdict::Accept) && routing.is_none() {
            return Err(crate::journal::JournalError::Corrupt(
                "an accepted message needs a routing".to_owned(),
            ));
        }
        let message = self.message(&task.tenant, task.message)?;
        let (id, partner) = (message.id, message.partner.as_str());
        self.step(&task.tenant, &mut |tx| {
            tx.complete(task)?;
            tx.write_kv(&verdict_by.kv)?;
            if let Some((_, routing_by)) = routing {
                tx.write_kv(&routing_by.kv)?;
            }
            let detail = with_provenance(verdict, verdict_by);
            tx.append(EventKind::Verdict, Some(id), Some(partner), &detail)?;
            match (verdict, routing) {
                (Verdict::Reject { reasons }, _) => {
                    tx.set_state(id, MessageState::Rejected, Some(&reasons.join("; ")))?;
                    let event = AckEvent::Rejected {
                        reasons: reasons.clone(),
                    };
                    tx.queue(id, &Step::Acknowledge(event))?;
                }
                (Verdict::Quarantine { reason }, _) => {
                    tx.set_state(id, MessageState::Quarantined, Some(reason))?;
                }
                (Verdict::Accept, None) => unreachable!("refused before the transaction"),
                (Verdict::Accept, Some((routing, routing_by))) => {
                    let detail = with_provenance(routing, routing_by);
                    tx.append(EventKind::Routed, Some(id), Some(partner), &detail)?;
                    match routing {
                        Routing::Hold { reason } => {
                            tx.set_state(id, MessageState::Held, Some(reason))?;
                        }
                        Routing::Deliver(deliveries) if deliveries.is_empty() => {
                            tx.set_state(id, MessageState::Held, Some("no route matched"))?;
                        }
                        Routing::Deliver(deliveries) => {
                            tx.set_state(id, MessageState::Routed, None)?;
                            for delivery in deliveries {
                                tx.queue(id, &Step::Deliver(delivery.clone()))?;
                            }
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Completes a `Deliver` task: the file appears in the target's outbox
    /// (with `push`, a `Push` task takes it to the target's server); the
    /// last delivery of a message completes it and queues its
    /// acknowledgement. With `shaped`, what appears is the file as the
    /// target's transforms made it (encrypted, zipped), already in the
    /// store, and a `transformed` event records both contents. Returns the
    /// delivered message.
    fn finish_delivery(
        &self,
        task: &Task,
        delivery: &Delivery,
        push: bool,
        shaped: Option<&Shaped>,
    ) -> Result<MessageId> {
        let source = self.message(&task.tenant, task.message)?;
        let hash = source.hash.ok_or_else(|| {
            crate::journal::JournalError::Corrupt(format!("message {} has no content", source.id))
        })?;
        let (name, out_hash, size) = match shaped {
            Some(s) => (s.name.as_str(), s.hash, s.size),
            None => (delivery.name.as_str(), hash, source.size),
        };
        let mut delivered = None;
        self.step(&task.tenant, &mut |tx| {
            tx.complete(task)?;
            let out = tx.add_derived(&DerivedMessage {
                direction: Direction::Out,
                partner: &delivery.to,
                name,
                size,
                hash: &out_hash,
                protocol: "delivery",
                source: &source.partner,
                origin: source.id,
            })?;
            tx.place(&delivery.to, Mailbox::Outbox, name, out)?;
            if push {
                tx.queue(out, &Step::Push)?;
            }
            let detail = json!({
                "from": source.id, "from_partner": source.partner, "name": name,
                "sha256": out_hash.to_string(), "size": size,
            });
            tx.append(EventKind::Delivered, Some(out), Some(&delivery.to), &detail)?;
            if let Some(shaped) = shaped {
                let mut detail = shaped.detail.clone();
                detail["in_sha256"] = json!(hash.to_string());
                detail["in_name"] = json!(delivery.name);
                detail["out_sha256"] = json!(out_hash.to_string());
                detail["out_name"] = json!(name);
                tx.append(
                    EventKind::Transformed,
                    Some(out),
                    Some(&delivery.to),
                    &detail,
                )?;
            }
            if tx.pending_deliveries(source.id)? == 0 {
                tx.set_state(source.id, MessageState::Delivered, None)?;
                tx.queue(source.id, &Step::Acknowledge(AckEvent::Delivered))?;
            }
            delivered = Some(out);
            Ok(())
        })?;
        Ok(delivered.expect("set by the committed step"))
    }

    /// Completes a `Process` task whose file was transformed before any
    /// verdict (decrypted, unzipped): each output becomes a message of the
    /// same partner, its origin the file it came from, queued to be judged
    /// and routed on its own; the file itself is kept, `transformed`, with
    /// an event naming every output and both contents' SHA-256. The outputs
    /// are in the store already; a crash before this step leaves them
    /// unreferenced, and the step runs again from the same file.
    fn finish_transform(&self, task: &Task, outputs: &[Derived], detail: &Value) -> Result<()> {
        let message = self.message(&task.tenant, task.message)?;
        let protocol = detail["op"].as_str().unwrap_or("transform").to_owned();
        self.step(&task.tenant, &mut |tx| {
            tx.complete(task)?;
            let mut made = Vec::new();
            for output in outputs {
                let id = tx.add_derived(&DerivedMessage {
                    direction: Direction::In,
                    partner: &message.partner,
                    name: &output.name,
                    size: output.size,
                    hash: &output.hash,
                    protocol: &protocol,
                    source: &message.source,
                    origin: message.id,
                })?;
                tx.queue(id, &Step::Process)?;
                made.push(json!({
                    "message": id, "name": output.name,
                    "sha256": output.hash.to_string(), "size": output.size,
                }));
            }
            tx.set_state(message.id, MessageState::Transformed, None)?;
            let mut detail = detail.clone();
            detail["in_sha256"] = json!(message.hash.map(|h| h.to_string()));
            detail["outputs"] = json!(made);
            tx.append(
                EventKind::Transformed,
                Some(message.id),
                Some(&message.partner),
                &detail,
            )
        })
    }

    /// Completes an `Acknowledge` task: places the acknowledgement files
    /// (already in the store) and renames the mailbox files it asked for. A
    /// rename of a file that is not there (any more) is recorded as skipped
    /// rather than failing the acknowledgement.
    fn finish_acknowledge(
        &self,
        task: &Task,
        files: &[AckFile],
        renames: &[Rename],
        by: &Provenance,
    ) -> Result<()> {
        let Step::Acknowledge(event) = &task.step else {
            return Err(crate::journal::JournalError::Corrupt(format!(
                "task {} is not an acknowledgement",
                task.id
            )));
        };
        self.step(&task.tenant, &mut |tx| {
            tx.complete(task)?;
            tx.write_kv(&by.kv)?;
            let mut placed = Vec::new();
            for file in files {
                let id = tx.add_derived(&DerivedMessage {
                    direction: Direction::Out,
                    partner: &file.partner,
                    name: &file.name,
                    size: file.size,
                    hash: &file.hash,
                    protocol: "ack",
                    source: "ferry",
                    origin: task.message,
                })?;
                tx.place(&file.partner, Mailbox::Outbox, &file.name, id)?;
                if file.push {
                    tx.queue(id, &Step::Push)?;
                }
                placed.push(json!({ "partner": file.partner, "name": file.name, "message": id }));
            }
            let mut renamed = Vec::new();
            for r in renames {
                let done = tx.rename(&r.partner, r.mailbox, &r.old_name, &r.new_name)?;
                renamed.push(json!({ "rename": r, "done": done }));
            }
            let mut detail = json!({ "event": event, "files": placed, "by": by.by });
            if !renamed.is_empty() {
                detail["renames"] = json!(renamed);
            }
            if !by.logs.is_empty() {
                detail["logs"] = json!(by.logs);
            }
            tx.append(EventKind::Acknowledged, Some(task.message), None, &detail)
        })
    }

    /// Completes a `Push` task: a `pushed` event with `detail`, the message
    /// counts as downloaded, and its origin is acknowledged as such (the
    /// file is on the partner's server: for its sender that is as good as a
    /// download).
    fn finish_push(&self, task: &Task, partner: &str, detail: &Value) -> Result<()> {
        let message = self.message(&task.tenant, task.message)?;
        self.step(&task.tenant, &mut |tx| {
            tx.complete(task)?;
            tx.append(EventKind::Pushed, Some(message.id), Some(partner), detail)?;
            tx.set_state(message.id, MessageState::Downloaded, None)?;
            tx.push_finished(message.id)?;
            if let Some(origin) = message.origin {
                let by = partner.to_owned();
                tx.queue(origin, &Step::Acknowledge(AckEvent::Downloaded { by }))?;
            }
            Ok(())
        })
    }

    /// Records a download of a mailbox file: `downloaded` when every byte
    /// was read (an outgoing file then counts as downloaded, and its origin
    /// is acknowledged as such: the sender learns that its file was
    /// fetched), else `download-partial`.
    fn record_download(&self, d: &Download) -> Result<()> {
        let message = self.message(&d.tenant, d.message)?;
        self.step(&d.tenant, &mut |tx| {
            let kind = if d.complete {
                EventKind::Downloaded
            } else {
                EventKind::DownloadPartial
            };
            let detail = json!({
                "name": d.name, "bytes": d.bytes_read, "size": message.size,
                "protocol": d.protocol, "source": d.source,
            });
            tx.append(kind, Some(message.id), Some(&d.partner), &detail)?;
            if d.complete && message.direction == Direction::Out {
                tx.set_state(message.id, MessageState::Downloaded, None)?;
                if let Some(origin) = message.origin {
                    let by = d.partner.clone();
                    tx.queue(origin, &Step::Acknowledge(AckEvent::Downloaded { by }))?;
                }
            }
            Ok(())
        })
    }

    /// Puts a failed task back for a later attempt, with a `retried` event.
    fn retry_task(&self, task: &Task, error: &str, at: Timestamp) -> Result<()> {
        self.step(&task.tenant, &mut |tx| {
            tx.reschedule(task, at, error)?;
            let detail = json!({
                "step": task.step, "attempt": task.attempts + 1, "error": error, "next_at": at.0,
            });
            tx.append(EventKind::Retried, Some(task.message), None, &detail)
        })
    }

    /// Gives up on a task: it is dead-lettered, its message fails, and the
    /// failure is acknowledged. A message whose acknowledgement failed was
    /// still delivered, so its state stays; and a failed acknowledgement is
    /// not acknowledged again, which could loop.
    fn fail_task(&self, task: &Task, error: &str) -> Result<()> {
        let acknowledgement = matches!(task.step, Step::Acknowledge(_));
        self.step(&task.tenant, &mut |tx| {
            tx.bury(task, error)?;
            if !acknowledgement {
                tx.set_state(task.message, MessageState::Failed, Some(error))?;
            }
            let detail =
                json!({ "step": task.step, "attempts": task.attempts + 1, "error": error });
            tx.append(EventKind::Failed, Some(task.message), None, &detail)?;
            if !acknowledgement {
                let event = AckEvent::Failed {
                    reason: error.to_owned(),
                };
                tx.queue(task.message, &Step::Acknowledge(event))?;
            }
            Ok(())
        })
    }

    /// Puts a dead-lettered task back to pending, due now, with a `retried`
    /// event; its message returns to the state before the step. `false`
    /// when no dead task has that id in the tenant.
    fn revive_task(&self, tenant: &str, id: i64) -> Result<bool> {
        let mut revived = false;
        self.step(tenant, &mut |tx| {
            let Some((message, step)) = tx.revive(id)? else {
                revived = false;
                return Ok(());
            };
            let state = match step {
                Step::Process => Some(MessageState::Received),
                Step::Deliver(_) => Some(MessageState::Routed),
                Step::Push => Some(MessageState::Available),
                Step::Acknowledge(_) => None,
            };
            if let Some(state) = state {
                tx.set_state(message, state, None)?;
            }
            let detail = json!({ "step": step, "revived": true, "task": id });
            tx.append(EventKind::Retried, Some(message), None, &detail)?;
            revived = true;
            Ok(())
        })?;
        Ok(revived)
    }
}

impl<J: TaskQueue + Mailboxes + ?Sized> Transitions for J {}

/// A decision's JSON with who made it (and its logs) beside it.
fn with_provenance(decision: &impl serde::Serialize, by: &Provenance) -> Value {
    let mut detail = serde_json::to_value(decision).unwrap_or(Value::Null);
    let by = serde_json::to_value(by).unwrap_or(Value::Null);
    match (&mut detail, by) {
        (Value::Object(fields), Value::Object(extra)) => fields.extend(extra),
        (_, by) => detail = json!({ "decision": detail, "provenance": by }),
    }
    detail
}
