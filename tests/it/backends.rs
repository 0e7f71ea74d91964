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

/// An S3-compatible object store server (`s3s-fs`, used unchanged): the
/// one of the whole test process, with one fresh bucket per check.
pub struct S3Server {
    pub port: u16,
    root: PathBuf,
    /// Holds the pipe whose end stops the server and removes its data.
    keeper: Mutex<Child>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        // Only reached for a test's own server (a static is never dropped).
        if let Ok(mut keeper) = self.keeper.lock() {
            drop(keeper.stdin.take());
            let _ = keeper.wait();
        }
    }
}

/// The access key these tests' object store checks.
pub const S3_KEY_ID: &str = "ferry-tests";
pub const S3_SECRET: &str = "ferry-tests-secret-key";

/// The object store of this test process, started at first use.
pub fn s3() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(S3Server::start)
}

impl S3Server {
    /// A server of the calling test's own (to stop and start again), stopped
    /// when dropped.
    pub fn own() -> S3Server {
        S3Server::start()
    }

    fn start() -> S3Server {
        let bin = s3s_fs();
        let root = tempfile::Builder::new()
            .prefix("ferry-s3-")
            .tempdir()
            .expect("a temp dir for the object store")
            .keep();
        let port = free_port();
        // As for PostgreSQL: `stop` and `start` lines stop the server and
        // start it again (acknowledged on the keeper's output); the pipe's
        // end (this process ended) stops it and removes its data.
        let script = r#"
            start() {
                "$1" --host 127.0.0.1 --port "$3" --access-key "$4" --secret-key "$5" "$2" \
                    >>"$2.log" 2>&1 &
                server=$!
            }
            start "$@"
            while read -r command; do
                case $command in
                    stop) kill "$server"; wait "$server"; echo stopped ;;
                    start) start "$@"; echo started ;;
                    *) break ;;
                esac
            done
            kill "$server"
            wait "$server"
            rm -rf "$2" "$2.log"
        "#;
        let keeper = Command::new("/bin/sh")
            .args(["-c", script, "keeper"])
            .arg(&bin)
            .arg(&root)
            .arg(port.to_string())
            .args([S3_KEY_ID, S3_SECRET])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting s3s-fs");
        let server = S3Server {
            port,
            root,
            keeper: Mutex::new(keeper),
        };
        server.wait_until_accepting();
        server
    }

    fn wait_until_accepting(&self) {
        let deadline = Instant::now() + PATIENCE;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the object store does not accept on port {}: {}",
                self.port,
                std::fs::read_to_string(self.root.with_extension("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Tells the keeper `command` and waits for its answer.
    fn keeper_says(&self, command: &str, answer: &str) {
        use std::io::BufRead as _;
        let mut keeper = self.keeper.lock().unwrap();
        let stdin = keeper.stdin.as_mut().expect("the keeper's input");
        writeln!(stdin, "{command}").expect("telling the keeper");
        let mut said = String::new();
        std::io::BufReader::new(keeper.stdout.as_mut().expect("the keeper's output"))
            .read_line(&mut said)
            .expect("the keeper's answer");
        assert_eq!(said.trim(), answer);
    }

    /// Stops the server: the store is unreachable until [`S3Server::resume`].
    pub fn halt(&self) {
        self.keeper_says("stop", "stopped");
    }

    /// Starts the server again, on the same port and data.
    pub fn resume(&self) {
        self.keeper_says("start", "started");
        self.wait_until_accepting();
    }

    /// A new, empty bucket: its name.
    pub fn fresh_bucket(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("check-{}", NEXT.fetch_add(1, Ordering::SeqCst));
        std::fs::create_dir(self.root.join(&name)).expect("creating a bucket");
        name
    }

    /// Where the server keeps `bucket`'s objects (to look, never to write).
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `[server] store` and `[store.s3]` for `bucket`, added to `config`
    /// (whose `[server]` has `data_dir = "data"`); the secret is in
    /// `s3.secret` beside the configuration, which [`S3Server::key_file`]
    /// writes.
    pub fn on(&self, bucket: &str, config: &str) -> String {
        let config = config.replacen(
            "data_dir = \"data\"",
            &format!("data_dir = \"data\"\nstore = \"s3://{bucket}\""),
            1,
        );
        format!(
            "{config}\n[store.s3]\nendpoint = \"{}\"\naccess_key_id = \"{S3_KEY_ID}\"\n\
             secret_access_key_file = \"s3.secret\"\n",
            self.endpoint()
        )
    }

    pub fn key_file(dir: &Path) {
        std::fs::write(dir.join("s3.secret"), format!("{S3_SECRET}\n")).unwrap();
    }
}

/// The `s3s-fs` program: `FERRY_S3S_FS`, else where scripts/test installs
/// it (`target/tools/bin`), else on `PATH`.
fn s3s_fs() -> PathBuf {
    if let Some(path) = std::env::var_os("FERRY_S3S_FS") {
        return PathBuf::from(path);
    }
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/bin/s3s-fs");
    if installed.is_file() {
        return installed;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "these tests need the S3-compatible server s3s-fs (scripts/test installs it: \
             cargo install s3s-fs --version =0.14.1 --features binary --root target/tools)"
        )
    })
}
