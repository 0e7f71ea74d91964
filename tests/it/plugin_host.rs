//! What a plugin may ask of the host in one call (issue 18, finding 4):
//! host calls and the bytes they return are counted, the time they wait is
//! charged to the deadline, and key-value writes are committed with the
//! decision, not one synced journal write each.

use std::time::{Duration, Instant};

use ferry::plugin::{
    HistoryEntry, HistoryQuery, HostServices, Limits, MemoryServices, PluginEngine, PluginError,
    Role,
};

use crate::plugins::{file, services, wasm};
use crate::util::{Env, default_config};

fn hostile(engine: &PluginEngine) -> ferry::plugin::Plugin {
    engine
        .load(&std::fs::read(wasm("hostile")).unwrap(), Role::Validator)
        .unwrap()
}

/// A generous deadline: these cases must hit another limit, and tests
/// share two cores. Generous indeed: in the test build, the code that
/// copies a `list<u8>` into the guest is wasmtime's generic code compiled
/// (unoptimised) in ferry's crate, about 10 ms a MiB, so reading the 256
/// MiB that the byte limit allows takes seconds of CPU here (milliseconds
/// in a release build).
fn patient() -> Limits {
    Limits {
        deadline: Duration::from_secs(60),
        ..Limits::default()
    }
}

#[test]
fn host_calls_and_the_bytes_they_return_are_counted() {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = hostile(&engine);
    for (behaviour, content, expected) in [
        ("call-flood", 1, "more than 100000 host calls"),
        ("read-flood", 1 << 20, "more than 256 MiB from the host"),
    ] {
        let started = Instant::now();
        let error = plugin
            .validate(
                &engine,
                services(&vec![b'x'; content], &[("behaviour", behaviour)]),
                patient(),
                &file("x", content as u64),
            )
            .expect_err(behaviour);
        assert!(
            matches!(&error, PluginError::HostLimit(what) if what.contains(expected)),
            "{behaviour}: {error}"
        );
        assert!(started.elapsed() < Duration::from_secs(30), "{behaviour}");
    }
}

/// A host whose reads wait, as a cold disk or a busy journal would.
struct SlowDisk(MemoryServices);

impl HostServices for SlowDisk {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(20));
        self.0.read(offset, buf)
    }
    fn size(&mut self) -> std::io::Result<u64> {
        self.0.size()
    }
    fn history(&mut self, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, String> {
        self.0.history(query)
    }
    fn param(&self, name: &str) -> Option<String> {
        self.0.param(name)
    }
    fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.0.kv_get(key)
    }
    fn kv_count(&mut self) -> Result<usize, String> {
        self.0.kv_count()
    }
}

/// 1,000 reads of 20 ms each use almost no CPU; their waiting is charged
/// to the call's wait allowance (a second with the 50 ms deadline), so the
/// call ends after about 50 of them, not after 20 seconds.
#[test]
fn the_time_host_calls_wait_is_charged() {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = hostile(&engine);
    let started = Instant::now();
    let error = plugin
        .validate(
            &engine,
            Box::new(SlowDisk(*services(
                &[b'x'; 1000],
                &[("behaviour", "read-loop")],
            ))),
            Limits::default(),
            &file("x", 1000),
        )
        .expect_err("the reads should wait past the allowance");
    assert!(
        matches!(&error, PluginError::HostLimit(what) if what.contains("waited more than 1s")),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// A decision's writes reach the journal with the decision, and a call
/// that fails after writing leaves nothing.
#[test]
fn key_value_writes_are_committed_with_the_decision() {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = hostile(&engine);
    let outcome = plugin
        .validate(
            &engine,
            services(b"x", &[("behaviour", "kv-write")]),
            patient(),
            &file("x", 1),
        )
        .unwrap();
    assert_eq!(
        outcome.value,
        ferry::journal::Verdict::Reject {
            reasons: vec!["read back yes".into()]
        },
        "a call reads its own writes"
    );
    assert_eq!(
        outcome.kv,
        [
            ("never-there".to_owned(), None),
            ("written".to_owned(), Some(b"yes".to_vec()))
        ]
    );

    for (behaviour, rows) in [("kv-then-trap", 0), ("kv-write", 1)] {
        let env = Env::new();
        std::fs::copy(wasm("hostile"), env.path().join("hostile.wasm")).unwrap();
        env.write_config(&default_config().replace(
            "[tenants.acme.partners.alice]\n",
            &format!(
                "[tenants.acme.partners.alice]\nvalidator = \"hostile.wasm\"\n\
                 params = {{ behaviour = \"{behaviour}\" }}\n"
            ),
        ));
        let out = env.put("alice", "a.txt", b"data").ok();
        assert!(
            out.contains("quarantined") || out.contains("rejected"),
            "{out}"
        );
        assert_eq!(
            env.count("SELECT COUNT(*) FROM kv WHERE tenant = 'acme' AND partner = 'alice'"),
            rows,
            "{behaviour}: {out}"
        );
    }
}
