//! The PostgreSQL journal's schema and its versions. The database records
//! its version in `ferry_schema`; connecting to an older one migrates it
//! forward in one transaction, and a newer one is refused: a ferry that
//! does not know a table must not write beside it.
//!
//! The versions are PostgreSQL's own, not SQLite's: version 1 holds
//! everything SQLite's version 2 holds, the folders included.

use ::postgres::Client;

use super::{JournalError, Result, col, db};

/// The version this ferry writes.
pub(super) const VERSION: i64 = 5;

/// `MIGRATIONS[n]` takes a journal from version `n` to `n + 1`; version 0 is
/// an empty database.
const MIGRATIONS: [&str; VERSION as usize] = [SCHEMA_1, CLUSTER_2, SETTINGS_3, EXPECT_4, MERKLE_5];

/// Version 5: each tenant's Merkle tree over its events (`merkle.rs`: the
/// perfect subtrees by level and index), how many events it holds, and the
/// signed checkpoints of it.
const MERKLE_5: &str = r#"
CREATE TABLE merkle_nodes (
    tenant      TEXT COLLATE "C" NOT NULL,
    level       INTEGER NOT NULL,
    idx         BIGINT NOT NULL,
    hash        BYTEA NOT NULL,
    PRIMARY KEY (tenant, level, idx)
);
CREATE TABLE merkle_heads (
    tenant      TEXT COLLATE "C" PRIMARY KEY,
    size        BIGINT NOT NULL
);
CREATE TABLE checkpoints (
    tenant      TEXT COLLATE "C" NOT NULL,
    size        BIGINT NOT NULL,
    root        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    key_id      TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (tenant, size)
);
"#;

/// Version 4: `ferry_expect`, the check a batched write makes of what one
/// of its statements changed (`batch.rs`): the statements of a batch run
/// without the writer seeing their counts, so the server refuses the batch
/// itself, with the writer's words and SQLSTATE `FY001`.
const EXPECT_4: &str = r#"
CREATE FUNCTION ferry_expect(changed BIGINT, wanted BIGINT, problem TEXT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    IF changed <> wanted THEN
        RAISE EXCEPTION USING ERRCODE = 'FY001', MESSAGE = problem;
    END IF;
END
$$;
"#;

/// Version 3: the tenants the nodes share (`Settings`), one document per
/// tenant with its secrets sealed beside it.
const SETTINGS_3: &str = r#"
CREATE TABLE shared_tenants (
    tenant        TEXT COLLATE "C" PRIMARY KEY,
    document      TEXT NOT NULL,
    sealed_files  BYTEA NOT NULL,
    revision      BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL
);
"#;

/// Version 2: the nodes' heartbeats, the jobs one node runs at a time and
/// the secrets they share (`Cluster`). Times are milliseconds of the database's clock.
const CLUSTER_2: &str = r#"
CREATE TABLE nodes (
    name        TEXT COLLATE "C" PRIMARY KEY,
    version     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    beat_at     BIGINT NOT NULL,
    load        TEXT NOT NULL
);

CREATE TABLE job_leases (
    job         TEXT COLLATE "C" PRIMARY KEY,
    owner       TEXT NOT NULL,
    until       BIGINT NOT NULL
);

-- The nodes' shared secrets (host keys, certificate), sealed with the key
-- every node is given: never in clear here.
CREATE TABLE secrets (
    name        TEXT COLLATE "C" PRIMARY KEY,
    sealed      BYTEA NOT NULL
);
"#;

/// Any number, the same on every node: the key of the advisory lock that
/// makes nodes starting at once migrate one after the other, so that the
/// first migrates and the others find the schema done.
const MIGRATION_LOCK: i64 = 7243061;

/// Brings the database behind `client` to [`VERSION`]: a new one is
/// created, an older one migrated, in one transaction (PostgreSQL's DDL is
/// transactional); a newer one is refused. `url` is the redacted connection
/// string, for messages.
pub(super) fn migrate(client: &mut Client, url: &str) -> Result<()> {
    let mut tx = client.transaction().map_err(db)?;
    // Held until the commit or the rollback.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db)?;
    let exists: bool = col(
        &tx.query_one("SELECT to_regclass('ferry_schema') IS NOT NULL", &[])
            .map_err(db)?,
        0,
    )?;
    let found: i64 = if exists {
        col(
            &tx.query_one("SELECT COALESCE(MAX(version), 0) FROM ferry_schema", &[])
                .map_err(db)?,
            0,
        )?
    } else {
        0
    };
    if found > VERSION {
        return Err(JournalError::Schema {
            path: url.to_owned(),
            found,
            supported: VERSION,
        });
    }
    for (from, step) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.batch_execute(step).map_err(db)?;
        tracing::info!(url = %url, from, to = from + 1, "journal schema migrated");
    }
    if found != VERSION {
        tx.execute("DELETE FROM ferry_schema", &[]).map_err(db)?;
        tx.execute(
            "INSERT INTO ferry_schema (version) VALUES ($1)",
            &[&VERSION],
        )
        .map_err(db)?;
    }
    tx.commit().map_err(db)?;
    Ok(())
}

/// Version 1: SQLite's tables with PostgreSQL's types. Every integer is
/// BIGINT (ferry binds and reads `i64`); bytes are BYTEA; an event's detail
/// is TEXT, the very bytes its hash covers (jsonb would reorder its keys).
///
/// Every text a query compares by order or sorts on is `COLLATE "C"`:
/// PostgreSQL then orders it by its bytes, as SQLite's BINARY collation
/// does, whatever the database's default collation, so that listings come
/// in the same order and a range of names (`has_files_below`) is the same
/// range, and the primary keys serve those ranges.
///
/// Beyond SQLite's indexes: `mailbox_by_message` and `tasks_by_message`,
/// which the foreign keys to `messages` need for a purge not to scan both
/// tables for every message it deletes, and which `pending_deliveries` and
/// `expire` use. `tasks.lease_owner`, `lease_until` (milliseconds of the
/// database's clock) and `lease_token` hold a task's lease
/// (`TaskQueue::lease`).
const SCHEMA_1: &str = r#"
CREATE TABLE ferry_schema (
    version     BIGINT NOT NULL
);

CREATE TABLE messages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      TEXT COLLATE "C" NOT NULL,
    partner     TEXT COLLATE "C" NOT NULL,
    direction   TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT COLLATE "C",
    state       TEXT COLLATE "C" NOT NULL,
    protocol    TEXT COLLATE "C" NOT NULL,
    source      TEXT NOT NULL DEFAULT '',
    origin      BIGINT REFERENCES messages(id),
    reason      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX messages_by_partner ON messages (tenant, partner, direction, id);
CREATE INDEX messages_by_origin ON messages (origin) WHERE origin IS NOT NULL;
CREATE INDEX messages_by_hash ON messages (tenant, sha256);
-- Uploads waiting for their completion signal, by name: few, looked up on
-- every stat and every close, among all the partner's messages.
CREATE INDEX messages_pending ON messages (tenant, partner, name)
    WHERE state = 'pending';

CREATE TABLE events (
    tenant      TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    message     BIGINT,
    partner     TEXT COLLATE "C",
    detail      TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX events_by_message ON events (message);

-- A tenant's last event; its row is also the lock that a tenant's writers
-- take first (seq 0: a tenant that has written but has no event yet).
CREATE TABLE chain_heads (
    tenant      TEXT COLLATE "C" PRIMARY KEY,
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL
);

CREATE TABLE mailbox (
    tenant      TEXT COLLATE "C" NOT NULL,
    partner     TEXT COLLATE "C" NOT NULL,
    box         TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    message     BIGINT NOT NULL REFERENCES messages(id),
    PRIMARY KEY (tenant, partner, box, name)
);
CREATE INDEX mailbox_by_message ON mailbox (message);

CREATE TABLE tasks (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant      TEXT COLLATE "C" NOT NULL,
    message     BIGINT NOT NULL REFERENCES messages(id),
    step        TEXT NOT NULL,
    state       TEXT COLLATE "C" NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    last_error  TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    lease_token BIGINT
);
CREATE INDEX tasks_due ON tasks (state, next_at);
-- Each tenant's due tasks, for the pipeline to share its workers fairly.
CREATE INDEX tasks_due_by_tenant ON tasks (tenant, state, next_at);
CREATE INDEX tasks_by_message ON tasks (message);

CREATE TABLE inline_content (
    tenant      TEXT COLLATE "C" NOT NULL,
    sha256      TEXT COLLATE "C" NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (tenant, sha256)
);

CREATE TABLE kv (
    tenant      TEXT COLLATE "C" NOT NULL,
    partner     TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    value       BYTEA NOT NULL,
    PRIMARY KEY (tenant, partner, key)
);

CREATE TABLE suspended (
    tenant      TEXT COLLATE "C" NOT NULL,
    partner     TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    staging     TEXT COLLATE "C" NOT NULL,
    size        BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    PRIMARY KEY (tenant, partner, name)
);

-- Remote files a pull ingested, so that none is ingested twice; `modified`
-- is -1 when the server does not tell; `disposed` is 0 or 1.
CREATE TABLE pulled (
    tenant      TEXT COLLATE "C" NOT NULL,
    partner     TEXT COLLATE "C" NOT NULL,
    path        TEXT COLLATE "C" NOT NULL,
    size        BIGINT NOT NULL,
    modified    BIGINT NOT NULL,
    message     BIGINT NOT NULL REFERENCES messages(id),
    disposed    BIGINT NOT NULL DEFAULT 0,
    at          BIGINT NOT NULL,
    PRIMARY KEY (tenant, partner, path, size, modified)
);
CREATE INDEX pulled_by_message ON pulled (message);

-- Pushes that have started writing to a partner's server: a later attempt
-- (after a crash, too) may continue their temporary file.
CREATE TABLE pushes (
    tenant      TEXT COLLATE "C" NOT NULL,
    message     BIGINT NOT NULL,
    started_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, message)
);

CREATE TABLE plugin_pins (
    tenant      TEXT COLLATE "C" NOT NULL,
    partner     TEXT COLLATE "C" NOT NULL,
    role        TEXT COLLATE "C" NOT NULL,
    sha256      TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    PRIMARY KEY (tenant, partner, role)
);

-- Folders made in a mailbox (`mkdir`, `MKD`), by their path relative to
-- it. Folders that files are in need no row: they are seen in the files'
-- names.
CREATE TABLE folders (
    tenant      TEXT COLLATE "C" NOT NULL,
    partner     TEXT COLLATE "C" NOT NULL,
    box         TEXT COLLATE "C" NOT NULL,
    path        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, partner, box, path)
);
"#;
