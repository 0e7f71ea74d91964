//! The hash-chained events and the questions asked of them: any event
//! recorded, messages and their events, received bytes, the chain
//! verified, a tenant's rows listed and purged.
//! SQLite's implementation.

use super::*;

impl Chain for SqliteJournal {
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
            ("created_at < ?8", query.until.is_some()),
            ("instr(name, ?9) > 0", query.name.is_some()),
            ("sha256 = ?10", query.sha256.is_some()),
            ("state = ?11", query.state.is_some()),
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
        if let Some(until) = query.until {
            values.push(("?8", rusqlite::types::Value::Integer(until.0)));
        }
        if let Some(name) = &query.name {
            values.push(("?9", text(name)));
        }
        if let Some(sha256) = &query.sha256 {
            values.push(("?10", text(sha256)));
        }
        if let Some(state) = query.state {
            values.push(("?11", text(state.as_str())));
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
