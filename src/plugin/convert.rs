//! Between ferry's types and the bindgen types, both ways, and the size of
//! what a plugin returns (which the host bounds).

use super::bindings::types;
use super::services::HistoryEntry;
use super::{AckAction, FileMeta};
use crate::journal::{self, Direction, Mailbox};

impl From<&FileMeta> for types::FileInfo {
    fn from(f: &FileMeta) -> types::FileInfo {
        types::FileInfo {
            tenant: f.tenant.clone(),
            partner: f.partner.clone(),
            direction: direction(f.direction),
            name: f.name.clone(),
            size: f.size,
            sha256: f.sha256.clone(),
            protocol: f.protocol.clone(),
            source: f.source.clone(),
            message_id: f.message_id,
            received_at: f.received_at,
        }
    }
}

fn direction(d: Direction) -> types::Direction {
    match d {
        Direction::In => types::Direction::Inbound,
        Direction::Out => types::Direction::Outbound,
    }
}

impl From<HistoryEntry> for types::HistoryEntry {
    fn from(e: HistoryEntry) -> types::HistoryEntry {
        types::HistoryEntry {
            message_id: e.message_id,
            direction: direction(e.direction),
            name: e.name,
            size: e.size,
            sha256: e.sha256,
            state: e.state,
            received_at: e.received_at,
        }
    }
}

impl From<&journal::AckEvent> for types::AckEvent {
    fn from(e: &journal::AckEvent) -> types::AckEvent {
        match e {
            journal::AckEvent::Delivered => types::AckEvent::Delivered,
            journal::AckEvent::Downloaded { by } => types::AckEvent::Downloaded(by.clone()),
            journal::AckEvent::Rejected { reasons } => types::AckEvent::Rejected(reasons.clone()),
            journal::AckEvent::Failed { reason } => types::AckEvent::Failed(reason.clone()),
        }
    }
}

/// A decision, converted, with the number of bytes it carries.
pub(super) trait Returned {
    type Ferry;
    fn size(&self) -> usize;
    fn convert(self) -> Self::Ferry;
}

impl Returned for types::Verdict {
    type Ferry = journal::Verdict;

    fn size(&self) -> usize {
        match self {
            types::Verdict::Accept => 0,
            types::Verdict::Reject(reasons) => reasons.iter().map(String::len).sum(),
            types::Verdict::Quarantine(reason) => reason.len(),
        }
    }

    fn convert(self) -> journal::Verdict {
        match self {
            types::Verdict::Accept => journal::Verdict::Accept,
            types::Verdict::Reject(reasons) => journal::Verdict::Reject { reasons },
            types::Verdict::Quarantine(reason) => journal::Verdict::Quarantine { reason },
        }
    }
}

impl Returned for types::Routing {
    type Ferry = journal::Routing;

    fn size(&self) -> usize {
        match self {
            types::Routing::Deliver(deliveries) => {
                deliveries.iter().map(|d| d.to.len() + d.name.len()).sum()
            }
            types::Routing::Hold(reason) => reason.len(),
        }
    }

    fn convert(self) -> journal::Routing {
        match self {
            types::Routing::Deliver(deliveries) => journal::Routing::Deliver(
                deliveries
                    .into_iter()
                    .map(|d| journal::Delivery {
                        to: d.to,
                        name: d.name,
                        transforms: Vec::new(),
                    })
                    .collect(),
            ),
            types::Routing::Hold(reason) => journal::Routing::Hold { reason },
        }
    }
}

impl Returned for Vec<types::AckAction> {
    type Ferry = Vec<AckAction>;

    fn size(&self) -> usize {
        self.iter()
            .map(|a| match a {
                types::AckAction::WriteFile(f) => f.partner.len() + f.name.len() + f.content.len(),
                types::AckAction::RenameFile(r) => {
                    r.partner.len() + r.old_name.len() + r.new_name.len()
                }
            })
            .sum()
    }

    fn convert(self) -> Vec<AckAction> {
        self.into_iter()
            .map(|a| match a {
                types::AckAction::WriteFile(f) => AckAction::WriteFile {
                    partner: f.partner,
                    name: f.name,
                    content: f.content,
                },
                types::AckAction::RenameFile(r) => AckAction::RenameFile {
                    partner: r.partner,
                    mailbox: match r.folder {
                        types::Folder::Inbox => Mailbox::Inbox,
                        types::Folder::Outbox => Mailbox::Outbox,
                    },
                    old_name: r.old_name,
                    new_name: r.new_name,
                },
            })
            .collect()
    }
}
