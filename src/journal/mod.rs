//! The journal: every message, every event, the mailboxes and the pending
//! pipeline work, in one transactional database.
//!
//! Each event carries the hash of the previous event of its tenant, so the
//! events of a tenant form a chain that `verify` recomputes. Every state
//! change the pipeline makes is one transaction that records the change, the
//! event that explains it and the next step to do, so a crash leaves either
//! all of a step or none of it, and a restart neither loses nor repeats one.
//!
//! [`Journal`] is the boundary, the sum of six roles: the embedded SQLite
//! implementation lives in `sqlite/`, the PostgreSQL one that several
//! nodes share in `postgres/`, and one conformance suite
//! (`tests/it/conformance.rs`) holds both to the same behaviour. What a
//! pipeline step writes is decided once, in `pipeline/transitions.rs`,
//! through [`StepWriter`].

mod chain;
pub mod merkle;
mod postgres;
mod proofs;
mod rows;
mod settings;
mod sqlite;
mod step;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use self::postgres::PostgresJournal;
pub use chain::{ChainProblem, ChainReport, Link, hash as chain_hash};
pub use proofs::{Checkpoint, Proofs, RawEvent};
pub use settings::{Conflict, Settings, SharedTenant};
pub use sqlite::SqliteJournal;
pub use step::{Derived, DerivedMessage, Shaped, StepWriter};

use rows::{NewMessage, new_token};

use crate::store::ContentHash;

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The backend's own error (SQLite's today), boxed so that the
    /// journal's interface names no database crate.
    #[error("journal database error")]
    Db(#[source] BackendError),
    #[error("cannot open the journal at {path}")]
    Open {
        path: String,
        #[source]
        source: BackendError,
    },
    /// A journal written by a newer ferry, whose tables this one does not
    /// know.
    #[error(
        "the journal at {path} has schema version {found}; this ferry knows versions up to \
         {supported}: run the newer ferry that wrote it"
    )]
    Schema {
        path: String,
        found: i64,
        supported: i64,
    },
    #[error("the journal holds a value it cannot read: {0}")]
    Corrupt(String),
    #[error("no message {0}")]
    NoMessage(MessageId),
    /// The transaction this write shared with others failed to commit.
    #[error("committing the journal failed: {0}")]
    Commit(String),
    /// What this backend does not do (the embedded journal's shared settings).
    #[error("{0}")]
    Unsupported(&'static str),
}

pub type Result<T, E = JournalError> = std::result::Result<T, E>;

/// A journal backend's own error.
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since.as_millis() as i64)
    }

    pub fn after(self, delay: Duration) -> Timestamp {
        Timestamp(self.0 + delay.as_millis() as i64)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let time = UNIX_EPOCH + Duration::from_millis(self.0.max(0) as u64);
        write!(f, "{}", humantime::format_rfc3339_millis(time))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub i64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Seen from ferry: `In` is a file a partner sent us, `Out` one we made available to a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    In,
    Out,
}

/// The two folders of a partner's mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mailbox {
    /// What the partner sent.
    Inbox,
    /// What is there for the partner to take.
    Outbox,
}

impl Mailbox {
    pub fn as_str(self) -> &'static str {
        match self {
            Mailbox::Inbox => "inbox",
            Mailbox::Outbox => "outbox",
        }
    }
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = JournalError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)*
                    other => Err(JournalError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " `{}`"), other))),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Where a message is in its life. `pending` is stored but waiting for
    /// the sender to say it is complete (a rename from a temporary name, or
    /// a `.sha256` sidecar).
    MessageState {
        Pending = "pending",
        Received = "received",
        Rejected = "rejected",
        Quarantined = "quarantined",
        Held = "held",
        Routed = "routed",
        Delivered = "delivered",
        Failed = "failed",
        Available = "available",
        Downloaded = "downloaded",
        Transformed = "transformed",
    }
);

text_enum!(
    /// What an event records.
    EventKind {
        Received = "received",
        Verdict = "verdict",
        Routed = "routed",
        Delivered = "delivered",
        Downloaded = "downloaded",
        Acknowledged = "acknowledged",
        Failed = "failed",
        Retried = "retried",
        Resent = "resent",
        Hidden = "hidden",
        Staged = "staged",
        Expired = "expired",
        Renamed = "renamed",
        DownloadPartial = "download-partial",
        LoginFailed = "login-failed",
        Banned = "banned",
        PluginVersion = "plugin-version",
        ConfigReloaded = "config-reloaded",
        Pushed = "pushed",
        Disposed = "disposed",
        Fxp = "fxp",
        ConnectFailed = "connect-failed",
        AccessRefused = "access-refused",
        Checkpoint = "checkpoint",
        Login = "login",
        Listed = "listed",
        Transformed = "transformed",
    }
);

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

impl FromStr for Direction {
    type Err = JournalError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            other => Err(JournalError::Corrupt(format!(
                "unknown direction `{other}`"
            ))),
        }
    }
}

/// One file, as the journal knows it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub tenant: String,
    pub partner: String,
    pub direction: Direction,
    pub name: String,
    pub size: u64,
    /// `None` for an upload that failed before its content was committed.
    #[serde(rename = "sha256", serialize_with = "serialize_hash")]
    pub hash: Option<ContentHash>,
    #[serde(serialize_with = "serialize_display")]
    pub state: MessageState,
    pub protocol: String,
    /// Where it came from: a peer address, a local path.
    pub source: String,
    /// For a delivered or acknowledgement file, the message it came from.
    pub origin: Option<MessageId>,
    /// Why it was rejected, quarantined, held or failed.
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

fn serialize_hash<S: serde::Serializer>(
    hash: &Option<ContentHash>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match hash {
        Some(hash) => s.serialize_str(&hash.to_string()),
        None => s.serialize_none(),
    }
}

fn serialize_display<T: fmt::Display, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// One link of a tenant's chain.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub tenant: String,
    pub seq: u64,
    pub at: Timestamp,
    #[serde(serialize_with = "serialize_display")]
    pub kind: EventKind,
    pub message: Option<MessageId>,
    pub partner: Option<String>,
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// A file visible in a mailbox.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub message: MessageId,
    pub hash: ContentHash,
    pub size: u64,
    pub created_at: Timestamp,
}

/// A file a partner sent: one line of its `/receipts/sent.csv`.
#[derive(Debug, Clone)]
pub struct SentRow {
    pub name: String,
    pub size: u64,
    pub sha256: Option<ContentHash>,
    pub received_at: Timestamp,
    /// The message's state: the verdict and how far it went.
    pub state: MessageState,
    pub reason: Option<String>,
    /// The partners it was delivered to.
    pub delivered_to: Vec<String>,
}

/// A file made available to a partner: one line of its
/// `/receipts/received.csv`.
#[derive(Debug, Clone)]
pub struct OfferedRow {
    pub name: String,
    pub size: u64,
    pub sha256: Option<ContentHash>,
    pub available_at: Timestamp,
    /// When the partner first downloaded every byte of it.
    pub downloaded_at: Option<Timestamp>,
}

/// A committed upload, ready to be recorded.
#[derive(Debug, Clone)]
pub struct Received {
    pub tenant: String,
    pub partner: String,
    pub name: String,
    pub hash: ContentHash,
    pub size: u64,
    /// `sftp`, `ftp`, `cli`, ...
    pub protocol: String,
    /// Where it came from: a peer address, a local path.
    pub source: String,
    /// Small content kept in the journal instead of the store, written in
    /// the same transaction (see `store::INLINE_MAX`).
    pub inline: Option<Vec<u8>>,
}

/// An upload that failed before its commit.
#[derive(Debug, Clone)]
pub struct UploadFailed {
    pub tenant: String,
    pub partner: String,
    pub name: String,
    pub bytes_received: u64,
    pub protocol: String,
    pub source: String,
    pub error: String,
}

/// Who made a decision (`builtin:route-table`, `plugin:<sha256>`) and
/// what it logged while making it. Recorded with the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub by: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
    /// The key-value writes the decision made: committed in the transaction
    /// that records it, so a decision that fails or is never recorded
    /// leaves none. Not part of the event.
    #[serde(skip)]
    pub kv: Vec<KvWrite>,
}

/// One write to a partner's key-value store: `None` deletes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    pub partner: String,
    pub key: String,
    pub value: Option<Vec<u8>>,
}

impl Provenance {
    pub fn builtin(name: &str) -> Provenance {
        Provenance {
            by: format!("builtin:{name}"),
            logs: Vec::new(),
            kv: Vec::new(),
        }
    }
}

/// A validator's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    Accept,
    Reject { reasons: Vec<String> },
    Quarantine { reason: String },
}

/// One copy of a message to make, into a partner's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub to: String,
    pub name: String,
    /// Transforms a router asked for this copy (`zip`, `encrypt`), besides
    /// the target's own settings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
}

/// A router's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    Deliver(Vec<Delivery>),
    Hold { reason: String },
}

/// What an acknowledger is told about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum AckEvent {
    /// Every delivery of the message is done.
    Delivered,
    /// A partner downloaded all of a file.
    Downloaded {
        by: String,
    },
    Rejected {
        reasons: Vec<String>,
    },
    Failed {
        reason: String,
    },
}

impl AckEvent {
    pub fn name(&self) -> &'static str {
        match self {
            AckEvent::Delivered => "delivered",
            AckEvent::Downloaded { .. } => "downloaded",
            AckEvent::Rejected { .. } => "rejected",
            AckEvent::Failed { .. } => "failed",
        }
    }
}

/// A pipeline step still to do for a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "lowercase")]
pub enum Step {
    /// Verdict, then routing.
    Process,
    Deliver(Delivery),
    Acknowledge(AckEvent),
    /// Place an outbound message on its partner's server.
    Push,
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Process => "process",
            Step::Deliver(_) => "deliver",
            Step::Acknowledge(_) => "acknowledge",
            Step::Push => "push",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub tenant: String,
    pub message: MessageId,
    pub step: Step,
    pub attempts: u32,
    /// The token of the lease this worker holds on the task (see
    /// [`TaskQueue::lease`]); finishing the task checks it.
    pub lease: Option<i64>,
}

/// An acknowledgement file already committed to the store.
#[derive(Debug, Clone)]
pub struct AckFile {
    pub partner: String,
    pub name: String,
    pub hash: ContentHash,
    pub size: u64,
    /// The partner takes files from its own server: push it there too.
    pub push: bool,
}

/// A remote file a pull has seen: its path and the size and time it had.
/// The same path with another size or time is another file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledKey {
    pub tenant: String,
    pub partner: String,
    pub path: String,
    pub size: u64,
    pub modified: Option<i64>,
}

/// What the journal knows of a pulled remote file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    pub message: MessageId,
    /// Whether the source's disposition (delete, move, rename) was done.
    pub disposed: bool,
}

/// A file moved between two partners' servers without passing through ferry.
#[derive(Debug, Clone)]
pub struct FxpRecord {
    pub key: PulledKey,
    pub to: String,
    pub name: String,
    /// Where it went, for the event.
    pub detail: serde_json::Value,
    /// The SHA-256 both servers agreed on, when they could compute one.
    pub sha256: Option<ContentHash>,
}

/// A dead-lettered task, as operators see it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadTask {
    pub id: i64,
    pub tenant: String,
    pub message: MessageId,
    pub step: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// A download that ended (its handle was closed).
#[derive(Debug, Clone)]
pub struct Download {
    pub tenant: String,
    pub partner: String,
    pub message: MessageId,
    pub name: String,
    /// Distinct bytes of the file that were read.
    pub bytes_read: u64,
    pub complete: bool,
    pub protocol: String,
    pub source: String,
}

/// A mailbox file to rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rename {
    pub partner: String,
    pub mailbox: Mailbox,
    pub old_name: String,
    pub new_name: String,
}

/// A filter for `messages`.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub id: Option<MessageId>,
    pub tenant: Option<String>,
    pub partner: Option<String>,
    pub direction: Option<Direction>,
    /// Only messages committed at or after this time.
    pub since: Option<Timestamp>,
    /// Only messages older than this one (history as of its arrival).
    pub before: Option<MessageId>,
    /// Only messages committed before this time.
    pub until: Option<Timestamp>,
    /// Only messages whose name contains this text (as it is: case counts).
    pub name: Option<String>,
    /// Only messages with this content (lower-case hex SHA-256).
    pub sha256: Option<String>,
    /// Only messages in this state (a verdict: `rejected`, `delivered`...).
    pub state: Option<MessageState>,
    pub limit: Option<usize>,
}

/// A plugin version pinned by a rollback, while the configured file is
/// still the one it was rolled back from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginPin {
    pub sha256: String,
    pub file_sha256: String,
}

/// The journal's operations. Every method is one transaction.
///
/// It is the sum of its roles, each small enough to implement for another
/// backend on its own; whatever implements them all is a `Journal`.
pub trait Journal:
    Intake + TaskQueue + Mailboxes + PluginState + Chain + Proofs + Cluster + Settings
{
}

impl<T: Intake + TaskQueue + Mailboxes + PluginState + Chain + Proofs + Cluster + Settings> Journal
    for T
{
}

/// What nodes tell each other (`Cluster::tell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// `NODE` (the whole configuration changed) or `NODE/TENANT` (one
    /// tenant's own change): the others read theirs again.
    Config,
    /// `ban SECONDS TENANT ORIGIN` or `lift TENANT ORIGIN` (`-` for the
    /// logins of unknown tenants): every node's guard applies it.
    Bans,
    /// `kick NODE TENANT ID`: node `NODE` closes its session `ID` of
    /// `TENANT` (an operator's kick through another node's admin API).
    Sessions,
}

/// What a node says of itself in its heartbeat.
#[derive(Debug, Clone, Serialize)]
pub struct NodeBeat {
    pub node: String,
    /// ferry's version.
    pub version: String,
    pub started_at: Timestamp,
    /// Sessions and tasks running: free-form, shown as it is.
    pub load: serde_json::Value,
}

/// A node as the journal last heard of it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub node: String,
    pub version: String,
    pub started_at: Timestamp,
    /// The last heartbeat, by the journal's clock.
    pub last_beat: Timestamp,
    /// How long ago that was, by the same clock: nodes' own clocks may
    /// disagree with it.
    pub silent_for_ms: i64,
    pub load: serde_json::Value,
}

/// The nodes that share the journal: their heartbeats, and the jobs only
/// one of them may run at a time (a pull source's polls).
pub trait Cluster: Send + Sync {
    /// Records that `beat.node` is alive now, with what it says of itself.
    fn heartbeat(&self, beat: &NodeBeat) -> Result<()>;

    /// The nodes that beat, the most recent first.
    fn nodes(&self) -> Result<Vec<NodeStatus>>;

    /// Takes, or keeps, the lease on `job` for `owner` for `term` from now
    /// (the journal's clock): whether `owner` holds it. Another owner's
    /// lease that is still running is kept from it.
    fn hold(&self, job: &str, owner: &str, term: Duration) -> Result<bool>;

    /// Gives up `owner`'s lease on `job`, if it holds it.
    fn let_go(&self, job: &str, owner: &str) -> Result<()>;

    /// A secret the nodes share (sealed: the journal never holds one in
    /// clear), by name.
    fn secret(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Keeps `sealed` as the secret `name` unless one is kept already, and
    /// returns the one kept: of two nodes offering at once, both end with
    /// the same.
    fn offer_secret(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>>;

    /// Tells every node (this one too) `message` on `topic`: a change of
    /// the configuration they share, a ban. A hint, delivered while nodes
    /// listen; the embedded journal has no other node and tells nothing.
    fn tell(&self, topic: Topic, message: &str) -> Result<()> {
        let _ = (topic, message);
        Ok(())
    }

    /// Calls `heard(message)` for each message told on `topic`, and
    /// `heard("")` when messages may have been missed (a connection lost
    /// and back).
    fn on_told(&self, topic: Topic, heard: Box<dyn Fn(&str) + Send + Sync>) {
        let _ = (topic, heard);
    }
}

/// Files coming in: uploads committed, waiting for their signal,
/// suspended for a resume, failed; files pulled from partners' servers and
/// moved between them by FXP.
pub trait Intake: Send + Sync {
    /// Records a committed upload: the message, its inbox entry, a `received`
    /// event and the pipeline task that will judge and route it. When this
    /// returns, the upload is durable and may be acknowledged to the client.
    fn record_received(&self, received: &Received) -> Result<MessageId>;

    /// Records a stored upload that is not complete yet: no mailbox entry,
    /// no pipeline task, a `staged` event. See `complete_pending`.
    fn record_pending(&self, received: &Received) -> Result<MessageId>;

    /// A partner's pending upload by name.
    fn find_pending(&self, tenant: &str, partner: &str, name: &str) -> Result<Option<Message>>;

    /// Completes a pending upload under `name`: from here on it is exactly
    /// like `record_received` (inbox entry, `received` event, pipeline task).
    fn complete_pending(&self, tenant: &str, id: MessageId, name: &str) -> Result<()>;

    /// Gives up on a pending upload, with why.
    fn fail_pending(&self, tenant: &str, id: MessageId, reason: &str) -> Result<()>;

    /// Keeps an interrupted upload for resumption: `staging` names its bytes
    /// in the store. Returns the staging name and size of an older one of
    /// the same name it replaces.
    fn suspend_upload(
        &self,
        tenant: &str,
        partner: &str,
        name: &str,
        staging: &str,
        size: u64,
    ) -> Result<Option<(String, u64)>>;

    /// Gives up interrupted uploads of `tenant` kept since before `before`,
    /// and those of a partner beyond its `keep` newest: returns each
    /// (partner, staging name, size), for the store to remove.
    fn expire_suspended(
        &self,
        tenant: &str,
        before: Timestamp,
        keep: u32,
    ) -> Result<Vec<(String, String, u64)>>;

    /// Takes an interrupted upload to continue it: (staging name, size).
    fn take_suspended(
        &self,
        tenant: &str,
        partner: &str,
        name: &str,
    ) -> Result<Option<(String, u64)>>;

    /// The size of an interrupted upload, if there is one.
    fn suspended_size(&self, tenant: &str, partner: &str, name: &str) -> Result<Option<u64>>;

    /// The staging names of all interrupted uploads of a tenant.
    fn suspended(&self, tenant: &str) -> Result<Vec<String>>;

    /// Records an upload that failed before its commit.
    fn record_upload_failed(&self, failed: &UploadFailed) -> Result<MessageId>;

    /// Records a pulled file exactly like `record_received`, and `key` as
    /// pulled, in one transaction: a crash leaves both or neither.
    fn record_pulled(&self, received: &Received, key: &PulledKey) -> Result<MessageId>;

    /// The remote path a pulled message came from.
    fn pulled_path(&self, tenant: &str, message: MessageId) -> Result<Option<String>>;

    /// What was pulled under `key`, if anything.
    fn pulled(&self, key: &PulledKey) -> Result<Option<Pulled>>;

    /// Records that a pulled file's source was dealt with (`then`).
    fn mark_disposed(&self, key: &PulledKey, detail: &serde_json::Value) -> Result<()>;

    /// Records an FXP transfer: a message in from the source partner and
    /// one out to the target, both done, and the source key as pulled.
    fn record_fxp(&self, fxp: &FxpRecord) -> Result<MessageId>;
}

/// The pipeline's work: tasks claimed when due, each step's writes
/// committed with the task marked done in one transaction (the writes
/// themselves are the pipeline's: see [`StepWriter`]), dead letters listed.
pub trait TaskQueue: Send + Sync {
    /// Tasks of `tenant` due at `now`, oldest first, leaving out the ids in `busy`.
    fn due_tasks(
        &self,
        tenant: &str,
        now: Timestamp,
        busy: &[i64],
        limit: usize,
    ) -> Result<Vec<Task>>;

    /// When the next task is due, if any is pending.
    fn next_due(&self) -> Result<Option<Timestamp>>;

    /// Leases a due task to `owner` (a node) for `term`, measured by the
    /// journal's clock (the database's, shared by every node): until the
    /// lease ends no other owner can lease it and `due_tasks` leaves it
    /// out. On success `task.lease` holds the lease's token, which
    /// finishing the task checks ([`StepWriter::complete`], `reschedule`,
    /// `bury`), so that a worker whose lease ran out and was taken over
    /// cannot record the step a second time. `false` when the task is not
    /// pending or another lease on it is still running.
    fn lease(&self, task: &mut Task, owner: &str, term: Duration) -> Result<bool>;

    /// Extends by `term` from now the leases `owner` holds on `tasks` (id,
    /// token); returns the ids of those it no longer holds.
    fn renew(&self, owner: &str, tasks: &[(i64, i64)], term: Duration) -> Result<Vec<i64>>;

    /// Ends every lease `owner` holds: a node that starts again takes its
    /// unfinished tasks back at once instead of waiting for its old leases
    /// to run out.
    fn release_leases(&self, owner: &str) -> Result<u64>;

    /// Calls `wake` when another process queues a task, as soon as the
    /// backend can tell (PostgreSQL: `LISTEN`). A hint only: a wake-up may
    /// be lost (a connection down), so the pipeline polls as well. The
    /// embedded journal has no other writer worth waiting for and tells
    /// nothing. Returns whether wake-ups will come: the pipeline then polls
    /// seldom.
    fn on_new_work(&self, wake: Box<dyn Fn() + Send + Sync>) -> bool {
        let _ = wake;
        false
    }

    /// Runs one step of `tenant` as one transaction: `write` makes the
    /// step's writes through the [`StepWriter`], and they commit together
    /// when it returns `Ok` (durably, before this returns) or not at all.
    /// What the writes are is the pipeline's to decide
    /// (`pipeline::Transitions`); a backend may call `write` again on a
    /// fresh transaction when its database asks for a retry.
    fn step(
        &self,
        tenant: &str,
        write: &mut dyn FnMut(&mut dyn StepWriter) -> Result<()>,
    ) -> Result<()>;

    /// Records that a push of `message` is about to write to the partner's
    /// server; returns whether an earlier attempt already had.
    fn push_started(&self, tenant: &str, message: MessageId) -> Result<bool>;

    /// How many pipeline tasks wait (`pending`) or were given up on
    /// (`dead`), by tenant: `(tenant, state, count)`.
    fn open_tasks(&self) -> Result<Vec<(String, String, u64)>>;

    /// Dead-lettered tasks of a tenant, oldest first.
    fn dead_tasks(&self, tenant: &str) -> Result<Vec<DeadTask>>;
}

/// What partners see: messages, mailbox entries (listed, found, hidden,
/// renamed), resends, inline content, and what retention may
/// remove.
pub trait Mailboxes: Send + Sync {
    fn message(&self, tenant: &str, id: MessageId) -> Result<Message>;

    fn list_mailbox(&self, tenant: &str, partner: &str, mailbox: Mailbox) -> Result<Vec<Entry>>;

    fn find_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<Option<Entry>>;

    /// Every file `partner` sent (stored, not failed or pending), oldest
    /// first, with the partners each was delivered to.
    fn sent_files(&self, tenant: &str, partner: &str) -> Result<Vec<SentRow>>;

    /// Every file made available to `partner`, oldest first, with its first
    /// complete download.
    fn offered_files(&self, tenant: &str, partner: &str) -> Result<Vec<OfferedRow>>;

    /// Puts the newest file made available to `partner` under the name
    /// `request` (or with the SHA-256 `request`) back in its outbox, with a
    /// `resent` event. `None` when there is no such file.
    fn resend(
        &self,
        tenant: &str,
        partner: &str,
        request: &str,
        source: &str,
    ) -> Result<Option<Entry>>;

    /// Content kept inline with the upload that brought it, if this hash's is.
    fn inline_content(&self, tenant: &str, hash: &ContentHash) -> Result<Option<Vec<u8>>>;

    /// Hides a file from a partner's view; its content and history stay.
    fn hide_entry(&self, tenant: &str, partner: &str, mailbox: Mailbox, name: &str)
    -> Result<bool>;

    /// Records a folder a partner made (its path relative to the mailbox);
    /// whether it is new.
    fn make_folder(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        path: &str,
    ) -> Result<bool>;

    /// Forgets a folder a partner made; whether there was one. Whether it
    /// is empty is the caller's to check.
    fn remove_folder(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        path: &str,
    ) -> Result<bool>;

    /// The folders a partner made in a mailbox, by path.
    fn folders(&self, tenant: &str, partner: &str, mailbox: Mailbox) -> Result<Vec<String>>;

    /// Whether any visible file of a partner's mailbox lies below `folder`
    /// (its name starts with `folder/`): one range lookup, not a listing.
    fn has_files_below(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        folder: &str,
    ) -> Result<bool>;

    /// Removes from every mailbox of the tenant the files that arrived
    /// before `before` and have no pending pipeline work, recording an
    /// `expired` event for each, and drops the inline content that nothing
    /// of [`Journal::content_in_use`] names any more. Returns how many
    /// entries left a mailbox. Blobs are the store's to sweep.
    fn expire(&self, tenant: &str, before: Timestamp) -> Result<usize>;

    /// The content the tenant's journal still needs: what a mailbox entry,
    /// an upload waiting for its rename or sidecar, or a pending or dead
    /// task (a dead letter can be retried) names. Retention's mark: the
    /// store sweeps the rest.
    fn content_in_use(&self, tenant: &str) -> Result<std::collections::HashSet<ContentHash>>;

    /// Renames a visible file in a partner's mailbox; its content and history stay.
    fn rename_entry(
        &self,
        tenant: &str,
        partner: &str,
        mailbox: Mailbox,
        old: &str,
        new: &str,
    ) -> Result<bool>;
}

/// What plugins keep: their key-value store, and the version pinned for
/// each plugin slot with its history.
pub trait PluginState: Send + Sync {
    fn kv_get(&self, tenant: &str, partner: &str, key: &str) -> Result<Option<Vec<u8>>>;

    fn kv_set(&self, tenant: &str, partner: &str, key: &str, value: &[u8]) -> Result<()>;

    fn kv_delete(&self, tenant: &str, partner: &str, key: &str) -> Result<()>;

    fn kv_count(&self, tenant: &str, partner: &str) -> Result<usize>;

    /// The pinned version of a plugin role, if a rollback set one.
    fn plugin_pin(&self, tenant: &str, partner: &str, role: &str) -> Result<Option<PluginPin>>;

    /// Sets or (with `None`) clears a pin.
    fn set_plugin_pin(
        &self,
        tenant: &str,
        partner: &str,
        role: &str,
        pin: Option<&PluginPin>,
    ) -> Result<()>;

    /// The `plugin-version` events of a partner's role, oldest first.
    fn plugin_events(&self, tenant: &str, partner: &str, role: &str) -> Result<Vec<Event>>;
}

/// The hash-chained events and the questions asked of them: any event
/// recorded, messages and their events, received bytes, the chain
/// verified, a tenant's rows listed and purged.
pub trait Chain: Send + Sync {
    /// Appends an event that belongs to no message (a configuration reload, say).
    fn record_event(&self, tenant: &str, kind: EventKind, detail: serde_json::Value) -> Result<()>;

    fn messages(&self, query: &MessageQuery) -> Result<Vec<Message>>;

    /// The events of a message and of the messages that came from it, in chain order.
    fn message_events(&self, tenant: &str, id: MessageId) -> Result<Vec<Event>>;

    /// Tenants that have events.
    fn tenants(&self) -> Result<Vec<String>>;

    /// Deletes everything recorded of `tenant`, its chain included, and
    /// returns the rows deleted. For a tenant no longer configured, when
    /// the operator purges it.
    fn purge_tenant(&self, tenant: &str) -> Result<u64>;

    /// Bytes received from each partner of `tenant` (uploads and pulls,
    /// stored, rejected or not) since `since`, or ever, and the bytes of its
    /// interrupted uploads kept to resume: what counts against a storage
    /// quota.
    fn received_bytes(&self, tenant: &str, since: Option<Timestamp>) -> Result<Vec<(String, u64)>>;

    /// Recomputes a tenant's chain.
    fn verify(&self, tenant: &str) -> Result<ChainReport>;
}
