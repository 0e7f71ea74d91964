//! The storage side of a pipeline step: what one step's transaction may
//! write. The pipeline's transitions (`pipeline/transitions.rs`) decide
//! which of these a verdict, a delivery, a push or an acknowledgement makes;
//! a backend only stores them, so the state machine is written once for
//! every backend.

use serde_json::Value;

use super::{
    Direction, EventKind, KvWrite, Mailbox, MessageId, MessageState, Result, Step, Task, Timestamp,
};
use crate::store::ContentHash;

/// A message a step makes from another: outgoing, one ferry makes
/// available to a partner (a delivery, an acknowledgement file), which
/// starts `available` in no mailbox until [`StepWriter::place`] puts it in
/// one; or incoming, a file taken out of one a partner sent (decrypted, an
/// archive's entry), which starts `received`, to be judged and routed.
#[derive(Debug, Clone)]
pub struct DerivedMessage<'a> {
    pub direction: Direction,
    pub partner: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub hash: &'a ContentHash,
    /// `delivery`, `ack`, `decrypt`, `unzip`.
    pub protocol: &'a str,
    /// Who it came from: the sending partner, `ferry`.
    pub source: &'a str,
    /// The message it came from.
    pub origin: MessageId,
}

/// The writes of one step of one tenant, all in one transaction: a backend
/// applies each at once within it and commits them together (or none) when
/// the step's closure returns `Ok`. Every write is scoped to the tenant the
/// transaction was opened for.
///
/// A backend that takes locks (PostgreSQL: the tenant's chain head `FOR
/// UPDATE`) takes them when the transaction opens, so a step's reads below
/// see what no concurrent writer of the same tenant can change before the
/// commit.
pub trait StepWriter {
    /// Marks a task done and ends its lease. Fails, and so rolls the whole
    /// step back, when the task is not pending any more (another worker
    /// finished it) or is not this worker's: its lease token
    /// (`task.lease`) is not the task's, or, without one, another worker's
    /// lease is running. This is what makes steps exactly-once.
    fn complete(&mut self, task: &Task) -> Result<()>;

    /// Puts a pending task off until `at`, counting the attempt and its
    /// error, and ends its lease. Fails as `complete` does.
    fn reschedule(&mut self, task: &Task, at: Timestamp, error: &str) -> Result<()>;

    /// Gives up on a pending task: dead-lettered with its error. Fails as
    /// `complete` does.
    fn bury(&mut self, task: &Task, error: &str) -> Result<()>;

    /// Puts a dead-lettered task back to pending, due now, its attempts
    /// reset: its message and step, or `None` when no dead task of the
    /// tenant has that id.
    fn revive(&mut self, task: i64) -> Result<Option<(MessageId, Step)>>;

    /// Appends an event to the tenant's chain.
    fn append(
        &mut self,
        kind: EventKind,
        message: Option<MessageId>,
        partner: Option<&str>,
        detail: &Value,
    ) -> Result<()>;

    /// Sets a message's state, and its reason when one is given (an older
    /// reason stays otherwise).
    fn set_state(
        &mut self,
        message: MessageId,
        state: MessageState,
        reason: Option<&str>,
    ) -> Result<()>;

    /// Queues a step for a message, due now.
    fn queue(&mut self, message: MessageId, step: &Step) -> Result<()>;

    /// Records a new message made from another.
    fn add_derived(&mut self, message: &DerivedMessage<'_>) -> Result<MessageId>;

    /// Makes a message the visible file `name` of a partner's mailbox,
    /// replacing an older one of that name.
    fn place(
        &mut self,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
        message: MessageId,
    ) -> Result<()>;

    /// Renames a visible file of a partner's mailbox (replacing one that had
    /// the new name); whether there was a file to rename.
    fn rename(&mut self, partner: &str, mailbox: Mailbox, old: &str, new: &str) -> Result<bool>;

    /// Applies a decision's key-value writes.
    fn write_kv(&mut self, writes: &[KvWrite]) -> Result<()>;

    /// How many deliveries of a message are still pending.
    fn pending_deliveries(&mut self, message: MessageId) -> Result<u64>;

    /// Forgets that a push of the message was started (see
    /// `TaskQueue::push_started`): it is done.
    fn push_finished(&mut self, message: MessageId) -> Result<()>;
}

/// A file a transform made from an incoming one (a decrypted file, an
/// archive's entry), already committed to the store.
#[derive(Debug, Clone)]
pub struct Derived {
    /// A relative path in the partner's mailbox.
    pub name: String,
    pub hash: ContentHash,
    pub size: u64,
}

/// A delivery as its target's transforms made it (encrypted, zipped),
/// already committed to the store.
#[derive(Debug, Clone)]
pub struct Shaped {
    pub name: String,
    pub hash: ContentHash,
    pub size: u64,
    /// The `transformed` event's detail: `ops`, keys' fingerprints.
    pub detail: Value,
}
