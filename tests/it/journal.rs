//! The journal as partners and auditors use it: the queries of seed 003 and
//! a chain that notices every kind of tampering.

use crate::util::{Env, sha256_hex};

/// A tenant with a few files exchanged, so the chain has some length.
fn busy_env() -> Env {
    let env = Env::new();
    env.put("alice", "one.csv", b"1\n").ok();
    env.put("alice", "two.txt", b"2\n").ok();
    env.put("bob", "three.txt", b"3\n").ok();
    env.ferry().args(["journal", "verify"]).ok();
    env
}

fn verify_fails(env: &Env) -> String {
    let out = env.ferry().args(["journal", "verify"]).run();
    assert!(!out.status.success(), "tampering went unnoticed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("the journal chain of acme is broken"),
        "{stderr}"
    );
    stdout
}

#[test]
fn verify_detects_an_edited_event() {
    let env = busy_env();
    let seq: i64 =
        env.count("SELECT seq FROM events WHERE kind = 'received' AND detail LIKE '%two.txt%'");
    let changed = env
        .db()
        .execute(
            "UPDATE events SET detail = replace(detail, 'two.txt', 'owt.txt') WHERE seq = ?1",
            [seq],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let report = verify_fails(&env);
    assert!(
        report.contains(&format!("event {seq} was edited")),
        "{report}"
    );
}

#[test]
fn verify_detects_a_deleted_event() {
    let env = busy_env();
    env.db()
        .execute("DELETE FROM events WHERE seq = 4", [])
        .unwrap();
    let report = verify_fails(&env);
    assert!(report.contains("event 4 is missing"), "{report}");
}

#[test]
fn verify_detects_a_deleted_tail() {
    let env = busy_env();
    env.db()
        .execute(
            "DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)",
            [],
        )
        .unwrap();
    let report = verify_fails(&env);
    assert!(report.contains("the last events were deleted"), "{report}");
}

#[test]
fn verify_detects_reordered_events() {
    let env = busy_env();
    let db = env.db();
    db.execute_batch(
        "UPDATE events SET seq = -1 WHERE seq = 3;
         UPDATE events SET seq = 3 WHERE seq = 2;
         UPDATE events SET seq = 2 WHERE seq = -1;",
    )
    .unwrap();
    let report = verify_fails(&env);
    assert!(
        report.contains("event 2 does not follow event 1"),
        "{report}"
    );
}

/// "What did alice send", "what did bob receive", "everything about one file".
#[test]
fn queries_answer_the_seed_questions() {
    let env = busy_env();
    let sent = env
        .ferry()
        .args([
            "journal",
            "list",
            "--tenant",
            "acme",
            "--partner",
            "alice",
            "--direction",
            "in",
            "--json",
        ])
        .ok();
    let sent: Vec<serde_json::Value> = sent
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = sent.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["two.txt", "one.csv"]);
    assert_eq!(sent[1]["sha256"], sha256_hex(b"1\n"));
    assert_eq!(sent[1]["state"], "delivered");

    let received = env
        .ferry()
        .args([
            "journal",
            "list",
            "--partner",
            "bob",
            "--direction",
            "out",
            "--json",
        ])
        .ok();
    let names: Vec<String> = received
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(names, ["three.txt.received", "two.txt", "one.csv"]);

    // one.csv went to bob and carol, then alice got a receipt.
    let id = sent[1]["id"].as_i64().unwrap();
    let shown = env
        .ferry()
        .args(["journal", "show", &id.to_string(), "--json"])
        .ok();
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "received",
            "verdict",
            "routed",
            "delivered",
            "delivered",
            "acknowledged"
        ]
    );
}

#[test]
fn the_receipt_reports_what_was_delivered() {
    let env = Env::new();
    env.put("alice", "report.csv", b"a,b\n").ok();
    let receipt = env.cat("alice", "/outbox/report.csv.received");
    assert!(receipt.contains("name: report.csv\n"), "{receipt}");
    assert!(
        receipt.contains(&format!("sha256: {}\n", sha256_hex(b"a,b\n"))),
        "{receipt}"
    );
}

/// Files nobody routes are held, not lost, and the reason is recorded.
#[test]
fn unrouted_files_are_held() {
    let env = Env::new();
    let out = env.put("carol", "orphan.txt", b"?").ok();
    assert!(
        out.contains("held: no route of partner `carol` matches `orphan.txt`"),
        "{out}"
    );
    assert_eq!(env.names("carol", "/inbox"), ["orphan.txt"]);
}

/// A partner deleting a file from its outbox only hides it: the content and
/// its history stay, and the hiding is itself an event.
#[test]
fn hiding_keeps_content_and_history() {
    let env = Env::new();
    env.put("alice", "keep.txt", b"keep\n").ok();
    let hub = ferry::tenant::Hub::open(ferry::config::load(&env.config).unwrap()).unwrap();
    let acme = hub.tenant("acme").unwrap();
    let outbox = ferry::journal::Mailbox::Outbox;
    acme.hide("bob", outbox, "keep.txt").unwrap();
    assert!(acme.list("bob", outbox).unwrap().is_empty());
    assert!(acme.hide("bob", outbox, "keep.txt").is_err());
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'hidden'"),
        1
    );
    let mut kept = String::new();
    std::io::Read::read_to_string(
        &mut acme
            .content(&sha256_hex(b"keep\n").parse().unwrap())
            .unwrap(),
        &mut kept,
    )
    .unwrap();
    assert_eq!(kept, "keep\n");
    env.ferry().args(["journal", "verify"]).ok();
}

/// A journal made before the schema had a version (version 0: every table
/// of today but those added since, no `user_version`) opens, is migrated
/// to the current version in place and keeps its chain; a journal of a
/// newer version than this ferry knows is refused, untouched.
#[test]
fn a_journal_of_the_previous_schema_opens_and_migrates() {
    let env = busy_env();
    let version = |env: &Env| env.count("PRAGMA user_version");
    assert_eq!(version(&env), 3);
    // What an older ferry left: no version, and no tables it did not have.
    let db = env.db();
    db.execute_batch(
        "DROP TABLE plugin_pins; DROP TABLE suspended; DROP TABLE folders; DROP TABLE merkle_nodes; \
         DROP TABLE merkle_heads; DROP TABLE checkpoints; PRAGMA user_version = 0;",
    )
        .unwrap();
    drop(db);
    let tables = |env: &Env| {
        env.count(
            "SELECT COUNT(*) FROM sqlite_master WHERE name IN \
             ('plugin_pins', 'suspended', 'folders', 'merkle_nodes', 'merkle_heads', 'checkpoints')",
        )
    };
    assert_eq!(tables(&env), 0);

    let out = env.ferry().args(["journal", "verify"]).ok();
    assert!(out.contains("acme: ok"), "{out}");
    assert_eq!(version(&env), 3, "migrated");
    assert_eq!(tables(&env), 6, "the missing tables made");
    let outbox = env.names("bob", "/outbox");
    assert!(
        outbox.contains(&"one.csv".into()) && outbox.contains(&"two.txt".into()),
        "{outbox:?}"
    );

    env.db().execute_batch("PRAGMA user_version = 7;").unwrap();
    let out = env.ferry().args(["journal", "verify"]).run();
    assert!(!out.status.success(), "a newer journal was opened");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("has schema version 7; this ferry knows versions up to 3"),
        "{stderr}"
    );
    assert_eq!(version(&env), 7, "left as it was");
}

/// The stored Merkle tree (what proofs are cut from) is checked against
/// the events too: a node changed after the fact is found and named.
#[test]
fn verify_detects_an_altered_tree_node() {
    let env = busy_env();
    let out = env.ferry().args(["journal", "verify"]).ok();
    assert!(out.contains("Merkle tree of"), "{out}");
    let changed = env
        .db()
        .execute(
            "UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 1",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let out = env.ferry().args(["journal", "verify"]).run();
    assert!(!out.status.success(), "an altered tree went unnoticed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("node (0, 1)") && stdout.contains("the stored tree was altered"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Merkle tree or checkpoints of acme"),
        "{stderr}"
    );
}

/// A checkpoint signed over an altered tree (its root not the events'
/// root) is found by the events alone, before the stored tree is looked at.
#[test]
fn verify_detects_a_checkpoint_of_an_altered_tree() {
    let env = busy_env();
    // The largest stored subtree starts every root's fold: altering it
    // alters the root the next checkpoint signs.
    let level = env.count("SELECT MAX(level) FROM merkle_nodes");
    env.db()
        .execute(
            "UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = ?1 AND idx = 0",
            [level],
        )
        .unwrap();
    env.ferry()
        .args(["journal", "checkpoint", "--tenant", "acme"])
        .ok();
    let out = env.ferry().args(["journal", "verify"]).run();
    assert!(!out.status.success(), "a wrong checkpoint went unnoticed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("signs root") && stdout.contains("the events give"),
        "{stdout}"
    );
}
