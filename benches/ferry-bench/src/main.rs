//! `ferry-bench`: ferry beside the servers it replaces, on one machine, in
//! one run. OpenSSH's `sshd` (with `internal-sftp`), `vsftpd` and one ferry
//! (SFTP and FTP listeners, one tenant, one partner, no plugins) run side
//! by side; the same clients drive each, and in every round the order of
//! the two servers alternates, so that drift of the machine (other work,
//! caches, thermal) falls on both:
//!
//! - SFTP 1 GiB put and get (OpenSSH `sftp`, aes128-gcm), against sshd;
//! - FTP 1 GiB put and get (`curl`, passive), against vsftpd;
//! - 2,000 files of 4 KiB: `sftp mput` against sshd, `lftp mirror -R`
//!   against vsftpd;
//! - 200 concurrent SFTP sessions, each getting 5 MiB, against sshd;
//! - HTTPS 1 GiB put and get (`curl -T`, `curl`), against nginx.
//!
//! Then ferry as a node of several (`cluster.rs`): a node with its journal
//! in PostgreSQL and its content in an S3-compatible store against the
//! embedded ferry (1 GiB put and get, small files), and 200 sessions on two
//! such nodes against one (`FERRY_BENCH_CLUSTER=0` leaves these out,
//! `FERRY_BENCH_ONLY_CLUSTER=1` measures these alone).
//!
//! Then, each on a freshly started ferry: memory during a 10 GiB transfer
//! streamed up over FTP and down over SFTP (the resident set must stay
//! flat), and memory of 1,000 idle SFTP sessions (beside sshd's for the
//! same sessions); last, the plugin host's decision overhead.
//!
//! ferry hashes, syncs and journals every file before it confirms it; the
//! peers write into plain directories. The results go to stdout and to
//! `target/ferry-bench/results.md` and `results.png`.
//!
//! Run it with `scripts/bench` (which installs the peers and builds the
//! release binaries). Environment: `FERRY_BENCH_ROUNDS` (3),
//! `FERRY_BENCH_MIB` (1024), `FERRY_BENCH_FILES` (2000),
//! `FERRY_BENCH_SESSIONS` (200), `FERRY_BENCH_STREAM_GIB` (10),
//! `FERRY_BENCH_IDLE` (1000), `FERRY_BENCH_DECISIONS` (5000); `FERRY_BIN`
//! (the ferry binary; default: beside this one).

#[path = "../../common/mod.rs"]
mod common;
#[path = "../../common/decision.rs"]
mod decision;

mod clients;
mod cluster;
mod memory;
mod peers;
mod report;
mod sessions;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use clients::{curl, curl_command, ftp_url, https, lftp, sftp, sftp_concurrent_gets};
use common::{env_or, write_random_file};
use memory::{MIB, Sampler, fds, peak_rss, rss, tree_pss};
use peers::{Endpoint, Ferry};
use report::{Compared, Figure};

struct Settings {
    rounds: usize,
    mib: usize,
    files: usize,
    sessions: usize,
    stream_gib: usize,
    idle: usize,
    decisions: usize,
}

/// `files` files of 4 KiB named `{tag}-NNNNN.dat`, different for every tag
/// (ferry stores a content once: small files are where finding it stored
/// would save a measurable share; the large files are written and synced
/// in full every round either way).
fn small_files(dir: &Path, files: usize, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..files {
        let mut content = format!("{tag} {i}\n").into_bytes();
        content.resize(4096, b'x');
        std::fs::write(dir.join(format!("{tag}-{i:05}.dat")), content).unwrap();
    }
}

/// ferry first in even rounds, the peer first in odd ones.
fn order(round: usize) -> [usize; 2] {
    if round.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

fn main() {
    let s = Settings {
        rounds: env_or("FERRY_BENCH_ROUNDS", 3),
        mib: env_or("FERRY_BENCH_MIB", 1024),
        files: env_or("FERRY_BENCH_FILES", 2000),
        sessions: env_or("FERRY_BENCH_SESSIONS", 200),
        stream_gib: env_or("FERRY_BENCH_STREAM_GIB", 10),
        idle: env_or("FERRY_BENCH_IDLE", 1000),
        decisions: env_or("FERRY_BENCH_DECISIONS", 5000),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let out = root.join("target/ferry-bench");
    let scratch = out.join("scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    let local = scratch.join("local");
    std::fs::create_dir_all(&local).unwrap();
    let binary = std::env::var_os("FERRY_BIN").map_or_else(
        || std::env::current_exe().unwrap().with_file_name("ferry"),
        PathBuf::from,
    );

    let key = scratch.join("client_key");
    let public = peers::key_pair(&key);
    write_random_file(&local.join("big.bin"), s.mib);
    std::fs::write(local.join("five.bin"), vec![7u8; 5 << 20]).unwrap();
    for round in 0..s.rounds {
        for side in ["ferry", "peer"] {
            for protocol in ["sftp", "ftp"] {
                let tag = format!("{protocol}-{side}-{round}");
                small_files(&local.join(&tag), s.files, &tag);
            }
        }
    }

    let (sshd_process, sshd) = peers::start_sshd(&scratch.join("sshd"), &public);
    let (vsftpd_process, vsftpd) = peers::start_vsftpd(&scratch.join("vsftpd"));
    let (nginx_process, nginx) = peers::start_nginx(&scratch.join("nginx"));
    let ferry = Ferry::configure(&scratch.join("ferry"), binary, &public);
    if env_or("FERRY_BENCH_ONLY_CLUSTER", 0) == 1 {
        let rows = cluster::compare(&s, &scratch, &root, &ferry, &key, &public, &local);
        let title = format!(
            "ferry-bench: ferry as a node of several ({} rounds)",
            s.rounds
        );
        let md = report::markdown(&title, s.rounds, &rows, &[]);
        println!("\n{md}");
        std::fs::write(out.join("results-cluster.md"), &md).unwrap();
        let _ = std::fs::remove_dir_all(&scratch);
        return;
    }
    let ferry_process = ferry.start();
    println!(
        "ferry-bench: {} rounds; ferry pid {}, sshd on {}, vsftpd on {}",
        s.rounds,
        ferry_process.pid(),
        sshd.port,
        vsftpd.port
    );

    let bytes = (s.mib << 20) as f64;
    let gib = if s.mib == 1024 {
        "1 GiB".to_owned()
    } else {
        format!("{} MiB", s.mib)
    };
    let mut compared = vec![
        Compared::new(&format!("SFTP {gib} put"), "MB/s", "OpenSSH"),
        Compared::new(&format!("SFTP {gib} get"), "MB/s", "OpenSSH"),
        Compared::new(&format!("FTP {gib} put"), "MB/s", "vsftpd"),
        Compared::new(&format!("FTP {gib} get"), "MB/s", "vsftpd"),
        Compared::new(
            &format!("SFTP {} x 4 KiB put", s.files),
            "files/s",
            "OpenSSH",
        ),
        Compared::new(&format!("FTP {} x 4 KiB put", s.files), "files/s", "vsftpd"),
        Compared::new(
            &format!("{} concurrent SFTP sessions, 5 MiB get each", s.sessions),
            "MB/s in all",
            "OpenSSH",
        ),
        Compared::new(&format!("HTTPS {gib} put"), "MB/s", "nginx"),
        Compared::new(&format!("HTTPS {gib} get"), "MB/s", "nginx"),
    ];
    let push = |c: &mut Compared, side: usize, v: f64| {
        if side == 0 {
            c.ferry.push(v)
        } else {
            c.other.push(v)
        }
    };

    for round in 0..s.rounds {
        for side in order(round) {
            let (to, tag) = if side == 0 {
                (&ferry.sftp, "ferry")
            } else {
                (&sshd, "peer")
            };
            let name = format!("{}/sftp-big-{round}.bin", to.dir);
            let t = sftp(to, &key, &local, &format!("put big.bin {name}\n"));
            push(&mut compared[0], side, bytes / t / 1e6);
            let t = sftp(to, &key, &local, &format!("get {name} got.bin\n"));
            push(&mut compared[1], side, bytes / t / 1e6);
            std::fs::remove_file(local.join("got.bin")).unwrap();
            remove_peer_copy(to, &format!("sftp-big-{round}.bin"));

            // ferry's inbox is flat (the names are new in every round);
            // sshd gets a new folder per round.
            let folder = format!("sftp-{tag}-{round}");
            let target = match &to.local_dir {
                Some(dir) => {
                    std::fs::create_dir_all(dir.join(&folder)).unwrap();
                    format!("{}/{folder}", to.dir)
                }
                None => to.dir.clone(),
            };
            let t = sftp(
                to,
                &key,
                &local.join(&folder),
                &format!("cd {target}\nmput *\n"),
            );
            push(&mut compared[4], side, s.files as f64 / t);

            let five = format!("{}/five-{round}.bin", to.dir);
            sftp(to, &key, &local, &format!("put five.bin {five}\n"));
            let t = sftp_concurrent_gets(to, &key, &local, &five, s.sessions);
            push(
                &mut compared[6],
                side,
                (s.sessions * (5 << 20)) as f64 / t / 1e6,
            );
        }
        for side in order(round) {
            let (to, tag) = if side == 0 {
                (&ferry.ftp, "ferry")
            } else {
                (&vsftpd, "peer")
            };
            let name = format!("{}/ftp-big-{round}.bin", to.dir);
            let t = curl(to, &["-T", "big.bin"], &name, &local);
            push(&mut compared[2], side, bytes / t / 1e6);
            let t = curl(to, &["-o", "/dev/null"], &name, &local);
            push(&mut compared[3], side, bytes / t / 1e6);
            remove_peer_copy(to, &format!("ftp-big-{round}.bin"));

            let folder = format!("ftp-{tag}-{round}");
            let target = if to.local_dir.is_some() {
                folder.clone()
            } else {
                to.dir.clone()
            };
            let t = lftp(to, &format!("mirror -R {folder} {target}"), &local);
            push(&mut compared[5], side, s.files as f64 / t);
        }
        for side in order(round) {
            let to = if side == 0 { &ferry.https } else { &nginx };
            let name = format!("{}/https-big-{round}.bin", to.dir);
            let t = https(to, &["-T", "big.bin"], &name, &local);
            push(&mut compared[7], side, bytes / t / 1e6);
            let t = https(to, &["-o", "/dev/null"], &name, &local);
            push(&mut compared[8], side, bytes / t / 1e6);
            remove_peer_copy(to, &format!("https-big-{round}.bin"));
        }
        println!("round {} of {} done", round + 1, s.rounds);
    }
    let ferry_peak = peak_rss(ferry_process.pid());
    drop(ferry_process);
    if env_or("FERRY_BENCH_CLUSTER", 1) == 1 {
        compared.extend(cluster::compare(
            &s, &scratch, &root, &ferry, &key, &public, &local,
        ));
    }

    let mut figures = vec![Figure {
        what: "ferry's peak resident set over the rounds above".into(),
        figure: format!("{:.0} MiB", ferry_peak as f64 / MIB),
        target: String::new(),
        met: None,
    }];
    figures.extend(streamed(&s, &ferry, &key, &local));
    figures.extend(idle_sessions(&s, &ferry, &sshd, &sshd_process, &key));
    figures.extend(decisions(&s, &scratch));
    drop((sshd_process, vsftpd_process, nginx_process));

    let title = format!(
        "ferry-bench: ferry beside OpenSSH, vsftpd and nginx ({} rounds)",
        s.rounds
    );
    let md = report::markdown(&title, s.rounds, &compared, &figures);
    println!("\n{md}");
    std::fs::write(out.join("results.md"), &md).unwrap();
    match report::chart(&out.join("results.png"), &title, &compared) {
        Ok(()) => println!("written: {0}/results.md, {0}/results.png", out.display()),
        Err(e) => println!("written: {}/results.md; no chart: {e}", out.display()),
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Removes a peer's copy of an uploaded file (ferry keeps its own).
fn remove_peer_copy(to: &Endpoint, name: &str) {
    if let Some(dir) = &to.local_dir {
        std::fs::remove_file(dir.join(name)).unwrap();
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// A transfer of `stream_gib` GiB up over FTP (curl reading a pipe, so no
/// file of that size is written on the client side) and down over SFTP,
/// with ferry's resident set sampled all along.
fn streamed(s: &Settings, ferry: &Ferry, key: &Path, local: &Path) -> Vec<Figure> {
    let process = ferry.start();
    let pid = process.pid();
    let before = rss(pid);
    let total = (s.stream_gib as u64) << 30;

    let sampler = Sampler::start(pid);
    let started = Instant::now();
    let mut child = curl_command(&["-T", "-"])
        .arg(ftp_url(&ferry.ftp, "/inbox/stream.bin"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let block = std::fs::read(local.join("big.bin")).unwrap();
    let mut sent = 0u64;
    while sent < total {
        let n = block.len().min((total - sent) as usize);
        stdin.write_all(&block[..n]).unwrap();
        sent += n as u64;
    }
    drop(stdin);
    let status = child.wait_with_output().unwrap();
    assert!(
        status.status.success(),
        "streamed upload failed: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let up_time = started.elapsed().as_secs_f64();
    let up = sampler.stop();

    let sampler = Sampler::start(pid);
    let down_time = sftp(&ferry.sftp, key, local, "get /inbox/stream.bin /dev/null\n");
    let down = sampler.stop();
    let after = rss(pid);
    drop(process);

    let peak_up = up.iter().copied().max().unwrap_or(0);
    let peak_down = down.iter().copied().max().unwrap_or(0);
    let peak = peak_up.max(peak_down);
    let target = 64.0;
    vec![
        Figure {
            what: format!(
                "{} GiB streamed: up (curl, FTP) at {:.0} MB/s, down (sftp) at {:.0} MB/s: ferry's resident set before / peak up / peak down / after",
                s.stream_gib,
                total as f64 / up_time / 1e6,
                total as f64 / down_time / 1e6
            ),
            figure: format!(
                "{:.0} / {:.0} / {:.0} / {:.0} MiB",
                mib(before),
                mib(peak_up),
                mib(peak_down),
                mib(after)
            ),
            target: format!("≤ {target:.0} MiB"),
            met: Some(mib(peak) <= target),
        },
        Figure {
            what: "the same: growth of the resident set from the first to the last tenth of the upload"
                .into(),
            figure: format!("{:+.1} MiB", growth(&up)),
            target: "flat".into(),
            met: Some(growth(&up).abs() <= 8.0),
        },
    ]
}

/// MiB between the median sample of the first tenth and of the last tenth:
/// memory that grows with the size transferred shows here.
fn growth(samples: &[u64]) -> f64 {
    let tenth = (samples.len() / 10).max(1);
    if samples.len() < 2 * tenth {
        return 0.0;
    }
    let median = |s: &[u64]| common::median(s.iter().map(|&v| v as f64).collect());
    (median(&samples[samples.len() - tenth..]) - median(&samples[..tenth])) / MIB
}

/// `idle` SFTP sessions held open on a fresh ferry, then on sshd.
fn idle_sessions(
    s: &Settings,
    ferry: &Ferry,
    sshd: &Endpoint,
    sshd_process: &peers::Process,
    key: &Path,
) -> Vec<Figure> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let process = ferry.start();
    let pid = process.pid();
    let (before, fds_before) = (rss(pid), fds(pid));
    let started = Instant::now();
    let open = sessions::open(&runtime, ferry.sftp.port, ferry.sftp.user, key, s.idle, 32);
    let opened_in = started.elapsed();
    let (held, fds_held) = (rss(pid), fds(pid));
    drop(open);
    // The server sees the connections close a moment later; its file
    // descriptors show when it has let them go.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fds(pid) > fds_before + 8 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (after, fds_after) = (rss(pid), fds(pid));
    drop(process);

    let (sshd_before, _) = tree_pss(sshd_process.pid());
    let open = sessions::open(&runtime, sshd.port, sshd.user, key, s.idle, 32);
    let (sshd_held, sshd_processes) = tree_pss(sshd_process.pid());
    drop(open);

    let target = 256.0;
    vec![
        Figure {
            what: format!(
                "{} idle SFTP sessions (opened in {:.1} s): ferry's resident set before / with them / after they closed",
                s.idle,
                opened_in.as_secs_f64()
            ),
            figure: format!(
                "{:.0} / {:.0} / {:.0} MiB ({:.0} KiB a session; fds {fds_before} / {fds_held} / {fds_after})",
                mib(before),
                mib(held),
                mib(after),
                (held.saturating_sub(before)) as f64 / 1024.0 / s.idle as f64
            ),
            target: format!("≤ {target:.0} MiB in all"),
            met: Some(mib(held) <= target),
        },
        Figure {
            what: format!(
                "the same {} sessions on OpenSSH: proportional set of sshd's processes before / with them",
                s.idle
            ),
            figure: format!(
                "{:.0} / {:.0} MiB ({sshd_processes} processes); what the sessions added, ferry/OpenSSH (lower is better for ferry): {:.2}",
                mib(sshd_before),
                mib(sshd_held),
                held.saturating_sub(before) as f64 / sshd_held.saturating_sub(sshd_before) as f64
            ),
            target: String::new(),
            met: None,
        },
    ]
}

/// The plugin host's decision overhead (validate + route, a fresh instance
/// each, as the pipeline makes them).
fn decisions(s: &Settings, scratch: &Path) -> Vec<Figure> {
    let engine = ferry::plugin::PluginEngine::new(Some(&scratch.join("plugin-cache"))).unwrap();
    let times = decision::decision_times(&engine, s.decisions);
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let p50 = micros(decision::percentile(&times, 0.5));
    let p99 = micros(decision::percentile(&times, 0.99));
    vec![Figure {
        what: format!(
            "plugin decision overhead (validate + route, fresh instance each, {} decisions): median / p99",
            s.decisions
        ),
        figure: format!("{p50:.0} / {p99:.0} µs"),
        target: "≤ 50 / ≤ 100 µs".into(),
        met: Some(p50 <= 50.0 && p99 <= 100.0),
    }]
}
