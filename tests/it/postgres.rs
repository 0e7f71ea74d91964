//! ferry with its journal in PostgreSQL: the same server, pipeline, CLI
//! and clients as on the embedded journal, against a real PostgreSQL
//! server (the test process's own, a fresh database each).

use crate::backends::{Postgres, postgres};
use crate::util::{Env, SftpEnv, bytes, default_config, eventually, free_port, sha256_hex};

/// The secrets key of these tests' nodes (`secrets.key`, beside the
/// configuration).
pub const SECRETS_KEY: &str = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7";

/// `[server]` with `journal = URL` and the secrets key's file, which
/// [`key_file`] writes.
pub fn on(url: &str, config: &str) -> String {
    config.replacen(
        "data_dir = \"data\"",
        &format!("data_dir = \"data\"\njournal = \"{url}\"\nsecrets_key_file = \"secrets.key\""),
        1,
    )
}

/// Moves an environment's journal to a fresh database of the test
/// process's PostgreSQL: a test of the embedded journal run again on it.
pub fn move_to_postgres(env: &crate::util::Env) {
    let url = postgres().fresh_database();
    let text = std::fs::read_to_string(&env.config).unwrap();
    env.write_config(&on(&url, &text));
    key_file(env.path());
}

/// Writes the secrets key into `dir`, for [`on`].
pub fn key_file(dir: &std::path::Path) {
    std::fs::write(dir.join("secrets.key"), format!("{SECRETS_KEY}\n")).unwrap();
}

#[test]
fn a_file_goes_through_on_postgres() {
    let url = postgres().fresh_database();
    let s = SftpEnv::with(|config| on(&url, &config));
    key_file(s.env.path());
    let server = s.env.serve();
    let data = bytes(7, 3_000_000);
    std::fs::write(s.env.path().join("big.bin"), &data).unwrap();
    std::fs::write(s.env.path().join("a.csv"), "1,2\n").unwrap();
    let out = s.sftp_ok(
        "alice",
        "put big.bin /inbox/big.bin\nput a.csv /inbox/a.csv\nls -l /inbox\n",
    );
    assert!(out.contains(" 3000000 ") && out.contains("a.csv"), "{out}");
    // The pipeline, on the server, delivers through PostgreSQL; the CLI
    // reads the same database.
    eventually("delivery to bob", || {
        s.env.names("bob", "/outbox") == ["a.csv", "big.bin"]
    });
    eventually("delivery to carol", || {
        s.env.names("carol", "/outbox") == ["a.csv"]
    });
    s.sftp_ok("bob", "get /outbox/big.bin got.bin\n");
    let got = std::fs::read(s.env.path().join("got.bin")).unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
    // bob's complete download is recorded, and acknowledged to alice.
    let list = s.env.ferry().args(["journal", "list"]).ok();
    let line = |who: &str| {
        list.lines()
            .find(|l| l.contains(who) && l.ends_with(" big.bin"))
            .unwrap_or_else(|| panic!("no {who} big.bin in:\n{list}"))
            .to_owned()
    };
    assert!(line("acme/bob  out").contains("downloaded"), "{list}");
    let alices = line("acme/alice  in")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    eventually("the acknowledgement of bob's download to alice", || {
        let shown = s.env.ferry().args(["journal", "show", &alices]).ok();
        shown.contains("acknowledged") && shown.contains("\"by\":\"bob\"")
    });
    let verified = s.env.ferry().args(["journal", "verify"]).ok();
    assert!(verified.contains("acme"), "{verified}");
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'"),
        1
    );
    // A clean stop on SIGTERM (the journal's connections each own a
    // runtime, which must not be dropped on an async thread: it aborted).
    server.stop();
}

/// A PostgreSQL that cannot be reached stops the start with a message
/// that names it (the password left out), never a panic.
#[test]
fn an_unreachable_postgres_is_named() {
    let port = free_port();
    let url = format!("postgres://ferry:s3cret-word@127.0.0.1:{port}/ferry");
    let env = Env::with_config(&on(&url, &default_config()));
    key_file(env.path());
    for args in [&["serve"][..], &["journal", "verify"][..]] {
        let message = env.ferry().args(args).fails();
        assert!(
            message.contains(&format!("127.0.0.1:{port}/ferry")) && message.contains("journal"),
            "{args:?}: {message}"
        );
        assert!(!message.contains("s3cret-word"), "{args:?}: {message}");
        assert!(!message.contains("panicked"), "{args:?}: {message}");
    }
}

/// A task queued through one connection (another node) wakes a node
/// listening on its own: the wake-up is awaited, not slept for.
#[test]
fn a_task_queued_by_another_node_wakes_this_one() {
    use ferry::journal::{Intake as _, PostgresJournal, Received, TaskQueue as _};
    use std::sync::mpsc;
    use std::time::Duration;

    let url = postgres().fresh_database();
    let (listening, other) = (
        PostgresJournal::connect(&url).unwrap(),
        PostgresJournal::connect(&url).unwrap(),
    );
    let (woken, wakes) = mpsc::channel();
    let woken = std::sync::Mutex::new(woken);
    listening.on_new_work(Box::new(move || {
        let _ = woken.lock().unwrap().send(());
    }));
    // The listener says it is there with a first wake-up.
    wakes
        .recv_timeout(Duration::from_secs(20))
        .expect("listening");
    other
        .record_received(&Received {
            tenant: "acme".into(),
            partner: "alice".into(),
            name: "a.txt".into(),
            hash: ferry::store::ContentHash::from_bytes([7; 32]),
            size: 1,
            protocol: "test".into(),
            source: "test".into(),
            inline: Some(b"x".to_vec()),
        })
        .unwrap();
    wakes
        .recv_timeout(Duration::from_secs(20))
        .expect("a wake-up for the queued task");
}

/// PostgreSQL restarted under a running server, with uploads going on: the
/// files confirmed before stay, every upload confirmed during and after is
/// delivered whole (a client may see an error while it is down, never a
/// lost confirmed file), and uploads go through once it is back, all
/// without restarting ferry.
#[test]
fn a_restarted_postgres_is_reconnected() {
    let server = Postgres::own();
    let url = server.fresh_database();
    // A step the restart cut keeps its task leased until the lease runs
    // out (30 s by default): the test's is short, so that the task is run
    // again within the test's patience.
    let s =
        SftpEnv::with(|config| format!("{}\n[limits]\ntask_lease = \"2s\"\n", on(&url, &config)));
    key_file(s.env.path());
    let _ferry = s.env.serve();
    std::fs::write(s.env.path().join("before.txt"), "before\n").unwrap();
    s.sftp_ok("alice", "put before.txt /inbox/before.txt\n");
    eventually("before.txt delivered", || {
        s.env.names("bob", "/outbox") == ["before.txt"]
    });

    // Under load: two clients upload one file per session, without pause,
    // from before the restart until after it.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stored = std::sync::atomic::AtomicUsize::new(0);
    let told: Vec<String> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..2)
            .map(|client| {
                let (s, stop, stored) = (&s, &stop, &stored);
                scope.spawn(move || {
                    let mut told = Vec::new();
                    for i in 0.. {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let name = format!("load-{client}-{i}.bin");
                        std::fs::write(s.env.path().join(&name), bytes(i, 20_000)).unwrap();
                        if s.sftp("alice", &format!("put {name} /inbox/{name}\n"))
                            .status
                            .success()
                        {
                            told.push(name);
                            stored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    told
                })
            })
            .collect();
        eventually("uploads under way", || {
            stored.load(std::sync::atomic::Ordering::Relaxed) >= 2
        });
        server.restart();
        // The first try may meet a connection the restart cut; it is
        // retried on a new one, and the client sees success or a clean
        // failure.
        std::fs::write(s.env.path().join("after.txt"), "after\n").unwrap();
        eventually("after.txt stored once PostgreSQL is back", || {
            s.sftp("alice", "put after.txt /inbox/after.txt\n")
                .status
                .success()
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    assert!(!told.is_empty(), "no upload was told stored");
    // Every upload told stored is delivered, with its content; nothing
    // else appears.
    eventually("every confirmed file delivered", || {
        let delivered = s.env.names("bob", "/outbox");
        told.iter().all(|name| delivered.contains(name))
    });
    for (name, size, sha256) in s.env.ls("bob", "/outbox") {
        if let Some(i) = name
            .strip_prefix("load-")
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(_, i)| i.strip_suffix(".bin"))
        {
            let i: u64 = i.parse().unwrap();
            assert_eq!(
                (size, sha256),
                (20_000, sha256_hex(&bytes(i, 20_000))),
                "{name}"
            );
        } else {
            assert!(name == "before.txt" || name == "after.txt", "{name}");
        }
    }
    let verified = s.env.ferry().args(["journal", "verify"]).ok();
    assert!(verified.contains("acme: ok"), "{verified}");
}
