//! The hash-chained events and the questions asked of them: any event
//! recorded, messages and their events, received bytes, the chain
//! verified, a tenant's rows listed and purged.
//! PostgreSQL's implementation.

use ::postgres::fallible_iterator::FallibleIterator;

use super::*;

impl Chain for PostgresJournal {
    fn record_event(&self, tenant: &str, kind: EventKind, detail: Value) -> Result<()> {
        self.write_tenant(tenant, |tx| {
            append(tx, tenant, kind, None, None, &detail).map(|_| ())
        })
    }

    fn messages(&self, query: &MessageQuery) -> Result<Vec<Message>> {
        // Only the filters given, so that PostgreSQL plans with the indexes
        // for them (`x IS NULL OR` defeats that): a plugin's history query is
        // then a walk down `messages_by_partner`, not a scan of every message.
        let direction = query.direction.map(Direction::as_str);
        let id = query.id.map(|id| id.0);
        let since = query.since.map(|since| since.0);
        let before = query.before.map(|before| before.0);
        let until = query.until.map(|until| until.0);
        let state = query.state.map(MessageState::as_str);
        // `LIMIT NULL` is no limit, as SQLite's `LIMIT -1` is.
        let limit = query.limit.map(|limit| limit as i64);
        /// Adds `test $n` to the clause, `$n` being `value`'s parameter.
        fn filter<'a>(
            clause: &mut String,
            params: &mut Vec<&'a (dyn ToSql + Sync)>,
            test: &str,
            value: &'a (dyn ToSql + Sync),
        ) {
            params.push(value);
            clause.push_str(&format!(" AND {test} ${}", params.len()));
        }
        let mut clause = String::from("TRUE");
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(tenant) = &query.tenant {
            filter(&mut clause, &mut params, "tenant =", tenant);
        }
        if let Some(partner) = &query.partner {
            filter(&mut clause, &mut params, "partner =", partner);
        }
        if let Some(direction) = &direction {
            filter(&mut clause, &mut params, "direction =", direction);
        }
        if let Some(id) = &id {
            filter(&mut clause, &mut params, "id =", id);
        }
        if let Some(since) = &since {
            filter(&mut clause, &mut params, "created_at >=", since);
        }
        if let Some(before) = &before {
            filter(&mut clause, &mut params, "id <", before);
        }
        if let Some(until) = &until {
            filter(&mut clause, &mut params, "created_at <", until);
        }
        if let Some(name) = &query.name {
            params.push(name);
            clause.push_str(&format!(" AND strpos(name, ${}) > 0", params.len()));
        }
        if let Some(sha256) = &query.sha256 {
            filter(&mut clause, &mut params, "sha256 =", sha256);
        }
        if let Some(state) = &state {
            filter(&mut clause, &mut params, "state =", state);
        }
        params.push(&limit);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE {clause} ORDER BY id DESC LIMIT ${}",
            params.len()
        );
        self.read(|c| {
            c.query(sql.as_str(), &params)
                .map_err(db)?
                .iter()
                .map(message_row)
                .collect()
        })
    }

    fn message_events(&self, tenant: &str, id: MessageId) -> Result<Vec<Event>> {
        // The events looked up by message (`events_by_message`), the
        // message's own and those of the messages that came from it: `IN`
        // a subquery, which PostgreSQL joins, where an `OR` would make it
        // filter all of the tenant's events.
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE message IN (SELECT $2::BIGINT UNION SELECT id FROM messages WHERE origin = $2)
               AND tenant = $1
             ORDER BY seq"
        );
        self.read(|c| {
            get_message(c, tenant, id)?;
            c.query(sql.as_str(), &[&tenant, &id.0])
                .map_err(db)?
                .iter()
                .map(event_row)
                .collect()
        })
    }

    fn tenants(&self) -> Result<Vec<String>> {
        self.read(|c| {
            // A head at seq 0 is a tenant that wrote but has no event yet
            // (see `lock_head`): no tenant of the chain's.
            c.query(
                "SELECT tenant FROM chain_heads WHERE seq > 0
                 UNION SELECT DISTINCT tenant FROM events ORDER BY 1",
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|row| col::<String>(row, 0))
            .collect()
        })
    }

    fn purge_tenant(&self, tenant: &str) -> Result<u64> {
        // Rows that refer to messages first, messages last.
        const TABLES: [&str; 15] = [
            "mailbox",
            "tasks",
            "pulled",
            "pushes",
            "suspended",
            "kv",
            "inline_content",
            "plugin_pins",
            "folders",
            "merkle_nodes",
            "merkle_heads",
            "checkpoints",
            "events",
            "chain_heads",
            "messages",
        ];
        // The tenant's writers wait for the purge, and those that waited
        // find its head gone and start a new chain.
        self.write_tenant(tenant, |tx| {
            let mut rows = 0;
            for table in TABLES {
                rows += if table == "chain_heads" {
                    // A head at seq 0 is only the lock this purge took (or
                    // one of a tenant with no event): SQLite has no such row
                    // to count.
                    let row = tx
                        .query_one(
                            "WITH gone AS (DELETE FROM chain_heads WHERE tenant = $1 RETURNING seq)
                             SELECT COUNT(*) FROM gone WHERE seq > 0",
                            &[&tenant],
                        )
                        .map_err(db)?;
                    col_u64(&row, 0)?
                } else {
                    let sql = format!("DELETE FROM {table} WHERE tenant = $1");
                    tx.execute(sql.as_str(), &[&tenant]).map_err(db)?
                };
            }
            Ok(rows)
        })
    }

    fn received_bytes(&self, tenant: &str, since: Option<Timestamp>) -> Result<Vec<(String, u64)>> {
        self.read(|c| {
            // `SUM` of BIGINT is NUMERIC in PostgreSQL: cast back. Sorted by
            // partner, as SQLite's `GROUP BY` returns them.
            c.query(
                "SELECT partner, SUM(size)::BIGINT FROM (
                     SELECT partner, size FROM messages
                     WHERE tenant = $1 AND direction = 'in' AND sha256 IS NOT NULL
                       AND state <> 'failed' AND created_at >= $2
                     UNION ALL
                     SELECT partner, size FROM suspended WHERE tenant = $1) AS counted
                 GROUP BY partner ORDER BY partner",
                &[&tenant, &since.map_or(i64::MIN, |t| t.0)],
            )
            .map_err(db)?
            .iter()
            .map(|row| -> Result<(String, u64)> {
                Ok((col(row, 0)?, col::<i64>(row, 1)?.max(0) as u64))
            })
            .collect()
        })
    }

    fn verify(&self, tenant: &str) -> Result<ChainReport> {
        self.read(|c| {
            // One snapshot for the events and the head: a write committed
            // between two reads would look like a removed tail.
            let mut tx = c
                .client()
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(db)?;
            let mut verifier = Verifier::new();
            {
                // Streamed, not collected: a tenant's chain may be long.
                let mut rows = tx
                    .query_raw(
                        "SELECT seq, at, kind, message, partner, detail, prev_hash, hash
                         FROM events WHERE tenant = $1 ORDER BY seq",
                        [tenant],
                    )
                    .map_err(db)?;
                while let Some(row) = rows.next().map_err(db)? {
                    let kind: String = col(&row, 2)?;
                    let partner: Option<String> = col(&row, 4)?;
                    let detail: String = col(&row, 5)?;
                    let prev_hash: String = col(&row, 6)?;
                    let hash: String = col(&row, 7)?;
                    let link = Link {
                        tenant,
                        seq: col_u64(&row, 0)?,
                        at: col(&row, 1)?,
                        kind: &kind,
                        message: col(&row, 3)?,
                        partner: partner.as_deref(),
                        detail: &detail,
                    };
                    if !verifier.feed(&link, &prev_hash, &hash) {
                        break;
                    }
                }
            }
            // A head at seq 0 stands for no event (see `lock_head`): SQLite
            // has no head for such a tenant.
            let head = tx
                .query_opt(
                    "SELECT seq, hash FROM chain_heads WHERE tenant = $1 AND seq > 0",
                    &[&tenant],
                )
                .map_err(db)?
                .map(|row| Ok::<_, JournalError>((col_u64(&row, 0)?, col::<String>(&row, 1)?)))
                .transpose()?;
            tx.commit().map_err(db)?;
            let events = verifier.finish(head);
            Ok(ChainReport {
                tenant: tenant.to_owned(),
                events,
                head: verifier.head().to_owned(),
                problem: verifier.problem.clone(),
            })
        })
    }
}
