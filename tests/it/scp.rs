//! Legacy scp (`scp -O`) with OpenSSH's own client, both ways, against the
//! same mailboxes as SFTP: uploads are committed whole and journaled,
//! downloads journaled; refusals come back as scp errors.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::{SftpEnv, eventually, sha256_hex};

/// OpenSSH `scp -O` as the test's client, bounded by `timeout`.
fn scp_within(s: &SftpEnv, limit: &[&str]) -> Command {
    let mut command = Command::new("timeout");
    command
        .args(limit)
        .args(["scp", "-O", "-P", &s.port.to_string(), "-i"])
        .arg(&s.key)
        .args(crate::util::SSH_OPTS)
        .current_dir(s.env.path());
    command
}

fn scp(s: &SftpEnv, args: &[&str]) -> Output {
    scp_within(s, &["60"])
        .args(args)
        .output()
        .expect("scp (openssh-client) is needed")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn legacy_scp_uploads_and_downloads() {
    let s = SftpEnv::with(|c| {
        c.replace(
            "[server]\n",
            "[limits]\nmax_file_size = \"1MiB\"\n\n[server]\n",
        )
        .replace(
            "[tenants.acme.partners.alice]\n",
            "[tenants.acme.partners.alice]\nupload_rate = \"256KiB/s\"\n",
        )
    });
    let _server = s.env.serve();
    let dir = s.env.path();
    let content = crate::util::bytes(7, 300_000);
    std::fs::write(dir.join("orders.csv"), &content).unwrap();
    std::fs::write(dir.join("notes.csv"), b"a,b\n").unwrap();

    let up = scp(
        &s,
        &["-p", "orders.csv", "notes.csv", "alice@127.0.0.1:inbox/"],
    );
    assert!(up.status.success(), "{}", text(&up));
    let inbox = s.env.ls("alice", "/inbox");
    assert!(
        inbox.iter().any(|(n, size, sha)| n == "orders.csv"
            && *size == content.len() as u64
            && *sha == sha256_hex(&content)),
        "{inbox:?}"
    );
    // Under another name: the target names the file.
    let renamed = scp(&s, &["notes.csv", "alice@127.0.0.1:/inbox/renamed.csv"]);
    assert!(renamed.status.success(), "{}", text(&renamed));
    eventually("the copies in bob's outbox", || {
        let names = s.env.names("bob", "/outbox");
        ["orders.csv", "notes.csv", "renamed.csv"]
            .iter()
            .all(|n| names.contains(&(*n).to_owned()))
    });
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM messages WHERE protocol = 'scp'"),
        3
    );

    let down = scp(&s, &["bob@127.0.0.1:outbox/orders.csv", "got.csv"]);
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(std::fs::read(dir.join("got.csv")).unwrap(), content);
    std::fs::create_dir(dir.join("all")).unwrap();
    let many = scp(&s, &["bob@127.0.0.1:outbox/*.csv", "all/"]);
    assert!(many.status.success(), "{}", text(&many));
    assert!(Path::new(&dir.join("all/renamed.csv")).is_file());
    eventually("the downloads journaled", || {
        s.env.count(
            "SELECT COUNT(*) FROM events WHERE kind = 'downloaded' AND detail LIKE '%\"scp\"%'",
        ) >= 4
    });

    // Refusals: a missing file, a file over max_file_size (refused before
    // its bytes), folders, a file outside the inbox.
    let missing = scp(&s, &["bob@127.0.0.1:outbox/none.csv", "x.csv"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("No such file"),
        "{}",
        text(&missing)
    );
    std::fs::write(dir.join("big.bin"), crate::util::bytes(8, 2 << 20)).unwrap();
    let big = scp(&s, &["big.bin", "alice@127.0.0.1:inbox/"]);
    assert!(!big.status.success());
    assert!(text(&big).contains("more than"), "{}", text(&big));
    assert!(
        !s.env
            .names("alice", "/inbox")
            .contains(&"big.bin".to_owned())
    );
    let folder = scp(&s, &["-r", "all", "alice@127.0.0.1:inbox/"]);
    assert!(!folder.status.success());
    assert!(text(&folder).contains("use sftp"), "{}", text(&folder));
    let outside = scp(&s, &["notes.csv", "alice@127.0.0.1:outbox/"]);
    assert!(!outside.status.success());
    assert!(text(&outside).contains("/inbox"), "{}", text(&outside));
    // The server lives on: one more upload goes through.
    let again = scp(&s, &["notes.csv", "alice@127.0.0.1:inbox/again.csv"]);
    assert!(again.status.success(), "{}", text(&again));
}
