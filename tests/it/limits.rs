//! Per-tenant and per-partner limits with real clients: storage quotas
//! (curl over FTP, OpenSSH `sftp`), bandwidth (token buckets, up and down,
//! shared by a tenant's sessions) and connector concurrency.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::{Env, SECRET_HASH, bytes, eventually, free_port, sftp_batch, sha256_hex};

/// A tenant `acme` with partners alice and bob, an FTP and an SFTP listener
/// bound to it, and `limits` (TOML lines) in the tenant and partner tables.
struct Limited {
    env: Env,
    ftp: u16,
    sftp: u16,
    key: std::path::PathBuf,
}

impl Limited {
    fn new(tenant: &str, alice: &str, bob: &str) -> Limited {
        let env = Env::new();
        let (key, public) = crate::util::client_key(env.path());
        let (ftp, sftp) = (free_port(), free_port());
        let partner = |name: &str, limits: &str| {
            format!(
                "[tenants.acme.partners.{name}]\n{limits}\n\
                 [[tenants.acme.partners.{name}.accounts]]\nlogin = \"{name}\"\n\
                 password_hash = \"{SECRET_HASH}\"\nssh_keys = [\"{}\"]\n",
                public.trim()
            )
        };
        env.write_config(&format!(
            "[server]\ndata_dir = \"data\"\n\n\
             [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp}\"\ntenant = \"acme\"\n\n\
             [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp}\"\ntenant = \"acme\"\n\n\
             [tenants.acme]\n{tenant}\n\n{}\n{}",
            partner("alice", alice),
            partner("bob", bob),
        ));
        Limited {
            env,
            ftp,
            sftp,
            key,
        }
    }

    fn file(&self, name: &str, len: usize) -> std::path::PathBuf {
        let path = self.env.path().join(name);
        std::fs::write(&path, bytes(len as u64, len)).unwrap();
        path
    }

    /// `curl -T NAME` into the inbox of `user`; `-v` so the replies show.
    fn ftp_put(&self, user: &str, name: &str) -> Output {
        curl(&[
            "-v",
            "-T",
            name,
            &format!(
                "ftp://{user}:alice-pass@127.0.0.1:{}/inbox/{name}",
                self.ftp
            ),
        ])
        .current_dir(self.env.path())
        .output()
        .unwrap()
    }

    fn sftp(&self, user: &str, commands: &str) -> Output {
        sftp_batch(self.sftp, &self.key, user, self.env.path(), commands, &[])
    }
}

fn curl(args: &[&str]) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "60"]).args(args);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const MIB: usize = 1 << 20;

/// Uploads of `name` journaled as failed because of the quota of `whose`.
fn refused(env: &Env, name: &str, whose: &str) -> i64 {
    env.count(&format!(
        "SELECT COUNT(*) FROM messages WHERE name = '{name}' AND state = 'failed'
         AND reason LIKE '%storage quota of {whose}%'"
    ))
}

/// A partner's quota and its tenant's, with curl and OpenSSH's sftp: an
/// upload past either fails (FTP 552 with the reason, SFTP a failure),
/// nothing of it becomes visible, the refusal is journaled, and the bytes
/// kept are counted again after a restart.
#[test]
fn quotas_refuse_uploads_past_them_and_keep_nothing() {
    let l = Limited::new("quota = \"3MiB\"", "quota = \"2MiB\"", "");
    l.file("a.bin", MIB + MIB / 2);
    l.file("b.bin", MIB);
    l.file("c.bin", MIB / 2);
    l.file("d.bin", 900 << 10);
    l.file("e.bin", 200 << 10);
    let server = l.env.serve();

    // 1.5 MiB of alice's 2 MiB: stored.
    let out = l.ftp_put("alice", "a.bin");
    assert!(out.status.success(), "{}", text(&out));
    // 1 MiB more: refused while it is written. The server replies 552
    // with the reason; curl, still sending, may see the data connection
    // close first, so the reason is checked in the journal.
    let out = l.ftp_put("alice", "b.bin");
    assert!(!out.status.success(), "{}", text(&out));
    eventually("the refusal journaled", || {
        refused(&l.env, "b.bin", "partner `alice`") == 1
    });
    // Over SFTP the same, and the session goes on: 0.5 MiB fits exactly.
    let out = l.sftp("alice", "-put b.bin /inbox/b.bin\nput c.bin /inbox/c.bin\n");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("write remote \"/inbox/b.bin\": Failure"),
        "{}",
        text(&out)
    );
    eventually("the refusal journaled", || {
        refused(&l.env, "b.bin", "partner `alice`") == 2
    });
    // Now alice's quota is used up: STOR is refused before any data.
    let out = l.ftp_put("alice", "e.bin");
    assert!(
        text(&out).contains("< 552") && text(&out).contains("quota of partner `alice`"),
        "{}",
        text(&out)
    );
    assert!(
        !text(&out).contains("< 150"),
        "refused at once, not after a data connection: {}",
        text(&out)
    );

    // Bob has no quota of his own, but acme's 3 MiB hold 2 MiB already.
    let out = l.ftp_put("bob", "d.bin");
    assert!(out.status.success(), "{}", text(&out));
    let out = l.sftp("bob", "put e.bin /inbox/e.bin\n");
    assert!(!out.status.success(), "{}", text(&out));
    let out = l.ftp_put("bob", "e.bin");
    assert!(!out.status.success(), "{}", text(&out));
    eventually("the refusals journaled", || {
        refused(&l.env, "e.bin", "tenant `acme`") == 2
    });

    assert_eq!(l.env.names("alice", "/inbox"), ["a.bin", "c.bin"]);
    assert_eq!(l.env.names("bob", "/inbox"), ["d.bin"]);
    assert_eq!(
        l.env.count(
            "SELECT COUNT(*) FROM messages WHERE state = 'failed' AND reason LIKE '%storage quota%'"
        ),
        4,
        "every upload cut short by a quota is journaled with its reason (one refused \
         before its first byte is answered, as a refused path is)"
    );
    // Nothing half-written stays behind in the staging area.
    assert!(
        l.env.count("SELECT COUNT(*) FROM suspended") == 0,
        "a refused upload is not kept for resumption"
    );

    // After a restart the count comes from the journal.
    server.stop();
    let _server = l.env.serve();
    let out = l.ftp_put("alice", "e.bin");
    assert!(
        text(&out).contains("< 552") && !text(&out).contains("< 150"),
        "{}",
        text(&out)
    );
}

/// Rates are kept by token buckets: uploads and downloads of a partner
/// with rates take at least as long as they demand, over FTP and SFTP, and
/// the tenant's bucket is shared by all its sessions. Only lower bounds are
/// checked: a bucket can be slow on a busy machine, never fast.
#[test]
fn bandwidth_limits_pace_uploads_and_downloads() {
    let l = Limited::new(
        "upload_rate = \"8MiB/s\"",
        "upload_rate = \"4MiB/s\"\ndownload_rate = \"4MiB/s\"",
        "routes = [{ to = \"alice\" }]",
    );
    let content = bytes(7, 8 * MIB);
    std::fs::write(l.env.path().join("eight.bin"), &content).unwrap();
    let _server = l.env.serve();
    // 8 MiB at 4 MiB/s: two seconds, less the bucket's burst of 0.1 s.
    let at_least = Duration::from_millis(1800);
    let timed = |what: &str, run: &dyn Fn() -> Output| {
        let began = Instant::now();
        let out = run();
        let took = began.elapsed();
        assert!(out.status.success(), "{what}: {}", text(&out));
        took
    };

    let took = timed("FTP upload", &|| l.ftp_put("alice", "eight.bin"));
    assert!(took >= at_least, "alice's FTP upload took {took:?}");
    let took = timed("SFTP upload", &|| {
        l.sftp("alice", "put eight.bin /inbox/again.bin\n")
    });
    assert!(took >= at_least, "alice's SFTP upload took {took:?}");

    // Bob's file for alice; then her downloads of it are paced.
    assert!(l.ftp_put("bob", "eight.bin").status.success());
    eventually("bob's file in alice's outbox", || {
        l.env
            .names("alice", "/outbox")
            .contains(&"eight.bin".to_owned())
    });
    let took = timed("SFTP download", &|| {
        l.sftp("alice", "get /outbox/eight.bin sftp.bin\n")
    });
    assert!(took >= at_least, "alice's SFTP download took {took:?}");
    let url = format!(
        "ftp://alice:alice-pass@127.0.0.1:{}/outbox/eight.bin",
        l.ftp
    );
    let took = timed("FTP download", &|| {
        curl(&["-o", "ftp.bin", &url])
            .current_dir(l.env.path())
            .output()
            .unwrap()
    });
    assert!(took >= at_least, "alice's FTP download took {took:?}");
    for copy in ["sftp.bin", "ftp.bin"] {
        let got = std::fs::read(l.env.path().join(copy)).unwrap();
        assert_eq!(sha256_hex(&got), sha256_hex(&content), "{copy}");
    }
    // The tail from an offset (REST), sent by the kernel from the stored
    // file as the whole was (`sendfile` over a clear-text connection).
    let tail = curl(&["-r", "7000000-", "-o", "tail.bin", &url])
        .current_dir(l.env.path())
        .output()
        .unwrap();
    assert!(tail.status.success(), "{tail:?}");
    let got = std::fs::read(l.env.path().join("tail.bin")).unwrap();
    assert_eq!(got, content[7_000_000..], "the tail from byte 7,000,000");

    // Bob has no rate of his own; two sessions of his share acme's 8 MiB/s.
    let began = Instant::now();
    let both: Vec<_> = ["one", "two"]
        .into_iter()
        .map(|n| {
            let url = format!("ftp://bob:alice-pass@127.0.0.1:{}/inbox/{n}.bin", l.ftp);
            curl(&["-T", "eight.bin", &url])
                .current_dir(l.env.path())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in both {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    let took = began.elapsed();
    assert!(took >= at_least, "16 MiB at 8 MiB/s took {took:?}");
}

/// `max_connector_transfers = 1`: with three pipeline workers and three
/// files for a partner's server, the pushes run one after the other (each
/// paced to about half a second by the partner's download rate), and the
/// waiting ones are not failures: every file arrives once.
#[test]
fn connector_transfers_are_limited_per_tenant() {
    let env = Env::new();
    let outside = env.path().join("hooli-server");
    std::fs::create_dir_all(outside.join("incoming")).unwrap();
    env.write_config(&format!(
        "[server]\ndata_dir = \"data\"\n\n[limits]\npipeline_workers = 3\n\n\
         [tenants.acme]\nmax_connector_transfers = 1\n\n\
         [tenants.acme.partners.alice]\nroutes = [{{ to = \"hooli\" }}]\n\
         [tenants.acme.partners.hooli]\nreceipts = false\ndownload_rate = \"8MiB/s\"\n\
         [tenants.acme.partners.hooli.connector]\nprotocol = \"local\"\npath = \"{}\"\n\
         [tenants.acme.partners.hooli.push]\nto = \"/incoming\"\n",
        outside.display()
    ));
    let _server = env.serve();
    let contents: Vec<_> = (0..3).map(|i| bytes(i, 4 * MIB)).collect();
    for (i, content) in contents.iter().enumerate() {
        env.put("alice", &format!("f{i}.bin"), content).ok();
    }
    eventually("three pushes", || {
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'pushed'") == 3
    });
    for (i, content) in contents.iter().enumerate() {
        let got = std::fs::read(outside.join("incoming").join(format!("f{i}.bin"))).unwrap();
        assert_eq!(sha256_hex(&got), sha256_hex(content));
    }
    // Each push's span, from its `seconds` back from when it was journaled:
    // none may begin before the one before it ended.
    let db = env.db();
    let mut statement = db
        .prepare("SELECT at, detail FROM events WHERE kind = 'pushed' ORDER BY at")
        .unwrap();
    let spans: Vec<(f64, f64)> = statement
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .unwrap()
        .map(|row| {
            let (at, detail) = row.unwrap();
            let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
            let seconds = detail["seconds"].as_f64().unwrap();
            assert!(seconds >= 0.4, "a paced push took {seconds} s");
            (at as f64 / 1000.0 - seconds, at as f64 / 1000.0)
        })
        .collect();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1 - 0.01,
            "two pushes of acme ran at once: {spans:?}"
        );
    }
    assert_eq!(
        env.count("SELECT COUNT(*) FROM tasks WHERE state != 'done'"),
        0,
        "no push failed or was dead-lettered while it waited"
    );
}
