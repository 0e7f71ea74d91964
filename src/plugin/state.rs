//! What one call's `Store` holds, and the host side of the `host` interface.

use serde::Serialize;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use std::time::{Duration, Instant};

use super::bindings::{host, types};
use super::engine::thread_cpu;
use super::kv::{self, KvBatch};
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
/// Host calls one plugin call may make, and the bytes they may hand it
/// (file content, history, values): past either the call traps.
pub(super) const MAX_HOST_CALLS: u64 = 100_000;
pub(super) const MAX_HOST_BYTES: u64 = 256 << 20;
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
    /// The thread's CPU clock when the call began.
    pub cpu_started: Duration,
    /// Wall-clock time host calls spent waiting (for the disk, the
    /// journal) rather than computing: the CPU clock does not see it, so
    /// it is charged to an allowance of its own here.
    pub waited: Duration,
    pub host_calls: u64,
    pub host_bytes: u64,
    pub kv: KvBatch,
    /// Transforms a router asked for, as (partner, operation).
    pub transforms: Vec<(String, String)>,
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
            cpu_started: thread_cpu(),
            waited: Duration::ZERO,
            host_calls: 0,
            host_bytes: 0,
            kv: KvBatch::default(),
            transforms: Vec::new(),
        }
    }

    /// The CPU time the call's thread has used: what the deadline limits.
    pub fn cpu_used(&self) -> Duration {
        thread_cpu().saturating_sub(self.cpu_started)
    }

    /// How long host calls may wait in all: ten times the CPU deadline, at
    /// least a second. Waits are wall-clock time, which also holds the
    /// moments the thread was preempted on a busy machine; a separate,
    /// larger allowance keeps a loaded host from failing honest plugins.
    fn wait_allowance(&self) -> Duration {
        (self.limits.deadline * 10).max(Duration::from_secs(1))
    }

    /// Runs one host call: counted, its time charged to the call's wait
    /// allowance, the `bytes` it hands the guest counted against the call's
    /// allowance.
    fn host<R>(
        &mut self,
        bytes: impl FnOnce(&R) -> usize,
        call: impl FnOnce(&mut CallState) -> wasmtime::Result<R>,
    ) -> wasmtime::Result<R> {
        self.host_calls += 1;
        if self.host_calls > MAX_HOST_CALLS {
            return Err(limit(format!("more than {MAX_HOST_CALLS} host calls")));
        }
        // The whole host call is charged to the wait allowance, in wall
        // time: the thread's CPU clock is a system call, three of them
        // were a tenth of a small decision, and the CPU a host call uses
        // is on the thread's clock anyway, which the epoch ticker checks
        // against the deadline every millisecond.
        let wall = Instant::now();
        let result = call(self)?;
        self.waited += wall.elapsed();
        self.host_bytes += bytes(&result) as u64;
        if self.host_bytes > MAX_HOST_BYTES {
            return Err(limit(format!(
                "more than {} MiB from the host",
                MAX_HOST_BYTES >> 20
            )));
        }
        if self.waited >= self.wait_allowance() {
            return Err(limit(format!(
                "its host calls waited more than {:?}",
                self.wait_allowance()
            )));
        }
        Ok(result)
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
        self.host(Vec::len, |state| {
            // A guest asks for a chunk (often the most it may have) and
            // gets what is left of the file: zeroing a megabyte to return
            // a few bytes was half the cost of a decision.
            let size = state
                .services
                .size()
                .map_err(|e| wasmtime::Error::msg(format!("reading the file: {e}")))?;
            let left = size.saturating_sub(offset);
            let mut buf = vec![0; u64::from(len.min(MAX_READ)).min(left) as usize];
            let mut filled = 0;
            while filled < buf.len() {
                let n = state
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
        })
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
        let size = |entries: &Vec<types::HistoryEntry>| {
            entries
                .iter()
                .map(|e| 64 + e.name.len() + e.state.len())
                .sum()
        };
        self.host(size, |state| {
            let entries = state
                .services
                .history(&query)
                .map_err(|e| wasmtime::Error::msg(format!("history: {e}")))?;
            Ok(entries.into_iter().map(Into::into).collect())
        })
    }

    fn log(&mut self, level: types::Level, message: String) -> wasmtime::Result<()> {
        self.host(
            |_| 0,
            |state| {
                state.log_line(level, message);
                Ok(())
            },
        )
    }

    fn param(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        self.host(
            |value: &Option<String>| value.as_ref().map_or(0, String::len),
            |state| Ok(state.services.param(&name)),
        )
    }

    fn kv_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.host(
            |value: &Option<Vec<u8>>| value.as_ref().map_or(0, Vec::len),
            |state| {
                state
                    .kv
                    .get(&mut *state.services, &key)
                    .map_err(|e| wasmtime::Error::msg(format!("kv-get: {e}")))
            },
        )
    }

    fn kv_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.host(|_| 0, |state| state.kv_write(key, Some(value)))
    }

    fn kv_delete(&mut self, key: String) -> wasmtime::Result<()> {
        self.host(|_| 0, |state| state.kv_write(key, None))
    }

    fn transform_delivery(&mut self, to: String, operation: String) -> wasmtime::Result<()> {
        self.host(
            |_| 0,
            |state| {
                // Requests are checked against the decision after the call
                // (`plugin/steps.rs`); here they are only counted.
                if state.transforms.len() >= MAX_TRANSFORMS {
                    return Err(limit(format!(
                        "more than {MAX_TRANSFORMS} transform requests"
                    )));
                }
                state.transforms.push((to, operation));
                Ok(())
            },
        )
    }
}

/// Transform requests one call may make.
const MAX_TRANSFORMS: usize = 1000;

impl CallState {
    fn kv_write(&mut self, key: String, value: Option<Vec<u8>>) -> wasmtime::Result<()> {
        match self.kv.set(&mut *self.services, key, value) {
            Ok(()) => Ok(()),
            Err(kv::Refused::Limit(what)) => Err(limit(what)),
            Err(kv::Refused::Journal(e)) => Err(wasmtime::Error::msg(format!("kv-set: {e}"))),
        }
    }

    fn log_line(&mut self, level: types::Level, message: String) {
        // Past the cap a plugin's lines are dropped, not traced: a plugin
        // cannot flood the server's log.
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs += 1;
            return;
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
