//! The HTTPS file API driven by curl: uploads, downloads with ranges and
//! ETags, listings, receipts, resend, hiding, resumed uploads, hostile
//! paths and the shared login ban.

use std::process::{Command, Output};

use crate::util::{Env, bytes, default_config, eventually, free_port, sha256_hex};

/// An environment with an HTTPS listener and an FTP listener bound to
/// tenant `acme`. Every account's password is `alice-pass`.
pub struct HttpsEnv {
    pub env: Env,
    pub port: u16,
    pub ftp_port: u16,
}

impl HttpsEnv {
    pub fn new() -> HttpsEnv {
        HttpsEnv::with(|config| config)
    }

    pub fn with(edit: impl FnOnce(String) -> String) -> HttpsEnv {
        let env = Env::new();
        let (port, ftp_port) = (free_port(), free_port());
        let config = default_config().replace(
            "[tenants.acme.partners.alice]",
            &format!(
                "[[listeners]]\nprotocol = \"https\"\naddress = \"127.0.0.1:{port}\"\ntenant = \"acme\"\n\n\
                 [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\ntenant = \"acme\"\n\n\
                 [tenants.acme.partners.alice]"
            ),
        );
        env.write_config(&edit(config));
        HttpsEnv {
            env,
            port,
            ftp_port,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// curl as `user` (silent, errors shown, bounded in time, the
    /// self-signed certificate accepted), with `args`.
    fn curl(&self, user: &str, args: &[&str]) -> Output {
        Command::new("curl")
            .args(["-sS", "--max-time", "60", "--insecure"])
            .args(["-u", &format!("{user}:alice-pass")])
            .args(args)
            .current_dir(self.env.path())
            .output()
            .expect("curl is needed")
    }

    /// The body of a request that must succeed (`--fail-with-body`).
    fn ok(&self, user: &str, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.ok_bytes(user, args)).into_owned()
    }

    fn ok_bytes(&self, user: &str, args: &[&str]) -> Vec<u8> {
        let mut all = vec!["--fail-with-body"];
        all.extend_from_slice(args);
        let out = self.curl(user, &all);
        assert!(
            out.status.success(),
            "curl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        out.stdout
    }

    /// The status line and headers of a request (`-D -`, body dropped).
    fn head(&self, user: &str, args: &[&str]) -> String {
        let mut all = vec!["-o", "/dev/null", "-D", "-"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&self.curl(user, &all).stdout).to_lowercase()
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// alice uploads with `curl -T`, bob downloads it whole and in a range,
/// lists his outbox as JSON and HTML, hides and asks for it again; every
/// answer carries the security headers, a download is an attachment whose
/// `ETag` is the SHA-256, and one complete download is journaled.
#[test]
fn curl_uploads_and_downloads() {
    let h = HttpsEnv::new();
    let _server = h.env.serve();
    let data = bytes(11, 3_000_000);
    std::fs::write(h.env.path().join("a.bin"), &data).unwrap();
    let stored = json(&h.ok("alice", &["-T", "a.bin", &h.url("/inbox/a.bin")]));
    assert_eq!(stored["sha256"], sha256_hex(&data));
    assert_eq!(stored["size"], 3_000_000);
    eventually("delivery to bob", || {
        h.env.names("bob", "/outbox") == ["a.bin"]
    });

    h.ok("bob", &["-o", "got.bin", &h.url("/outbox/a.bin")]);
    assert_eq!(std::fs::read(h.env.path().join("got.bin")).unwrap(), data);
    let headers = h.head("bob", &["-I", &h.url("/outbox/a.bin")]);
    let etag = format!("etag: \"{}\"", sha256_hex(&data));
    for expected in [
        "http/1.1 200",
        etag.as_str(),
        "content-type: application/octet-stream",
        "content-disposition: attachment; filename=\"a.bin\"",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "content-security-policy: default-src 'none'",
        "accept-ranges: bytes",
        "content-length: 3000000",
    ] {
        assert!(headers.contains(expected), "no {expected} in {headers}");
    }
    let part = h.ok_bytes(
        "bob",
        &["-r", "1000-1999", "-o", "-", &h.url("/outbox/a.bin")],
    );
    assert_eq!(part, data[1000..2000]);
    let ranged = h.head("bob", &["-I", "-r", "1000-1999", &h.url("/outbox/a.bin")]);
    assert!(ranged.contains("http/1.1 206"), "{ranged}");
    assert!(
        ranged.contains("content-range: bytes 1000-1999/3000000"),
        "{ranged}"
    );
    let past = h.head("bob", &["-I", "-r", "5000000-", &h.url("/outbox/a.bin")]);
    assert!(past.contains("http/1.1 416"), "{past}");
    let unchanged = h.head(
        "bob",
        &[
            "-H",
            &format!("If-None-Match: \"{}\"", sha256_hex(&data)),
            &h.url("/outbox/a.bin"),
        ],
    );
    assert!(unchanged.contains("http/1.1 304"), "{unchanged}");

    let listing = json(&h.ok(
        "bob",
        &["-H", "Accept: application/json", &h.url("/outbox/")],
    ));
    assert_eq!(listing["files"][0]["name"], "a.bin");
    assert_eq!(listing["files"][0]["sha256"], sha256_hex(&data));
    let page = h.ok("bob", &[&h.url("/outbox/")]);
    assert!(
        page.contains("<a href=\"/outbox/a.bin\">a.bin</a>"),
        "{page}"
    );

    // The whole file went out once (a range is a partial download, and
    // `HEAD` sends nothing).
    assert_eq!(
        h.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'"),
        1,
    );
    eventually("alice's receipt", || {
        h.env.names("alice", "/outbox") == ["a.bin.received"]
    });
    let sent = h.ok("alice", &[&h.url("/receipts/sent.csv")]);
    assert!(sent.starts_with("name,size,sha256"), "{sent}");
    assert!(
        sent.contains(&format!("a.bin,3000000,{}", sha256_hex(&data))),
        "{sent}"
    );

    let deleted = h.head("bob", &["-X", "DELETE", &h.url("/outbox/a.bin")]);
    assert!(deleted.contains("http/1.1 204"), "{deleted}");
    assert!(h.env.names("bob", "/outbox").is_empty());
    let resent = json(&h.ok("bob", &["-X", "POST", &h.url("/resend/a.bin")]));
    assert_eq!(resent["location"], "/outbox/a.bin");
    assert_eq!(h.env.names("bob", "/outbox"), ["a.bin"]);
    h.env.ferry().args(["journal", "verify"]).ok();
}

/// A PUT cut off midway keeps what arrived, invisible; `HEAD` says where
/// it stopped (`308`, `Upload-Offset`) and `curl -C N` finishes it. A
/// wrong offset is refused with the right one.
#[test]
fn a_cut_upload_resumes_with_content_range() {
    let h = HttpsEnv::new();
    let _server = h.env.serve();
    let data = bytes(12, 4_000_000);
    std::fs::write(h.env.path().join("big.bin"), &data).unwrap();
    // Cut after about a second, a few hundred kilobytes in.
    let cut = h.curl(
        "alice",
        &[
            "--limit-rate",
            "400k",
            "--max-time",
            "1",
            "-T",
            "big.bin",
            &h.url("/inbox/big.bin"),
        ],
    );
    assert!(!cut.status.success());
    let mut offset = 0;
    eventually("the cut upload kept", || {
        let headers = h.head("alice", &["-I", &h.url("/inbox/big.bin")]);
        offset = headers
            .lines()
            .find_map(|l| l.strip_prefix("upload-offset: "))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        headers.contains("http/1.1 308") && offset > 0
    });
    assert!(offset < data.len() as u64, "{offset}");
    assert!(h.env.names("alice", "/inbox").is_empty());

    let wrong = h.head(
        "alice",
        &["-C", "1", "-T", "big.bin", &h.url("/inbox/big.bin")],
    );
    assert!(wrong.contains("http/1.1 409"), "{wrong}");
    assert!(
        wrong.contains(&format!("upload-offset: {offset}")),
        "{wrong}"
    );

    let stored = json(&h.ok(
        "alice",
        &[
            "-C",
            &offset.to_string(),
            "-T",
            "big.bin",
            &h.url("/inbox/big.bin"),
        ],
    ));
    assert_eq!(stored["sha256"], sha256_hex(&data));
    assert_eq!(h.env.names("alice", "/inbox"), ["big.bin"]);
    let got = h.ok_bytes("alice", &["-o", "-", &h.url("/inbox/big.bin")]);
    assert_eq!(got, data);
}

/// Encoded separators and dots are refused (and journaled), never
/// followed; uploads go to the inbox only; names that look like HTML are
/// escaped in pages and served as attachments.
#[test]
fn hostile_paths_and_names() {
    let h = HttpsEnv::new();
    let _server = h.env.serve();
    for hostile in [
        "/outbox/%2e%2e/inbox/x",
        "/outbox/..%2f..%2fetc%2fpasswd",
        "/inbox/a%2fb",
        "/inbox/%2E%2E",
    ] {
        let headers = h.head("bob", &[&h.url(hostile)]);
        assert!(headers.contains("http/1.1 400"), "{hostile}: {headers}");
    }
    assert!(
        h.env
            .count("SELECT COUNT(*) FROM events WHERE kind = 'access-refused'")
            >= 4
    );
    std::fs::write(h.env.path().join("x.html"), b"<script>alert(1)</script>").unwrap();
    let refused = h.head("bob", &["-T", "x.html", &h.url("/outbox/x.html")]);
    assert!(refused.contains("http/1.1 405"), "{refused}");
    h.ok("bob", &["-T", "x.html", &h.url("/inbox/%3Cb%3Ex.html")]);
    eventually("delivery to alice", || {
        h.env.names("alice", "/outbox") == ["<b>x.html"]
    });
    let page = h.ok("alice", &[&h.url("/outbox/")]);
    assert!(page.contains("&#60;b&#62;x.html"), "{page}");
    assert!(!page.contains("<b>x.html"), "{page}");
    let headers = h.head("alice", &["-I", &h.url("/outbox/%3Cb%3Ex.html")]);
    assert!(
        headers.contains("content-type: application/octet-stream"),
        "{headers}"
    );
    assert!(
        headers.contains("content-disposition: attachment; filename=\"<b>x.html\"; filename*=utf-8''%3cb%3ex.html"),
        "{headers}"
    );
}

/// Wrong passwords over HTTPS count toward the ban every protocol shares:
/// after `login_failures` of them the address is refused over HTTPS with
/// the right password, and over FTP too.
#[test]
fn wrong_passwords_ban_the_address_for_every_protocol() {
    let h = HttpsEnv::with(|config| {
        config.replace(
            "data_dir = \"data\"\n",
            "data_dir = \"data\"\n\n[limits]\nlogin_failures = 3\n",
        )
    });
    let _server = h.env.serve();
    for _ in 0..3 {
        let out = Command::new("curl")
            .args(["-sS", "--insecure", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["-u", "alice:wrong", &h.url("/outbox/")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    }
    let banned = h.head("alice", &[&h.url("/outbox/")]);
    assert!(banned.contains("http/1.1 403"), "{banned}");
    let ftp = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!(
            "ftp://alice:alice-pass@127.0.0.1:{}/outbox/",
            h.ftp_port
        ))
        .output()
        .unwrap();
    assert!(!ftp.status.success(), "FTP let a banned address in");
}

/// A bearer token made through the admin API opens the file API for its
/// account, and only its SHA-256 is written into the configuration; a
/// wrong token is a 401 and counts toward the shared ban, after which the
/// right token is refused too (403).
#[test]
fn a_bearer_token_from_the_admin_api_opens_the_file_api() {
    let admin = free_port();
    let h = HttpsEnv::with(|config| {
        config.replace(
            "data_dir = \"data\"\n",
            &format!(
                "data_dir = \"data\"\n\n[limits]\nlogin_failures = 3\n\n\
                 [admin]\naddress = \"127.0.0.1:{admin}\"\ntoken_file = \"operator.token\"\n"
            ),
        )
    });
    let operator = "operator-token-for-the-bearer-test-0123456789";
    std::fs::write(h.env.path().join("operator.token"), operator).unwrap();
    let _server = h.env.serve();
    let issue = |login: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-X", "POST", "-H"])
            .arg(format!("Authorization: Bearer {operator}"))
            .arg(format!(
                "http://127.0.0.1:{admin}/api/v1/tenants/acme/partners/alice/accounts/{login}/token"
            ))
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let answer = issue("alice");
    let token = answer["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("ferry_") && token.len() > 40, "{answer}");
    let config = std::fs::read_to_string(h.env.path().join("ferry.toml")).unwrap();
    assert!(!config.contains(&token), "the token itself is not kept");
    assert!(config.contains(&sha256_hex(token.as_bytes())), "{config}");
    let missing = issue("nobody");
    assert!(
        missing["error"].as_str().unwrap().contains("no account"),
        "{missing}"
    );

    let with = |token: &str, args: &[&str]| {
        Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "30",
                "--insecure",
                "-w",
                "\n%{http_code}",
            ])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(args)
            .current_dir(h.env.path())
            .output()
            .unwrap()
    };
    std::fs::write(h.env.path().join("t.csv"), b"id\n1\n").unwrap();
    let put = with(&token, &["-T", "t.csv", &h.url("/inbox/t.csv")]);
    let text = String::from_utf8_lossy(&put.stdout);
    assert!(text.ends_with("\n201"), "{text}");
    assert!(text.contains(&sha256_hex(b"id\n1\n")), "{text}");
    let sent = with(&token, &[&h.url("/receipts/sent.csv")]);
    assert!(String::from_utf8_lossy(&sent.stdout).contains("t.csv,"));

    for _ in 0..3 {
        let wrong = with("ferry_not-a-token", &[&h.url("/outbox/")]);
        assert!(String::from_utf8_lossy(&wrong.stdout).ends_with("\n401"));
    }
    let banned = with(&token, &[&h.url("/outbox/")]);
    let text = String::from_utf8_lossy(&banned.stdout);
    assert!(text.ends_with("\n403"), "{text}");
}
