//! The quickstart as a partner lives it, on `examples/quickstart/ferry.toml`
//! itself (its ports swapped for free ones, its data in a scratch
//! directory): alice over OpenSSH `sftp`, bob over `curl` FTP, and back;
//! the same over HTTPS.

use std::process::{Command, Output};

use crate::plugins::wasm;
use crate::util::{Env, Server, eventually, free_port, sftp_batch, sha256_hex};

struct Quickstart {
    env: Env,
    sftp_port: u16,
    ftp_port: u16,
    https_port: u16,
    admin_port: u16,
    key: std::path::PathBuf,
}

impl Quickstart {
    fn new() -> Quickstart {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/quickstart/ferry.toml"
        ))
        .unwrap();
        let (sftp_port, ftp_port, ftps_port) = (free_port(), free_port(), free_port());
        let (admin_port, https_port) = (free_port(), free_port());
        let env = Env::new();
        for token in ["operator.token", "acme.token"] {
            std::fs::copy(
                concat!(env!("CARGO_MANIFEST_DIR"), "/examples/quickstart/").to_owned() + token,
                env.path().join(token),
            )
            .unwrap();
        }
        let key = env.path().join("client_key");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&key)
            .status()
            .expect("ssh-keygen is needed");
        assert!(made.success());
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        // The example plugins, wherever the build put them.
        let plugins = wasm("json_schema_validator").parent().unwrap().to_owned();
        // The test logs in with a key as well as the password, since
        // OpenSSH's sftp in batch mode cannot type one.
        let mut config = text
            .replace("127.0.0.1:2222", &format!("127.0.0.1:{sftp_port}"))
            .replace("127.0.0.1:2121", &format!("127.0.0.1:{ftp_port}"))
            .replace("127.0.0.1:9990", &format!("127.0.0.1:{ftps_port}"))
            .replace("127.0.0.1:8080", &format!("127.0.0.1:{admin_port}"))
            .replace("127.0.0.1:8443", &format!("127.0.0.1:{https_port}"))
            .replace("passive_ports = \"50000-50099\"\n", "")
            .replace("\"../../data/quickstart\"", "\"data\"")
            .replace(
                "\"../../target/wasm/wasm32-wasip2/release/",
                &format!("\"{}/", plugins.display()),
            );
        for login in ["alice", "bob"] {
            config = config.replace(
                &format!("login = \"{login}\"\n"),
                &format!("login = \"{login}\"\nssh_keys = [\"{}\"]\n", public.trim()),
            );
        }
        assert!(
            !config.contains("2222")
                && !config.contains("8080")
                && !config.contains("8443")
                && !config.contains("../../"),
            "{config}"
        );
        env.write_config(&config);
        Quickstart {
            env,
            sftp_port,
            ftp_port,
            https_port,
            admin_port,
            key,
        }
    }

    fn sftp(&self, user: &str, commands: &str) -> Output {
        sftp_batch(
            self.sftp_port,
            &self.key,
            user,
            self.env.path(),
            commands,
            &[],
        )
    }

    fn sftp_ok(&self, user: &str, commands: &str) -> String {
        let out = self.sftp(user, commands);
        assert!(
            out.status.success(),
            "sftp {commands:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// curl on the FTP listener as `user` (password USER-pass).
    fn curl(&self, user: &str, args: &[&str], path: &str) -> Output {
        Command::new("curl")
            .args(["-sS", "--max-time", "60"])
            .args(args)
            .arg(format!(
                "ftp://{user}:{user}-pass@127.0.0.1:{}{path}",
                self.ftp_port
            ))
            .current_dir(self.env.path())
            .output()
            .expect("curl is needed")
    }

    /// curl on the HTTPS listener as the README writes it: `-k -u
    /// USER:USER-pass`, failing on an error status.
    fn https_ok(&self, user: &str, args: &[&str], path: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "60", "--fail-with-body", "-k"])
            .args(["-u", &format!("{user}:{user}-pass")])
            .args(args)
            .arg(format!("https://127.0.0.1:{}{path}", self.https_port))
            .current_dir(self.env.path())
            .output()
            .expect("curl is needed");
        assert!(
            out.status.success(),
            "curl {args:?} {path}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        out.stdout
    }

    fn curl_ok(&self, user: &str, args: &[&str], path: &str) -> String {
        let out = self.curl(user, args, path);
        assert!(
            out.status.success(),
            "curl {args:?} {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn serve(&self) -> Server {
        self.env.serve()
    }

    /// The quickstart's example token `name` (`operator`, `acme`).
    fn token(&self, name: &str) -> String {
        std::fs::read_to_string(self.env.path().join(format!("{name}.token")))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.env.path().join(name)).unwrap()
    }
}

/// The quickstart scenario end to end: delivery both ways, receipts,
/// a rejected JSON file with its reason, the two lists, a resend.
#[test]
fn the_quickstart_scenario() {
    let q = Quickstart::new();
    let _server = q.serve();
    let dir = q.env.path();
    std::fs::write(dir.join("orders.csv"), "id,amount\n1,100\n").unwrap();
    std::fs::write(dir.join("reply.txt"), "thanks\n").unwrap();
    std::fs::write(dir.join("broken.json"), "{\"id\": ").unwrap();
    std::fs::write(dir.join("empty"), "").unwrap();

    // alice → bob: SFTP up, FTP down, same bytes; then alice's receipt.
    q.sftp_ok("alice", "put orders.csv /inbox/orders.csv\n");
    eventually("orders.csv in bob's outbox", || {
        q.env.names("bob", "/outbox") == ["orders.csv"]
    });
    q.curl_ok("bob", &["-o", "from-alice.csv"], "/outbox/orders.csv");
    assert_eq!(q.read("from-alice.csv"), q.read("orders.csv"));
    eventually("alice's receipt", || {
        q.env.names("alice", "/outbox") == ["orders.csv.received"]
    });
    let listing = q.sftp_ok("alice", "ls -1 /outbox\n");
    assert!(listing.contains("orders.csv.received"), "{listing}");

    // bob → alice: FTP up, SFTP down.
    q.curl_ok("bob", &["-T", "reply.txt"], "/inbox/reply.txt");
    eventually("reply.txt in alice's outbox", || {
        q.env
            .names("alice", "/outbox")
            .contains(&"reply.txt".to_owned())
    });
    q.sftp_ok("alice", "get /outbox/reply.txt got-reply.txt\n");
    assert_eq!(q.read("got-reply.txt"), q.read("reply.txt"));

    // alice → bob over HTTPS, as README shows it.
    std::fs::write(dir.join("f"), "over https\n").unwrap();
    q.https_ok("alice", &["-T", "f"], "/inbox/f");
    eventually("f in bob's outbox", || {
        q.env.names("bob", "/outbox").contains(&"f".to_owned())
    });
    assert_eq!(q.https_ok("bob", &[], "/outbox/f"), b"over https\n");

    // A broken JSON file is not delivered; alice gets the reason.
    q.sftp_ok("alice", "put broken.json /inbox/broken.json\n");
    eventually("the rejection", || {
        q.env
            .names("alice", "/outbox")
            .contains(&"broken.json.rejected".to_owned())
    });
    q.sftp_ok("alice", "get /outbox/broken.json.rejected rejected.txt\n");
    let why = String::from_utf8(q.read("rejected.txt")).unwrap();
    assert!(why.to_lowercase().contains("json"), "{why}");
    assert!(
        !q.env
            .names("bob", "/outbox")
            .contains(&"broken.json".to_owned())
    );

    // The lists.
    q.sftp_ok("alice", "get /receipts/sent.csv sent.csv\n");
    let sent = String::from_utf8(q.read("sent.csv")).unwrap();
    let orders = sent.lines().find(|l| l.starts_with("orders.csv,")).unwrap();
    assert!(
        orders.contains(&sha256_hex(b"id,amount\n1,100\n")) && orders.ends_with(",bob"),
        "{sent}"
    );
    let broken = sent
        .lines()
        .find(|l| l.starts_with("broken.json,"))
        .unwrap();
    assert!(broken.contains(",rejected,"), "{sent}");
    let received = q.curl_ok("bob", &[], "/receipts/received.csv");
    let orders = received
        .lines()
        .find(|l| l.starts_with("orders.csv,"))
        .unwrap();
    assert!(orders.contains(",yes,"), "{received}");

    // bob deletes the file and asks for it again.
    q.curl_ok("bob", &["-Q", "DELE /outbox/orders.csv"], "/outbox/");
    assert!(
        !q.env
            .names("bob", "/outbox")
            .contains(&"orders.csv".to_owned())
    );
    q.curl_ok("bob", &["-T", "empty"], "/resend/orders.csv");
    q.curl_ok("bob", &["-o", "again.csv"], "/outbox/orders.csv");
    assert_eq!(q.read("again.csv"), q.read("orders.csv"));

    // The operator and acme look at it through the admin API, as README shows.
    let api = |token: &str, path: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--max-time", "20", "-H"])
            .arg(format!("Authorization: Bearer {}", q.token(token)))
            .arg(format!("http://127.0.0.1:{}{path}", q.admin_port))
            .output()
            .expect("curl is needed");
        assert!(
            out.status.success(),
            "{path}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let tenants: serde_json::Value =
        serde_json::from_str(&api("operator", "/api/v1/tenants")).unwrap();
    assert_eq!(tenants["tenants"][0]["name"], "acme", "{tenants}");
    let sent: serde_json::Value = serde_json::from_str(&api(
        "acme",
        "/api/v1/tenants/acme/messages?partner=alice&direction=in",
    ))
    .unwrap();
    let names: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"orders.csv") && names.contains(&"broken.json"),
        "{sent}"
    );
    let metrics = api("operator", "/metrics");
    assert!(
        metrics.contains("ferry_files_in_total{tenant=\"acme\",protocol=\"sftp\"} 2"),
        "{metrics}"
    );

    q.env.ferry().args(["journal", "verify"]).ok();
}

/// kill -9 between an upload and its download: after the restart nothing
/// is lost, nothing is delivered twice, and the receipt comes exactly once.
#[test]
fn a_restart_between_upload_and_download_loses_and_repeats_nothing() {
    let q = Quickstart::new();
    let server = q.serve();
    std::fs::write(q.env.path().join("a.csv"), "x,y\n1,2\n").unwrap();
    q.sftp_ok("alice", "put a.csv /inbox/a.csv\n");
    eventually("a.csv in bob's outbox", || {
        q.env.names("bob", "/outbox") == ["a.csv"]
    });
    drop(server); // kill -9

    let _server = q.serve();
    q.curl_ok("bob", &["-o", "got.csv"], "/outbox/a.csv");
    assert_eq!(q.read("got.csv"), q.read("a.csv"));
    eventually("alice's receipt", || {
        q.env.names("alice", "/outbox") == ["a.csv.received"]
    });
    let count = |sql: &str| q.env.count(sql);
    assert_eq!(
        count("SELECT COUNT(*) FROM events WHERE kind = 'delivered'"),
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM events WHERE kind = 'downloaded'"),
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM messages WHERE name = 'a.csv.received'"),
        1
    );
    assert_eq!(count("SELECT COUNT(*) FROM tasks WHERE state != 'done'"), 0);
    q.env.ferry().args(["journal", "verify"]).ok();
}
