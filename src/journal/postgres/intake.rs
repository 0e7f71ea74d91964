//! Files coming in: uploads committed, waiting for their signal,
//! suspended for a resume, failed; files pulled from partners' servers and
//! moved between them by FXP.
//! PostgreSQL's implementation.

use super::*;

impl Intake for PostgresJournal {
    fn record_received(&self, r: &Received) -> Result<MessageId> {
        // The one write every upload makes: two round trips (`batch.rs`).
        self.write_batched(
            &r.tenant,
            1,
            |batch| rows::received(batch, r),
            |tx| rows::received(tx, r),
        )
    }

    fn record_pending(&self, r: &Received) -> Result<MessageId> {
        self.write_tenant(&r.tenant, |tx| {
            // A newer upload under the same pending name replaces the older one.
            tx.execute(
                "UPDATE messages SET state = 'failed', reason = 'replaced by a newer upload'
                 WHERE tenant = $1 AND partner = $2 AND name = $3 AND state = 'pending'",
                &[&r.tenant, &r.partner, &r.name],
            )
            .map_err(db)?;
            rows::pending(tx, r)
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
        // The tenant's lock keeps a concurrent suspend of the same name from
        // slipping between the read and the write, which would lose the
        // staging name it replaced.
        self.write_tenant(tenant, |tx| {
            let old = tx
                .query_opt(
                    "SELECT staging, size FROM suspended
                     WHERE tenant = $1 AND partner = $2 AND name = $3",
                    &[&tenant, &partner, &name],
                )
                .map_err(db)?
                .map(|row| Ok::<_, JournalError>((col::<String>(&row, 0)?, col_u64(&row, 1)?)))
                .transpose()?;
            tx.execute(
                "INSERT INTO suspended (tenant, partner, name, staging, size, at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, partner, name)
                 DO UPDATE SET staging = excluded.staging, size = excluded.size,
                               at = excluded.at",
                &[
                    &tenant,
                    &partner,
                    &name,
                    &staging,
                    &(size as i64),
                    &Timestamp::now().0,
                ],
            )
            .map_err(db)?;
            Ok(old.filter(|(old, _)| old != staging))
        })
    }

    fn expire_suspended(
        &self,
        tenant: &str,
        before: Timestamp,
        keep: u32,
    ) -> Result<Vec<(String, String, u64)>> {
        self.write_tenant(tenant, |tx| {
            // Oldest beyond the newest `keep` of each partner, or too old.
            let rows = tx
                .query(
                    "DELETE FROM suspended WHERE tenant = $1 AND (at < $2 OR (partner, name) IN (
                         SELECT partner, name FROM (
                             SELECT partner, name, ROW_NUMBER() OVER (
                                 PARTITION BY partner ORDER BY at DESC, name) AS n
                             FROM suspended WHERE tenant = $1) AS ranked
                         WHERE n > $3))
                     RETURNING partner, staging, size",
                    &[&tenant, &before.0, &i64::from(keep)],
                )
                .map_err(db)?;
            rows.iter()
                .map(|row| -> Result<(String, String, u64)> {
                    Ok((col(row, 0)?, col(row, 1)?, col_u64(row, 2)?))
                })
                .collect()
        })
    }

    fn take_suspended(
        &self,
        tenant: &str,
        partner: &str,
        name: &str,
    ) -> Result<Option<(String, u64)>> {
        self.write(|tx| {
            tx.query_opt(
                "DELETE FROM suspended WHERE tenant = $1 AND partner = $2 AND name = $3
                 RETURNING staging, size",
                &[&tenant, &partner, &name],
            )
            .map_err(db)?
            .map(|row| Ok::<_, JournalError>((col::<String>(&row, 0)?, col_u64(&row, 1)?)))
            .transpose()
        })
    }

    fn suspended_size(&self, tenant: &str, partner: &str, name: &str) -> Result<Option<u64>> {
        self.read(|c| {
            c.query_opt(
                "SELECT size FROM suspended WHERE tenant = $1 AND partner = $2 AND name = $3",
                &[&tenant, &partner, &name],
            )
            .map_err(db)?
            .map(|row| col_u64(&row, 0))
            .transpose()
        })
    }

    fn suspended(&self, tenant: &str) -> Result<Vec<String>> {
        self.read(|c| {
            // In the primary key's order, as SQLite's scan of it returns them.
            c.query(
                "SELECT staging FROM suspended WHERE tenant = $1 ORDER BY partner, name",
                &[&tenant],
            )
            .map_err(db)?
            .iter()
            .map(|row| col::<String>(row, 0))
            .collect()
        })
    }

    fn find_pending(&self, tenant: &str, partner: &str, name: &str) -> Result<Option<Message>> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE tenant = $1 AND partner = $2 AND name = $3 AND state = 'pending'
             ORDER BY id DESC LIMIT 1"
        );
        self.read(|c| {
            c.query_opt(sql.as_str(), &[&tenant, &partner, &name])
                .map_err(db)?
                .map(|row| message_row(&row))
                .transpose()
        })
    }

    fn complete_pending(&self, tenant: &str, id: MessageId, name: &str) -> Result<()> {
        let message = self.message(tenant, id)?;
        self.write_tenant(tenant, |tx| {
            let changed = tx
                .execute(
                    "UPDATE messages SET state = 'received', name = $2, updated_at = $3
                     WHERE id = $1 AND state = 'pending'",
                    &[&id.0, &name, &Timestamp::now().0],
                )
                .map_err(db)?;
            if changed != 1 {
                return Err(JournalError::Corrupt(format!(
                    "message {id} is not pending"
                )));
            }
            rows::completed(tx, tenant, id, &message, name)
        })
    }

    fn fail_pending(&self, tenant: &str, id: MessageId, reason: &str) -> Result<()> {
        let message = self.message(tenant, id)?;
        self.write_tenant(tenant, |tx| {
            rows::pending_failed(tx, tenant, id, &message, reason)
        })
    }

    fn record_upload_failed(&self, f: &UploadFailed) -> Result<MessageId> {
        self.write_tenant(&f.tenant, |tx| rows::upload_failed(tx, f))
    }

    fn record_pulled(&self, received: &Received, key: &PulledKey) -> Result<MessageId> {
        self.write_batched(
            &received.tenant,
            1,
            |batch| rows::pulled(batch, received, key),
            |tx| rows::pulled(tx, received, key),
        )
    }

    fn pulled_path(&self, tenant: &str, message: MessageId) -> Result<Option<String>> {
        self.read(|c| {
            // `LIMIT 1`: SQLite takes the first row where the crate's
            // `query_opt` would refuse a second.
            c.query_opt(
                "SELECT path FROM pulled WHERE message = $2 AND tenant = $1 LIMIT 1",
                &[&tenant, &message.0],
            )
            .map_err(db)?
            .map(|row| col::<String>(&row, 0))
            .transpose()
        })
    }

    fn pulled(&self, key: &PulledKey) -> Result<Option<Pulled>> {
        self.read(|c| {
            c.query_opt(
                "SELECT message, disposed FROM pulled
                 WHERE tenant = $1 AND partner = $2 AND path = $3 AND size = $4 AND modified = $5",
                &[
                    &key.tenant,
                    &key.partner,
                    &key.path,
                    &(key.size as i64),
                    &key.modified.unwrap_or(-1),
                ],
            )
            .map_err(db)?
            .map(|row| {
                Ok::<_, JournalError>(Pulled {
                    message: MessageId(col(&row, 0)?),
                    disposed: col::<i64>(&row, 1)? != 0,
                })
            })
            .transpose()
        })
    }

    fn mark_disposed(&self, key: &PulledKey, detail: &Value) -> Result<()> {
        let message = self.pulled(key)?.map(|p| p.message);
        self.write_tenant(&key.tenant, |tx| {
            tx.execute(
                "UPDATE pulled SET disposed = 1
                 WHERE tenant = $1 AND partner = $2 AND path = $3 AND size = $4 AND modified = $5",
                &[
                    &key.tenant,
                    &key.partner,
                    &key.path,
                    &(key.size as i64),
                    &key.modified.unwrap_or(-1),
                ],
            )
            .map_err(db)?;
            append(
                tx,
                &key.tenant,
                EventKind::Disposed,
                message,
                Some(&key.partner),
                detail,
            )?;
            Ok(())
        })
    }

    fn record_fxp(&self, fxp: &FxpRecord) -> Result<MessageId> {
        self.write_tenant(&fxp.key.tenant, |tx| rows::fxp(tx, fxp))
    }
}
