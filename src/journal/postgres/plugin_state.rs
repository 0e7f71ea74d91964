//! What plugins keep: their key-value store, and the version pinned for
//! each plugin slot with its history.
//! PostgreSQL's implementation.

use super::*;

impl PluginState for PostgresJournal {
    fn kv_get(&self, tenant: &str, partner: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            c.query_opt(
                "SELECT value FROM kv WHERE tenant = $1 AND partner = $2 AND key = $3",
                &[&tenant, &partner, &key],
            )
            .map_err(db)?
            .map(|row| col::<Vec<u8>>(&row, 0))
            .transpose()
        })
    }

    fn kv_set(&self, tenant: &str, partner: &str, key: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO kv (tenant, partner, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, partner, key) DO UPDATE SET value = excluded.value",
                &[&tenant, &partner, &key, &value],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn kv_delete(&self, tenant: &str, partner: &str, key: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM kv WHERE tenant = $1 AND partner = $2 AND key = $3",
                &[&tenant, &partner, &key],
            )
            .map_err(db)?;
            Ok(())
        })
    }

    fn kv_count(&self, tenant: &str, partner: &str) -> Result<usize> {
        self.read(|c| {
            let row = c
                .query_one(
                    "SELECT COUNT(*) FROM kv WHERE tenant = $1 AND partner = $2",
                    &[&tenant, &partner],
                )
                .map_err(db)?;
            Ok(col_u64(&row, 0)? as usize)
        })
    }

    fn plugin_pin(&self, tenant: &str, partner: &str, role: &str) -> Result<Option<PluginPin>> {
        self.read(|c| {
            c.query_opt(
                "SELECT sha256, file_sha256 FROM plugin_pins
                 WHERE tenant = $1 AND partner = $2 AND role = $3",
                &[&tenant, &partner, &role],
            )
            .map_err(db)?
            .map(|row| {
                Ok::<_, JournalError>(PluginPin {
                    sha256: col(&row, 0)?,
                    file_sha256: col(&row, 1)?,
                })
            })
            .transpose()
        })
    }

    fn set_plugin_pin(
        &self,
        tenant: &str,
        partner: &str,
        role: &str,
        pin: Option<&PluginPin>,
    ) -> Result<()> {
        self.write(|tx| {
            let written = match pin {
                Some(pin) => tx.execute(
                    "INSERT INTO plugin_pins (tenant, partner, role, sha256, file_sha256)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, partner, role)
                     DO UPDATE SET sha256 = excluded.sha256, file_sha256 = excluded.file_sha256",
                    &[&tenant, &partner, &role, &pin.sha256, &pin.file_sha256],
                ),
                None => tx.execute(
                    "DELETE FROM plugin_pins WHERE tenant = $1 AND partner = $2 AND role = $3",
                    &[&tenant, &partner, &role],
                ),
            };
            written.map_err(db)?;
            Ok(())
        })
    }

    fn plugin_events(&self, tenant: &str, partner: &str, role: &str) -> Result<Vec<Event>> {
        // `::json`, not `::jsonb`: the detail is read, not kept, and json
        // accepts every text serde_json writes (jsonb refuses `\u0000`).
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE tenant = $1 AND kind = 'plugin-version'
               AND (detail::json ->> 'partner') = $2 AND (detail::json ->> 'role') = $3
             ORDER BY seq"
        );
        self.read(|c| {
            c.query(sql.as_str(), &[&tenant, &partner, &role])
                .map_err(db)?
                .iter()
                .map(event_row)
                .collect()
        })
    }
}
