//! The plugin host's figures:
//!
//! - host overhead of one decision (validate + route) with everything
//!   loaded: a fresh `Store` and instance per call, as the server does;
//! - time from a plugin file change to the new version serving, through
//!   the file watcher;
//! - cold and cached load (compile or cache hit, plus the world check).
//!
//! `cargo bench --bench plugins` (environment: `FERRY_BENCH_DECISIONS`,
//! default 5000; `FERRY_BENCH_ROUNDS`, default 5).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::plugin::{Limits, PluginEngine, Registry, Role, SlotKey};

#[path = "common/decision.rs"]
mod decision;

use decision::{ROUTES, decision_plugins, decision_times, file, percentile, services, wasm};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    let decisions = env_or("FERRY_BENCH_DECISIONS", 5000);
    let rounds = env_or("FERRY_BENCH_ROUNDS", 5);
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch-plugins");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    // Decision overhead: the JSON validator (no schema: a parse of the
    // file) and the glob router, each in a fresh instance per call.
    let engine = PluginEngine::new(Some(&scratch.join("cache"))).unwrap();
    let times = decision_times(&engine, decisions);
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    let (validator, router) = decision_plugins(&engine);
    let limits = Limits::default();
    let routes = ROUTES;

    // Each plugin alone.
    let alone = |what: &str, f: &dyn Fn()| {
        let mut t = Vec::with_capacity(decisions);
        for i in 0..decisions + 200 {
            let started = Instant::now();
            f();
            if i >= 200 {
                t.push(started.elapsed());
            }
        }
        t.sort();
        (what.to_owned(), percentile(&t, 0.5), percentile(&t, 0.99))
    };
    let each = [
        alone("json-schema-validator", &|| {
            validator
                .validate(&engine, services(routes), limits, &file())
                .unwrap();
        }),
        alone("glob-router", &|| {
            router
                .route(&engine, services(routes), limits, &file())
                .unwrap();
        }),
    ];

    // The host's own share: a validator that accepts without looking.
    let trivial = engine
        .load(&std::fs::read(wasm("hostile")).unwrap(), Role::Validator)
        .unwrap();
    let mut bare = Vec::with_capacity(decisions);
    for i in 0..decisions + 200 {
        let started = Instant::now();
        trivial
            .validate(&engine, services(routes), limits, &file())
            .unwrap();
        if i >= 200 {
            bare.push(started.elapsed());
        }
    }
    bare.sort();

    // Python against Rust: the same trivial validator in both languages
    // (the one `ferry plugin new` writes: log the name, accept), and the
    // CSV schema validator of plugins/ on a small file, each in a fresh
    // instance per call as the server makes them.
    let python = python_times(&scratch, decisions.min(1000));

    // Reload: replace the file, wait until the new version serves.
    let data = scratch.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let journal: Arc<dyn ferry::journal::Journal> =
        Arc::new(ferry::journal::SqliteJournal::open(&data.join("journal.sqlite")).unwrap());
    let registry = Arc::new(Registry::new(
        Arc::new(PluginEngine::new(Some(&data.join("cache"))).unwrap()),
        journal,
        &data,
    ));
    let path = scratch.join("plugins").join("validator.wasm");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let versions = [
        std::fs::read(wasm("hostile")).unwrap(),
        std::fs::read(wasm("sequence_validator")).unwrap(),
    ];
    std::fs::write(&path, &versions[0]).unwrap();
    let key = SlotKey {
        tenant: "bench".into(),
        partner: "alice".into(),
        role: Role::Validator,
    };
    registry.sync(&[(key, path.clone())]);
    registry.watch().unwrap();
    let slot = registry.slot("bench", "alice", Role::Validator).unwrap();
    let mut reloads = Vec::new();
    for round in 0..rounds {
        let before = slot.current().unwrap().sha256.clone();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &versions[(round + 1) % 2]).unwrap();
        let started = Instant::now();
        std::fs::rename(&tmp, &path).unwrap();
        while slot.current().unwrap().sha256 == before {
            assert!(started.elapsed() < Duration::from_secs(10), "no reload");
            std::thread::sleep(Duration::from_micros(200));
        }
        reloads.push(started.elapsed());
    }

    // Cold and cached loads of a large and a small plugin.
    let mut loads = Vec::new();
    for name in ["json_schema_validator", "glob_router"] {
        let bytes = std::fs::read(wasm(name)).unwrap();
        let role = if name == "glob_router" {
            Role::Router
        } else {
            Role::Validator
        };
        let (mut cold, mut cached) = (Vec::new(), Vec::new());
        for round in 0..rounds.min(3) {
            let cache = scratch.join(format!("load-{name}-{round}"));
            let started = Instant::now();
            PluginEngine::new(Some(&cache))
                .unwrap()
                .load(&bytes, role)
                .unwrap();
            cold.push(started.elapsed());
            // A new engine, as after a restart, finding the cache warm.
            let engine = PluginEngine::new(Some(&cache)).unwrap();
            let started = Instant::now();
            engine.load(&bytes, role).unwrap();
            cached.push(started.elapsed());
        }
        loads.push((name, bytes.len(), median(cold), median(cached)));
    }

    println!();
    println!("| measure | figure | target |");
    println!("|---|---|---|");
    println!(
        "| decision overhead, validate + route, fresh instance each ({decisions} decisions): median | {:.0} µs | ≤ 50 µs |",
        micros(p50)
    );
    println!(
        "| decision overhead: p99 | {:.0} µs | ≤ 100 µs |",
        micros(p99)
    );
    for (what, p50, p99) in &each {
        println!(
            "| one call of {what}: median / p99 | {:.0} µs / {:.0} µs | |",
            micros(*p50),
            micros(*p99)
        );
    }
    println!(
        "| one call of a validator that accepts at once: median / p99 | {:.0} µs / {:.0} µs | |",
        micros(percentile(&bare, 0.5)),
        micros(percentile(&bare, 0.99))
    );
    println!(
        "| plugin file replaced → new version serving (watcher, median of {rounds}) | {:.0} ms | ≤ 1000 ms |",
        millis(median(reloads))
    );
    for (name, size, cold, cached) in loads {
        println!(
            "| load {name} ({} KB): cold compile / cached | {:.0} ms / {:.1} ms | |",
            size / 1000,
            millis(cold),
            millis(cached)
        );
    }
    match python {
        Ok(rows) => {
            for (what, p50, p99) in rows {
                println!(
                    "| one call of {what}: median / p99 | {:.0} µs / {:.0} µs | ≤ 10 ms |",
                    micros(p50),
                    micros(p99)
                );
            }
        }
        Err(e) => println!("| Python plugins | not measured: {e:#} | |"),
    }
    std::fs::remove_dir_all(&scratch).unwrap();
}

/// Times of Python plugins built with componentize-py (installed by
/// `ferry plugin build` when missing), next to the same work in Rust.
fn python_times(scratch: &Path, calls: usize) -> anyhow::Result<Vec<(String, Duration, Duration)>> {
    use ferry::cli::scaffold::{Lang, build_project, new_project};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut built = Vec::new();
    for (lang, dir) in [
        (Lang::Rust, "rust-validator"),
        (Lang::Python, "python-validator"),
    ] {
        new_project(&scratch.join(dir), lang, Role::Validator)?;
        built.push(build_project(&scratch.join(dir))?);
    }
    let csv = build_project(&root.join("plugins/csv-schema-validator"))?;
    let engine = PluginEngine::new(Some(&scratch.join("cache"))).unwrap();
    let limits = Limits::default();
    let schema =
        std::fs::read_to_string(root.join("plugins/csv-schema-validator/fixtures/schema.json"))?;
    let orders = std::fs::read(root.join("plugins/csv-schema-validator/fixtures/orders-good.csv"))?;
    let mut rows = Vec::new();
    let python = built.pop().expect("two");
    let rust = built.pop().expect("two");
    for (what, path, content, params) in [
        (
            "the generated validator (log, accept), Rust",
            rust,
            b"id\n1\n".to_vec(),
            vec![],
        ),
        (
            "the generated validator (log, accept), Python",
            python,
            b"id\n1\n".to_vec(),
            vec![],
        ),
        (
            "csv-schema-validator (Python, 3 rows, 6 columns)",
            csv,
            orders,
            vec![("schema".to_owned(), schema.clone())],
        ),
    ] {
        let plugin = engine.load(&std::fs::read(&path)?, Role::Validator)?;
        let mut times = Vec::with_capacity(calls);
        for i in 0..calls + 20 {
            let services = Box::new(ferry::plugin::MemoryServices {
                content: content.clone(),
                params: params.iter().cloned().collect(),
                ..Default::default()
            });
            let started = Instant::now();
            let verdict = plugin.validate(&engine, services, limits, &file())?;
            let elapsed = started.elapsed();
            assert_eq!(verdict.value, ferry::journal::Verdict::Accept, "{what}");
            if i >= 20 {
                times.push(elapsed);
            }
        }
        times.sort();
        rows.push((
            what.to_owned(),
            percentile(&times, 0.5),
            percentile(&times, 0.99),
        ));
    }
    Ok(rows)
}
