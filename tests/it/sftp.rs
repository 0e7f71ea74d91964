//! The SFTP server driven by the OpenSSH `sftp` client (and curl).

use std::process::Command;

use crate::util::{SSH_OPTS, SftpEnv, bytes, eventually, sha256_hex};

#[test]
fn put_get_ls_rename_rm_with_openssh_sftp() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    let data = bytes(1, 3_000_000);
    std::fs::write(s.env.path().join("big.bin"), &data).unwrap();
    std::fs::write(s.env.path().join("small.txt"), "hello\n").unwrap();

    let out = s.sftp_ok(
        "alice",
        "put big.bin /inbox/big.bin\nput small.txt inbox/small.txt\nls -l /inbox\n",
    );
    assert!(
        out.contains(" 3000000 ") && out.contains("big.bin"),
        "{out}"
    );
    eventually("delivery to bob", || {
        s.env.names("bob", "/outbox") == ["big.bin", "small.txt"]
    });

    let out = s.sftp_ok(
        "bob",
        "get /outbox/big.bin got.bin\nrename /outbox/small.txt /outbox/renamed.txt\nrm /outbox/renamed.txt\nls /outbox\n",
    );
    assert!(out.contains("/outbox/big.bin"), "{out}");
    let got = std::fs::read(s.env.path().join("got.bin")).unwrap();
    assert_eq!(sha256_hex(&got), sha256_hex(&data));
    assert_eq!(s.env.names("bob", "/outbox"), ["big.bin"]);
    // Removed from bob's view only: the content and history stay.
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'hidden'"),
        1
    );
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'renamed'"),
        1
    );
    s.env.ferry().args(["journal", "verify"]).ok();
}

#[test]
fn the_view_refuses_everything_outside_it() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    std::fs::write(s.env.path().join("f.txt"), "x").unwrap();
    let out = s.sftp(
        "alice",
        "-put f.txt /etc/passwd\n-put f.txt /inbox/../x\n-put f.txt /outbox/x\n-mkdir /outbox/sub\n\
         -get /inbox/../../etc/passwd p\n-symlink /inbox/a /inbox/b\ncd /inbox/../..\npwd\nls\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // `cd ..` past the root stays at the root of the view.
    assert!(stdout.contains("Remote working directory: /\n"), "{stdout}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(!s.env.path().join("p").exists());
    assert!(s.env.names("alice", "/inbox").is_empty());
    assert!(s.env.names("alice", "/outbox").is_empty());
}

/// A full download is exactly one `downloaded` event (and the sender's
/// acknowledgement hangs on it); a partial one is journaled as partial.
#[test]
fn full_and_partial_downloads_are_journaled() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    s.env.put("alice", "report.csv", &bytes(2, 100_000)).ok();
    eventually("delivery", || {
        s.env.names("bob", "/outbox") == ["report.csv"]
    });

    s.sftp_ok("bob", "get /outbox/report.csv full.csv\n");
    eventually("the downloaded event", || {
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'")
            == 1
    });

    // curl reads a range: a partial download.
    let out = Command::new("curl")
        .args(["-sS", "--insecure", "--range", "0-999", "-o"])
        .arg(s.env.path().join("part.csv"))
        .arg("--key")
        .arg(&s.key)
        .arg("--pubkey")
        .arg(s.key.with_extension("pub"))
        .arg(format!("sftp://bob@127.0.0.1:{}/outbox/report.csv", s.port))
        .output()
        .expect("curl is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(s.env.path().join("part.csv")).unwrap().len(),
        1000
    );
    eventually("the partial download event", || {
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'download-partial'")
            == 1
    });
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'"),
        1
    );
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM messages WHERE partner = 'bob' AND state = 'downloaded'"),
        1
    );
}

/// A client killed mid-upload leaves nothing visible; the journal records
/// the failed upload; `reput` resumes it where it stopped, and the stored
/// file is whole.
#[test]
fn a_killed_upload_is_invisible_and_resumes_with_reput() {
    killed_upload_resumes(&SftpEnv::new());
}

/// The same with the journal in PostgreSQL.
#[test]
fn a_killed_upload_resumes_with_reput_on_postgres() {
    let s = SftpEnv::new();
    crate::postgres::move_to_postgres(&s.env);
    killed_upload_resumes(&s);
}

fn killed_upload_resumes(s: &SftpEnv) {
    let _server = s.env.serve();
    let data = bytes(3, 64 << 20);
    std::fs::write(s.env.path().join("huge.bin"), &data).unwrap();
    // Slow enough that the kill lands mid-transfer.
    let mut client = s.sftp_running("alice", "put huge.bin /inbox/huge.bin\n", &["-l", "40000"]);
    let staging = s.env.tenant_root("acme").join("staging");
    let staged = || -> u64 {
        std::fs::read_dir(&staging)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    eventually("bytes arriving in staging", || staged() > 1 << 20);
    client.kill().unwrap();
    client.wait().unwrap();
    eventually("the failed upload in the journal", || {
        s.env
            .count("SELECT COUNT(*) FROM messages WHERE state = 'failed'")
            == 1
    });
    // The failure is journaled first, the part kept for resumption next.
    eventually("the part kept for a resume", || {
        s.env.count("SELECT COUNT(*) FROM suspended") == 1
    });
    assert!(s.env.names("alice", "/inbox").is_empty());
    assert!(s.env.names("bob", "/outbox").is_empty());
    let kept = staged();
    assert!(kept > 0 && kept < data.len() as u64, "{kept} bytes kept");

    s.sftp_ok("alice", "reput huge.bin /inbox/huge.bin\n");
    let inbox = s.env.ls("alice", "/inbox");
    assert_eq!(
        inbox,
        vec![("huge.bin".to_owned(), data.len() as u64, sha256_hex(&data))]
    );
    // The kept part is gone with the resumed upload's commit. (Awaited: the
    // pipeline, writing alice's receipt meanwhile, stages it for a moment;
    // seen once as 152 bytes left.)
    let left = || -> Vec<_> {
        std::fs::read_dir(&staging)
            .unwrap()
            .flatten()
            .map(|e| (e.file_name(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect()
    };
    eventually("nothing left in staging", || left().is_empty());
    s.env.ferry().args(["journal", "verify"]).ok();
}

/// Password logins through SSH_ASKPASS; repeated failures ban the address
/// from the tenant's logins (never the login itself), and all of it is
/// journaled.
#[test]
fn password_login_and_ban() {
    let s = SftpEnv::with(|config| {
        config.replace(
            "[server]",
            "[limits]\nlogin_failures = 3\nban_seconds = 60\n\n[server]",
        )
    });
    let _server = s.env.serve();
    let password_only = [
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password",
    ];
    let login = |password: &str| s.login("alice", password, &password_only);
    assert!(login("alice-pass").status.success());
    for _ in 0..3 {
        assert!(!login("wrong").status.success());
    }
    // Banned now, even with the right password.
    assert!(!login("alice-pass").status.success());
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'login-failed'"),
        3
    );
    // The address is banned, journaled once; the login is not.
    assert_eq!(
        s.env.count(
            "SELECT COUNT(*) FROM events WHERE kind = 'banned' AND detail LIKE '%\"address\":\"127.0.0.1\"%'"
        ),
        1
    );
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'banned'"),
        1
    );
}

/// Partners that signal completion with a temporary name or a sidecar: the
/// file stays invisible to everyone else until the signal comes.
#[test]
fn completion_by_rename_and_by_sidecar() {
    let s = SftpEnv::with(|config| {
        config
            .replace(
                "[tenants.acme.partners.alice]\n",
                "[tenants.acme.partners.alice]\ncompletion = \"rename\"\n",
            )
            .replace(
                "[tenants.acme.partners.bob]\n",
                "[tenants.acme.partners.bob]\ncompletion = \"sidecar\"\n",
            )
    });
    let _server = s.env.serve();
    let dir = s.env.path();

    // Rename: `*.part` waits for its final name.
    std::fs::write(dir.join("orders.csv"), "id,qty\n1,2\n").unwrap();
    let out = s.sftp_ok(
        "alice",
        "put orders.csv /inbox/orders.csv.part\nls -l /inbox/orders.csv.part\n",
    );
    assert!(out.contains("orders.csv.part"), "{out}");
    assert!(s.env.names("alice", "/inbox").is_empty());
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM messages WHERE state = 'pending'"),
        1
    );
    s.sftp_ok("alice", "rename /inbox/orders.csv.part /inbox/orders.csv\n");
    eventually("delivery after the rename", || {
        s.env.names("bob", "/outbox") == ["orders.csv"]
    });

    // Sidecar: the file waits for a `.sha256` that matches it.
    let data = bytes(4, 50_000);
    std::fs::write(dir.join("data.bin"), &data).unwrap();
    std::fs::write(
        dir.join("good.sha256"),
        format!("{}  data.bin\n", sha256_hex(&data)),
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.sha256"),
        format!("{}  data.bin\n", sha256_hex(b"other")),
    )
    .unwrap();
    s.sftp_ok("bob", "put data.bin /inbox/data.bin\n");
    let alice_sees = || s.env.names("alice", "/outbox");
    // The receipt is the acknowledgement step after the delivery.
    eventually("alice's receipt", || {
        alice_sees() == ["orders.csv.received"]
    });
    let out = s.sftp("bob", "put bad.sha256 /inbox/data.bin.sha256\n");
    assert!(!out.status.success(), "a wrong sidecar was accepted");
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM messages WHERE state = 'failed'"),
        2
    );
    assert!(s.env.names("bob", "/inbox").is_empty());

    s.sftp_ok(
        "bob",
        "put data.bin /inbox/data.bin\nput good.sha256 /inbox/data.bin.sha256\n",
    );
    eventually("delivery after the sidecar", || {
        alice_sees() == ["data.bin", "data.bin.sha256", "orders.csv.received"]
    });
    s.env.ferry().args(["journal", "verify"]).ok();
}

fn python(script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(format!(
            "{}/tests/data/sftp/{script}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .args(args)
        .output()
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Raw SFTP over paramiko: an unknown request type, a malformed one, an
/// oversized one and a foreign handle each get their status code, and the
/// same session then answers a normal request.
#[test]
fn bad_requests_get_status_codes_and_the_session_lives_on() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    let port = s.port.to_string();
    let r = python(
        "raw.py",
        &["127.0.0.1", &port, "alice", s.key.to_str().unwrap()],
    );
    assert_eq!(r["init"]["version"], 3);
    // SSH_FX_OP_UNSUPPORTED, SSH_FX_BAD_MESSAGE, SSH_FX_FAILURE
    assert_eq!(
        (r["unknown"]["id"].as_u64(), r["unknown"]["code"].as_u64()),
        (Some(7), Some(8)),
        "{r}"
    );
    assert_eq!(
        (
            r["malformed"]["id"].as_u64(),
            r["malformed"]["code"].as_u64()
        ),
        (Some(8), Some(5)),
        "{r}"
    );
    assert_eq!(
        (
            r["oversized"]["id"].as_u64(),
            r["oversized"]["code"].as_u64()
        ),
        (Some(9), Some(5)),
        "{r}"
    );
    assert_eq!(
        (
            r["bad_handle"]["id"].as_u64(),
            r["bad_handle"]["code"].as_u64()
        ),
        (Some(10), Some(4)),
        "{r}"
    );
    // Writes are decoded field by field (their data straight into the
    // upload's buffer): each malformed one is consumed whole and answered.
    for (what, id, code) in [
        ("write_data_past_end", 12, 5),
        ("write_handle_past_end", 13, 5),
        ("write_too_short", 14, 5),
        ("write_bad_handle", 15, 4),
    ] {
        assert_eq!(
            (r[what]["id"].as_u64(), r[what]["code"].as_u64()),
            (Some(id), Some(code)),
            "{what}: {r}"
        );
    }
    assert_eq!(r["realpath"]["first"], "/");
}

#[test]
fn paramiko_scp_and_rclone_work() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    let data = bytes(5, 300_000);
    let local = s.env.path().join("local.bin");
    std::fs::write(&local, &data).unwrap();
    let port = s.port.to_string();

    let r = python(
        "client.py",
        &[
            "127.0.0.1",
            &port,
            "alice",
            s.key.to_str().unwrap(),
            local.to_str().unwrap(),
        ],
    );
    assert_eq!(r["size"], 300_000);
    assert_eq!(r["sha256"], sha256_hex(&data));
    assert_eq!(r["names"], serde_json::json!(["paramiko.bin"]));

    // OpenSSH's scp speaks SFTP by default.
    let out = Command::new("scp")
        .args(["-P", &port, "-i"])
        .arg(&s.key)
        .args(SSH_OPTS)
        .arg(&local)
        .arg("alice@127.0.0.1:/inbox/scp.bin")
        .output()
        .expect("scp is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("scp")
        .args(["-P", &port, "-i"])
        .arg(&s.key)
        .args(SSH_OPTS)
        .arg("alice@127.0.0.1:/inbox/scp.bin")
        .arg(s.env.path().join("back.bin"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(s.env.path().join("back.bin")).unwrap(), data);

    // rclone copies a folder in, then checks it against the source.
    let folder = s.env.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..5 {
        std::fs::write(folder.join(format!("r{i}.txt")), format!("file {i}\n")).unwrap();
    }
    let remote = format!(
        ":sftp,host=127.0.0.1,port={port},user=alice,key_file={}:inbox",
        s.key.display()
    );
    // `check --download --one-way`: every local file is there, byte for byte.
    for verb in [&["copy"][..], &["check", "--download", "--one-way"][..]] {
        let out = Command::new("rclone")
            .args(verb)
            .arg(&folder)
            .arg(&remote)
            .args(["--config", "/dev/null", "--sftp-set-modtime=false"])
            .output()
            .expect("rclone is needed");
        assert!(
            out.status.success(),
            "rclone {verb:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let names = s.env.names("alice", "/inbox");
    assert!(
        names.contains(&"r4.txt".to_owned()) && names.len() == 7,
        "{names:?}"
    );
}

/// An account that needs its key and then its password: either alone fails.
#[test]
fn key_then_password() {
    let s = SftpEnv::with(|config| {
        config.replace(
            "login = \"alice\"\n",
            "login = \"alice\"\nrequire = \"key-and-password\"\n",
        )
    });
    let _server = s.env.serve();
    let login = |methods: &str| {
        let methods = format!("PreferredAuthentications={methods}");
        s.login("alice", "alice-pass", &["-o", &methods])
    };
    assert!(
        !login("publickey").status.success(),
        "the key alone was enough"
    );
    assert!(
        !login("password").status.success(),
        "the password alone was enough"
    );
    let both = login("publickey,password");
    assert!(
        both.status.success(),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
}

/// An upload past `limits.max_file_size` fails with SSH_FX_FAILURE and the
/// reason (SFTP v3 has no quota status), leaves nothing visible, and the
/// session goes on; a small file in the same session is stored.
#[test]
fn an_upload_past_the_size_limit_fails_cleanly() {
    let s = SftpEnv::with(|config| {
        config.replace(
            "[server]\ndata_dir = \"data\"\n",
            "[server]\ndata_dir = \"data\"\n\n[limits]\nmax_file_size = \"100KiB\"\n",
        )
    });
    let _server = s.env.serve();
    std::fs::write(s.env.path().join("big.bin"), bytes(1, 200 << 10)).unwrap();
    std::fs::write(s.env.path().join("small.txt"), b"small\n").unwrap();
    let out = s.sftp(
        "alice",
        "-put big.bin /inbox/big.bin\nput small.txt /inbox/small.txt\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // OpenSSH's client prints the status, not the server's message; the
    // journal keeps the reason.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("write remote \"/inbox/big.bin\": Failure"),
        "{stderr}"
    );
    assert_eq!(s.env.names("alice", "/inbox"), ["small.txt"]);
    assert_eq!(
        s.env.count(
            "SELECT COUNT(*) FROM messages WHERE name = 'big.bin' AND state = 'failed'
             AND reason LIKE '%larger than the limit of 102400 bytes%'"
        ),
        1
    );
}

/// Host key files replaced in `DATA_DIR/host_keys/` are served from the
/// next connection on, without a restart; logins go on working.
#[test]
fn host_keys_rotate_without_a_restart() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    let scan = || {
        let out = Command::new("ssh-keyscan")
            .args([
                "-T",
                "20",
                "-t",
                "ed25519",
                "-p",
                &s.port.to_string(),
                "127.0.0.1",
            ])
            .output()
            .expect("ssh-keyscan (openssh-client) is needed");
        let text = String::from_utf8(out.stdout).unwrap();
        // `127.0.0.1 ssh-ed25519 AAAA...` (or `[127.0.0.1]:PORT ...`)
        let key = text
            .split_whitespace()
            .skip(1)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(key.starts_with("ssh-ed25519 "), "ssh-keyscan said: {text}");
        key
    };
    let before = scan();
    let replacement = s.env.path().join("new_host_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(&replacement)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::rename(
        &replacement,
        s.env.data().join("host_keys/ssh_host_ed25519_key"),
    )
    .unwrap();
    let after = scan();
    let public = std::fs::read_to_string(replacement.with_extension("pub")).unwrap();
    assert_ne!(before, after, "the new key is served");
    assert!(public.starts_with(&after), "{public} vs {after}");
    s.sftp_ok("alice", "ls /\n");
}

/// `df` shows a partner its quota and what it keeps (the tighter of its
/// own and its tenant's), never the host's disk; without a quota, zeros.
#[test]
fn df_shows_the_partners_quota_not_the_hosts_disk() {
    let s = SftpEnv::with(|config| {
        config.replace(
            "[tenants.acme.partners.alice]\n",
            "[tenants.acme.partners.alice]\nquota = \"1GiB\"\n",
        )
    });
    let _server = s.env.serve();
    std::fs::write(s.env.path().join("one.bin"), bytes(7, 1 << 20)).unwrap();
    // `df` in KiB: size, used, available, available to root, capacity.
    let df = |user: &str, commands: &str| -> Vec<u64> {
        let out = s.sftp_ok(user, &format!("{commands}df\n"));
        let line = out
            .lines()
            .skip_while(|l| !l.contains("Size"))
            .nth(1)
            .unwrap_or_else(|| panic!("no df figures in {out}"));
        line.split_whitespace()
            .take(4)
            .map(|n| n.parse().unwrap_or_else(|_| panic!("{line}")))
            .collect()
    };
    assert_eq!(df("alice", ""), [1 << 20, 0, 1 << 20, 1 << 20]);
    assert_eq!(
        df("alice", "put one.bin /inbox/one.bin\n"),
        [
            1 << 20,
            1 << 10,
            (1 << 20) - (1 << 10),
            (1 << 20) - (1 << 10)
        ]
    );
    assert_eq!(df("bob", ""), [0, 0, 0, 0], "bob has no quota");
}
