//! What plugins keep: their key-value store, and the version pinned for
//! each plugin slot with its history.
//! SQLite's implementation.

use super::*;

impl PluginState for SqliteJournal {
    fn kv_get(&self, tenant: &str, partner: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT value FROM kv WHERE tenant = ?1 AND partner = ?2 AND key = ?3",
        )?;
        Ok(stmt
            .query_row(params![tenant, partner, key], |row| row.get(0))
            .optional()?)
    }

    fn kv_set(&self, tenant: &str, partner: &str, key: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO kv (tenant, partner, key, value) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(tenant, partner, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![tenant, partner, key, value])?;
            Ok(())
        })
    }

    fn kv_delete(&self, tenant: &str, partner: &str, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.prepare_cached("DELETE FROM kv WHERE tenant = ?1 AND partner = ?2 AND key = ?3")?
                .execute(params![tenant, partner, key])?;
            Ok(())
        })
    }

    fn kv_count(&self, tenant: &str, partner: &str) -> Result<usize> {
        let conn = self.read();
        let n: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM kv WHERE tenant = ?1 AND partner = ?2")?
            .query_row(params![tenant, partner], |row| row.get(0))?;
        Ok(n as usize)
    }

    fn plugin_pin(&self, tenant: &str, partner: &str, role: &str) -> Result<Option<PluginPin>> {
        let conn = self.read();
        Ok(conn
            .prepare_cached(
                "SELECT sha256, file_sha256 FROM plugin_pins
                 WHERE tenant = ?1 AND partner = ?2 AND role = ?3",
            )?
            .query_row(params![tenant, partner, role], |row| {
                Ok(PluginPin {
                    sha256: row.get(0)?,
                    file_sha256: row.get(1)?,
                })
            })
            .optional()?)
    }

    fn set_plugin_pin(
        &self,
        tenant: &str,
        partner: &str,
        role: &str,
        pin: Option<&PluginPin>,
    ) -> Result<()> {
        self.write(|tx| {
            match pin {
                Some(pin) => tx
                    .prepare_cached(
                        "INSERT INTO plugin_pins (tenant, partner, role, sha256, file_sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(tenant, partner, role)
                     DO UPDATE SET sha256 = excluded.sha256, file_sha256 = excluded.file_sha256",
                    )?
                    .execute(params![tenant, partner, role, pin.sha256, pin.file_sha256])?,
                None => tx
                    .prepare_cached(
                        "DELETE FROM plugin_pins WHERE tenant = ?1 AND partner = ?2 AND role = ?3",
                    )?
                    .execute(params![tenant, partner, role])?,
            };
            Ok(())
        })
    }

    fn plugin_events(&self, tenant: &str, partner: &str, role: &str) -> Result<Vec<Event>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE tenant = ?1 AND kind = 'plugin-version'
               AND json_extract(detail, '$.partner') = ?2 AND json_extract(detail, '$.role') = ?3
             ORDER BY seq"
        ))?;
        let rows = stmt.query_map(params![tenant, partner, role], event_row)?;
        collect(rows)
    }
}
