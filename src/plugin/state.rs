//! What one call's `Store` holds, and the host side of the `host` interface.

use serde::Serialize;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{host, types};
use super::services::{HistoryQuery, HostServices};
use super::{Limits, PluginError};
use crate::journal::Direction;

/// The most a single `read` returns.
const MAX_READ: u32 = 1 << 20;
/// The most entries a `history` call returns.
const MAX_HISTORY: u32 = 10_000;
/// Log lines kept per call, and their length.
const MAX_LOG_LINES: usize = 100;
const MAX_LOG_LINE: usize = 2048;
/// The key-value store's limits per partner.
const MAX_KEY: usize = 256;
const MAX_VALUE: usize = 64 << 10;
const MAX_KEYS: usize = 1000;
/// Guest stderr kept (panic messages end up there).
const STDERR: usize = 8 << 10;

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// A limit a host import enforces; it traps the call.
#[derive(Debug)]
pub(super) struct HostLimit(pub String);

impl std::fmt::Display for HostLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostLimit {}

/// The memory limiter's verdict, kept as the call's error.
#[derive(Debug)]
pub(super) struct MemoryExceeded;

impl std::fmt::Display for MemoryExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("memory limit exceeded")
    }
}

impl std::error::Error for MemoryExceeded {}

pub(super) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub stderr: MemoryOutputPipe,
    services: Box<dyn HostServices>,
    pub limits: Limits,
    /// The sum of all linear memories now, and its peak.
    memory: usize,
    pub peak_memory: usize,
    pub logs: Vec<LogLine>,
    /// Lines logged past the cap.
    pub dropped_logs: u64,
    /// Names for log lines: tenant, partner, plugin.
    pub context: (String, String, String),
}

impl CallState {
    pub fn new(
        services: Box<dyn HostServices>,
        limits: Limits,
        context: (String, String, String),
    ) -> CallState {
        let stderr = MemoryOutputPipe::new(STDERR);
        // No preopened directories, no environment, no arguments, no
        // network: the plugin's only way out is the `host` interface.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            stderr,
            services,
            limits,
            memory: 0,
            peak_memory: 0,
            logs: Vec::new(),
            dropped_logs: 0,
            context,
        }
    }

    /// What the guest wrote to stderr (a Rust panic message, say), as one line.
    pub fn stderr_text(&self) -> String {
        let bytes = self.stderr.contents();
        String::from_utf8_lossy(&bytes).trim().replace('\n', " | ")
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl ResourceLimiter for CallState {
    /// Counts every linear memory of the component against one cap: a
    /// component with several memories cannot multiply its allowance.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory.saturating_sub(current) + desired;
        if total > self.limits.memory {
            return Err(wasmtime::Error::new(MemoryExceeded));
        }
        self.memory = total;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

fn limit(message: String) -> wasmtime::Error {
    wasmtime::Error::new(HostLimit(message))
}

impl types::Host for CallState {}

impl host::Host for CallState {
    fn read(&mut self, offset: u64, len: u32) -> wasmtime::Result<Vec<u8>> {
        let mut buf = vec![0; len.min(MAX_READ) as usize];
        let mut filled = 0;
        while filled < buf.len() {
            let n = self
                .services
                .read(offset + filled as u64, &mut buf[filled..])
                .map_err(|e| wasmtime::Error::msg(format!("reading the file: {e}")))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(buf)
    }

    fn history(
        &mut self,
        query: types::HistoryQuery,
    ) -> wasmtime::Result<Vec<types::HistoryEntry>> {
        let query = HistoryQuery {
            direction: query.direction.map(|d| match d {
                types::Direction::Inbound => Direction::In,
                types::Direction::Outbound => Direction::Out,
            }),
            since: query.since,
            limit: query.limit.min(MAX_HISTORY),
        };
        let entries = self
            .services
            .history(&query)
            .map_err(|e| wasmtime::Error::msg(format!("history: {e}")))?;
        Ok(entries.into_iter().map(Into::into).collect())
    }

    fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
        // Past the cap a plugin's lines are dropped, not traced: a plugin
        // cannot flood the server's log.
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs += 1;
            return Ok(());
        }
        let mut message = message;
        if message.len() > MAX_LOG_LINE {
            let mut end = MAX_LOG_LINE;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        let (tenant, partner, plugin) = &self.context;
        let level = match level {
            types::Level::Trace => "trace",
            types::Level::Debug => "debug",
            types::Level::Info => "info",
            types::Level::Warn => "warn",
            types::Level::Error => "error",
        };
        match level {
            "error" => tracing::error!(tenant, partner, plugin, "{message}"),
            "warn" => tracing::warn!(tenant, partner, plugin, "{message}"),
            "info" => tracing::info!(tenant, partner, plugin, "{message}"),
            "debug" => tracing::debug!(tenant, partner, plugin, "{message}"),
            _ => tracing::trace!(tenant, partner, plugin, "{message}"),
        }
        self.logs.push(LogLine { level, message });
        Ok(())
    }

    fn param(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.services.param(&name))
    }

    fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.services
            .kv_get(&key)
            .map_err(|e| wasmtime::Error::msg(format!("kv-get: {e}")))
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        if key.len() > MAX_KEY {
            return Err(limit(format!(
                "a key of {} bytes (at most {MAX_KEY})",
                key.len()
            )));
        }
        if value.len() > MAX_VALUE {
            return Err(limit(format!(
                "a value of {} bytes (at most {MAX_VALUE})",
                value.len()
            )));
        }
        let exists = self
            .services
            .kv_get(&key)
            .map_err(|e| wasmtime::Error::msg(format!("kv-set: {e}")))?
            .is_some();
        if !exists
            && self
                .services
                .kv_count()
                .map_err(|e| wasmtime::Error::msg(format!("kv-set: {e}")))?
                >= MAX_KEYS
        {
            return Err(limit(format!("more than {MAX_KEYS} keys")));
        }
        self.services
            .kv_set(&key, &value)
            .map_err(|e| wasmtime::Error::msg(format!("kv-set: {e}")))
    }

    fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.services
            .kv_delete(&key)
            .map_err(|e| wasmtime::Error::msg(format!("kv-delete: {e}")))
    }
}

/// Maps a failed call to why it failed, in words for a quarantine reason.
pub(super) fn classify(error: wasmtime::Error, state: &CallState) -> PluginError {
    if error.downcast_ref::<MemoryExceeded>().is_some() {
        return PluginError::Memory {
            limit: state.limits.memory,
        };
    }
    if let Some(HostLimit(what)) = error.downcast_ref::<HostLimit>() {
        return PluginError::HostLimit(what.clone());
    }
    let mut reason = match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => return PluginError::Deadline(state.limits.deadline),
        Some(wasmtime::Trap::StackOverflow) => return PluginError::StackOverflow,
        // The trap's own words, without the wasm backtrace wasmtime adds.
        Some(trap) => trap.to_string(),
        None => chain(&error),
    };
    let stderr = state.stderr_text();
    if !stderr.is_empty() {
        reason.push_str(&format!(" (stderr: {stderr})"));
    }
    PluginError::Trap(reason)
}

/// An error and its causes on one line, without wasm backtraces.
pub(super) fn chain(error: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        // wasmtime appends a multi-line backtrace to the trap's message.
        let first = text.lines().next().unwrap_or_default().trim().to_owned();
        if !first.is_empty() && !parts.contains(&first) {
            parts.push(first);
        }
    }
    parts.join(": ")
}
