//! The noisy neighbour: how much one tenant can slow another down.
//!
//! One ferry process hosts two tenants on shared SFTP and FTP listeners.
//! Tenant `noisy` has a validator that spins until its CPU deadline on
//! every file (the `hostile` plugin, `behaviour = "loop"`), and two clients
//! that upload without pause, as fast as its `upload_rate` lets them.
//! Tenant `quiet` has no limits; its partner uploads 100 MiB over SFTP
//! (OpenSSH `sftp`) and over FTP (`curl -T`).
//!
//! Rounds alternate `quiet` alone and `quiet` beside `noisy` (which goes
//! first alternates too); before an
//! "alone" round the neighbour's clients are stopped and its backlog of
//! plugin calls has drained. The table gives the medians of the upload
//! times and their ratio (target: at most 1.2).
//!
//! `cargo bench --bench noisy` (needs `sftp`, `curl`, and the plugins built
//! by `build.rs`). Environment: `FERRY_BENCH_ROUNDS` (9), `FERRY_BENCH_MIB`
//! (100), `FERRY_NOISY_RATE` (the neighbour's rate, `20MiB/s`),
//! `FERRY_NOISY_BEHAVIOUR` (its plugin's, `loop`; `accept` leaves only the
//! neighbour's traffic, to tell the two costs apart). The neighbour's
//! plugin deadline is 1 s and its `plugin_cpu` the default 25% of a core;
//! its backlog of plugin calls drains before each round alone, which is
//! what makes this benchmark take minutes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::{env_or, free_port, median, timed_with_input, wait_for_port, write_random_file};

const PASSWORD: &str = "bench-pass";

struct Ferry {
    child: Child,
    data: PathBuf,
    sftp: u16,
    ftp: u16,
    key: PathBuf,
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hash(password: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(password.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "ferry hash-password failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn start(scratch: &Path, rate: &str) -> Ferry {
    let key = scratch.join("client_key");
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap()
            .success()
    );
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let plugin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/wasm/wasm32-wasip2/release/hostile.wasm");
    assert!(plugin.exists(), "{} is built by build.rs", plugin.display());
    let (sftp, ftp) = (free_port(), free_port());
    let hash = hash(PASSWORD);
    let account = |tenant: &str, partner: &str| {
        format!(
            "[[tenants.{tenant}.partners.{partner}.accounts]]\nlogin = \"{partner}\"\n\
             password_hash = \"{hash}\"\nssh_keys = [\"{}\"]\n",
            public.trim()
        )
    };
    let behaviour = std::env::var("FERRY_NOISY_BEHAVIOUR").unwrap_or_else(|_| "loop".into());
    let dir = scratch.join("ferry");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("ferry.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndata_dir = \"data\"\n\n\
             [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp}\"\n\n\
             [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp}\"\n\n\
             [tenants.noisy]\nplugin_deadline_ms = 1000\nupload_rate = \"{rate}\"\n\
             [tenants.noisy.partners.alice]\nvalidator = \"{}\"\nparams = {{ behaviour = \"{behaviour}\" }}\n{}\n\
             [tenants.quiet]\n[tenants.quiet.partners.bob]\n{}\n",
            plugin.display(),
            account("noisy", "alice"),
            account("quiet", "bob"),
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .arg("-c")
        .arg(&config)
        .arg("serve")
        .env("FERRY_LOG", "error")
        .spawn()
        .unwrap();
    wait_for_port(sftp);
    wait_for_port(ftp);
    Ferry {
        child,
        data: dir.join("data"),
        sftp,
        ftp,
        key,
    }
}

fn sftp(ferry: &Ferry, login: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new("sftp");
    cmd.args(["-b", "-", "-P", &ferry.sftp.to_string()])
        .args(["-c", "aes128-gcm@openssh.com", "-i"])
        .arg(&ferry.key)
        .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .arg(format!("{login}@127.0.0.1"))
        .current_dir(cwd);
    cmd
}

fn curl_put(ferry: &Ferry, login: &str, file: &Path, name: &str) -> Command {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "300", "-T"])
        .arg(file)
        .arg(format!(
            "ftp://{}:{PASSWORD}@127.0.0.1:{}/inbox/{name}",
            login.replace('@', "%40"),
            ferry.ftp
        ))
        .stdout(Stdio::null());
    cmd
}

/// One number from the journal: `sql` with `?1` for `tenant`.
fn count(ferry: &Ferry, sql: &str, tenant: &str) -> i64 {
    let db = rusqlite::Connection::open_with_flags(
        ferry.data.join("journal.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    db.query_row(sql, [tenant], |row| row.get(0)).unwrap()
}

/// Pending pipeline tasks of `tenant`.
fn pending(ferry: &Ferry, tenant: &str) -> i64 {
    count(
        ferry,
        "SELECT COUNT(*) FROM tasks WHERE tenant = ?1 AND state = 'pending'",
        tenant,
    )
}

/// Files the neighbour has stored.
fn received(ferry: &Ferry) -> i64 {
    count(
        ferry,
        "SELECT COUNT(*) FROM messages WHERE tenant = ?1 AND direction = 'in' AND state != 'failed'",
        "noisy",
    )
}

fn quarantined(ferry: &Ferry) -> i64 {
    count(
        ferry,
        "SELECT COUNT(*) FROM messages WHERE tenant = ?1 AND state = 'quarantined'",
        "noisy",
    )
}

/// The neighbour's clients: upload 16 MiB files in a loop until stopped.
struct Noise {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn noise(ferry: &Arc<Ferry>, file: &Path, uploads: &Arc<AtomicUsize>) -> Noise {
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..2)
        .map(|client| {
            let (ferry, file, stop, uploads) = (
                Arc::clone(ferry),
                file.to_owned(),
                Arc::clone(&stop),
                Arc::clone(uploads),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let n = uploads.fetch_add(1, Ordering::SeqCst);
                    let status =
                        curl_put(&ferry, "alice@noisy", &file, &format!("n{client}-{n}.bin"))
                            .stderr(Stdio::null())
                            .status()
                            .unwrap();
                    assert!(status.success(), "the neighbour's upload failed");
                }
            })
        })
        .collect();
    Noise { stop, threads }
}

impl Noise {
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().unwrap();
        }
    }
}

fn main() {
    let rounds = env_or("FERRY_BENCH_ROUNDS", 9);
    let mib = env_or("FERRY_BENCH_MIB", 100);
    let rate = std::env::var("FERRY_NOISY_RATE").unwrap_or_else(|_| "20MiB/s".into());
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch-noisy");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let big = scratch.join("big.bin");
    write_random_file(&big, mib);
    let noise_file = scratch.join("noise.bin");
    write_random_file(&noise_file, 16);

    let ferry = Arc::new(start(&scratch, &rate));
    let uploads = Arc::new(AtomicUsize::new(0));
    // [alone, beside the neighbour] for each measure, in seconds.
    let mut sftp_times = [Vec::new(), Vec::new()];
    let mut ftp_times = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        // Alternate which goes first, to cancel drift.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for noisy in order {
            let running = noisy.then(|| {
                let running = noise(&ferry, &noise_file, &uploads);
                // Until the neighbour has stored a file (and so its
                // plugin is spinning on it).
                let before = received(&ferry);
                let deadline = Instant::now() + Duration::from_secs(30);
                while received(&ferry) == before {
                    assert!(Instant::now() < deadline, "the neighbour never got going");
                    std::thread::sleep(Duration::from_millis(50));
                }
                running
            });
            let slot = usize::from(noisy);
            let name = format!("r{round}-{slot}.bin");
            let t = timed_with_input(
                &mut sftp(&ferry, "bob@quiet", &scratch),
                &format!("put big.bin /inbox/sftp-{name}\n"),
                "quiet's sftp put",
            );
            sftp_times[slot].push(t);
            let started = Instant::now();
            let status = curl_put(&ferry, "bob@quiet", &big, &format!("ftp-{name}"))
                .status()
                .unwrap();
            assert!(status.success(), "quiet's curl upload failed");
            ftp_times[slot].push(started.elapsed().as_secs_f64());
            if let Some(running) = running {
                running.stop();
                // The neighbour's backlog drains before the next round
                // alone, so that "alone" means alone.
                let deadline = Instant::now() + Duration::from_secs(600);
                while pending(&ferry, "noisy") > 0 {
                    assert!(
                        Instant::now() < deadline,
                        "the neighbour's backlog never drained"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            eprintln!(
                "round {round} {}: sftp {:.2} s, ftp {:.2} s",
                if noisy {
                    "beside the neighbour"
                } else {
                    "alone"
                },
                sftp_times[slot].last().unwrap(),
                ftp_times[slot].last().unwrap()
            );
        }
    }
    let mb = (mib << 20) as f64 / 1e6;
    println!();
    println!(
        "| quiet's {mib} MiB upload ({rounds} rounds, medians) | alone, s | beside the neighbour, s | ratio |"
    );
    println!("|---|---|---|---|");
    for (what, times) in [
        ("SFTP (`sftp put`)", &sftp_times),
        ("FTP (`curl -T`)", &ftp_times),
    ] {
        let (alone, beside) = (median(times[0].clone()), median(times[1].clone()));
        println!(
            "| {what} | {alone:.2} ({:.0} MB/s) | {beside:.2} ({:.0} MB/s) | {:.2} |",
            mb / alone,
            mb / beside,
            beside / alone
        );
    }
    println!(
        "\nThe neighbour: {} uploads at {rate} in all, {} files quarantined by its spinning validator \
         (1 s CPU deadline each).",
        uploads.load(Ordering::SeqCst),
        quarantined(&ferry)
    );
    let rounds_of = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "Each round: SFTP alone {}, beside {}; FTP alone {}, beside {}",
        rounds_of(&sftp_times[0]),
        rounds_of(&sftp_times[1]),
        rounds_of(&ftp_times[0]),
        rounds_of(&ftp_times[1])
    );
}
