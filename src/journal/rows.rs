//! What both journal backends write the same way: a message row, an
//! upload's row and event detail (which the chain hashes, so the backends
//! must never build it differently), and lease tokens.

use super::{Direction, MessageId, MessageState, Received};
use crate::store::ContentHash;

/// A message row to insert.
pub(super) struct NewMessage<'a> {
    pub(super) tenant: &'a str,
    pub(super) partner: &'a str,
    pub(super) direction: Direction,
    pub(super) name: &'a str,
    pub(super) size: u64,
    pub(super) hash: Option<&'a ContentHash>,
    pub(super) state: MessageState,
    pub(super) protocol: &'a str,
    pub(super) source: &'a str,
    pub(super) origin: Option<MessageId>,
    pub(super) reason: Option<&'a str>,
}

impl<'a> NewMessage<'a> {
    /// The message of an upload (or a pull), in `state`.
    pub(super) fn upload(r: &'a Received, state: MessageState) -> NewMessage<'a> {
        NewMessage {
            tenant: &r.tenant,
            partner: &r.partner,
            direction: Direction::In,
            name: &r.name,
            size: r.size,
            hash: Some(&r.hash),
            state,
            protocol: &r.protocol,
            source: &r.source,
            origin: None,
            reason: None,
        }
    }
}

/// The detail of an upload's `received` or `staged` event: what every
/// backend hashes into the chain, so it is built in one place.
pub(super) fn upload_detail(r: &Received) -> serde_json::Value {
    serde_json::json!({
        "name": r.name, "size": r.size, "sha256": r.hash.to_string(),
        "protocol": r.protocol, "source": r.source,
    })
}

/// A new lease token: random, so that two leases of one task (on two
/// nodes, or two runs of one) never share one.
pub(super) fn new_token() -> i64 {
    rand::random::<i64>()
}
