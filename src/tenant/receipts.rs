//! The partner-visible answers to "what did I send", "what did you make
//! available to me" (`/receipts/*.csv`, generated from the journal when
//! read) and "send it again" (`/resend`).

use std::time::{Duration, UNIX_EPOCH};

use super::{MailboxError, Tenant};
use crate::journal::{Entry, Mailbox, Timestamp};

/// The files of `/receipts`. `proofs/NAME.json` are there too, for every
/// file of the partner's mailbox, but not listed.
pub const RECEIPTS: [&str; 3] = ["sent.csv", "received.csv", "checkpoint.json"];

fn proof_error(e: crate::proofs::ProofError) -> MailboxError {
    match e {
        crate::proofs::ProofError::Journal(e) => MailboxError::Journal(e),
        crate::proofs::ProofError::Invalid(why) => MailboxError::NotFound(why),
    }
}

fn pretty(value: &impl serde::Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("proofs serialize");
    out.push(b'\n');
    out
}

impl Tenant {
    /// A `/receipts` file as of now.
    pub fn receipt(&self, partner: &str, name: &str) -> Result<Vec<u8>, MailboxError> {
        self.partner(partner)?;
        let tenant = self.name();
        let mut out = String::new();
        match name {
            "sent.csv" => {
                out.push_str("name,size,sha256,received_at,verdict,reason,delivered_to\n");
                for row in self.journal.sent_files(tenant, partner)? {
                    let fields = [
                        row.name,
                        row.size.to_string(),
                        row.sha256.map(|h| h.to_string()).unwrap_or_default(),
                        time(row.received_at),
                        row.state.to_string(),
                        row.reason.unwrap_or_default(),
                        row.delivered_to.join(" "),
                    ];
                    line(&mut out, &fields);
                }
            }
            "received.csv" => {
                out.push_str("name,size,sha256,available_at,downloaded,downloaded_at\n");
                for row in self.journal.offered_files(tenant, partner)? {
                    let fields = [
                        row.name,
                        row.size.to_string(),
                        row.sha256.map(|h| h.to_string()).unwrap_or_default(),
                        time(row.available_at),
                        if row.downloaded_at.is_some() {
                            "yes"
                        } else {
                            "no"
                        }
                        .to_owned(),
                        row.downloaded_at.map(time).unwrap_or_default(),
                    ];
                    line(&mut out, &fields);
                }
            }
            "checkpoint.json" => {
                let checkpoint = self.notary.latest(tenant).map_err(proof_error)?;
                return Ok(pretty(&serde_json::json!({ "checkpoint": checkpoint })));
            }
            other => match other
                .strip_prefix("proofs/")
                .and_then(|n| n.strip_suffix(".json"))
            {
                Some(file) => return self.proof(partner, file),
                None => return Err(MailboxError::NotFound(format!("/receipts/{other}"))),
            },
        }
        Ok(out.into_bytes())
    }

    /// `/receipts/proofs/NAME.json`: the inclusion proof of every event
    /// about the partner's file NAME (the newest of that name it received
    /// or sent) and of the files made from it, against a signed checkpoint.
    fn proof(&self, partner: &str, name: &str) -> Result<Vec<u8>, MailboxError> {
        let tenant = self.name();
        let mut found = None;
        for mailbox in [Mailbox::Outbox, Mailbox::Inbox] {
            if let Some(entry) = self.journal.find_entry(tenant, partner, mailbox, name)? {
                found = Some((entry.message, Some(entry.hash.to_string())));
                break;
            }
        }
        if found.is_none() {
            // A file that is no longer shown (rejected, hidden, expired)
            // still has its events.
            let sent = self.journal.messages(&crate::journal::MessageQuery {
                tenant: Some(tenant.to_owned()),
                partner: Some(partner.to_owned()),
                name: Some(name.to_owned()),
                limit: Some(100),
                ..Default::default()
            })?;
            found = sent
                .into_iter()
                .find(|m| m.name == name)
                .map(|m| (m.id, m.hash.map(|h| h.to_string())));
        }
        let Some((message, sha256)) = found else {
            return Err(MailboxError::NotFound(format!(
                "/receipts/proofs/{name}.json"
            )));
        };
        let mut seqs: Vec<u64> = self
            .journal
            .message_events(tenant, message)?
            .iter()
            .map(|e| e.seq)
            .collect();
        // A copy in an outbox: the events of the file it was made from too.
        if let Some(origin) = self.journal.message(tenant, message)?.origin {
            seqs.extend(
                self.journal
                    .message_events(tenant, origin)?
                    .iter()
                    .map(|e| e.seq),
            );
        }
        seqs.sort_unstable();
        seqs.dedup();
        let subject = crate::proofs::Subject {
            partner: partner.to_owned(),
            name: name.to_owned(),
            sha256,
        };
        let proof = self
            .notary
            .prove(tenant, subject, &seqs)
            .map_err(proof_error)?;
        Ok(pretty(&proof))
    }

    /// Puts a file back in the partner's outbox: the newest one made
    /// available under the name `request`, or with the SHA-256 `request`.
    pub fn resend(
        &self,
        partner: &str,
        request: &str,
        source: &str,
    ) -> Result<Entry, MailboxError> {
        self.partner(partner)?;
        self.journal
            .resend(self.name(), partner, request, source)?
            .ok_or_else(|| {
                MailboxError::NotFound(format!(
                    "no file named {request} (or with that SHA-256) was ever in /outbox"
                ))
            })
    }
}

impl Tenant {
    /// The content of `name` if it is the virtual `NAME.sha256` of an
    /// outbox file (for partners with `sha256_files`), in `sha256sum`
    /// format. A real file of that name wins.
    pub fn checksum_file(
        &self,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<Option<Vec<u8>>, MailboxError> {
        if mailbox != Mailbox::Outbox || !self.partner(partner)?.sha256_files {
            return Ok(None);
        }
        let Some(file) = name.strip_suffix(".sha256") else {
            return Ok(None);
        };
        if self.entry(partner, mailbox, name)?.is_some() {
            return Ok(None);
        }
        Ok(self
            .entry(partner, mailbox, file)?
            .map(|entry| checksum_line(&entry)))
    }

    /// The virtual `NAME.sha256` files of a folder listing, with the file
    /// each belongs to; none unless the partner has `sha256_files`.
    pub fn checksum_files(
        &self,
        partner: &str,
        mailbox: Mailbox,
        entries: &[Entry],
    ) -> Result<Vec<(String, Vec<u8>, Entry)>, MailboxError> {
        if mailbox != Mailbox::Outbox || !self.partner(partner)?.sha256_files {
            return Ok(Vec::new());
        }
        let names: std::collections::HashSet<&str> =
            entries.iter().map(|e| e.name.as_str()).collect();
        Ok(entries
            .iter()
            .map(|entry| (format!("{}.sha256", entry.name), entry))
            .filter(|(name, _)| !names.contains(name.as_str()))
            .map(|(name, entry)| (name, checksum_line(entry), entry.clone()))
            .collect())
    }
}

fn checksum_line(entry: &Entry) -> Vec<u8> {
    format!("{}  {}\n", entry.hash, entry.name).into_bytes()
}

/// RFC 3339, in UTC, to the second.
fn time(at: Timestamp) -> String {
    let when = UNIX_EPOCH + Duration::from_millis(u64::try_from(at.0).unwrap_or(0));
    humantime::format_rfc3339_seconds(when).to_string()
}

/// One CSV line (RFC 4180): fields with a comma, quote or line break are quoted.
fn line(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if field.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_and_times() {
        let mut out = String::new();
        line(
            &mut out,
            &["a,b".into(), "say \"hi\"".into(), "plain".into()],
        );
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",plain\n");
        assert_eq!(time(Timestamp(1_795_316_645_000)), "2026-11-22T03:04:05Z");
    }
}
