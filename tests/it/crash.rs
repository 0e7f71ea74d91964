//! Crash consistency: a `ferry` process dies (kill -9, or an abort at a named
//! point of the commit and pipeline paths) and the next one finds nothing
//! half-done: no partial file visible, the journal chain intact, pending
//! work finished exactly once.

use std::io::Write;
use std::process::{Child, Command, Stdio};

use crate::util::{Env, bytes, eventually, sha256_hex};

/// `[WRAPPER...] ferry put - --name big.bin` as alice, reading a pipe.
fn spawn_put(env: &Env, wrapper: &[&str]) -> Child {
    let ferry = env!("CARGO_BIN_EXE_ferry");
    let (program, args) = match wrapper {
        [] => (ferry, &[][..]),
        [program, args @ ..] => (*program, args),
    };
    let mut cmd = Command::new(program);
    if !wrapper.is_empty() {
        cmd.args(args).arg(ferry);
    }
    cmd.arg("-c")
        .arg(&env.config)
        .args([
            "put", "-", "--tenant", "acme", "--as", "alice", "--name", "big.bin",
        ])
        .env("FERRY_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}"))
}

/// Nothing of an uncommitted upload is visible, and a fresh server start
/// clears the staging area.
fn assert_nothing_visible(env: &Env) {
    assert!(env.names("alice", "/inbox").is_empty());
    assert!(env.names("bob", "/outbox").is_empty());
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE state != 'failed'"),
        0
    );
    env.ferry().args(["journal", "verify"]).ok();
    let server = env.serve();
    server.stop();
    let staging = env.tenant_root("acme").join("staging");
    assert_eq!(
        std::fs::read_dir(&staging).unwrap().count(),
        0,
        "staging not cleaned"
    );
}

/// kill -9 of `ferry put` while it streams from a pipe, after 0 bytes,
/// 1 byte, 1 MiB and 9 MiB of a 16 MiB file.
#[test]
fn kill_during_upload_leaves_nothing_visible() {
    for sent in [0usize, 1, 1 << 20, 9 << 20] {
        let env = Env::new();
        // The store and journal exist before the upload, as on a live system.
        env.put("bob", "warmup", b"x").ok();
        env.ferry()
            .args(["ls", "--tenant", "acme", "--as", "alice", "/inbox"])
            .ok();
        let data = bytes(sent as u64, 16 << 20);
        let mut child = spawn_put(&env, &[]);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&data[..sent]).unwrap();
        stdin.flush().unwrap();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        drop(stdin);

        assert!(
            env.names("alice", "/inbox").is_empty(),
            "after {sent} bytes"
        );
        // Only the warm-up file is known, and it went where it should.
        assert_eq!(
            env.count("SELECT COUNT(*) FROM messages WHERE direction = 'in'"),
            1
        );
        env.ferry().args(["journal", "verify"]).ok();
        let server = env.serve();
        server.stop();
        let staging = env.tenant_root("acme").join("staging");
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }
}

/// An abort between each durable step of a commit.
#[test]
fn crash_inside_commit() {
    // A blob goes through the store's steps; small content is kept inline
    // and becomes durable only with the journal record.
    let blob = bytes(0, 100 << 10);
    let small = b"some content\n".to_vec();
    for (point, data) in [
        ("store.synced", &blob),
        ("store.renamed", &blob),
        ("ingest.committed", &blob),
        ("ingest.committed", &small),
    ] {
        let env = Env::new();
        let out = env
            .put("alice", "a.txt", data)
            .env("FERRY_CRASH", point)
            .run();
        assert!(!out.status.success(), "{point}: did not crash");
        assert_nothing_visible(&env);
    }
}

/// Once the journal record is durable the upload is stored, even if the
/// process dies before telling anyone; the next server routes it once.
#[test]
fn crash_after_journal_record_keeps_the_file() {
    let env = Env::new();
    let data = b"kept\n";
    let out = env
        .put("alice", "kept.txt", data)
        .env("FERRY_CRASH", "ingest.journaled")
        .run();
    assert!(!out.status.success());
    let inbox = env.ls("alice", "/inbox");
    assert_eq!(inbox, vec![("kept.txt".to_owned(), 5, sha256_hex(data))]);
    let server = env.serve();
    eventually("delivery to bob", || {
        env.names("bob", "/outbox") == ["kept.txt"]
    });
    server.stop();
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'delivered'"),
        1
    );
}

/// A crash at each point of the pipeline, then a restart: every delivery
/// and acknowledgement happens exactly once.
#[test]
fn restart_resumes_pending_work_exactly_once() {
    for point in [
        "pipeline.decided",
        "pipeline.before-delivery",
        "pipeline.delivered",
    ] {
        let env = Env::new();
        // alice's `.csv` files go to bob and to carol: two deliveries.
        let data = bytes(7, 100_000);
        let out = env
            .put("alice", "orders.csv", &data)
            .env("FERRY_CRASH", point)
            .run();
        assert!(!out.status.success(), "{point}: did not crash");

        let server = env.serve();
        eventually("the receipt", || {
            env.names("alice", "/outbox") == ["orders.csv.received"]
        });
        server.stop();

        let hash = sha256_hex(&data);
        for partner in ["bob", "carol"] {
            assert_eq!(
                env.ls(partner, "/outbox"),
                vec![("orders.csv".to_owned(), data.len() as u64, hash.clone())],
                "{point}: {partner}"
            );
        }
        let delivered = env.count("SELECT COUNT(*) FROM events WHERE kind = 'delivered'");
        assert_eq!(delivered, 2, "{point}: deliveries");
        let acks = env.count("SELECT COUNT(*) FROM events WHERE kind = 'acknowledged'");
        assert_eq!(acks, 1, "{point}: acknowledgements");
        let out_messages = env.count("SELECT COUNT(*) FROM messages WHERE direction = 'out'");
        assert_eq!(out_messages, 3, "{point}: two copies and one receipt");
        assert_eq!(
            env.count("SELECT COUNT(*) FROM tasks WHERE state != 'done'"),
            0
        );
        env.ferry().args(["journal", "verify"]).ok();
    }
}

/// A failed fsync fails the upload cleanly and the journal says why.
#[test]
fn failed_fsync_fails_the_upload() {
    let env = Env::new();
    let stderr = env
        .put("alice", "a.txt", &bytes(0, 100 << 10))
        .env("FERRY_FAULTS", "store.sync")
        .fails();
    assert!(stderr.contains("syncing a staged file"), "{stderr}");
    assert!(env.names("alice", "/inbox").is_empty());
    let failed = env.ferry().args(["journal", "list", "--json"]).ok();
    assert!(failed.contains("\"state\":\"failed\""), "{failed}");
    assert!(failed.contains("injected fault"), "{failed}");
    assert_eq!(
        std::fs::read_dir(env.tenant_root("acme").join("staging"))
            .unwrap()
            .count(),
        0
    );
    env.ferry().args(["journal", "verify"]).ok();
}

/// A real write error from the kernel: the file size limit (RLIMIT_FSIZE)
/// stands in for a full disk, and the upload fails without a trace in the store.
#[test]
fn disk_full_fails_the_upload() {
    let env = Env::new();
    env.put("bob", "warmup", b"x").ok();
    let data = bytes(3, 4 << 20);
    let mut child = spawn_put(&env, &["prlimit", "--fsize=1048576"]);
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(&data);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("File too large"), "{stderr}");
    assert!(env.names("alice", "/inbox").is_empty());
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE state = 'failed'"),
        1
    );
    assert_eq!(
        std::fs::read_dir(env.tenant_root("acme").join("staging"))
            .unwrap()
            .count(),
        0
    );
    env.ferry().args(["journal", "verify"]).ok();
}
