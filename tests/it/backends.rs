//! Real backends on loopback for the tests that run against every journal
//! backend: a PostgreSQL server of its own, started once per test process
//! in a temp dir on a free port, with one fresh database per check.
//!
//! The server outlives no test run: it is started under a small shell that
//! holds a pipe from this process, and when this process ends (however it
//! ends) the pipe closes, the shell stops PostgreSQL and removes its
//! directory. A `static` is never dropped, so nothing else would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::util::{PATIENCE, free_port};

/// A PostgreSQL server: the one of the whole test process, or a test's own.
pub struct Postgres {
    pub port: u16,
    /// Holds the pipe whose end stops the server; a `restart` line on it
    /// restarts the server, which the keeper acknowledges on its output.
    keeper: Mutex<Child>,
}

/// The PostgreSQL server of this test process, started at first use.
pub fn postgres() -> &'static Postgres {
    // Process-wide: one server for every test of this process (starting one
    // takes seconds); each check gets a database of its own.
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(Postgres::start)
}

impl Postgres {
    /// A server of the calling test's own (to restart, say), stopped when
    /// dropped.
    pub fn own() -> Postgres {
        Postgres::start()
    }

    /// Stops the server (a fast shutdown: sessions are cut) and starts it
    /// again on the same port and data, and returns once it accepts.
    pub fn restart(&self) {
        use std::io::BufRead as _;
        let mut keeper = self.keeper.lock().unwrap();
        keeper
            .stdin
            .as_mut()
            .expect("the keeper's input")
            .write_all(b"restart\n")
            .expect("asking for a restart");
        let mut said = String::new();
        std::io::BufReader::new(keeper.stdout.as_mut().expect("the keeper's output"))
            .read_line(&mut said)
            .expect("the keeper's answer");
        assert_eq!(said.trim(), "restarted");
        drop(keeper);
        self.wait_until_accepting();
    }

    fn wait_until_accepting(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match postgres::Client::connect(&url(self.port, "postgres"), postgres::NoTls) {
                Ok(_) => return,
                Err(e) => {
                    if let Ok(Some(status)) = self.keeper.lock().unwrap().try_wait() {
                        panic!("PostgreSQL exited ({status}) before it accepted: {e}");
                    }
                    assert!(
                        Instant::now() < deadline,
                        "PostgreSQL does not accept on port {}: {e}",
                        self.port
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    fn start() -> Postgres {
        let bin = pg_bin();
        let dir = tempfile::Builder::new()
            .prefix("ferry-postgres-")
            .tempdir()
            .expect("a temp dir for PostgreSQL")
            .keep();
        let data = dir.join("data");
        let port = free_port();
        // PostgreSQL refuses to run as root: as root, it runs as the
        // `postgres` user the Debian package makes.
        let as_root = rustix::process::geteuid().is_root();
        if as_root {
            let chown = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("running chown");
            assert!(chown.success(), "chown of {} failed", dir.display());
        }
        let run = |program: &Path| -> Command {
            if as_root {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(program);
                cmd
            } else {
                Command::new(program)
            }
        };
        let initdb = run(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "ferry", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .output()
            .expect("running initdb");
        assert!(
            initdb.status.success(),
            "initdb failed:\n{}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        // The shell starts the server, then reads this process's pipe: a
        // `restart` line restarts the server (and says so on its output);
        // the pipe's end (this process ended) stops the server (a fast
        // shutdown) and removes its directory. Durability settings are the
        // tests' to relax: nothing here must survive a power cut.
        let script = r#"
            start() {
                "$1" -D "$2/data" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
                    -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                    -c max_connections=200 >>"$2/server.log" 2>&1 &
                server=$!
            }
            start "$1" "$2" "$3"
            while read -r command && [ "$command" = restart ]; do
                kill -INT "$server"
                wait "$server"
                start "$1" "$2" "$3"
                echo restarted
            done
            kill -INT "$server"
            wait "$server"
            rm -rf "$2"
        "#;
        let mut keeper = run(Path::new("/bin/sh"))
            .args(["-c", script, "keeper"])
            .arg(bin.join("postgres"))
            .arg(&dir)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting PostgreSQL");
        let deadline = Instant::now() + PATIENCE;
        loop {
            match postgres::Client::connect(&url(port, "postgres"), postgres::NoTls) {
                Ok(_) => break,
                Err(e) => {
                    if let Ok(Some(status)) = keeper.try_wait() {
                        panic!("PostgreSQL exited ({status}) before it accepted: {e}");
                    }
                    assert!(
                        Instant::now() < deadline,
                        "PostgreSQL does not accept on port {port}: {e}\n{}",
                        std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        Postgres {
            port,
            keeper: Mutex::new(keeper),
        }
    }

    /// A new, empty database on the server: its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("check_{}", NEXT.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&url(self.port, "postgres"), postgres::NoTls)
            .expect("connecting to the test PostgreSQL");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating a database");
        url(self.port, &name)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Only reached for a test's own server (a static is never dropped):
        // closing the pipe is what stops it.
        if let Ok(mut keeper) = self.keeper.lock() {
            drop(keeper.stdin.take());
            let _ = keeper.wait();
        }
    }
}

fn url(port: u16, database: &str) -> String {
    format!("postgres://ferry@127.0.0.1:{port}/{database}")
}

/// The directory of PostgreSQL's server programs: Debian keeps them out of
/// `PATH`, under `/usr/lib/postgresql/VERSION/bin`; the newest is taken.
fn pg_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "these tests need PostgreSQL's server (Debian's `postgresql` package; \
             scripts/test installs it)"
        )
    })
}
