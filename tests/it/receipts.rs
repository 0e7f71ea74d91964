//! What a partner can ask without anything installed on its side:
//! `/receipts/sent.csv`, `/receipts/received.csv` and `/resend`, over SFTP
//! and FTP.

use crate::util::{FtpEnv, SftpEnv, eventually, free_port, sha256_hex};

/// Over SFTP: the two lists answer "what did I send" and "what did you
/// make available to me, and did I take it"; a file deleted from an outbox
/// comes back by name or by SHA-256 through `/resend`.
#[test]
fn receipts_and_resend_over_sftp() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    let dir = s.env.path();
    std::fs::write(dir.join("a.csv"), "id,qty\n1,2\n").unwrap();
    std::fs::write(dir.join("empty"), "").unwrap();
    s.sftp_ok("alice", "put a.csv /inbox/a.csv\n");
    // alice's routes send *.csv to bob and carol.
    eventually("delivery to bob and carol", || {
        s.env.names("bob", "/outbox") == ["a.csv"] && s.env.names("carol", "/outbox") == ["a.csv"]
    });
    s.sftp_ok("bob", "get /outbox/a.csv got.csv\n");

    let listing = s.sftp_ok("alice", "ls -1 /\nls -1 /receipts\n");
    for name in [
        "inbox",
        "outbox",
        "receipts",
        "resend",
        "sent.csv",
        "received.csv",
    ] {
        assert!(listing.contains(name), "{listing}");
    }
    s.sftp_ok("alice", "get /receipts/sent.csv sent.csv\n");
    let sent = std::fs::read_to_string(dir.join("sent.csv")).unwrap();
    let hash = sha256_hex(b"id,qty\n1,2\n");
    let mut lines = sent.lines();
    assert_eq!(
        lines.next(),
        Some("name,size,sha256,received_at,verdict,reason,delivered_to")
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        (row[0], row[1], row[2], row[6]),
        ("a.csv", "11", hash.as_str(), "bob carol")
    );

    s.sftp_ok("bob", "get /receipts/received.csv received.csv\n");
    let received = std::fs::read_to_string(dir.join("received.csv")).unwrap();
    let row: Vec<&str> = received.lines().nth(1).unwrap().split(',').collect();
    assert_eq!((row[0], row[2], row[4]), ("a.csv", hash.as_str(), "yes"));

    // Deleted, then asked for again by name, then by hash.
    s.sftp_ok("bob", "rm /outbox/a.csv\n");
    assert!(s.env.names("bob", "/outbox").is_empty());
    s.sftp_ok("bob", "put empty /resend/a.csv\n");
    assert_eq!(s.env.names("bob", "/outbox"), ["a.csv"]);
    s.sftp_ok("bob", "rm /outbox/a.csv\n");
    s.sftp_ok("bob", &format!("put empty /resend/{hash}\n"));
    assert_eq!(
        s.env.ls("bob", "/outbox"),
        [("a.csv".to_owned(), 11, hash.clone())]
    );
    assert!(
        s.sftp_ok("bob", "ls -1 /resend\n")
            .trim()
            .ends_with("ls -1 /resend")
    );
    let out = s.sftp("bob", "put empty /resend/never-sent.txt\n");
    assert!(!out.status.success(), "a request for nothing was accepted");
    assert_eq!(
        s.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'resent'"),
        2
    );
    // The lists are read-only.
    let out = s.sftp("alice", "put a.csv /receipts/sent.csv\n");
    assert!(!out.status.success());
    s.env.ferry().args(["journal", "verify"]).ok();
}

/// Over FTP: the same lists and requests; `ferry resend` does it too.
#[test]
fn receipts_and_resend_over_ftp_and_the_cli() {
    let f = FtpEnv::new();
    let _server = f.env.serve();
    std::fs::write(f.env.path().join("b.txt"), "hello\n").unwrap();
    std::fs::write(f.env.path().join("empty"), "").unwrap();
    let ok = |args: &[&str]| {
        let out = f.curl(args);
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&["-T", "b.txt", &f.url("alice", "/inbox/b.txt")]);
    eventually("delivery to bob", || {
        f.env.names("bob", "/outbox") == ["b.txt"]
    });
    let names = ok(&["--list-only", &f.url("alice", "/receipts/")]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["sent.csv", "received.csv", "checkpoint.json"]
    );
    let sent = ok(&[&f.url("alice", "/receipts/sent.csv")]);
    assert!(
        sent.lines().nth(1).unwrap().starts_with("b.txt,6,"),
        "{sent}"
    );
    let received = ok(&["--ssl-reqd", &f.url("bob", "/receipts/received.csv")]);
    assert!(
        received.lines().nth(1).unwrap().ends_with(",no,"),
        "{received}"
    );

    ok(&[
        "--ssl-reqd",
        "-Q",
        "DELE /outbox/b.txt",
        &f.url("bob", "/outbox/"),
    ]);
    assert!(f.env.names("bob", "/outbox").is_empty());
    ok(&["--ssl-reqd", "-T", "empty", &f.url("bob", "/resend/b.txt")]);
    assert_eq!(f.env.names("bob", "/outbox"), ["b.txt"]);

    ok(&[
        "--ssl-reqd",
        "-Q",
        "DELE /outbox/b.txt",
        &f.url("bob", "/outbox/"),
    ]);
    let out = f
        .env
        .ferry()
        .args(["resend", "--tenant", "acme", "--as", "bob", "b.txt"])
        .ok();
    assert!(out.contains("resent b.txt"), "{out}");
    assert_eq!(f.env.names("bob", "/outbox"), ["b.txt"]);
    let refused = f.curl(&[
        "--ssl-reqd",
        "-T",
        "empty",
        &f.url("bob", "/resend/nothing"),
    ]);
    assert!(!refused.status.success());
    f.env.ferry().args(["journal", "verify"]).ok();
}

/// A partner with `sha256_files` sees a `NAME.sha256` next to each outbox
/// file, in `sha256sum` format, over SFTP and FTP; `sha256sum -c` accepts it.
#[test]
fn checksum_files_next_to_outbox_files() {
    let ftp_port = free_port();
    let s = SftpEnv::with(|config| {
        config
            .replace(
                "[tenants.acme.partners.alice]",
                &format!(
                    "[[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\ntenant = \"acme\"\n\n\
                     [tenants.acme.partners.alice]"
                ),
            )
            .replace(
                "[tenants.acme.partners.bob]\n",
                "[tenants.acme.partners.bob]\nsha256_files = true\n",
            )
    });
    let _server = s.env.serve();
    let dir = s.env.path();
    std::fs::write(dir.join("a.txt"), "checked\n").unwrap();
    s.sftp_ok("alice", "put a.txt /inbox/a.txt\n");
    eventually("delivery to bob", || {
        s.env.names("bob", "/outbox") == ["a.txt"]
    });
    let listing = s.sftp_ok("bob", "ls -1 /outbox\n");
    assert!(listing.contains("a.txt.sha256"), "{listing}");
    std::fs::create_dir(dir.join("got")).unwrap();
    s.sftp_ok(
        "bob",
        "get /outbox/a.txt got/a.txt\nget /outbox/a.txt.sha256 got/a.txt.sha256\n",
    );
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "a.txt.sha256"])
        .current_dir(dir.join("got"))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let over_ftp = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30"])
        .arg(format!(
            "ftp://bob:alice-pass@127.0.0.1:{ftp_port}/outbox/a.txt.sha256"
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&over_ftp.stdout),
        format!("{}  a.txt\n", sha256_hex(b"checked\n"))
    );
    // alice has no such option: her outbox shows only real files.
    assert!(!s.sftp_ok("alice", "ls -1 /outbox\n").contains(".sha256"));
}
