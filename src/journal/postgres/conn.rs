//! A connection that prepares each statement once. The PostgreSQL crate
//! prepares a statement given as text anew at every call (a round trip to
//! parse and describe it, then one to run it) and closes it after; [`Conn`]
//! keeps what it prepared, by text, for the life of the connection, so that
//! a statement costs one round trip from its second use on. [`Tx`] is a
//! transaction on such a connection, which also remembers the tenant's
//! chain head once locked (`lock_head`), so that a write locks it once
//! however many events it appends.
//!
//! Both offer the crate's calls, with its error, under the same names:
//! code written for the crate's `Client` and `Transaction` reads the same.

use std::collections::HashMap;

use ::postgres::types::ToSql;
use ::postgres::{Client, GenericClient, Row, SimpleQueryMessage, Statement, Transaction};

use super::PgError;

/// Statements kept per connection, at most; past that the cache starts
/// over (a statement whose text is made per call, if one ever is, cannot
/// grow it without bound).
const KEPT: usize = 256;

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// A connection and the statements prepared on it.
pub(super) struct Conn {
    client: Client,
    statements: HashMap<String, Statement>,
}

/// A transaction on a [`Conn`]. Dropped without `commit`, it rolls back.
pub(super) struct Tx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
    /// The chain head this transaction locked and advanced: (tenant, seq,
    /// hash).
    pub(super) head: Option<(String, u64, String)>,
}

/// The statement for `sql`, prepared on `client` the first time.
fn prepared(
    client: &mut impl GenericClient,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, PgError> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    if statements.len() >= KEPT {
        statements.clear();
    }
    statements.insert(sql.to_owned(), statement.clone());
    Ok(statement)
}

/// The crate's calls, on statements prepared once: what [`Conn`] and [`Tx`]
/// offer alike.
pub(super) trait Cached {
    type Client: GenericClient;

    /// The client to run on, and the statements prepared on its connection.
    fn parts(&mut self) -> (&mut Self::Client, &mut HashMap<String, Statement>);

    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, PgError> {
        let (client, statements) = self.parts();
        let statement = prepared(client, statements, sql)?;
        client.query(&statement, params)
    }

    fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, PgError> {
        let (client, statements) = self.parts();
        let statement = prepared(client, statements, sql)?;
        client.query_one(&statement, params)
    }

    fn query_opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, PgError> {
        let (client, statements) = self.parts();
        let statement = prepared(client, statements, sql)?;
        client.query_opt(&statement, params)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, PgError> {
        let (client, statements) = self.parts();
        let statement = prepared(client, statements, sql)?;
        client.execute(&statement, params)
    }

    /// Statements without parameters, as one simple query.
    fn batch_execute(&mut self, sql: &str) -> Result<(), PgError> {
        self.parts().0.batch_execute(sql)
    }

    fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, PgError> {
        self.parts().0.simple_query(sql)
    }
}

impl Cached for Conn {
    type Client = Client;

    fn parts(&mut self) -> (&mut Client, &mut HashMap<String, Statement>) {
        (&mut self.client, &mut self.statements)
    }
}

impl<'a> Cached for Tx<'a> {
    type Client = Transaction<'a>;

    fn parts(&mut self) -> (&mut Transaction<'a>, &mut HashMap<String, Statement>) {
        (&mut self.tx, self.statements)
    }
}

impl Conn {
    pub(super) fn new(client: Client) -> Conn {
        Conn {
            client,
            statements: HashMap::new(),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The crate's client, for what the cache does not cover (a
    /// transaction of another isolation level, a streamed query).
    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    pub(super) fn transaction(&mut self) -> Result<Tx<'_>, PgError> {
        Ok(Tx {
            tx: self.client.transaction()?,
            statements: &mut self.statements,
            head: None,
        })
    }
}

impl Tx<'_> {
    pub(super) fn commit(self) -> Result<(), PgError> {
        self.tx.commit()
    }
}
