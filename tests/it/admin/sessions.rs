//! Live sessions through the admin API: listed, limited, kicked (even in
//! the middle of an upload), and logins refused by `allow_from` or slowed
//! under attack.

use super::*;

/// Live sessions: listed for their tenant only, held to `max_sessions`,
/// and closed by a kick; another tenant's token can neither see nor kick them.
#[test]
fn sessions_are_listed_limited_and_kicked() {
    use std::io::BufRead;
    let admin = Admin::start();
    let (mut first, reply) = ftp_login(admin.ftp_port, "alice@acme");
    assert!(reply.starts_with("230"), "{reply}");
    let (status, list) = admin.json(ACME, "GET", "/api/v1/tenants/acme/sessions", None);
    assert_eq!(status, 200);
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{list}");
    assert_eq!(
        (&sessions[0]["login"], &sessions[0]["protocol"]),
        (&"alice".into(), &"ftp".into())
    );
    let id = sessions[0]["id"].as_u64().unwrap();

    // alice's limit is one session; globex's alice is another partner.
    let (_second, reply) = ftp_login(admin.ftp_port, "alice@acme");
    assert!(reply.starts_with("421"), "{reply}");
    let (_globex, reply) = ftp_login(admin.ftp_port, "alice@globex");
    assert!(reply.starts_with("230"), "{reply}");

    let (_, theirs) = admin.json(GLOBEX, "GET", "/api/v1/tenants/globex/sessions", None);
    assert_eq!(theirs["sessions"].as_array().unwrap().len(), 1, "{theirs}");
    assert_ne!(theirs["sessions"][0]["id"].as_u64(), Some(id));
    let (status, _) = admin.json(GLOBEX, "GET", "/api/v1/tenants/acme/sessions", None);
    assert_eq!(status, 404, "globex cannot list acme's sessions");
    let (status, _) = admin.json(
        GLOBEX,
        "DELETE",
        &format!("/api/v1/tenants/acme/sessions/{id}"),
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = admin.json(
        GLOBEX,
        "DELETE",
        &format!("/api/v1/tenants/globex/sessions/{id}"),
        None,
    );
    assert_eq!(status, 404, "acme's session is not in globex");

    let (status, reply) = admin.json(
        ACME,
        "DELETE",
        &format!("/api/v1/tenants/acme/sessions/{id}"),
        None,
    );
    assert_eq!(status, 200, "{reply}");
    let mut line = String::new();
    first.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("421"),
        "the kicked session is told: {line}"
    );
    eventually("the kicked session gone", || {
        let (_, list) = admin.json(ACME, "GET", "/api/v1/tenants/acme/sessions", None);
        list["sessions"].as_array().unwrap().is_empty()
    });
    let (_again, reply) = ftp_login(admin.ftp_port, "alice@acme");
    assert!(reply.starts_with("230"), "a session is free again: {reply}");
}

/// A partner with `allow_from` cannot log in from elsewhere, even with the
/// right password; the failure is journaled in its tenant.
#[test]
fn allow_from_refuses_logins_from_other_addresses() {
    let admin = Admin::start();
    let (_session, reply) = ftp_login(admin.ftp_port, "carol@acme");
    assert!(
        reply.starts_with("530"),
        "carol may only come from 192.0.2.0/24: {reply}"
    );
    let (_session, reply) = ftp_login(admin.ftp_port, "alice@acme");
    assert!(reply.starts_with("230"), "{reply}");
    assert_eq!(
        admin.env.count(
            "SELECT COUNT(*) FROM events WHERE tenant = 'acme' AND kind = 'login-failed' AND detail LIKE '%carol%'"
        ),
        1
    );
}

/// An SFTP session (paramiko, password login) counts against the limit and
/// is disconnected by a kick; the client's next request fails.
#[test]
fn an_sftp_session_is_limited_and_kicked() {
    use std::io::{BufRead, Write};
    let admin = Admin::start();
    let mut held = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/sftp/hold.py"
        ))
        .args([
            "127.0.0.1",
            &admin.sftp_port.to_string(),
            "alice@acme",
            "alice-pass",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with paramiko is needed");
    let mut out = std::io::BufReader::new(held.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");

    let (_, list) = admin.json(ACME, "GET", "/api/v1/tenants/acme/sessions", None);
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{list}");
    assert_eq!(sessions[0]["protocol"], "sftp");
    // A second session of alice is over her limit of one.
    let (_second, reply) = ftp_login(admin.ftp_port, "alice@acme");
    assert!(reply.starts_with("421"), "{reply}");

    let id = sessions[0]["id"].as_u64().unwrap();
    let (status, _) = admin.json(
        ACME,
        "DELETE",
        &format!("/api/v1/tenants/acme/sessions/{id}"),
        None,
    );
    assert_eq!(status, 200);
    eventually("the kicked session gone", || {
        let (_, list) = admin.json(ACME, "GET", "/api/v1/tenants/acme/sessions", None);
        list["sessions"].as_array().unwrap().is_empty()
    });
    held.stdin.take().unwrap().write_all(b"go\n").unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    let after: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(after["after"], "failed", "{after}");
    let _ = held.wait();
}

/// A login guessed from several addresses is slowed down, never locked:
/// a guesser who spreads five wrong passwords over two addresses does not
/// keep alice out (her right password works from a third address), and
/// those addresses are not banned either (five per address, per tenant).
#[test]
fn a_login_guessed_from_several_addresses_is_slowed_not_locked() {
    let admin = Admin::start();
    let script = r#"
import ftplib, sys, time
port = int(sys.argv[1])
def login(source, user, password):
    ftp = ftplib.FTP(source_address=(source, 0), timeout=20)
    ftp.connect("127.0.0.1", port)
    try:
        ftp.login(user, password)
        return "230"
    except ftplib.error_perm as e:
        return str(e)[:3]
    finally:
        ftp.close()
wrong = [login(s, "alice@acme", "wrong") for s in ["127.0.0.2"] * 3 + ["127.0.0.3"] * 2]
print(",".join(wrong))
start = time.monotonic()
print(login("127.0.0.4", "alice@acme", "alice-pass"))
print(time.monotonic() - start)
print(login("127.0.0.3", "alice@globex", "alice-pass"))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &admin.ftp_port.to_string()])
        .output()
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines[0], "530,530,530,530,530", "{lines:?}");
    assert_eq!(
        lines[1], "230",
        "alice@acme logs in with her password from elsewhere: {lines:?}"
    );
    let took: f64 = lines[2].parse().unwrap();
    assert!(
        took >= 0.9,
        "a login under attack waits before its answer: {lines:?}"
    );
    assert_eq!(
        lines[3], "230",
        "the addresses are not banned, other logins work: {lines:?}"
    );
    assert_eq!(
        admin
            .env
            .count("SELECT COUNT(*) FROM events WHERE tenant = 'acme' AND kind = 'login-failed'"),
        5
    );
    assert_eq!(
        admin
            .env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'banned'"),
        0
    );
}

/// The sessions list shows an FTP upload in progress with its bytes so
/// far; a kick reaches the session in the middle of it: the data
/// connection is cut at once (not at the end of the file), and what
/// arrived is kept for a resume, not made visible.
#[test]
fn a_kick_cuts_an_ftp_upload_in_progress() {
    let admin = Admin::start();
    std::fs::write(admin.env.path().join("big.bin"), vec![7u8; 8 << 20]).unwrap();
    // curl paces itself to 256 KiB/s: half a minute for the file.
    let upload = Command::new("curl")
        .args([
            "-sS",
            "-v",
            "--max-time",
            "60",
            "--limit-rate",
            "256K",
            "-T",
            "big.bin",
        ])
        .arg(format!(
            "ftp://alice%40acme:alice-pass@127.0.0.1:{}/inbox/big.bin",
            admin.ftp_port
        ))
        .current_dir(admin.env.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut id = None;
    eventually("the upload's session", || {
        let (_, list) = admin.json(ACME, "GET", "/api/v1/tenants/acme/sessions", None);
        id = list["sessions"][0]["id"].as_u64();
        id.is_some()
    });
    // Until bytes are flowing: the staged upload grows.
    eventually("the upload under way", || {
        std::fs::read_dir(admin.env.tenant_root("acme").join("staging"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.metadata().is_ok_and(|m| m.len() > 0))
    });
    // The session says what it is moving, and its bytes so far grow.
    let moved = || {
        let (_, list) = admin.json(ACME, "GET", "/api/v1/tenants/acme/sessions", None);
        let transfer = &list["sessions"][0]["transfers"][0];
        assert_eq!(transfer["direction"], "upload", "{list}");
        assert_eq!(transfer["name"], "big.bin", "{list}");
        transfer["bytes"].as_u64().unwrap()
    };
    let mut before = 0;
    eventually("bytes so far", || {
        before = moved();
        before > 0
    });
    assert!(before < 8 << 20, "{before}");
    eventually("more bytes so far", || moved() > before);
    let kicked = std::time::Instant::now();
    let (status, _) = admin.json(
        ACME,
        "DELETE",
        &format!("/api/v1/tenants/acme/sessions/{}", id.unwrap()),
        None,
    );
    assert_eq!(status, 200);
    let out = upload.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        kicked.elapsed() < std::time::Duration::from_secs(10),
        "the upload ran on for {:?} after the kick",
        kicked.elapsed()
    );
    // ferry answers 421 on the control connection; curl, still sending,
    // stops at the cut data connection and does not read it.
    assert!(stderr.contains("150 ready to receive"), "{stderr}");
    assert!(admin.env.names("alice", "/inbox").is_empty());
    eventually("the part kept for a resume", || {
        admin
            .env
            .count("SELECT COUNT(*) FROM suspended WHERE name = 'big.bin'")
            == 1
    });
}

/// A server stopped with SIGTERM tells its sessions (FTP `421`) before it
/// goes, and exits cleanly.
#[test]
fn a_stopping_server_closes_its_sessions_politely() {
    use std::io::BufRead;
    let mut admin = Admin::start();
    let (mut session, reply) = ftp_login(admin.ftp_port, "alice@acme");
    assert!(reply.starts_with("230"), "{reply}");
    let server = admin._server.take().expect("the server");
    server.signal("TERM");
    let mut line = String::new();
    session.read_line(&mut line).unwrap();
    assert!(line.starts_with("421"), "{line:?}");
    server.stop_waiting();
}
