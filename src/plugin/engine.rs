//! The wasmtime engine, the compile cache, and calls into one plugin.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use super::bindings::acknowledger::AcknowledgerPre;
use super::bindings::router::RouterPre;
use super::bindings::validator::{Validator, ValidatorPre};
use super::convert::Returned;
use super::services::HostServices;
use super::state::{CallState, chain, classify};
use super::{AckAction, FileMeta, Limits, Outcome, PluginError, Role};
use crate::journal::{AckEvent, Routing, Verdict};

/// How often the epoch advances: the resolution of call deadlines.
const TICK: Duration = Duration::from_millis(1);

/// Bytes of each plugin memory kept resident between calls (see
/// `PluginEngine::new`): what a small plugin touches in a call.
const KEEP_RESIDENT: usize = 2 << 20;
/// Slots kept warm for plugins not running; with [`KEEP_RESIDENT`], this
/// bounds the resident memory idle plugins keep (each slot up to
/// `KEEP_RESIDENT` for each of its memories). A partner's validator and
/// router called in turn stay warm with four.
const WARM_SLOTS: u32 = 4;

/// The plugin host: one per process.
pub struct PluginEngine {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Option<PathBuf>,
    compat: String,
    ticking: Arc<AtomicBool>,
}

/// One loaded version of a plugin, ready to be called.
pub struct Plugin {
    pub sha256: String,
    pub role: Role,
    /// Bytes of the component.
    pub size: usize,
    pre: Pre,
}

enum Pre {
    Validator(ValidatorPre<CallState>),
    Router(RouterPre<CallState>),
    Acknowledger(AcknowledgerPre<CallState>),
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("sha256", &self.sha256)
            .field("role", &self.role)
            .finish()
    }
}

impl PluginEngine {
    /// `cache`: where compiled components are kept across restarts.
    pub fn new(cache: Option<&Path>) -> Result<PluginEngine, PluginError> {
        let engine_err = |e: wasmtime::Error| PluginError::Engine(chain(&e));
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // Deep recursion traps here rather than exhausting the host's stack.
        config.max_wasm_stack(512 << 10);
        let mut pool = PoolingAllocationConfig::new();
        // Calls in flight at once, across all tenants; a call beyond this
        // fails at once (`Busy`) instead of waiting.
        pool.total_component_instances(256);
        pool.total_core_instances(1024);
        pool.total_memories(512);
        pool.total_tables(1024);
        pool.total_stacks(256);
        // The largest any single memory may become; tenants' caps are lower
        // and enforced across all of a component's memories by the limiter.
        pool.max_memory_size(256 << 20);
        // A call makes a fresh instance. Resetting its memory with `madvise`
        // when it ends made every call take its pages back by page faults
        // (and other cores TLB shoot-downs): 55 µs of host time a call, most
        // of a decision. The low pages are reset by copying instead, and
        // slots stay with the plugin that used them last.
        pool.linear_memory_keep_resident(KEEP_RESIDENT);
        pool.table_keep_resident(64 << 10);
        pool.max_unused_warm_slots(WARM_SLOTS);
        pool.decommit_batch_size(16);
        pool.pagemap_scan(wasmtime::Enabled::Auto);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(engine_err)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(engine_err)?;
        // The three worlds import the same `host` interface: adding it once
        // serves them all.
        Validator::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(engine_err)?;

        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compat = format!("{:016x}", hasher.finish());

        let ticking = Arc::new(AtomicBool::new(true));
        let ticker_engine = engine.clone();
        let ticker_flag = Arc::clone(&ticking);
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while ticker_flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| PluginError::Engine(format!("starting the epoch ticker: {e}")))?;

        if let Some(dir) = cache {
            std::fs::create_dir_all(dir).map_err(|e| {
                PluginError::Engine(format!("creating the plugin cache {}: {e}", dir.display()))
            })?;
        }
        Ok(PluginEngine {
            engine,
            linker,
            cache: cache.map(Path::to_owned),
            compat,
            ticking,
        })
    }

    /// Reads, compiles (or loads from the cache) and checks a plugin file.
    pub fn load_file(&self, path: &Path, role: Role) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|e| PluginError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.load(&bytes, role)
    }

    /// Compiles (or loads from the cache) a component and checks that it
    /// implements `role`'s world with nothing but the imports ferry gives.
    pub fn load(&self, bytes: &[u8], role: Role) -> Result<Plugin, PluginError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self.component(bytes, &sha256)?;
        self.check(&component, sha256, role, bytes.len())
    }

    fn check(
        &self,
        component: &Component,
        sha256: String,
        role: Role,
        size: usize,
    ) -> Result<Plugin, PluginError> {
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| PluginError::Import(chain(&e)))?;
        let wrong = |e: wasmtime::Error| PluginError::WrongWorld {
            role,
            reason: chain(&e),
        };
        let pre = match role {
            Role::Validator => Pre::Validator(ValidatorPre::new(pre).map_err(wrong)?),
            Role::Router => Pre::Router(RouterPre::new(pre).map_err(wrong)?),
            Role::Acknowledger => Pre::Acknowledger(AcknowledgerPre::new(pre).map_err(wrong)?),
        };
        Ok(Plugin {
            sha256,
            role,
            size,
            pre,
        })
    }

    /// The roles a component implements (compiled once, checked per world).
    pub fn roles(&self, bytes: &[u8]) -> Result<Vec<Role>, PluginError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self.component(bytes, &sha256)?;
        let mut roles = Vec::new();
        let mut last = None;
        for role in Role::ALL {
            match self.check(&component, sha256.clone(), role, bytes.len()) {
                Ok(_) => roles.push(role),
                Err(e @ PluginError::WrongWorld { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        match (roles.is_empty(), last) {
            (true, Some(e)) => Err(e),
            _ => Ok(roles),
        }
    }

    fn component(&self, bytes: &[u8], sha256: &str) -> Result<Component, PluginError> {
        check_header(bytes)?;
        let Some(dir) = &self.cache else {
            return self.compile(bytes);
        };
        let artifact = dir.join(format!("{sha256}-{}.cwasm", self.compat));
        if let Some(component) = self.cached(&artifact) {
            return Ok(component);
        }
        let component = self.compile(bytes)?;
        if let Err(e) = write_artifact(&artifact, &component) {
            // A cache that cannot be written only costs a compile next time.
            tracing::warn!(path = %artifact.display(), error = %e, "cannot cache a compiled plugin");
        }
        Ok(component)
    }

    fn compile(&self, bytes: &[u8]) -> Result<Component, PluginError> {
        Component::new(&self.engine, bytes).map_err(|e| PluginError::Compile(chain(&e)))
    }

    /// A cached compilation, if present, intact and made by this engine.
    fn cached(&self, artifact: &Path) -> Option<Component> {
        let bytes = std::fs::read(artifact).ok()?;
        let checksum = std::fs::read_to_string(artifact.with_extension("cwasm.sha256")).ok()?;
        if hex::encode(Sha256::digest(&bytes)) != checksum.trim() {
            tracing::warn!(path = %artifact.display(), "a cached plugin does not match its checksum; recompiling");
            return None;
        }
        deserialize(&self.engine, &bytes)
    }
}

/// A fresh store for one call, with its limits and its CPU deadline.
fn new_store(
    engine: &Engine,
    services: Box<dyn HostServices>,
    limits: Limits,
    context: (String, String, String),
) -> Store<CallState> {
    let mut store = Store::new(engine, CallState::new(services, limits, context));
    store.limiter(|state| state);
    // The deadline is CPU time of the call's thread: a call that waits for
    // a core (pipeline workers run at low priority) is late, not failed.
    // Each epoch tick checks; host calls charge their time to an allowance
    // of their own (`CallState::host`); a
    // wall-clock cap still ends a call that a starved thread could
    // otherwise hold for ever.
    let wall_started = Instant::now();
    let wall_cap = (limits.deadline * 20).max(WALL_CAP);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |cx| {
        if cx.data().cpu_used() >= limits.deadline || wall_started.elapsed() >= wall_cap {
            Err(wasmtime::Trap::Interrupt.into())
        } else {
            Ok(wasmtime::UpdateDeadline::Continue(1))
        }
    });
    store
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// The shortest wall-clock cap on one call, however short its CPU deadline.
const WALL_CAP: Duration = Duration::from_secs(30);

/// CPU time the calling thread has used.
pub(super) fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Tells a core module or arbitrary bytes from a component before
/// wasmtime's parser does, for a clearer message.
fn check_header(bytes: &[u8]) -> Result<(), PluginError> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0x00, 0x01, 0x00]) => Ok(()),
        Some([0, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00]) => Err(PluginError::NotAComponent(
            "this is a core WebAssembly module; build the plugin for the \
             wasm32-wasip2 target, which makes a component"
                .into(),
        )),
        _ => Err(PluginError::NotAComponent(
            "the file does not start with the WebAssembly magic number".into(),
        )),
    }
}

fn write_artifact(artifact: &Path, component: &Component) -> std::io::Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| std::io::Error::other(chain(&e)))?;
    let checksum = hex::encode(Sha256::digest(&bytes));
    let tmp = artifact.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &bytes)?;
    std::fs::write(artifact.with_extension("cwasm.sha256"), checksum)?;
    std::fs::rename(tmp, artifact)
}

/// Loads a compiled component from the cache.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, bytes: &[u8]) -> Option<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be machine code
    // that this wasmtime produced. These bytes were written by
    // `write_artifact` above, from `Component::serialize` of this same
    // engine configuration (the file name carries the engine's
    // compatibility hash, and wasmtime re-checks its own header), into
    // ferry's private data directory; and they match the SHA-256 recorded
    // beside them when they were written, so a truncated or altered file is
    // recompiled instead. Anyone able to forge both files can already
    // replace the ferry binary itself.
    match unsafe { Component::deserialize(engine, bytes) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(error = %chain(&e), "a cached plugin does not load; recompiling");
            None
        }
    }
}

// Per thread: drained by the step that made the calls, on the same thread,
// and charged to that step's tenant.
thread_local! {
    /// CPU time the plugin calls made on this thread used.
    static CALLS_CPU: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
}

/// CPU time the plugin calls made on the calling thread used since the
/// last time it asked, for the pipeline's `plugin_cpu` accounting.
pub fn take_calls_cpu() -> Duration {
    CALLS_CPU.with(|c| c.replace(Duration::ZERO))
}

/// One call on a fresh store: what it returned, or why it failed.
fn call_here<R: Returned>(
    engine: &Engine,
    services: Box<dyn HostServices>,
    limits: Limits,
    context: (String, String, String),
    f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
) -> Result<Outcome<R::Ferry>, PluginError> {
    let started = Instant::now();
    let mut store = new_store(engine, services, limits, context);
    let returned = f(&mut store);
    let state = store.data();
    let returned = match returned {
        Ok(returned) => returned,
        Err(e) => {
            let text = chain(&e);
            if text.contains("maximum concurrent") || text.contains("pooling") {
                return Err(PluginError::Busy(text));
            }
            return Err(classify(e, state));
        }
    };
    let size = returned.size();
    if size > limits.output {
        return Err(PluginError::OutputTooLarge {
            size,
            limit: limits.output,
        });
    }
    let state = store.data_mut();
    Ok(Outcome {
        value: returned.convert(),
        logs: std::mem::take(&mut state.logs),
        elapsed: started.elapsed(),
        peak_memory: state.peak_memory,
        host_calls: state.host_calls,
        kv: std::mem::take(&mut state.kv).into_writes(),
        transforms: std::mem::take(&mut state.transforms),
    })
}

impl Plugin {
    /// Runs one call on the calling thread, counting its CPU time. (Handing
    /// calls to a thread of their own, to run them at a lower priority than
    /// the caller, was measured at 65 to 100 µs a call, against 29 µs for
    /// the whole call here; the pipeline's workers run at low priority
    /// instead.)
    fn call<R: Returned>(
        &self,
        engine: &PluginEngine,
        services: Box<dyn HostServices>,
        limits: Limits,
        file: &FileMeta,
        f: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<R>,
    ) -> Result<Outcome<R::Ferry>, PluginError> {
        let context = (
            file.tenant.clone(),
            file.partner.clone(),
            self.sha256[..12].to_owned(),
        );
        let started = thread_cpu();
        let result = call_here(&engine.engine, services, limits, context, f);
        let used = thread_cpu().saturating_sub(started);
        CALLS_CPU.with(|c| c.set(c.get() + used));
        result
    }

    fn wrong_role(&self, wanted: Role) -> PluginError {
        PluginError::WrongWorld {
            role: wanted,
            reason: format!("it was loaded as a {}", self.role),
        }
    }

    pub fn validate(
        &self,
        engine: &PluginEngine,
        services: Box<dyn HostServices>,
        limits: Limits,
        file: &FileMeta,
    ) -> Result<Outcome<Verdict>, PluginError> {
        let Pre::Validator(pre) = &self.pre else {
            return Err(self.wrong_role(Role::Validator));
        };
        let info = file.into();
        self.call(engine, services, limits, file, |store| {
            pre.instantiate(&mut *store)?
                .call_validate(&mut *store, &info)
        })
    }

    pub fn route(
        &self,
        engine: &PluginEngine,
        services: Box<dyn HostServices>,
        limits: Limits,
        file: &FileMeta,
    ) -> Result<Outcome<Routing>, PluginError> {
        let Pre::Router(pre) = &self.pre else {
            return Err(self.wrong_role(Role::Router));
        };
        let info = file.into();
        self.call(engine, services, limits, file, |store| {
            pre.instantiate(&mut *store)?.call_route(&mut *store, &info)
        })
    }

    pub fn acknowledge(
        &self,
        engine: &PluginEngine,
        services: Box<dyn HostServices>,
        limits: Limits,
        file: &FileMeta,
        event: &AckEvent,
    ) -> Result<Outcome<Vec<AckAction>>, PluginError> {
        let Pre::Acknowledger(pre) = &self.pre else {
            return Err(self.wrong_role(Role::Acknowledger));
        };
        let info = file.into();
        let event = event.into();
        self.call(engine, services, limits, file, |store| {
            pre.instantiate(&mut *store)?
                .call_acknowledge(&mut *store, &info, &event)
        })
    }
}
