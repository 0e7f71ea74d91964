//! Plugins against the real host: the examples decide, hostile plugins are
//! contained, versions swap under load, broken versions are refused, and a
//! rollback brings the previous version back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ferry::journal::{Direction, Verdict};
use ferry::plugin::{
    Change, FileMeta, Limits, MemoryServices, PluginEngine, PluginError, Registry, Role, SlotKey,
};

use crate::util::{Env, default_config, eventually, sha256_hex};

/// A plugin built by `build.rs` from `plugins/`.
pub fn wasm(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/wasm/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

pub fn file(name: &str, size: u64) -> FileMeta {
    FileMeta {
        tenant: "acme".into(),
        partner: "alice".into(),
        direction: Direction::In,
        name: name.into(),
        size,
        sha256: String::new(),
        protocol: "test".into(),
        source: "test".into(),
        message_id: 100,
        received_at: 0,
    }
}

pub fn services(content: &[u8], params: &[(&str, &str)]) -> Box<MemoryServices> {
    Box::new(MemoryServices {
        content: content.to_vec(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..MemoryServices::default()
    })
}

/// `ferry plugin run ... --json`, parsed.
fn run(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["plugin", "run"])
        .args(args)
        .arg("--json")
        .env("FERRY_LOG", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_runner_runs_the_json_schema_validator() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("order.json");
    let bad = dir.path().join("broken.json");
    std::fs::write(&good, r#"{"order": 7, "lines": []}"#).unwrap();
    std::fs::write(&bad, r#"{"order": 7,"#).unwrap();
    let plugin = wasm("json_schema_validator");
    let plugin = plugin.to_str().unwrap();
    let schema = r#"schema={"type":"object","required":["order","lines"],"properties":{"order":{"type":"integer"}}}"#;

    let out = run(&[
        plugin,
        "--role",
        "validator",
        "--file",
        good.to_str().unwrap(),
        "--param",
        schema,
    ]);
    assert_eq!(
        out["decision"],
        serde_json::json!({ "verdict": "accept" }),
        "{out}"
    );
    assert!(out["peak_memory"].as_u64().unwrap() > 0);

    let out = run(&[
        plugin,
        "--role",
        "validator",
        "--file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out["decision"]["verdict"], "reject");
    assert!(
        out["decision"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("not well-formed JSON")
    );

    std::fs::write(&good, r#"{"order": "seven"}"#).unwrap();
    let out = run(&[
        plugin,
        "--role",
        "validator",
        "--file",
        good.to_str().unwrap(),
        "--param",
        schema,
    ]);
    let reasons = out["decision"]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 2, "{out}");
}

#[test]
fn the_sequence_validator_judges_against_history() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.json");
    std::fs::write(
        &history,
        serde_json::json!([
            { "message_id": 1, "direction": "in", "name": "orders-2026-11-19.csv", "size": 9,
              "sha256": null, "state": "delivered", "received_at": 0 },
            { "message_id": 2, "direction": "in", "name": "orders-2026-11-20.csv", "size": 9,
              "sha256": null, "state": "delivered", "received_at": 0 },
            { "message_id": 3, "direction": "in", "name": "orders-2026-11-21.csv", "size": 9,
              "sha256": null, "state": "rejected", "received_at": 0 },
        ])
        .to_string(),
    )
    .unwrap();
    let csv = dir.path().join("data.csv");
    std::fs::write(&csv, "id,amount\n1,2\n").unwrap();
    let plugin = wasm("sequence_validator");
    let decide = |name: &str| {
        run(&[
            plugin.to_str().unwrap(),
            "--role",
            "validator",
            "--file",
            csv.to_str().unwrap(),
            "--name",
            name,
            "--history",
            history.to_str().unwrap(),
        ])["decision"]
            .clone()
    };
    // The 21st was rejected, so it is still expected next.
    assert_eq!(decide("orders-2026-11-21.csv")["verdict"], "accept");
    let repeat = decide("orders-2026-11-20.csv");
    assert!(
        repeat["reasons"][0]
            .as_str()
            .unwrap()
            .contains("already sent"),
        "{repeat}"
    );
    let skip = decide("orders-2026-11-23.csv");
    assert!(
        skip["reasons"][0]
            .as_str()
            .unwrap()
            .contains("skips 2026-11-21"),
        "{skip}"
    );
    std::fs::write(&csv, "id,amount\n1\n").unwrap();
    let ragged = decide("orders-2026-11-21.csv");
    assert!(
        ragged["reasons"][0]
            .as_str()
            .unwrap()
            .contains("line 2 has 1 fields"),
        "{ragged}"
    );
}

#[test]
fn the_glob_router_and_the_receipt_acknowledger_decide() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("invoice-9.pdf");
    std::fs::write(&f, "%PDF").unwrap();
    let out = run(&[
        wasm("glob_router").to_str().unwrap(),
        "--role",
        "router",
        "--file",
        f.to_str().unwrap(),
        "--param",
        "routes=*.csv -> bob; invoice-*.pdf -> accounting:{stem}-from-alice.{ext}, archive",
    ]);
    assert_eq!(
        out["decision"],
        serde_json::json!({ "deliver": [
            { "to": "accounting", "name": "invoice-9-from-alice.pdf" },
            { "to": "archive", "name": "invoice-9.pdf" },
        ] })
    );
    // The acknowledger as built now, and as built against the WIT's 0.1.0
    // (tests/data/plugins/README.md): the host still runs the older one.
    let old = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/plugins/receipt_acknowledger-0.1.0.wasm");
    for acknowledger in [wasm("receipt_acknowledger"), old] {
        let out = run(&[
            acknowledger.to_str().unwrap(),
            "--role",
            "acknowledger",
            "--file",
            f.to_str().unwrap(),
            "--partner",
            "alice",
            "--event",
            "downloaded:bob",
        ]);
        assert_eq!(
            out["decision"],
            serde_json::json!([{ "action": "write-file", "partner": "alice", "name": "invoice-9.pdf.received" }]),
            "{}",
            acknowledger.display()
        );
    }
}

/// Every hostile plugin is stopped within its limit with a clear reason,
/// and the engine serves the next call as if nothing happened.
#[test]
fn hostile_plugins_are_contained() {
    let engine = PluginEngine::new(None).unwrap();
    let hostile = engine
        .load(&std::fs::read(wasm("hostile")).unwrap(), Role::Validator)
        .unwrap();
    let sane = engine
        .load(
            &std::fs::read(wasm("sequence_validator")).unwrap(),
            Role::Validator,
        )
        .unwrap();
    // Cases that must hit another limit than the deadline get a generous
    // one: the deadline is wall-clock time, and tests share two cores.
    let patient = Limits {
        deadline: std::time::Duration::from_secs(2),
        ..Limits::default()
    };
    for (behaviour, expected) in [
        ("loop", "ran past its deadline"),
        ("log-flood", "ran past its deadline"),
        ("memory", "exceeded its memory limit"),
        ("recursion", "trapped"),
        ("trap", "panics on purpose"),
        ("huge-output", "over the limit"),
        ("host-flood", "more than 1000 keys"),
    ] {
        let limits = if expected.contains("deadline") {
            Limits::default()
        } else {
            patient
        };
        let started = std::time::Instant::now();
        let error = hostile
            .validate(
                &engine,
                services(b"x", &[("behaviour", behaviour)]),
                limits,
                &file("x", 1),
            )
            .expect_err(behaviour);
        assert!(error.to_string().contains(expected), "{behaviour}: {error}");
        // Contained in time too.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{behaviour}"
        );
        let ok = sane
            .validate(&engine, services(b"a,b\n", &[]), patient, &file("x.txt", 4))
            .unwrap();
        assert_eq!(ok.value, Verdict::Accept, "after {behaviour}");
    }

    let load = |bytes: &[u8]| engine.load(bytes, Role::Validator).unwrap_err();
    assert!(matches!(
        load(&std::fs::read(wasm("bad_import")).unwrap()),
        PluginError::Import(_)
    ));
    assert!(matches!(
        load(b"\0asm\x01\0\0\0"),
        PluginError::NotAComponent(_)
    ));
    assert!(matches!(
        load(&crate::util::bytes(9, 5000)),
        PluginError::NotAComponent(_)
    ));
    let mut truncated = std::fs::read(wasm("hostile")).unwrap();
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(load(&truncated), PluginError::Compile(_)));
    assert!(matches!(
        engine
            .load(
                &std::fs::read(wasm("glob_router")).unwrap(),
                Role::Validator
            )
            .unwrap_err(),
        PluginError::WrongWorld { .. }
    ));
}

/// A scratch registry with one validator slot reading `path`.
fn registry(env: &Env, path: &Path) -> (Arc<Registry>, Arc<ferry::plugin::Slot>) {
    let hub = ferry::tenant::Hub::open(ferry::config::load(&env.config).unwrap()).unwrap();
    let engine = Arc::new(PluginEngine::new(Some(&env.data().join("cache"))).unwrap());
    let registry = Arc::new(Registry::new(
        engine,
        Arc::clone(hub.journal()),
        &env.data(),
    ));
    let key = SlotKey {
        tenant: "acme".into(),
        partner: "alice".into(),
        role: Role::Validator,
    };
    registry.sync(&[(key.clone(), path.to_owned())]);
    let slot = registry.slot("acme", "alice", Role::Validator).unwrap();
    (registry, slot)
}

fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

/// Four threads call the plugin without pause while its file is replaced
/// forty times: no call fails, each is answered by one of the two versions,
/// and the journal records every swap.
#[test]
fn hot_swap_under_concurrent_calls() {
    let env = Env::new();
    let path = env.path().join("validator.wasm");
    let v1 = std::fs::read(wasm("hostile")).unwrap();
    let v2 = std::fs::read(wasm("sequence_validator")).unwrap();
    let (sha1, sha2) = (sha256_hex(&v1), sha256_hex(&v2));
    std::fs::write(&path, &v1).unwrap();
    let (registry, slot) = registry(&env, &path);
    assert_eq!(slot.current().unwrap().sha256, sha1);

    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let slot = Arc::clone(&slot);
            let engine = Arc::clone(registry.engine());
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let plugin = slot.current().unwrap();
                    // The swap is under test, not the deadline: four
                    // callers and the compiles share two cores.
                    let limits = Limits {
                        deadline: std::time::Duration::from_secs(5),
                        ..Limits::default()
                    };
                    let outcome = plugin
                        .validate(&engine, services(b"x", &[]), limits, &file("x", 1))
                        .unwrap();
                    assert_eq!(outcome.value, Verdict::Accept);
                    seen.push(plugin.sha256.clone());
                }
                seen
            })
        })
        .collect();
    for i in 0..40 {
        let (bytes, sha) = if i % 2 == 0 {
            (&v2, &sha2)
        } else {
            (&v1, &sha1)
        };
        replace(&path, bytes);
        assert_eq!(
            registry.refresh(&slot).unwrap(),
            Change::Activated {
                sha256: sha.clone()
            }
        );
    }
    stop.store(true, Ordering::SeqCst);
    let mut calls = 0;
    for caller in callers {
        let seen = caller.join().expect("a caller failed");
        assert!(seen.iter().all(|s| *s == sha1 || *s == sha2));
        calls += seen.len();
    }
    assert!(calls > 40, "only {calls} calls were made");
    let activated = env.count(
        "SELECT COUNT(*) FROM events WHERE kind = 'plugin-version'
         AND json_extract(detail, '$.status') = 'activated'",
    );
    assert_eq!(activated, 41);
    env.ferry().args(["journal", "verify"]).ok();
}

/// A broken new version is refused and the old one keeps serving.
#[test]
fn a_broken_version_is_refused_and_the_old_one_kept() {
    let env = Env::new();
    let path = env.path().join("validator.wasm");
    let good = std::fs::read(wasm("hostile")).unwrap();
    std::fs::write(&path, &good).unwrap();
    let (registry, slot) = registry(&env, &path);
    for broken in [
        b"not wasm at all".to_vec(),
        std::fs::read(wasm("glob_router")).unwrap(),
        std::fs::read(wasm("bad_import")).unwrap(),
    ] {
        replace(&path, &broken);
        let change = registry.refresh(&slot).unwrap();
        assert!(matches!(change, Change::Refused { .. }), "{change:?}");
        assert_eq!(slot.current().unwrap().sha256, sha256_hex(&good));
    }
    let refused = env.count(
        "SELECT COUNT(*) FROM events WHERE kind = 'plugin-version'
         AND json_extract(detail, '$.status') = 'refused'",
    );
    assert_eq!(refused, 3);
}

/// The configuration names plugins per partner; the server runs them in
/// the pipeline, records which version decided, watches the file, and
/// `ferry plugin rollback` brings back the previous version.
#[test]
fn plugins_in_the_pipeline_with_watch_and_rollback() {
    let env = Env::new();
    let plugins = env.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let validator = plugins.join("validator.wasm");
    std::fs::copy(wasm("json_schema_validator"), &validator).unwrap();
    std::fs::copy(wasm("glob_router"), plugins.join("router.wasm")).unwrap();
    let config = default_config().replace(
        "[tenants.acme.partners.alice]\n",
        "[tenants.acme.partners.alice]\n\
         validator = \"plugins/validator.wasm\"\n\
         router = \"plugins/router.wasm\"\n\
         params = { routes = \"*.json -> bob:{stem}-alice.json\" }\n",
    );
    env.write_config(&config);
    let mut server = env.serve();

    env.put("alice", "good.json", br#"{"ok": true}"#).ok();
    env.put("alice", "bad.json", br#"{"ok": "#).ok();
    eventually("routing and rejection", || {
        env.names("bob", "/outbox") == ["good-alice.json"]
            && env
                .names("alice", "/outbox")
                .contains(&"bad.json.rejected".to_owned())
    });
    let sha_json = sha256_hex(&std::fs::read(wasm("json_schema_validator")).unwrap());
    let by: String = env
        .db()
        .query_row(
            "SELECT json_extract(detail, '$.by') FROM events WHERE kind = 'verdict' LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(by, format!("plugin:{sha_json}"));

    // A new version through the file watcher: the sequence validator
    // accepts anything that is not a .csv file.
    replace(
        &validator,
        &std::fs::read(wasm("sequence_validator")).unwrap(),
    );
    server.wait_for("plugin version activated");
    env.put("alice", "worse.json", b"{{{").ok();
    eventually("the new version's verdict", || {
        env.names("bob", "/outbox")
            .contains(&"worse-alice.json".to_owned())
    });

    // Roll back: the JSON validator serves again, while the file is unchanged.
    let out = env
        .ferry()
        .args([
            "plugin",
            "rollback",
            "--tenant",
            "acme",
            "--partner",
            "alice",
            "--role",
            "validator",
        ])
        .ok();
    assert!(out.contains("applies it now"), "{out}");
    server.wait_for("plugin version rolled-back");
    env.put("alice", "worst.json", b"{{{").ok();
    eventually("the old version's verdict", || {
        env.names("alice", "/outbox")
            .contains(&"worst.json.rejected".to_owned())
    });
    let versions = env
        .ferry()
        .args([
            "plugin",
            "versions",
            "--tenant",
            "acme",
            "--partner",
            "alice",
            "--role",
            "validator",
        ])
        .ok();
    // The first version, the second, the rollback asked for on the command
    // line, and the first serving again.
    assert_eq!(versions.lines().count(), 4, "{versions}");
    assert!(
        versions.lines().nth(2).unwrap().contains("requested"),
        "{versions}"
    );
    server.stop();
    env.ferry().args(["journal", "verify"]).ok();
}

#[test]
fn replay_shows_where_a_candidate_would_decide_otherwise() {
    let env = Env::new();
    env.put("alice", "a.json", br#"{"ok": true}"#).ok();
    env.put("alice", "b.json", b"not json").ok();
    let out = env
        .ferry()
        .args([
            "plugin",
            "replay",
            "--tenant",
            "acme",
            "--partner",
            "alice",
            "--role",
            "validator",
        ])
        .arg(wasm("json_schema_validator"))
        .ok();
    assert!(
        out.contains("2 files replayed, 1 decision differs"),
        "{out}"
    );
    let differs: Vec<&str> = out.lines().filter(|l| l.starts_with("DIFFERS")).collect();
    assert_eq!(differs.len(), 1, "{out}");
    assert!(differs[0].ends_with("b.json"), "{out}");
}

/// A plugin that hits a limit in the pipeline quarantines its file with the
/// reason; other partners' files go on as usual.
#[test]
fn a_runaway_plugin_quarantines_its_file_and_nothing_else() {
    let env = Env::new();
    std::fs::copy(wasm("hostile"), env.path().join("hostile.wasm")).unwrap();
    let config = default_config().replace(
        "[tenants.acme.partners.alice]\n",
        "[tenants.acme.partners.alice]\n\
         validator = \"hostile.wasm\"\n\
         params = { behaviour = \"loop\" }\n",
    );
    env.write_config(&config);
    let out = env.put("alice", "a.txt", b"data").ok();
    assert!(
        out.contains("quarantined: validator failed: validator plugin")
            && out.contains("ran past its deadline of 50ms"),
        "{out}"
    );
    assert_eq!(env.names("alice", "/inbox"), ["a.txt"]);
    assert!(env.names("bob", "/outbox").is_empty());
    let out = env.put("bob", "b.txt", b"data").ok();
    assert!(out.contains("delivered"), "{out}");
    assert_eq!(env.names("alice", "/outbox"), ["b.txt"]);
    assert_eq!(env.names("bob", "/outbox"), ["b.txt.received"]);
}
