//! Plugins: WebAssembly components, one per partner and role, hosted by
//! wasmtime in a strict sandbox.
//!
//! - `engine.rs`: one `wasmtime::Engine` with epoch interruption and the
//!   pooling allocator, a linker with WASI (no preopens, no environment, no
//!   sockets) and ferry's `host` interface, the on-disk compile cache, and
//!   [`Plugin`]: one loaded version, called with a fresh `Store` per call.
//! - `state.rs`: what a call's `Store` holds; the host imports, counted
//!   and timed; the aggregate memory limiter.
//! - `kv.rs`: a call's key-value writes, held for the decision's
//!   transaction.
//! - `services.rs`: where host imports get their answers (the journal and
//!   the store in the server, fixtures in the runner).
//! - `registry.rs`: which version serves each (tenant, partner, role), hot
//!   swapped when a plugin file changes.
//!
//! wasmtime's bindgen types never leave this module: callers pass and get
//! ferry's own types (`journal::Verdict`, `journal::Routing`, ...).

mod bindings;
mod convert;
mod engine;
mod kv;
mod registry;
mod replay;
mod services;
mod state;
mod steps;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use engine::{Plugin, PluginEngine};
pub use registry::{Change, Registry, Slot, SlotKey};
pub use replay::{ReplayError, ReplayReport, ReplayScope, Replayed, replay};
pub use services::{HistoryEntry, HistoryQuery, HostServices, JournalServices, MemoryServices};
pub use state::LogLine;
pub use steps::{CpuCharge, PluginStep};

pub use crate::pipeline::AckAction;

/// The role a plugin takes, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Validator,
    Router,
    Acknowledger,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Validator, Role::Router, Role::Acknowledger];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Validator => "validator",
            Role::Router => "router",
            Role::Acknowledger => "acknowledger",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "validator" => Ok(Role::Validator),
            "router" => Ok(Role::Router),
            "acknowledger" => Ok(Role::Acknowledger),
            other => Err(format!(
                "unknown role `{other}`, expected `validator`, `router` or `acknowledger`"
            )),
        }
    }
}

/// The limits of one call.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Wall-clock CPU budget, enforced by epoch interruption.
    pub deadline: Duration,
    /// The sum of all linear memories of the component, in bytes.
    pub memory: usize,
    /// The size of what a call returns (reasons, names, file contents), in bytes.
    pub output: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            deadline: Duration::from_millis(50),
            memory: 64 << 20,
            output: 1 << 20,
        }
    }
}

/// Why a plugin could not be loaded or could not decide. Every variant says
/// what happened in words fit for a quarantine reason.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read the plugin {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error("the component needs an import ferry does not give: {0}")]
    Import(String),
    #[error("the component does not implement the `{role}` world: {reason}")]
    WrongWorld { role: Role, reason: String },
    #[error("the plugin ran past its deadline of {0:?}")]
    Deadline(Duration),
    #[error("the plugin exceeded its memory limit of {limit} bytes")]
    Memory { limit: usize },
    #[error("the plugin overflowed its stack (too deep a recursion)")]
    StackOverflow,
    #[error("the plugin returned {size} bytes, over the limit of {limit}")]
    OutputTooLarge { size: usize, limit: usize },
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin asked the host for too much: {0}")]
    HostLimit(String),
    #[error("no plugin instance is free (the pool is exhausted): {0}")]
    Busy(String),
    #[error("plugin engine: {0}")]
    Engine(String),
}

/// What a call gave, with what it cost.
#[derive(Debug, Clone)]
pub struct Outcome<T> {
    pub value: T,
    pub logs: Vec<LogLine>,
    pub elapsed: Duration,
    /// The largest total of linear memory the call reached, in bytes.
    pub peak_memory: usize,
    /// How many host functions it called.
    pub host_calls: u64,
    /// Its key-value writes (`None` deletes), for the caller to commit with
    /// the decision; nothing was written yet.
    pub kv: Vec<(String, Option<Vec<u8>>)>,
    /// The transforms a router asked for, as (partner, operation).
    pub transforms: Vec<(String, String)>,
}

/// The file a decision is about, as the plugin sees it.
#[derive(Debug, Clone)]
pub struct FileMeta {
    pub tenant: String,
    pub partner: String,
    pub direction: crate::journal::Direction,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub protocol: String,
    pub source: String,
    pub message_id: i64,
    pub received_at: i64,
}

impl FileMeta {
    pub fn of(message: &crate::journal::Message) -> FileMeta {
        FileMeta {
            tenant: message.tenant.clone(),
            partner: message.partner.clone(),
            direction: message.direction,
            name: message.name.clone(),
            size: message.size,
            sha256: message.hash.map(|h| h.to_string()).unwrap_or_default(),
            protocol: message.protocol.clone(),
            source: message.source.clone(),
            message_id: message.id.0,
            received_at: message.created_at.0,
        }
    }
}
