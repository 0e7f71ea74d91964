//! Replays a candidate version of a partner's validator or router on the
//! partner's past uploads, and reports where its decisions would differ
//! from the ones recorded in the journal.
//!
//! A replay decides nothing: the candidate runs on each past file with the
//! history as it was then ([`JournalServices::as_of`]), under the tenant's
//! limits, and its decision is compared with the recorded verdict or
//! routing (without who made it). `ferry plugin replay`, the admin API's
//! `.../plugins/ROLE/replay` and the console's plugin page all use it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{FileMeta, JournalServices, Limits, Plugin, PluginEngine, Role};
use crate::journal::{
    Direction, EventKind, Journal, JournalError, MessageId, MessageQuery, Timestamp,
};
use crate::store::Store;

/// Whose past files to replay, and how many.
pub struct ReplayScope<'a> {
    pub journal: &'a Arc<dyn Journal>,
    pub store: &'a Store,
    pub tenant: &'a str,
    pub partner: &'a str,
    pub params: Arc<BTreeMap<String, String>>,
    pub limits: Limits,
    /// Only files received at or after this time.
    pub since: Option<Timestamp>,
    /// At most this many files, the newest.
    pub limit: usize,
}

/// What a replay found, oldest file first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplayReport {
    /// How many files were decided again.
    pub compared: usize,
    /// How many of those the candidate decides otherwise.
    pub differ: usize,
    pub files: Vec<Replayed>,
}

/// One past file decided again.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Replayed {
    pub message: i64,
    pub name: String,
    pub received_at: Timestamp,
    /// The decision the journal holds, if one was made.
    pub recorded: Option<Value>,
    /// The candidate's, or `{"error": ...}` when it failed on this file.
    pub candidate: Value,
    pub same: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replay compares verdicts and routes: an {0} plugin cannot be replayed")]
    Role(Role),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// Runs `plugin` on the scope's past uploads and compares its decisions.
pub fn replay(
    engine: &PluginEngine,
    plugin: &Plugin,
    scope: &ReplayScope<'_>,
) -> Result<ReplayReport, ReplayError> {
    let kind = match plugin.role {
        Role::Validator => EventKind::Verdict,
        Role::Router => EventKind::Routed,
        Role::Acknowledger => return Err(ReplayError::Role(plugin.role)),
    };
    let mut messages = scope.journal.messages(&MessageQuery {
        tenant: Some(scope.tenant.to_owned()),
        partner: Some(scope.partner.to_owned()),
        direction: Some(Direction::In),
        since: scope.since,
        limit: Some(scope.limit),
        ..MessageQuery::default()
    })?;
    messages.reverse();

    let mut report = ReplayReport {
        compared: 0,
        differ: 0,
        files: Vec::new(),
    };
    for message in messages {
        // An upload that never committed has nothing to decide about.
        let Some(hash) = message.hash else { continue };
        let recorded = scope
            .journal
            .message_events(&message.tenant, message.id)?
            .into_iter()
            .find(|e| e.kind == kind && e.message == Some(message.id))
            .map(|e| decision_only(e.detail));
        let services = JournalServices::new(
            Arc::clone(scope.journal),
            scope.store.clone(),
            Some(hash),
            &message.tenant,
            &message.partner,
            Arc::clone(&scope.params),
        )
        .as_of(MessageId(message.id.0));
        let file = FileMeta::of(&message);
        let decided = match plugin.role {
            Role::Validator => plugin
                .validate(engine, Box::new(services), scope.limits, &file)
                .map(|o| json!(o.value)),
            _ => plugin
                .route(engine, Box::new(services), scope.limits, &file)
                .map(|o| json!(o.value)),
        };
        let candidate = decided.unwrap_or_else(|e| json!({ "error": e.to_string() }));
        let same = recorded.as_ref() == Some(&candidate);
        report.compared += 1;
        report.differ += usize::from(!same);
        report.files.push(Replayed {
            message: message.id.0,
            name: message.name,
            received_at: message.created_at,
            recorded,
            candidate,
            same,
        });
    }
    Ok(report)
}

/// A recorded verdict or routing without who made it.
fn decision_only(mut detail: Value) -> Value {
    if let Some(fields) = detail.as_object_mut() {
        fields.remove("by");
        fields.remove("logs");
    }
    detail
}
