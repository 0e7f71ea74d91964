//! Connectors against real partner servers on loopback: OpenSSH `sshd`,
//! `vsftpd` and pyftpdlib, started by `peers.rs`. ferry pulls from them,
//! pushes to them, and moves files between two of them by FXP; partners
//! who are clients use ferry's own SFTP and FTP listeners.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::peers::{CutProxy, PyFtpd, Sshd, Vsftpd};
use crate::util::{Env, SECRET_HASH, Server, bytes, eventually, free_port, sftp_batch, sha256_hex};

/// A ferry with an SFTP and an FTP listener bound to `acme`, client
/// accounts `alice` and `bob` (password `alice-pass`, and a key), and the
/// connector partners in `partners`.
pub struct Hub {
    pub env: Env,
    pub sftp_port: u16,
    pub ftp_port: u16,
    pub key: PathBuf,
}

impl Hub {
    /// `partners` gets the hub's directory, where it may write secrets.
    pub fn new(partners: impl FnOnce(&Path) -> String) -> Hub {
        let env = Env::new();
        let partners = partners(env.path());
        let (key, public) = crate::util::client_key(env.path());
        let (sftp_port, ftp_port) = (free_port(), free_port());
        let account = |login: &str| {
            format!(
                "[[tenants.acme.partners.{login}.accounts]]\nlogin = \"{login}\"\n\
                 password_hash = \"{SECRET_HASH}\"\nssh_keys = [\"{}\"]\n",
                public.trim()
            )
        };
        let config = format!(
            "[server]\ndata_dir = \"data\"\n\n\
             [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp_port}\"\ntenant = \"acme\"\n\n\
             [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\ntenant = \"acme\"\n\n\
             {partners}\n{}\n{}",
            account("alice"),
            account("bob")
        );
        env.write_config(&config);
        Hub {
            env,
            sftp_port,
            ftp_port,
            key,
        }
    }

    fn sftp(&self, user: &str, commands: &str) -> String {
        let out = sftp_batch(
            self.sftp_port,
            &self.key,
            user,
            self.env.path(),
            commands,
            &[],
        );
        assert!(
            out.status.success(),
            "sftp failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn curl(&self, args: &[&str]) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "60"])
            .args(args)
            .current_dir(self.env.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn ftp_url(&self, user: &str, path: &str) -> String {
        format!("ftp://{user}:alice-pass@127.0.0.1:{}{path}", self.ftp_port)
    }
}

/// Writes `secret` to `dir/NAME.secret` and returns its path, for `password_file`.
fn secret(dir: &Path, name: &str, secret: &str) -> PathBuf {
    let path = dir.join(format!("{name}.secret"));
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    path
}

pub fn sftp_connector(sshd: &Sshd) -> String {
    format!(
        "protocol = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\nhost_key = \"{}\"\n",
        sshd.port,
        sshd.user,
        sshd.client_key.display(),
        sshd.host_key_fingerprint
    )
}

fn ftp_connector(port: u16, user: &str, password_file: &Path) -> String {
    format!(
        "protocol = \"ftp\"\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"{user}\"\npassword_file = \"{}\"\n",
        password_file.display()
    )
}

/// Files of `dir` (no subdirectories) with their SHA-256, sorted by name.
/// A file renamed or removed while the directory is read (a server at
/// work) is left out.
pub fn files(dir: &Path) -> Vec<(String, String)> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file())
        .filter_map(|e| {
            let name = e.file_name().into_string().unwrap();
            match std::fs::read(e.path()) {
                Ok(content) => Some((name, sha256_hex(&content))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => panic!("reading {name}: {e}"),
            }
        })
        .collect();
    found.sort();
    found
}

pub fn write(dir: &Path, name: &str, content: &[u8]) {
    // Written under another name and renamed, as a partner's own software
    // would, so that a poll never lists a half-written file.
    let temp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&temp, content).unwrap();
    std::fs::rename(&temp, dir.join(name)).unwrap();
}

/// The `pushed` events' details, as JSON, once there are at least
/// `expected`: a push is journaled just after its file is renamed on the
/// partner's server, which is what tests wait for first.
fn pushed(env: &Env, expected: usize) -> Vec<serde_json::Value> {
    eventually("the pushes journaled", || {
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'pushed'") >= expected as i64
    });
    let db = env.db();
    let mut statement = db
        .prepare("SELECT detail FROM events WHERE kind = 'pushed' ORDER BY seq")
        .unwrap();
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|d| serde_json::from_str(&d.unwrap()).unwrap())
        .collect()
}

pub fn verify_journal(env: &Env) {
    let out = env.ferry().args(["journal", "verify"]).ok();
    assert!(out.contains("ok"), "journal verify: {out}");
}

/// Seed 000's four pairings in one hub:
/// server→server (pull from sshd, push to vsftpd), client→client (alice's
/// SFTP upload, bob's FTP download), server→client (pull from pyftpdlib,
/// bob's SFTP download), client→server (alice's FTP upload, push to sshd).
#[test]
fn the_four_combinations_with_real_servers() {
    let sshd = Sshd::start();
    let vsftpd = Vsftpd::start();
    let pyftpd = PyFtpd::start();
    let outgoing = sshd.dir("outgoing");
    let sshd_incoming = sshd.dir("incoming");
    let vsftpd_incoming = vsftpd.dir("incoming");
    let pyftpd_outgoing = pyftpd.dir("outgoing");

    let hub = Hub::new(|dir| {
        format!(
            "[tenants.acme.partners.globex]\nroutes = [{{ to = \"initech\" }}]\n\
             [tenants.acme.partners.globex.connector]\n{}\
             [tenants.acme.partners.globex.pull]\nfrom = \"{}\"\nevery = \"200ms\"\nthen = \"delete\"\n\n\
             [tenants.acme.partners.initech]\nreceipts = false\n\
             [tenants.acme.partners.initech.connector]\n{}\
             [tenants.acme.partners.initech.push]\nto = \"/incoming\"\n\n\
             [tenants.acme.partners.wayne]\nroutes = [{{ to = \"bob\" }}]\n\
             [tenants.acme.partners.wayne.connector]\n{}passive = \"pasv\"\n\
             [tenants.acme.partners.wayne.pull]\nfrom = \"/outgoing\"\nevery = \"200ms\"\nstable = \"done-file\"\n\
             then = \"suffix\"\nsuffix = \".taken\"\n\n\
             [tenants.acme.partners.hooli]\nreceipts = false\n\
             [tenants.acme.partners.hooli.connector]\n{}\
             [tenants.acme.partners.hooli.push]\nto = \"{}\"\n\n\
             [tenants.acme.partners.alice]\n\
             routes = [{{ match = \"*.c2c\", to = \"bob\" }}, {{ match = \"*.c2s\", to = \"hooli\" }}]\n\
             [tenants.acme.partners.bob]\n",
            sftp_connector(&sshd),
            outgoing.display(),
            ftp_connector(
                vsftpd.port,
                &vsftpd.user,
                &secret(dir, "vsftpd", &vsftpd.password)
            ),
            ftp_connector(
                pyftpd.port,
                &pyftpd.user,
                &secret(dir, "pyftpd", &pyftpd.password)
            ),
            sftp_connector(&sshd),
            sshd_incoming.display(),
        )
    });

    let s2s = bytes(1, 3 << 20);
    let s2c = bytes(2, 700_000);
    let c2c = bytes(3, 1 << 20);
    let c2s = bytes(4, 2 << 20);
    write(&outgoing, "orders.s2s", &s2s);
    write(&pyftpd_outgoing, "stock.s2c", &s2c);
    let _server: Server = hub.env.serve();

    // client→client and client→server: alice uploads over SFTP and FTP.
    std::fs::write(hub.env.path().join("note.c2c"), &c2c).unwrap();
    hub.sftp("alice", "put note.c2c /inbox/note.c2c\n");
    std::fs::write(hub.env.path().join("plan.c2s"), &c2s).unwrap();
    hub.curl(&["-T", "plan.c2s", &hub.ftp_url("alice", "/inbox/plan.c2s")]);

    // server→client: the done-file makes wayne's file stable.
    write(&pyftpd_outgoing, "stock.s2c.done", b"");

    eventually("the pushes to vsftpd and sshd", || {
        files(&vsftpd_incoming) == vec![("orders.s2s".into(), sha256_hex(&s2s))]
            && files(&sshd_incoming) == vec![("plan.c2s".into(), sha256_hex(&c2s))]
    });
    eventually("wayne's file in bob's outbox", || {
        hub.env
            .names("bob", "/outbox")
            .contains(&"stock.s2c".to_owned())
    });

    // bob takes what is for him as a client, over FTP and SFTP.
    assert_eq!(
        sha256_hex(&hub.curl(&[&hub.ftp_url("bob", "/outbox/note.c2c")])),
        sha256_hex(&c2c)
    );
    hub.sftp("bob", "get /outbox/stock.s2c got.s2c\n");
    assert_eq!(
        sha256_hex(&std::fs::read(hub.env.path().join("got.s2c")).unwrap()),
        sha256_hex(&s2c)
    );

    // The sources were dealt with as configured.
    assert!(
        files(&outgoing).is_empty(),
        "globex's file was deleted after the pull"
    );
    assert_eq!(
        files(&pyftpd_outgoing),
        vec![("stock.s2c.taken".into(), sha256_hex(&s2c))],
        "wayne's file renamed, its done-file removed"
    );
    let pushes = pushed(&hub.env, 2);
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert!(
        pushes
            .iter()
            .all(|p| p["verified_by"] == "size" && p["resumed_from"] == 0)
    );
    assert_eq!(
        hub.env
            .count("SELECT COUNT(*) FROM pulled WHERE disposed = 1"),
        2
    );
    verify_journal(&hub.env);
}

/// 20 connections cut mid-transfer by a proxy in front of sshd: every push
/// completes by resuming, with the right bytes, once each, and no
/// temporary file left behind.
#[test]
fn pushes_survive_twenty_dropped_connections() {
    let sshd = Sshd::start();
    let incoming = sshd.dir("incoming");
    let proxy = CutProxy::start(sshd.port, 7, 20);
    let mut connector = sftp_connector(&sshd);
    connector = connector.replace(
        &format!("port = {}", sshd.port),
        &format!("port = {}", proxy.port),
    );
    let hub = Hub::new(|_| {
        format!(
            "[tenants.acme.partners.hooli]\nreceipts = false\n\
         [tenants.acme.partners.hooli.connector]\n{connector}\
         [tenants.acme.partners.hooli.push]\nto = \"{}\"\n\n\
         [tenants.acme.partners.alice]\nroutes = [{{ to = \"hooli\" }}]\n\
         [tenants.acme.partners.bob]\n",
            incoming.display()
        )
    });
    let contents: Vec<Vec<u8>> = (0..6).map(|i| bytes(100 + i, 6 << 20)).collect();
    // With a server running, `ferry put` only ingests; the server pushes.
    let mut server = hub.env.serve();
    for (i, content) in contents.iter().enumerate() {
        hub.env
            .put("alice", &format!("batch-{i}.bin"), content)
            .ok();
    }
    let expected: Vec<(String, String)> = contents
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("batch-{i}.bin"), sha256_hex(c)))
        .collect();
    let arrived = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("every push", || files(&incoming) == expected)
    }));
    assert!(
        arrived.is_ok(),
        "not every push arrived; ferry's log:\n{}",
        server.log_so_far()
    );
    assert_eq!(proxy.cuts_done(), 20, "the proxy cut 20 connections");
    let pushes = pushed(&hub.env, 6);
    assert_eq!(pushes.len(), 6, "one push event per file: {pushes:?}");
    assert!(
        pushes.iter().any(|p| p["resumed_from"].as_u64() > Some(0)),
        "at least one push continued an earlier attempt's bytes: {pushes:?}"
    );
    // The last pushes' acknowledgements (a push counts as a download) may
    // still be running when the files are there: awaited, not assumed.
    eventually("every task done", || {
        hub.env
            .count("SELECT COUNT(*) FROM tasks WHERE state != 'done'")
            == 0
    });
    verify_journal(&hub.env);
}

/// kill -9 between the remote rename and the journal's record of a push,
/// and between a pull's store and its journal record: after a restart each
/// file is on the target once and in the journal once.
#[test]
fn a_crash_during_pull_or_push_neither_loses_nor_repeats() {
    let sshd = Sshd::start();
    let outgoing = sshd.dir("outgoing");
    let incoming = sshd.dir("incoming");
    let hub = Hub::new(|_| {
        format!(
            "[tenants.acme.partners.globex]\nroutes = [{{ to = \"hooli\" }}]\n\
         [tenants.acme.partners.globex.connector]\n{}\
         [tenants.acme.partners.globex.pull]\nfrom = \"{}\"\nevery = \"200ms\"\n\n\
         [tenants.acme.partners.hooli]\nreceipts = false\n\
         [tenants.acme.partners.hooli.connector]\n{}\
         [tenants.acme.partners.hooli.push]\nto = \"{}\"\n\n\
         [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n",
            sftp_connector(&sshd),
            outgoing.display(),
            sftp_connector(&sshd),
            incoming.display()
        )
    });
    let content = bytes(9, 2 << 20);
    write(&outgoing, "ledger.bin", &content);

    for crash in ["pull.stored", "push.renamed"] {
        let status = hub.env.serve_until_exit(&[("FERRY_CRASH", crash)]);
        assert!(!status.success(), "ferry aborted at {crash}");
    }
    let _server = hub.env.serve();
    eventually("the push", || {
        hub.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'pushed'")
            == 1
    });
    assert_eq!(
        files(&incoming),
        vec![("ledger.bin".into(), sha256_hex(&content))]
    );
    let globex: Vec<String> = {
        let db = hub.env.db();
        let mut statement = db
            .prepare(
                "SELECT state || ' ' || protocol || ' ' || COALESCE(reason, '')
                 FROM messages WHERE partner = 'globex' AND direction = 'in'",
            )
            .unwrap();
        statement
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert_eq!(
        globex.len(),
        1,
        "{globex:?}: pulled once, although the source stays (then = leave) and ferry restarted twice"
    );
    assert_eq!(
        pushed(&hub.env, 1)[0]["already_there"],
        true,
        "the push found its own finished file"
    );
    verify_journal(&hub.env);
}

/// kill -9 in the middle of a large push; the restarted server continues
/// the temporary file on the partner's server instead of starting over.
#[test]
fn a_push_killed_mid_transfer_resumes_after_restart() {
    let sshd = Sshd::start();
    let incoming = sshd.dir("incoming");
    let hub = Hub::new(|_| {
        format!(
            "[tenants.acme.partners.hooli]\nreceipts = false\n\
         [tenants.acme.partners.hooli.connector]\n{}\
         [tenants.acme.partners.hooli.push]\nto = \"{}\"\n\n\
         [tenants.acme.partners.alice]\nroutes = [{{ to = \"hooli\" }}]\n[tenants.acme.partners.bob]\n",
            sftp_connector(&sshd),
            incoming.display()
        )
    });
    let content = bytes(11, 32 << 20);
    let temp = incoming.join("big.bin.part");
    {
        // The fault paces the push (a pause per chunk), so that the kill
        // lands mid-transfer on any machine.
        let server = hub.env.serve_with(&[("FERRY_FAULTS", "push.slow")]);
        hub.env.put("alice", "big.bin", &content).ok();
        // Past the margin a resume after a restart writes again (the
        // writes that were in flight: at most 16 of 255 KiB).
        eventually("the temporary file growing", || {
            std::fs::metadata(&temp).is_ok_and(|m| m.len() > 8 << 20)
        });
        drop(server); // kill -9
    }
    let kept = std::fs::metadata(&temp).map(|m| m.len()).unwrap_or(0);
    let _server = hub.env.serve();
    eventually("the push", || files(&incoming).len() == 1 && !temp.exists());
    assert_eq!(
        files(&incoming),
        vec![("big.bin".into(), sha256_hex(&content))]
    );
    let pushes = pushed(&hub.env, 1);
    assert_eq!(pushes.len(), 1);
    assert!(
        kept > 0 && kept < content.len() as u64,
        "killed mid-transfer at {kept} bytes"
    );
    let resumed_from = pushes[0]["resumed_from"].as_u64().unwrap();
    assert!(
        resumed_from > 0 && resumed_from <= kept && kept - resumed_from <= 16 * 255 * 1024,
        "resumed from {resumed_from}, {kept} bytes were kept: {pushes:?}"
    );
}

/// FXP from pyftpdlib to vsftpd: the data goes server to server; a fault
/// cuts both control connections once the transfer has started, and the
/// next attempt continues with REST and APPE.
#[test]
fn fxp_between_two_ftp_servers_resumes_after_a_cut() {
    let source = PyFtpd::start();
    let target = Vsftpd::start();
    let outgoing = source.dir("outgoing");
    let incoming = target.dir("incoming");
    let hub = Hub::new(|dir| {
        format!(
            "[tenants.acme.partners.wayne]\n[tenants.acme.partners.wayne.connector]\n{}\
             [tenants.acme.partners.wayne.pull]\nfrom = \"/outgoing\"\nevery = \"200ms\"\nfxp_to = \"initech\"\n\
             then = \"move\"\nmove_to = \"/\"\n\n\
             [tenants.acme.partners.initech]\n[tenants.acme.partners.initech.connector]\n{}\
             [tenants.acme.partners.initech.push]\nto = \"/incoming\"\n\n\
             [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n",
            ftp_connector(
                source.port,
                &source.user,
                &secret(dir, "source", &source.password)
            ),
            ftp_connector(
                target.port,
                &target.user,
                &secret(dir, "target", &target.password)
            )
        )
    });
    let content = bytes(21, 128 << 20);
    write(&outgoing, "archive.bin", &content);
    let _server = hub.env.serve_with(&[("FERRY_FAULTS", "fxp.drop")]);
    eventually("the FXP transfer", || {
        hub.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'fxp'")
            == 1
    });
    assert_eq!(
        files(&incoming),
        vec![("archive.bin".into(), sha256_hex(&content))]
    );
    assert!(files(&outgoing).is_empty(), "the source was moved away");
    let detail: String = hub
        .env
        .db()
        .query_row("SELECT detail FROM events WHERE kind = 'fxp'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert!(
        detail["resumed_from"].as_u64().unwrap() > 0,
        "resumed after the cut: {detail}"
    );
    assert_eq!(detail["size"], content.len() as u64);
    verify_journal(&hub.env);
}

/// A server whose host key is not the pinned one is refused, the refusal
/// is journaled, and nothing is pulled.
#[test]
fn a_host_key_mismatch_refuses_and_is_journaled() {
    let sshd = Sshd::start();
    let outgoing = sshd.dir("outgoing");
    write(&outgoing, "secret.csv", b"a,b\n");
    let wrong = sftp_connector(&sshd).replace(
        &sshd.host_key_fingerprint,
        "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    );
    let hub = Hub::new(|_| {
        format!(
            "[tenants.acme.partners.globex]\n[tenants.acme.partners.globex.connector]\n{wrong}\
         [tenants.acme.partners.globex.pull]\nfrom = \"{}\"\nevery = \"200ms\"\n\n\
         [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n",
            outgoing.display()
        )
    });
    let mut server = hub.env.serve();
    let line = server.wait_for("presented host key");
    assert!(line.contains(&sshd.host_key_fingerprint), "{line}");
    eventually("the refusal in the journal", || {
        hub.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'connect-failed'")
            >= 1
    });
    assert_eq!(hub.env.count("SELECT COUNT(*) FROM messages"), 0);
}

/// FTPS to vsftpd: a pull over explicit TLS (`AUTH TLS`, `PROT P`) whose
/// file is pushed to a second vsftpd over implicit TLS, each server's
/// self-signed certificate trusted through `tls_ca_file`; a connector that
/// does not trust the certificate gets nothing.
#[test]
fn ftps_explicit_pull_and_implicit_push_with_pinned_certificates() {
    let explicit = Vsftpd::start_tls();
    let implicit = Vsftpd::start_implicit_tls();
    let outgoing = explicit.dir("outgoing");
    let untrusted = explicit.dir("untrusted");
    let incoming = implicit.dir("incoming");
    let admin = free_port();
    let hub = Hub::new(|dir| {
        std::fs::write(
            dir.join("operator.token"),
            "operator-token-0123456789abcdef",
        )
        .unwrap();
        let connector = |server: &Vsftpd, protocol: &str| {
            format!(
                "protocol = \"{protocol}\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\npassword_file = \"{}\"\n",
                server.port,
                server.user,
                secret(dir, &format!("vsftpd-{protocol}"), &server.password).display()
            )
        };
        let ca = |server: &Vsftpd| {
            format!(
                "tls_ca_file = \"{}\"\n",
                server.cert_pem.as_ref().unwrap().display()
            )
        };
        format!(
            "[tenants.acme.partners.globex]\nroutes = [{{ to = \"initech\" }}]\n\
             [tenants.acme.partners.globex.connector]\n{}{}\
             [tenants.acme.partners.globex.pull]\nfrom = \"/outgoing\"\nevery = \"200ms\"\nthen = \"delete\"\n\n\
             [tenants.acme.partners.initech]\nreceipts = false\n\
             [tenants.acme.partners.initech.connector]\n{}{}\
             [tenants.acme.partners.initech.push]\nto = \"/incoming\"\n\n\
             [tenants.acme.partners.mallory]\nroutes = [{{ to = \"bob\" }}]\n\
             [tenants.acme.partners.mallory.connector]\n{}\
             [tenants.acme.partners.mallory.pull]\nfrom = \"/untrusted\"\nevery = \"200ms\"\n\n\
             [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n\n\
             [admin]\naddress = \"127.0.0.1:{admin}\"\ntoken_file = \"operator.token\"\n",
            connector(&explicit, "ftps"),
            ca(&explicit),
            connector(&implicit, "ftps-implicit"),
            ca(&implicit),
            connector(&explicit, "ftps"),
        )
    });
    let content = bytes(21, 5 << 20);
    write(&outgoing, "secure.bin", &content);
    write(&untrusted, "never.bin", b"not over an unverified channel");
    let mut server = hub.env.serve();
    let arrived = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("the file pulled and pushed over FTPS", || {
            files(&incoming) == vec![("secure.bin".into(), sha256_hex(&content))]
        })
    }));
    assert!(
        arrived.is_ok(),
        "ferry's log:\n{}\njournal:\n{}\nvsftpd's logs:\n{}\n{}",
        server.log_so_far(),
        hub.env.ferry().args(["journal", "list"]).ok(),
        explicit.log(),
        implicit.log()
    );
    assert!(files(&outgoing).is_empty(), "the source was deleted");
    // vsftpd's protocol log quotes each command as `"AUTH TLS"`.
    let sent = |log: &str, command: &str| log.contains(&format!("\"{command}\""));
    let log = explicit.log();
    assert!(sent(&log, "AUTH TLS"), "{log}");
    assert!(
        sent(&log, "PROT P"),
        "data connections are protected: {log}"
    );
    let log = implicit.log();
    assert!(!sent(&log, "AUTH TLS"), "implicit TLS needs no AUTH: {log}");
    assert!(sent(&log, "PROT P"), "{log}");
    eventually("mallory's poll refused", || {
        let log = server.log_so_far();
        log.contains("mallory") && log.contains("a certificate ferry does not trust")
    });
    // The admin API says when each source was polled and what came of it.
    let polling = |partner: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-H"])
            .arg("Authorization: Bearer operator-token-0123456789abcdef")
            .arg(format!(
                "http://127.0.0.1:{admin}/api/v1/tenants/acme/partners"
            ))
            .output()
            .unwrap();
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list["partners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == partner)
            .unwrap()["polling"]
            .clone()
    };
    let refused = polling("mallory");
    assert!(refused["last_poll"].is_i64(), "{refused}");
    assert!(
        refused["next_poll"].as_i64() >= refused["last_poll"].as_i64(),
        "{refused}"
    );
    let why = refused["outcome"].as_str().unwrap();
    assert!(
        why.starts_with("failed:") && why.contains("certificate"),
        "{why}"
    );
    let fine = polling("globex")["outcome"].as_str().unwrap().to_owned();
    assert!(fine == "nothing new" || fine.starts_with("took "), "{fine}");
    assert!(polling("alice").is_null(), "alice is not polled");
    // Journaled once, however many polls were refused.
    assert_eq!(
        hub.env.count(
            "SELECT COUNT(*) FROM events WHERE kind = 'connect-failed' AND detail LIKE '%mallory%'"
        ),
        1
    );
    assert_eq!(
        files(&untrusted).len(),
        1,
        "the untrusted file stays where it is"
    );
    assert!(hub.env.names("mallory", "/inbox").is_empty());
    let pushes = pushed(&hub.env, 1);
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    verify_journal(&hub.env);
}

/// The acknowledger's actions reach a pulled partner's own server: its
/// receipt is written there (pushed, as every file for a partner with
/// `push` is), and the file it left is renamed `NAME.received` in place.
#[test]
fn acknowledgements_land_on_the_partners_server() {
    let sshd = Sshd::start();
    let outgoing = sshd.dir("outgoing");
    let incoming = sshd.dir("incoming");
    let hub = Hub::new(|_| {
        format!(
            "[tenants.acme.partners.globex]\nroutes = [{{ to = \"bob\" }}]\n\
             acknowledger = \"{}\"\nparams = {{ on = \"delivered\", mark = \".received\" }}\n\
             [tenants.acme.partners.globex.connector]\n{}\
             [tenants.acme.partners.globex.pull]\nfrom = \"{}\"\nevery = \"200ms\"\npatterns = [\"*.csv\"]\n\
             [tenants.acme.partners.globex.push]\nto = \"{}\"\n\n\
             [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n",
            crate::plugins::wasm("receipt_acknowledger").display(),
            sftp_connector(&sshd),
            outgoing.display(),
            incoming.display()
        )
    });
    let content = b"id,qty\n1,5\n".to_vec();
    write(&outgoing, "orders.csv", &content);
    let mut server = hub.env.serve();
    let landed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("the receipt on globex's server", || {
            incoming.join("orders.csv.received").is_file()
                && files(&outgoing) == vec![("orders.csv.received".into(), sha256_hex(&content))]
        })
    }));
    assert!(landed.is_ok(), "ferry's log:\n{}", server.log_so_far());
    let receipt = std::fs::read_to_string(incoming.join("orders.csv.received")).unwrap();
    assert!(
        receipt.contains(&format!("sha256: {}", sha256_hex(&content))),
        "{receipt}"
    );
    assert!(
        hub.env
            .names("bob", "/outbox")
            .contains(&"orders.csv".to_owned()),
        "delivered to bob"
    );
    // Renamed in place, the file is not pulled again.
    assert_eq!(
        hub.env
            .count("SELECT COUNT(*) FROM messages WHERE partner = 'globex' AND direction = 'in'"),
        1
    );
    verify_journal(&hub.env);
}

/// A fetch cut after 1 MiB (the `pull.cut` fault) is continued by the next
/// poll from where it stopped: one message, the right bytes.
#[test]
fn a_cut_pull_continues_where_it_stopped() {
    let sshd = Sshd::start();
    let outgoing = sshd.dir("outgoing");
    let hub = Hub::new(|_| {
        format!(
            "[tenants.acme.partners.globex]\nroutes = [{{ to = \"bob\" }}]\n\
             [tenants.acme.partners.globex.connector]\n{}\
             [tenants.acme.partners.globex.pull]\nfrom = \"{}\"\nevery = \"200ms\"\nthen = \"delete\"\n\n\
             [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n",
            sftp_connector(&sshd),
            outgoing.display()
        )
    });
    let content = bytes(31, 6 << 20);
    write(&outgoing, "large.bin", &content);
    let mut server = hub.env.serve_with(&[("FERRY_FAULTS", "pull.cut")]);
    let pulled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually("the pull", || files(&outgoing).is_empty())
    }));
    let log = server.log_so_far();
    assert!(pulled.is_ok(), "ferry's log:\n{log}");
    assert!(
        log.contains("continuing a fetch that was cut") && log.contains("resumed_from=1048576"),
        "the second poll continued the first: {log}"
    );
    // The pull is done when its source is gone; the delivery to bob is the
    // pipeline's, a moment later.
    eventually("the delivery to bob", || {
        hub.env
            .names("bob", "/outbox")
            .contains(&"large.bin".to_owned())
    });
    hub.sftp("bob", "get /outbox/large.bin got.bin\n");
    assert_eq!(
        sha256_hex(&std::fs::read(hub.env.path().join("got.bin")).unwrap()),
        sha256_hex(&content)
    );
    assert_eq!(
        hub.env
            .count("SELECT COUNT(*) FROM messages WHERE partner = 'globex' AND direction = 'in'"),
        1
    );
    verify_journal(&hub.env);
}
