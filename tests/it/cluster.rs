//! Two ferry nodes on one PostgreSQL journal and one S3-compatible object
//! store, as separate processes with data directories of their own: work
//! confirmed on one is finished by the other when the first is killed,
//! each step exactly once; content put on one is read on the other; an
//! upload cut by its node's death is resumed on the other.

use std::process::Output;

use crate::backends::{S3Server, postgres, s3};
use crate::util::{SftpEnv, bytes, eventually, free_port, sha256_hex};

/// The operator's token of every node of these tests.
const OPERATOR: &str = "operator-token-of-the-cluster-tests";

/// A node of the cluster: `journal`, `store` and `node` in `[server]`,
/// task leases of 2 s (so that a dead node's tasks are taken over
/// quickly), and the admin API on a port of its own; `edit` is applied to
/// the configuration first.
fn node_with(
    url: &str,
    bucket: &str,
    name: &str,
    edit: impl Fn(String) -> String,
) -> (SftpEnv, u16) {
    let admin = free_port();
    let env = SftpEnv::with(|config| {
        let config = s3().on(bucket, &crate::postgres::on(url, &edit(config)));
        let config = config.replacen(
            "data_dir = \"data\"",
            &format!("data_dir = \"data\"\nnode = \"{name}\""),
            1,
        );
        format!(
            "{config}\n[limits]\ntask_lease = \"2s\"\n\n\
             [admin]\naddress = \"127.0.0.1:{admin}\"\ntoken_file = \"operator.token\"\n"
        )
    });
    std::fs::write(env.env.path().join("operator.token"), OPERATOR).unwrap();
    crate::postgres::key_file(env.env.path());
    S3Server::key_file(env.env.path());
    (env, admin)
}

/// Two nodes, a and b, on a fresh database and bucket, with `alice` (a
/// line such as `quota = "3MiB"`) added to partner alice of both.
fn two_nodes(alice: &str) -> ((SftpEnv, u16), (SftpEnv, u16)) {
    let (url, bucket) = (postgres().fresh_database(), s3().fresh_bucket());
    let edit = |config: String| {
        config.replacen(
            "[tenants.acme.partners.alice]\n",
            &format!("[tenants.acme.partners.alice]\n{alice}\n"),
            1,
        )
    };
    (
        node_with(&url, &bucket, "node-a", edit),
        node_with(&url, &bucket, "node-b", edit),
    )
}

/// `GET /api/v1/cluster` of the node whose admin API is on `port`.
fn cluster(port: u16) -> serde_json::Value {
    api(port, "GET", "/api/v1/cluster")
}

/// A request to the admin API on `port`, as the operator: its JSON answer.
fn api(port: u16, method: &str, path: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "-X", method, "-H"])
        .arg(format!("Authorization: Bearer {OPERATOR}"))
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "sftp failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_killed_nodes_confirmed_files_are_delivered_by_the_other_once() {
    let ((a, _), (b, b_admin)) = two_nodes("");
    let server_a = a.env.serve();
    let _server_b = b.env.serve();
    // Each node beats at start: node b's admin API lists both, alive.
    eventually("both nodes listed", || {
        let nodes = cluster(b_admin);
        let listed: Vec<(&str, bool)> = nodes["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| (n["node"].as_str().unwrap_or(""), n["alive"] == true))
            .collect();
        listed.contains(&("node-a", true)) && listed.contains(&("node-b", true))
    });

    // Both nodes present the same host keys (and keep the same certificate).
    let scan = |port: u16| {
        let out = std::process::Command::new("ssh-keyscan")
            .args(["-p", &port.to_string(), "-t", "ed25519,rsa", "127.0.0.1"])
            .output()
            .expect("ssh-keyscan (openssh-client)");
        let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split_once(' ').map_or(l, |(_, key)| key).to_owned())
            .collect();
        keys.sort();
        keys
    };
    let (keys_a, keys_b) = (scan(a.port), scan(b.port));
    assert_eq!(keys_a.len(), 2, "{keys_a:?}");
    assert_eq!(keys_a, keys_b);
    let cert = |s: &SftpEnv| std::fs::read(s.env.data().join("tls/cert.pem")).unwrap();
    assert_eq!(cert(&a), cert(&b));

    let mut batch = String::new();
    for i in 0..30 {
        let name = format!("f{i:02}.txt");
        std::fs::write(a.env.path().join(&name), format!("file {i}\n")).unwrap();
        batch.push_str(&format!("put {name} /inbox/{name}\n"));
    }
    ok(&a.sftp("alice", &batch));
    // Every upload was confirmed: node a dies at once, with whatever of
    // their pipeline steps it had not done, or held, left to node b.
    server_a.signal("KILL");
    drop(server_a);

    eventually("node b delivering all 30 to bob", || {
        b.env.names("bob", "/outbox").len() == 30
    });
    // Exactly once: one delivered message per file, each of alice's
    // messages delivered.
    let list = b
        .env
        .ferry()
        .args(["journal", "list", "--limit", "1000"])
        .ok();
    let to_bob = list.lines().filter(|l| l.contains("acme/bob  out")).count();
    assert_eq!(to_bob, 30, "{list}");
    let alices: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("acme/alice  in"))
        .collect();
    assert_eq!(alices.len(), 30, "{list}");
    assert!(alices.iter().all(|l| l.contains("delivered")), "{list}");
    let verified = b.env.ferry().args(["journal", "verify"]).ok();
    assert!(verified.contains("acme"), "{verified}");

    // A file put on node a is fetched on node b.
    let out = ok(&b.sftp("bob", "get /outbox/f07.txt got.txt\n"));
    let got = std::fs::read(b.env.path().join("got.txt")).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(sha256_hex(&got), sha256_hex(b"file 7\n"));
}

/// Content larger than the journal keeps inline lives in the object store:
/// put on node a, it is fetched on node b. An upload cut by killing its
/// node resumes on the other with OpenSSH's `reput`, from the size it is
/// shown there (the parts the dead node had completed), and the file's
/// SHA-256 is the whole file's.
#[test]
fn large_files_cross_nodes_and_a_killed_nodes_upload_resumes_on_the_other() {
    let (url, bucket) = (postgres().fresh_database(), s3().fresh_bucket());
    let node = |name| node_with(&url, &bucket, name, |config| config);
    let ((a, _), (b, _)) = (node("node-a"), node("node-b"));
    let server_a = a.env.serve();
    let _server_b = b.env.serve();

    let big = bytes(21, 20 << 20);
    std::fs::write(a.env.path().join("big.bin"), &big).unwrap();
    ok(&a.sftp("alice", "put big.bin /inbox/big.bin\n"));
    eventually("big.bin delivered to bob", || {
        b.env
            .names("bob", "/outbox")
            .contains(&"big.bin".to_owned())
    });
    let out = ok(&b.sftp("bob", "get /outbox/big.bin got.bin\n"));
    let got = std::fs::read(b.env.path().join("got.bin")).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(sha256_hex(&got), sha256_hex(&big));
    // The content is one object in the bucket, named by its SHA-256; no
    // node's own directory holds it.
    let object = s3()
        .bucket_dir(&bucket)
        .join("acme/objects")
        .join(sha256_hex(&big));
    assert_eq!(
        std::fs::metadata(&object).map(|m| m.len()).ok(),
        Some(big.len() as u64)
    );
    for node in [&a, &b] {
        let local = node.env.tenant_root("acme").join("objects");
        let blobs = std::fs::read_dir(&local).map(|d| d.count()).unwrap_or(0);
        assert_eq!(blobs, 0, "{}", local.display());
    }

    // A slow upload to node a, and node a killed once a part of it is in.
    let huge = bytes(22, 40 << 20);
    std::fs::write(a.env.path().join("huge.bin"), &huge).unwrap();
    let mut client = a.sftp_running("alice", "put huge.bin /inbox/huge.bin\n", &["-l", "40000"]);
    eventually("a part of huge.bin recorded for a resume", || {
        a.env.count("SELECT COUNT(*) FROM suspended WHERE size > 0") == 1
    });
    server_a.signal("KILL");
    drop(server_a);
    let _ = client.wait();
    assert!(
        !b.env
            .names("alice", "/inbox")
            .contains(&"huge.bin".to_owned())
    );

    // alice reconnects, to node b, and resumes (from her own copy).
    std::fs::write(b.env.path().join("huge.bin"), &huge).unwrap();
    let out = ok(&b.sftp("alice", "reput huge.bin /inbox/huge.bin\n"));
    let inbox = b.env.ls("alice", "/inbox");
    assert!(
        inbox.contains(&("huge.bin".to_owned(), huge.len() as u64, sha256_hex(&huge))),
        "{inbox:?}\n{out}"
    );
    eventually("no interrupted upload left", || {
        b.env.count("SELECT COUNT(*) FROM suspended") == 0
    });
    let verified = b.env.ferry().args(["journal", "verify"]).ok();
    assert!(verified.contains("acme"), "{verified}");
}

/// Two nodes whose tenant is shared (`ferry tenants import` of a server
/// file's `[tenants.acme]`): an account added through node b's admin API
/// logs in on node a, which fetches the tenant again when node b announces
/// the change, and `ferry tenants export` writes it back with the account;
/// a ban imposed on node a holds on node b, and lifted on node b it is
/// lifted on node a.
#[test]
fn an_account_added_or_a_ban_on_one_node_holds_on_the_other() {
    use crate::util::{Env, SECRET_HASH};
    let url = postgres().fresh_database();
    let nodes: Vec<(Env, u16, u16)> = ["node-a", "node-b"]
        .into_iter()
        .map(|name| {
            let (ftp, admin) = (free_port(), free_port());
            let env = Env::with_config(&format!(
                "[server]\ndata_dir = \"data\"\njournal = \"{url}\"\nsecrets_key_file = \"secrets.key\"\n\
                 node = \"{name}\"\n\n\
                 [admin]\naddress = \"127.0.0.1:{admin}\"\ntoken_file = \"operator.token\"\n\n\
                 [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp}\"\ntenant = \"acme\"\n"
            ));
            std::fs::write(env.path().join("operator.token"), OPERATOR).unwrap();
            crate::postgres::key_file(env.path());
            (env, ftp, admin)
        })
        .collect();
    // The tenant, from a server file as the quickstart's is written: its
    // other sections are not the import's business.
    let source = nodes[0].0.path().join("tenants-to-share.toml");
    std::fs::write(
        &source,
        format!(
            "[server]\ndata_dir = \"elsewhere\"\n\n[tenants.acme.partners.bob]\n\
             accounts = [{{ login = \"bob\", password_hash = \"{SECRET_HASH}\" }}]\n"
        ),
    )
    .unwrap();
    let imported = nodes[0]
        .0
        .ferry()
        .args(["tenants", "import"])
        .arg(&source)
        .ok();
    assert!(imported.contains("acme: shared from"), "{imported}");
    let _servers: Vec<_> = nodes.iter().map(|(env, _, _)| env.serve()).collect();
    let ((_, a_ftp, _), (_, _, b_admin)) = (&nodes[0], &nodes[1]);
    let login = |port: u16, user: &str, password: &str| {
        std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", "-o", "/dev/null"])
            .arg(format!("ftp://{user}:{password}@127.0.0.1:{port}/"))
            .status()
            .unwrap()
            .success()
    };
    assert!(!login(*a_ftp, "carol", "carol-pass-1"), "no carol yet");

    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-X",
            "PUT",
            "-w",
            "\n%{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {OPERATOR}")])
        .args(["-H", "Content-Type: application/json"])
        .args(["-d", r#"{"password": "carol-pass-1"}"#])
        .arg(format!(
            "http://127.0.0.1:{b_admin}/api/v1/tenants/acme/partners/bob/accounts/carol"
        ))
        .output()
        .unwrap();
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(reply.ends_with("200"), "{reply}");
    eventually("carol logging in on node a", || {
        login(*a_ftp, "carol", "carol-pass-1")
    });
    let out = nodes[0].0.path().join("exported");
    nodes[0]
        .0
        .ferry()
        .args(["tenants", "export", "--out"])
        .arg(&out)
        .ok();
    let exported = std::fs::read_to_string(out.join("acme.toml")).unwrap();
    assert!(
        exported.contains("carol") && exported.contains("bob"),
        "{exported}"
    );
    let listed = nodes[1].0.ferry().args(["tenants", "list"]).ok();
    assert!(listed.contains("acme\trevision 2\t"), "{listed}");

    // A ban on node a holds on node b, and lifted through node b's admin
    // API it is lifted on node a too.
    let (_, b_ftp, _) = &nodes[1];
    assert!(login(*b_ftp, "carol", "carol-pass-1"));
    for _ in 0..5 {
        assert!(!login(*a_ftp, "carol", "wrong-guess"));
    }
    eventually("the ban holding on node b", || {
        !login(*b_ftp, "carol", "carol-pass-1")
    });
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-X",
            "DELETE",
            "-w",
            "\n%{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {OPERATOR}")])
        .arg(format!("http://127.0.0.1:{b_admin}/api/v1/bans/127.0.0.1"))
        .output()
        .unwrap();
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(reply.ends_with("200"), "{reply}");
    eventually("the ban lifted on node a", || {
        login(*a_ftp, "carol", "carol-pass-1")
    });
}

/// The object store unreachable for a while: an upload fails with the
/// protocol's error (the session and the server live on), nothing of it is
/// visible, nothing confirmed is lost, and once the store is back uploads
/// and downloads work again without a restart of ferry.
#[test]
fn an_unreachable_object_store_fails_uploads_cleanly_and_recovers() {
    let store = S3Server::own();
    let (url, bucket) = (postgres().fresh_database(), store.fresh_bucket());
    let s = SftpEnv::with(|config| store.on(&bucket, &crate::postgres::on(&url, &config)));
    crate::postgres::key_file(s.env.path());
    S3Server::key_file(s.env.path());
    let _server = s.env.serve();
    let (first, second) = (bytes(31, 3 << 20), bytes(32, 3 << 20));
    std::fs::write(s.env.path().join("first.bin"), &first).unwrap();
    std::fs::write(s.env.path().join("second.bin"), &second).unwrap();
    s.sftp_ok("alice", "put first.bin /inbox/first.bin\n");

    store.halt();
    let out = s.sftp("alice", "put second.bin /inbox/second.bin\nls /inbox\n");
    assert!(!out.status.success(), "the upload seemed to succeed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // SSH_FX_FAILURE in answer to the close that would have confirmed it.
    assert!(stderr.contains("close remote: Failure"), "{stderr}");
    // (sftp's batch mode stops at its first error.) The server lives on,
    // and nothing of second.bin is visible. (`ferry` commands would stop
    // at their start, naming the store that does not answer.)
    let names = s.sftp_ok("alice", "ls -1 /inbox\n");
    assert!(names.contains("first.bin"), "{names}");
    assert!(!names.contains("second.bin"), "{names}");
    let said = s
        .env
        .ferry()
        .args(["ls", "--tenant", "acme", "--as", "alice", "/inbox"])
        .fails();
    assert!(
        said.contains(&format!("s3://{bucket} at {}", store.endpoint())),
        "{said}"
    );

    store.resume();
    s.sftp_ok("alice", "put second.bin /inbox/second.bin\n");
    let inbox = s.env.ls("alice", "/inbox");
    assert!(
        inbox.contains(&(
            "first.bin".to_owned(),
            first.len() as u64,
            sha256_hex(&first)
        )),
        "{inbox:?}"
    );
    assert!(
        inbox.contains(&(
            "second.bin".to_owned(),
            second.len() as u64,
            sha256_hex(&second)
        )),
        "{inbox:?}"
    );
    s.sftp_ok("alice", "get /inbox/second.bin back.bin\n");
    let back = std::fs::read(s.env.path().join("back.bin")).unwrap();
    assert_eq!(sha256_hex(&back), sha256_hex(&second));
}

/// The admin API of either node lists the sessions of both, each with its
/// node, and closes a session on the other node: a partner logged in on
/// node a is listed by node b and disconnected through it. alice's
/// `max_sessions = 1` holds across nodes: logged in on node a, she is
/// refused on node b until that session ends.
#[test]
fn sessions_on_one_node_are_listed_limited_and_closed_through_the_other() {
    let ((a, _), (b, b_admin)) = two_nodes("max_sessions = 1");
    let _server_a = a.env.serve();
    let _server_b = b.env.serve();
    let script = r#"
import sys, time, paramiko
key = paramiko.Ed25519Key.from_private_key_file(sys.argv[2])
t = paramiko.Transport(("127.0.0.1", int(sys.argv[1])))
t.connect(username="alice", pkey=key)
paramiko.SFTPClient.from_transport(t).listdir("/")
print("in", flush=True)
deadline = time.monotonic() + 60
while t.is_active() and time.monotonic() < deadline:
    time.sleep(0.05)
print("sftp alive" if t.is_active() else "sftp ended", flush=True)
"#;
    let mut client = std::process::Command::new("timeout")
        .args(["90", "python3", "-c", script, &a.port.to_string()])
        .arg(&a.key)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead as _;
    let mut out = std::io::BufReader::new(client.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "in");

    // Node b lists alice's session on node a (node a's heartbeat follows
    // the login within a second).
    let mut listed = serde_json::Value::Null;
    eventually("node b listing alice's session on node a", || {
        listed = api(b_admin, "GET", "/api/v1/tenants/acme/sessions");
        listed["sessions"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["node"] == "node-a" && s["partner"] == "alice")
        })
    });
    let session = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node"] == "node-a")
        .unwrap()
        .clone();
    let id = session["id"].as_u64().unwrap();
    // One session of alice's is open, on node a: node b refuses a second.
    let refused = b.sftp("alice", "ls /\n");
    assert!(
        !refused.status.success(),
        "a second session of alice's was let in"
    );
    // Node b has no session of that id itself: without `node`, none.
    let none = api(
        b_admin,
        "DELETE",
        &format!("/api/v1/tenants/acme/sessions/{id}"),
    );
    assert!(none["error"].is_string(), "{none}");
    let closing = api(
        b_admin,
        "DELETE",
        &format!("/api/v1/tenants/acme/sessions/{id}?node=node-a"),
    );
    assert_eq!(closing["closing"], true, "{closing}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let _ = client.wait();
    assert_eq!(rest.trim(), "sftp ended");
    eventually("the session gone from node b's list", || {
        api(b_admin, "GET", "/api/v1/tenants/acme/sessions")["sessions"]
            .as_array()
            .is_some_and(|s| s.is_empty())
    });
    // Within a second node b counts alice's sessions again from none.
    eventually("alice let in on node b", || {
        b.sftp("alice", "ls /\n").status.success()
    });
}

/// A partner's storage quota holds across nodes: what alice keeps through
/// node a counts on node b (which counts again from the journal at each
/// heartbeat), and an upload through node b past it is refused.
#[test]
fn a_quota_counts_what_every_node_received() {
    let ((a, _), (b, _)) = two_nodes("quota = \"3MiB\"");
    let _server_a = a.env.serve();
    let _server_b = b.env.serve();
    let data = bytes(41, 2 << 20);
    std::fs::write(a.env.path().join("first.bin"), &data).unwrap();
    std::fs::write(b.env.path().join("second.bin"), &data).unwrap();
    // `df` on node b: the KiB alice keeps, as node b counts them (a
    // session's login and logout bring its next heartbeat within a second,
    // and with it a count from the journal).
    let used_on_b = || -> u64 {
        let out = b.sftp_ok("alice", "df\n");
        out.lines()
            .skip_while(|l| !l.contains("Size"))
            .nth(1)
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("no df figures in {out}"))
    };
    // Node b has counted already (nothing) before node a receives.
    assert_eq!(used_on_b(), 0);
    a.sftp_ok("alice", "put first.bin /inbox/first.bin\n");
    eventually("node b counting first.bin", || used_on_b() >= 2048);
    let out = b.sftp("alice", "put second.bin /inbox/second.bin\n");
    assert!(
        !out.status.success(),
        "an upload past the quota was accepted"
    );
    let inbox = b.sftp_ok("alice", "ls -1 /inbox\n");
    assert!(
        inbox.contains("first.bin") && !inbox.contains("second.bin"),
        "{inbox}"
    );
}

/// `ferry tenants import` checks a tenant as the loader does (a bad one is
/// refused with its file, line and key, and nothing is shared), and shares
/// a good one with what it names: its API token sealed in the journal, its
/// plugin in the object store, from where node b, which never saw the
/// original files, takes it into its own copy and serves it.
#[test]
fn a_shared_tenant_brings_its_token_and_plugin_to_every_node() {
    use crate::util::{Env, SECRET_HASH};
    let (url, bucket) = (postgres().fresh_database(), s3().fresh_bucket());
    let nodes: Vec<(Env, u16)> = ["node-a", "node-b"]
        .into_iter()
        .map(|name| {
            let admin = free_port();
            let env = Env::with_config(&s3().on(
                &bucket,
                &format!(
                    "[server]\ndata_dir = \"data\"\njournal = \"{url}\"\n\
                     secrets_key_file = \"secrets.key\"\nnode = \"{name}\"\n\n\
                     [admin]\naddress = \"127.0.0.1:{admin}\"\ntoken_file = \"operator.token\"\n"
                ),
            ));
            std::fs::write(env.path().join("operator.token"), OPERATOR).unwrap();
            crate::postgres::key_file(env.path());
            S3Server::key_file(env.path());
            (env, admin)
        })
        .collect();
    let (a, b) = (&nodes[0].0, &nodes[1].0);
    let originals = tempfile::tempdir().unwrap();

    let bad = originals.path().join("acme.toml");
    std::fs::write(&bad, "[partners.bob]\nvalidator = \"missing.wasm\"\n").unwrap();
    let refused = a.ferry().args(["tenants", "import"]).arg(&bad).fails();
    assert!(
        refused.contains("acme.toml:2") && refused.contains("partners.bob.validator"),
        "{refused}"
    );
    assert_eq!(a.ferry().args(["tenants", "list"]).ok(), "");

    let plugin = crate::plugins::wasm("json_schema_validator");
    let sha = sha256_hex(&std::fs::read(&plugin).unwrap());
    std::fs::write(
        originals.path().join("acme.token"),
        "acme-token-0123456789\n",
    )
    .unwrap();
    std::fs::write(
        &bad,
        format!(
            "api_token_file = \"acme.token\"\n\n[partners.bob]\nvalidator = \"{}\"\n\
             accounts = [{{ login = \"bob\", password_hash = \"{SECRET_HASH}\" }}]\n",
            plugin.display()
        ),
    )
    .unwrap();
    a.ferry().args(["tenants", "import"]).arg(&bad).ok();
    // Good alone, refused beside acme (one token for two tenants): taken
    // back, nothing of it shared.
    let other = originals.path().join("globex.toml");
    std::fs::write(
        &other,
        "api_token_file = \"acme.token\"\n[partners.carol]\n",
    )
    .unwrap();
    let refused = a.ferry().args(["tenants", "import"]).arg(&other).fails();
    assert!(refused.contains("same API token"), "{refused}");
    let listed = a.ferry().args(["tenants", "list"]).ok();
    assert!(
        listed.starts_with("acme\trevision 1\t") && !listed.contains("globex"),
        "{listed}"
    );

    let _b = b.serve();
    let b_admin = nodes[1].1;
    let versions = || {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "20", "-H"])
            .arg("Authorization: Bearer acme-token-0123456789")
            .arg(format!(
                "http://127.0.0.1:{b_admin}/api/v1/tenants/acme/partners/bob/plugins/validator"
            ))
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    // acme's own token (sealed in the journal) is accepted on node b.
    let first = versions();
    let file = first["file"].as_str().unwrap_or_default().to_owned();
    assert!(
        file.starts_with(&b.path().display().to_string()) && file.ends_with(&format!("{sha}.wasm")),
        "{first}"
    );
    assert_eq!(sha256_hex(&std::fs::read(&file).unwrap()), sha);
    eventually("the plugin in service on node b", || {
        versions()["versions"].as_array().is_some_and(|v| {
            v.iter()
                .any(|v| v["status"] == "activated" && v["sha256"] == sha.as_str())
        })
    });

    // A new version imported serves on both nodes; rolled back through
    // node a, the old one serves on both again. Each node records what it
    // does in the one journal, so each change shows twice.
    let _a = a.serve();
    let count = |status: &str, sha: &str| {
        versions()["versions"].as_array().map_or(0, |v| {
            v.iter()
                .filter(|v| v["status"] == status && v["sha256"] == sha)
                .count()
        })
    };
    eventually("the first version in service on node a too", || {
        count("activated", &sha) >= 2
    });
    let newer = crate::plugins::wasm("sequence_validator");
    let newer_sha = sha256_hex(&std::fs::read(&newer).unwrap());
    let text = std::fs::read_to_string(&bad).unwrap();
    std::fs::write(
        &bad,
        text.replace(&plugin.display().to_string(), &newer.display().to_string()),
    )
    .unwrap();
    a.ferry().args(["tenants", "import"]).arg(&bad).ok();
    eventually("the new version in service on both nodes", || {
        count("activated", &newer_sha) >= 2
    });
    let a_admin = nodes[0].1;
    let rolled = api(
        a_admin,
        "POST",
        "/api/v1/tenants/acme/partners/bob/plugins/validator/rollback",
    );
    assert_eq!(rolled["to"], sha.as_str(), "{rolled}");
    eventually("the old version back in service on both nodes", || {
        count("rolled-back", &sha) >= 2
    });
}
