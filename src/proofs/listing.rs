//! What a partner's folder held at a past instant, from the journal alone:
//! the events that change a mailbox replayed up to that time, each entry
//! with the event that made it, so that a proof of those events goes with
//! the listing.
//!
//! What this proves and what it does not: each entry listed is backed by
//! a signed event that put it there, and none of the events that removed
//! or renamed entries before that time is left out of the replay; that no
//! other event touched the folder rests on the whole journal, which the
//! operator holds (`journal verify`), not on the proof a partner gets.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::journal::{Journal, JournalError, Mailbox, MessageId, RawEvent};

/// One file visible in the folder at the time asked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    pub name: String,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub message: i64,
    /// The event that put it there under this name, and when.
    pub seq: u64,
    pub since: i64,
}

/// The partner's own last listing of the folder before the instant, as
/// journaled when it was shown (`listed`: counts and a digest).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Seen {
    pub seq: u64,
    pub at: i64,
    pub files: u64,
    pub digest: String,
    pub protocol: String,
}

/// What a replay found.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub listed: Vec<Listed>,
    /// The events that made the listing (and the partner's own last look).
    pub used: Vec<u64>,
    pub seen: Option<Seen>,
}

/// Events read per query while replaying.
const PAGE: usize = 5_000;

/// The files of `partner`'s `mailbox` (those under `folder`, a path
/// relative to it, or all when empty) as they were at `at` (ms since the
/// Unix epoch), and the seqs of every event the replay used.
pub fn listing_at(
    journal: &dyn Journal,
    tenant: &str,
    partner: &str,
    mailbox: Mailbox,
    folder: &str,
    at: i64,
) -> Result<Replay, JournalError> {
    let box_name = mailbox.as_str();
    let shown = if folder.trim_matches('/').is_empty() {
        format!("/{box_name}")
    } else {
        format!("/{box_name}/{}", folder.trim_matches('/'))
    };
    let mut seen = None;
    let mut entries: BTreeMap<String, (i64, u64, i64)> = BTreeMap::new();
    let mut used = Vec::new();
    let mut from = 1;
    'pages: loop {
        let page = journal.events_from(tenant, from, PAGE)?;
        let Some(last) = page.last() else { break };
        from = last.seq + 1;
        for event in &page {
            if event.at > at {
                // Events are in chain order; their times are one node's
                // clock each, so a later seq with an earlier time is
                // possible on a cluster: the replay stops at the first
                // event after the instant, as the chain saw it.
                break 'pages;
            }
            if apply(&mut entries, event, partner, box_name) {
                used.push(event.seq);
            } else if event.kind == "listed"
                && let Ok(d) = serde_json::from_str::<Value>(&event.detail)
                && d["partner"].as_str() == Some(partner)
                && d["folder"].as_str() == Some(shown.as_str())
            {
                seen = Some(Seen {
                    seq: event.seq,
                    at: event.at,
                    files: d["files"].as_u64().unwrap_or(0),
                    digest: d["digest"].as_str().unwrap_or_default().to_owned(),
                    protocol: d["protocol"].as_str().unwrap_or_default().to_owned(),
                });
            }
        }
        if page.len() < PAGE {
            break;
        }
    }
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{}/", folder.trim_matches('/'))
    };
    let mut listed = Vec::new();
    for (name, (message, seq, since)) in entries {
        if !name.starts_with(&prefix) {
            continue;
        }
        let (sha256, size) = match journal.message(tenant, MessageId(message)) {
            Ok(m) => (m.hash.map(|h| h.to_string()), Some(m.size)),
            Err(JournalError::NoMessage(_)) => (None, None),
            Err(e) => return Err(e),
        };
        listed.push(Listed {
            name,
            sha256,
            size,
            message,
            seq,
            since,
        });
    }
    if let Some(seen) = &seen {
        used.push(seen.seq);
        used.sort_unstable();
    }
    Ok(Replay { listed, used, seen })
}

/// Applies one event to the folder's entries; whether it touched them.
fn apply(
    entries: &mut BTreeMap<String, (i64, u64, i64)>,
    event: &RawEvent,
    partner: &str,
    box_name: &str,
) -> bool {
    let detail: Value = serde_json::from_str(&event.detail).unwrap_or(Value::Null);
    let text = |key: &str| detail[key].as_str().map(str::to_owned);
    let ours = event.partner.as_deref() == Some(partner);
    let made = |entries: &mut BTreeMap<_, _>, name: Option<String>, message: Option<i64>| match (
        name, message,
    ) {
        (Some(name), Some(message)) => {
            entries.insert(name, (message, event.seq, event.at));
            true
        }
        _ => false,
    };
    match event.kind.as_str() {
        // A file a partner sent, visible in its inbox.
        "received" if ours && box_name == "inbox" => made(entries, text("name"), event.message),
        // A copy, or a file sent again, in the receiver's outbox.
        "delivered" | "resent" if ours && box_name == "outbox" => {
            made(entries, text("name"), event.message)
        }
        // Acknowledgement files, each in its partner's outbox, and the
        // renames an acknowledger asked for (a sender's `NAME.received`).
        "acknowledged" => {
            let mut touched = false;
            for file in detail["files"].as_array().into_iter().flatten() {
                if box_name == "outbox" && file["partner"].as_str() == Some(partner) {
                    touched |= made(
                        entries,
                        file["name"].as_str().map(str::to_owned),
                        file["message"].as_i64(),
                    );
                }
            }
            for done in detail["renames"].as_array().into_iter().flatten() {
                let r = &done["rename"];
                if done["done"] == Value::Bool(true)
                    && r["partner"].as_str() == Some(partner)
                    && r["mailbox"].as_str() == Some(box_name)
                    && let (Some(from), Some(to)) = (r["old_name"].as_str(), r["new_name"].as_str())
                    && let Some((message, _, _)) = entries.remove(from)
                {
                    entries.insert(to.to_owned(), (message, event.seq, event.at));
                    touched = true;
                }
            }
            touched
        }
        "hidden" | "expired" if ours && text("box").as_deref() == Some(box_name) => text("name")
            .and_then(|name| entries.remove(&name))
            .is_some(),
        "renamed" if ours && text("box").as_deref() == Some(box_name) => {
            match (text("from"), text("to")) {
                (Some(from), Some(to)) => match entries.remove(&from) {
                    Some((message, _, _)) => {
                        entries.insert(to, (message, event.seq, event.at));
                        true
                    }
                    None => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}
