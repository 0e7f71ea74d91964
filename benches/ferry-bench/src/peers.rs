//! The servers of the bench, each with its own configuration in the
//! scratch folder, on free loopback ports: OpenSSH's `sshd`, `vsftpd`,
//! nginx over HTTPS, and one ferry serving SFTP, FTP and HTTPS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{free_port, wait_for_port};

/// The system user vsftpd logs in (and ferry's partner, by the same name).
pub const FTP_USER: &str = "ferrybench";
pub const FTP_PASSWORD: &str = "bench-pass";
/// argon2 of `bench-pass`.
const FTP_PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$qCkV2zkOzUzK50MuojqE1Q$G/rKJrs9ORlLBWLkzwrojoECcf6OOnQ/hDP+NoO3zSQ";

/// One protocol endpoint of a server: what a client needs to use it.
#[derive(Clone)]
pub struct Endpoint {
    pub name: &'static str,
    pub port: u16,
    pub user: &'static str,
    /// Where uploads go and downloads come from, as the client names it.
    pub dir: String,
    /// Where the server keeps a file a client uploaded, if it is a plain
    /// directory the bench may clean up (the peers'; ferry keeps its own).
    pub local_dir: Option<PathBuf>,
}

/// A running server process, killed when dropped.
pub struct Process {
    pub child: Child,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(what: &str, cmd: &mut Command) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("{what}: {e}");
    });
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An ed25519 key pair at `path` (and `path.pub`); returns the public key.
pub fn key_pair(path: &Path) -> String {
    check(
        "ssh-keygen",
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(path),
    );
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// OpenSSH with `internal-sftp` (the code of `sftp-server`, in the session
/// process, so no shell starts), root logging in with `public`.
pub fn start_sshd(dir: &Path, public: &str) -> (Process, Endpoint) {
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    key_pair(&dir.join("host_key"));
    std::fs::write(dir.join("authorized_keys"), format!("{public}\n")).unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\n\
             PermitRootLogin prohibit-password\nMaxStartups 400:30:800\nMaxSessions 400\n\
             LogLevel ERROR\nSubsystem sftp internal-sftp\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .spawn()
        .expect("sshd is needed: apt-get install openssh-server");
    wait_for_port(port);
    let files = dir.join("files");
    (
        Process { child },
        Endpoint {
            name: "OpenSSH",
            port,
            user: "root",
            dir: files.display().to_string(),
            local_dir: Some(files),
        },
    )
}

/// The system user vsftpd logs in, with the bench's password.
fn ensure_ftp_user() {
    let exists = Command::new("id")
        .arg(FTP_USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        check(
            "useradd (root is needed for the vsftpd user)",
            Command::new("useradd").args(["-m", "-s", "/bin/bash", FTP_USER]),
        );
    }
    // vsftpd changes into the home directory before `local_root`.
    let home = Path::new("/home").join(FTP_USER);
    if !home.exists() {
        std::fs::create_dir_all(&home).unwrap();
        check(
            "chown",
            Command::new("chown")
                .arg(format!("{FTP_USER}:{FTP_USER}"))
                .arg(&home),
        );
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        chpasswd.stdin.as_mut().unwrap(),
        format!("{FTP_USER}:{FTP_PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
}

/// vsftpd, passive mode, `sendfile` on, writing into `dir/files`.
pub fn start_vsftpd(dir: &Path) -> (Process, Endpoint) {
    ensure_ftp_user();
    let files = dir.join("files");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    check(
        "chown",
        Command::new("chown")
            .arg(format!("{FTP_USER}:{FTP_USER}"))
            .arg(&files),
    );
    let (port, pasv) = (free_port(), free_port());
    std::fs::write(
        dir.join("vsftpd.conf"),
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\npasv_enable=YES\n\
             pasv_address=127.0.0.1\npasv_min_port={pasv}\npasv_max_port={}\npam_service_name=vsftpd\n\
             secure_chroot_dir={}\nseccomp_sandbox=NO\nuse_sendfile=YES\nxferlog_enable=NO\n\
             local_root={}\nmax_per_ip=0\nmax_clients=0\n",
            pasv + 50,
            empty.display(),
            files.display()
        ),
    )
    .unwrap();
    let child = Command::new("vsftpd")
        .arg(dir.join("vsftpd.conf"))
        .spawn()
        .expect("vsftpd is needed: apt-get install vsftpd");
    wait_for_port(port);
    (
        Process { child },
        Endpoint {
            name: "vsftpd",
            port,
            user: FTP_USER,
            dir: String::new(),
            local_dir: Some(files),
        },
    )
}

/// nginx over TLS (a self-signed certificate made here, TLS 1.3 as it
/// negotiates by default), taking `PUT` uploads (`dav_methods PUT`, no
/// body size limit) into `dir/files` and serving them back.
pub fn start_nginx(dir: &Path) -> (Process, Endpoint) {
    let files = dir.join("files");
    let temp = dir.join("temp");
    for d in [&files, &temp] {
        std::fs::create_dir_all(d).unwrap();
    }
    check(
        "openssl",
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem")),
    );
    // Its workers run as `nobody`: they write the files.
    check(
        "chown",
        Command::new("chown")
            .args(["-R", "nobody"])
            .arg(&files)
            .arg(&temp),
    );
    let port = free_port();
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "worker_processes 1;
daemon off;
error_log {d}/error.log;
pid {d}/nginx.pid;
             events {{ worker_connections 1024; }}
             http {{
 access_log off;
 sendfile on;
             client_body_temp_path {t};
 proxy_temp_path {t};
 fastcgi_temp_path {t};
             uwsgi_temp_path {t};
 scgi_temp_path {t};
             server {{
  listen 127.0.0.1:{port} ssl;
  ssl_certificate {d}/cert.pem;
             ssl_certificate_key {d}/key.pem;
  root {f};
  client_max_body_size 0;
             location / {{ dav_methods PUT; create_full_put_path on; }}
 }}
}}
",
            t = temp.display(),
            f = files.display(),
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is needed: apt-get install nginx");
    wait_for_port(port);
    (
        Process { child },
        Endpoint {
            name: "nginx",
            port,
            user: "",
            dir: String::new(),
            local_dir: Some(files),
        },
    )
}

/// ferry's configuration and ports; `start` runs a new process on them,
/// with the same data directory each time.
pub struct Ferry {
    pub binary: PathBuf,
    pub config: PathBuf,
    pub sftp: Endpoint,
    pub ftp: Endpoint,
    pub https: Endpoint,
}

impl Ferry {
    /// One tenant with one partner, `ferrybench`, who logs in with the
    /// password over FTP and the key over SFTP. No plugins: the figures are
    /// of the servers; plugin costs are measured on their own. The caps on
    /// connections before login are raised as sshd's `MaxStartups` is
    /// (above): the bench opens hundreds of sessions at once from one
    /// address, which the defaults (16 per address) rightly turn away.
    pub fn configure(dir: &Path, binary: PathBuf, public: &str) -> Ferry {
        std::fs::create_dir_all(dir).unwrap();
        let (sftp_port, ftp_port, https_port) = (free_port(), free_port(), free_port());
        let config = dir.join("ferry.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\ndata_dir = \"data\"\n\n\
                 [limits]\nmax_startups_per_address = 1024\nmax_startups = 1024\n\n\
                 [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp_port}\"\ntenant = \"bench\"\n\n\
                 [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\ntenant = \"bench\"\n\n\
                 [[listeners]]\nprotocol = \"https\"\naddress = \"127.0.0.1:{https_port}\"\ntenant = \"bench\"\n\n\
                 [tenants.bench.partners.{FTP_USER}]\n\
                 [[tenants.bench.partners.{FTP_USER}.accounts]]\nlogin = \"{FTP_USER}\"\n\
                 password_hash = \"{FTP_PASSWORD_HASH}\"\nssh_keys = [\"{public}\"]\n"
            ),
        )
        .unwrap();
        let endpoint = |name, port| Endpoint {
            name,
            port,
            user: FTP_USER,
            dir: "/inbox".into(),
            local_dir: None,
        };
        Ferry {
            binary,
            config,
            sftp: endpoint("ferry", sftp_port),
            ftp: endpoint("ferry", ftp_port),
            https: endpoint("ferry", https_port),
        }
    }

    pub fn start(&self) -> Process {
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .arg("serve")
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.binary.display()));
        wait_for_port(self.sftp.port);
        wait_for_port(self.ftp.port);
        wait_for_port(self.https.port);
        Process { child }
    }
}
