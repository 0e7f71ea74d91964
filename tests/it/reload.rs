//! SIGHUP re-reads the configuration: a good one applies at once, a bad one
//! is refused with its problems logged and the old one stays in force.

use crate::util::{Env, default_config, eventually};

#[test]
fn sighup_applies_a_good_config_and_refuses_a_bad_one() {
    let env = Env::new();
    let mut server = env.serve();

    // With the server holding the pipeline, `put` only queues.
    let out = env.put("carol", "first.txt", b"1").ok();
    assert!(out.contains("queued"), "{out}");
    eventually("carol's file held", || {
        env.count("SELECT COUNT(*) FROM messages WHERE state = 'held'") == 1
    });

    // A good change: carol's files now go to alice.
    let routed = default_config().replace(
        "[tenants.acme.partners.carol]\n",
        "[tenants.acme.partners.carol]\nroutes = [{ to = \"alice\" }]\n",
    );
    env.write_config(&routed);
    server.signal("HUP");
    server.wait_for("configuration reloaded");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'config-reloaded'"),
        1
    );
    env.put("carol", "second.txt", b"2").ok();
    eventually("delivery to alice", || {
        env.names("alice", "/outbox") == ["second.txt"]
    });

    // A bad change: refused, logged with file and line, old routes stay.
    env.write_config(&routed.replace(
        "routes = [{ to = \"alice\" }]",
        "routes = [{ to = \"nobody\" }]",
    ));
    server.signal("HUP");
    let line = server.wait_for("configuration reload refused");
    assert!(
        line.contains("ferry.toml:") && line.contains("no partner `nobody`"),
        "{line}"
    );
    // The server still routes by the configuration in force. (The file is
    // put back so that this `ferry put` can read it; no SIGHUP follows.)
    env.write_config(&routed);
    env.put("carol", "third.txt", b"3").ok();
    eventually("delivery under the old config", || {
        env.names("alice", "/outbox") == ["second.txt", "third.txt"]
    });
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'config-reloaded'"),
        1
    );
    server.stop();
    env.ferry().args(["journal", "verify"]).ok();
}

#[test]
fn a_second_server_on_the_same_data_is_refused() {
    let env = Env::new();
    let server = env.serve();
    let stderr = env.ferry().arg("serve").fails();
    assert!(
        stderr.contains("another ferry process is running"),
        "{stderr}"
    );
    server.stop();
}

/// Tenants may live one per file in `tenants_dir`; a file added there is
/// served after SIGHUP without disturbing the tenants already running.
#[test]
fn a_tenant_file_added_is_served_after_sighup() {
    let config = default_config().replace(
        "data_dir = \"data\"",
        "data_dir = \"data\"\ntenants_dir = \"tenants\"",
    );
    let env = Env::with_config(&config);
    let tenants = env.path().join("tenants");
    std::fs::create_dir(&tenants).unwrap();
    let mut server = env.serve();

    let globex = r#"
[partners.alice]
routes = [{ to = "dave" }]
[partners.dave]
"#;
    std::fs::write(tenants.join("globex.toml"), globex).unwrap();
    server.signal("HUP");
    server.wait_for("configuration reloaded");

    let put = |tenant: &str, name: &str| {
        env.ferry()
            .args([
                "put", "-", "--tenant", tenant, "--as", "alice", "--name", name,
            ])
            .stdin(b"x".to_vec())
            .ok()
    };
    put("globex", "g.txt");
    put("acme", "a.txt");
    let ls = |tenant: &str, partner: &str| {
        env.ferry()
            .args(["ls", "--tenant", tenant, "--as", partner, "/outbox"])
            .ok()
    };
    eventually("globex delivery", || ls("globex", "dave").contains("g.txt"));
    eventually("acme delivery", || ls("acme", "bob").contains("a.txt"));
    // Same partner name, separate tenants: nothing crosses over.
    assert!(!ls("acme", "bob").contains("g.txt"));
    assert!(env.tenant_root("globex").join("objects").is_dir());
    server.stop();
    env.ferry().args(["journal", "verify"]).ok();
}
