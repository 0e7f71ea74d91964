//! The FTP and FTPS server driven by real clients: curl, lftp, Python's
//! ftplib and rclone.

use std::process::{Command, Output};

use crate::util::{FtpEnv, SftpEnv, bytes, eventually, free_port, sha256_hex};

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl over plain FTP, explicit FTPS (`--ssl-reqd`) and implicit FTPS
/// (`ftps://`): a file alice puts reaches bob, whose account refuses clear
/// text; each full download is journaled once.
#[test]
fn curl_plain_explicit_and_implicit() {
    let f = FtpEnv::new();
    let _server = f.env.serve();
    let data = bytes(7, 300_000);
    std::fs::write(f.env.path().join("a.bin"), &data).unwrap();

    ok(
        &f.curl(&["-T", "a.bin", &f.url("alice", "/inbox/a.bin")]),
        "curl upload",
    );
    let listing = ok(&f.curl(&[&f.url("alice", "/inbox/")]), "curl list");
    assert!(
        listing.contains("300000") && listing.contains("a.bin"),
        "{listing}"
    );
    eventually("delivery to bob", || {
        f.env.names("bob", "/outbox") == ["a.bin"]
    });

    // bob logs in over TLS only: in clear text his login is refused (530,
    // the answer a wrong password gets).
    let refused = f.curl(&[&f.url("bob", "/outbox/a.bin")]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("530"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    ok(
        &f.curl(&[
            "--ssl-reqd",
            "-o",
            "explicit.bin",
            &f.url("bob", "/outbox/a.bin"),
        ]),
        "curl explicit FTPS",
    );
    ok(
        &f.curl(&["-o", "implicit.bin", &f.ftps_url("bob", "/outbox/a.bin")]),
        "curl implicit FTPS",
    );
    for file in ["explicit.bin", "implicit.bin"] {
        assert_eq!(
            std::fs::read(f.env.path().join(file)).unwrap(),
            data,
            "{file}"
        );
    }
    assert_eq!(
        f.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'"),
        2
    );
    eventually("alice's receipt", || {
        f.env.names("alice", "/outbox") == ["a.bin.received"]
    });
    f.env.ferry().args(["journal", "verify"]).ok();
}

/// lftp: `mirror -R` up, `mirror` down over TLS, a download resumed with
/// `get -c` and an upload resumed with `put -c` after a cut connection.
#[test]
fn lftp_mirror_both_ways_with_resume() {
    let f = FtpEnv::new();
    let _server = f.env.serve();
    let up = f.env.path().join("up");
    std::fs::create_dir(&up).unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                format!("f{i}.bin"),
                bytes(i, 100_000 + i as usize * 1_000_000),
            )
        })
        .collect();
    for (name, data) in &files {
        std::fs::write(up.join(name), data).unwrap();
    }
    ok(&f.lftp("alice", "mirror -R up /inbox"), "lftp mirror -R");
    assert_eq!(
        f.env.names("alice", "/inbox"),
        ["f0.bin", "f1.bin", "f2.bin"]
    );
    eventually("delivery to bob", || {
        f.env.names("bob", "/outbox").len() == 3
    });

    ok(
        &f.lftp(
            "bob",
            "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; mirror /outbox down",
        ),
        "lftp mirror over TLS",
    );
    let down = f.env.path().join("down");
    for (name, data) in &files {
        assert_eq!(&std::fs::read(down.join(name)).unwrap(), data, "{name}");
    }

    // A download cut in half resumes where it stopped (REST + RETR).
    let (name, data) = &files[2];
    std::fs::write(down.join(name), &data[..data.len() / 2]).unwrap();
    ok(
        &f.lftp(
            "bob",
            &format!("set ftp:ssl-force yes; get -c /outbox/{name} -o down/{name}"),
        ),
        "lftp get -c",
    );
    assert_eq!(&std::fs::read(down.join(name)).unwrap(), data);
    assert_eq!(
        f.env.count(
            "SELECT COUNT(*) FROM events WHERE kind = 'download-partial'
             AND json_extract(detail, '$.bytes') = 1050000"
        ),
        1,
        "the resumed download is journaled as partial"
    );

    // An upload whose client vanished is kept invisible; `put -c` finishes it.
    let big = bytes(9, 2_000_000);
    std::fs::write(f.env.path().join("big.bin"), &big).unwrap();
    let cut = Command::new("python3")
        .arg("-c")
        .arg(CUT_UPLOAD)
        .args([&f.port.to_string(), "big.bin", "800000"])
        .current_dir(f.env.path())
        .output()
        .unwrap();
    ok(&cut, "a cut upload");
    assert!(
        !f.env
            .names("alice", "/inbox")
            .contains(&"big.bin".to_owned())
    );
    eventually("the cut upload kept for resumption", || {
        f.env
            .count("SELECT COUNT(*) FROM suspended WHERE name = 'big.bin'")
            == 1
    });
    ok(
        &f.lftp("alice", "put -c big.bin -o /inbox/big.bin"),
        "lftp put -c",
    );
    let stored = f.env.ls("alice", "/inbox");
    assert!(
        stored.contains(&("big.bin".to_owned(), 2_000_000, sha256_hex(&big))),
        "{stored:?}"
    );
    f.env.ferry().args(["journal", "verify"]).ok();
}

/// Starts an upload of FILE, sends its first N bytes, then disappears:
/// control connection first, then the data connection.
const CUT_UPLOAD: &str = r#"
import ftplib, sys
port, name, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=20)
ftp.login("alice", "alice-pass")
conn = ftp.transfercmd("STOR /inbox/" + name)
conn.sendall(open(name, "rb").read()[:n])
ftp.close()
conn.close()
"#;

/// Python ftplib, plain and TLS: every verb of seed 001 and the
/// extensions, the bad inputs with their codes, ABOR, a cut upload resumed
/// with REST, HASH against the real SHA-256, active mode to the client's
/// own address and never to another one.
#[test]
fn python_ftplib_plain_and_tls() {
    python_ftplib(&FtpEnv::new());
}

/// The same session with the journal in PostgreSQL: the cut upload is kept
/// and resumed through its tables.
#[test]
fn python_ftplib_on_postgres() {
    let f = FtpEnv::new();
    crate::postgres::move_to_postgres(&f.env);
    python_ftplib(&f);
}

fn python_ftplib(f: &FtpEnv) {
    let _server = f.env.serve();
    let out = Command::new("python3")
        .arg(format!(
            "{}/tests/data/ftp/client.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(f.port.to_string())
        .output()
        .expect("python3 is needed");
    let r: serde_json::Value = serde_json::from_str(&ok(&out, "client.py")).unwrap();
    let sha = r["expected_sha256"].as_str().unwrap();
    assert!(
        r["stor"]
            .as_str()
            .unwrap()
            .starts_with("226 stored data.bin"),
        "{r}"
    );
    assert!(r["stor"].as_str().unwrap().contains(sha), "{r}");
    assert_eq!(r["nlst"], serde_json::json!(["data.bin"]));
    assert_eq!(r["mlsd"]["data.bin"], "1048576");
    assert_eq!(r["size"], 1_048_576);
    assert_eq!(r["hash"], format!("213 SHA-256 0-1048575 {sha} data.bin"));
    assert_eq!(r["xsha256"], format!("213 {sha}"));
    assert_eq!(r["retr_ok"], true);
    assert!(r["mdtm"].as_str().unwrap().starts_with("213 20"), "{r}");
    assert_eq!(r["after_rename"], serde_json::json!(["renamed.bin"]));
    assert_eq!(r["after_delete"], serde_json::json!([]));
    let bad = &r["bad"];
    for (command, code) in [
        ("FOO bar", "500"),
        ("RNTO x", "503"),
        ("CWD /etc", "550"),
        ("RETR ../../etc/passwd", "553"),
        ("DELE /outbox/none", "550"),
        ("MKD /outbox/sub", "550"),
        ("PORT 10,0,0,1,200,10", "504"),
        ("PORT 127,0,0,1,0,22", "504"),
        ("long line", "500"),
        ("noop after", "200"),
    ] {
        assert_eq!(bad[command], code, "{command}: {r}");
    }
    assert_eq!(r["active_stored"], true);
    // The intruder's connection from 127.0.0.2 was closed unread.
    assert_eq!(r["intruder_read"], "");
    assert_eq!(
        (&r["foreign_150"], &r["foreign_226"]),
        (&"150".into(), &"226".into())
    );
    assert_eq!(r["foreign_content"], "from the client\n");
    assert_eq!(
        (&r["abort"], &r["abort_done"]),
        (&"426".into(), &"226".into())
    );
    assert_eq!(r["after_abort"], serde_json::json!(["active.txt"]));
    assert_eq!(r["cut_visible"], false);
    // What arrived before the client vanished is kept, up to what it sent.
    let kept = r["kept"].as_u64().unwrap();
    assert!(kept > 0 && kept <= 400_000, "{r}");
    assert_eq!(r["resumed_hash"], sha);
    assert_eq!(r["tail_ok"], true);
    assert_eq!(r["bob_plain_user"], "331");
    assert_eq!(r["bob_plain_pass"], "530 login incorrect\r\n");
    assert_eq!(r["tls_retr_ok"], true);
    assert_eq!(r["tls_list"], serde_json::json!(["secret.bin"]));
    // Nothing of the aborted upload anywhere in the journal as stored.
    assert_eq!(
        f.env.count(
            "SELECT COUNT(*) FROM messages WHERE name = 'aborted.bin' AND state != 'failed'"
        ),
        0
    );
    f.env.ferry().args(["journal", "verify"]).ok();
}

/// rclone with an `:ftp:` remote: copy up (plain and explicit TLS) and check.
#[test]
fn rclone_copy_and_check() {
    let f = FtpEnv::new();
    let _server = f.env.serve();
    let dir = f.env.path().join("src");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..4 {
        std::fs::write(
            dir.join(format!("r{i}.dat")),
            bytes(i, 50_000 * (i as usize + 1)),
        )
        .unwrap();
    }
    let obscured = Command::new("rclone")
        .args(["obscure", "alice-pass"])
        .output()
        .expect("rclone is needed");
    let password = ok(&obscured, "rclone obscure").trim().to_owned();
    let port = f.port.to_string();
    let rclone = |user: &str, args: &[&str]| {
        Command::new("timeout")
            .arg("120")
            .arg("rclone")
            .args(args)
            .args(["--ftp-host", "127.0.0.1", "--ftp-port", &port])
            .args(["--ftp-user", user, "--ftp-pass", &password])
            .args(["--config", "/dev/null", "--retries", "1"])
            .current_dir(f.env.path())
            .output()
            .expect("rclone is needed")
    };
    ok(
        &rclone("alice", &["copy", "src", ":ftp:/inbox"]),
        "rclone copy",
    );
    ok(
        &rclone("alice", &["check", "src", ":ftp:/inbox"]),
        "rclone check",
    );
    ok(
        &rclone(
            "bob",
            &[
                "copy",
                "src",
                ":ftp:/inbox",
                "--ftp-explicit-tls",
                "--ftp-no-check-certificate",
            ],
        ),
        "rclone copy over TLS",
    );
    assert_eq!(f.env.names("bob", "/inbox").len(), 4);
    for i in 0..4u64 {
        let data = bytes(i, 50_000 * (i as usize + 1));
        let name = format!("r{i}.dat");
        assert!(f.env.ls("alice", "/inbox").contains(&(
            name,
            data.len() as u64,
            sha256_hex(&data)
        )));
    }
}

/// One account, one mailbox, over SFTP and FTP alike; and a partner that
/// completes uploads by renaming them from a temporary name does so over
/// FTP (RNFR/RNTO) as over SFTP.
#[test]
fn one_mailbox_over_sftp_and_ftp_with_completion_by_rename() {
    let ftp_port = free_port();
    let s = SftpEnv::with(|config| {
        config.replace(
            "[tenants.acme.partners.alice]",
            &format!(
                "[[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\ntenant = \"acme\"\n\n\
                 [tenants.acme.partners.alice]\ncompletion = \"rename\""
            ),
        )
    });
    let _server = s.env.serve();
    let url = |path: &str| format!("ftp://alice:alice-pass@127.0.0.1:{ftp_port}{path}");
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "60"])
            .args(args)
            .current_dir(s.env.path())
            .output()
            .expect("curl is needed")
    };
    std::fs::write(s.env.path().join("a.csv"), "id,amount\n1,2\n").unwrap();

    // Under its temporary name the upload is stored but not visible.
    ok(
        &curl(&["-T", "a.csv", &url("/inbox/a.csv.part")]),
        "curl upload",
    );
    assert!(s.env.names("alice", "/inbox").is_empty());
    let listing = s.sftp_ok("alice", "ls -1 /inbox\n");
    assert!(!listing.contains("a.csv"), "{listing}");

    // The rename completes it: visible over SFTP, delivered to bob.
    ok(
        &curl(&[
            "-Q",
            "RNFR /inbox/a.csv.part",
            "-Q",
            "RNTO /inbox/a.csv",
            &url("/"),
        ]),
        "curl rename",
    );
    let listing = s.sftp_ok("alice", "ls -1 /inbox\n");
    assert!(listing.contains("a.csv"), "{listing}");
    eventually("delivery to bob", || {
        s.env.names("bob", "/outbox") == ["a.csv"]
    });

    // What arrives over SFTP is listed over FTP.
    std::fs::write(s.env.path().join("b.txt"), "over sftp\n").unwrap();
    s.sftp_ok("alice", "put b.txt /inbox/b.txt\n");
    let listing = ok(&curl(&["--list-only", &url("/inbox/")]), "curl NLST");
    assert_eq!(listing.lines().collect::<Vec<_>>(), ["a.csv", "b.txt"]);
}

/// A listener's certificate and key from PEM files: curl verifies the
/// chain and the address against that certificate, and only that one; new
/// files are served from the next handshake on.
#[test]
fn certificate_from_files() {
    let port = free_port();
    let config = crate::util::default_config().replace(
        "[tenants.acme.partners.alice]",
        &format!(
            "[[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{port}\"\ntenant = \"acme\"\n\
             tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n\n[tenants.acme.partners.alice]"
        ),
    );
    let env = crate::util::Env::with_config(&config);
    let made =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(env.path().join("cert.pem"), made.cert.pem()).unwrap();
    std::fs::write(env.path().join("key.pem"), made.signing_key.serialize_pem()).unwrap();
    let _server = env.serve();
    let url = format!("ftp://alice:alice-pass@127.0.0.1:{port}/");
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "--ssl-reqd"])
            .args(args)
            .arg(&url)
            .current_dir(env.path())
            .output()
            .expect("curl is needed")
    };
    let trusted = curl(&["--cacert", "cert.pem"]);
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    assert!(String::from_utf8_lossy(&trusted.stdout).contains("inbox"));
    // Without it, curl refuses the unknown certificate: the check was real.
    assert!(!curl(&[]).status.success());
    // No self-signed certificate was made: the configured one is in use.
    assert!(!env.data().join("tls").exists());

    // Rotation: new files in place (the key first, as a careless operator
    // might; the half-rotated pair is refused and the old one stays), then
    // the next handshake serves the new certificate, without a restart.
    std::fs::copy(env.path().join("cert.pem"), env.path().join("old.pem")).unwrap();
    let next =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(env.path().join("key.pem"), next.signing_key.serialize_pem()).unwrap();
    let half = curl(&["--cacert", "old.pem"]);
    assert!(
        half.status.success(),
        "a key without its certificate is not used"
    );
    std::fs::write(env.path().join("cert.pem"), next.cert.pem()).unwrap();
    let rotated = curl(&["--cacert", "cert.pem"]);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(
        !curl(&["--cacert", "old.pem"]).status.success(),
        "the old certificate is no longer served"
    );
}
