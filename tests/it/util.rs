//! Test helpers: a scratch directory with a configuration, the real `ferry`
//! binary run as a child process, and a running server whose log can be
//! awaited line by line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// argon2id of `alice-pass`, so tests need not hash at run time.
pub const SECRET_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$mxYkrhGkXXq0kiInG9nL5A$XHhi754UpaGC4pdeHld5mYqvmBW6zrS0VSCB/1VY/eE";

/// How long a test waits for something that should take milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Three partners of tenant `acme`: alice's files go to bob and carol,
/// bob's go to alice, carol's go nowhere (held).
pub fn default_config() -> String {
    format!(
        r#"
[server]
data_dir = "data"

[tenants.acme.partners.alice]
routes = [{{ to = "bob" }}, {{ match = "*.csv", to = "carol" }}]
[[tenants.acme.partners.alice.accounts]]
login = "alice"
password_hash = "{SECRET_HASH}"

[tenants.acme.partners.bob]
routes = [{{ to = "alice" }}]
[[tenants.acme.partners.bob.accounts]]
login = "bob"
password_hash = "{SECRET_HASH}"

[tenants.acme.partners.carol]
[[tenants.acme.partners.carol.accounts]]
login = "carol"
password_hash = "{SECRET_HASH}"
"#
    )
}

/// A scratch directory holding `ferry.toml` and the data directory.
pub struct Env {
    pub dir: TempDir,
    pub config: PathBuf,
}

impl Env {
    pub fn new() -> Env {
        Env::with_config(&default_config())
    }

    pub fn with_config(text: &str) -> Env {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let config = dir.path().join("ferry.toml");
        let env = Env { dir, config };
        env.write_config(text);
        env
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(&self.config, text).expect("writing the config");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    pub fn tenant_root(&self, tenant: &str) -> PathBuf {
        self.data().join("tenants").join(tenant)
    }

    /// `ferry -c ferry.toml ARGS...`
    pub fn ferry(&self) -> Cmd {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("-c")
            .arg(&self.config)
            .env("FERRY_LOG", "warn")
            .env_remove("FERRY_CRASH")
            .env_remove("FERRY_FAULTS")
            .current_dir(self.path());
        Cmd { cmd, stdin: None }
    }

    /// Uploads `bytes` as `partner`'s inbox file `name` through `ferry put -`.
    pub fn put(&self, partner: &str, name: &str, bytes: &[u8]) -> Cmd {
        let mut cmd = self.ferry();
        cmd.args([
            "put", "-", "--tenant", "acme", "--as", partner, "--name", name,
        ])
        .stdin(bytes.to_vec());
        cmd
    }

    /// A file of a partner's mailbox (`/outbox/NAME`), through `ferry cat`.
    pub fn cat(&self, partner: &str, path: &str) -> String {
        self.ferry()
            .args(["cat", "--tenant", "acme", "--as", partner, path])
            .ok()
    }

    /// The files of a partner's folder as (name, size, sha256).
    pub fn ls(&self, partner: &str, folder: &str) -> Vec<(String, u64, String)> {
        let out = self
            .ferry()
            .args(["ls", "--tenant", "acme", "--as", partner, folder])
            .ok();
        out.lines()
            .map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(fields.len(), 4, "unexpected ls line {line:?}");
                (
                    fields[3].to_owned(),
                    fields[0].parse().unwrap(),
                    fields[2].to_owned(),
                )
            })
            .collect()
    }

    pub fn names(&self, partner: &str, folder: &str) -> Vec<String> {
        self.ls(partner, folder)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect()
    }

    /// The journal database, opened directly for tampering and counting.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.data().join("journal.sqlite")).expect("opening the journal")
    }

    /// The PostgreSQL journal's URL, when the configuration names one.
    fn journal_url(&self) -> Option<String> {
        let config = std::fs::read_to_string(&self.config).unwrap_or_default();
        config
            .lines()
            .find_map(|l| l.strip_prefix("journal = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .map(str::to_owned)
    }

    pub fn count(&self, sql: &str) -> i64 {
        if let Some(url) = self.journal_url() {
            return pg_count(&url, sql);
        }
        self.db().query_row(sql, [], |row| row.get(0)).expect(sql)
    }

    /// The rows of a query of (text, number) pairs, in whichever journal
    /// the configuration names (SQLite's SQL, translated for PostgreSQL).
    pub fn rows(&self, sql: &str) -> Vec<(String, i64)> {
        if let Some(url) = self.journal_url() {
            return pg_rows(&url, sql);
        }
        let db = self.db();
        let mut statement = db.prepare(sql).expect(sql);
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect(sql)
            .map(|r| r.expect(sql))
            .collect()
    }

    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// Runs `ferry serve` with `env` until it exits by itself (a crash
    /// point), bounded by [`PATIENCE`].
    pub fn serve_until_exit(&self, env: &[(&str, &str)]) -> std::process::ExitStatus {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("-c")
            .arg(&self.config)
            .arg("serve")
            .env("FERRY_LOG", "warn")
            .env_remove("FERRY_CRASH")
            .env_remove("FERRY_FAULTS")
            .current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting ferry serve");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("ferry serve with {env:?} did not exit within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn serve_with(&self, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.arg("-c")
            .arg(&self.config)
            .arg("serve")
            .env("FERRY_LOG", "info")
            .env_remove("FERRY_CRASH")
            .env_remove("FERRY_FAULTS")
            .current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting ferry serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines: rx,
            log: Vec::new(),
        };
        server.wait_for("ferry ready");
        server
    }
}

/// A child process to run to completion.
pub struct Cmd {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    pub fn args<I, S>(&mut self, args: I) -> &mut Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn arg(&mut self, arg: impl AsRef<std::ffi::OsStr>) -> &mut Cmd {
        self.cmd.arg(arg);
        self
    }

    pub fn env(&mut self, key: &str, value: &str) -> &mut Cmd {
        self.cmd.env(key, value);
        self
    }

    pub fn stdin(&mut self, bytes: Vec<u8>) -> &mut Cmd {
        self.stdin = Some(bytes);
        self
    }

    pub fn run(&mut self) -> Output {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("starting ferry");
        let mut stdin = child.stdin.take().unwrap();
        if let Some(bytes) = self.stdin.take() {
            // The child may exit early (a crash point): a broken pipe is fine.
            let _ = stdin.write_all(&bytes);
        }
        drop(stdin);
        child.wait_with_output().expect("waiting for ferry")
    }

    /// Runs and expects success; returns stdout.
    #[track_caller]
    pub fn ok(&mut self) -> String {
        let out = self.run();
        assert!(
            out.status.success(),
            "ferry failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure; returns stderr.
    #[track_caller]
    pub fn fails(&mut self) -> String {
        let out = self.run();
        assert!(
            !out.status.success(),
            "ferry succeeded but should not have:\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

/// A running `ferry serve`; killed when dropped.
pub struct Server {
    child: Child,
    lines: Receiver<String>,
    pub log: Vec<String>,
}

impl Server {
    /// Waits for a log line containing `needle` and returns it.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no log line with {needle:?}; log:\n{}", self.log.join("\n"))
                }
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "ferry exited before logging {needle:?}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Everything logged so far, for a failing test's message.
    pub fn log_so_far(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(self) {
        self.signal("TERM");
        self.stop_waiting();
    }

    /// Waits for a clean exit after a signal sent already.
    pub fn stop_waiting(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "ferry serve exited with {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it holds: for state written by another process,
/// which has no event this process could wait on.
#[track_caller]
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A number from the environment (the campaign's and the soak's sizes),
/// or `default`.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Deterministic bytes that differ per seed.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What every OpenSSH client in the tests is given: no prompts, no host
/// key checks against the user's files, quiet.
pub const SSH_OPTS: [&str; 8] = [
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
];

/// OpenSSH `sftp -b -` on 127.0.0.1:`port` as `user` with `key`, in `cwd`,
/// with `commands` on standard input.
/// OpenSSH `sftp` in batch mode (commands on its input) as `user` with
/// `key`, in `cwd`; `extra` options go before the destination.
fn sftp_command(port: u16, key: &Path, user: &str, cwd: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new("sftp");
    command
        .args(["-b", "-", "-P", &port.to_string()])
        .arg("-i")
        .arg(key)
        .args(SSH_OPTS)
        .args(["-o", "ConnectTimeout=10"])
        .args(extra)
        .arg(format!("{user}@127.0.0.1"))
        .current_dir(cwd)
        .stdin(Stdio::piped());
    command
}

pub fn sftp_batch(
    port: u16,
    key: &Path,
    user: &str,
    cwd: &Path,
    commands: &str,
    extra: &[&str],
) -> Output {
    let mut child = sftp_command(port, key, user, cwd, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sftp (openssh-client) is needed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A port free on 127.0.0.1 right now (the test binds it soon after), in
/// 10000-19999: below Linux's ephemeral ports (32768-60999), where no
/// outgoing connection of a client, a peer or a database pool can take it
/// between now and the bind (seen once: a server's port taken by one), and
/// below the FTP peers' passive blocks (20000-31999). Never the same port
/// twice in one process; the start depends on the process id, so that two
/// runs at once differ.
pub fn free_port() -> u16 {
    // Process-wide: ports are handed out once per test process.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    const FIRST: usize = 10_000;
    const COUNT: usize = 10_000;
    let start = std::process::id() as usize * 7919;
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = (FIRST + (start + n) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}-{}", FIRST + COUNT - 1)
}

/// A new ed25519 key pair `DIR/client_key`: its path and its public line.
pub fn client_key(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("client_key");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen (openssh-client) is needed");
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public.trim().to_owned())
}

/// An environment with an SFTP listener bound to tenant `acme`, and a
/// client key pair that every account of `acme` accepts.
pub struct SftpEnv {
    pub env: Env,
    pub port: u16,
    pub key: PathBuf,
}

impl SftpEnv {
    pub fn new() -> SftpEnv {
        SftpEnv::with(|config| config)
    }

    /// `edit` may change the configuration text before it is written.
    pub fn with(edit: impl FnOnce(String) -> String) -> SftpEnv {
        let env = Env::new();
        let (key, public) = client_key(env.path());
        let port = free_port();
        let mut config = default_config().replace(
            &format!("password_hash = \"{SECRET_HASH}\"\n"),
            &format!(
                "password_hash = \"{SECRET_HASH}\"\nssh_keys = [\"{}\"]\n",
                public.trim()
            ),
        );
        config = config.replace(
            "[tenants.acme.partners.alice]",
            &format!(
                "[[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{port}\"\ntenant = \"acme\"\n\n\
                 [tenants.acme.partners.alice]"
            ),
        );
        env.write_config(&edit(config));
        SftpEnv { env, port, key }
    }

    /// Runs OpenSSH `sftp -b -` as `user` with the client key; commands on stdin.
    pub fn sftp(&self, user: &str, commands: &str) -> Output {
        self.sftp_with(user, commands, &[])
    }

    pub fn sftp_with(&self, user: &str, commands: &str, extra: &[&str]) -> Output {
        sftp_batch(self.port, &self.key, user, self.env.path(), commands, extra)
    }

    /// Logs in interactively (no batch mode, so passwords are asked for)
    /// with `options`, answering a password prompt with `password`.
    pub fn login(&self, user: &str, password: &str, options: &[&str]) -> Output {
        let script = self.env.path().join(format!("askpass-{password}"));
        std::fs::write(&script, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Command::new("sftp")
            .args(["-P", &self.port.to_string(), "-i"])
            .arg(&self.key)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ])
            .args(["-o", "LogLevel=ERROR", "-o", "NumberOfPasswordPrompts=1"])
            .args(options)
            .arg(format!("{user}@127.0.0.1"))
            .env("SSH_ASKPASS", &script)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", "none")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `sftp` and expects success; returns stdout.
    #[track_caller]
    pub fn sftp_ok(&self, user: &str, commands: &str) -> String {
        let out = self.sftp(user, commands);
        assert!(
            out.status.success(),
            "sftp failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Starts `sftp` in batch mode with `commands` and returns it running
    /// (its output discarded): for a transfer to cut with a kill. `-l
    /// KBIT` in `extra` slows it down enough for that.
    pub fn sftp_running(&self, user: &str, commands: &str, extra: &[&str]) -> Child {
        let mut child = sftp_command(self.port, &self.key, user, self.env.path(), extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sftp (openssh-client) is needed");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(commands.as_bytes())
            .unwrap();
        child
    }
}

/// An environment with an FTP listener (active mode allowed) and an
/// implicit FTPS listener, both bound to tenant `acme`; bob's account logs
/// in over TLS only. Every account's password is `alice-pass`.
pub struct FtpEnv {
    pub env: Env,
    pub port: u16,
    pub ftps_port: u16,
}

impl FtpEnv {
    pub fn new() -> FtpEnv {
        let env = Env::new();
        let (port, ftps_port) = (free_port(), free_port());
        let config = default_config()
            .replace(
                "[tenants.acme.partners.alice]",
                &format!(
                    "[[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{port}\"\ntenant = \"acme\"\n\
                     active_mode = true\n\n[[listeners]]\nprotocol = \"ftps\"\naddress = \"127.0.0.1:{ftps_port}\"\n\
                     tenant = \"acme\"\n\n[tenants.acme.partners.alice]"
                ),
            )
            .replace(
                "login = \"bob\"\n",
                "login = \"bob\"\nrequire_tls = true\n",
            );
        env.write_config(&config);
        FtpEnv {
            env,
            port,
            ftps_port,
        }
    }

    /// `ftp://USER:alice-pass@127.0.0.1:PORT/PATH`
    pub fn url(&self, user: &str, path: &str) -> String {
        format!("ftp://{user}:alice-pass@127.0.0.1:{}{path}", self.port)
    }

    /// `ftps://USER:alice-pass@127.0.0.1:FTPS_PORT/PATH` (implicit TLS).
    pub fn ftps_url(&self, user: &str, path: &str) -> String {
        format!(
            "ftps://{user}:alice-pass@127.0.0.1:{}{path}",
            self.ftps_port
        )
    }

    /// Runs curl (silent, errors shown, bounded in time) with `args`.
    pub fn curl(&self, args: &[&str]) -> Output {
        Command::new("curl")
            .args(["-sS", "--max-time", "60", "--insecure"])
            .args(args)
            .current_dir(self.env.path())
            .output()
            .expect("curl is needed")
    }

    /// Runs lftp with `commands` as `user` on the plain listener.
    pub fn lftp(&self, user: &str, commands: &str) -> Output {
        let settings = "set ssl:verify-certificate no; set net:max-retries 1; \
                        set net:timeout 20; set cmd:fail-exit yes;";
        Command::new("timeout")
            .arg("120")
            .arg("lftp")
            .args(["-u", &format!("{user},alice-pass")])
            .args(["-p", &self.port.to_string()])
            .args(["-e", &format!("{settings} {commands}; quit")])
            .arg("127.0.0.1")
            .current_dir(self.env.path())
            .stdin(Stdio::null())
            .output()
            .expect("lftp is needed")
    }
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`), 0 once the
/// process is gone.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `count` on a PostgreSQL journal: SQLite's `json_extract(col, '$.key')`
/// read as PostgreSQL's JSON text, compared as text.
fn pg_count(url: &str, sql: &str) -> i64 {
    let translated = pg_translate(sql);
    let mut client =
        postgres::Client::connect(url, postgres::NoTls).expect("the test's PostgreSQL");
    client
        .query_one(translated.as_str(), &[])
        .map(|row| row.get(0))
        .unwrap_or_else(|e| panic!("{translated}: {e}"))
}

/// The rows of a query of (text, number) pairs, in PostgreSQL.
fn pg_rows(url: &str, sql: &str) -> Vec<(String, i64)> {
    let translated = pg_translate(sql);
    let mut client =
        postgres::Client::connect(url, postgres::NoTls).expect("the test's PostgreSQL");
    client
        .query(translated.as_str(), &[])
        .unwrap_or_else(|e| panic!("{translated}: {e}"))
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// SQLite's SQL as PostgreSQL's: `json_extract(col, '$.key')` becomes
/// `(col::json->>'key')`, and a number compared with it a text.
fn pg_translate(sql: &str) -> String {
    let mut translated = String::new();
    let mut rest = sql;
    while let Some(at) = rest.find("json_extract(") {
        translated.push_str(&rest[..at]);
        let inner = &rest[at + "json_extract(".len()..];
        let close = inner.find(')').expect("json_extract(...)");
        let (column, path) = inner[..close]
            .split_once(',')
            .expect("json_extract(col, path)");
        let key = path.trim().trim_matches('\'').trim_start_matches("$.");
        translated.push_str(&format!("({}::json->>'{key}')", column.trim()));
        rest = &inner[close + 1..];
        // A number compared with it is compared as text.
        let trimmed = rest.trim_start();
        if let Some(number) = trimmed.strip_prefix("= ") {
            let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                translated.push_str(&format!(" = '{digits}'"));
                rest = &number[digits.len()..];
            }
        }
    }
    translated.push_str(rest);
    translated
}
