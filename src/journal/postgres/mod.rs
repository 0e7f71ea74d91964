//! The shared journal: one PostgreSQL database that several ferry nodes
//! write to. Every trait method behaves as the SQLite journal's does (one
//! conformance suite runs against both); what differs is how writers are
//! kept apart.
//!
//! Each write is one transaction at PostgreSQL's default isolation (READ
//! COMMITTED) that first locks its tenant's chain head (`SELECT ... FOR
//! UPDATE`). A tenant's writers, on every node, then run one after the
//! other as SQLite's single writer does: each sees everything the one
//! before it committed, and the chain never forks. Writers of different
//! tenants do not wait for each other. Taking the head before any other
//! row also keeps the locks of a tenant's writers in one order, so that
//! they do not deadlock; a serialization failure or a deadlock that still
//! happens is retried.

mod batch;
mod cluster;
mod conn;
mod events;
mod intake;
mod mailboxes;
mod plugin_state;
mod proofs;
mod schema;
mod settings;
mod tasks;

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::types::{FromSql, ToSql};
use ::postgres::{IsolationLevel, NoTls, Row};
use conn::{Cached, Conn, Tx};
use serde_json::{Value, json};

use super::chain::{self, Link, Verifier};
use super::rows::{self, Rows};
use super::*;
use crate::blocking::off_the_runtime;

/// The PostgreSQL crate's error. Spelled with a leading `::` everywhere:
/// inside `journal`, `postgres` also names this module.
type PgError = ::postgres::Error;

/// Idle connections kept for the next operation; more are opened when
/// more operations run at once, and closed when they finish.
const MAX_IDLE: usize = 16;

/// How long opening a connection may take, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a write is tried when PostgreSQL asks for a retry (a
/// serialization failure, a deadlock) or its connection was lost before
/// the transaction began.
const ATTEMPTS: u32 = 5;

/// The hashes of tenant `$1` that retention must keep (see
/// `Journal::content_in_use`): one query, so that `expire` and the store's
/// sweep agree on it.
const CONTENT_IN_USE: &str = "SELECT m.sha256 FROM mailbox b JOIN messages m ON m.id = b.message
     WHERE b.tenant = $1
     UNION SELECT sha256 FROM messages WHERE tenant = $1 AND state = 'pending'
     UNION SELECT m.sha256 FROM tasks t JOIN messages m ON m.id = t.message
     WHERE t.tenant = $1 AND t.state IN ('pending', 'dead')";

/// The PostgreSQL journal: a pool of connections to one database, each
/// operation on one connection of its own.
pub struct PostgresJournal {
    /// The connection string with its password replaced by `***`: what
    /// errors and logs show.
    url_for_messages: String,
    /// Idle connections, at most [`MAX_IDLE`].
    pool: Mutex<Vec<Conn>>,
    config: ::postgres::Config,
}

/// A connection taken from the pool, given back when dropped unless it
/// was lost.
struct PooledClient<'a> {
    /// `None` only while it is being given back.
    client: Option<Conn>,
    pool: &'a Mutex<Vec<Conn>>,
}

impl Deref for PooledClient<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.client
            .as_ref()
            .expect("a pooled client is taken only when dropped")
    }
}

impl DerefMut for PooledClient<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.client
            .as_mut()
            .expect("a pooled client is taken only when dropped")
    }
}

impl Drop for PooledClient<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        // A lost connection is of no use to the next operation.
        if client.is_closed() {
            return;
        }
        let spare = {
            let mut idle = lock(self.pool);
            if idle.len() < MAX_IDLE {
                idle.push(client);
                None
            } else {
                Some(client)
            }
        };
        // Closing a connection beyond what the pool keeps talks to the
        // server: not while holding the pool's lock.
        drop(spare);
    }
}

/// Why one try of a write failed.
enum Failure {
    /// The transaction could not begin: nothing was written, so trying
    /// again on another connection is safe.
    Begin(JournalError),
    /// Anything later, the commit included.
    Write(JournalError),
}

impl PostgresJournal {
    /// Connects to the database at `url` (`postgres://user:password@host/db`
    /// or `host=... user=...`) and brings its schema to this ferry's version.
    pub fn connect(url: &str) -> Result<PostgresJournal> {
        off_the_runtime(|| Self::connect_here(url))
    }

    fn connect_here(url: &str) -> Result<PostgresJournal> {
        let url_for_messages = redact(url);
        let open_error = |e: PgError| JournalError::Open {
            path: url_for_messages.clone(),
            source: Box::new(e),
        };
        let mut config: ::postgres::Config = url.parse().map_err(open_error)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let mut client = config.connect(NoTls).map_err(open_error)?;
        schema::migrate(&mut client, &url_for_messages)?;
        Ok(PostgresJournal {
            url_for_messages,
            pool: Mutex::new(vec![Conn::new(client)]),
            config,
        })
    }

    /// A connection: an idle one from the pool, or a new one.
    fn client(&self) -> Result<PooledClient<'_>> {
        let idle = {
            let mut idle = lock(&self.pool);
            let mut found = None;
            while let Some(client) = idle.pop() {
                if !client.is_closed() {
                    found = Some(client);
                    break;
                }
            }
            found
        };
        let client = match idle {
            Some(client) => client,
            None => Conn::new(self.config.connect(NoTls).map_err(|e| JournalError::Open {
                path: self.url_for_messages.clone(),
                source: Box::new(e),
            })?),
        };
        Ok(PooledClient {
            client: Some(client),
            pool: &self.pool,
        })
    }

    /// Forgets the idle connections: when one turned out lost (the server
    /// restarted, say), the others waiting beside it are likely lost too.
    fn forget_idle(&self) {
        let idle = std::mem::take(&mut *lock(&self.pool));
        drop(idle);
    }

    /// Runs `f`, a read, on a connection. A read that failed because its
    /// connection was lost while idle is tried once more on a new one:
    /// reading twice changes nothing.
    fn read<T>(&self, f: impl FnMut(&mut Conn) -> Result<T>) -> Result<T> {
        off_the_runtime(|| self.read_here(f))
    }

    fn read_here<T>(&self, mut f: impl FnMut(&mut Conn) -> Result<T>) -> Result<T> {
        let mut client = self.client()?;
        match f(&mut client) {
            Err(_) if client.is_closed() => {
                drop(client);
                self.forget_idle();
                let mut client = self.client()?;
                f(&mut client)
            }
            outcome => outcome,
        }
    }

    /// Runs `f` as one transaction and returns once it is committed. When
    /// PostgreSQL asks for a retry (serialization failure, deadlock), the
    /// transaction is rolled back and `f` runs again on a fresh one, which
    /// is why it is `FnMut`: it must do the same writes each time.
    fn write<T>(&self, f: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        off_the_runtime(|| self.write_here(f))
    }

    fn write_here<T>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.retrying(|| self.attempt(&mut f))
    }

    /// `write`, with the tenant's chain head locked first: the tenant's
    /// other writers wait for this one (see the module's comment).
    fn write_tenant<T>(
        &self,
        tenant: &str,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write(|tx| {
            lock_head(tx, tenant)?;
            f(tx)
        })
    }

    /// One try of a write: begin, run `f`, commit. Dropping the
    /// transaction without a commit rolls it back.
    fn attempt<T>(&self, f: &mut impl FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T, Failure> {
        let mut client = self.client().map_err(Failure::Write)?;
        let mut tx = match client.transaction() {
            Ok(tx) => tx,
            Err(e) => return Err(Failure::Begin(db(e))),
        };
        let value = f(&mut tx).map_err(Failure::Write)?;
        tx.commit().map_err(|e| Failure::Write(db(e)))?;
        Ok(value)
    }
}

impl Drop for PostgresJournal {
    /// Each idle connection owns a small runtime, which tokio refuses to
    /// drop on a thread that drives async tasks (`ferry serve` drops the
    /// journal at the end of its async main): they are closed where
    /// blocking is allowed.
    fn drop(&mut self) {
        let idle = std::mem::take(&mut *lock(&self.pool));
        off_the_runtime(move || drop(idle));
    }
}

/// Whether PostgreSQL asks for the transaction to be tried again.
fn retryable(error: &JournalError) -> bool {
    let JournalError::Db(source) = error else {
        return false;
    };
    match source.downcast_ref::<PgError>().and_then(PgError::code) {
        Some(code) => {
            *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        }
        None => false,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The pool holds only idle connections, whole whatever panicked while
    // it was locked, so the poison carries no meaning.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The backend's error as the journal's. Not a `From` impl: the SQLite
/// backend's `From<rusqlite::Error>` lives beside it and each backend keeps
/// to its own.
fn db(e: PgError) -> JournalError {
    JournalError::Db(Box::new(e))
}

/// Column `idx` of `row`, or the journal's error instead of the crate's
/// panic when it is of another type or NULL.
fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> Result<T> {
    row.try_get(idx).map_err(db)
}

/// A BIGINT column that holds a size or a count.
fn col_u64(row: &Row, idx: usize) -> Result<u64> {
    let value: i64 = col(row, idx)?;
    u64::try_from(value)
        .map_err(|_| JournalError::Corrupt(format!("{value} where a size or count belongs")))
}

/// A BIGINT column that holds a number of attempts.
fn col_u32(row: &Row, idx: usize) -> Result<u32> {
    let value: i64 = col(row, idx)?;
    u32::try_from(value)
        .map_err(|_| JournalError::Corrupt(format!("{value} where a count of attempts belongs")))
}

/// Locks the tenant's chain head for the rest of the transaction and
/// returns it: the last seq and hash, or 0 and the genesis hash when the
/// tenant has no event yet. A tenant's first writer makes its head row
/// (seq 0) so that there is a row to lock; two first writers racing meet
/// on its primary key, and the second then locks the first one's row.
fn lock_head(tx: &mut Tx<'_>, tenant: &str) -> Result<(u64, String)> {
    // Locked already by this transaction: the head as it left it.
    if let Some((locked, seq, hash)) = &tx.head
        && locked == tenant
    {
        return Ok((*seq, hash.clone()));
    }
    let head = lock_head_now(tx, tenant)?;
    tx.head = Some((tenant.to_owned(), head.0, head.1.clone()));
    Ok(head)
}

fn lock_head_now(tx: &mut Tx<'_>, tenant: &str) -> Result<(u64, String)> {
    const LOCK: &str = "SELECT seq, hash FROM chain_heads WHERE tenant = $1 FOR UPDATE";
    if let Some(row) = tx.query_opt(LOCK, &[&tenant]).map_err(db)? {
        return Ok((col_u64(&row, 0)?, col(&row, 1)?));
    }
    tx.execute(
        "INSERT INTO chain_heads (tenant, seq, hash) VALUES ($1, 0, $2)
         ON CONFLICT (tenant) DO NOTHING",
        &[&tenant, &chain::GENESIS],
    )
    .map_err(db)?;
    let row = tx.query_one(LOCK, &[&tenant]).map_err(db)?;
    Ok((col_u64(&row, 0)?, col(&row, 1)?))
}

/// An event as stored: its time, its detail's text and its hash.
pub(super) struct Chained {
    pub(super) at: i64,
    pub(super) detail: String,
    pub(super) hash: String,
}

/// Event `seq` of `tenant`, after the event whose hash is `prev`, made now.
/// The text hashed is the text stored (TEXT, not jsonb, which would reorder
/// the keys and break the hash).
pub(super) fn chained(
    prev: &str,
    tenant: &str,
    seq: u64,
    kind: EventKind,
    message: Option<MessageId>,
    partner: Option<&str>,
    detail: &Value,
) -> Chained {
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
    let hash = chain::hash(prev, &link);
    Chained { at, detail, hash }
}

/// Appends one event to its tenant's chain inside `tx`.
fn append(
    tx: &mut Tx<'_>,
    tenant: &str,
    kind: EventKind,
    message: Option<MessageId>,
    partner: Option<&str>,
    detail: &Value,
) -> Result<u64> {
    // The head stays locked until the commit: no other writer, on any
    // node, can append after the same event.
    let (last, prev) = lock_head(tx, tenant)?;
    let seq = last + 1;
    let Chained { at, detail, hash } = chained(&prev, tenant, seq, kind, message, partner, detail);
    // The event and the new head in one statement: one round trip.
    tx.execute(
        "WITH event AS (
             INSERT INTO events (tenant, seq, at, kind, message, partner, detail, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9))
         UPDATE chain_heads SET seq = $2, hash = $9 WHERE tenant = $1",
        &[
            &tenant,
            &(seq as i64),
            &at,
            &kind.as_str(),
            &message.map(|m| m.0),
            &partner,
            &detail,
            &prev,
            &hash,
        ],
    )
    .map_err(db)?;
    tx.head = Some((tenant.to_owned(), seq, hash));
    Ok(seq)
}

fn insert_message(tx: &mut Tx<'_>, m: &NewMessage<'_>) -> Result<MessageId> {
    let now = Timestamp::now().0;
    let hash = m.hash.map(|h| h.to_string());
    let row = tx
        .query_one(
            "INSERT INTO messages (tenant, partner, direction, name, size, sha256, state, protocol,
                                   source, origin, reason, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
             RETURNING id",
            &[
                &m.tenant,
                &m.partner,
                &m.direction.as_str(),
                &m.name,
                &(m.size as i64),
                &hash,
                &m.state.as_str(),
                &m.protocol,
                &m.source,
                &m.origin.map(|o| o.0),
                &m.reason,
                &now,
            ],
        )
        .map_err(db)?;
    Ok(MessageId(col(&row, 0)?))
}

/// The row writes the shared compositions (`rows.rs`) are made of.
impl Rows for Tx<'_> {
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

fn insert_pulled(tx: &mut Tx<'_>, key: &PulledKey, message: MessageId) -> Result<()> {
    tx.execute(
        "INSERT INTO pulled (tenant, partner, path, size, modified, message, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &key.tenant,
            &key.partner,
            &key.path,
            &(key.size as i64),
            &key.modified.unwrap_or(-1),
            &message.0,
            &Timestamp::now().0,
        ],
    )
    .map_err(db)?;
    Ok(())
}

fn parse_hash(text: &str) -> Result<ContentHash> {
    text.parse()
        .map_err(|e: crate::store::ParseHashError| JournalError::Corrupt(e.to_string()))
}

/// Stores an upload's inline content, once per tenant and hash.
fn keep_inline(tx: &mut Tx<'_>, r: &Received) -> Result<()> {
    if let Some(bytes) = &r.inline {
        tx.execute(
            "INSERT INTO inline_content (tenant, sha256, data) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&r.tenant, &r.hash.to_string(), bytes],
        )
        .map_err(db)?;
    }
    Ok(())
}

fn set_state(
    tx: &mut Tx<'_>,
    id: MessageId,
    state: MessageState,
    reason: Option<&str>,
) -> Result<()> {
    tx.execute(
        "UPDATE messages SET state = $2, reason = COALESCE($3, reason), updated_at = $4
         WHERE id = $1",
        &[&id.0, &state.as_str(), &reason, &Timestamp::now().0],
    )
    .map_err(db)?;
    Ok(())
}

/// Makes `message` the visible file `name` in a mailbox, replacing an older one of that name.
fn place(
    tx: &mut Tx<'_>,
    tenant: &str,
    partner: &str,
    mailbox: Mailbox,
    name: &str,
    message: MessageId,
) -> Result<()> {
    tx.execute(
        "INSERT INTO mailbox (tenant, partner, box, name, message) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant, partner, box, name) DO UPDATE SET message = excluded.message",
        &[&tenant, &partner, &mailbox.as_str(), &name, &message.0],
    )
    .map_err(db)?;
    Ok(())
}

/// Renames a visible file of a mailbox as SQLite's `UPDATE OR REPLACE`
/// does: a file that already has the new name gives way, but only when
/// there is a file to rename. Returns the renamed file's message.
fn rename(
    tx: &mut impl Cached,
    tenant: &str,
    partner: &str,
    mailbox: Mailbox,
    old: &str,
    new: &str,
) -> Result<Option<MessageId>> {
    if old != new {
        tx.execute(
            "DELETE FROM mailbox
             WHERE tenant = $1 AND partner = $2 AND box = $3 AND name = $5
               AND EXISTS (SELECT 1 FROM mailbox
                           WHERE tenant = $1 AND partner = $2 AND box = $3 AND name = $4)",
            &[&tenant, &partner, &mailbox.as_str(), &old, &new],
        )
        .map_err(db)?;
    }
    let moved = tx
        .query_opt(
            "UPDATE mailbox SET name = $5
             WHERE tenant = $1 AND partner = $2 AND box = $3 AND name = $4
             RETURNING message",
            &[&tenant, &partner, &mailbox.as_str(), &old, &new],
        )
        .map_err(db)?;
    moved.map(|row| col(&row, 0).map(MessageId)).transpose()
}

fn queue(tx: &mut Tx<'_>, tenant: &str, message: MessageId, step: &Step) -> Result<()> {
    let step = serde_json::to_string(step).map_err(|e| JournalError::Corrupt(e.to_string()))?;
    tx.execute(
        "INSERT INTO tasks (tenant, message, step, state, next_at)
         VALUES ($1, $2, $3, 'pending', $4)",
        &[&tenant, &message.0, &step, &Timestamp::now().0],
    )
    .map_err(db)?;
    // Delivered to every listening node when the transaction commits, once
    // however many tasks it queued (PostgreSQL folds equal notifications).
    tx.batch_execute(&format!("NOTIFY {WORK_CHANNEL}"))
        .map_err(db)?;
    Ok(())
}

/// The channel nodes `LISTEN` on for queued tasks.
pub(super) const WORK_CHANNEL: &str = "ferry_tasks";

impl PostgresJournal {
    /// Listens on `channel` on a connection of its own, on a thread of its
    /// own, for as long as the process runs, calling `heard` with each
    /// notification's payload; reconnects when the connection is lost, and
    /// calls `heard("")` after each (re)connection, since what was notified
    /// meanwhile is lost.
    pub(super) fn listen(&self, channel: &'static str, heard: Box<dyn Fn(&str) + Send + Sync>) {
        let config = self.config.clone();
        let url = self.url_for_messages.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("listen-{channel}"))
            .spawn(move || {
                use ::postgres::fallible_iterator::FallibleIterator as _;
                loop {
                    let listening = config.connect(NoTls).and_then(|mut client| {
                        client.batch_execute(&format!("LISTEN {channel}"))?;
                        heard("");
                        loop {
                            let next = client.notifications().timeout_iter(LISTEN_TICK).next();
                            match next {
                                Ok(Some(notification)) => heard(notification.payload()),
                                Ok(None) if client.is_closed() => return Ok(()),
                                Ok(None) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    });
                    if let Err(e) = listening {
                        tracing::warn!(journal = %url, channel, error = %crate::error_chain(&e),
                            "not listening; polling until reconnected");
                    }
                    std::thread::sleep(LISTEN_TICK);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(channel, error = %e, "cannot listen; polling only");
        }
    }
}

/// How long the listener waits for a notification before it looks at its
/// connection, and before it reconnects one that was lost.
const LISTEN_TICK: Duration = Duration::from_secs(1);

fn message_row(row: &Row) -> Result<Message> {
    let hash: Option<String> = col(row, 6)?;
    let direction: String = col(row, 3)?;
    let state: String = col(row, 7)?;
    Ok(Message {
        id: MessageId(col(row, 0)?),
        tenant: col(row, 1)?,
        partner: col(row, 2)?,
        direction: direction.parse()?,
        name: col(row, 4)?,
        size: col_u64(row, 5)?,
        hash: hash.map(|h| parse_hash(&h)).transpose()?,
        state: state.parse()?,
        protocol: col(row, 8)?,
        origin: col::<Option<i64>>(row, 9)?.map(MessageId),
        reason: col(row, 10)?,
        created_at: Timestamp(col(row, 11)?),
        source: col(row, 12)?,
    })
}

const MESSAGE_COLUMNS: &str = "id, tenant, partner, direction, name, size, sha256, state, protocol, origin, reason, created_at, source";

fn get_message(c: &mut Conn, tenant: &str, id: MessageId) -> Result<Message> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND tenant = $2");
    let row = c
        .query_opt(sql.as_str(), &[&id.0, &tenant])
        .map_err(db)?
        .ok_or(JournalError::NoMessage(id))?;
    message_row(&row)
}

fn entry_row(row: &Row) -> Result<Entry> {
    let hash: String = col(row, 2)?;
    Ok(Entry {
        name: col(row, 0)?,
        message: MessageId(col(row, 1)?),
        hash: parse_hash(&hash)?,
        size: col_u64(row, 3)?,
        created_at: Timestamp(col(row, 4)?),
    })
}

const EVENT_COLUMNS: &str = "tenant, seq, at, kind, message, partner, detail, prev_hash, hash";

fn event_row(row: &Row) -> Result<Event> {
    let kind: String = col(row, 3)?;
    let detail: String = col(row, 6)?;
    Ok(Event {
        tenant: col(row, 0)?,
        seq: col_u64(row, 1)?,
        at: Timestamp(col(row, 2)?),
        kind: kind.parse()?,
        message: col::<Option<i64>>(row, 4)?.map(MessageId),
        partner: col(row, 5)?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| JournalError::Corrupt(format!("event detail: {e}")))?,
        prev_hash: col(row, 7)?,
        hash: col(row, 8)?,
    })
}

/// Applies a decision's key-value writes, in the decision's transaction.
fn apply_kv(tx: &mut Tx<'_>, tenant: &str, writes: &[KvWrite]) -> Result<()> {
    for write in writes {
        let written = match &write.value {
            Some(value) => tx.execute(
                "INSERT INTO kv (tenant, partner, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, partner, key) DO UPDATE SET value = excluded.value",
                &[&tenant, &write.partner, &write.key, value],
            ),
            None => tx.execute(
                "DELETE FROM kv WHERE tenant = $1 AND partner = $2 AND key = $3",
                &[&tenant, &write.partner, &write.key],
            ),
        };
        written.map_err(db)?;
    }
    Ok(())
}

fn step_json(text: &str) -> Result<Step> {
    serde_json::from_str(text)
        .map_err(|e| JournalError::Corrupt(format!("task step `{text}`: {e}")))
}

/// The connection string with its password, if it names one, replaced by
/// `***`: errors and logs show it.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => redact_url(scheme, rest),
        None => redact_key_values(url),
    }
}

/// `scheme://user:password@host:port/db?password=...&...`.
fn redact_url(scheme: &str, rest: &str) -> String {
    // The query string starts at the first `?`; the credentials end at the
    // last `@` before it, so that an unescaped `@` in a password is hidden
    // too.
    let query_at = rest.find('?').unwrap_or(rest.len());
    let (before_query, query) = rest.split_at(query_at);
    let before_query = match before_query.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => before_query.to_owned(),
        },
        None => before_query.to_owned(),
    };
    let query = match query.strip_prefix('?') {
        Some(pairs) => {
            let pairs: Vec<String> = pairs
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("password", _)) => "password=***".to_owned(),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("?{}", pairs.join("&"))
        }
        None => String::new(),
    };
    format!("{scheme}://{before_query}{query}")
}

/// `host=... user=... password='...'`: values are quoted with `'` or run to
/// the next whitespace, `\` escaping the character after it, as libpq reads
/// them.
fn redact_key_values(conninfo: &str) -> String {
    let bytes = conninfo.as_bytes();
    let len = bytes.len();
    // Every delimiter is ASCII, so stopping at one is stopping at a
    // character boundary; inside a value, whole characters are skipped.
    let next_char = |i: usize| i + conninfo[i..].chars().next().map_or(1, char::len_utf8);
    let mut out = String::with_capacity(len);
    let mut i = 0;
    while i < len {
        let start = i;
        while i < len && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key_start = i;
        while i < len && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = &conninfo[key_start..i];
        while i < len && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < len && bytes[i] == b'=' {
            i += 1;
        }
        while i < len && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        out.push_str(&conninfo[start..i]);
        let value_start = i;
        if i < len && bytes[i] == b'\'' {
            i += 1;
            while i < len && bytes[i] != b'\'' {
                if bytes[i] == b'\\' {
                    i += 1;
                    if i >= len {
                        break;
                    }
                }
                i = next_char(i);
            }
            if i < len {
                // The closing quote.
                i += 1;
            }
        } else {
            while i < len && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' {
                    i += 1;
                    if i >= len {
                        break;
                    }
                }
                i = next_char(i);
            }
        }
        if key == "password" {
            out.push_str("***");
        } else {
            out.push_str(&conninfo[value_start..i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            (
                "postgres://ferry:s3cret@db.example:5432/ferry?sslmode=disable",
                "postgres://ferry:***@db.example:5432/ferry?sslmode=disable",
            ),
            (
                "postgresql://ferry:p@ss@db/ferry",
                "postgresql://ferry:***@db/ferry",
            ),
            (
                "postgresql://ferry@db/ferry?password=s3cret&application_name=ferry",
                "postgresql://ferry@db/ferry?password=***&application_name=ferry",
            ),
            ("postgres://db/ferry", "postgres://db/ferry"),
            (
                "host=db user=ferry password='s3 cr\\'et' dbname=ferry",
                "host=db user=ferry password=*** dbname=ferry",
            ),
            (
                "host=db password = s3cret dbname=ferry",
                "host=db password = *** dbname=ferry",
            ),
            (
                "host=db user=fé dbname=ferry",
                "host=db user=fé dbname=ferry",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }
}
