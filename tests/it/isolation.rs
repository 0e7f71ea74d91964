//! Tenants cannot reach each other: two tenants with a partner `alice`
//! each, on shared FTP and SFTP listeners. What a plugin sees through its
//! imports (history, key-value store, the file), what a partner's view
//! lists, where the bytes are stored, and paths that try to climb out are
//! checked for zero reads or writes across tenants, with the attempts in
//! the journal. (The admin API's side is in `admin.rs`.)

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;

use crate::plugins::wasm;
use crate::util::{Env, SECRET_HASH, eventually, free_port, sftp_batch};

struct Two {
    env: Env,
    ftp: u16,
    sftp: u16,
    key: std::path::PathBuf,
}

fn two_tenants() -> Two {
    let env = Env::new();
    std::fs::copy(wasm("hostile"), env.path().join("hostile.wasm")).unwrap();
    let (key, public) = crate::util::client_key(env.path());
    let (ftp, sftp) = (free_port(), free_port());
    let tenant = |name: &str| {
        format!(
            "[tenants.{name}.partners.alice]\nvalidator = \"hostile.wasm\"\n\
             params = {{ behaviour = \"spy\", mark = \"{name}\" }}\n\
             [[tenants.{name}.partners.alice.accounts]]\nlogin = \"alice\"\n\
             password_hash = \"{SECRET_HASH}\"\nssh_keys = [\"{}\"]\n",
            public.trim()
        )
    };
    env.write_config(&format!(
        "[server]\ndata_dir = \"data\"\n\n\
         [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp}\"\n\n\
         [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp}\"\n\n{}\n{}",
        tenant("acme"),
        tenant("globex"),
    ));
    Two {
        env,
        ftp,
        sftp,
        key,
    }
}

impl Two {
    fn upload(&self, login: &str, name: &str, content: &str) {
        let path = self.env.path().join(name);
        std::fs::write(&path, content).unwrap();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-T"])
            .arg(&path)
            .arg(format!(
                "ftp://{}:alice-pass@127.0.0.1:{}/inbox/{name}",
                login.replace('@', "%40"),
                self.ftp
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The verdict the spying plugin gave `name` of `tenant`: what it saw.
    fn seen(&self, tenant: &str, name: &str) -> String {
        let query = format!(
            "SELECT COUNT(*) FROM messages WHERE tenant = '{tenant}' AND name = '{name}' \
             AND state = 'rejected'"
        );
        eventually("the plugin's verdict", || self.env.count(&query) == 1);
        self.env
            .db()
            .query_row(
                "SELECT reason FROM messages WHERE tenant = ?1 AND name = ?2",
                [tenant, name],
                |row| row.get(0),
            )
            .unwrap()
    }
}

/// One FTP control connection, logged in; `command` returns the reply.
struct Ftp {
    reader: BufReader<TcpStream>,
}

impl Ftp {
    fn login(port: u16, login: &str) -> Ftp {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut ftp = Ftp {
            reader: BufReader::new(stream),
        };
        assert!(ftp.reply().starts_with("220"));
        assert!(ftp.command(&format!("USER {login}")).starts_with("331"));
        assert!(ftp.command("PASS alice-pass").starts_with("230"));
        ftp
    }

    fn reply(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn command(&mut self, command: &str) -> String {
        let stream = self.reader.get_mut();
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }
}

#[test]
fn tenants_see_nothing_of_each_other() {
    let t = two_tenants();
    let _server = t.env.serve();
    t.upload("alice@globex", "g1.txt", "globex secret one");
    t.upload("alice@globex", "g2.txt", "globex secret two");
    let globex = t.seen("globex", "g2.txt");
    let names = history(&globex);
    assert!(
        names.contains(&"g1.txt") && names.iter().all(|n| n.starts_with('g')),
        "{globex}"
    );
    assert!(globex.contains("kv=globex,"), "{globex}");

    // acme's alice: her plugin's history, store and file are acme's alone.
    t.upload("alice@acme", "a1.txt", "acme one");
    let acme = t.seen("acme", "a1.txt");
    assert!(acme.contains("file=acme/alice/a1.txt"), "{acme}");
    assert_eq!(history(&acme), ["a1.txt"], "{acme}");
    assert!(
        acme.contains("kv=;"),
        "globex's key-value store leaked: {acme}"
    );
    assert!(acme.contains("content=acme one"), "{acme}");
    t.upload("alice@acme", "a2.txt", "acme two");
    let acme = t.seen("acme", "a2.txt");
    // Her history: her own files, and the receipts ferry wrote her.
    let names = history(&acme);
    assert!(
        names.contains(&"a1.txt") && names.iter().all(|n| n.starts_with('a')),
        "{acme}"
    );
    assert!(acme.contains("kv=acme,;"), "{acme}");
    for reason in [t.seen("acme", "a1.txt"), t.seen("acme", "a2.txt")] {
        assert!(
            !reason.contains("globex") && !reason.contains("g1.txt"),
            "{reason}"
        );
    }

    // Each view lists its own files only, over FTP and SFTP.
    let mut ftp = Ftp::login(t.ftp, "alice@acme");
    for (command, code) in [
        ("SIZE /inbox/a1.txt", "213"),
        ("SIZE /inbox/g1.txt", "550"),
        // Paths that climb out are refused outright, never resolved.
        ("SIZE /inbox/../../globex/inbox/g1.txt", "553"),
        ("CWD ../globex", "553"),
        ("RETR ../../../tenants/globex/objects", "553"),
        ("DELE /inbox/..", "553"),
    ] {
        let reply = ftp.command(command);
        assert!(reply.starts_with(code), "{command}: {reply}");
    }
    let out = sftp_batch(
        t.sftp,
        &t.key,
        "alice@acme",
        t.env.path(),
        "ls -1 /inbox\n-get /inbox/g1.txt stolen.txt\n-get ../globex/inbox/g1.txt stolen.txt\n",
        &[],
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<&str> = listed.lines().filter(|l| !l.starts_with("sftp>")).collect();
    assert_eq!(files, ["/inbox/a1.txt", "/inbox/a2.txt"], "{listed}");
    assert!(!t.env.path().join("stolen.txt").exists());

    // The climbing attempts are journaled in acme's chain, none in globex's.
    let refused = t.env.count(
        "SELECT COUNT(*) FROM events WHERE tenant = 'acme' AND kind = 'access-refused'
         AND json_extract(detail, '$.partner') = 'alice'",
    );
    // The four FTP ones at least (OpenSSH's sftp may resolve `..` itself
    // before it asks).
    assert!(refused >= 4, "{refused} refused paths journaled");
    assert_eq!(
        t.env.count(
            "SELECT COUNT(*) FROM events WHERE tenant = 'globex' AND kind = 'access-refused'"
        ),
        0
    );

    // And the bytes: acme's store holds none of globex's content. Small
    // files live inline in the journal, keyed by tenant; a large one is a
    // blob in globex's store, and only there.
    let g1 = crate::util::sha256_hex(b"globex secret one");
    let inline = |tenant: &str| {
        t.env.count(&format!(
            "SELECT COUNT(*) FROM inline_content WHERE tenant = '{tenant}' AND sha256 = '{g1}'"
        ))
    };
    assert_eq!((inline("globex"), inline("acme")), (1, 0));
    let large = "globex large ".repeat(10_000);
    t.upload("alice@globex", "g3.txt", &large);
    t.seen("globex", "g3.txt");
    let g3 = crate::util::sha256_hex(large.as_bytes());
    assert!(contains_file(&t.env.tenant_root("globex"), &g3));
    assert!(!contains_file(&t.env.tenant_root("acme"), &g3));
    let out = t
        .env
        .ferry()
        .args(["cat", "--tenant", "acme", "--as", "alice", "/inbox/g1.txt"])
        .fails();
    assert!(out.contains("no such file"), "{out}");
    let verify = t.env.ferry().args(["journal", "verify"]).ok();
    assert!(verify.contains("ok"), "{verify}");
}

/// The names the plugin's history import listed.
fn history(seen: &str) -> Vec<&str> {
    seen.split("; ")
        .find_map(|part| part.strip_prefix("history="))
        .unwrap_or_default()
        .split(',')
        .filter(|n| !n.is_empty())
        .collect()
}

/// Whether the store at `root` holds the blob `hash` (`objects/aa/rest`).
fn contains_file(root: &std::path::Path, hash: &str) -> bool {
    root.join("objects")
        .join(&hash[..2])
        .join(&hash[2..])
        .is_file()
}
