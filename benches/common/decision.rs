//! Plugin decision overhead, shared by `benches/plugins.rs` and the
//! `ferry-bench` command: one decision is a validation (the JSON validator,
//! no schema: a parse of the file) and a routing (the glob router), each in
//! a fresh `Store` and instance, as the pipeline makes them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry::journal::{Direction, Verdict};
use ferry::plugin::{FileMeta, Limits, MemoryServices, Plugin, PluginEngine, Role};

/// Where ferry's build script puts the example plugins: under the
/// workspace root, the nearest folder above the including package that
/// holds `plugins/`.
pub fn wasm(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("plugins/Cargo.toml").exists())
        .expect("the ferry workspace root");
    root.join("target/wasm/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

pub fn file() -> FileMeta {
    FileMeta {
        tenant: "bench".into(),
        partner: "alice".into(),
        direction: Direction::In,
        name: "orders.json".into(),
        size: 64,
        sha256: "0".repeat(64),
        protocol: "bench".into(),
        source: "bench".into(),
        message_id: 1,
        received_at: 0,
    }
}

pub fn services(routes: &str) -> Box<MemoryServices> {
    Box::new(MemoryServices {
        content: br#"{"order": 7, "lines": [1, 2, 3]}"#.to_vec(),
        params: [("routes".to_owned(), routes.to_owned())].into(),
        ..MemoryServices::default()
    })
}

pub const ROUTES: &str = "*.csv -> bob; *.json -> carol, dave";

/// The times of `decisions` decisions (after 200 to warm caches and
/// allocators up), sorted.
pub fn decision_times(engine: &PluginEngine, decisions: usize) -> Vec<Duration> {
    let (validator, router) = decision_plugins(engine);
    let limits = Limits::default();
    let mut times = Vec::with_capacity(decisions);
    for i in 0..decisions + 200 {
        let started = Instant::now();
        let verdict = validator
            .validate(engine, services(ROUTES), limits, &file())
            .unwrap();
        assert_eq!(verdict.value, Verdict::Accept);
        router
            .route(engine, services(ROUTES), limits, &file())
            .unwrap();
        if i >= 200 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times
}

/// The validator and the router of a decision, loaded.
pub fn decision_plugins(engine: &PluginEngine) -> (Plugin, Plugin) {
    let load = |name: &str, role| {
        engine
            .load(&std::fs::read(wasm(name)).unwrap(), role)
            .unwrap()
    };
    (
        load("json_schema_validator", Role::Validator),
        load("glob_router", Role::Router),
    )
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
