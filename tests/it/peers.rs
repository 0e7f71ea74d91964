//! Real partner servers on loopback, for the connector tests: OpenSSH's
//! `sshd`, `vsftpd` and pyftpdlib (plain FTP or explicit FTPS), and a proxy
//! that cuts connections. Each peer has its own temp dir with its own
//! configuration, listens on 127.0.0.1 on a free port, and is killed, with
//! the sessions it forked, when dropped.

// The connector tests are being written against these helpers; not every
// helper has a user yet.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;

use crate::util::{PATIENCE, eventually, free_port};

/// The system user vsftpd logs in (it knows no other kind), and the
/// in-memory user of pyftpdlib, so that FTP tests need not care which.
pub const FTP_USER: &str = "ferrytest";
pub const FTP_PASSWORD: &str = "ferrytest-pass";
/// The user's home, shared by all tests: each server's files live in its
/// own temp dir instead.
const FTP_HOME: &str = "/var/tmp/ferrytest-home";

/// Checked to be there (it comes with openssh-server); the test sshd
/// serves SFTP in-process (`internal-sftp`, the same code), because a
/// subsystem program is started through root's login shell, and a shell
/// whose startup files wait (seen here: `pyenv init` waiting 60 s on a lock
/// a killed session left) would stall every SFTP connection.
const SFTP_SERVER: &str = "/usr/lib/openssh/sftp-server";
const PYFTPD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ftp/pyftpd.py");

/// The path of program `cmd`, or a panic that says it is missing.
pub fn require(cmd: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Daemons live in the sbin directories, which a user's PATH may lack.
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(cmd))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("this test needs `{cmd}`, which is not installed (scripts/test installs it)")
        })
}

/// OpenSSH's `sshd` with its `sftp-server`; root logs in with `client_key`.
pub struct Sshd {
    pub port: u16,
    /// Where the tests put files. Root's session starts in root's home, so
    /// remote paths are absolute: `{root}/outgoing`.
    pub root: PathBuf,
    /// An ed25519 private key in OpenSSH format, without a passphrase.
    pub client_key: PathBuf,
    pub user: String,
    /// `SHA256:...` (base64 without padding), as `ssh-keygen -l` prints it.
    pub host_key_fingerprint: String,
    /// `ssh-ed25519 AAAA...`, as in a known_hosts line.
    pub host_public_key: String,
    // Fields drop in order: the daemon dies before its directory goes.
    daemon: Daemon,
    dir: TempDir,
}

impl Sshd {
    pub fn start() -> Sshd {
        // An absolute path: sshd re-executes itself and refuses a relative one.
        let sshd = require("sshd");
        assert!(
            Path::new(SFTP_SERVER).is_file(),
            "{SFTP_SERVER} (openssh-server) is needed"
        );
        // The privilege separation directory, which Debian makes only when
        // the service starts.
        fs::create_dir_all("/run/sshd").expect("creating /run/sshd (needs root)");
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let d = dir.path();
        let (host_key, client_key) = (d.join("host_key"), d.join("client_key"));
        keygen(&host_key);
        keygen(&client_key);
        fs::copy(client_key.with_extension("pub"), d.join("authorized_keys")).unwrap();
        let host_pub = host_key.with_extension("pub");
        let host_public_key = fs::read_to_string(&host_pub).unwrap().trim().to_owned();
        let listing = must(
            Command::new(require("ssh-keygen"))
                .arg("-lf")
                .arg(&host_pub),
            "",
        );
        let host_key_fingerprint = listing
            .split_whitespace()
            .nth(1)
            .expect("a fingerprint from ssh-keygen -l")
            .to_owned();
        let root = d.join("root");
        fs::create_dir(&root).unwrap();
        let port = free_port();
        // The default MaxStartups (10:30:100) drops parallel logins at random.
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nUseDNS no\nMaxStartups 200:30:400\nMaxSessions 200\n\
             LogLevel ERROR\nSubsystem sftp internal-sftp\n",
            dir = d.display()
        );
        fs::write(d.join("sshd_config"), config).unwrap();
        let daemon = Daemon::start(
            Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(d.join("sshd_config")),
            d,
            port,
        );
        Sshd {
            port,
            root,
            client_key,
            user: "root".into(),
            host_key_fingerprint,
            host_public_key,
            daemon,
            dir,
        }
    }

    /// `root/name`, created.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        fs::create_dir_all(&path).unwrap();
        path
    }

    /// What sshd wrote so far: errors only, starting with the start-up
    /// probe's `kex_exchange_identification: Connection closed`.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// vsftpd, logging in `FTP_USER` chrooted to `root`: `/` on the server is
/// `root`. Passive mode on ports of its own; PORT and PASV accept other
/// addresses than the client's, for server-to-server copies (FXP).
pub struct Vsftpd {
    pub port: u16,
    pub root: PathBuf,
    pub user: String,
    pub password: String,
    /// The self-signed certificate of the FTPS variant, to trust.
    pub cert_pem: Option<PathBuf>,
    /// The passive ports, first and last.
    pub passive: (u16, u16),
    daemon: Daemon,
    dir: TempDir,
}

impl Vsftpd {
    pub fn start() -> Vsftpd {
        Vsftpd::launch(None)
    }

    /// Explicit FTPS (AUTH TLS), with plain logins still allowed.
    pub fn start_tls() -> Vsftpd {
        Vsftpd::launch(Some(false))
    }

    /// Implicit FTPS: TLS from the first byte of every connection.
    pub fn start_implicit_tls() -> Vsftpd {
        Vsftpd::launch(Some(true))
    }

    /// `tls`: none, explicit (`Some(false)`) or implicit (`Some(true)`).
    fn launch(tls: Option<bool>) -> Vsftpd {
        let vsftpd = require("vsftpd");
        ensure_ftp_user();
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let d = dir.path();
        // Sessions run as the FTP user, who must get through the temp dir
        // (0700 when made) to `root`.
        fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        let (root, empty) = (d.join("root"), d.join("empty"));
        fs::create_dir(&root).unwrap();
        give_to_ftp_user(&root);
        // vsftpd's own chroot for the pre-login process: empty, root's, 0755.
        fs::create_dir(&empty).unwrap();
        fs::set_permissions(&empty, fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let (low, high) = passive_ports();
        // vsftpd refuses a chroot the user can write to, unless told.
        // The protocol log (every command and reply) is for debugging.
        let mut config = format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\n\
             local_root={root}\nchroot_local_user=YES\nallow_writeable_chroot=YES\n\
             pasv_enable=YES\npasv_address=127.0.0.1\npasv_min_port={low}\npasv_max_port={high}\n\
             pasv_promiscuous=YES\nport_promiscuous=YES\npam_service_name=vsftpd\n\
             secure_chroot_dir={empty}\nseccomp_sandbox=NO\nuse_sendfile=YES\nmax_per_ip=0\n\
             max_clients=0\nxferlog_enable=YES\nxferlog_std_format=NO\nlog_ftp_protocol=YES\n\
             vsftpd_log_file={dir}/vsftpd.log\n",
            root = root.display(),
            empty = empty.display(),
            dir = d.display()
        );
        let cert_pem = tls.map(|implicit| {
            let (cert, key) = self_signed(d);
            // Without require_ssl_reuse=NO vsftpd wants the data connection
            // to resume the control connection's TLS session, and answers
            // 522 to clients (suppaftp) that do not. No client certificates.
            config += &format!(
                "ssl_enable=YES\nrsa_cert_file={}\nrsa_private_key_file={}\nallow_anon_ssl=NO\n\
                 force_local_logins_ssl=NO\nforce_local_data_ssl=NO\nrequire_ssl_reuse=NO\n\
                 ssl_request_cert=NO\nimplicit_ssl={}\n",
                cert.display(),
                key.display(),
                if implicit { "YES" } else { "NO" }
            );
            cert
        });
        fs::write(d.join("vsftpd.conf"), config).unwrap();
        let daemon = Daemon::start(Command::new(vsftpd).arg(d.join("vsftpd.conf")), d, port);
        Vsftpd {
            port,
            root,
            user: FTP_USER.into(),
            password: FTP_PASSWORD.into(),
            cert_pem,
            passive: (low, high),
            daemon,
            dir,
        }
    }

    /// `root/name`, created and owned by the FTP user.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        fs::create_dir_all(&path).unwrap();
        give_to_ftp_user(&path);
        path
    }

    /// Gives everything under `root` to the FTP user. Files a test writes
    /// belong to root: the server may read, rename and delete them, but not
    /// overwrite or append to them until handed over.
    pub fn hand_over(&self) {
        give_to_ftp_user(&self.root);
    }

    /// The protocol log: every command and reply so far.
    pub fn log(&self) -> String {
        let protocol = fs::read_to_string(self.dir.path().join("vsftpd.log"));
        self.daemon.log() + &protocol.unwrap_or_default()
    }
}

/// pyftpdlib (tests/data/ftp/pyftpd.py) with an in-memory user whose home
/// is `root`: `/` on the server is `root`. PORT accepts other addresses
/// than the client's (FXP).
pub struct PyFtpd {
    pub port: u16,
    pub root: PathBuf,
    pub user: String,
    pub password: String,
    /// The self-signed certificate of the FTPS variant, to trust.
    pub cert_pem: Option<PathBuf>,
    /// The passive ports, first and last.
    pub passive: (u16, u16),
    daemon: Daemon,
    dir: TempDir,
}

impl PyFtpd {
    pub fn start() -> PyFtpd {
        PyFtpd::launch(false, None)
    }

    /// Explicit FTPS (AUTH TLS), with plain logins still allowed.
    pub fn start_tls() -> PyFtpd {
        PyFtpd::launch(true, None)
    }

    /// A server that answers `PASV` with `address` instead of its own (a
    /// server behind NAT, or a hostile one).
    pub fn start_masquerading(address: &str) -> PyFtpd {
        PyFtpd::launch(false, Some(address))
    }

    fn launch(tls: bool, masquerade: Option<&str>) -> PyFtpd {
        let dir = tempfile::tempdir().expect("creating a temp dir");
        let d = dir.path();
        let root = d.join("root");
        fs::create_dir(&root).unwrap();
        let port = free_port();
        let (low, high) = passive_ports();
        let mut cmd = Command::new(require("python3"));
        cmd.arg(PYFTPD)
            .arg(port.to_string())
            .arg(&root)
            .args([FTP_USER, FTP_PASSWORD])
            .args(["--passive", &low.to_string(), &high.to_string()]);
        if let Some(address) = masquerade {
            cmd.args(["--masquerade", address]);
        }
        let cert_pem = if tls {
            let (cert, key) = self_signed(d);
            cmd.arg("--tls").arg(&cert).arg(&key);
            Some(cert)
        } else {
            None
        };
        let daemon = Daemon::start(&mut cmd, d, port);
        PyFtpd {
            port,
            root,
            user: FTP_USER.into(),
            password: FTP_PASSWORD.into(),
            cert_pem,
            passive: (low, high),
            daemon,
            dir,
        }
    }

    /// `root/name`, created.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.root.join(name);
        fs::create_dir_all(&path).unwrap();
        path
    }

    /// pyftpdlib's log: sessions, logins and transfers so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

/// A TCP proxy on 127.0.0.1:`port` to 127.0.0.1:`target_port` that cuts
/// connections mid-upload. Each connection gets a cut point between 64 KiB
/// and 4 MiB (from the seed and the connection's number); the first `cuts`
/// connections whose client sends that many bytes are cut there, both
/// sockets shut down, and every connection after that passes untouched.
/// Short connections (a login, a listing) never reach a cut point.
///
/// For SFTP, whose one connection carries everything: FTP's data
/// connections go to the server's passive ports, not through the proxy.
pub struct CutProxy {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

const CUT_MIN: u64 = 64 << 10;
const CUT_MAX: u64 = 4 << 20;

struct Shared {
    target: u16,
    cuts: usize,
    cuts_done: AtomicUsize,
    conns: Mutex<Conns>,
}

/// The sockets of the open connections, for the drop to shut down. Behind
/// the same lock as `stopped`, so that no connection opens after that.
#[derive(Default)]
struct Conns {
    stopped: bool,
    next: u64,
    open: HashMap<u64, [TcpStream; 2]>,
}

impl CutProxy {
    pub fn start(target_port: u16, seed: u64, cuts: usize) -> CutProxy {
        // Port 0: the system picks, and no other process can take it first.
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            target: target_port,
            cuts,
            cuts_done: AtomicUsize::new(0),
            conns: Mutex::default(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept(listener, seed, shared))
        };
        CutProxy {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn cuts_done(&self) -> usize {
        self.shared.cuts_done.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        let mut conns = self.shared.conns.lock().unwrap();
        conns.stopped = true;
        for socket in conns.open.values().flatten() {
            let _ = socket.shutdown(Shutdown::Both);
        }
        drop(conns);
        // accept() has no timeout: a connection of our own wakes it up to
        // see `stopped`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(listener: TcpListener, seed: u64, shared: Arc<Shared>) {
    let mut relays: Vec<JoinHandle<()>> = Vec::new();
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        let mut conns = shared.conns.lock().unwrap();
        if conns.stopped {
            break;
        }
        // A target that refuses is passed on as a closed connection.
        let Ok(server) = TcpStream::connect(("127.0.0.1", shared.target)) else {
            continue;
        };
        let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        let id = conns.next;
        conns.next += 1;
        conns.open.insert(id, [c, s]);
        drop(conns);
        let cut_at = CUT_MIN + splitmix(seed.wrapping_add(id)) % (CUT_MAX - CUT_MIN);
        let mine = Arc::clone(&shared);
        relays.retain(|handle| !handle.is_finished());
        relays.push(thread::spawn(move || {
            relay(client, server, cut_at, &mine);
            mine.conns.lock().unwrap().open.remove(&id);
        }));
    }
    for handle in relays {
        let _ = handle.join();
    }
}

/// Both directions of one connection, until both end.
fn relay(client: TcpStream, server: TcpStream, cut_at: u64, shared: &Shared) {
    let down = {
        let (from, to) = (server.try_clone().unwrap(), client.try_clone().unwrap());
        thread::spawn(move || pump(from, to, None))
    };
    pump(client, server, Some((cut_at, shared)));
    let _ = down.join();
}

/// Copies `from` to `to` until `from` ends. With `cut`, once `at` bytes
/// have passed it shuts down both sockets instead, if a cut is left.
fn pump(mut from: TcpStream, mut to: TcpStream, mut cut: Option<(u64, &Shared)>) {
    let mut buf = vec![0; 64 << 10];
    let mut passed = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some((at, shared)) = cut
            && passed + n as u64 >= at
        {
            if shared.take_cut() {
                let _ = to.write_all(&buf[..(at - passed) as usize]);
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
            // Every cut is spent: this connection passes untouched.
            cut = None;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        passed += n as u64;
    }
    // Passed on as a half-close, so that the other direction can finish.
    let _ = to.shutdown(Shutdown::Write);
}

impl Shared {
    fn take_cut(&self) -> bool {
        self.cuts_done
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |done| {
                (done < self.cuts).then_some(done + 1)
            })
            .is_ok()
    }
}

/// SplitMix64: well-spread numbers from consecutive seeds.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A daemon a peer started, writing to `daemon.log` in the peer's dir.
struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` and waits until something accepts on `port`: the
    /// daemons announce nothing when they listen.
    fn start(cmd: &mut Command, dir: &Path, port: u16) -> Daemon {
        let log = dir.join("daemon.log");
        let file = File::create(&log).expect("creating the daemon's log");
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {program}: {e}"));
        let mut daemon = Daemon { child, log };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "{program} exited ({status}) before listening:\n{}",
                    daemon.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{program} does not listen on port {port}:\n{}",
                daemon.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // sshd and vsftpd fork a process per session, in a session of its
        // own: find them while they still name the daemon as their parent.
        let sessions = descendants(self.child.id());
        let _ = self.child.kill();
        for pid in sessions {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        let _ = self.child.wait();
    }
}

/// The processes below `pid`. Each daemon runs one thread, whose
/// children /proc lists.
fn descendants(pid: u32) -> Vec<u32> {
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"));
    children
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|child| child.parse().ok())
        .flat_map(|child| std::iter::once(child).chain(descendants(child)))
        .collect()
}

/// Passive ports for an FTP server: a block of 20 in 20000-31999, below
/// Linux's ephemeral ports (32768-60999), so that no `free_port()` and no
/// outgoing connection lands in it. Each server of this process gets a
/// block of its own, from a start that depends on the process id so that
/// concurrent test runs differ, skipping blocks with a port taken now. A
/// port taken later costs nothing: both servers try another of the block.
fn passive_ports() -> (u16, u16) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    const BLOCKS: usize = 600;
    for _ in 0..BLOCKS {
        let block = (std::process::id() as usize + NEXT.fetch_add(1, Ordering::SeqCst)) % BLOCKS;
        let low = 20_000 + 20 * block as u16;
        if (low..low + 20).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return (low, low + 19);
        }
    }
    panic!("no free block of 20 ports in 20000-31999");
}

/// Makes `FTP_USER`, once per process. Another process (a second test run,
/// a bench making its own user) may hold the lock on /etc/passwd or
/// /etc/shadow for a moment: useradd and chpasswd then fail, and are
/// tried again.
fn ensure_ftp_user() {
    static DONE: Once = Once::new();
    DONE.call_once(|| {
        let (useradd, chpasswd) = (require("useradd"), require("chpasswd"));
        let attempt = || -> Result<String, String> {
            if run(Command::new("id").arg(FTP_USER), "").is_err() {
                // A shell from /etc/shells: vsftpd's PAM stack checks it.
                run(
                    Command::new(&useradd)
                        .args(["-M", "-d", FTP_HOME, "-s", "/bin/bash"])
                        .arg(FTP_USER),
                    "",
                )?;
            }
            run(
                &mut Command::new(&chpasswd),
                &format!("{FTP_USER}:{FTP_PASSWORD}\n"),
            )
        };
        eventually(&format!("the system user {FTP_USER} (needs root)"), || {
            attempt().inspect_err(|e| eprintln!("{e}")).is_ok()
        });
        // vsftpd enters the home directory before `local_root`.
        fs::create_dir_all(FTP_HOME).unwrap();
        give_to_ftp_user(Path::new(FTP_HOME));
    });
}

fn give_to_ftp_user(path: &Path) {
    must(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{FTP_USER}:{FTP_USER}"))
            .arg(path),
        "",
    );
}

fn keygen(path: &Path) {
    must(
        Command::new(require("ssh-keygen"))
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
            .arg(path),
        "",
    );
}

/// A self-signed certificate for 127.0.0.1 and its key, in `dir`. Not a
/// CA (`req -x509` makes one by default): rustls refuses a CA certificate
/// as a server's own (`CaUsedAsEndEntity`), even when it trusts it.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    must(
        Command::new(require("openssl"))
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args(["-days", "30", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
        "",
    );
    (cert, key)
}

/// Runs `cmd` with `input` on standard input: its output, or what failed.
fn run(cmd: &mut Command, input: &str) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    // A program that exits without reading says why on standard error.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{what} failed ({}): {}", out.status, stderr.trim()))
    }
}

#[track_caller]
fn must(cmd: &mut Command, input: &str) -> String {
    run(cmd, input).unwrap_or_else(|e| panic!("{e}"))
}
