//! What partners see: messages, mailbox entries (listed, found, hidden,
//! renamed), downloads, resends, inline content, and what retention may
//! remove.
//! PostgreSQL's implementation.

use super::*;

impl Mailboxes for PostgresJournal {
    fn message(&self, tenant: &str, id: MessageId) -> Result<Message> {
        self.read(|c| get_message(c, tenant, id))
    }

    fn list_mailbox(&self, tenant: &str, partner: &str, mailbox: Mailbox) -> Result<Vec<Entry>> {
        self.read(|c| {
            // `name` is `COLLATE "C"`: byte order, as SQLite lists them.
            c.query(
                "SELECT b.name, m.id, m.sha256, m.size, m.created_at FROM mailbox b
                 JOIN messages m ON m.id = b.message
                 WHERE b.tenant = $1 AND b.partner = $2 AND b.box = $3 ORDER BY b.name",
                &[&tenant, &partner, &mailbox.as_str()],
            )
            .map_err(db)?
            .iter()
            .map(entry_row)
            .collect()
        })
    }

    fn find_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<Option<Entry>> {
        self.read(|c| {
            c.query_opt(
                "SELECT b.name, m.id, m.sha256, m.size, m.created_at FROM mailbox b
                 JOIN messages m ON m.id = b.message
                 WHERE b.tenant = $1 AND b.partner = $2 AND b.box = $3 AND b.name = $4",
                &[&tenant, &partner, &mailbox.as_str(), &name],
            )
            .map_err(db)?
            .map(|row| entry_row(&row))
            .transpose()
        })
    }

    fn hide_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<bool> {
        self.write_tenant(tenant, |tx| {
            let hidden = tx
                .query_opt(
                    "DELETE FROM mailbox
                     WHERE tenant = $1 AND partner = $2 AND box = $3 AND name = $4
                     RETURNING message",
                    &[&tenant, &partner, &mailbox.as_str(), &name],
                )
                .map_err(db)?;
            let Some(row) = hidden else {
                return Ok(false);
            };
            let message: i64 = col(&row, 0)?;
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
        self.write_tenant(tenant, |tx| {
            // In the primary key's order, as SQLite's scan of it finds them,
            // so that the `expired` events come in the same order.
            let expired = tx
                .query(
                    "SELECT b.partner, b.box, b.name, m.id, m.sha256 FROM mailbox b
                     JOIN messages m ON m.id = b.message
                     WHERE b.tenant = $1 AND m.created_at < $2
                       AND NOT EXISTS (SELECT 1 FROM tasks t
                                       WHERE t.state = 'pending' AND t.message IN (m.id, m.origin))
                     ORDER BY b.partner, b.box, b.name",
                    &[&tenant, &before.0],
                )
                .map_err(db)?
                .iter()
                .map(|row| -> Result<(String, String, String, i64, String)> {
                    Ok((
                        col(row, 0)?,
                        col(row, 1)?,
                        col(row, 2)?,
                        col(row, 3)?,
                        col(row, 4)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let mut hashes = Vec::new();
            for (partner, mailbox, name, message, hash) in &expired {
                tx.execute(
                    "DELETE FROM mailbox
                     WHERE tenant = $1 AND partner = $2 AND box = $3 AND name = $4",
                    &[&tenant, partner, mailbox, name],
                )
                .map_err(db)?;
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
                .query(CONTENT_IN_USE, &[&tenant])
                .map_err(db)?
                .iter()
                .map(|row| col::<String>(row, 0))
                .collect::<Result<std::collections::HashSet<_>>>()?;
            hashes.sort();
            hashes.dedup();
            for hash in hashes {
                if !in_use.contains(hash) {
                    tx.execute(
                        "DELETE FROM inline_content WHERE tenant = $1 AND sha256 = $2",
                        &[&tenant, hash],
                    )
                    .map_err(db)?;
                }
            }
            Ok(expired.len())
        })
    }

    fn content_in_use(&self, tenant: &str) -> Result<std::collections::HashSet<ContentHash>> {
        self.read(|c| {
            c.query(CONTENT_IN_USE, &[&tenant])
                .map_err(db)?
                .iter()
                .map(|row| parse_hash(&col::<String>(row, 0)?))
                .collect()
        })
    }

    fn sent_files(&self, tenant: &str, partner: &str) -> Result<Vec<SentRow>> {
        self.read(|c| {
            c.query(
                "SELECT m.name, m.size, m.sha256, m.created_at, m.state, m.reason,
                        (SELECT string_agg(o.partner, ' ') FROM messages o
                         WHERE o.origin = m.id AND o.protocol = 'delivery')
                 FROM messages m
                 WHERE m.tenant = $1 AND m.partner = $2 AND m.direction = 'in'
                   AND m.state NOT IN ('failed', 'pending')
                 ORDER BY m.id",
                &[&tenant, &partner],
            )
            .map_err(db)?
            .iter()
            .map(|row| -> Result<SentRow> {
                let sha256: Option<String> = col(row, 2)?;
                let state: String = col(row, 4)?;
                let delivered: Option<String> = col(row, 6)?;
                Ok(SentRow {
                    name: col(row, 0)?,
                    size: col_u64(row, 1)?,
                    sha256: sha256.map(|h| parse_hash(&h)).transpose()?,
                    received_at: Timestamp(col(row, 3)?),
                    state: state.parse()?,
                    reason: col(row, 5)?,
                    delivered_to: {
                        let mut to: Vec<String> = delivered
                            .map(|d| d.split(' ').map(str::to_owned).collect())
                            .unwrap_or_default();
                        to.sort();
                        to
                    },
                })
            })
            .collect()
        })
    }

    fn offered_files(&self, tenant: &str, partner: &str) -> Result<Vec<OfferedRow>> {
        self.read(|c| {
            c.query(
                "SELECT m.name, m.size, m.sha256, m.created_at,
                        (SELECT MIN(e.at) FROM events e
                         WHERE e.message = m.id AND e.kind = 'downloaded')
                 FROM messages m
                 WHERE m.tenant = $1 AND m.partner = $2 AND m.direction = 'out'
                 ORDER BY m.id",
                &[&tenant, &partner],
            )
            .map_err(db)?
            .iter()
            .map(|row| -> Result<OfferedRow> {
                let sha256: Option<String> = col(row, 2)?;
                let downloaded: Option<i64> = col(row, 4)?;
                Ok(OfferedRow {
                    name: col(row, 0)?,
                    size: col_u64(row, 1)?,
                    sha256: sha256.map(|h| parse_hash(&h)).transpose()?,
                    available_at: Timestamp(col(row, 3)?),
                    downloaded_at: downloaded.map(Timestamp),
                })
            })
            .collect()
        })
    }

    fn resend(
        &self,
        tenant: &str,
        partner: &str,
        request: &str,
        source: &str,
    ) -> Result<Option<Entry>> {
        self.write_tenant(tenant, |tx| {
            let found = tx
                .query_opt(
                    "SELECT id, name, sha256, size, created_at FROM messages
                     WHERE tenant = $1 AND partner = $2 AND direction = 'out'
                       AND sha256 IS NOT NULL AND (name = $3 OR sha256 = $3)
                     ORDER BY id DESC LIMIT 1",
                    &[&tenant, &partner, &request],
                )
                .map_err(db)?;
            let Some(row) = found else {
                return Ok(None);
            };
            let id: i64 = col(&row, 0)?;
            let name: String = col(&row, 1)?;
            let hash: String = col(&row, 2)?;
            let size = col_u64(&row, 3)?;
            let created_at: i64 = col(&row, 4)?;
            rows::resent(tx, tenant, partner, (MessageId(id), &name), request, source)?;
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
        self.read(|c| {
            c.query_opt(
                "SELECT data FROM inline_content WHERE tenant = $1 AND sha256 = $2",
                &[&tenant, &hash.to_string()],
            )
            .map_err(db)?
            .map(|row| col::<Vec<u8>>(&row, 0))
            .transpose()
        })
    }

    fn rename_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        old: &str,
        new: &str,
    ) -> Result<bool> {
        self.write_tenant(tenant, |tx| {
            let Some(message) = rename(tx, tenant, partner, mailbox, old, new)? else {
                return Ok(false);
            };
            append(
                tx,
                tenant,
                EventKind::Renamed,
                Some(message),
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
                .execute(
                    "INSERT INTO folders (tenant, partner, box, path) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&tenant, &partner, &mailbox.as_str(), &path],
                )
                .map_err(db)?;
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
                .execute(
                    "DELETE FROM folders
                     WHERE tenant = $1 AND partner = $2 AND box = $3 AND path = $4",
                    &[&tenant, &partner, &mailbox.as_str(), &path],
                )
                .map_err(db)?;
            Ok(removed == 1)
        })
    }

    fn folders(&self, tenant: &str, partner: &str, mailbox: Mailbox) -> Result<Vec<String>> {
        self.read(|c| {
            // `path` is `COLLATE "C"`: byte order, as SQLite sorts them.
            c.query(
                "SELECT path FROM folders WHERE tenant = $1 AND partner = $2 AND box = $3
                 ORDER BY path",
                &[&tenant, &partner, &mailbox.as_str()],
            )
            .map_err(db)?
            .iter()
            .map(|row| col::<String>(row, 0))
            .collect()
        })
    }

    fn has_files_below(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        folder: &str,
    ) -> Result<bool> {
        // Names below `folder` sort from `folder/` up to, not including,
        // `folder0` (`0` follows `/`) in byte order, which `name`'s
        // `COLLATE "C"` is: a range of the primary key.
        let (from, to) = (format!("{folder}/"), format!("{folder}0"));
        self.read(|c| {
            let found = c
                .query_opt(
                    "SELECT 1 FROM mailbox
                     WHERE tenant = $1 AND partner = $2 AND box = $3 AND name >= $4 AND name < $5
                     LIMIT 1",
                    &[&tenant, &partner, &mailbox.as_str(), &from, &to],
                )
                .map_err(db)?;
            Ok(found.is_some())
        })
    }
}
