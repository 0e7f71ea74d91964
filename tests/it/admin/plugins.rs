//! Plugins deployed through the admin API (and `ferry plugin upload` and
//! `activate`, which call it): a component uploaded, checked, replayed and
//! kept without serving, then activated.

use super::*;

/// `curl -X PUT --data-binary @FILE` of a component; the status and the answer.
fn upload(
    admin: &Admin,
    token: &str,
    path: &str,
    file: &std::path::Path,
) -> (u16, serde_json::Value) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "60",
            "-X",
            "PUT",
            "-w",
            "\n%{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["-H", "Content-Type: application/wasm"])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("http://127.0.0.1:{}{path}", admin.port))
        .output()
        .expect("curl is needed");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    let value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status.parse().unwrap(), value)
}

/// A tenant's integrator uploads a new validator: the answer names its
/// SHA-256 and how it would have judged alice's last files, and it does
/// not serve; activated, it judges the next file. Not a component, or
/// larger than the tenant's `max_plugin_size`, it is refused with the
/// reason, and another tenant's token reaches nothing.
#[test]
fn a_plugin_uploaded_through_the_api_serves_once_activated() {
    let env = Env::new();
    let port = free_port();
    for (name, token) in [("operator", OPERATOR), ("acme", ACME), ("globex", GLOBEX)] {
        std::fs::write(env.path().join(format!("{name}.token")), token).unwrap();
    }
    let wasm = crate::plugins::wasm;
    std::fs::copy(
        wasm("json_schema_validator"),
        env.path().join("validator.wasm"),
    )
    .unwrap();
    env.write_config(&format!(
        "[server]\ndata_dir = \"data\"\n\n[admin]\naddress = \"127.0.0.1:{port}\"\ntoken_file = \"operator.token\"\n\n\
         [tenants.acme]\napi_token_file = \"acme.token\"\n\
         [tenants.acme.partners.alice]\nvalidator = \"validator.wasm\"\nroutes = [{{ to = \"bob\" }}]\n\
         [tenants.acme.partners.bob]\n\
         [tenants.globex]\napi_token_file = \"globex.token\"\nmax_plugin_size = \"64KiB\"\n\
         [tenants.globex.partners.carol]\nvalidator = \"validator.wasm\"\n"
    ));
    let _server = env.serve();
    let admin = Admin {
        env,
        port,
        ftp_port: 0,
        sftp_port: 0,
        _server: None,
    };
    let path = "/api/v1/tenants/acme/partners/alice/plugins/validator";
    let rejected = |name: &str| {
        let wanted = format!("{name}.rejected");
        eventually(&format!("{name} rejected"), || {
            admin.env.names("alice", "/outbox").contains(&wanted)
        });
    };
    admin.put("acme", "a.json", b"{{{");
    rejected("a.json");

    let candidate = wasm("sequence_validator");
    let sequence_sha = crate::util::sha256_hex(&std::fs::read(&candidate).unwrap());
    let (status, uploaded) = upload(&admin, ACME, path, &candidate);
    assert_eq!(status, 201, "{uploaded}");
    assert_eq!(uploaded["sha256"], sequence_sha.as_str());
    assert_eq!(uploaded["active"], false);
    assert_eq!(uploaded["replay"]["compared"], 1, "{uploaded}");
    assert_eq!(
        uploaded["replay"]["differ"], 1,
        "it would have taken a.json: {uploaded}"
    );

    // Kept, not serving: the JSON validator still judges.
    admin.put("acme", "b.json", b"{{{");
    rejected("b.json");
    let (_, versions) = admin.json(ACME, "GET", path, None);
    let upload_event = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["status"] == "uploaded")
        .cloned()
        .unwrap_or_else(|| panic!("no upload in {versions}"));
    assert_eq!(upload_event["sha256"], sequence_sha.as_str());
    assert_eq!(upload_event["by"], "tenant acme");

    // Activated from the command line, with the tenant's own token.
    let slot = [
        "--tenant",
        "acme",
        "--partner",
        "alice",
        "--role",
        "validator",
        "--token-file",
        "acme.token",
    ];
    let activated = admin
        .env
        .ferry()
        .args(["plugin", "activate", &sequence_sha])
        .args(slot)
        .ok();
    assert!(
        activated.contains(&format!("\"to\": \"{sequence_sha}\"")),
        "{activated}"
    );
    let (_, versions) = admin.json(ACME, "GET", path, None);
    let requested = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["status"] == "requested")
        .cloned()
        .unwrap_or_else(|| panic!("no activation request in {versions}"));
    assert_eq!(requested["sha256"], sequence_sha.as_str(), "{versions}");
    assert_eq!(requested["by"], "tenant acme", "{versions}");
    admin.put("acme", "c.json", b"{{{");
    eventually("the uploaded version accepting c.json", || {
        admin
            .env
            .names("bob", "/outbox")
            .contains(&"c.json".to_owned())
    });
    // A rollback brings back what served before it: the file's own version.
    let (status, rolled) = admin.json(ACME, "POST", &format!("{path}/rollback"), None);
    assert_eq!(status, 200, "{rolled}");
    assert_eq!(rolled["from"], sequence_sha.as_str(), "{rolled}");
    admin.put("acme", "d.json", b"{{{");
    rejected("d.json");

    // Refused with the reason.
    let junk = admin.env.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm but not a component").unwrap();
    let (status, refused) = upload(&admin, ACME, path, &junk);
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().starts_with("refused: "),
        "{refused}"
    );
    let said = admin
        .env
        .ferry()
        .args(["plugin", "upload", "junk.wasm"])
        .args(slot)
        .fails();
    assert!(said.contains("refused: ") && said.contains("422"), "{said}");
    let carol = "/api/v1/tenants/globex/partners/carol/plugins/validator";
    let (status, large) = upload(&admin, GLOBEX, carol, &candidate);
    assert_eq!(status, 413, "globex takes 64 KiB at most: {large}");
    let (status, _) = upload(&admin, GLOBEX, path, &candidate);
    assert_eq!(status, 404, "globex cannot upload for acme");
    let (status, _) = upload(
        &admin,
        ACME,
        "/api/v1/tenants/acme/partners/bob/plugins/validator",
        &candidate,
    );
    assert_eq!(status, 409, "bob has no validator slot");
}
