//! The admin HTTP API and `/metrics`, driven with `curl`: tokens and their
//! reach, tenant isolation (another tenant is a 404, and the attempt is
//! journaled), bad bodies, and the checked-in OpenAPI document. Live
//! sessions are in `sessions.rs`, changes to the configuration through the
//! API in `changes.rs`.

mod changes;
mod plugins;
mod proofs;
mod sessions;

use std::process::Command;

use crate::util::{Env, SECRET_HASH, Server, eventually, free_port};

const OPERATOR: &str = "operator-token-0123456789abcdef";
const ACME: &str = "acme-token-0123456789abcdef";
const GLOBEX: &str = "globex-token-0123456789abcdef";

/// Two tenants with a partner `alice` each, tokens for the operator and
/// for each tenant, the admin API on a free port.
struct Admin {
    env: Env,
    port: u16,
    ftp_port: u16,
    sftp_port: u16,
    _server: Option<Server>,
}

impl Admin {
    fn start() -> Admin {
        let env = Env::new();
        let port = free_port();
        for (name, token) in [("operator", OPERATOR), ("acme", ACME), ("globex", GLOBEX)] {
            std::fs::write(
                env.path().join(format!("{name}.token")),
                format!("{token}\n"),
            )
            .unwrap();
        }
        let tenant = |name: &str| {
            format!(
                "[tenants.{name}]\napi_token_file = \"{name}.token\"\n\
                 [tenants.{name}.partners.alice]\nroutes = [{{ to = \"bob\" }}]\nmax_sessions = 1\n\
                 [[tenants.{name}.partners.alice.accounts]]\nlogin = \"alice\"\npassword_hash = \"{SECRET_HASH}\"\n\
                 [tenants.{name}.partners.bob]\n\
                 [tenants.{name}.partners.carol]\nallow_from = [\"192.0.2.0/24\", \"2001:db8::1\"]\n\
                 [[tenants.{name}.partners.carol.accounts]]\nlogin = \"carol\"\npassword_hash = \"{SECRET_HASH}\"\n"
            )
        };
        // One FTP and one SFTP listener for both tenants: logins name
        // theirs, `alice@acme`.
        let (ftp_port, sftp_port) = (free_port(), free_port());
        env.write_config(&format!(
            "[server]\ndata_dir = \"data\"\n\n[admin]\naddress = \"127.0.0.1:{port}\"\ntoken_file = \"operator.token\"\n\n\
             [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\n\n\
             [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp_port}\"\n\n{}\n{}",
            tenant("acme"),
            tenant("globex")
        ));
        let server = env.serve();
        Admin {
            env,
            port,
            ftp_port,
            sftp_port,
            _server: Some(server),
        }
    }

    /// `curl` with `token` (or none); returns the status and the body.
    fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ]);
        if let Some(token) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {token}")]);
        }
        if body.is_some() {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ]);
            cmd.stdin(std::process::Stdio::piped());
        }
        cmd.arg(format!("http://127.0.0.1:{}{path}", self.port));
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("curl");
        if let Some(body) = body {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(body.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.parse().unwrap(), body.to_owned())
    }

    fn json(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let (status, text) = self.call(Some(token), method, path, body);
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, value)
    }

    fn put(&self, tenant: &str, name: &str, content: &[u8]) {
        self.env
            .ferry()
            .args([
                "put", "-", "--tenant", tenant, "--as", "alice", "--name", name,
            ])
            .stdin(content.to_vec())
            .ok();
    }
}

#[test]
fn tokens_reach_their_tenant_and_nothing_else() {
    let admin = Admin::start();
    admin.put("acme", "acme-orders.csv", b"a\n");
    admin.put("globex", "globex-orders.csv", b"g\n");

    let (status, body) = admin.call(None, "GET", "/api/v1/tenants", None);
    assert_eq!(status, 401, "{body}");
    let (status, body) = admin.call(Some("not-a-token"), "GET", "/api/v1/tenants", None);
    assert_eq!(status, 401, "{body}");

    let (status, all) = admin.json(OPERATOR, "GET", "/api/v1/tenants", None);
    assert_eq!(status, 200);
    assert_eq!(all["tenants"].as_array().unwrap().len(), 2, "{all}");
    let (_, own) = admin.json(ACME, "GET", "/api/v1/tenants", None);
    assert_eq!(
        own["tenants"],
        serde_json::json!([{ "name": "acme", "partners": 3 }])
    );

    // Another tenant, by name or by message id, is not there for acme.
    let (status, body) = admin.json(ACME, "GET", "/api/v1/tenants/globex", None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "no tenant `globex`");
    let (status, missing) = admin.json(ACME, "GET", "/api/v1/tenants/nosuch", None);
    assert_eq!(
        (status, &missing["error"]),
        (404, &serde_json::json!("no tenant `nosuch`"))
    );
    let (_, globex) = admin.json(
        GLOBEX,
        "GET",
        "/api/v1/tenants/globex/messages?direction=in",
        None,
    );
    let globex_id = globex["messages"][0]["id"].as_i64().unwrap();
    assert_eq!(globex["messages"][0]["name"], "globex-orders.csv");
    let (status, _) = admin.json(
        ACME,
        "GET",
        &format!("/api/v1/tenants/acme/messages/{globex_id}"),
        None,
    );
    assert_eq!(status, 404, "globex's message through acme's tenant path");
    let (status, _) = admin.json(ACME, "POST", "/api/v1/tenants/globex/verify", None);
    assert_eq!(status, 404);
    let (status, _) = admin.json(
        ACME,
        "POST",
        "/api/v1/tenants/globex/partners/alice/resend",
        Some(r#"{"file":"x"}"#),
    );
    assert_eq!(status, 404);

    // acme's own view: its message only, with its events.
    let (_, acme) = admin.json(
        ACME,
        "GET",
        "/api/v1/tenants/acme/messages?direction=in",
        None,
    );
    let messages = acme["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{acme}");
    assert_eq!(messages[0]["name"], "acme-orders.csv");
    let id = messages[0]["id"].as_i64().unwrap();
    let (status, one) = admin.json(
        ACME,
        "GET",
        &format!("/api/v1/tenants/acme/messages/{id}"),
        None,
    );
    assert_eq!(status, 200);
    assert!(
        one["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "received"),
        "{one}"
    );
    let (_, verified) = admin.json(ACME, "POST", "/api/v1/tenants/acme/verify", None);
    assert_eq!(verified["ok"], true, "{verified}");

    // Every refused attempt is in acme's journal, none in globex's.
    let refused = |tenant: &str| {
        admin.env.count(&format!(
            "SELECT COUNT(*) FROM events WHERE tenant = '{tenant}' AND kind = 'access-refused'"
        ))
    };
    // Journaled off the request's thread: awaited, then counted exactly.
    eventually("the refused attempts journaled", || refused("acme") >= 4);
    assert_eq!(refused("acme"), 4, "globex twice, nosuch, globex's resend");
    assert_eq!(refused("globex"), 0);

    // Server-wide operations are the operator's.
    let (status, _) = admin.json(ACME, "POST", "/api/v1/reload", None);
    assert_eq!(status, 403);
    let (status, reloaded) = admin.json(OPERATOR, "POST", "/api/v1/reload", None);
    assert_eq!(status, 200, "{reloaded}");
}

#[test]
fn bad_requests_get_a_400_with_the_reason() {
    let admin = Admin::start();
    admin.put("acme", "report.csv", b"r\n");
    let resend = "/api/v1/tenants/acme/partners/bob/resend";
    for (body, says) in [
        (
            "{not json",
            "not the JSON this route takes: key must be a string",
        ),
        (
            r#"{"file": "report.csv", "extra": 1}"#,
            "unknown field `extra`",
        ),
        (r#"{}"#, "missing field `file`"),
        (r#"{"file": 7}"#, "invalid type"),
    ] {
        let (status, reply) = admin.json(ACME, "POST", resend, Some(body));
        assert_eq!(status, 400, "{body}: {reply}");
        let error = reply["error"].as_str().unwrap();
        assert!(error.contains(says), "{body}: {error}");
    }
    let big = format!(r#"{{"file": "{}"}}"#, "x".repeat(100 * 1024));
    let (status, reply) = admin.json(ACME, "POST", resend, Some(&big));
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("at most"),
        "{reply}"
    );
    let (status, reply) = admin.json(
        ACME,
        "GET",
        "/api/v1/tenants/acme/messages?direction=sideways",
        None,
    );
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = admin.json(
        ACME,
        "GET",
        "/api/v1/tenants/acme/messages?colour=red",
        None,
    );
    assert_eq!(status, 400, "{reply}");
    // A resend that names nothing is a 404; one that names the file works.
    eventually("report.csv delivered to bob", || {
        admin
            .env
            .names("bob", "/outbox")
            .contains(&"report.csv".to_owned())
    });
    let (status, _) = admin.json(ACME, "POST", resend, Some(r#"{"file": "never-sent.csv"}"#));
    assert_eq!(status, 404);
    let (status, entry) = admin.json(ACME, "POST", resend, Some(r#"{"file": "report.csv"}"#));
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["name"], "report.csv");
    // As README shows it: `curl -d`, which says the body is a form.
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body", "--max-time", "20", "-X", "POST"])
        .args(["-H", &format!("Authorization: Bearer {ACME}")])
        .args(["-d", r#"{"file": "report.csv"}"#])
        .arg(format!("http://127.0.0.1:{}{resend}", admin.port))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `/metrics` as Prometheus's reference parser (Python's prometheus_client)
/// reads it: every sample, or a panic with the parser's complaint.
fn parse_metrics(text: &str) -> Vec<serde_json::Value> {
    use std::io::Write;
    let mut child = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/admin/parse_metrics.py"
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client is needed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "/metrics does not parse: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn metrics_are_labelled_by_tenant_and_scoped_by_token() {
    let admin = Admin::start();
    // alice of acme uploads 5 bytes over the shared FTP listener.
    std::fs::write(admin.env.path().join("a.csv"), b"1,2\n\n").unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-T", "a.csv"])
        .arg(format!(
            "ftp://alice%40acme:alice-pass@127.0.0.1:{}/inbox/a.csv",
            admin.ftp_port
        ))
        .current_dir(admin.env.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, text) = admin.call(Some(OPERATOR), "GET", "/metrics", None);
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("# TYPE ferry_bytes_in_total counter"),
        "{text}"
    );
    assert!(
        text.contains("ferry_bytes_in_total{tenant=\"acme\",protocol=\"ftp\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("ferry_files_in_total{tenant=\"acme\",protocol=\"ftp\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE ferry_pipeline_tasks gauge"), "{text}");
    // The reference parser reads all of it, and finds the same numbers.
    let samples = parse_metrics(&text);
    let value = |name: &str, tenant: &str| {
        samples
            .iter()
            .find(|s| s["name"] == name && s["labels"]["tenant"] == tenant)
            .and_then(|s| s["value"].as_f64())
    };
    assert_eq!(
        value("ferry_bytes_in_total", "acme"),
        Some(5.0),
        "{samples:?}"
    );
    assert_eq!(value("ferry_files_in_total", "acme"), Some(1.0));
    assert!(
        samples
            .iter()
            .any(|s| s["family"] == "ferry_bytes_in" && s["type"] == "counter"),
        "{samples:?}"
    );
    let (status, text) = admin.call(Some(GLOBEX), "GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(
        !text.contains("tenant=\"acme\"") && text.contains("# TYPE ferry_bytes_in_total counter"),
        "globex sees the metrics, and no acme series: {text}"
    );
    let (status, _) = admin.call(None, "GET", "/metrics", None);
    assert_eq!(status, 401);
}

#[test]
fn the_openapi_document_is_served_and_names_every_route() {
    let admin = Admin::start();
    let (status, served) = admin.call(None, "GET", "/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/admin/openapi.json"
    ))
    .unwrap();
    assert_eq!(served, checked_in);
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    let routes =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/admin/routes.rs"))
            .unwrap();
    // Every `.route("PATH", ...)` of the router is documented.
    let mut documented = 0;
    for path in routes
        .split(".route(")
        .skip(1)
        .filter_map(|r| r.trim_start().strip_prefix('"')?.split('"').next())
    {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is not in openapi.json"
        );
        documented += 1;
    }
    assert!(documented >= 10, "found {documented} routes");
    let (status, reply) = admin.json(OPERATOR, "GET", "/api/v1/nothing-here", None);
    assert_eq!(status, 404, "{reply}");
}

/// A raw FTP control connection, logged in as `login`; returns the reader
/// and the reply to PASS.
fn ftp_login(port: u16, login: &str) -> (std::io::BufReader<std::net::TcpStream>, String) {
    ftp_login_with(port, login, "alice-pass")
}

fn ftp_login_with(
    port: u16,
    login: &str,
    password: &str,
) -> (std::io::BufReader<std::net::TcpStream>, String) {
    use std::io::{BufRead, Write};
    let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let mut line = String::new();
    let mut reply = |reader: &mut std::io::BufReader<std::net::TcpStream>| {
        line.clear();
        reader.read_line(&mut line).unwrap();
        line.clone()
    };
    assert!(reply(&mut reader).starts_with("220"));
    writer
        .write_all(format!("USER {login}\r\nPASS {password}\r\n").as_bytes())
        .unwrap();
    assert!(reply(&mut reader).starts_with("331"));
    let pass = reply(&mut reader);
    (reader, pass)
}

/// A tenant's token is rotated by writing a new one and reloading: the old
/// one stops working at once, the new one works, no restart.
#[test]
fn tokens_rotate_on_reload() {
    let admin = Admin::start();
    let rotated = "acme-rotated-0123456789abcdef";
    std::fs::write(admin.env.path().join("acme.token"), rotated).unwrap();
    let (status, reply) = admin.json(OPERATOR, "POST", "/api/v1/reload", None);
    assert_eq!(status, 200, "{reply}");
    let (status, _) = admin.call(Some(ACME), "GET", "/api/v1/tenants/acme", None);
    assert_eq!(status, 401, "the old token is gone");
    let (status, body) = admin.json(rotated, "GET", "/api/v1/tenants/acme", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "acme");
}

/// Plugin versions through the API: the watcher activates a new file, a
/// rollback pins the version before it and applies at once (the next file
/// is judged by it), activating the file's own version ends the pin; a
/// version that never served is a 409, a bad role a 400, and another
/// tenant's token reaches nothing.
#[test]
fn plugin_versions_are_listed_activated_and_rolled_back() {
    let env = Env::new();
    let port = free_port();
    for (name, token) in [("operator", OPERATOR), ("acme", ACME), ("globex", GLOBEX)] {
        std::fs::write(env.path().join(format!("{name}.token")), token).unwrap();
    }
    let wasm = crate::plugins::wasm;
    let validator = env.path().join("validator.wasm");
    std::fs::copy(wasm("json_schema_validator"), &validator).unwrap();
    env.write_config(&format!(
        "[server]\ndata_dir = \"data\"\n\n[admin]\naddress = \"127.0.0.1:{port}\"\ntoken_file = \"operator.token\"\n\n\
         [tenants.acme]\napi_token_file = \"acme.token\"\n\
         [tenants.acme.partners.alice]\nvalidator = \"validator.wasm\"\nroutes = [{{ to = \"bob\" }}]\n\
         [tenants.acme.partners.bob]\n\
         [tenants.globex]\napi_token_file = \"globex.token\"\n[tenants.globex.partners.carol]\n"
    ));
    let mut server = env.serve();
    let admin = Admin {
        env,
        port,
        ftp_port: 0,
        sftp_port: 0,
        _server: None,
    };
    let sha = |name: &str| crate::util::sha256_hex(&std::fs::read(wasm(name)).unwrap());
    let (json_sha, sequence_sha) = (sha("json_schema_validator"), sha("sequence_validator"));
    let path = "/api/v1/tenants/acme/partners/alice/plugins/validator";

    // The first verdict loads the plugin; then a new file replaces it.
    admin.put("acme", "a.json", b"{{{");
    eventually("the JSON validator's rejection", || {
        admin
            .env
            .names("alice", "/outbox")
            .contains(&"a.json.rejected".to_owned())
    });
    let tmp = admin.env.path().join("validator.tmp");
    std::fs::copy(wasm("sequence_validator"), &tmp).unwrap();
    std::fs::rename(&tmp, &validator).unwrap();
    server.wait_for("plugin version activated");

    let (status, versions) = admin.json(ACME, "GET", path, None);
    assert_eq!(status, 200, "{versions}");
    let activated: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["status"] == "activated")
        .map(|v| v["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(
        activated,
        [json_sha.as_str(), sequence_sha.as_str()],
        "{versions}"
    );
    assert!(versions["pinned"].is_null());

    // Roll back: the JSON validator judges the next file at once.
    let (status, rolled) = admin.json(ACME, "POST", &format!("{path}/rollback"), None);
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["from"], sequence_sha.as_str());
    assert_eq!(rolled["to"], json_sha.as_str());
    assert_eq!(rolled["pinned"], true);
    admin.put("acme", "b.json", b"{{{");
    eventually("the rolled-back version's rejection", || {
        admin
            .env
            .names("alice", "/outbox")
            .contains(&"b.json.rejected".to_owned())
    });
    let (_, versions) = admin.json(OPERATOR, "GET", path, None);
    assert_eq!(versions["pinned"], json_sha.as_str(), "{versions}");

    // Back to the file's own version: the pin ends.
    let body = format!("{{\"sha256\": \"{sequence_sha}\"}}");
    let (status, back) = admin.json(ACME, "POST", &format!("{path}/activate"), Some(&body));
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["to"], sequence_sha.as_str());
    assert_eq!(back["pinned"], false);
    admin.put("acme", "c.json", b"{{{");
    eventually("the file's version accepting it", || {
        admin
            .env
            .names("bob", "/outbox")
            .contains(&"c.json".to_owned())
    });

    // A replay of the JSON validator on alice's three files: it judged the
    // first two, and would reject the third, which the file's version took.
    let replay = format!("{{\"sha256\": \"{json_sha}\"}}");
    let (status, report) = admin.json(ACME, "POST", &format!("{path}/replay"), Some(&replay));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["compared"], 3, "{report}");
    assert_eq!(report["differ"], 1, "{report}");
    let changed: Vec<&serde_json::Value> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["same"] == false)
        .collect();
    assert_eq!(changed.len(), 1, "{report}");
    assert_eq!(changed[0]["name"], "c.json", "{report}");
    assert_eq!(changed[0]["recorded"]["verdict"], "accept", "{report}");
    assert_eq!(changed[0]["candidate"]["verdict"], "reject", "{report}");
    // Nothing changed: the file's version still serves.
    let (_, versions) = admin.json(ACME, "GET", path, None);
    assert!(versions["pinned"].is_null(), "{versions}");
    let (status, _) = admin.json(GLOBEX, "POST", &format!("{path}/replay"), Some(&replay));
    assert_eq!(status, 404, "globex cannot replay acme's plugin");
    // The console's plugin page shows the same report.
    let base = format!("http://127.0.0.1:{port}");
    let console = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-b", "jar", "-c", "jar"])
            .args(args)
            .current_dir(admin.env.path())
            .output()
            .expect("curl is needed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    console(&[
        "-H",
        &format!("Origin: {base}"),
        "-d",
        &format!("token={ACME}"),
        &format!("{base}/ui/login"),
    ]);
    let page = console(&[&format!(
        "{base}/ui/t/acme/partners/alice/plugins/validator?replay={json_sha}"
    )]);
    assert!(
        page.contains("3 files decided again: 1 would change."),
        "{page}"
    );
    assert!(page.contains("<td>c.json</td>"), "{page}");

    let never = format!("{{\"sha256\": \"{}\"}}", "0".repeat(64));
    let (status, error) = admin.json(ACME, "POST", &format!("{path}/replay"), Some(&never));
    assert_eq!(status, 409, "{error}");
    let (status, error) = admin.json(ACME, "POST", &format!("{path}/activate"), Some(&never));
    assert_eq!(status, 409, "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("never served"),
        "{error}"
    );
    let (status, _) = admin.json(
        ACME,
        "GET",
        "/api/v1/tenants/acme/partners/alice/plugins/linter",
        None,
    );
    assert_eq!(status, 400);
    let (status, _) = admin.json(
        ACME,
        "GET",
        "/api/v1/tenants/acme/partners/bob/plugins/validator",
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = admin.json(GLOBEX, "POST", &format!("{path}/rollback"), None);
    assert_eq!(
        status, 404,
        "another tenant's plugin is not there for globex"
    );
    drop(server);
}
