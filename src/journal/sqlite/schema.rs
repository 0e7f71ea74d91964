//! The journal's schema and its versions. The database records its
//! version (`PRAGMA user_version`); opening an older one migrates it
//! forward in one transaction, and a newer one is refused: a ferry that
//! does not know a table must not write beside it.

use std::path::Path;

use rusqlite::Connection;

use super::JournalError;

/// The version this ferry writes.
pub const VERSION: i64 = 3;

/// `MIGRATIONS[n]` takes a journal from version `n` to `n + 1`. Version 0
/// is every journal made before the schema had a version: its tables are
/// those of version 1, less the ones added since it was made, which
/// `CREATE ... IF NOT EXISTS` adds. Version 2 adds the folders partners
/// make in their inboxes; version 3 the Merkle tree and its checkpoints.
const MIGRATIONS: [&str; VERSION as usize] = [SCHEMA_1, FOLDERS_2, MERKLE_3];

/// Version 3: each tenant's Merkle tree over its events (`merkle.rs`: the
/// perfect subtrees by level and index), how many events it holds, and the
/// signed checkpoints of it.
const MERKLE_3: &str = r#"
CREATE TABLE merkle_nodes (
    tenant      TEXT NOT NULL,
    level       INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    hash        BLOB NOT NULL,
    PRIMARY KEY (tenant, level, idx)
) WITHOUT ROWID;
CREATE TABLE merkle_heads (
    tenant      TEXT NOT NULL PRIMARY KEY,
    size        INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE checkpoints (
    tenant      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    root        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    key_id      TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (tenant, size)
) WITHOUT ROWID;
"#;

/// Version 2: folders made in a mailbox (`mkdir`, `MKD`), by their path
/// relative to it. Folders that files are in need no row: they are seen in
/// the files' names.
const FOLDERS_2: &str = r#"
CREATE TABLE folders (
    tenant      TEXT NOT NULL,
    partner     TEXT NOT NULL,
    box         TEXT NOT NULL,
    path        TEXT NOT NULL,
    PRIMARY KEY (tenant, partner, box, path)
) WITHOUT ROWID;
"#;

/// Brings the journal behind `conn` to [`VERSION`]: a new one is created,
/// an older one migrated, in one transaction; a newer one is refused.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), JournalError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > VERSION {
        return Err(JournalError::Schema {
            path: path.display().to_string(),
            found,
            supported: VERSION,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(step)?;
        tracing::info!(path = %path.display(), from, to = from + 1, "journal schema migrated");
    }
    if found != VERSION {
        tx.pragma_update(None, "user_version", VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

/// Version 1. Tables with a natural key are `WITHOUT ROWID`: a row is then
/// one B-tree entry, not a row plus an index entry, and every page a
/// commit does not touch is a page it does not write to the WAL.
const SCHEMA_1: &str = r#"
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
