//! Files coming in: uploads committed, waiting for their signal,
//! suspended for a resume, failed; files pulled from partners' servers and
//! moved between them by FXP.
//! SQLite's implementation.

use super::*;

impl Intake for SqliteJournal {
    fn record_received(&self, r: &Received) -> Result<MessageId> {
        self.write(|tx| rows::received(&mut &*tx, r))
    }

    fn record_pending(&self, r: &Received) -> Result<MessageId> {
        self.write(|tx| {
            // A newer upload under the same pending name replaces the older one.
            tx.prepare_cached(
                "UPDATE messages SET state = 'failed', reason = 'replaced by a newer upload'
                 WHERE tenant = ?1 AND partner = ?2 AND name = ?3 AND state = 'pending'",
            )?
            .execute(params![r.tenant, r.partner, r.name])?;
            rows::pending(&mut &*tx, r)
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
            rows::completed(&mut &*tx, tenant, id, &message, name)
        })
    }

    fn fail_pending(&self, tenant: &str, id: MessageId, reason: &str) -> Result<()> {
        let message = self.message(tenant, id)?;
        self.write(|tx| rows::pending_failed(&mut &*tx, tenant, id, &message, reason))
    }

    fn record_upload_failed(&self, f: &UploadFailed) -> Result<MessageId> {
        self.write(|tx| rows::upload_failed(&mut &*tx, f))
    }

    fn record_pulled(&self, received: &Received, key: &PulledKey) -> Result<MessageId> {
        self.write(|tx| rows::pulled(&mut &*tx, received, key))
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
        self.write(|tx| rows::fxp(&mut &*tx, fxp))
    }
}
