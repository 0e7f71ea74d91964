//! ferry's FTP server against vsftpd, side by side in one run, driven by
//! the same clients:
//!
//! - 1 GiB put and 1 GiB get with `curl` (passive mode);
//! - 2,000 files of 4 KiB with `lftp mirror -R`.
//!
//! ferry hashes, syncs and journals every file before it answers `226`;
//! vsftpd writes into a plain directory. Rounds alternate A/B; the table
//! gives medians.
//!
//! `cargo bench --bench ftp` (needs `vsftpd` and `lftp`, and root: vsftpd
//! logs in system users, so the bench makes one, `ferrybench`).
//! Environment: `FERRY_BENCH_ROUNDS` (3), `FERRY_BENCH_MIB` (1024),
//! `FERRY_BENCH_FILES` (2000).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

mod common;

use common::{
    Peer, env_or, free_port, print_table, wait_for_port, write_random_file, write_small_files,
};

const USER: &str = "ferrybench";
const PASSWORD: &str = "bench-pass";
/// argon2 of `bench-pass`.
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$qCkV2zkOzUzK50MuojqE1Q$G/rKJrs9ORlLBWLkzwrojoECcf6OOnQ/hDP+NoO3zSQ";

fn run(what: &str, cmd: &mut Command) -> f64 {
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}

fn curl(peer: &Peer, args: &[&str], path: &str, cwd: &Path) -> f64 {
    let url = format!(
        "ftp://{}:{PASSWORD}@127.0.0.1:{}{path}",
        peer.user, peer.port
    );
    run(
        &format!("{}: curl {args:?}", peer.name),
        Command::new("curl")
            .args(["-sS", "--ftp-pasv", "--max-time", "600"])
            .args(args)
            .arg(url)
            .current_dir(cwd),
    )
}

fn lftp(peer: &Peer, commands: &str, cwd: &Path) -> f64 {
    run(
        &format!("{}: lftp {commands}", peer.name),
        Command::new("lftp")
            .args(["-u", &format!("{},{PASSWORD}", peer.user)])
            .args(["-p", &peer.port.to_string()])
            .args([
                "-e",
                &format!("set ftp:ssl-allow no; set net:max-retries 1; {commands}; quit"),
            ])
            .arg("127.0.0.1")
            .current_dir(cwd),
    )
}

/// The system user vsftpd logs in, with the bench's password.
fn ensure_user() {
    let exists = Command::new("id")
        .arg(USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let made = Command::new("useradd")
            .args(["-m", "-s", "/bin/bash", USER])
            .status()
            .expect("useradd (root) is needed for the vsftpd user");
        assert!(made.success(), "useradd {USER} failed");
    }
    // vsftpd changes into the home directory before `local_root`.
    let home = Path::new("/home").join(USER);
    if !home.exists() {
        std::fs::create_dir_all(&home).unwrap();
        assert!(
            Command::new("chown")
                .arg(format!("{USER}:{USER}"))
                .arg(&home)
                .status()
                .unwrap()
                .success()
        );
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        chpasswd.stdin.as_mut().unwrap(),
        format!("{USER}:{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
}

fn main() {
    let rounds = env_or("FERRY_BENCH_ROUNDS", 3);
    let mib = env_or("FERRY_BENCH_MIB", 1024);
    let files = env_or("FERRY_BENCH_FILES", 2000);
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch-ftp");
    let _ = std::fs::remove_dir_all(&scratch);
    let local = scratch.join("local");
    std::fs::create_dir_all(&local).unwrap();
    write_random_file(&local.join("big.bin"), mib);
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

    // vsftpd: its own config and directory, owned by the bench user.
    ensure_user();
    let vsftpd_dir = scratch.join("vsftpd");
    let files_dir = vsftpd_dir.join("files");
    let empty = vsftpd_dir.join("empty");
    std::fs::create_dir_all(&files_dir).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    assert!(
        Command::new("chown")
            .args([&format!("{USER}:{USER}")])
            .arg(&files_dir)
            .status()
            .unwrap()
            .success()
    );
    let (vsftpd_port, pasv) = (free_port(), free_port());
    std::fs::write(
        vsftpd_dir.join("vsftpd.conf"),
        format!(
            "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={vsftpd_port}\nbackground=NO\n\
             anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\npasv_enable=YES\n\
             pasv_address=127.0.0.1\npasv_min_port={pasv}\npasv_max_port={}\npam_service_name=vsftpd\n\
             secure_chroot_dir={}\nseccomp_sandbox=NO\nuse_sendfile=YES\nxferlog_enable=NO\n\
             local_root={}\nmax_per_ip=0\nmax_clients=0\n",
            pasv + 50,
            empty.display(),
            files_dir.display()
        ),
    )
    .unwrap();
    let vsftpd = Peer {
        name: "vsftpd",
        port: vsftpd_port,
        user: USER,
        dir: String::new(),
        child: Command::new("vsftpd")
            .arg(vsftpd_dir.join("vsftpd.conf"))
            .spawn()
            .expect("vsftpd is needed: apt-get install vsftpd"),
    };

    // ferry: its release binary, one tenant with one partner.
    let ferry_dir = scratch.join("ferry");
    std::fs::create_dir_all(&ferry_dir).unwrap();
    let ferry_port = free_port();
    std::fs::write(
        ferry_dir.join("ferry.toml"),
        format!(
            "[server]\ndata_dir = \"data\"\n\n[[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ferry_port}\"\n\
             tenant = \"bench\"\n\n[tenants.bench.partners.{USER}]\n[[tenants.bench.partners.{USER}.accounts]]\n\
             login = \"{USER}\"\npassword_hash = \"{PASSWORD_HASH}\"\n"
        ),
    )
    .unwrap();
    let ferry = Peer {
        name: "ferry",
        port: ferry_port,
        user: USER,
        dir: "/inbox".into(),
        child: Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("-c")
            .arg(ferry_dir.join("ferry.toml"))
            .arg("serve")
            .env("FERRY_LOG", "warn")
            .spawn()
            .unwrap(),
    };
    wait_for_port(vsftpd_port);
    wait_for_port(ferry_port);

    let peers = [&ferry, &vsftpd];
    let mut results: Vec<(&str, [Vec<f64>; 2])> = vec![
        ("1 GiB put (curl), MB/s", [vec![], vec![]]),
        ("1 GiB get (curl), MB/s", [vec![], vec![]]),
        ("4 KiB files (lftp mirror -R), files/s", [vec![], vec![]]),
    ];
    let bytes = (mib << 20) as f64;
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            vec![0, 1]
        } else {
            vec![1, 0]
        };
        for &p in &order {
            let peer = peers[p];
            let name = format!("{}/big-{round}.bin", peer.dir);
            let t = curl(peer, &["-T", "big.bin"], &name, &local);
            results[0].1[p].push(bytes / t / 1e6);
            let t = curl(peer, &["-o", "/dev/null"], &name, &local);
            results[1].1[p].push(bytes / t / 1e6);
            if p == 1 {
                std::fs::remove_file(files_dir.join(format!("big-{round}.bin"))).unwrap();
            }
            // ferry's inbox is flat (the names are new in every round);
            // vsftpd gets a new folder per round.
            let target = if p == 0 {
                "/inbox".to_owned()
            } else {
                format!("small-{round}")
            };
            let t = lftp(
                peer,
                &format!("mirror -R small-{round}-{p} {target}"),
                &local,
            );
            results[2].1[p].push(files as f64 / t);
        }
    }
    print_table("vsftpd", rounds, results);
    drop(ferry);
    drop(vsftpd);
    let _ = std::fs::remove_dir_all(&scratch);
}
