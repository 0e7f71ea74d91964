//! Changes to the configuration through the admin API: accounts and
//! tenants written into their files, reloads scoped to the caller's
//! tenant, tenants removed and purged.

use super::*;

/// Tenants as files in `tenants_dir`: one is added and removed (by a
/// reload through the API) while another tenant's partner uploads without
/// pause. Every one of those uploads succeeds; the removed tenant's
/// session is closed and its logins refused, and its data stays.
#[test]
fn tenants_come_and_go_while_another_transfers() {
    let env = Env::new();
    let (port, ftp_port) = (free_port(), free_port());
    std::fs::write(env.path().join("operator.token"), OPERATOR).unwrap();
    let tenants = env.path().join("tenants");
    std::fs::create_dir(&tenants).unwrap();
    let tenant_file = |routes_to: &str| {
        format!(
            "[partners.alice]\nroutes = [{{ to = \"{routes_to}\" }}]\n\
             [[partners.alice.accounts]]\nlogin = \"alice\"\npassword_hash = \"{SECRET_HASH}\"\n\
             [partners.bob]\n"
        )
    };
    std::fs::write(tenants.join("acme.toml"), tenant_file("bob")).unwrap();
    env.write_config(&format!(
        "[server]\ndata_dir = \"data\"\ntenants_dir = \"tenants\"\n\n\
         [admin]\naddress = \"127.0.0.1:{port}\"\ntoken_file = \"operator.token\"\n\n\
         [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\n"
    ));
    let server = env.serve();
    let admin = Admin {
        env,
        port,
        ftp_port,
        sftp_port: 0,
        _server: Some(server),
    };

    // acme's alice uploads, one file after another, until told to stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let uploader = {
        let (stop, dir) = (stop.clone(), admin.env.path().to_owned());
        std::thread::spawn(move || {
            std::fs::write(dir.join("load.bin"), vec![7u8; 256 << 10]).unwrap();
            let mut done = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || done < 10 {
                let out = Command::new("curl")
                    .args(["-sS", "--max-time", "20", "-T", "load.bin"])
                    .arg(format!(
                        "ftp://alice%40acme:alice-pass@127.0.0.1:{ftp_port}/inbox/load-{done}.bin"
                    ))
                    .current_dir(&dir)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "upload {done} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                done += 1;
            }
            done
        })
    };

    let reload = || {
        let (status, reply) = admin.json(OPERATOR, "POST", "/api/v1/reload", None);
        assert_eq!(status, 200, "{reply}");
    };
    std::fs::write(tenants.join("globex.toml"), tenant_file("bob")).unwrap();
    reload();
    let (_, list) = admin.json(OPERATOR, "GET", "/api/v1/tenants", None);
    assert_eq!(list["tenants"].as_array().unwrap().len(), 2, "{list}");
    let (mut globex, reply) = ftp_login(ftp_port, "alice@globex");
    assert!(
        reply.starts_with("230"),
        "the new tenant's partner logs in: {reply}"
    );

    std::fs::remove_file(tenants.join("globex.toml")).unwrap();
    reload();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut globex, &mut line).unwrap();
    assert!(
        line.starts_with("421"),
        "the removed tenant's session is closed: {line}"
    );
    let (_refused, reply) = ftp_login(ftp_port, "alice@globex");
    assert!(reply.starts_with("530"), "{reply}");
    let (status, _) = admin.json(OPERATOR, "GET", "/api/v1/tenants/globex", None);
    assert_eq!(status, 404);
    assert!(
        admin.env.tenant_root("globex").is_dir(),
        "the removed tenant's store stays"
    );

    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let uploads = uploader.join().expect("every upload of acme succeeded");
    assert_eq!(
        admin
            .env
            .count("SELECT COUNT(*) FROM messages WHERE tenant = 'acme' AND direction = 'in'"),
        uploads
    );
}

/// A tenant removed from the configuration keeps its data until the
/// operator purges it: then its journal records and its store are gone,
/// the other tenant's chain still verifies; a configured tenant, a tenant
/// token, a name with nothing kept and a path-like name are all refused.
#[test]
fn a_removed_tenant_is_purged_by_the_operator_only() {
    let admin = Admin::start();
    admin.put("globex", "g.csv", b"globex,1\n");
    admin.put("acme", "a.csv", b"acme,1\n");
    // Its pipeline done first: a task a worker still holds when the tenant
    // is purged would journal its end after the purge.
    eventually("globex's pipeline idle", || {
        admin
            .env
            .count("SELECT COUNT(*) FROM tasks WHERE tenant = 'globex' AND state = 'pending'")
            == 0
    });
    let store = admin.env.tenant_root("globex");
    assert!(store.is_dir());

    let (status, error) = admin.json(OPERATOR, "DELETE", "/api/v1/tenants/globex", None);
    assert_eq!(status, 409, "{error}");
    let config = std::fs::read_to_string(&admin.env.config).unwrap();
    let (kept, _) = config.split_once("[tenants.globex]").unwrap();
    admin.env.write_config(kept);
    let (status, body) = admin.json(OPERATOR, "POST", "/api/v1/reload", None);
    assert_eq!(status, 200, "{body}");
    // Removed, not purged: everything is still there.
    assert!(store.is_dir());
    assert!(
        admin
            .env
            .count("SELECT COUNT(*) FROM events WHERE tenant = 'globex'")
            > 0
    );

    let (status, _) = admin.call(Some(ACME), "DELETE", "/api/v1/tenants/globex", None);
    assert_eq!(status, 403);
    let (status, purged) = admin.json(OPERATOR, "DELETE", "/api/v1/tenants/globex", None);
    assert_eq!(status, 200, "{purged}");
    assert!(purged["journal_rows"].as_u64().unwrap() > 0, "{purged}");
    assert_eq!(purged["store_removed"], true);
    assert!(!store.exists());
    for table in ["messages", "events", "chain_heads", "tasks", "mailbox"] {
        assert_eq!(
            admin.env.count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE tenant = 'globex'"
            )),
            0,
            "{table}"
        );
    }
    assert!(
        admin
            .env
            .count("SELECT COUNT(*) FROM events WHERE tenant = 'acme'")
            > 0
    );
    let (status, report) = admin.json(ACME, "POST", "/api/v1/tenants/acme/verify", None);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");

    let (status, _) = admin.json(OPERATOR, "DELETE", "/api/v1/tenants/globex", None);
    assert_eq!(status, 404, "nothing is left to purge");
    let (status, _) = admin.json(OPERATOR, "DELETE", "/api/v1/tenants/..%2F..%2Fetc", None);
    assert_eq!(status, 404);
    assert!(admin.env.data().join("tenants").join("acme").is_dir());
}

/// Accounts changed through the API: written into the tenant's file (a
/// hash, never the password), in force at once, and a change the
/// configuration refuses (a login another partner has, a bad key) is
/// undone with a 422 and the problem.
#[test]
fn accounts_are_added_changed_and_removed_through_the_api() {
    let admin = Admin::start();
    let config = admin.env.config.clone();
    let account = |partner: &str, login: &str| {
        format!("/api/v1/tenants/acme/partners/{partner}/accounts/{login}")
    };

    // A new login for bob.
    let body = r#"{"password": "bob-new-pass-1"}"#;
    let (status, reply) = admin.json(ACME, "PUT", &account("bob", "bob2"), Some(body));
    assert_eq!(status, 200, "{reply}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("login = \"bob2\""), "{text}");
    assert!(
        !text.contains("bob-new-pass-1"),
        "the password itself is never written"
    );
    let (_, bob2) = text.split_once("login = \"bob2\"").unwrap();
    let hash = bob2
        .lines()
        .find(|l| l.starts_with("password_hash"))
        .unwrap();
    assert!(
        hash.contains("$argon2id$") && !hash.contains(SECRET_HASH),
        "a new argon2 hash: {hash}"
    );
    let (_s, reply) = ftp_login_with(admin.ftp_port, "bob2@acme", "bob-new-pass-1");
    assert!(reply.starts_with("230"), "{reply}");

    // alice's password changes: the old one stops working.
    let body = r#"{"password": "alice-changed-9"}"#;
    let (status, reply) = admin.json(ACME, "PUT", &account("alice", "alice"), Some(body));
    assert_eq!(status, 200, "{reply}");
    let (_s, reply) = ftp_login(admin.ftp_port, "alice@acme");
    assert!(reply.starts_with("530"), "{reply}");
    let (_s, reply) = ftp_login_with(admin.ftp_port, "alice@acme", "alice-changed-9");
    assert!(reply.starts_with("230"), "{reply}");

    // Refused changes leave the file as it was.
    let before = std::fs::read_to_string(&config).unwrap();
    let body = r#"{"password": "whatever-123"}"#;
    let (status, reply) = admin.json(ACME, "PUT", &account("bob", "carol"), Some(body));
    assert_eq!(status, 422, "carol is another partner's login: {reply}");
    let body = r#"{"ssh_keys": ["not a key"]}"#;
    let (status, reply) = admin.json(ACME, "PUT", &account("bob", "bob2"), Some(body));
    assert_eq!(status, 422, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("ssh_keys"),
        "{reply}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    let (status, _) = admin.json(ACME, "PUT", &account("bob", "bob2"), Some("{}"));
    assert_eq!(status, 400);
    let (status, _) = admin.json(
        ACME,
        "PUT",
        &account("bob", "bob2"),
        Some(r#"{"pasword": "x"}"#),
    );
    assert_eq!(status, 400);
    let (status, _) = admin.json(ACME, "PUT", &account("nobody", "x"), Some(body));
    assert_eq!(status, 404);
    let path = "/api/v1/tenants/acme/partners/bob/accounts/bob2";
    let (status, _) = admin.json(GLOBEX, "DELETE", path, None);
    assert_eq!(status, 404, "globex's token does not reach acme");

    // Removed: the login is gone.
    let (status, reply) = admin.json(ACME, "DELETE", path, None);
    assert_eq!(status, 200, "{reply}");
    let (_s, reply) = ftp_login_with(admin.ftp_port, "bob2@acme", "bob-new-pass-1");
    assert!(reply.starts_with("530"), "{reply}");
    let (status, _) = admin.json(ACME, "DELETE", path, None);
    assert_eq!(status, 404);
}

/// Tenants through the API: the operator writes one into the tenants
/// directory and its partner logs in at once; a file the configuration
/// refuses is undone (422); removing it closes it and keeps its data, and
/// a second removal purges that. Tenant tokens and inline tenants are
/// refused.
#[test]
fn the_operator_adds_and_removes_tenants_through_the_api() {
    let env = Env::new();
    let (port, ftp_port) = (free_port(), free_port());
    for (name, token) in [("operator", OPERATOR), ("acme", ACME)] {
        std::fs::write(env.path().join(format!("{name}.token")), token).unwrap();
    }
    std::fs::create_dir(env.path().join("tenants")).unwrap();
    env.write_config(&format!(
        "[server]\ndata_dir = \"data\"\ntenants_dir = \"tenants\"\n\n\
         [admin]\naddress = \"127.0.0.1:{port}\"\ntoken_file = \"operator.token\"\n\n\
         [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\n\n\
         [tenants.acme]\napi_token_file = \"acme.token\"\n[tenants.acme.partners.bob]\n"
    ));
    let server = env.serve();
    let admin = Admin {
        env,
        port,
        ftp_port,
        sftp_port: 0,
        _server: Some(server),
    };
    let initech = format!(
        "# written through the admin API\n[partners.alice]\n\
         accounts = [{{ login = \"alice\", password_hash = \"{SECRET_HASH}\" }}]\n"
    );
    let body = serde_json::json!({ "toml": initech }).to_string();
    let (status, _) = admin.json(ACME, "PUT", "/api/v1/tenants/initech", Some(&body));
    assert_eq!(status, 403);
    let (status, reply) = admin.json(OPERATOR, "PUT", "/api/v1/tenants/initech", Some(&body));
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["created"], true);
    let (_s, reply) = ftp_login(admin.ftp_port, "alice@initech");
    assert!(reply.starts_with("230"), "{reply}");

    // Refused: not TOML, a route to nobody, an inline tenant.
    let file = admin.env.path().join("tenants/initech.toml");
    for (toml, code) in [
        ("[partners.alice", 422),
        ("[partners.alice]\nroutes = [{ to = \"nobody\" }]\n", 422),
    ] {
        let body = serde_json::json!({ "toml": toml }).to_string();
        let (status, reply) = admin.json(OPERATOR, "PUT", "/api/v1/tenants/initech", Some(&body));
        assert_eq!(status, code, "{toml}: {reply}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), initech, "undone");
    }
    let (status, _) = admin.json(OPERATOR, "PUT", "/api/v1/tenants/acme", Some(&body));
    assert_eq!(status, 409, "acme is defined in ferry.toml");
    let (_s, reply) = ftp_login(admin.ftp_port, "alice@initech");
    assert!(reply.starts_with("230"), "still in force: {reply}");

    // Removed: sessions refused, data kept; then purged.
    admin.put("initech", "i.csv", b"1\n");
    let (status, reply) = admin.json(OPERATOR, "DELETE", "/api/v1/tenants/initech", None);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        (&reply["removed"], &reply["purged"]),
        (&true.into(), &false.into())
    );
    assert!(!file.exists());
    let (_s, reply) = ftp_login(admin.ftp_port, "alice@initech");
    assert!(reply.starts_with("530"), "{reply}");
    assert!(
        admin
            .env
            .count("SELECT COUNT(*) FROM messages WHERE tenant = 'initech'")
            == 1
    );
    let (status, reply) = admin.json(OPERATOR, "DELETE", "/api/v1/tenants/initech", None);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["store_removed"], true, "{reply}");
    assert!(
        admin
            .env
            .count("SELECT COUNT(*) FROM messages WHERE tenant = 'initech'")
            == 0
    );

    // The same through the console's tenants page, as the operator.
    let base = format!("http://127.0.0.1:{port}");
    let origin = format!("Origin: {base}");
    let console = |args: &[&str]| -> (String, String) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-b", "jar", "-c", "jar"])
            .args(["-w", "%{http_code}", "-o", "page.html"])
            .args(args)
            .current_dir(admin.env.path())
            .output()
            .expect("curl is needed");
        let page = std::fs::read_to_string(admin.env.path().join("page.html")).unwrap_or_default();
        (String::from_utf8_lossy(&out.stdout).into_owned(), page)
    };
    let login = format!("token={OPERATOR}");
    let (status, _) = console(&["-H", &origin, "-d", &login, &format!("{base}/ui/login")]);
    assert_eq!(status, "303");
    let (status, page) = console(&[&format!("{base}/ui/tenants")]);
    assert_eq!(status, "200", "{page}");
    assert!(
        page.contains("<a href=\"/ui/t/acme/partners\">acme</a>"),
        "{page}"
    );
    let csrf = {
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..at + 64].to_owned()
    };
    let write = |toml: &str| {
        console(&[
            "-H",
            &origin,
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            "name=hooli",
            "--data-urlencode",
            &format!("toml={toml}"),
            &format!("{base}/ui/tenants"),
        ])
    };
    let (status, page) = write("[partners.alice]\nroutes = [{ to = \"nobody\" }]\n");
    assert_eq!(status, "422", "{page}");
    assert!(page.contains("nobody"), "the API's located error: {page}");
    assert!(!admin.env.path().join("tenants/hooli.toml").exists());
    let (status, page) = write("[partners.alice]\n[partners.bob]\n");
    assert_eq!(status, "303", "{page}");
    let (_, page) = console(&[&format!("{base}/ui/tenants?done=written")]);
    assert!(page.contains(">hooli</a>"), "{page}");
    let (status, _) = console(&[
        "-H",
        &origin,
        "-d",
        &format!("csrf={csrf}"),
        &format!("{base}/ui/tenants/hooli/remove"),
    ]);
    assert_eq!(status, "303");
    assert!(!admin.env.path().join("tenants/hooli.toml").exists());
    // A tenant's token sees its own tenant and no forms.
    let (status, _) = console(&[
        "-H",
        &origin,
        "-d",
        &format!("token={ACME}"),
        &format!("{base}/ui/login"),
    ]);
    assert_eq!(status, "303");
    let (_, page) = console(&[&format!("{base}/ui/tenants")]);
    assert!(page.contains("Only the operator"), "{page}");
    assert!(!page.contains("/remove"), "{page}");
}

/// A tenant's change applies its own tenant's section and nothing else:
/// another tenant's pending edit waits for the operator's reload, and
/// another tenant's broken section refuses the change without saying
/// what is wrong there (finding 9).
#[test]
fn a_tenants_change_reloads_its_own_tenant_only() {
    let admin = Admin::start();
    let config = admin.env.config.clone();
    let account = |login: &str| format!("/api/v1/tenants/acme/partners/bob/accounts/{login}");
    let body = r#"{"password": "bob-new-pass-1"}"#;

    // The operator adds a login to globex in the file, not yet reloaded.
    let text = std::fs::read_to_string(&config).unwrap();
    let pending = format!(
        "[[tenants.globex.partners.bob.accounts]]\nlogin = \"dave\"\npassword_hash = \"{SECRET_HASH}\"\n"
    );
    std::fs::write(&config, format!("{text}\n{pending}")).unwrap();
    let (status, reply) = admin.json(ACME, "PUT", &account("bob2"), Some(body));
    assert_eq!(status, 200, "{reply}");
    let (_s, reply) = ftp_login_with(admin.ftp_port, "bob2@acme", "bob-new-pass-1");
    assert!(
        reply.starts_with("230"),
        "acme's change is in force: {reply}"
    );
    let (_s, reply) = ftp_login(admin.ftp_port, "dave@globex");
    assert!(
        reply.starts_with("530"),
        "globex's edit waits for the operator: {reply}"
    );
    let (status, reply) = admin.json(OPERATOR, "POST", "/api/v1/reload", None);
    assert_eq!(status, 200, "{reply}");
    let (_s, reply) = ftp_login(admin.ftp_port, "dave@globex");
    assert!(reply.starts_with("230"), "{reply}");

    // globex's section breaks: acme's next change is refused and undone,
    // and acme learns only that the problem is not its own.
    let text = std::fs::read_to_string(&config).unwrap();
    let broken = text.replace(
        "[tenants.globex.partners.bob]\n",
        "[tenants.globex.partners.bob]\nroutes = [{ to = \"secret-partner-name\" }]\n",
    );
    assert_ne!(broken, text);
    std::fs::write(&config, &broken).unwrap();
    let (status, reply) = admin.json(ACME, "PUT", &account("bob3"), Some(body));
    assert_eq!(status, 422, "{reply}");
    let error = reply["error"].as_str().unwrap();
    assert!(error.contains("outside tenant `acme`"), "{error}");
    assert!(
        !error.contains("globex") && !error.contains("secret-partner-name"),
        "another tenant's problem shown to acme: {error}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), broken, "undone");
    let (status, reply) = admin.json(OPERATOR, "POST", "/api/v1/reload", None);
    assert_eq!(status, 422, "the operator sees the problem: {reply}");
    assert!(reply.to_string().contains("secret-partner-name"), "{reply}");
}
