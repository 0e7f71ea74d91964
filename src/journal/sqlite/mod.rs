//! The embedded journal: one SQLite file in WAL mode with `synchronous=FULL`,
//! so a committed transaction survives a power cut.

mod cluster;
mod events;
mod intake;
mod mailboxes;
mod plugin_state;
mod proofs;
mod schema;
mod tasks;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use std::sync::Arc;
use std::sync::Condvar;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use super::chain::{self, Link, Verifier};
use super::rows::{self, Rows};
use super::*;

/// The hashes of tenant `?1` that retention must keep (see
/// `Journal::content_in_use`): one query, so that `expire` and the store's
/// sweep agree on it.
const CONTENT_IN_USE: &str = "SELECT m.sha256 FROM mailbox b JOIN messages m ON m.id = b.message
     WHERE b.tenant = ?1
     UNION SELECT sha256 FROM messages WHERE tenant = ?1 AND state = 'pending'
     UNION SELECT m.sha256 FROM tasks t JOIN messages m ON m.id = t.message
     WHERE t.tenant = ?1 AND t.state IN ('pending', 'dead')";

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
    /// Task leases, by task id. In memory: an embedded journal has one
    /// process (the data directory's pipeline lock sees to it), so a lease
    /// need not outlive it, and writing each one would cost a sync.
    leases: Mutex<std::collections::HashMap<i64, Lease>>,
    /// Heartbeats and job leases, in memory for the same reason: the one
    /// process is the whole cluster.
    cluster: Mutex<cluster::Members>,
}

/// A lease on a task (see `TaskQueue::lease`).
struct Lease {
    owner: String,
    until: std::time::Instant,
    token: i64,
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
            let conn = Connection::open(path).map_err(|e| JournalError::Open {
                path: path.display().to_string(),
                source: Box::new(e),
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
        let mut writer = open(path)?;
        schema::migrate(&mut writer, path)?;
        let reader = open(path)?;
        Ok(SqliteJournal {
            writer: Mutex::new(Writer {
                conn: writer,
                group: None,
            }),
            reader: Mutex::new(reader),
            queued: AtomicUsize::new(0),
            leases: Mutex::default(),
            cluster: Mutex::default(),
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

/// The row writes the shared compositions (`rows.rs`) are made of.
impl Rows for &Connection {
    fn append(
        &mut self,
        tenant: &str,
        kind: EventKind,
        message: Option<MessageId>,
        partner: Option<&str>,
        detail: &Value,
    ) -> Result<u64> {
        append(self, tenant, kind, message, partner, detail)
    }

    fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<MessageId> {
        insert_message(self, m)
    }

    fn keep_inline(&mut self, r: &Received) -> Result<()> {
        keep_inline(self, r)
    }

    fn place(
        &mut self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
        message: MessageId,
    ) -> Result<()> {
        place(self, tenant, partner, mailbox, name, message)
    }

    fn queue(&mut self, tenant: &str, message: MessageId, step: &Step) -> Result<()> {
        queue(self, tenant, message, step)
    }

    fn set_state(
        &mut self,
        id: MessageId,
        state: MessageState,
        reason: Option<&str>,
    ) -> Result<()> {
        set_state(self, id, state, reason)
    }

    fn insert_pulled(&mut self, key: &PulledKey, message: MessageId) -> Result<()> {
        insert_pulled(self, key, message)
    }
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

fn collect<T>(rows: impl Iterator<Item = rusqlite::Result<Result<T>>>) -> Result<Vec<T>> {
    rows.map(|row| row?).collect()
}

fn step_json(text: &str) -> Result<Step> {
    serde_json::from_str(text)
        .map_err(|e| JournalError::Corrupt(format!("task step `{text}`: {e}")))
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> JournalError {
        JournalError::Db(Box::new(e))
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
