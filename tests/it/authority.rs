//! Data and authority: what a partner's plugin or a partner's server may
//! make ferry do. An acknowledger acts on the file's sender only; a
//! partner's FTP server can neither send ferry's data connections (or,
//! through FXP, another partner's server) to an address of its choosing,
//! nor grow ferry's memory with a reply that never ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::connectors::{Hub, files, verify_journal, write};
use crate::peers::PyFtpd;
use crate::plugins::wasm;
use crate::util::{Env, PATIENCE, bytes, default_config, eventually, proc_status, sha256_hex};

/// alice's acknowledger is `plugins/trespasser` with `params`.
fn trespassing(params: &str) -> Env {
    let env = Env::new();
    std::fs::copy(wasm("trespasser"), env.path().join("trespasser.wasm")).unwrap();
    env.write_config(&default_config().replace(
        "[tenants.acme.partners.alice]\n",
        &format!(
            "[tenants.acme.partners.alice]\nacknowledger = \"trespasser.wasm\"\n\
             params = {{ {params} }}\n"
        ),
    ));
    env
}

/// The details of the `retried` events: why each attempt was refused.
fn retries(env: &Env) -> Vec<String> {
    let db = env.db();
    let mut statement = db
        .prepare("SELECT detail FROM events WHERE kind = 'retried' ORDER BY seq")
        .unwrap();
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Finding 11: alice's acknowledger writes into, or renames in, bob's
/// mailbox. Both are refused and the refusal is journaled; the same plugin
/// writing into alice's own outbox is obeyed, so the refusal is about the
/// partner named, not about the plugin.
#[test]
fn an_acknowledger_acts_on_the_files_sender_only() {
    let own = trespassing("victim = \"alice\"");
    own.put("alice", "a.txt", b"data").ok();
    eventually("the acknowledgement in alice's own outbox", || {
        own.names("alice", "/outbox")
            .contains(&"a.txt.forged".into())
    });

    let env = trespassing("victim = \"bob\"");
    env.put("alice", "a.txt", b"data").ok();
    eventually("the refused acknowledgement journaled", || {
        !retries(&env).is_empty()
    });
    let why = retries(&env).join("\n");
    assert!(
        why.contains("acts on the file's sender `alice` only, not on `bob`"),
        "{why}"
    );
    assert_eq!(env.names("bob", "/outbox"), ["a.txt"], "nothing forged");

    let env = trespassing("victim = \"bob\", how = \"rename\", target = \"a.txt\"");
    env.put("alice", "a.txt", b"data").ok();
    eventually("the refused rename journaled", || !retries(&env).is_empty());
    let why = retries(&env).join("\n");
    assert!(why.contains("not on `bob`"), "{why}");
    assert_eq!(env.names("bob", "/outbox"), ["a.txt"], "nothing renamed");
    env.ferry().args(["journal", "verify"]).ok();
}

/// Listeners on 127.0.0.2 at every port of `ports`: whatever a server's
/// forged passive reply sends there is counted, never served.
struct Decoys {
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Decoys {
    fn listen(ports: (u16, u16)) -> Decoys {
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (ports.0..=ports.1)
            .map(|port| {
                let listener = TcpListener::bind(("127.0.0.2", port))
                    .unwrap_or_else(|e| panic!("binding 127.0.0.2:{port}: {e}"));
                listener.set_nonblocking(true).unwrap();
                let (hits, stop) = (Arc::clone(&hits), Arc::clone(&stop));
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match listener.accept() {
                            Ok(_) => {
                                hits.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(_) => thread::sleep(Duration::from_millis(20)),
                        }
                    }
                })
            })
            .collect();
        Decoys {
            hits,
            stop,
            threads,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Decoys {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Finding 12, passive replies: pyftpdlib answers `PASV` with 127.0.0.2
/// (where decoys listen on its passive ports) while it serves on
/// 127.0.0.1. ferry's pull connects to the control connection's address,
/// so the file arrives and no decoy is touched; so does an FXP transfer to
/// such a server, whose address ferry hands to the other server.
#[test]
fn passive_replies_cannot_send_connections_elsewhere() {
    let liar = PyFtpd::start_masquerading("127.0.0.2");
    let decoys = Decoys::listen(liar.passive);
    let honest = PyFtpd::start();
    let (pulled, moved) = (bytes(31, 300_000), bytes(32, 2 << 20));
    write(&liar.dir("outgoing"), "stock.csv", &pulled);
    write(&honest.dir("outgoing"), "archive.bin", &moved);
    let incoming = liar.dir("incoming");
    let hub = Hub::new(|dir| {
        let secret = |name: &str, server: &PyFtpd| {
            let path = dir.join(format!("{name}.secret"));
            std::fs::write(&path, &server.password).unwrap();
            format!(
                "protocol = \"ftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\n\
                 password_file = \"{}\"\npassive = \"pasv\"\n",
                server.port,
                server.user,
                path.display()
            )
        };
        format!(
            "[tenants.acme.partners.wayne]\nroutes = [{{ to = \"bob\" }}]\n\
             [tenants.acme.partners.wayne.connector]\n{}\
             [tenants.acme.partners.wayne.pull]\nfrom = \"/outgoing\"\nevery = \"200ms\"\n\n\
             [tenants.acme.partners.hooli]\n[tenants.acme.partners.hooli.connector]\n{}\
             [tenants.acme.partners.hooli.pull]\nfrom = \"/outgoing\"\nevery = \"200ms\"\nfxp_to = \"wayne\"\n\n\
             [tenants.acme.partners.wayne.push]\nto = \"/incoming\"\n\n\
             [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n",
            secret("liar", &liar),
            secret("honest", &honest),
        )
    });
    let mut server = hub.env.serve();
    eventually("the pulled file in bob's outbox", || {
        hub.env
            .names("bob", "/outbox")
            .contains(&"stock.csv".into())
    });
    let deadline = Instant::now() + PATIENCE;
    // wayne's receipt for the pulled file is pushed there too.
    let arrived = ("archive.bin".to_owned(), sha256_hex(&moved));
    while !files(&incoming).contains(&arrived) {
        assert!(
            Instant::now() < deadline,
            "no FXP transfer ({} decoy hits); ferry's log:\n{}",
            decoys.hits(),
            server.log_so_far()
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(decoys.hits(), 0, "a forged passive address was followed");
    verify_journal(&hub.env);
}

/// A partner's FTP server that greets with one line that never ends: it
/// writes until the client hangs up (or 256 MiB), and counts what it wrote.
struct Endless {
    port: u16,
    written: Arc<Mutex<Vec<u64>>>,
}

impl Endless {
    fn start() -> Endless {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let written = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&written);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let record = Arc::clone(&record);
                thread::spawn(move || {
                    let sent = Endless::flood(stream);
                    record.lock().unwrap().push(sent);
                });
            }
        });
        Endless { port, written }
    }

    fn flood(mut stream: TcpStream) -> u64 {
        let chunk = vec![b'x'; 64 << 10];
        let mut sent = 0u64;
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        if stream.write_all(b"220-").is_err() {
            return 0;
        }
        while sent < 256 << 20 {
            match stream.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(_) => break,
            }
        }
        // Drain what the client sent, so that its hang-up is seen.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let _ = stream.read(&mut [0; 1024]);
        sent
    }

    fn connections(&self) -> Vec<u64> {
        self.written.lock().unwrap().clone()
    }
}

/// Finding 12, reply lines: ferry's pull (suppaftp) and its FXP control
/// connection each meet a greeting that never ends. Each gives up after a
/// few KiB (what the sockets' buffers hold aside) and says why, and the
/// server's memory stays where it was.
#[test]
fn an_endless_reply_from_a_partners_server_is_cut_short() {
    let endless = Endless::start();
    let honest = PyFtpd::start();
    write(&honest.dir("outgoing"), "a.bin", b"data");
    let hub = Hub::new(|dir| {
        let secret = dir.join("endless.secret");
        std::fs::write(&secret, "whatever").unwrap();
        let honest_secret = dir.join("honest.secret");
        std::fs::write(&honest_secret, &honest.password).unwrap();
        format!(
            "[tenants.acme.partners.wayne]\n[tenants.acme.partners.wayne.connector]\n\
             protocol = \"ftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"u\"\npassword_file = \"{}\"\n\
             [tenants.acme.partners.wayne.pull]\nfrom = \"/outgoing\"\nevery = \"500ms\"\n\
             [tenants.acme.partners.wayne.push]\nto = \"/incoming\"\n\n\
             [tenants.acme.partners.hooli]\n[tenants.acme.partners.hooli.connector]\n\
             protocol = \"ftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\npassword_file = \"{}\"\n\
             [tenants.acme.partners.hooli.pull]\nfrom = \"/outgoing\"\nevery = \"500ms\"\nfxp_to = \"wayne\"\n\n\
             [tenants.acme.partners.alice]\n[tenants.acme.partners.bob]\n",
            endless.port,
            secret.display(),
            honest.port,
            honest.user,
            honest_secret.display(),
        )
    });
    let mut server = hub.env.serve_with(&[("FERRY_LOG", "info")]);
    let pid = server.pid();
    let before = proc_status(pid, "VmRSS");
    let started = Instant::now();
    // Both clients, each more than once, meet the endless greeting: the
    // pull of wayne's server (suppaftp) and the FXP transfer to it
    // (ferry's own control client), and each says why it gave up.
    let (pull, fxp) = (
        "the server sent a reply larger than",
        "the server sent a reply line longer than 8192 bytes",
    );
    eventually("both clients hanging up on the endless server", || {
        let log = server.log_so_far();
        log.matches(pull).count() >= 2 && log.matches(fxp).count() >= 2
    });
    let after = proc_status(pid, "VmRSS");
    let sent = endless.connections();
    assert!(
        sent.iter().all(|&n| n < 32 << 20),
        "ferry read on and on: {sent:?} bytes sent per connection in {:?}",
        started.elapsed()
    );
    assert!(
        after < before + 64 * 1024,
        "ferry grew from {before} KiB to {after} KiB"
    );
}
