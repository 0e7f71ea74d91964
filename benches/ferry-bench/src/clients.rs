//! The clients the bench drives, the same for ferry and for its peer: the
//! OpenSSH `sftp` client (aes128-gcm, as fast as this machine's SSH gets),
//! `curl` for FTP transfers and `lftp` for many small FTP files.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::common::timed_with_input;
use crate::peers::{Endpoint, FTP_PASSWORD};

pub fn sftp_command(to: &Endpoint, key: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new("sftp");
    cmd.args(["-b", "-", "-P", &to.port.to_string()])
        .args(["-c", "aes128-gcm@openssh.com", "-i"])
        .arg(key)
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .arg(format!("{}@127.0.0.1", to.user))
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Writes out what the previous measure left in the page cache, untimed,
/// before a measure starts. The peers sync nothing: without this, the
/// gigabyte vsftpd or sshd just took in is written back during whatever
/// runs next, often ferry's own measure, which then waits for the disk
/// behind it (ferry syncs its files before it answers).
fn settle() {
    let synced = Command::new("sync").status().unwrap();
    assert!(synced.success(), "sync failed");
}

/// Runs `sftp` with `commands` in batch mode; returns the wall time.
pub fn sftp(to: &Endpoint, key: &Path, cwd: &Path, commands: &str) -> f64 {
    settle();
    timed_with_input(
        &mut sftp_command(to, key, cwd),
        commands,
        &format!("{}: sftp {commands:?}", to.name),
    )
}

/// `sessions` `sftp` clients at once, each getting `path`; the wall time
/// until the last one ends.
pub fn sftp_concurrent_gets(
    to: &Endpoint,
    key: &Path,
    cwd: &Path,
    path: &str,
    sessions: usize,
) -> f64 {
    settle();
    let started = Instant::now();
    let children: Vec<Child> = (0..sessions)
        .map(|_| {
            let mut child = sftp_command(to, key, cwd).spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("get {path} /dev/null\n").as_bytes())
                .unwrap();
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}: a concurrent get failed: {}",
            to.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    started.elapsed().as_secs_f64()
}

fn run(what: &str, cmd: &mut Command) -> f64 {
    settle();
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

pub fn ftp_url(to: &Endpoint, path: &str) -> String {
    format!(
        "ftp://{}:{FTP_PASSWORD}@127.0.0.1:{}{path}",
        to.user, to.port
    )
}

pub fn curl_command(args: &[&str]) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--ftp-pasv", "--max-time", "1200"])
        .args(args);
    cmd
}

/// `curl` with `args` on `path` of `to`; returns the wall time.
pub fn curl(to: &Endpoint, args: &[&str], path: &str, cwd: &Path) -> f64 {
    run(
        &format!("{}: curl {args:?} {path}", to.name),
        curl_command(args).arg(ftp_url(to, path)).current_dir(cwd),
    )
}

/// `curl` over HTTPS (the self-signed certificates accepted; the partner's
/// Basic credentials for ferry, none for nginx) with `args` on `path` of
/// `to`; returns the wall time.
pub fn https(to: &Endpoint, args: &[&str], path: &str, cwd: &Path) -> f64 {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-k", "--fail", "--max-time", "1200"]);
    if !to.user.is_empty() {
        cmd.args(["-u", &format!("{}:{FTP_PASSWORD}", to.user)]);
    }
    cmd.args(args)
        .arg(format!("https://127.0.0.1:{}{path}", to.port))
        .current_dir(cwd);
    run(&format!("{}: curl {args:?} {path}", to.name), &mut cmd)
}

/// `lftp` running `commands` (plain FTP); returns the wall time.
pub fn lftp(to: &Endpoint, commands: &str, cwd: &Path) -> f64 {
    run(
        &format!("{}: lftp {commands}", to.name),
        Command::new("lftp")
            .args(["-u", &format!("{},{FTP_PASSWORD}", to.user)])
            .args(["-p", &to.port.to_string()])
            .args([
                "-e",
                &format!("set ftp:ssl-allow no; set net:max-retries 1; {commands}; quit"),
            ])
            .arg("127.0.0.1")
            .current_dir(cwd),
    )
}
