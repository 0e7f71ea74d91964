//! A write in two round trips to PostgreSQL: what one committed upload
//! costs (`record_received`, `record_pulled`).
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

use super::*;

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
        let batched = off_the_runtime(|| {
            let mut attempt = 1;
            loop {
                let error = match self.batch_attempt(tenant, ids, &mut f) {
                    Ok(done) => return Ok(done),
                    Err(Failure::Begin(e)) => {
                        self.forget_idle();
                        e
                    }
                    Err(Failure::Write(e)) if retryable(&e) => e,
                    Err(Failure::Write(e)) => return Err(e),
                };
                if attempt >= ATTEMPTS {
                    return Err(error);
                }
                tracing::debug!(attempt, error = %error, "journal write retried");
                std::thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
                attempt += 1;
            }
        })?;
        match batched {
            Some(value) => Ok(value),
            None => self.write_tenant(tenant, fallback),
        }
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
            return Err(Failure::Write(db(e)));
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
        let at = Timestamp::now().0;
        let detail = detail.to_string();
        let link = Link {
            tenant,
            seq,
            at,
            kind: kind.as_str(),
            message: message.map(|m| m.0),
            partner,
            detail: &detail,
        };
        let hash = chain::hash(&self.head.1, &link);
        self.push(format_args!(
            "INSERT INTO events (tenant, seq, at, kind, message, partner, detail, prev_hash, hash)
             VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
            text(tenant)?,
            int(seq as i64),
            int(at),
            text(kind.as_str())?,
            opt_int(link.message),
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
