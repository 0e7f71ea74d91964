//! The embedded journal: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a committed transaction survives a power cut.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use std::sync::Arc;
use std::sync::Condvar;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::chain::{self, Link, Verifier};
use super::*;

/// Tables with a natural key are `WITHOUT ROWID`: a row is then one B-tree
/// entry, not a row plus an index entry, and every page a commit does not
/// touch is a page it does not write to the WAL.
/// The hashes of tenant `?1` that retention must keep (see
/// `Journal::content_in_use`): one query, so that `expire` and the store's
/// sweep agree on it.
const CONTENT_IN_USE: &str = "SELECT m.sha256 FROM mailbox b JOIN messages m ON m.id = b.message
     WHERE b.tenant = ?1
     UNION SELECT sha256 FROM messages WHERE tenant = ?1 AND state = 'pending'
     UNION SELECT m.sha256 FROM tasks t JOIN messages m ON m.id = t.message
     WHERE t.tenant = ?1 AND t.state IN ('pending', 'dead')";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY,
    tenant      TEXT NOT NULL,
    partner     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    name        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT,
    state       TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    origin      INTEGER REFERENCES messages(id),
    reason      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_partner ON messages(tenant, partner, direction, id);
CREATE INDEX IF NOT EXISTS messages_by_origin ON messages(origin) WHERE origin IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_hash ON messages(tenant, sha256);
-- Uploads waiting for their completion signal, by name: few, looked up on
-- every stat and every close, among all the partner's messages.
CREATE INDEX IF NOT EXISTS messages_pending ON messages(tenant, partner, name)
    WHERE state = 'pending';

CREATE TABLE IF NOT EXISTS events (
    tenant      TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    message     INTEGER,
    partner     TEXT,
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_message ON events(message);

CREATE TABLE IF NOT EXISTS chain_heads (
    tenant      TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS mailbox (
    tenant      TEXT NOT NULL,
    partner     TEXT NOT NULL,
    box         TEXT NOT NULL,
    name        TEXT NOT NULL,
    message     INTEGER NOT NULL REFERENCES messages(id),
    PRIMARY KEY (tenant, partner, box, name)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS tasks (
    id          INTEGER PRIMARY KEY,
    tenant      TEXT NOT NULL,
    message     INTEGER NOT NULL REFERENCES messages(id),
    step        TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    last_error  TEXT
);
CREATE INDEX IF NOT EXISTS tasks_due ON tasks(state, next_at);
-- Each tenant's due tasks, for the pipeline to share its workers fairly.
CREATE INDEX IF NOT EXISTS tasks_due_by_tenant ON tasks(tenant, state, next_at);

CREATE TABLE IF NOT EXISTS inline_content (
    tenant      TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    data        BLOB NOT NULL,
    -- Rows of up to 64 KiB: a rowid table keeps them out of the key's B-tree.
    PRIMARY KEY (tenant, sha256)
);

CREATE TABLE IF NOT EXISTS kv (
    tenant      TEXT NOT NULL,
    partner     TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BLOB NOT NULL,
    PRIMARY KEY (tenant, partner, key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS suspended (
    tenant      TEXT NOT NULL,
    partner     TEXT NOT NULL,
    name        TEXT NOT NULL,
    staging     TEXT NOT NULL,
    size        INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    PRIMARY KEY (tenant, partner, name)
) WITHOUT ROWID;

-- Remote files a pull ingested, so that none is ingested twice; `modified`
-- is -1 when the server does not tell.
CREATE TABLE IF NOT EXISTS pulled (
    tenant      TEXT NOT NULL,
    partner     TEXT NOT NULL,
    path        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    modified    INTEGER NOT NULL,
    message     INTEGER NOT NULL REFERENCES messages(id),
    disposed    INTEGER NOT NULL DEFAULT 0,
    at          INTEGER NOT NULL,
    PRIMARY KEY (tenant, partner, path, size, modified)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pulled_by_message ON pulled(message);

-- Pushes that have started writing to a partner's server: a later attempt
-- (after a crash, too) may continue their temporary file.
CREATE TABLE IF NOT EXISTS pushes (
    tenant      TEXT NOT NULL,
    message     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, message)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS plugin_pins (
    tenant      TEXT NOT NULL,
    partner     TEXT NOT NULL,
    role        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    PRIMARY KEY (tenant, partner, role)
) WITHOUT ROWID;
"#;

/// The SQLite journal. One connection for writes, one for reads: WAL lets
/// readers go on while a write commits.
///
/// Writes are committed in groups. Each write runs in its own savepoint of a
/// shared transaction; a write that finishes while others wait for the
/// connection leaves the transaction open for them and waits, and the last
/// one in commits for all. A commit is one `fdatasync` of the WAL whether it
/// holds one write or fifty, so concurrent uploads and pipeline steps share
/// it instead of queueing for one each. Every write still returns only once
/// it is durable, and a write that fails rolls back alone.
pub struct SqliteJournal {
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    /// Writes waiting for the writer connection.
    queued: AtomicUsize,
}

struct Writer {
    conn: Connection,
    /// The open transaction's group, when one is open.
    group: Option<Arc<Group>>,
}

/// The writes of one transaction, waiting for its commit.
#[derive(Default)]
struct Group {
    outcome: Mutex<Option<Result<(), String>>>,
    committed: Condvar,
}

impl Group {
    fn finish(&self, outcome: Result<(), String>) {
        *lock(&self.outcome) = Some(outcome);
        self.committed.notify_all();
    }

    fn wait(&self) -> Result<()> {
        let mut outcome = lock(&self.outcome);
        loop {
            match &*outcome {
                Some(Ok(())) => return Ok(()),
                Some(Err(e)) => return Err(JournalError::Commit(e.clone())),
                None => {
                    outcome = self
                        .committed
                        .wait(outcome)
                        .unwrap_or_else(|p| p.into_inner());
                }
            }
        }
    }
}

impl SqliteJournal {
    pub fn open(path: &Path) -> Result<SqliteJournal> {
        let open = |path: &Path| -> Result<Connection> {
            let conn = Connection::open(path).map_err(|source| JournalError::Open {
                path: path.display().to_string(),
                source,
            })?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            // Every statement is prepared once per connection and kept:
            // parsing SQL was a tenth of the CPU time of a small upload.
            conn.set_prepared_statement_cache_capacity(256);
            // Keep each statement's plan: otherwise SQLite re-prepares a
            // cached statement whenever a bound LIMIT changes from 1 to 2.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "foreign_keys", "ON")?;
            Ok(conn)
        };
        let writer = open(path)?;
        writer.execute_batch(SCHEMA)?;
        let reader = open(path)?;
        Ok(SqliteJournal {
            writer: Mutex::new(Writer {
                conn: writer,
                group: None,
            }),
            reader: Mutex::new(reader),
            queued: AtomicUsize::new(0),
        })
    }

    /// Runs `f` as one atomic write and returns once it is durable.
    fn write<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let mut writer = lock(&self.writer);
        self.queued.fetch_sub(1, Ordering::SeqCst);
        if writer.group.is_none() {
            writer.conn.execute_batch("BEGIN IMMEDIATE")?;
            writer.group = Some(Arc::default());
        }
        let group = Arc::clone(writer.group.as_ref().expect("opened above"));
        let result = Self::in_savepoint(&mut writer.conn, f);

        if self.queued.load(Ordering::SeqCst) > 0 {
            // A write waiting for the connection joins this transaction and
            // commits it, or passes it on in turn.
            drop(writer);
            let value = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            group.wait()?;
            return Ok(value);
        }
        let outcome = writer.conn.execute_batch("COMMIT");
        if outcome.is_err() && !writer.conn.is_autocommit() {
            // Nothing of this group may stay half-applied.
            let _ = writer.conn.execute_batch("ROLLBACK");
        }
        writer.group = None;
        drop(writer);
        group.finish(outcome.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        // A panic in `f` is raised only now, when the group is not left
        // open with others waiting for its commit.
        let value = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        outcome?;
        Ok(value)
    }

    /// Runs `f` in a savepoint: what it did stays if it succeeds and is
    /// undone if it fails or panics (the panic is handed back), leaving the
    /// rest of the group as it was.
    fn in_savepoint<T>(
        conn: &mut Connection,
        f: impl FnOnce(&Connection) -> Result<T>,
    ) -> std::thread::Result<Result<T>> {
        let savepoint = match conn.savepoint() {
            Ok(savepoint) => savepoint,
            Err(e) => return Ok(Err(e.into())),
        };
        // Dropping the savepoint without `commit` rolls it back.
        Ok(
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&savepoint)))? {
                Ok(value) => savepoint.commit().map(|()| value).map_err(Into::into),
                Err(e) => Err(e),
            },
        )
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        lock(&self.reader)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves SQLite consistent (the write's
    // savepoint rolls back), so the poison carries no meaning.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Appends one event to its tenant's chain inside `tx`.
fn append(
    tx: &Connection,
    tenant: &str,
    kind: EventKind,
    message: Option<MessageId>,
    partner: Option<&str>,
    detail: &Value,
) -> Result<u64> {
    let (last, prev): (u64, String) = tx
        .prepare_cached("SELECT seq, hash FROM chain_heads WHERE tenant = ?1")?
        .query_row([tenant], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?
        .unwrap_or((0, chain::GENESIS.to_owned()));
    let seq = last + 1;
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
    let hash = chain::hash(&prev, &link);
    tx.prepare_cached(
        "INSERT INTO events (tenant, seq, at, kind, message, partner, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        tenant,
        seq,
        at,
        kind.as_str(),
        link.message,
        partner,
        detail,
        prev,
        hash
    ])?;
    tx.prepare_cached(
        "INSERT INTO chain_heads (tenant, seq, hash) VALUES (?1, ?2, ?3)
         ON CONFLICT(tenant) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
    )?
    .execute(params![tenant, seq, hash])?;
    Ok(seq)
}

/// A message row to insert.
struct NewMessage<'a> {
    tenant: &'a str,
    partner: &'a str,
    direction: Direction,
    name: &'a str,
    size: u64,
    hash: Option<&'a ContentHash>,
    state: MessageState,
    protocol: &'a str,
    source: &'a str,
    origin: Option<MessageId>,
    reason: Option<&'a str>,
}

fn insert_message(tx: &Connection, m: &NewMessage<'_>) -> Result<MessageId> {
    let now = Timestamp::now().0;
    tx.prepare_cached(
        "INSERT INTO messages (tenant, partner, direction, name, size, sha256, state, protocol,
                               source, origin, reason, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
    )?
    .execute(params![
        m.tenant,
        m.partner,
        m.direction.as_str(),
        m.name,
        m.size,
        m.hash.map(|h| h.to_string()),
        m.state.as_str(),
        m.protocol,
        m.source,
        m.origin.map(|o| o.0),
        m.reason,
        now
    ])?;
    Ok(MessageId(tx.last_insert_rowid()))
}

/// The rows of a committed upload: message, inline content, inbox entry,
/// `received` event and the `process` task.
fn insert_received(tx: &Connection, r: &Received) -> Result<MessageId> {
    let id = insert_message(
        tx,
        &NewMessage {
            tenant: &r.tenant,
            partner: &r.partner,
            direction: Direction::In,
            name: &r.name,
            size: r.size,
            hash: Some(&r.hash),
            state: MessageState::Received,
            protocol: &r.protocol,
            source: &r.source,
            origin: None,
            reason: None,
        },
    )?;
    keep_inline(tx, r)?;
    place(tx, &r.tenant, &r.partner, Mailbox::Inbox, &r.name, id)?;
    append(
        tx,
        &r.tenant,
        EventKind::Received,
        Some(id),
        Some(&r.partner),
        &json!({
            "name": r.name, "size": r.size, "sha256": r.hash.to_string(),
            "protocol": r.protocol, "source": r.source,
        }),
    )?;
    queue(tx, &r.tenant, id, &Step::Process)?;
    Ok(id)
}

fn insert_pulled(tx: &Connection, key: &PulledKey, message: MessageId) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO pulled (tenant, partner, path, size, modified, message, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        key.tenant,
        key.partner,
        key.path,
        key.size,
        key.modified.unwrap_or(-1),
        message.0,
        Timestamp::now().0
    ])?;
    Ok(())
}

fn parse_hash(text: &str) -> Result<ContentHash> {
    text.parse()
        .map_err(|e: crate::store::ParseHashError| JournalError::Corrupt(e.to_string()))
}

/// Stores an upload's inline content, once per tenant and hash.
fn keep_inline(tx: &Connection, r: &Received) -> Result<()> {
    if let Some(bytes) = &r.inline {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO inline_content (tenant, sha256, data) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![r.tenant, r.hash.to_string(), bytes])?;
    }
    Ok(())
}

fn set_state(
    tx: &Connection,
    id: MessageId,
    state: MessageState,
    reason: Option<&str>,
) -> Result<()> {
    tx.prepare_cached(
        "UPDATE messages SET state = ?2, reason = COALESCE(?3, reason), updated_at = ?4
             WHERE id = ?1",
    )?
    .execute(params![id.0, state.as_str(), reason, Timestamp::now().0])?;
    Ok(())
}

/// Makes `message` the visible file `name` in a mailbox, replacing an older one of that name.
fn place(
    tx: &Connection,
    tenant: &str,
    partner: &str,
    mailbox: Mailbox,
    name: &str,
    message: MessageId,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO mailbox (tenant, partner, box, name, message) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(tenant, partner, box, name) DO UPDATE SET message = excluded.message",
    )?
    .execute(params![tenant, partner, mailbox.as_str(), name, message.0])?;
    Ok(())
}

fn queue(tx: &Connection, tenant: &str, message: MessageId, step: &Step) -> Result<()> {
    let step = serde_json::to_string(step).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO tasks (tenant, message, step, state, next_at)
             VALUES (?1, ?2, ?3, 'pending', ?4)",
    )?
    .execute(params![tenant, message.0, step, Timestamp::now().0])?;
    Ok(())
}

fn done(tx: &Connection, task: &Task) -> Result<()> {
    let changed = tx
        .prepare_cached("UPDATE tasks SET state = 'done' WHERE id = ?1 AND state = 'pending'")?
        .execute([task.id])?;
    if changed != 1 {
        // Finishing a task twice would duplicate its effects: refuse, roll back.
        return Err(JournalError::Corrupt(format!(
            "task {} is not pending any more",
            task.id
        )));
    }
    Ok(())
}

fn message_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Message>> {
    let hash: Option<String> = row.get(6)?;
    let direction: String = row.get(3)?;
    let state: String = row.get(7)?;
    Ok((|| {
        Ok(Message {
            id: MessageId(row.get(0)?),
            tenant: row.get(1)?,
            partner: row.get(2)?,
            direction: direction.parse()?,
            name: row.get(4)?,
            size: row.get(5)?,
            hash: hash
                .map(|h| {
                    h.parse().map_err(|e: crate::store::ParseHashError| {
                        JournalError::Corrupt(e.to_string())
                    })
                })
                .transpose()?,
            state: state.parse()?,
            protocol: row.get(8)?,
            origin: row.get::<_, Option<i64>>(9)?.map(MessageId),
            reason: row.get(10)?,
            created_at: Timestamp(row.get(11)?),
            source: row.get(12)?,
        })
    })())
}

const MESSAGE_COLUMNS: &str = "id, tenant, partner, direction, name, size, sha256, state, protocol, origin, reason, created_at, source";

fn get_message(conn: &Connection, tenant: &str, id: MessageId) -> Result<Message> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND tenant = ?2"
    ))?
    .query_row(params![id.0, tenant], message_row)
    .optional()?
    .ok_or(JournalError::NoMessage(id))?
}

fn entry_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Entry>> {
    let hash: String = row.get(2)?;
    Ok((|| {
        Ok(Entry {
            name: row.get(0)?,
            message: MessageId(row.get(1)?),
            hash: hash
                .parse()
                .map_err(|e: crate::store::ParseHashError| JournalError::Corrupt(e.to_string()))?,
            size: row.get(3)?,
            created_at: Timestamp(row.get(4)?),
        })
    })())
}

const EVENT_COLUMNS: &str = "tenant, seq, at, kind, message, partner, detail, prev_hash, hash";

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Event>> {
    let kind: String = row.get(3)?;
    let detail: String = row.get(6)?;
    Ok((|| {
        Ok(Event {
            tenant: row.get(0)?,
            seq: row.get(1)?,
            at: Timestamp(row.get(2)?),
            kind: kind.parse()?,
            message: row.get::<_, Option<i64>>(4)?.map(MessageId),
            partner: row.get(5)?,
            detail: serde_json::from_str(&detail)
                .map_err(|e| JournalError::Corrupt(format!("event detail: {e}")))?,
            prev_hash: row.get(7)?,
            hash: row.get(8)?,
        })
    })())
}

/// Applies a decision's key-value writes, in the decision's transaction.
fn apply_kv(tx: &Connection, tenant: &str, writes: &[KvWrite]) -> Result<()> {
    for write in writes {
        match &write.value {
            Some(value) => tx
                .prepare_cached(
                    "INSERT INTO kv (tenant, partner, key, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(tenant, partner, key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![tenant, write.partner, write.key, value])?,
            None => tx
                .prepare_cached("DELETE FROM kv WHERE tenant = ?1 AND partner = ?2 AND key = ?3")?
                .execute(params![tenant, write.partner, write.key])?,
        };
    }
    Ok(())
}

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

fn collect<T>(rows: impl Iterator<Item = rusqlite::Result<Result<T>>>) -> Result<Vec<T>> {
    rows.map(|row| row?).collect()
}

fn step_json(text: &str) -> Result<Step> {
    serde_json::from_str(text)
        .map_err(|e| JournalError::Corrupt(format!("task step `{text}`: {e}")))
}

impl Journal for SqliteJournal {
    fn record_received(&self, r: &Received) -> Result<MessageId> {
        self.write(|tx| insert_received(tx, r))
    }

    fn record_pending(&self, r: &Received) -> Result<MessageId> {
        self.write(|tx| {
            // A newer upload under the same pending name replaces the older one.
            tx.prepare_cached(
                "UPDATE messages SET state = 'failed', reason = 'replaced by a newer upload'
                 WHERE tenant = ?1 AND partner = ?2 AND name = ?3 AND state = 'pending'",
            )?
            .execute(params![r.tenant, r.partner, r.name])?;
            let id = insert_message(
                tx,
                &NewMessage {
                    tenant: &r.tenant,
                    partner: &r.partner,
                    direction: Direction::In,
                    name: &r.name,
                    size: r.size,
                    hash: Some(&r.hash),
                    state: MessageState::Pending,
                    protocol: &r.protocol,
                    source: &r.source,
                    origin: None,
                    reason: None,
                },
            )?;
            keep_inline(tx, r)?;
            append(
                tx,
                &r.tenant,
                EventKind::Staged,
                Some(id),
                Some(&r.partner),
                &json!({
                    "name": r.name, "size": r.size, "sha256": r.hash.to_string(),
                    "protocol": r.protocol, "source": r.source,
                }),
            )?;
            Ok(id)
        })
    }

    fn suspend_upload(
        &self,
        tenant: &str,
        partner: &str,
        name: &str,
        staging: &str,
        size: u64,
    ) -> Result<Option<(String, u64)>> {
        self.write(|tx| {
            let old: Option<(String, u64)> = tx
                .prepare_cached(
                    "SELECT staging, size FROM suspended
                         WHERE tenant = ?1 AND partner = ?2 AND name = ?3",
                )?
                .query_row(params![tenant, partner, name], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            tx.prepare_cached(
                "INSERT INTO suspended (tenant, partner, name, staging, size, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(tenant, partner, name)
                     DO UPDATE SET staging = excluded.staging, size = excluded.size,
                                   at = excluded.at",
            )?
            .execute(params![
                tenant,
                partner,
                name,
                staging,
                size,
                Timestamp::now().0
            ])?;
            Ok(old.filter(|(old, _)| old != staging))
        })
    }

    fn expire_suspended(
        &self,
        tenant: &str,
        before: Timestamp,
        keep: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        self.write(|tx| {
            // Oldest beyond the newest `keep` of each partner, or too old.
            let rows = tx
                .prepare_cached(
                    "DELETE FROM suspended WHERE tenant = ?1 AND (at < ?2 OR (partner, name) IN (
                         SELECT partner, name FROM (
                             SELECT partner, name, ROW_NUMBER() OVER (
                                 PARTITION BY partner ORDER BY at DESC, name) AS n
                             FROM suspended WHERE tenant = ?1)
                         WHERE n > ?3))
                     RETURNING partner, staging, size",
                )?
                .query_map(params![tenant, before.0, keep], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn take_suspended(
        &self,
        tenant: &str,
        partner: &str,
        name: &str,
    ) -> Result<Option<(String, u64)>> {
        self.write(|tx| {
            Ok(tx
                .prepare_cached(
                    "DELETE FROM suspended WHERE tenant = ?1 AND partner = ?2 AND name = ?3
                     RETURNING staging, size",
                )?
                .query_row(params![tenant, partner, name], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?)
        })
    }

    fn suspended_size(&self, tenant: &str, partner: &str, name: &str) -> Result<Option<u64>> {
        let conn = self.read();
        Ok(conn
            .prepare_cached(
                "SELECT size FROM suspended WHERE tenant = ?1 AND partner = ?2 AND name = ?3",
            )?
            .query_row(params![tenant, partner, name], |row| row.get(0))
            .optional()?)
    }

    fn suspended(&self, tenant: &str) -> Result<Vec<String>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached("SELECT staging FROM suspended WHERE tenant = ?1")?;
        let rows = stmt.query_map([tenant], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn find_pending(&self, tenant: &str, partner: &str, name: &str) -> Result<Option<Message>> {
        let conn = self.read();
        conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE tenant = ?1 AND partner = ?2 AND name = ?3 AND state = 'pending'
             ORDER BY id DESC LIMIT 1"
        ))?
        .query_row(params![tenant, partner, name], message_row)
        .optional()?
        .transpose()
    }

    fn complete_pending(&self, tenant: &str, id: MessageId, name: &str) -> Result<()> {
        let message = self.message(tenant, id)?;
        self.write(|tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE messages SET state = 'received', name = ?2, updated_at = ?3
                 WHERE id = ?1 AND state = 'pending'",
                )?
                .execute(params![id.0, name, Timestamp::now().0])?;
            if changed != 1 {
                return Err(JournalError::Corrupt(format!(
                    "message {id} is not pending"
                )));
            }
            place(tx, tenant, &message.partner, Mailbox::Inbox, name, id)?;
            append(
                tx,
                tenant,
                EventKind::Received,
                Some(id),
                Some(&message.partner),
                &json!({
                    "name": name, "staged_as": message.name, "size": message.size,
                    "sha256": message.hash.map(|h| h.to_string()),
                    "protocol": message.protocol, "source": message.source,
                }),
            )?;
            queue(tx, tenant, id, &Step::Process)?;
            Ok(())
        })
    }

    fn fail_pending(&self, tenant: &str, id: MessageId, reason: &str) -> Result<()> {
        let message = self.message(tenant, id)?;
        self.write(|tx| {
            set_state(tx, id, MessageState::Failed, Some(reason))?;
            append(
                tx,
                tenant,
                EventKind::Failed,
                Some(id),
                Some(&message.partner),
                &json!({ "step": "completion", "name": message.name, "error": reason }),
            )?;
            Ok(())
        })
    }

    fn record_upload_failed(&self, f: &UploadFailed) -> Result<MessageId> {
        self.write(|tx| {
            let id = insert_message(
                tx,
                &NewMessage {
                    tenant: &f.tenant,
                    partner: &f.partner,
                    direction: Direction::In,
                    name: &f.name,
                    size: f.bytes_received,
                    hash: None,
                    state: MessageState::Failed,
                    protocol: &f.protocol,
                    source: &f.source,
                    origin: None,
                    reason: Some(&f.error),
                },
            )?;
            append(
                tx,
                &f.tenant,
                EventKind::Failed,
                Some(id),
                Some(&f.partner),
                &json!({
                    "step": "upload", "name": f.name, "bytes_received": f.bytes_received,
                    "protocol": f.protocol, "source": f.source, "error": f.error,
                }),
            )?;
            Ok(id)
        })
    }

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

    fn message(&self, tenant: &str, id: MessageId) -> Result<Message> {
        get_message(&self.read(), tenant, id)
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

    fn record_pulled(&self, received: &Received, key: &PulledKey) -> Result<MessageId> {
        self.write(|tx| {
            let id = insert_received(tx, received)?;
            insert_pulled(tx, key, id)?;
            Ok(id)
        })
    }

    fn pulled_path(&self, tenant: &str, message: MessageId) -> Result<Option<String>> {
        let conn = self.read();
        Ok(conn
            .prepare_cached("SELECT path FROM pulled WHERE message = ?2 AND tenant = ?1")?
            .query_row(params![tenant, message.0], |row| row.get(0))
            .optional()?)
    }

    fn pulled(&self, key: &PulledKey) -> Result<Option<Pulled>> {
        let conn = self.read();
        Ok(conn
            .prepare_cached(
                "SELECT message, disposed FROM pulled
                 WHERE tenant = ?1 AND partner = ?2 AND path = ?3 AND size = ?4 AND modified = ?5",
            )?
            .query_row(
                params![
                    key.tenant,
                    key.partner,
                    key.path,
                    key.size,
                    key.modified.unwrap_or(-1)
                ],
                |row| {
                    Ok(Pulled {
                        message: MessageId(row.get(0)?),
                        disposed: row.get::<_, i64>(1)? != 0,
                    })
                },
            )
            .optional()?)
    }

    fn mark_disposed(&self, key: &PulledKey, detail: &Value) -> Result<()> {
        let pulled = self.pulled(key)?;
        self.write(|tx| {
            tx.prepare_cached(
                "UPDATE pulled SET disposed = 1
                 WHERE tenant = ?1 AND partner = ?2 AND path = ?3 AND size = ?4 AND modified = ?5",
            )?
            .execute(params![
                key.tenant,
                key.partner,
                key.path,
                key.size,
                key.modified.unwrap_or(-1)
            ])?;
            append(
                tx,
                &key.tenant,
                EventKind::Disposed,
                pulled.map(|p| p.message),
                Some(&key.partner),
                detail,
            )?;
            Ok(())
        })
    }

    fn record_fxp(&self, fxp: &FxpRecord) -> Result<MessageId> {
        self.write(|tx| {
            let key = &fxp.key;
            let source = format!("fxp:{}", key.path);
            let id = insert_message(
                tx,
                &NewMessage {
                    tenant: &key.tenant,
                    partner: &key.partner,
                    direction: Direction::In,
                    name: &fxp.name,
                    size: key.size,
                    hash: fxp.sha256.as_ref(),
                    state: MessageState::Delivered,
                    protocol: "fxp",
                    source: &source,
                    origin: None,
                    reason: None,
                },
            )?;
            let out = insert_message(
                tx,
                &NewMessage {
                    tenant: &key.tenant,
                    partner: &fxp.to,
                    direction: Direction::Out,
                    name: &fxp.name,
                    size: key.size,
                    hash: fxp.sha256.as_ref(),
                    state: MessageState::Downloaded,
                    protocol: "fxp",
                    source: &key.partner,
                    origin: Some(id),
                    reason: None,
                },
            )?;
            insert_pulled(tx, key, id)?;
            let sha256 = fxp.sha256.map(|h| h.to_string());
            append(
                tx,
                &key.tenant,
                EventKind::Received,
                Some(id),
                Some(&key.partner),
                &json!({ "name": fxp.name, "size": key.size, "sha256": sha256,
                         "protocol": "fxp", "source": key.path }),
            )?;
            append(
                tx,
                &key.tenant,
                EventKind::Fxp,
                Some(out),
                Some(&fxp.to),
                &fxp.detail,
            )?;
            Ok(id)
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

    fn list_mailbox(&self, tenant: &str, partner: &str, mailbox: Mailbox) -> Result<Vec<Entry>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT b.name, m.id, m.sha256, m.size, m.created_at FROM mailbox b
             JOIN messages m ON m.id = b.message
             WHERE b.tenant = ?1 AND b.partner = ?2 AND b.box = ?3 ORDER BY b.name",
        )?;
        let rows = stmt.query_map(params![tenant, partner, mailbox.as_str()], entry_row)?;
        collect(rows)
    }

    fn find_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<Option<Entry>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT b.name, m.id, m.sha256, m.size, m.created_at FROM mailbox b
             JOIN messages m ON m.id = b.message
             WHERE b.tenant = ?1 AND b.partner = ?2 AND b.box = ?3 AND b.name = ?4",
        )?;
        stmt.query_row(params![tenant, partner, mailbox.as_str(), name], entry_row)
            .optional()?
            .transpose()
    }

    fn hide_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            let message: Option<i64> = tx
                .prepare_cached(
                    "DELETE FROM mailbox
                         WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4
                         RETURNING message",
                )?
                .query_row(params![tenant, partner, mailbox.as_str(), name], |row| {
                    row.get(0)
                })
                .optional()?;
            let Some(message) = message else {
                return Ok(false);
            };
            append(
                tx,
                tenant,
                EventKind::Hidden,
                Some(MessageId(message)),
                Some(partner),
                &json!({ "box": mailbox.as_str(), "name": name }),
            )?;
            Ok(true)
        })
    }

    fn expire(&self, tenant: &str, before: Timestamp) -> Result<usize> {
        self.write(|tx| {
            let expired: Vec<(String, String, String, i64, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT b.partner, b.box, b.name, m.id, m.sha256 FROM mailbox b
                     JOIN messages m ON m.id = b.message
                     WHERE b.tenant = ?1 AND m.created_at < ?2
                       AND NOT EXISTS (SELECT 1 FROM tasks t
                                       WHERE t.state = 'pending' AND t.message IN (m.id, m.origin))",
                )?;
                stmt.query_map(params![tenant, before.0], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })?
                .collect::<rusqlite::Result<_>>()?
            };
            let mut hashes = Vec::new();
            for (partner, mailbox, name, message, hash) in &expired {
                tx.prepare_cached(
                    "DELETE FROM mailbox
                     WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4",
                )?
                .execute(params![tenant, partner, mailbox, name])?;
                append(
                    tx,
                    tenant,
                    EventKind::Expired,
                    Some(MessageId(*message)),
                    Some(partner),
                    &json!({ "box": mailbox, "name": name }),
                )?;
                hashes.push(hash);
            }
            if hashes.is_empty() {
                return Ok(0);
            }
            let in_use = tx
                .prepare_cached(CONTENT_IN_USE)?
                .query_map(params![tenant], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<std::collections::HashSet<_>>>()?;
            hashes.sort();
            hashes.dedup();
            for hash in hashes {
                if !in_use.contains(hash) {
                    tx.prepare_cached("DELETE FROM inline_content WHERE tenant = ?1 AND sha256 = ?2")?
                        .execute(params![tenant, hash])?;
                }
            }
            Ok(expired.len())
        })
    }

    fn content_in_use(&self, tenant: &str) -> Result<std::collections::HashSet<ContentHash>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(CONTENT_IN_USE)?;
        let hashes = stmt
            .query_map(params![tenant], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        hashes
            .iter()
            .map(|h| {
                h.parse()
                    .map_err(|e: crate::store::ParseHashError| JournalError::Corrupt(e.to_string()))
            })
            .collect()
    }

    fn sent_files(&self, tenant: &str, partner: &str) -> Result<Vec<SentRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT m.name, m.size, m.sha256, m.created_at, m.state, m.reason,
                    (SELECT GROUP_CONCAT(o.partner, ' ') FROM messages o
                     WHERE o.origin = m.id AND o.protocol = 'delivery')
             FROM messages m
             WHERE m.tenant = ?1 AND m.partner = ?2 AND m.direction = 'in'
               AND m.state NOT IN ('failed', 'pending')
             ORDER BY m.id",
        )?;
        let rows = stmt.query_map(params![tenant, partner], |row| {
            let sha256: Option<String> = row.get(2)?;
            let state: String = row.get(4)?;
            let delivered: Option<String> = row.get(6)?;
            let (name, size, at, reason) = (row.get(0)?, row.get(1)?, row.get(3)?, row.get(5)?);
            Ok((|| {
                Ok(SentRow {
                    name,
                    size,
                    sha256: sha256.map(|h| parse_hash(&h)).transpose()?,
                    received_at: Timestamp(at),
                    state: state.parse()?,
                    reason,
                    delivered_to: {
                        let mut to: Vec<String> = delivered
                            .map(|d| d.split(' ').map(str::to_owned).collect())
                            .unwrap_or_default();
                        to.sort();
                        to
                    },
                })
            })())
        })?;
        collect(rows)
    }

    fn offered_files(&self, tenant: &str, partner: &str) -> Result<Vec<OfferedRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT m.name, m.size, m.sha256, m.created_at,
                    (SELECT MIN(e.at) FROM events e
                     WHERE e.message = m.id AND e.kind = 'downloaded')
             FROM messages m
             WHERE m.tenant = ?1 AND m.partner = ?2 AND m.direction = 'out'
             ORDER BY m.id",
        )?;
        let rows = stmt.query_map(params![tenant, partner], |row| {
            let sha256: Option<String> = row.get(2)?;
            let downloaded: Option<i64> = row.get(4)?;
            let (name, size, at) = (row.get(0)?, row.get(1)?, row.get(3)?);
            Ok((|| {
                Ok(OfferedRow {
                    name,
                    size,
                    sha256: sha256.map(|h| parse_hash(&h)).transpose()?,
                    available_at: Timestamp(at),
                    downloaded_at: downloaded.map(Timestamp),
                })
            })())
        })?;
        collect(rows)
    }

    fn resend(
        &self,
        tenant: &str,
        partner: &str,
        request: &str,
        source: &str,
    ) -> Result<Option<Entry>> {
        self.write(|tx| {
            let found: Option<(i64, String, String, u64, i64)> = tx
                .prepare_cached(
                    "SELECT id, name, sha256, size, created_at FROM messages
                     WHERE tenant = ?1 AND partner = ?2 AND direction = 'out'
                       AND sha256 IS NOT NULL AND (name = ?3 OR sha256 = ?3)
                     ORDER BY id DESC LIMIT 1",
                )?
                .query_row(params![tenant, partner, request], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .optional()?;
            let Some((id, name, hash, size, created_at)) = found else {
                return Ok(None);
            };
            place(tx, tenant, partner, Mailbox::Outbox, &name, MessageId(id))?;
            append(
                tx,
                tenant,
                EventKind::Resent,
                Some(MessageId(id)),
                Some(partner),
                &json!({ "name": name, "request": request, "source": source }),
            )?;
            Ok(Some(Entry {
                name,
                message: MessageId(id),
                hash: parse_hash(&hash)?,
                size,
                created_at: Timestamp(created_at),
            }))
        })
    }

    fn inline_content(&self, tenant: &str, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        Ok(self
            .read()
            .prepare_cached("SELECT data FROM inline_content WHERE tenant = ?1 AND sha256 = ?2")?
            .query_row(params![tenant, hash.to_string()], |row| row.get(0))
            .optional()?)
    }

    fn record_event(&self, tenant: &str, kind: EventKind, detail: Value) -> Result<()> {
        self.write(|tx| append(tx, tenant, kind, None, None, &detail).map(|_| ()))
    }

    fn messages(&self, query: &MessageQuery) -> Result<Vec<Message>> {
        let conn = self.read();
        // Only the filters given, so that SQLite can use an index for them
        // (`x IS NULL OR` defeats that): a plugin's history query is then a
        // walk down `messages_by_partner`, not a scan of every message.
        let filters = [
            ("tenant = ?1", query.tenant.is_some()),
            ("partner = ?2", query.partner.is_some()),
            ("direction = ?3", query.direction.is_some()),
            ("id = ?5", query.id.is_some()),
            ("created_at >= ?6", query.since.is_some()),
            ("id < ?7", query.before.is_some()),
        ];
        let mut clause = String::from("1");
        for (filter, _) in filters.iter().filter(|(_, given)| *given) {
            clause.push_str(" AND ");
            clause.push_str(filter);
        }
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {clause} ORDER BY id DESC LIMIT ?4"
        ))?;
        let mut values: Vec<(&str, rusqlite::types::Value)> = Vec::new();
        let text = |v: &str| rusqlite::types::Value::Text(v.to_owned());
        if let Some(tenant) = &query.tenant {
            values.push(("?1", text(tenant)));
        }
        if let Some(partner) = &query.partner {
            values.push(("?2", text(partner)));
        }
        if let Some(direction) = query.direction {
            values.push(("?3", text(direction.as_str())));
        }
        values.push((
            "?4",
            rusqlite::types::Value::Integer(query.limit.map_or(-1, |l| l as i64)),
        ));
        if let Some(id) = query.id {
            values.push(("?5", rusqlite::types::Value::Integer(id.0)));
        }
        if let Some(since) = query.since {
            values.push(("?6", rusqlite::types::Value::Integer(since.0)));
        }
        if let Some(before) = query.before {
            values.push(("?7", rusqlite::types::Value::Integer(before.0)));
        }
        let named: Vec<(&str, &dyn rusqlite::ToSql)> = values
            .iter()
            .map(|(name, value)| (*name, value as &dyn rusqlite::ToSql))
            .collect();
        let rows = stmt.query_map(named.as_slice(), message_row)?;
        collect(rows)
    }

    fn message_events(&self, tenant: &str, id: MessageId) -> Result<Vec<Event>> {
        let conn = self.read();
        get_message(&conn, tenant, id)?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE message IN (SELECT ?2 UNION SELECT id FROM messages WHERE origin = ?2)
               AND +tenant = ?1
             ORDER BY seq"
        ))?;
        // `+tenant`: look the events up by message, not among all the tenant's.
        let rows = stmt.query_map(params![tenant, id.0], event_row)?;
        collect(rows)
    }

    fn rename_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            let message: Option<i64> = tx
                .prepare_cached(
                    "UPDATE OR REPLACE mailbox SET name = ?5
                     WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4
                     RETURNING message",
                )?
                .query_row(
                    params![tenant, partner, mailbox.as_str(), old, new],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(message) = message else {
                return Ok(false);
            };
            append(
                tx,
                tenant,
                EventKind::Renamed,
                Some(MessageId(message)),
                Some(partner),
                &json!({ "box": mailbox.as_str(), "from": old, "to": new }),
            )?;
            Ok(true)
        })
    }

    fn record_download(&self, d: &Download) -> Result<()> {
        let message = self.message(&d.tenant, d.message)?;
        self.write(|tx| {
            let kind = if d.complete {
                EventKind::Downloaded
            } else {
                EventKind::DownloadPartial
            };
            append(
                tx,
                &d.tenant,
                kind,
                Some(message.id),
                Some(&d.partner),
                &json!({
                    "name": d.name, "bytes": d.bytes_read, "size": message.size,
                    "protocol": d.protocol, "source": d.source,
                }),
            )?;
            if d.complete && message.direction == Direction::Out {
                set_state(tx, message.id, MessageState::Downloaded, None)?;
                // The sender learns that its file was fetched.
                if let Some(origin) = message.origin {
                    queue(
                        tx,
                        &d.tenant,
                        origin,
                        &Step::Acknowledge(AckEvent::Downloaded {
                            by: d.partner.clone(),
                        }),
                    )?;
                }
            }
            Ok(())
        })
    }

    fn kv_get(&self, tenant: &str, partner: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT value FROM kv WHERE tenant = ?1 AND partner = ?2 AND key = ?3",
        )?;
        Ok(stmt
            .query_row(params![tenant, partner, key], |row| row.get(0))
            .optional()?)
    }

    fn kv_set(&self, tenant: &str, partner: &str, key: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO kv (tenant, partner, key, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(tenant, partner, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![tenant, partner, key, value])?;
            Ok(())
        })
    }

    fn kv_delete(&self, tenant: &str, partner: &str, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM kv WHERE tenant = ?1 AND partner = ?2 AND key = ?3")?
                .execute(params![tenant, partner, key])?;
            Ok(())
        })
    }

    fn kv_count(&self, tenant: &str, partner: &str) -> Result<usize> {
        let conn = self.read();
        let n: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM kv WHERE tenant = ?1 AND partner = ?2")?
            .query_row(params![tenant, partner], |row| row.get(0))?;
        Ok(n as usize)
    }

    fn plugin_pin(&self, tenant: &str, partner: &str, role: &str) -> Result<Option<PluginPin>> {
        let conn = self.read();
        Ok(conn
            .prepare_cached(
                "SELECT sha256, file_sha256 FROM plugin_pins
                 WHERE tenant = ?1 AND partner = ?2 AND role = ?3",
            )?
            .query_row(params![tenant, partner, role], |row| {
                Ok(PluginPin {
                    sha256: row.get(0)?,
                    file_sha256: row.get(1)?,
                })
            })
            .optional()?)
    }

    fn set_plugin_pin(
        &self,
        tenant: &str,
        partner: &str,
        role: &str,
        pin: Option<&PluginPin>,
    ) -> Result<()> {
        self.write(|tx| {
            match pin {
                Some(pin) => tx
                    .prepare_cached(
                        "INSERT INTO plugin_pins (tenant, partner, role, sha256, file_sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(tenant, partner, role)
                     DO UPDATE SET sha256 = excluded.sha256, file_sha256 = excluded.file_sha256",
                    )?
                    .execute(params![tenant, partner, role, pin.sha256, pin.file_sha256])?,
                None => tx
                    .prepare_cached(
                        "DELETE FROM plugin_pins WHERE tenant = ?1 AND partner = ?2 AND role = ?3",
                    )?
                    .execute(params![tenant, partner, role])?,
            };
            Ok(())
        })
    }

    fn plugin_events(&self, tenant: &str, partner: &str, role: &str) -> Result<Vec<Event>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE tenant = ?1 AND kind = 'plugin-version'
               AND json_extract(detail, '$.partner') = ?2 AND json_extract(detail, '$.role') = ?3
             ORDER BY seq"
        ))?;
        let rows = stmt.query_map(params![tenant, partner, role], event_row)?;
        collect(rows)
    }

    fn tenants(&self) -> Result<Vec<String>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT tenant FROM chain_heads UNION SELECT DISTINCT tenant FROM events ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn purge_tenant(&self, tenant: &str) -> Result<u64> {
        // Rows that refer to messages first, messages last.
        const TABLES: [&str; 11] = [
            "mailbox",
            "tasks",
            "pulled",
            "pushes",
            "suspended",
            "kv",
            "inline_content",
            "plugin_pins",
            "events",
            "chain_heads",
            "messages",
        ];
        self.write(|tx| {
            let mut rows = 0;
            for table in TABLES {
                rows +=
                    tx.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [tenant])? as u64;
            }
            Ok(rows)
        })
    }

    fn received_bytes(&self, tenant: &str, since: Option<Timestamp>) -> Result<Vec<(String, u64)>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT partner, SUM(size) FROM (
                 SELECT partner, size FROM messages
                 WHERE tenant = ?1 AND direction = 'in' AND sha256 IS NOT NULL
                   AND state != 'failed' AND created_at >= ?2
                 UNION ALL
                 SELECT partner, size FROM suspended WHERE tenant = ?1)
             GROUP BY partner",
        )?;
        let rows = stmt.query_map(params![tenant, since.map_or(i64::MIN, |t| t.0)], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?.max(0) as u64,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn verify(&self, tenant: &str) -> Result<ChainReport> {
        let conn = self.read();
        let mut verifier = Verifier::new();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, at, kind, message, partner, detail, prev_hash, hash FROM events
             WHERE tenant = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query([tenant])?;
        while let Some(row) = rows.next()? {
            let kind: String = row.get(2)?;
            let partner: Option<String> = row.get(4)?;
            let detail: String = row.get(5)?;
            let prev_hash: String = row.get(6)?;
            let hash: String = row.get(7)?;
            let link = Link {
                tenant,
                seq: row.get(0)?,
                at: row.get(1)?,
                kind: &kind,
                message: row.get(3)?,
                partner: partner.as_deref(),
                detail: &detail,
            };
            if !verifier.feed(&link, &prev_hash, &hash) {
                break;
            }
        }
        let head: Option<(u64, String)> = conn
            .prepare_cached("SELECT seq, hash FROM chain_heads WHERE tenant = ?1")?
            .query_row([tenant], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let events = verifier.finish(head);
        Ok(ChainReport {
            tenant: tenant.to_owned(),
            events,
            head: verifier.head().to_owned(),
            problem: verifier.problem.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes from many threads at once share commits: each is durable when
    /// it returns, none is lost or applied twice, and the chain holds.
    #[test]
    fn concurrent_writes_commit_in_groups() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("journal.sqlite");
        let journal = Arc::new(SqliteJournal::open(&path).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let journal = Arc::clone(&journal);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        journal
                            .record_event(
                                "acme",
                                EventKind::ConfigReloaded,
                                json!({ "t": t, "i": i }),
                            )
                            .unwrap();
                        // A failing write in the middle of a group rolls back
                        // alone; the others in its group commit.
                        let failed = journal.write(|tx| {
                            append(
                                tx,
                                "acme",
                                EventKind::ConfigReloaded,
                                None,
                                None,
                                &json!({}),
                            )?;
                            Err::<(), _>(JournalError::Corrupt("refused on purpose".into()))
                        });
                        assert!(failed.is_err());
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(journal);
        // A fresh connection sees exactly what was acknowledged.
        let journal = SqliteJournal::open(&path).unwrap();
        let report = journal.verify("acme").unwrap();
        assert_eq!(report.events, 400);
        assert!(report.problem.is_none(), "{:?}", report.problem);
    }

    /// A write that panics leaves no trace and no group waiting for a commit.
    #[test]
    fn a_panicking_write_rolls_back_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let journal = Arc::new(SqliteJournal::open(&tmp.path().join("j.sqlite")).unwrap());
        let panicking = Arc::clone(&journal);
        let outcome = std::thread::spawn(move || {
            panicking.write(|tx| -> Result<()> {
                append(
                    tx,
                    "acme",
                    EventKind::ConfigReloaded,
                    None,
                    None,
                    &json!({}),
                )?;
                panic!("a bug in a write")
            })
        })
        .join();
        assert!(outcome.is_err());
        journal
            .record_event("acme", EventKind::ConfigReloaded, json!({ "after": true }))
            .unwrap();
        let report = journal.verify("acme").unwrap();
        assert_eq!(report.events, 1);
        assert!(report.problem.is_none());
    }
}
