//! Security and robustness across tenants: what one tenant's partner, or a
//! stranger before any login, must not be able to do to the others. Each
//! test drives real clients (Python's ftplib and sockets, paramiko, curl,
//! OpenSSH `sftp`) on loopback; other loopback addresses (127.0.0.2, ...)
//! stand for other hosts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Env, SECRET_HASH, Server, eventually, free_port};

/// Two tenants, acme and globex, each with partners alice and bob, on one
/// FTP and one SFTP listener bound to no tenant (logins name theirs,
/// `alice@acme`), with an admin API. `limits` goes into `[limits]`, and
/// `acme` into acme's tenant section.
struct Hosts {
    env: Env,
    ftp: u16,
    sftp: u16,
    admin: u16,
    server: Server,
}

const OPERATOR: &str = "operator-token-0123456789abcdef";

impl Hosts {
    fn start(limits: &str, acme: &str) -> Hosts {
        let env = Env::new();
        let (ftp, sftp, admin) = (free_port(), free_port(), free_port());
        std::fs::write(env.path().join("operator.token"), OPERATOR).unwrap();
        let tenant = |name: &str, extra: &str| {
            format!(
                "[tenants.{name}]\n{extra}\n\
                 [tenants.{name}.partners.alice]\nroutes = [{{ to = \"bob\" }}]\n\
                 [[tenants.{name}.partners.alice.accounts]]\nlogin = \"alice\"\npassword_hash = \"{SECRET_HASH}\"\n\
                 [tenants.{name}.partners.bob]\n\
                 [[tenants.{name}.partners.bob.accounts]]\nlogin = \"bob\"\npassword_hash = \"{SECRET_HASH}\"\n"
            )
        };
        env.write_config(&format!(
            "[server]\ndata_dir = \"data\"\n\n[limits]\n{limits}\n\n\
             [admin]\naddress = \"127.0.0.1:{admin}\"\ntoken_file = \"operator.token\"\n\n\
             [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp}\"\n\n\
             [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp}\"\n\n{}\n{}",
            tenant("acme", acme),
            tenant("globex", "")
        ));
        let server = env.serve();
        Hosts {
            env,
            ftp,
            sftp,
            admin,
            server,
        }
    }

    /// Runs a Python script with the ports as arguments (FTP, SFTP); returns
    /// its output lines. Bounded in time.
    #[track_caller]
    fn python(&self, script: &str) -> Vec<String> {
        self.python_with(script, "")
    }

    /// [`Hosts::python`] with a third argument.
    #[track_caller]
    fn python_with(&self, script: &str, arg: &str) -> Vec<String> {
        let out = Command::new("timeout")
            .args(["120", "python3", "-c", script])
            .args([self.ftp.to_string(), self.sftp.to_string(), arg.to_owned()])
            .current_dir(self.env.path())
            .stdin(Stdio::null())
            .output()
            .expect("python3 is needed");
        assert!(
            out.status.success(),
            "the script failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `curl` on the admin API with the operator's token: status and body.
    fn admin(&self, method: &str, path: &str) -> (u16, serde_json::Value) {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-w",
                "\n%{http_code}",
                "-X",
                method,
            ])
            .args(["-H", &format!("Authorization: Bearer {OPERATOR}")])
            .arg(format!("http://127.0.0.1:{}{path}", self.admin))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (
            status.parse().unwrap(),
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.server.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    fn rss_kib(&self) -> u64 {
        crate::util::proc_status(self.server.pid(), "VmRSS")
    }
}

/// Python: `login(source, user, password)` over FTP: the reply code (and
/// the connection, when it is 230) from the address `source`.
const FTP_LOGIN: &str = r#"
import ftplib, socket, sys, time
ftp_port, sftp_port = int(sys.argv[1]), int(sys.argv[2])
def connect(source):
    ftp = ftplib.FTP(source_address=(source, 0), timeout=20)
    ftp.connect("127.0.0.1", ftp_port)
    return ftp
def login(source, user, password):
    try:
        ftp = connect(source)
    except (ftplib.error_temp, EOFError, OSError) as e:
        return str(e)[:3] or "EOF"
    try:
        ftp.login(user, password)
        ftp.close()
        return "230"
    except (ftplib.error_perm, ftplib.error_temp) as e:
        return str(e)[:3]
    except (EOFError, OSError):
        return "EOF"
    finally:
        ftp.close()
def timed(f, *args):
    start = time.monotonic()
    value = f(*args)
    return value, time.monotonic() - start
"#;

/// Finding 1: one partner holding hundreds of SFTP handles open (two
/// sessions, 256 `OPENDIR`s each: before, each held a blocking thread, and
/// 512 took tokio's whole pool) leaves another tenant's partner able to
/// log in and list within a second, over FTP and over SFTP.
#[test]
fn open_handles_cost_no_threads() {
    let hosts = Hosts::start("", "");
    let script = format!(
        r#"{FTP_LOGIN}
import paramiko
def sftp(user):
    t = paramiko.Transport(("127.0.0.1", sftp_port))
    t.connect(username=user, password="alice-pass")
    return t, paramiko.SFTPClient.from_transport(t)
held = []
for _ in range(2):
    t, s = sftp("alice@acme")
    for _ in range(256):
        kind, msg = s._request(paramiko.sftp.CMD_OPENDIR, "/inbox")
        assert kind == paramiko.sftp.CMD_HANDLE, kind
    held.append((t, s))
def ftp_list():
    ftp = connect("127.0.0.2")
    ftp.login("bob@globex", "alice-pass")
    names = ftp.nlst("/outbox")
    ftp.close()
    return names
names, took = timed(ftp_list)
print("ftp", took)
def sftp_list():
    t, s = sftp("bob@globex")
    names = s.listdir("/outbox")
    t.close()
    return names
names, took = timed(sftp_list)
print("sftp", took)
# The holder's sessions still work, within their cap.
try:
    held[0][1].listdir("/")
except PermissionError as e:
    print("held", e)
# An upload's OPEN (answered without a file thread when it can be) is
# refused the same way, and the session goes on.
try:
    held[0][1].open("/inbox/refused.txt", "w")
except PermissionError as e:
    print("upload", e)
print("still", held[0][1].stat("/inbox").st_mode)
"#
    );
    let lines = hosts.python(&script);
    for line in &lines[..2] {
        let (what, took) = line.split_once(' ').unwrap();
        let took: f64 = took.parse().unwrap();
        assert!(
            took < 1.0,
            "{what} login and list took {took:.2}s beside 512 open handles"
        );
    }
    assert!(lines[2].contains("more than 256 open handles"), "{lines:?}");
    assert!(
        lines[3].starts_with("upload") && lines[3].contains("more than 256 open handles"),
        "{lines:?}"
    );
    assert!(lines[4].starts_with("still"), "{lines:?}");
}

/// Finding 2: 400 idle connections that never log in, from one address,
/// hold only `max_startups_per_address` places (the rest are closed at
/// once), and another host's partner logs in and lists within a second.
#[test]
fn idle_connections_before_login_are_bounded() {
    let hosts = Hosts::start("", "");
    let before = hosts.fds();
    let script = format!(
        r#"{FTP_LOGIN}
idle = []
for i in range(400):
    s = socket.create_connection(("127.0.0.1", ftp_port if i % 2 else sftp_port), timeout=20)
    idle.append(s)
time.sleep(0.5)
print("held")
sys.stdout.flush()
def ftp_list():
    ftp = connect("127.0.0.2")
    ftp.login("alice@globex", "alice-pass")
    ftp.nlst("/inbox")
    ftp.close()
_, took = timed(ftp_list)
print(took)
# The connections over the limit were closed by the server.
closed = 0
for s in idle:
    s.settimeout(0.2)
    try:
        data = s.recv(4096)
        if data.startswith(b"421") or data == b"":
            closed += 1
    except socket.timeout:
        pass
    except OSError:
        closed += 1
print(closed)
"#
    );
    let lines = hosts.python(&script);
    let took: f64 = lines[1].parse().unwrap();
    assert!(
        took < 1.0,
        "a login beside 400 idle connections took {took:.2}s"
    );
    let closed: usize = lines[2].parse().unwrap();
    assert!(
        closed >= 400 - 2 * 16,
        "only {closed} of 400 idle connections were turned away"
    );
    // The script has exited: its connections are gone, and so are ferry's
    // descriptors for them.
    eventually("ferry's descriptors back", || hosts.fds() <= before + 4);
}

/// Finding 2: a connection must log in within `login_grace`; NOOP does not
/// keep an unauthenticated FTP connection alive.
#[test]
fn a_login_must_come_in_time() {
    let hosts = Hosts::start("login_grace = \"2s\"", "");
    let script = format!(
        r#"{FTP_LOGIN}
ftp = connect("127.0.0.1")
start = time.monotonic()
code = None
try:
    for _ in range(20):
        ftp.voidcmd("NOOP")
        time.sleep(0.25)
except (ftplib.error_temp, EOFError, OSError) as e:
    code = str(e)[:3]
print(code, round(time.monotonic() - start))
s = socket.create_connection(("127.0.0.1", sftp_port), timeout=20)
s.sendall(b"SSH-2.0-slow\r\n")
start = time.monotonic()
while True:
    try:
        if not s.recv(4096):
            break
    except OSError:
        break
print(round(time.monotonic() - start))
"#
    );
    let lines = hosts.python(&script);
    assert!(lines[0].starts_with("421 2"), "{lines:?}");
    let ssh: u64 = lines[1].parse().unwrap();
    assert!(ssh <= 4, "an SSH connection without a login lasted {ssh}s");
}

/// Finding 3: a client that stalls its data connection during RETR and
/// floods the control connection has its session ended, and ferry's memory
/// does not follow the flood.
#[test]
fn a_control_flood_during_a_transfer_ends_the_session() {
    let mut hosts = Hosts::start("", "");
    hosts
        .env
        .ferry()
        .args([
            "put", "-", "--tenant", "acme", "--as", "alice", "--name", "big.bin",
        ])
        .stdin(vec![7u8; 32 << 20])
        .ok();
    eventually("big.bin delivered to bob", || {
        hosts.env.names("bob", "/outbox") == ["big.bin"]
    });
    let before = hosts.rss_kib();
    let script = format!(
        r#"{FTP_LOGIN}
ftp = connect("127.0.0.1")
ftp.login("bob@acme", "alice-pass")
ftp.voidcmd("TYPE I")
host, port = ftplib.parse227(ftp.sendcmd("PASV"))
data = socket.create_connection((host, port))
data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
ftp.sock.sendall(b"RETR /outbox/big.bin\r\n")
print(ftp.getline()[:3])
sys.stdout.flush()
line = b"NOOP " + b"x" * 4000 + b"\r\n"
sent = 0
try:
    for _ in range(50000):
        ftp.sock.sendall(line)
        sent += len(line)
except OSError:
    pass
print(sent)
"#
    );
    let lines = hosts.python(&script);
    assert_eq!(lines[0], "150", "{lines:?}");
    hosts.server.wait_for("too many commands during a transfer");
    let sent: u64 = lines[1].parse().unwrap();
    assert!(
        sent < 100 << 20,
        "the server read {sent} bytes of flood without ending the session"
    );
    let grown = hosts.rss_kib().saturating_sub(before);
    assert!(
        grown < 64 << 10,
        "ferry grew by {grown} KiB during the flood"
    );
}

/// Finding 5: interrupted uploads kept to resume count toward the quota, a
/// partner keeps at most `max_suspended` of them, and they are given up
/// after `resume_for` (the room comes back).
#[test]
fn cut_uploads_count_toward_the_quota_and_expire() {
    let hosts = Hosts::start("resume_for = \"6s\"\nmax_suspended = 2", "quota = \"4MiB\"");
    let script = format!(
        r#"{FTP_LOGIN}
import io
def cut(user, name, size):
    ftp = connect("127.0.0.1")
    ftp.login(user, "alice-pass")
    ftp.voidcmd("TYPE I")
    host, port = ftplib.parse227(ftp.sendcmd("PASV"))
    data = socket.create_connection((host, port))
    ftp.sock.sendall(("STOR /inbox/" + name + "\r\n").encode())
    ftp.getline()
    data.sendall(b"c" * size)
    time.sleep(0.5)
    # The client dies: the control connection goes first (shut down:
    # ftplib's file object would keep the socket open past a close).
    ftp.sock.shutdown(socket.SHUT_RDWR)
    ftp.sock.close()
    time.sleep(0.3)
    data.close()
    time.sleep(0.2)
def upload(name, size):
    ftp = connect("127.0.0.1")
    ftp.login("alice@acme", "alice-pass")
    try:
        return ftp.storbinary("STOR /inbox/" + name, io.BytesIO(b"u" * size))[:3]
    except (ftplib.error_perm, ftplib.error_temp) as e:
        return str(e)[:3]
    except OSError:
        try:
            return ftp.getresp()[:3]
        except (ftplib.error_perm, ftplib.error_temp) as e:
            return str(e)[:3]
if sys.argv[3] == "0":
    cut("alice@acme", "a.bin", 3 << 20)
else:
    print(upload("b.bin", int(sys.argv[3])))
    for name in ["x1", "x2", "x3"]:
        cut("bob@acme", name, 1000)
"#
    );
    let count = |sql: &str| hosts.env.count(sql);
    hosts.python_with(&script, "0");
    // The server keeps what it had read of the cut upload once it sees the
    // client gone; an upload that fits beside it and no more is refused.
    eventually("a.bin kept", || {
        count("SELECT COUNT(*) FROM suspended WHERE name = 'a.bin'") == 1
    });
    let kept = count("SELECT size FROM suspended WHERE name = 'a.bin'");
    assert!(kept > 0);
    let room = (4 << 20) - kept + (64 << 10);
    let lines = hosts.python_with(&script, &room.to_string());
    assert_eq!(
        lines[0], "552",
        "the cut 3 MiB counted against 4 MiB: {lines:?}"
    );
    eventually("bob's cut uploads kept", || {
        count("SELECT COUNT(*) FROM messages WHERE partner = 'bob' AND state = 'failed'") == 3
    });
    assert_eq!(
        count("SELECT COUNT(*) FROM suspended WHERE partner = 'alice'"),
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM suspended WHERE partner = 'bob' AND name IN ('x2', 'x3')"),
        2,
        "bob keeps his two newest"
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM suspended WHERE partner = 'bob'"),
        2
    );
    // Given up after `resume_for`: their staging files go, the room is back.
    eventually("the cut uploads given up", || {
        count("SELECT COUNT(*) FROM suspended") == 0
    });
    let staging = hosts.env.tenant_root("acme").join("staging");
    eventually("the staging files removed", || {
        std::fs::read_dir(&staging).map_or(0, |d| d.count()) == 0
    });
    let script = format!(
        r#"{FTP_LOGIN}
import io
ftp = connect("127.0.0.1")
ftp.login("alice@acme", "alice-pass")
print(ftp.storbinary("STOR /inbox/b.bin", io.BytesIO(b"u" * (2 << 20)))[:3])
"#
    );
    assert_eq!(hosts.python(&script), ["226"]);
}

/// Finding 6: under `require_tls`, the files must not cross in clear:
/// `PROT C` is refused after the login, and a transfer without `PROT P`
/// too (curl with TLS on the control connection only).
#[test]
fn require_tls_protects_the_data_connections() {
    let hosts = Hosts::start("", "require_tls = true");
    hosts
        .env
        .ferry()
        .args([
            "put", "-", "--tenant", "acme", "--as", "alice", "--name", "r.txt",
        ])
        .stdin(b"secret".to_vec())
        .ok();
    eventually("r.txt delivered to bob", || {
        hosts.env.names("bob", "/outbox") == ["r.txt"]
    });
    let url = |path: &str| format!("ftp://bob%40acme:alice-pass@127.0.0.1:{}{path}", hosts.ftp);
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "--max-time", "30", "--insecure"])
            .args(args)
            .output()
            .unwrap()
    };
    let clear = curl(&["--ftp-ssl-control", &url("/outbox/r.txt")]);
    assert!(
        !clear.status.success(),
        "a clear data connection was served"
    );
    let protected = curl(&["--ssl-reqd", &url("/outbox/r.txt")]);
    assert!(
        protected.status.success(),
        "{}",
        String::from_utf8_lossy(&protected.stderr)
    );
    assert_eq!(protected.stdout, b"secret");
    let script = format!(
        r#"{FTP_LOGIN}
ftp = ftplib.FTP_TLS(timeout=20)
import ssl
ftp.context.check_hostname = False
ftp.context.verify_mode = ssl.CERT_NONE
ftp.connect("127.0.0.1", ftp_port)
ftp.login("bob@acme", "alice-pass")
try:
    print(ftp.prot_c()[:3])
except ftplib.error_perm as e:
    print(str(e)[:3])
try:
    ftp.nlst("/outbox")
    print("listed")
except ftplib.error_perm as e:
    print(str(e)[:3])
"#
    );
    assert_eq!(hosts.python(&script), ["534", "521"]);
}

/// Findings 7 and 8: eight wrong passwords for alice from one address ban
/// that address from acme's logins only: alice logs in from another one,
/// the banned address still reaches globex; the ban is listed and lifted
/// through the admin API. Unknown and known logins fail alike, in time and
/// in text.
#[test]
fn bans_are_per_tenant_and_address_and_never_lock_a_login() {
    let hosts = Hosts::start("login_failures = 5", "");
    let script = format!(
        r#"{FTP_LOGIN}
wrong = [login("127.0.0.2", "alice@acme", "wrong") for _ in range(8)]
print(",".join(wrong))
print(timed(login, "127.0.0.3", "alice@acme", "alice-pass")[0])
print(login("127.0.0.2", "alice@acme", "alice-pass"))
print(login("127.0.0.2", "alice@globex", "alice-pass"))
"#
    );
    let lines = hosts.python(&script);
    assert_eq!(
        lines[0], "530,530,530,530,530,421,421,421",
        "banned after five: {lines:?}"
    );
    assert_eq!(lines[1], "230", "alice logs in from elsewhere: {lines:?}");
    assert_eq!(
        lines[2], "421",
        "the address is banned from acme: {lines:?}"
    );
    assert_eq!(lines[3], "230", "but not from globex: {lines:?}");
    let (status, bans) = hosts.admin("GET", "/api/v1/tenants/acme/bans");
    assert_eq!(status, 200);
    assert_eq!(bans["bans"][0]["address"], "127.0.0.2", "{bans}");
    let (status, _) = hosts.admin("GET", "/api/v1/tenants/globex/bans");
    assert_eq!(status, 200);
    let (status, _) = hosts.admin("DELETE", "/api/v1/tenants/acme/bans/127.0.0.2");
    assert_eq!(status, 200);
    let (_, bans) = hosts.admin("GET", "/api/v1/bans");
    assert_eq!(bans["bans"].as_array().map(Vec::len), Some(0), "{bans}");
    assert_eq!(
        hosts.python(&format!(
            "{FTP_LOGIN}\nprint(login('127.0.0.2', 'alice@acme', 'alice-pass'))"
        )),
        ["230"]
    );
}

/// Finding 8: an unknown login, a login of an unknown tenant and a known
/// login with a wrong password take the same time and get the same reply.
#[test]
fn unknown_and_known_logins_fail_alike() {
    let hosts = Hosts::start("login_failures = 1000", "");
    let script = format!(
        r#"{FTP_LOGIN}
def attempt(user):
    ftp = connect("127.0.0.4")
    start = time.monotonic()
    try:
        ftp.login(user, "wrong")
    except ftplib.error_perm as e:
        reply = str(e)
    took = time.monotonic() - start
    ftp.close()
    return reply, took
users = ["alice@acme", "nobody@acme", "alice@nowhere"]
runs = dict((user, []) for user in users)
# Interleaved, so that a busy moment of the machine falls on all alike.
for _ in range(9):
    for user in users:
        runs[user].append(attempt(user))
for user in users:
    # The fastest of nine: what an attempt costs when the machine is not busy
    # elsewhere (a leak shows there as well as anywhere).
    print(min(t for _, t in runs[user]), "|".join(sorted(set(r for r, _ in runs[user]))))
"#
    );
    let lines = hosts.python(&script);
    let parse = |line: &str| {
        let (time, reply) = line.split_once(' ').unwrap();
        (time.parse::<f64>().unwrap(), reply.to_owned())
    };
    let (known, known_reply) = parse(&lines[0]);
    for line in &lines[1..] {
        let (unknown, reply) = parse(line);
        assert_eq!(reply, known_reply, "the same words: {lines:?}");
        let ratio = unknown / known;
        assert!(
            (0.5..2.0).contains(&ratio),
            "an unknown login took {unknown:.4}s, a known one {known:.4}s: {lines:?}"
        );
    }
}

/// Finding 9: an account deleted, or its password changed, ends its
/// sessions that are logged in (FTP and SFTP) at the reload.
#[test]
fn revoked_credentials_end_their_sessions() {
    let mut hosts = Hosts::start("", "");
    let script = format!(
        r#"{FTP_LOGIN}
import paramiko
ftp = connect("127.0.0.1")
ftp.login("bob@acme", "alice-pass")
t = paramiko.Transport(("127.0.0.1", sftp_port))
t.connect(username="alice@acme", password="alice-pass")
s = paramiko.SFTPClient.from_transport(t)
s.listdir("/")
print("in")
sys.stdout.flush()
sys.stdin.readline()
try:
    ftp.voidcmd("NOOP")
    print("ftp alive")
except (ftplib.error_temp, EOFError, OSError) as e:
    print("ftp ended", str(e)[:3])
deadline = time.monotonic() + 10
while t.is_active() and time.monotonic() < deadline:
    time.sleep(0.05)
print("sftp alive" if t.is_active() else "sftp ended")
"#
    );
    let mut child = Command::new("timeout")
        .args(["120", "python3", "-c", &script])
        .args([hosts.ftp.to_string(), hosts.sftp.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    use std::io::{BufRead as _, Write as _};
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "in");
    // bob's account goes, alice's password changes.
    let config = std::fs::read_to_string(&hosts.env.config).unwrap();
    let other = "$argon2id$v=19$m=19456,t=2,p=1$ocmB7Y93b9RakSFEtHummg$XQddEU6I9N7AEjWtIfsIx6ns58weXAXgrH5/L284AUk";
    let acme_bob = format!(
        "[[tenants.acme.partners.bob.accounts]]\nlogin = \"bob\"\npassword_hash = \"{SECRET_HASH}\"\n"
    );
    let acme_alice = format!(
        "[[tenants.acme.partners.alice.accounts]]\nlogin = \"alice\"\npassword_hash = \"{SECRET_HASH}\"\n"
    );
    let edited = config
        .replace(&acme_bob, "")
        .replace(&acme_alice, &acme_alice.replace(SECRET_HASH, other));
    assert_ne!(edited, config);
    hosts.env.write_config(&edited);
    hosts.server.signal("HUP");
    hosts.server.wait_for("configuration reloaded");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let _ = child.wait();
    assert!(rest.contains("ftp ended 421"), "{rest}");
    assert!(rest.contains("sftp ended"), "{rest}");
    // globex's sessions were never touched: a login still works there.
    let start = Instant::now();
    assert_eq!(
        hosts.python(&format!(
            "{FTP_LOGIN}\nprint(login('127.0.0.1', 'bob@globex', 'alice-pass'))"
        )),
        ["230"]
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// Memory does not grow with what a client asks for: four SFTP sessions
/// each ask for 128 reads of 255 KiB (32 MiB a session) and never take the
/// replies. ferry holds a session's reply data to 256 KiB between reading
/// it and writing it (SSH flow control holds the rest back), so its
/// resident set grows by a few MiB, not by the 128 MiB asked for. (Before,
/// every read was served and its data queued for a writer that the client's
/// closed window had stopped.)
#[test]
fn unread_replies_do_not_hold_memory() {
    let hosts = Hosts::start("", "");
    let script = r#"
import os, sys, time, paramiko
from paramiko.sftp_client import int64
sftp_port = int(sys.argv[2])
held = []
for i in range(4):
    t = paramiko.Transport(("127.0.0.1", sftp_port))
    t.connect(username="alice@acme", password="alice-pass")
    s = paramiko.SFTPClient.from_transport(t)
    if i == 0:
        with s.open("/inbox/big.bin", "wb") as f:
            f.write(os.urandom(1 << 20))
    held.append((t, s, s.open("/inbox/big.bin", "rb")))
print("ready", flush=True)
sys.stdin.readline()
for t, s, f in held:
    for _ in range(128):
        s._async_request(f, paramiko.sftp.CMD_READ, f.handle, int64(0), 255 * 1024)
print("asked", flush=True)
sys.stdin.readline()
"#;
    let mut child = Command::new("timeout")
        .args(["120", "python3", "-c", script])
        .args([hosts.ftp.to_string(), hosts.sftp.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut next_line = || lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(next_line(), "ready");
    let before = hosts.rss_kib();
    std::io::Write::write_all(&mut stdin, b"go\n").unwrap();
    assert_eq!(next_line(), "asked");
    // Every read that ferry will serve is served within a moment: watch
    // the resident set for three seconds and keep its highest.
    let mut peak = before;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        peak = peak.max(hosts.rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::io::Write::write_all(&mut stdin, b"done\n");
    let _ = child.wait();
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 40,
        "ferry's resident set grew by {grown_mib} MiB for 4 x 128 unread reads of 255 KiB"
    );
}
