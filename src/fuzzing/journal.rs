//! The journal reader: a real journal (files received, judged, routed,
//! delivered and acknowledged by the pipeline) is copied, edited as the
//! input says (rows of its tables changed to other values, of any type, or
//! removed), opened, and read by everything that reads it: the chain check,
//! message and event queries, mailboxes, a partner's history, tasks.
//!
//! Promises checked: reading never panics (a bad row is an error), and an
//! edited event or chain head is never reported as an intact chain.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rusqlite::types::Value;

use crate::journal::{Direction, Journal, Mailbox, MessageId, MessageQuery, SqliteJournal};
use crate::tenant::Hub;

/// The tables an input may edit, and the key that picks a row of each.
const TABLES: [(&str, &str); 6] = [
    ("events", "tenant, seq"),
    ("chain_heads", "tenant"),
    ("messages", "id"),
    ("mailbox", "tenant, partner, box, name"),
    ("tasks", "id"),
    ("kv", "tenant, partner, key"),
];

struct Fixture {
    /// A consistent copy of the journal, one file.
    base: PathBuf,
    /// Each table's columns.
    columns: Vec<Vec<String>>,
    scratch: PathBuf,
}

fn fixture() -> &'static Fixture {
    // Process-wide: the fuzz harness's fixture, made once per fuzzing process.
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = super::scratch("journal");
        let hub = Hub::open(super::fixture_config(&dir, "")).expect("the fixture's hub");
        let tenant = hub.tenant("acme").expect("the fixture's tenant");
        for (name, content) in [
            ("orders.csv", &b"id,qty\n1,5\n"[..]),
            ("stock.json", &b"{\"sku\": 7}"[..]),
            ("empty.txt", &b""[..]),
        ] {
            tenant
                .ingest("alice", name, content, "fuzz", "fuzz", |_| {})
                .expect("storing a fixture file");
        }
        hub.pipeline()
            .expect("the fixture's pipeline")
            .drain()
            .expect("running the fixture's pipeline");
        hub.journal()
            .kv_set("acme", "alice", "last", b"3")
            .expect("a kv row");
        let base = dir.join("base.sqlite");
        let conn = rusqlite::Connection::open(dir.join("data").join("journal.sqlite"))
            .expect("opening the fixture's journal");
        conn.execute("VACUUM INTO ?1", [base.display().to_string()])
            .expect("copying the fixture's journal");
        let columns = TABLES
            .iter()
            .map(|(table, _)| {
                let mut statement = conn
                    .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .unwrap();
                statement
                    .query_map([], |row| row.get(0))
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect()
            })
            .collect();
        Fixture {
            base,
            columns,
            scratch: dir.join("inputs"),
        }
    })
}

/// One edit: `[table, row, column, type, length, bytes...]`; type 0..=3
/// sets NULL, an integer, text or a blob; 4 removes the row.
fn apply(conn: &rusqlite::Connection, fixture: &Fixture, input: &mut &[u8]) -> bool {
    let Some((&[table, row, column, kind, len], rest)) = input.split_first_chunk::<5>() else {
        return false;
    };
    let len = usize::from(len).min(rest.len());
    let (bytes, rest) = rest.split_at(len);
    *input = rest;
    let t = usize::from(table) % TABLES.len();
    let (name, key) = TABLES[t];
    let columns = &fixture.columns[t];
    let pick = format!("({key}) = (SELECT {key} FROM {name} ORDER BY {key} LIMIT 1 OFFSET ?1)");
    let row = i64::from(row);
    // A refused edit (a constraint, a type) changes nothing: fine.
    let _ = if kind % 5 == 4 {
        conn.execute(&format!("DELETE FROM {name} WHERE {pick}"), [row])
    } else {
        let column = &columns[usize::from(column) % columns.len()];
        let value = match kind % 5 {
            0 => Value::Null,
            1 => {
                let mut eight = [0u8; 8];
                eight[..bytes.len().min(8)].copy_from_slice(&bytes[..bytes.len().min(8)]);
                Value::Integer(i64::from_le_bytes(eight))
            }
            2 => Value::Text(String::from_utf8_lossy(bytes).into_owned()),
            _ => Value::Blob(bytes.to_vec()),
        };
        conn.execute(
            &format!("UPDATE {name} SET {column} = ?2 WHERE {pick}"),
            rusqlite::params![row, value],
        )
    };
    true
}

/// Every row of the chain's two tables, as stored.
fn chain_rows(conn: &rusqlite::Connection) -> Vec<Vec<Value>> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT * FROM events ORDER BY tenant, seq",
        "SELECT * FROM chain_heads ORDER BY tenant",
    ] {
        let mut statement = conn.prepare(sql).unwrap();
        let width = statement.column_count();
        let mut found = statement.query([]).unwrap();
        while let Some(row) = found.next().unwrap() {
            rows.push((0..width).map(|i| row.get(i).unwrap()).collect());
        }
        rows.push(Vec::new());
    }
    rows
}

fn copy_of_base(fixture: &Fixture) -> PathBuf {
    std::fs::create_dir_all(&fixture.scratch).unwrap();
    let path = fixture.scratch.join("journal.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(&fixture.base, &path).expect("copying the base journal");
    path
}

/// Edits a copy of the journal as the input says and reads it (see the
/// module's comment).
pub fn run(mut input: &[u8]) {
    let fixture = fixture();
    let path = copy_of_base(fixture);
    let edited = {
        let conn = rusqlite::Connection::open(&path).expect("opening the copy");
        let before = chain_rows(&conn);
        let mut edits = 0;
        while edits < 16 && apply(&conn, fixture, &mut input) {
            edits += 1;
        }
        before != chain_rows(&conn)
    };
    read_all(&path, edited);
}

fn read_all(path: &Path, edited: bool) {
    // Opening may refuse the file; that is an answer too.
    let Ok(journal) = SqliteJournal::open(path) else {
        return;
    };
    let journal: Arc<dyn Journal> = Arc::new(journal);
    let mut tenants = journal.tenants().unwrap_or_default();
    if !tenants.iter().any(|t| t == "acme") {
        tenants.push("acme".into());
    }
    for tenant in &tenants {
        if let Ok(report) = journal.verify(tenant) {
            assert!(
                !(edited && tenant == "acme" && report.problem.is_none()),
                "an edited chain of {tenant} verified as intact: {report:?}"
            );
        }
        let _ = journal.messages(&MessageQuery {
            tenant: Some(tenant.clone()),
            ..MessageQuery::default()
        });
        for direction in [Direction::In, Direction::Out] {
            let _ = journal.messages(&MessageQuery {
                tenant: Some(tenant.clone()),
                direction: Some(direction),
                limit: Some(10),
                ..MessageQuery::default()
            });
        }
        for id in 1..=8 {
            let _ = journal.message(tenant, MessageId(id));
            let _ = journal.message_events(tenant, MessageId(id));
        }
        for partner in ["alice", "bob"] {
            for mailbox in [Mailbox::Inbox, Mailbox::Outbox] {
                if let Ok(entries) = journal.list_mailbox(tenant, partner, mailbox) {
                    for entry in entries.iter().take(4) {
                        let _ = journal.find_entry(tenant, partner, mailbox, &entry.name);
                    }
                }
            }
            let _ = journal.sent_files(tenant, partner);
            let _ = journal.offered_files(tenant, partner);
            let _ = journal.kv_get(tenant, partner, "last");
        }
        let _ = journal.dead_tasks(tenant);
        let _ = journal.received_bytes(tenant, None);
        let _ = journal.suspended(tenant);
    }
    let _ = journal.open_tasks();
    let _ = journal.next_due();
}
