//! A write in two round trips to PostgreSQL: what one committed upload
//! costs (`record_received`, `record_pulled`), and what a pipeline step
//! costs when it reads nothing in between ([`StepBatch`]).
//!
//! Written statement by statement, a commit waits for the server some
//! twenty times: each statement is parsed and described, then bound and
//! run, between a `BEGIN` and a `COMMIT` of their own. Here the first trip
//! (one simple query) begins the transaction, locks the tenant's chain head
//! and reserves the message ids the write needs; the rows are then composed
//! in memory by the same compositions as every other write (`rows.rs`,
//! through [`Batch`]'s `Rows`), the chain hashes computed from the locked
//! head; the second trip sends them all with the `COMMIT` as one simple
//! query, which PostgreSQL runs in order and stops at the first error.
//!
//! The simple query protocol has no parameters: values are written as
//! literals, by [`text`], [`bytes`] and [`int`] only. `E'...'` strings,
//! with `\` and `'` doubled, mean the same whatever the server's
//! `standard_conforming_strings`; a NUL, which no PostgreSQL text holds,
//! is refused.

use std::fmt::Write as _;

use ::postgres::SimpleQueryMessage;

use super::tasks::NOW_MS;
use super::*;
use crate::journal::{DerivedMessage, KvWrite, StepWriter, Task};

/// Message ids a step reserves in its first trip: a verdict routes a file
/// to a few partners at most; a step that needs more reserves more then.
const STEP_IDS: usize = 4;

/// The rows of one write, in memory until the second trip.
pub(super) struct Batch {
    tenant: String,
    /// The chain head as locked, advanced by each event appended.
    head: (u64, String),
    /// Whether an event was appended (the head row is then updated).
    appended: bool,
    /// Message ids reserved in the first trip, not used yet.
    ids: std::vec::IntoIter<i64>,
    sql: String,
}

/// What the first trip found.
enum Begun {
    Batch(Batch),
    /// The tenant has no chain head row yet (its first event): written the
    /// ordinary way, which makes it.
    NoHead,
}

impl PostgresJournal {
    /// Runs `f` on a [`Batch`] of tenant `tenant`'s rows with `ids` message
    /// ids reserved, and commits it: two round trips. Retried as `write`
    /// retries; `fallback` is the ordinary write of the same rows, for a
    /// tenant's very first event.
    pub(super) fn write_batched<T>(
        &self,
        tenant: &str,
        ids: usize,
        mut f: impl FnMut(&mut Batch) -> Result<T>,
        fallback: impl FnMut(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let batched =
            off_the_runtime(|| self.retrying(|| self.batch_attempt(tenant, ids, &mut f)))?;
        match batched {
            Some(value) => Ok(value),
            None => self.write_tenant(tenant, fallback),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or has been tried
    /// [`ATTEMPTS`] times: a write PostgreSQL asks to retry (serialization
    /// failure, deadlock), or one whose connection was lost before it began.
    pub(super) fn retrying<T>(&self, mut attempt: impl FnMut() -> Result<T, Failure>) -> Result<T> {
        let mut tried = 1;
        loop {
            let error = match attempt() {
                Ok(done) => return Ok(done),
                Err(Failure::Begin(e)) => {
                    self.forget_idle();
                    e
                }
                Err(Failure::Write(e)) if retryable(&e) => e,
                Err(Failure::Write(e)) => return Err(e),
            };
            if tried >= ATTEMPTS {
                return Err(error);
            }
            tracing::debug!(attempt = tried, error = %error, "journal write retried");
            // A short pause, longer each time, lets the transaction this
            // one collided with finish first.
            std::thread::sleep(Duration::from_millis(10 * u64::from(tried)));
            tried += 1;
        }
    }

    /// Runs one pipeline step of `tenant` as a batch: two round trips, and
    /// one more for each read the step makes (its writes so far go with
    /// the read). A tenant without a chain head yet steps the ordinary way.
    pub(super) fn step_batched(
        &self,
        tenant: &str,
        write: &mut dyn FnMut(&mut dyn StepWriter) -> Result<()>,
    ) -> Result<()> {
        let batched = off_the_runtime(|| {
            self.retrying(|| {
                let mut client = self.client().map_err(Failure::Write)?;
                let batch = match begin(&mut client, tenant, STEP_IDS) {
                    Ok(Begun::Batch(batch)) => batch,
                    Ok(Begun::NoHead) => {
                        rollback(&mut client);
                        return Ok(false);
                    }
                    Err(e) if client.is_closed() => return Err(Failure::Begin(e)),
                    Err(e) => {
                        rollback(&mut client);
                        return Err(Failure::Write(e));
                    }
                };
                let mut step = StepBatch {
                    conn: &mut client,
                    batch,
                };
                let script = write(&mut step).and_then(|()| step.batch.finish());
                let committed =
                    script.and_then(|script| client.batch_execute(&script).map_err(expected));
                if let Err(e) = committed {
                    rollback(&mut client);
                    return Err(Failure::Write(e));
                }
                Ok(true)
            })
        })?;
        if batched {
            return Ok(());
        }
        self.write_tenant(tenant, |tx| write(&mut super::tasks::PgStep { tx, tenant }))
    }

    fn batch_attempt<T>(
        &self,
        tenant: &str,
        ids: usize,
        f: &mut impl FnMut(&mut Batch) -> Result<T>,
    ) -> Result<Option<T>, Failure> {
        let mut client = self.client().map_err(Failure::Write)?;
        let mut batch = match begin(&mut client, tenant, ids) {
            Ok(Begun::Batch(batch)) => batch,
            Ok(Begun::NoHead) => {
                rollback(&mut client);
                return Ok(None);
            }
            // Nothing was written: on a lost connection, another is tried.
            Err(e) if client.is_closed() => return Err(Failure::Begin(e)),
            Err(e) => {
                rollback(&mut client);
                return Err(Failure::Write(e));
            }
        };
        let value = match f(&mut batch) {
            Ok(value) => value,
            Err(e) => {
                rollback(&mut client);
                return Err(Failure::Write(e));
            }
        };
        let script = batch.finish().map_err(Failure::Write)?;
        if let Err(e) = client.batch_execute(&script) {
            rollback(&mut client);
            return Err(Failure::Write(expected(e)));
        }
        Ok(Some(value))
    }
}

/// The first trip: begin, lock the head, reserve the ids.
fn begin(client: &mut Conn, tenant: &str, ids: usize) -> Result<Begun> {
    let query = format!(
        "BEGIN; SELECT seq, hash FROM chain_heads WHERE tenant = {} FOR UPDATE; \
         SELECT nextval(pg_get_serial_sequence('messages', 'id')) FROM generate_series(1, {ids})",
        text(tenant)?
    );
    // The rows of each statement, told apart by the completion that ends
    // each: BEGIN's (none), the head's (one or none), the ids'.
    let mut results: Vec<Vec<::postgres::SimpleQueryRow>> = vec![Vec::new()];
    for message in client.simple_query(&query).map_err(db)? {
        match message {
            SimpleQueryMessage::Row(row) => results.last_mut().expect("never empty").push(row),
            SimpleQueryMessage::CommandComplete(_) => results.push(Vec::new()),
            _ => {}
        }
    }
    let corrupt = |what: &str| JournalError::Corrupt(format!("the batch's first trip: {what}"));
    let field = |row: &::postgres::SimpleQueryRow, idx: usize| -> Result<String> {
        row.try_get(idx)
            .ok()
            .flatten()
            .map(str::to_owned)
            .ok_or_else(|| corrupt("a value missing"))
    };
    let (Some(head), Some(ids)) = (results.get(1), results.get(2)) else {
        return Err(corrupt("fewer results than statements"));
    };
    let Some(head) = head.first() else {
        return Ok(Begun::NoHead);
    };
    let seq = field(head, 0)?
        .parse::<u64>()
        .map_err(|_| corrupt("a chain head seq that is no number"))?;
    let hash = field(head, 1)?;
    let ids: Vec<i64> = ids
        .iter()
        .map(|row| {
            field(row, 0)?
                .parse()
                .map_err(|_| corrupt("a message id that is no number"))
        })
        .collect::<Result<_>>()?;
    Ok(Begun::Batch(Batch {
        tenant: tenant.to_owned(),
        head: (seq, hash),
        appended: false,
        ids: ids.into_iter(),
        sql: String::new(),
    }))
}

/// A batch's error as the journal's: what `ferry_expect` refused is said
/// in the writer's words (as the statement-by-statement write says it).
fn expected(e: PgError) -> JournalError {
    match e.as_db_error() {
        Some(refused) if refused.code().code() == "FY001" => {
            JournalError::Corrupt(refused.message().to_owned())
        }
        _ => db(e),
    }
}

/// Ends a transaction that will not commit; a connection that cannot even
/// do that is lost, and the pool drops it.
fn rollback(client: &mut Conn) {
    let _ = client.batch_execute("ROLLBACK");
}

impl Batch {
    /// The second trip's script: the rows, the new chain head, `COMMIT`.
    fn finish(mut self) -> Result<String> {
        if self.appended {
            let (seq, hash) = &self.head;
            let _ = write!(
                self.sql,
                "UPDATE chain_heads SET seq = {}, hash = {} WHERE tenant = {};",
                int(*seq as i64),
                text(hash)?,
                text(&self.tenant)?
            );
        }
        self.sql.push_str("COMMIT;");
        Ok(self.sql)
    }

    fn push(&mut self, statement: std::fmt::Arguments<'_>) {
        let _ = self.sql.write_fmt(statement);
        self.sql.push(';');
    }
}

impl Rows for Batch {
    fn append(
        &mut self,
        tenant: &str,
        kind: EventKind,
        message: Option<MessageId>,
        partner: Option<&str>,
        detail: &Value,
    ) -> Result<u64> {
        if tenant != self.tenant {
            return Err(JournalError::Corrupt(format!(
                "an event of tenant `{tenant}` in a batch of tenant `{}`",
                self.tenant
            )));
        }
        let seq = self.head.0 + 1;
        let Chained { at, detail, hash } =
            chained(&self.head.1, tenant, seq, kind, message, partner, detail);
        self.push(format_args!(
            "INSERT INTO events (tenant, seq, at, kind, message, partner, detail, prev_hash, hash)
             VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            text(tenant)?,
            int(seq as i64),
            int(at),
            text(kind.as_str())?,
            opt_int(message.map(|m| m.0)),
            opt_text(partner)?,
            text(&detail)?,
            text(&self.head.1)?,
            text(&hash)?,
        ));
        self.head = (seq, hash);
        self.appended = true;
        Ok(seq)
    }

    fn insert_message(&mut self, m: &rows::NewMessage<'_>) -> Result<MessageId> {
        let id = self.ids.next().ok_or_else(|| {
            JournalError::Corrupt("a batch wrote more messages than it reserved ids for".into())
        })?;
        let now = Timestamp::now().0;
        let hash = m.hash.map(|h| h.to_string());
        self.push(format_args!(
            "INSERT INTO messages (id, tenant, partner, direction, name, size, sha256, state,
                                   protocol, source, origin, reason, created_at, updated_at)
             OVERRIDING SYSTEM VALUE
             VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            int(id),
            text(m.tenant)?,
            text(m.partner)?,
            text(m.direction.as_str())?,
            text(m.name)?,
            int(m.size as i64),
            opt_text(hash.as_deref())?,
            text(m.state.as_str())?,
            text(m.protocol)?,
            text(m.source)?,
            opt_int(m.origin.map(|o| o.0)),
            opt_text(m.reason)?,
            int(now),
            int(now),
        ));
        Ok(MessageId(id))
    }

    fn keep_inline(&mut self, r: &Received) -> Result<()> {
        if let Some(data) = &r.inline {
            self.push(format_args!(
                "INSERT INTO inline_content (tenant, sha256, data) VALUES ({}, {}, {})
                 ON CONFLICT DO NOTHING",
                text(&r.tenant)?,
                text(&r.hash.to_string())?,
                bytes(data),
            ));
        }
        Ok(())
    }

    fn place(
        &mut self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
        message: MessageId,
    ) -> Result<()> {
        self.push(format_args!(
            "INSERT INTO mailbox (tenant, partner, box, name, message) VALUES ({}, {}, {}, {}, {})
             ON CONFLICT (tenant, partner, box, name) DO UPDATE SET message = excluded.message",
            text(tenant)?,
            text(partner)?,
            text(mailbox.as_str())?,
            text(name)?,
            int(message.0),
        ));
        Ok(())
    }

    fn queue(&mut self, tenant: &str, message: MessageId, step: &Step) -> Result<()> {
        let step = serde_json::to_string(step).map_err(|e| JournalError::Corrupt(e.to_string()))?;
        self.push(format_args!(
            "INSERT INTO tasks (tenant, message, step, state, next_at)
             VALUES ({}, {}, {}, 'pending', {})",
            text(tenant)?,
            int(message.0),
            text(&step)?,
            int(Timestamp::now().0),
        ));
        // As `queue` notifies: once per transaction, whatever it queues.
        self.push(format_args!("NOTIFY {WORK_CHANNEL}"));
        Ok(())
    }

    fn set_state(
        &mut self,
        id: MessageId,
        state: MessageState,
        reason: Option<&str>,
    ) -> Result<()> {
        self.push(format_args!(
            "UPDATE messages SET state = {}, reason = COALESCE({}, reason), updated_at = {}
             WHERE id = {}",
            text(state.as_str())?,
            opt_text(reason)?,
            int(Timestamp::now().0),
            int(id.0),
        ));
        Ok(())
    }

    fn insert_pulled(&mut self, key: &PulledKey, message: MessageId) -> Result<()> {
        self.push(format_args!(
            "INSERT INTO pulled (tenant, partner, path, size, modified, message, at)
             VALUES ({}, {}, {}, {}, {}, {}, {})",
            text(&key.tenant)?,
            text(&key.partner)?,
            text(&key.path)?,
            int(key.size as i64),
            int(key.modified.unwrap_or(-1)),
            int(message.0),
            int(Timestamp::now().0),
        ));
        Ok(())
    }
}

/// A pipeline step's writes as a [`Batch`], on the connection whose
/// transaction the batch's first trip began. A write goes into the batch; a
/// read sends the batch so far first (its writes must be seen), then asks.
pub(super) struct StepBatch<'c> {
    conn: &'c mut Conn,
    batch: Batch,
}

impl StepBatch<'_> {
    /// Sends the statements written so far (in the open transaction).
    fn flush(&mut self) -> Result<()> {
        if self.batch.sql.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.batch.sql);
        self.conn.batch_execute(&sql).map_err(expected)
    }

    /// As `PgStep::finish`: the task must be pending and this worker's,
    /// which the server checks (`ferry_expect`) when the batch runs.
    fn finish(&mut self, task: &Task, set: &str) -> Result<()> {
        let token = opt_int(task.lease);
        let problem = format!(
            "task {} is not pending any more, or another worker holds it",
            task.id
        );
        self.batch.push(format_args!(
            "WITH finished AS (
                 UPDATE tasks SET {set}, lease_owner = NULL, lease_until = NULL, lease_token = NULL
                 WHERE id = {} AND tenant = {} AND state = 'pending'
                 AND (lease_token = {token} OR ({token}::BIGINT IS NULL
                      AND (lease_until IS NULL OR lease_until <= {NOW_MS})))
                 RETURNING 1)
             SELECT ferry_expect(COUNT(*), 1, {}) FROM finished",
            int(task.id),
            text(&self.batch.tenant)?,
            text(&problem)?,
        ));
        Ok(())
    }
}

impl StepWriter for StepBatch<'_> {
    fn complete(&mut self, task: &Task) -> Result<()> {
        self.finish(task, "state = 'done'")
    }

    fn reschedule(&mut self, task: &Task, at: Timestamp, error: &str) -> Result<()> {
        let set = format!(
            "attempts = attempts + 1, next_at = {}, last_error = {}",
            int(at.0),
            text(error)?
        );
        self.finish(task, &set)
    }

    fn bury(&mut self, task: &Task, error: &str) -> Result<()> {
        let set = format!(
            "state = 'dead', attempts = attempts + 1, last_error = {}",
            text(error)?
        );
        self.finish(task, &set)
    }

    fn revive(&mut self, task: i64) -> Result<Option<(MessageId, Step)>> {
        self.flush()?;
        let tenant = self.batch.tenant.clone();
        super::tasks::revive(self.conn, &tenant, task)
    }

    fn append(
        &mut self,
        kind: EventKind,
        message: Option<MessageId>,
        partner: Option<&str>,
        detail: &Value,
    ) -> Result<()> {
        let tenant = self.batch.tenant.clone();
        Rows::append(&mut self.batch, &tenant, kind, message, partner, detail).map(drop)
    }

    fn set_state(
        &mut self,
        message: MessageId,
        state: MessageState,
        reason: Option<&str>,
    ) -> Result<()> {
        Rows::set_state(&mut self.batch, message, state, reason)
    }

    fn queue(&mut self, message: MessageId, step: &Step) -> Result<()> {
        let tenant = self.batch.tenant.clone();
        Rows::queue(&mut self.batch, &tenant, message, step)
    }

    fn add_derived(&mut self, m: &DerivedMessage<'_>) -> Result<MessageId> {
        if self.batch.ids.len() == 0 {
            // More copies than reserved: more ids, in a trip of their own.
            self.flush()?;
            let rows = self
                .conn
                .query(
                    "SELECT nextval(pg_get_serial_sequence('messages', 'id'))
                     FROM generate_series(1, $1)",
                    &[&(STEP_IDS as i32)],
                )
                .map_err(db)?;
            let ids: Vec<i64> = rows.iter().map(|row| col(row, 0)).collect::<Result<_>>()?;
            self.batch.ids = ids.into_iter();
        }
        let tenant = self.batch.tenant.clone();
        rows::derived(&mut self.batch, &tenant, m)
    }

    fn place(
        &mut self,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
        message: MessageId,
    ) -> Result<()> {
        let tenant = self.batch.tenant.clone();
        Rows::place(&mut self.batch, &tenant, partner, mailbox, name, message)
    }

    fn rename(&mut self, partner: &str, mailbox: Mailbox, old: &str, new: &str) -> Result<bool> {
        self.flush()?;
        let tenant = self.batch.tenant.clone();
        Ok(rename(self.conn, &tenant, partner, mailbox, old, new)?.is_some())
    }

    fn write_kv(&mut self, writes: &[KvWrite]) -> Result<()> {
        let tenant = text(&self.batch.tenant)?;
        for write in writes {
            match &write.value {
                Some(value) => self.batch.push(format_args!(
                    "INSERT INTO kv (tenant, partner, key, value) VALUES ({tenant}, {}, {}, {})
                     ON CONFLICT (tenant, partner, key) DO UPDATE SET value = excluded.value",
                    text(&write.partner)?,
                    text(&write.key)?,
                    bytes(value),
                )),
                None => self.batch.push(format_args!(
                    "DELETE FROM kv WHERE tenant = {tenant} AND partner = {} AND key = {}",
                    text(&write.partner)?,
                    text(&write.key)?,
                )),
            }
        }
        Ok(())
    }

    fn pending_deliveries(&mut self, message: MessageId) -> Result<u64> {
        self.flush()?;
        super::tasks::pending_deliveries(self.conn, message)
    }

    fn push_finished(&mut self, message: MessageId) -> Result<()> {
        self.batch.push(format_args!(
            "DELETE FROM pushes WHERE tenant = {} AND message = {}",
            text(&self.batch.tenant)?,
            int(message.0),
        ));
        Ok(())
    }
}

/// A string literal that means `value` whatever the server's settings:
/// `E'...'` with `\` and `'` doubled. A NUL is refused: PostgreSQL's text
/// holds none.
fn text(value: &str) -> Result<String> {
    if value.contains('\0') {
        return Err(JournalError::Corrupt(
            "a text with a NUL character cannot be stored".into(),
        ));
    }
    let mut literal = String::with_capacity(value.len() + 3);
    literal.push_str("E'");
    for c in value.chars() {
        match c {
            '\\' => literal.push_str("\\\\"),
            '\'' => literal.push_str("''"),
            c => literal.push(c),
        }
    }
    literal.push('\'');
    Ok(literal)
}

fn opt_text(value: Option<&str>) -> Result<String> {
    value.map_or_else(|| Ok("NULL".to_owned()), text)
}

/// A BYTEA literal in hex (`E'\\x...'`: only hex digits after the `x`).
fn bytes(value: &[u8]) -> String {
    format!("E'\\\\x{}'::bytea", hex::encode(value))
}

fn int(value: i64) -> String {
    value.to_string()
}

fn opt_int(value: Option<i64>) -> String {
    value.map_or_else(|| "NULL".to_owned(), int)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_quote_what_would_end_them() {
        assert_eq!(text("plain").unwrap(), "E'plain'");
        assert_eq!(text("it's").unwrap(), "E'it''s'");
        assert_eq!(text(r"a\'b").unwrap(), r"E'a\\''b'");
        assert_eq!(
            text("x'); DROP TABLE events; --").unwrap(),
            "E'x''); DROP TABLE events; --'"
        );
        assert!(text("nul\0").is_err());
        assert_eq!(opt_text(None).unwrap(), "NULL");
        assert_eq!(bytes(&[0, 0xff, b'\'']), r"E'\\x00ff27'::bytea");
        assert_eq!(opt_int(Some(-1)), "-1");
    }
}
