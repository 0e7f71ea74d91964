//! The pipeline: what happens to a file after its commit.
//!
//! Four steps, each a trait so that plugins can take any of them per partner:
//! a [`Validator`] gives a verdict, a [`Router`] lists deliveries, delivery
//! places the file in another partner's outbox, and an [`Acknowledger`] turns
//! events (delivered, downloaded, rejected, failed) into receipt files.
//!
//! Steps decide; they never act. The executor in `worker.rs` records each
//! decision and its consequences in one journal transaction, whose writes
//! `transitions.rs` spells out once for every journal backend; that is
//! what makes a restart resume pending work without repeating finished work.

mod builtin;
mod transform;
mod transitions;
mod worker;

use std::sync::Arc;

pub use builtin::{AcceptAll, ReceiptFiles, RouteTable};
pub use transform::TRANSFORMS;
pub use transitions::Transitions;
pub use worker::{Leasing, Pipeline, StepSource, StepsFor};

use crate::config;
use crate::journal::{AckEvent, Journal, Mailbox, Message, Provenance, Routing, Verdict};
use crate::store::{Blob, Store};

/// Why a step could not decide. For a validator or router this quarantines
/// the file with the message as the reason; for an acknowledger the step is
/// retried and, after the last attempt, dead-lettered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StepError(pub String);

/// What a step may look at: the message, its content, its partner's
/// settings, and the journal (for the partner's history).
pub struct Context<'a> {
    pub message: &'a Message,
    pub store: &'a Store,
    pub tenant: &'a config::Tenant,
    pub journal: &'a Arc<dyn Journal>,
}

/// A decision and who made it.
#[derive(Debug, Clone)]
pub struct Decided<T> {
    pub value: T,
    pub by: Provenance,
}

impl<T> Decided<T> {
    pub fn builtin(name: &str, value: T) -> Decided<T> {
        Decided {
            value,
            by: Provenance::builtin(name),
        }
    }
}

impl Context<'_> {
    /// The sending (or, for outbound messages, receiving) partner's settings.
    pub fn partner(&self) -> Option<&config::Partner> {
        self.tenant.partners.get(&self.message.partner)
    }

    /// The message's content, from the store or inline in the journal.
    pub fn content(&self) -> Result<Blob, StepError> {
        let hash = self
            .message
            .hash
            .ok_or_else(|| StepError("the message has no content".into()))?;
        let inline = self
            .journal
            .inline_content(&self.tenant.name, &hash)
            .map_err(|e| StepError(crate::error_chain(&e)))?;
        self.store
            .open_content(&hash, inline)
            .map_err(|e| StepError(crate::error_chain(&e)))
    }
}

pub trait Validator: Send + Sync {
    fn validate(&self, cx: &Context<'_>) -> Result<Decided<Verdict>, StepError>;
}

pub trait Router: Send + Sync {
    fn route(&self, cx: &Context<'_>) -> Result<Decided<Routing>, StepError>;
}

/// An acknowledgement to make.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum AckAction {
    /// Place a small file in a partner's outbox.
    WriteFile {
        partner: String,
        name: String,
        #[serde(skip)]
        content: Vec<u8>,
    },
    /// Rename a file in a partner's mailbox; its content and history stay.
    RenameFile {
        partner: String,
        mailbox: Mailbox,
        old_name: String,
        new_name: String,
    },
}

pub trait Acknowledger: Send + Sync {
    fn acknowledge(
        &self,
        cx: &Context<'_>,
        event: &AckEvent,
    ) -> Result<Decided<Vec<AckAction>>, StepError>;
}

/// The steps that apply to one partner's files.
#[derive(Clone)]
pub struct Steps {
    pub validator: Arc<dyn Validator>,
    pub router: Arc<dyn Router>,
    pub acknowledger: Arc<dyn Acknowledger>,
}

impl Default for Steps {
    /// The built-ins: accept everything, route by the partner's `routes`
    /// table, write `.received` / `.rejected` receipts.
    fn default() -> Steps {
        Steps {
            validator: Arc::new(AcceptAll),
            router: Arc::new(RouteTable),
            acknowledger: Arc::new(ReceiptFiles),
        }
    }
}
