//! What partners see: messages, mailbox entries (listed, found, hidden,
//! renamed), downloads, resends, inline content, and what retention may
//! remove.
//! SQLite's implementation.

use super::*;

impl Mailboxes for SqliteJournal {
    fn message(&self, tenant: &str, id: MessageId) -> Result<Message> {
        get_message(&self.read(), tenant, id)
    }

    fn list_mailbox(&self, tenant: &str, partner: &str, mailbox: Mailbox) -> Result<Vec<Entry>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT b.name, m.id, m.sha256, m.size, m.created_at FROM mailbox b
             JOIN messages m ON m.id = b.message
             WHERE b.tenant = ?1 AND b.partner = ?2 AND b.box = ?3 ORDER BY b.name",
        )?;
        let rows = stmt.query_map(params![tenant, partner, mailbox.as_str()], entry_row)?;
        collect(rows)
    }

    fn find_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<Option<Entry>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT b.name, m.id, m.sha256, m.size, m.created_at FROM mailbox b
             JOIN messages m ON m.id = b.message
             WHERE b.tenant = ?1 AND b.partner = ?2 AND b.box = ?3 AND b.name = ?4",
        )?;
        stmt.query_row(params![tenant, partner, mailbox.as_str(), name], entry_row)
            .optional()?
            .transpose()
    }

    fn hide_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            let message: Option<i64> = tx
                .prepare_cached(
                    "DELETE FROM mailbox
                         WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4
                         RETURNING message",
                )?
                .query_row(params![tenant, partner, mailbox.as_str(), name], |row| {
                    row.get(0)
                })
                .optional()?;
            let Some(message) = message else {
                return Ok(false);
            };
            append(
                tx,
                tenant,
                EventKind::Hidden,
                Some(MessageId(message)),
                Some(partner),
                &json!({ "box": mailbox.as_str(), "name": name }),
            )?;
            Ok(true)
        })
    }

    fn expire(&self, tenant: &str, before: Timestamp) -> Result<usize> {
        self.write(|tx| {
            let expired: Vec<(String, String, String, i64, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT b.partner, b.box, b.name, m.id, m.sha256 FROM mailbox b
                     JOIN messages m ON m.id = b.message
                     WHERE b.tenant = ?1 AND m.created_at < ?2
                       AND NOT EXISTS (SELECT 1 FROM tasks t
                                       WHERE t.state = 'pending' AND t.message IN (m.id, m.origin))",
                )?;
                stmt.query_map(params![tenant, before.0], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })?
                .collect::<rusqlite::Result<_>>()?
            };
            let mut hashes = Vec::new();
            for (partner, mailbox, name, message, hash) in &expired {
                tx.prepare_cached(
                    "DELETE FROM mailbox
                     WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4",
                )?
                .execute(params![tenant, partner, mailbox, name])?;
                append(
                    tx,
                    tenant,
                    EventKind::Expired,
                    Some(MessageId(*message)),
                    Some(partner),
                    &json!({ "box": mailbox, "name": name }),
                )?;
                hashes.push(hash);
            }
            if hashes.is_empty() {
                return Ok(0);
            }
            let in_use = tx
                .prepare_cached(CONTENT_IN_USE)?
                .query_map(params![tenant], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<std::collections::HashSet<_>>>()?;
            hashes.sort();
            hashes.dedup();
            for hash in hashes {
                if !in_use.contains(hash) {
                    tx.prepare_cached("DELETE FROM inline_content WHERE tenant = ?1 AND sha256 = ?2")?
                        .execute(params![tenant, hash])?;
                }
            }
            Ok(expired.len())
        })
    }

    fn content_in_use(&self, tenant: &str) -> Result<std::collections::HashSet<ContentHash>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(CONTENT_IN_USE)?;
        let hashes = stmt
            .query_map(params![tenant], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        hashes
            .iter()
            .map(|h| {
                h.parse()
                    .map_err(|e: crate::store::ParseHashError| JournalError::Corrupt(e.to_string()))
            })
            .collect()
    }

    fn sent_files(&self, tenant: &str, partner: &str) -> Result<Vec<SentRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT m.name, m.size, m.sha256, m.created_at, m.state, m.reason,
                    (SELECT GROUP_CONCAT(o.partner, ' ') FROM messages o
                     WHERE o.origin = m.id AND o.protocol = 'delivery')
             FROM messages m
             WHERE m.tenant = ?1 AND m.partner = ?2 AND m.direction = 'in'
               AND m.state NOT IN ('failed', 'pending')
             ORDER BY m.id",
        )?;
        let rows = stmt.query_map(params![tenant, partner], |row| {
            let sha256: Option<String> = row.get(2)?;
            let state: String = row.get(4)?;
            let delivered: Option<String> = row.get(6)?;
            let (name, size, at, reason) = (row.get(0)?, row.get(1)?, row.get(3)?, row.get(5)?);
            Ok((|| {
                Ok(SentRow {
                    name,
                    size,
                    sha256: sha256.map(|h| parse_hash(&h)).transpose()?,
                    received_at: Timestamp(at),
                    state: state.parse()?,
                    reason,
                    delivered_to: {
                        let mut to: Vec<String> = delivered
                            .map(|d| d.split(' ').map(str::to_owned).collect())
                            .unwrap_or_default();
                        to.sort();
                        to
                    },
                })
            })())
        })?;
        collect(rows)
    }

    fn offered_files(&self, tenant: &str, partner: &str) -> Result<Vec<OfferedRow>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(
            "SELECT m.name, m.size, m.sha256, m.created_at,
                    (SELECT MIN(e.at) FROM events e
                     WHERE e.message = m.id AND e.kind = 'downloaded')
             FROM messages m
             WHERE m.tenant = ?1 AND m.partner = ?2 AND m.direction = 'out'
             ORDER BY m.id",
        )?;
        let rows = stmt.query_map(params![tenant, partner], |row| {
            let sha256: Option<String> = row.get(2)?;
            let downloaded: Option<i64> = row.get(4)?;
            let (name, size, at) = (row.get(0)?, row.get(1)?, row.get(3)?);
            Ok((|| {
                Ok(OfferedRow {
                    name,
                    size,
                    sha256: sha256.map(|h| parse_hash(&h)).transpose()?,
                    available_at: Timestamp(at),
                    downloaded_at: downloaded.map(Timestamp),
                })
            })())
        })?;
        collect(rows)
    }

    fn resend(
        &self,
        tenant: &str,
        partner: &str,
        request: &str,
        source: &str,
    ) -> Result<Option<Entry>> {
        self.write(|tx| {
            let found: Option<(i64, String, String, u64, i64)> = tx
                .prepare_cached(
                    "SELECT id, name, sha256, size, created_at FROM messages
                     WHERE tenant = ?1 AND partner = ?2 AND direction = 'out'
                       AND sha256 IS NOT NULL AND (name = ?3 OR sha256 = ?3)
                     ORDER BY id DESC LIMIT 1",
                )?
                .query_row(params![tenant, partner, request], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .optional()?;
            let Some((id, name, hash, size, created_at)) = found else {
                return Ok(None);
            };
            rows::resent(
                &mut &*tx,
                tenant,
                partner,
                (MessageId(id), &name),
                request,
                source,
            )?;
            Ok(Some(Entry {
                name,
                message: MessageId(id),
                hash: parse_hash(&hash)?,
                size,
                created_at: Timestamp(created_at),
            }))
        })
    }

    fn inline_content(&self, tenant: &str, hash: &ContentHash) -> Result<Option<Vec<u8>>> {
        Ok(self
            .read()
            .prepare_cached("SELECT data FROM inline_content WHERE tenant = ?1 AND sha256 = ?2")?
            .query_row(params![tenant, hash.to_string()], |row| row.get(0))
            .optional()?)
    }

    fn rename_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            let message: Option<i64> = tx
                .prepare_cached(
                    "UPDATE OR REPLACE mailbox SET name = ?5
                     WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name = ?4
                     RETURNING message",
                )?
                .query_row(
                    params![tenant, partner, mailbox.as_str(), old, new],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(message) = message else {
                return Ok(false);
            };
            append(
                tx,
                tenant,
                EventKind::Renamed,
                Some(MessageId(message)),
                Some(partner),
                &json!({ "box": mailbox.as_str(), "from": old, "to": new }),
            )?;
            Ok(true)
        })
    }

    fn make_folder(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        path: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            let made = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO folders (tenant, partner, box, path)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![tenant, partner, mailbox.as_str(), path])?;
            Ok(made == 1)
        })
    }

    fn remove_folder(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        path: &str,
    ) -> Result<bool> {
        self.write(|tx| {
            let removed = tx
                .prepare_cached(
                    "DELETE FROM folders
                     WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND path = ?4",
                )?
                .execute(params![tenant, partner, mailbox.as_str(), path])?;
            Ok(removed == 1)
        })
    }

    fn folders(&self, tenant: &str, partner: &str, mailbox: Mailbox) -> Result<Vec<String>> {
        let conn = self.read();
        let mut statement = conn.prepare_cached(
            "SELECT path FROM folders WHERE tenant = ?1 AND partner = ?2 AND box = ?3
             ORDER BY path",
        )?;
        let rows = statement
            .query_map(params![tenant, partner, mailbox.as_str()], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(rows)
    }

    fn has_files_below(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        folder: &str,
    ) -> Result<bool> {
        // Names below `folder` sort from `folder/` up to, not including,
        // `folder0` (`0` follows `/`): a range of the primary key.
        let (from, to) = (format!("{folder}/"), format!("{folder}0"));
        let conn = self.read();
        let found = conn
            .prepare_cached(
                "SELECT 1 FROM mailbox
                 WHERE tenant = ?1 AND partner = ?2 AND box = ?3 AND name >= ?4 AND name < ?5
                 LIMIT 1",
            )?
            .query_row(params![tenant, partner, mailbox.as_str(), from, to], |_| {
                Ok(())
            })
            .optional()?;
        Ok(found.is_some())
    }
}
