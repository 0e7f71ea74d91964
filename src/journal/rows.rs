//! What both journal backends write the same way. Each backend implements
//! [`Rows`], the row writes with its own SQL; the compositions below decide
//! which rows and events one operation writes, and build the detail of each
//! event, which the chain hashes: built once here, it can never differ
//! between backends. Also lease tokens.

use serde_json::{Value, json};

use super::step::DerivedMessage;
use super::{
    Direction, EventKind, FxpRecord, Mailbox, Message, MessageId, MessageState, PulledKey,
    Received, Result, Step, UploadFailed,
};
use crate::store::ContentHash;

/// The row writes of one transaction of one backend.
pub(super) trait Rows {
    /// Appends one event to its tenant's chain; returns its sequence number.
    fn append(
        &mut self,
        tenant: &str,
        kind: EventKind,
        message: Option<MessageId>,
        partner: Option<&str>,
        detail: &Value,
    ) -> Result<u64>;
    fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<MessageId>;
    /// Stores an upload's inline content, once per tenant and hash.
    fn keep_inline(&mut self, r: &Received) -> Result<()>;
    /// Makes `message` the visible file `name` in a mailbox, replacing an
    /// older one of that name.
    fn place(
        &mut self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
        message: MessageId,
    ) -> Result<()>;
    fn queue(&mut self, tenant: &str, message: MessageId, step: &Step) -> Result<()>;
    fn set_state(&mut self, id: MessageId, state: MessageState, reason: Option<&str>)
    -> Result<()>;
    fn insert_pulled(&mut self, key: &PulledKey, message: MessageId) -> Result<()>;
}

/// A committed upload: message, inline content, inbox entry, `received`
/// event and the `process` task.
pub(super) fn received(rows: &mut impl Rows, r: &Received) -> Result<MessageId> {
    let id = rows.insert_message(&NewMessage::upload(r, MessageState::Received))?;
    rows.keep_inline(r)?;
    rows.place(&r.tenant, &r.partner, Mailbox::Inbox, &r.name, id)?;
    rows.append(
        &r.tenant,
        EventKind::Received,
        Some(id),
        Some(&r.partner),
        &upload_detail(r),
    )?;
    rows.queue(&r.tenant, id, &Step::Process)?;
    Ok(id)
}

/// A file pulled from a partner's server: received, and its source noted.
pub(super) fn pulled(rows: &mut impl Rows, r: &Received, key: &PulledKey) -> Result<MessageId> {
    let id = received(rows, r)?;
    rows.insert_pulled(key, id)?;
    Ok(id)
}

/// An upload waiting for its signal (after the backend failed an older
/// pending one of the same name): its message, inline content and
/// `staged` event.
pub(super) fn pending(rows: &mut impl Rows, r: &Received) -> Result<MessageId> {
    let id = rows.insert_message(&NewMessage::upload(r, MessageState::Pending))?;
    rows.keep_inline(r)?;
    rows.append(
        &r.tenant,
        EventKind::Staged,
        Some(id),
        Some(&r.partner),
        &upload_detail(r),
    )?;
    Ok(id)
}

/// A pending upload whose signal came, renamed to `name` (after the
/// backend set its state): inbox entry, `received` event, `process` task.
pub(super) fn completed(
    rows: &mut impl Rows,
    tenant: &str,
    id: MessageId,
    message: &Message,
    name: &str,
) -> Result<()> {
    rows.place(tenant, &message.partner, Mailbox::Inbox, name, id)?;
    rows.append(
        tenant,
        EventKind::Received,
        Some(id),
        Some(&message.partner),
        &json!({
            "name": name, "staged_as": message.name, "size": message.size,
            "sha256": message.hash.map(|h| h.to_string()),
            "protocol": message.protocol, "source": message.source,
        }),
    )?;
    rows.queue(tenant, id, &Step::Process)
}

/// A pending upload given up: failed, with why.
pub(super) fn pending_failed(
    rows: &mut impl Rows,
    tenant: &str,
    id: MessageId,
    message: &Message,
    reason: &str,
) -> Result<()> {
    rows.set_state(id, MessageState::Failed, Some(reason))?;
    rows.append(
        tenant,
        EventKind::Failed,
        Some(id),
        Some(&message.partner),
        &json!({ "step": "completion", "name": message.name, "error": reason }),
    )?;
    Ok(())
}

/// An upload the client did not finish.
pub(super) fn upload_failed(rows: &mut impl Rows, f: &UploadFailed) -> Result<MessageId> {
    let id = rows.insert_message(&NewMessage {
        tenant: &f.tenant,
        partner: &f.partner,
        direction: Direction::In,
        name: &f.name,
        size: f.bytes_received,
        hash: None,
        state: MessageState::Failed,
        protocol: &f.protocol,
        source: &f.source,
        origin: None,
        reason: Some(&f.error),
    })?;
    rows.append(
        &f.tenant,
        EventKind::Failed,
        Some(id),
        Some(&f.partner),
        &json!({
            "step": "upload", "name": f.name, "bytes_received": f.bytes_received,
            "protocol": f.protocol, "source": f.source, "error": f.error,
        }),
    )?;
    Ok(id)
}

/// A file moved by FXP from one partner's server to another's: the
/// incoming message (delivered), the outgoing one (downloaded), the pull
/// noted, and both events.
pub(super) fn fxp(rows: &mut impl Rows, fxp: &FxpRecord) -> Result<MessageId> {
    let key = &fxp.key;
    let source = format!("fxp:{}", key.path);
    let id = rows.insert_message(&NewMessage {
        tenant: &key.tenant,
        partner: &key.partner,
        direction: Direction::In,
        name: &fxp.name,
        size: key.size,
        hash: fxp.sha256.as_ref(),
        state: MessageState::Delivered,
        protocol: "fxp",
        source: &source,
        origin: None,
        reason: None,
    })?;
    let out = rows.insert_message(&NewMessage {
        tenant: &key.tenant,
        partner: &fxp.to,
        direction: Direction::Out,
        name: &fxp.name,
        size: key.size,
        hash: fxp.sha256.as_ref(),
        state: MessageState::Downloaded,
        protocol: "fxp",
        source: &key.partner,
        origin: Some(id),
        reason: None,
    })?;
    rows.insert_pulled(key, id)?;
    let sha256 = fxp.sha256.map(|h| h.to_string());
    rows.append(
        &key.tenant,
        EventKind::Received,
        Some(id),
        Some(&key.partner),
        &json!({ "name": fxp.name, "size": key.size, "sha256": sha256,
                 "protocol": "fxp", "source": key.path }),
    )?;
    rows.append(
        &key.tenant,
        EventKind::Fxp,
        Some(out),
        Some(&fxp.to),
        &fxp.detail,
    )?;
    Ok(id)
}

/// An outgoing file found for a resend (by name or hash): back in the
/// partner's outbox, with a `resent` event.
pub(super) fn resent(
    rows: &mut impl Rows,
    tenant: &str,
    partner: &str,
    (id, name): (MessageId, &str),
    request: &str,
    source: &str,
) -> Result<()> {
    rows.place(tenant, partner, Mailbox::Outbox, name, id)?;
    rows.append(
        tenant,
        EventKind::Resent,
        Some(id),
        Some(partner),
        &json!({ "name": name, "request": request, "source": source }),
    )?;
    Ok(())
}

/// A pipeline step's new message: outgoing, available to its partner; or
/// incoming, received and to be judged.
pub(super) fn derived(
    rows: &mut impl Rows,
    tenant: &str,
    m: &DerivedMessage<'_>,
) -> Result<MessageId> {
    rows.insert_message(&NewMessage {
        tenant,
        partner: m.partner,
        direction: m.direction,
        name: m.name,
        size: m.size,
        hash: Some(m.hash),
        state: match m.direction {
            Direction::Out => MessageState::Available,
            Direction::In => MessageState::Received,
        },
        protocol: m.protocol,
        source: m.source,
        origin: Some(m.origin),
        reason: None,
    })
}

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
fn upload_detail(r: &Received) -> Value {
    json!({
        "name": r.name, "size": r.size, "sha256": r.hash.to_string(),
        "protocol": r.protocol, "source": r.source,
    })
}

/// A new lease token: random, so that two leases of one task (on two
/// nodes, or two runs of one) never share one.
pub(super) fn new_token() -> i64 {
    rand::random::<i64>()
}
