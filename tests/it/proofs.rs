//! Proofs a partner checks offline: the server signs checkpoints of the
//! journal on its schedule; bob downloads the proof of his file with
//! OpenSSH `sftp`; `ferry verify-proof` and the Python verifier in
//! `tools/` agree on it, and on nothing once a byte is changed; `ferry
//! journal verify --since` proves a later journal extends an earlier
//! checkpoint, and fails once the tree was rewritten.

use std::path::Path;
use std::process::Command;

use crate::util::{SftpEnv, eventually};

fn python_verify(args: &[&Path]) -> std::process::Output {
    Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_proof.py"))
        .args(args)
        .output()
        .expect("python3")
}

/// `ferry verify-proof FILE --key KEY`: no configuration is read.
fn verify_proof(env: &crate::util::Env, file: &Path, key: &Path) -> crate::util::Cmd {
    let mut cmd = env.ferry();
    cmd.arg("verify-proof").arg(file).arg("--key").arg(key);
    cmd
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_partner_verifies_the_proof_of_a_download_offline() {
    let s = SftpEnv::with(|config| format!("[journal]\ncheckpoint_every = \"1s\"\n{config}"));
    let dir = s.env.path();
    let mut server = s.env.serve();
    std::fs::write(dir.join("orders.csv"), "id,amount\n1,2\n").unwrap();
    s.sftp_ok("alice", "put orders.csv /inbox/orders.csv\n");
    eventually("the copy in bob's outbox", || {
        s.env
            .names("bob", "/outbox")
            .contains(&"orders.csv".to_owned())
    });
    s.sftp_ok("bob", "get /outbox/orders.csv got.csv\n");
    // The server's own schedule signs the journal once it has grown.
    server.wait_for("journal checkpoint signed");
    eventually("the download journaled", || {
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'")
            == 1
    });
    s.sftp_ok(
        "bob",
        "get /receipts/proofs/orders.csv.json proof.json\nget /receipts/checkpoint.json checkpoint.json\n",
    );
    let key = dir.join("journal.key");
    std::fs::write(&key, s.env.ferry().args(["journal", "key"]).ok()).unwrap();
    let proof = dir.join("proof.json");

    let said = verify_proof(&s.env, &proof, &key).ok();
    assert!(
        said.contains("event 'received' (seq ") && said.contains("of orders.csv by alice"),
        "{said}"
    );
    assert!(said.contains("event 'downloaded'"), "{said}");
    assert!(said.contains("by bob"), "{said}");
    assert!(said.contains("in acme's journal of"), "{said}");
    let python = python_verify(&[&proof, Path::new("--key"), &key]);
    assert!(python.status.success(), "{}", text(&python));
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        said.trim(),
        "both verifiers say the same"
    );
    // Access events: bob's logins and what he was shown when he listed.
    s.sftp_ok("bob", "ls /outbox\n");
    assert!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'login' AND detail LIKE '%\"bob\"%'")
            >= 2
    );
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let listed = s
        .env
        .ferry()
        .args([
            "journal", "listing", "--tenant", "acme", "--as", "bob", "/outbox", "--at", &now,
        ])
        .ok();
    assert!(
        listed.contains("bob last listed it before then at") && listed.contains("over sftp: "),
        "{listed}"
    );
    assert!(listed.contains("orders.csv"), "{listed}");
    let checkpoint: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("checkpoint.json")).unwrap()).unwrap();
    assert_eq!(checkpoint["checkpoint"]["tenant"], "acme", "{checkpoint}");

    // One byte changed anywhere: an event's time, the signature.
    let original = std::fs::read_to_string(&proof).unwrap();
    let at = original.find("\"at\": ").unwrap() + 6;
    let mut bumped = original.clone();
    let digit = if &original[at..at + 1] == "9" {
        "8"
    } else {
        "9"
    };
    bumped.replace_range(at..at + 1, digit);
    let signature = original.find("\"signature\": \"").unwrap() + 14;
    let mut forged = original.clone();
    let c = if &original[signature..signature + 1] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(signature..signature + 1, c);
    for (what, altered) in [("an event's time", bumped), ("the signature", forged)] {
        let bad = dir.join("altered.json");
        std::fs::write(&bad, altered).unwrap();
        let out = verify_proof(&s.env, &bad, &key).run();
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        assert!(
            text(&out).contains("NOT VERIFIED"),
            "{what}: {}",
            text(&out)
        );
        let python = python_verify(&[&bad, Path::new("--key"), &key]);
        assert_eq!(python.status.code(), Some(1), "{what}: {}", text(&python));
    }
    server.stop();
}

#[test]
fn a_later_journal_is_proven_to_extend_an_earlier_checkpoint() {
    let s = SftpEnv::new();
    let dir = s.env.path();
    s.env.put("alice", "a.csv", b"a\n").ok();
    let printed = s
        .env
        .ferry()
        .args(["journal", "checkpoint", "--tenant", "acme"])
        .ok();
    let earlier = dir.join("earlier.json");
    std::fs::write(&earlier, &printed).unwrap();
    for i in 0..5 {
        s.env.put("alice", &format!("b{i}.csv"), b"b\n").ok();
    }
    let consistency = dir.join("consistency.json");
    let said = s
        .env
        .ferry()
        .args(["journal", "verify", "--since"])
        .arg(&earlier)
        .arg("--out")
        .arg(&consistency)
        .ok();
    assert!(said.contains("nothing was rewritten"), "{said}");
    let key = dir.join("journal.key");
    std::fs::write(&key, s.env.ferry().args(["journal", "key"]).ok()).unwrap();
    verify_proof(&s.env, &consistency, &key).ok();
    let python = python_verify(&[
        Path::new("--consistency"),
        &consistency,
        Path::new("--key"),
        &key,
    ]);
    assert!(python.status.success(), "{}", text(&python));

    // The tree rewritten under the earlier checkpoint (its first four
    // events' subtree): the proof fails.
    s.env
        .db()
        .execute(
            "UPDATE merkle_nodes SET hash = zeroblob(32) WHERE tenant = 'acme' AND level = 2 AND idx = 0",
            [],
        )
        .unwrap();
    let refused = s
        .env
        .ferry()
        .args(["journal", "verify", "--since"])
        .arg(&earlier)
        .fails();
    assert!(refused.contains("does not extend"), "{refused}");
}

/// `journal listing --at`: bob's outbox as it was just after the first
/// delivery, after the second, and before either; with the proof of the
/// events that made it, which `verify-proof` accepts.
#[test]
fn a_folder_is_listed_as_it_was_at_a_past_instant() {
    let env = crate::util::Env::new();
    env.put("alice", "a.csv", b"a\n").ok();
    env.put("alice", "b.csv", b"b\n").ok();
    let times: Vec<(String, i64)> = env.rows(
        "SELECT json_extract(detail, '$.name'), at FROM events
         WHERE kind = 'delivered' AND partner = 'bob' ORDER BY seq",
    );
    assert_eq!(times.len(), 2, "{times:?}");
    let instant = |ms: i64| {
        humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64),
        )
        .to_string()
    };
    let list = |ms: i64| {
        env.ferry()
            .args([
                "journal", "listing", "--tenant", "acme", "--as", "bob", "/outbox", "--at",
            ])
            .arg(instant(ms))
            .ok()
    };
    let first = list(times[0].1);
    assert!(
        first.contains(": 1 file\n") && first.contains("a.csv"),
        "{first}"
    );
    assert!(!first.contains("b.csv"), "{first}");
    let both = list(times[1].1);
    assert!(
        both.contains(": 2 files") && both.contains("b.csv"),
        "{both}"
    );
    let sha = crate::util::sha256_hex(b"a\n");
    assert!(both.contains(&sha), "{both}");
    let before = list(times[0].1 - 1);
    assert!(before.contains(": 0 files"), "{before}");

    let proof = env.path().join("listing.json");
    env.ferry()
        .args([
            "journal", "listing", "--tenant", "acme", "--as", "bob", "/outbox", "--at",
        ])
        .arg(instant(times[1].1))
        .arg("--proof")
        .arg(&proof)
        .ok();
    let key = env.path().join("journal.key");
    std::fs::write(&key, env.ferry().args(["journal", "key"]).ok()).unwrap();
    let said = verify_proof(&env, &proof, &key).ok();
    assert!(said.contains("ok: 2 events proven"), "{said}");
    assert!(said.contains("event 'delivered'"), "{said}");
}

/// A tenant may turn access events off (`access_events = false`): its
/// logins and listings are not journaled; another tenant's are, by default.
#[test]
fn access_events_can_be_turned_off_per_tenant() {
    for on in [true, false] {
        let s = SftpEnv::with(|c| {
            c.replace(
                "[tenants.acme.partners.alice]\n",
                &format!("[tenants.acme]\naccess_events = {on}\n\n[tenants.acme.partners.alice]\n"),
            )
        });
        let _server = s.env.serve();
        s.sftp_ok("bob", "ls /outbox\nls /inbox\n");
        let logins = s
            .env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'login'");
        let listed = s
            .env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'listed'");
        if on {
            // The login is journaled off the session's thread: wait for it.
            eventually("the login event", || {
                s.env
                    .count("SELECT COUNT(*) FROM events WHERE kind = 'login'")
                    == 1
            });
            assert_eq!(listed, 2, "two listings");
        } else {
            assert_eq!((logins, listed), (0, 0));
        }
    }
}
