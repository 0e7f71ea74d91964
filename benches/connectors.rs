//! ferry's connectors against the tools a partner's server is usually
//! driven with, side by side in one run, on the same servers: OpenSSH's
//! `sshd` (SFTP, compared with the `sftp` client) and `vsftpd` (FTP,
//! compared with `curl`).
//!
//! - pull: `ferry pull` of one file (connect, list, fetch, hash, sync,
//!   journal, delete the source), timed as a whole command, against
//!   `sftp get` / `curl` of the same file into a local file;
//! - push: a file routed to a partner with `push`, timed by ferry's journal
//!   from connecting to the checked rename on the server (`seconds` of the
//!   `pushed` event), against `sftp put` / `curl -T` of the same file.
//!
//! Rounds alternate which side goes first; the table gives medians.
//!
//! `cargo bench --bench connectors` (needs root, `sshd`, `vsftpd`, `sftp`
//! and `curl`; scripts/test installs them). Environment:
//! `FERRY_BENCH_ROUNDS` (3), `FERRY_BENCH_MIB` (1024).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
// The integration tests' partner servers, so that the benchmark starts
// them exactly as the tests do.
#[path = "../tests/it/peers.rs"]
mod peers;

/// What `peers` takes from the integration tests' helpers.
mod util {
    pub use crate::common::free_port;
    use std::time::{Duration, Instant};

    pub const PATIENCE: Duration = Duration::from_secs(60);

    pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

use common::{env_or, print_table, timed_with_input, write_random_file};
use peers::{Sshd, Vsftpd};

const CIPHER: &str = "aes128-gcm@openssh.com";

fn main() {
    let rounds = env_or("FERRY_BENCH_ROUNDS", 3);
    let mib = env_or("FERRY_BENCH_MIB", 1024);
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch-connectors");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let local = scratch.join("local");
    std::fs::create_dir_all(&local).unwrap();
    let big = local.join("big.bin");
    write_random_file(&big, mib);
    let bytes = (mib << 20) as f64;

    let sshd = Sshd::start();
    let vsftpd = Vsftpd::start();
    let (ssh_out, ssh_in) = (sshd.dir("outgoing"), sshd.dir("incoming"));
    let (ftp_out, ftp_in) = (vsftpd.dir("outgoing"), vsftpd.dir("incoming"));
    // The file partners leave for ferry to pull: one copy on each server,
    // hard-linked under a new name in every round.
    let ssh_src = sshd.dir("src").join("big.bin");
    std::fs::copy(&big, &ssh_src).unwrap();
    let ftp_src = vsftpd.dir("src").join("big.bin");
    std::fs::hard_link(&ssh_src, &ftp_src).unwrap();
    let password = scratch.join("ftp-password");
    std::fs::write(&password, &vsftpd.password).unwrap();

    let ferry_dir = scratch.join("ferry");
    std::fs::create_dir_all(&ferry_dir).unwrap();
    let sftp_connector = format!(
        "protocol = \"sftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nkey_file = \"{}\"\nhost_key = \"{}\"\n",
        sshd.port,
        sshd.user,
        sshd.client_key.display(),
        sshd.host_key_fingerprint
    );
    let ftp_connector = format!(
        "protocol = \"ftp\"\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\npassword_file = \"{}\"\n",
        vsftpd.port,
        vsftpd.user,
        password.display()
    );
    let pull = |from: &str| {
        format!("from = \"{from}\"\nevery = \"1h\"\nstable = \"done-file\"\nthen = \"delete\"\n")
    };
    let config = ferry_dir.join("ferry.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"data\"\n\n\
             [tenants.bench.partners.sshsource]\n[tenants.bench.partners.sshsource.connector]\n{sftp_connector}\
             [tenants.bench.partners.sshsource.pull]\n{}\n\
             [tenants.bench.partners.ftpsource]\n[tenants.bench.partners.ftpsource.connector]\n{ftp_connector}\
             [tenants.bench.partners.ftpsource.pull]\n{}\n\
             [tenants.bench.partners.sshtarget]\nreceipts = false\n\
             [tenants.bench.partners.sshtarget.connector]\n{sftp_connector}\
             [tenants.bench.partners.sshtarget.push]\nto = \"{}\"\n\n\
             [tenants.bench.partners.ftptarget]\nreceipts = false\n\
             [tenants.bench.partners.ftptarget.connector]\n{ftp_connector}\
             [tenants.bench.partners.ftptarget.push]\nto = \"/incoming\"\n\n\
             [tenants.bench.partners.tossh]\nroutes = [{{ to = \"sshtarget\" }}]\n\
             [tenants.bench.partners.toftp]\nroutes = [{{ to = \"ftptarget\" }}]\n",
            pull(&ssh_out.display().to_string()),
            pull("/outgoing"),
            ssh_in.display()
        ),
    )
    .unwrap();
    let ferry = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("-c")
            .arg(&config)
            .args(args)
            .env("FERRY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ferry {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let journal = ferry_dir.join("data/journal.sqlite");

    let mut results: Vec<(&str, [Vec<f64>; 2])> = vec![
        ("SFTP pull 1 file, MB/s (sftp get)", [vec![], vec![]]),
        ("SFTP push 1 file, MB/s (sftp put)", [vec![], vec![]]),
        ("FTP pull 1 file, MB/s (curl)", [vec![], vec![]]),
        ("FTP push 1 file, MB/s (curl -T)", [vec![], vec![]]),
    ];
    let got = local.join("got.bin");
    for round in 0..rounds {
        let name = format!("big-{round}.bin");
        for side in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                // Pulls: the file appears with its done-file, ferry takes it.
                for (i, (src, out, partner)) in [
                    (&ssh_src, &ssh_out, "sshsource"),
                    (&ftp_src, &ftp_out, "ftpsource"),
                ]
                .into_iter()
                .enumerate()
                {
                    std::fs::hard_link(src, out.join(&name)).unwrap();
                    std::fs::write(out.join(format!("{name}.done")), "").unwrap();
                    vsftpd.hand_over();
                    let started = Instant::now();
                    let said = ferry(&["pull", "--tenant", "bench", partner]);
                    let t = started.elapsed().as_secs_f64();
                    assert!(said.contains(&format!("pulled {name}")), "{said}");
                    assert!(!out.join(&name).exists(), "the pulled source is deleted");
                    results[i * 2].1[0].push(bytes / t / 1e6);
                }
                // Pushes: a file routed to each target; without a server,
                // `ferry put` runs the pipeline, push included, itself.
                for (i, (partner, target)) in [("tossh", &ssh_in), ("toftp", &ftp_in)]
                    .into_iter()
                    .enumerate()
                {
                    let said = ferry(&[
                        "put",
                        "--tenant",
                        "bench",
                        "--as",
                        partner,
                        "--name",
                        &name,
                        &big.display().to_string(),
                    ]);
                    assert_eq!(
                        std::fs::metadata(target.join(&name)).map(|m| m.len()).ok(),
                        Some(mib as u64 * (1 << 20)),
                        "pushed: {said}"
                    );
                    let seconds = pushed_seconds(&journal, &name);
                    results[i * 2 + 1].1[0].push(bytes / seconds / 1e6);
                    std::fs::remove_file(target.join(&name)).unwrap();
                }
            } else {
                let t = sftp(
                    &sshd,
                    &format!("get {} {}\n", ssh_src.display(), got.display()),
                );
                results[0].1[1].push(bytes / t / 1e6);
                std::fs::remove_file(&got).unwrap();
                let t = sftp(
                    &sshd,
                    &format!("put {} {}/{name}\n", big.display(), ssh_in.display()),
                );
                results[1].1[1].push(bytes / t / 1e6);
                std::fs::remove_file(ssh_in.join(&name)).unwrap();

                let url = format!(
                    "ftp://{}:{}@127.0.0.1:{}",
                    vsftpd.user, vsftpd.password, vsftpd.port
                );
                let t = timed(
                    Command::new("curl")
                        .args(["-sS", "--fail", "-o"])
                        .arg(&got)
                        .arg(format!("{url}/src/big.bin")),
                );
                results[2].1[1].push(bytes / t / 1e6);
                std::fs::remove_file(&got).unwrap();
                let t = timed(
                    Command::new("curl")
                        .args(["-sS", "--fail", "-T"])
                        .arg(&big)
                        .arg(format!("{url}/incoming/{name}")),
                );
                results[3].1[1].push(bytes / t / 1e6);
                std::fs::remove_file(ftp_in.join(&name)).unwrap();
            }
        }
    }
    print_table("direct", rounds, results);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Runs `sftp` in batch mode as root with `commands`; returns the wall time.
fn sftp(sshd: &Sshd, commands: &str) -> f64 {
    let mut cmd = Command::new("sftp");
    cmd.args(["-q", "-b", "-", "-P", &sshd.port.to_string(), "-c", CIPHER])
        .arg("-i")
        .arg(&sshd.client_key)
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .arg(format!("{}@127.0.0.1", sshd.user));
    timed_with_input(&mut cmd, commands, "sftp")
}

/// Runs `cmd` to its successful end; returns the wall time in seconds.
fn timed(cmd: &mut Command) -> f64 {
    let started = Instant::now();
    let out = cmd.stdout(Stdio::null()).output().unwrap();
    let t = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t
}

/// The `seconds` of the newest `pushed` event, which must be for `name`.
fn pushed_seconds(journal: &Path, name: &str) -> f64 {
    let journal = rusqlite::Connection::open(journal).unwrap();
    let detail: String = journal
        .query_row(
            "SELECT detail FROM events WHERE tenant = 'bench' AND kind = 'pushed'
             ORDER BY seq DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .expect("a pushed event");
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert!(
        detail["path"].as_str().is_some_and(|p| p.ends_with(name)),
        "the newest push is not {name}: {detail}"
    );
    detail["seconds"]
        .as_f64()
        .expect("seconds in a pushed event")
}
