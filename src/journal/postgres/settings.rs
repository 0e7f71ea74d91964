//! The tenants the nodes share: PostgreSQL's implementation of `Settings`,
//! one row per tenant whose revision moves on with each change.

use super::*;
use crate::journal::{Conflict, Settings, SharedTenant};

impl Settings for PostgresJournal {
    fn shared_tenants(&self) -> Result<Vec<SharedTenant>> {
        self.read(|c| {
            c.query(
                "SELECT tenant, document, sealed_files, revision, updated_at, updated_by
                 FROM shared_tenants ORDER BY tenant",
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|row| {
                Ok(SharedTenant {
                    tenant: col(row, 0)?,
                    document: col(row, 1)?,
                    sealed_files: col(row, 2)?,
                    revision: col_u64(row, 3)?,
                    updated_at: Timestamp(col(row, 4)?),
                    updated_by: col(row, 5)?,
                })
            })
            .collect()
        })
    }

    fn shared_revisions(&self) -> Result<Vec<(String, u64)>> {
        self.read(|c| {
            c.query(
                "SELECT tenant, revision FROM shared_tenants ORDER BY tenant",
                &[],
            )
            .map_err(db)?
            .iter()
            .map(|row| Ok((col(row, 0)?, col_u64(row, 1)?)))
            .collect()
        })
    }

    fn put_shared_tenant(
        &self,
        t: &SharedTenant,
        expected: Option<u64>,
    ) -> Result<std::result::Result<u64, Conflict>> {
        self.write(|tx| {
            // The row, locked, decides: of two nodes changing one tenant
            // from the same revision, the second finds it moved on.
            let found = tx
                .query_opt(
                    "SELECT revision FROM shared_tenants WHERE tenant = $1 FOR UPDATE",
                    &[&t.tenant],
                )
                .map_err(db)?
                .map(|row| col_u64(&row, 0))
                .transpose()?
                .unwrap_or(0);
            if let Some(expected) = expected
                && expected != found
            {
                return Ok(Err(Conflict { expected, found }));
            }
            let revision = found + 1;
            tx.execute(
                "INSERT INTO shared_tenants
                     (tenant, document, sealed_files, revision, updated_at, updated_by)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant) DO UPDATE SET document = excluded.document,
                     sealed_files = excluded.sealed_files, revision = excluded.revision,
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                &[
                    &t.tenant,
                    &t.document,
                    &t.sealed_files,
                    &(revision as i64),
                    &Timestamp::now().0,
                    &t.updated_by,
                ],
            )
            .map_err(db)?;
            Ok(Ok(revision))
        })
    }

    fn remove_shared_tenant(&self, tenant: &str) -> Result<bool> {
        let removed = self.write(|tx| {
            tx.execute("DELETE FROM shared_tenants WHERE tenant = $1", &[&tenant])
                .map_err(db)
        })?;
        Ok(removed > 0)
    }
}
