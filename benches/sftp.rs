//! ferry's SFTP server against OpenSSH's `sshd` + `sftp-server`, side by
//! side in one run, driven by the same OpenSSH `sftp` client with the same
//! cipher (aes128-gcm):
//!
//! - 1 GiB put and 1 GiB get;
//! - 2,000 files of 4 KiB put with `mput`;
//! - 200 concurrent sessions each getting 5 MiB.
//!
//! ferry hashes, syncs and journals every file it receives; sshd writes
//! into a plain directory. Rounds alternate A/B; the table gives medians.
//!
//! `cargo bench --bench sftp` (needs `sshd`: `apt-get install openssh-server`).
//! Environment: `FERRY_BENCH_ROUNDS` (3), `FERRY_BENCH_MIB` (1024),
//! `FERRY_BENCH_FILES` (2000), `FERRY_BENCH_SESSIONS` (200).

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

mod common;

use common::{
    Peer, env_or, free_port, print_table, timed_with_input, wait_for_port, write_random_file,
    write_small_files,
};

/// Runs `sftp` with `commands` in batch mode; returns the wall time.
fn sftp(peer: &Peer, key: &Path, cwd: &Path, commands: &str) -> f64 {
    timed_with_input(
        &mut sftp_command(peer, key, cwd),
        commands,
        &format!("{}: sftp", peer.name),
    )
}

fn sftp_command(peer: &Peer, key: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new("sftp");
    cmd.args([
        "-b",
        "-",
        "-P",
        &peer.port.to_string(),
        "-c",
        "aes128-gcm@openssh.com",
    ])
    .arg("-i")
    .arg(key)
    .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
    .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
    .arg(format!("{}@127.0.0.1", peer.user))
    .current_dir(cwd)
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

fn main() {
    let rounds = env_or("FERRY_BENCH_ROUNDS", 3);
    let mib = env_or("FERRY_BENCH_MIB", 1024);
    let files = env_or("FERRY_BENCH_FILES", 2000);
    let sessions = env_or("FERRY_BENCH_SESSIONS", 200);
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch-sftp");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let local = scratch.join("local");
    std::fs::create_dir_all(&local).unwrap();

    let key = scratch.join("client_key");
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();

    // Test data: one large file, many small ones, one 5 MiB file.
    let big = local.join("big.bin");
    write_random_file(&big, mib);
    // Small files, different in every round and for each server, so that
    // no round stores content an earlier one already did.
    for round in 0..rounds {
        for peer in 0..2 {
            write_small_files(
                &local.join(format!("small-{round}-{peer}")),
                files,
                round,
                peer,
            );
        }
    }
    std::fs::write(local.join("five.bin"), vec![7u8; 5 << 20]).unwrap();

    // OpenSSH: its own config, keys and port; root logs in with the key.
    let sshd_dir = scratch.join("sshd");
    std::fs::create_dir_all(sshd_dir.join("files")).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(sshd_dir.join("host_key"))
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(sshd_dir.join("authorized_keys"), &public).unwrap();
    let sshd_port = free_port();
    std::fs::write(
        sshd_dir.join("sshd_config"),
        format!(
            "Port {sshd_port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPubkeyAuthentication yes\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\nPermitRootLogin prohibit-password\n\
             MaxStartups 400:30:800\nMaxSessions 400\nLogLevel ERROR\nSubsystem sftp /usr/lib/openssh/sftp-server\n",
            dir = sshd_dir.display()
        ),
    )
    .unwrap();
    let sshd = Peer {
        name: "openssh",
        port: sshd_port,
        user: "root",
        dir: sshd_dir.join("files").display().to_string(),
        child: Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(sshd_dir.join("sshd_config"))
            .spawn()
            .expect("sshd (openssh-server) is needed"),
    };

    // ferry: its release binary, a tenant with one partner.
    let ferry_dir = scratch.join("ferry");
    std::fs::create_dir_all(&ferry_dir).unwrap();
    let ferry_port = free_port();
    std::fs::write(
        ferry_dir.join("ferry.toml"),
        format!(
            "[server]\ndata_dir = \"data\"\n\n[[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{ferry_port}\"\n\
             tenant = \"bench\"\n\n[tenants.bench.partners.alice]\n[[tenants.bench.partners.alice.accounts]]\n\
             login = \"alice\"\nssh_keys = [\"{}\"]\n",
            public.trim()
        ),
    )
    .unwrap();
    let ferry = Peer {
        name: "ferry",
        port: ferry_port,
        user: "alice",
        dir: "/inbox".into(),
        child: Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("-c")
            .arg(ferry_dir.join("ferry.toml"))
            .arg("serve")
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap(),
    };
    wait_for_port(sshd_port);
    wait_for_port(ferry_port);

    let peers = [&ferry, &sshd];
    let mut results: Vec<(&str, [Vec<f64>; 2])> = vec![
        ("1 GiB put, MB/s", [vec![], vec![]]),
        ("1 GiB get, MB/s", [vec![], vec![]]),
        ("4 KiB files put, files/s", [vec![], vec![]]),
        ("concurrent 5 MiB gets, MB/s in all", [vec![], vec![]]),
    ];
    let bytes = (mib << 20) as f64;
    for round in 0..rounds {
        // Alternate which server goes first, to cancel drift.
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for &p in &order {
            let peer = peers[p];
            let name = format!("big-{round}.bin");
            let t = sftp(
                peer,
                &key,
                &local,
                &format!("put big.bin {}/{name}\n", peer.dir),
            );
            results[0].1[p].push(bytes / t / 1e6);
            let t = sftp(
                peer,
                &key,
                &local,
                &format!("get {}/{name} got.bin\n", peer.dir),
            );
            results[1].1[p].push(bytes / t / 1e6);
            std::fs::remove_file(local.join("got.bin")).unwrap();
            if p == 1 {
                std::fs::remove_file(sshd_dir.join("files").join(&name)).unwrap();
            }

            let target = if p == 1 {
                let dir = format!("{}/small-{round}", peer.dir);
                std::fs::create_dir_all(&dir).unwrap();
                dir
            } else {
                // ferry's inbox is flat; the names are new in every round.
                peer.dir.clone()
            };
            let t = sftp(
                peer,
                &key,
                &local.join(format!("small-{round}-{p}")),
                &format!("cd {target}\nmput *\n"),
            );
            results[2].1[p].push(files as f64 / t);

            sftp(
                peer,
                &key,
                &local,
                &format!("put five.bin {}/five-{round}.bin\n", peer.dir),
            );
            let started = Instant::now();
            let children: Vec<Child> = (0..sessions)
                .map(|_| {
                    let mut child = sftp_command(peer, &key, &local).spawn().unwrap();
                    child
                        .stdin
                        .take()
                        .unwrap()
                        .write_all(
                            format!("get {}/five-{round}.bin /dev/null\n", peer.dir).as_bytes(),
                        )
                        .unwrap();
                    child
                })
                .collect();
            for child in children {
                let out = child.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "{}: a concurrent get failed: {}",
                    peer.name,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let t = started.elapsed().as_secs_f64();
            results[3].1[p].push((sessions * (5 << 20)) as f64 / t / 1e6);
        }
    }

    print_table("OpenSSH", rounds, results);
    drop(ferry);
    drop(sshd);
    let _ = std::fs::remove_dir_all(&scratch);
}
