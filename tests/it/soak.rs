//! The soak: mixed traffic from many clients across two tenants for a set
//! time, with alice's validator plugin of each tenant replaced (hot reload)
//! at a fixed interval, and ferry's resident set and open file descriptors
//! sampled all along. At the end: no client saw an error, every upload was
//! accepted and routed, no task failed, both chains verify, every reload
//! took effect, and memory and descriptors stayed flat.
//!
//! The test command runs it for 20 s with a reload every 4 s; the full soak
//! is `scripts/soak` (30 minutes, a reload every 30 s), or
//! `FERRY_SOAK_SECONDS=N FERRY_SOAK_RELOAD_SECONDS=M cargo test --test it soak -- --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{Env, SECRET_HASH, free_port, proc_status, setting, sftp_batch};

const TENANTS: [&str; 2] = ["acme", "globex"];
/// Client threads per tenant; each mixes SFTP and FTP uploads, downloads
/// and listings.
const CLIENTS: usize = 3;
/// Between two operations of one client.
const PAUSE: Duration = Duration::from_millis(100);

/// The two validators that take turns: both accept a JSON file, and they
/// differ, so that each swap is a new version.
fn versions() -> [PathBuf; 2] {
    [
        crate::plugins::wasm("hostile"),
        crate::plugins::wasm("json_schema_validator"),
    ]
}

/// Replaces `path` with `from` atomically, as a deployment would.
fn install(from: &Path, path: &Path) {
    let temp = path.with_extension("new");
    std::fs::copy(from, &temp).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

struct Totals {
    operations: AtomicU64,
    uploads: Mutex<Vec<(String, String)>>,
    errors: Mutex<Vec<String>>,
}

/// One client: in turn an SFTP upload, an FTP upload, an SFTP download of
/// its last upload, an FTP listing of its inbox.
#[allow(clippy::too_many_arguments)]
fn client(
    dir: PathBuf,
    tenant: &'static str,
    n: usize,
    sftp_port: u16,
    ftp_port: u16,
    key: PathBuf,
    stop: Arc<AtomicBool>,
    totals: Arc<Totals>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let work = dir.join(format!("client-{tenant}-{n}"));
        std::fs::create_dir_all(&work).unwrap();
        let login = format!("alice@{tenant}");
        // In a URL the login's `@` is written %40.
        let url_login = format!("alice%40{tenant}");
        let mut last: Option<String> = None;
        for i in 0u64.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let name = format!("c{n}-{i}.json");
            std::fs::write(
                work.join(&name),
                format!("{{\"tenant\": \"{tenant}\", \"client\": {n}, \"n\": {i}}}\n"),
            )
            .unwrap();
            let (what, output) = match i % 4 {
                0 => (
                    "sftp put",
                    sftp_batch(
                        sftp_port,
                        &key,
                        &login,
                        &work,
                        &format!("put {name} /inbox/{name}\n"),
                        &[],
                    ),
                ),
                1 => (
                    "curl -T",
                    Command::new("curl")
                        .args(["-sS", "--max-time", "60", "-T", &name])
                        .arg(format!(
                            "ftp://{url_login}:alice-pass@127.0.0.1:{ftp_port}/inbox/{name}"
                        ))
                        .current_dir(&work)
                        .output()
                        .unwrap(),
                ),
                2 => {
                    let Some(previous) = last.clone() else {
                        continue;
                    };
                    (
                        "sftp get",
                        sftp_batch(
                            sftp_port,
                            &key,
                            &login,
                            &work,
                            &format!("get /inbox/{previous} got.json\n"),
                            &[],
                        ),
                    )
                }
                _ => (
                    "curl list",
                    Command::new("curl")
                        .args(["-sS", "--max-time", "60", "--list-only"])
                        .arg(format!(
                            "ftp://{url_login}:alice-pass@127.0.0.1:{ftp_port}/inbox/"
                        ))
                        .output()
                        .unwrap(),
                ),
            };
            totals.operations.fetch_add(1, Ordering::Relaxed);
            if !output.status.success() {
                totals.errors.lock().unwrap().push(format!(
                    "{tenant} client {n}: {what} {name}: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            } else if i % 4 < 2 {
                totals
                    .uploads
                    .lock()
                    .unwrap()
                    .push((tenant.to_owned(), name.clone()));
                last = Some(name.clone());
            }
            std::fs::remove_file(work.join(&name)).unwrap();
            // A partner's pace, not a flood: the soak is about time, and
            // the bench measures saturation.
            std::thread::sleep(PAUSE);
        }
    })
}

fn versions_journaled(env: &Env, tenant: &str) -> i64 {
    env.count(&format!(
        "SELECT COUNT(*) FROM events WHERE tenant = '{tenant}' AND kind = 'plugin-version' \
         AND json_extract(detail, '$.status') = 'activated'"
    ))
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn soak_mixed_traffic_with_hot_reloads() {
    let seconds = setting("FERRY_SOAK_SECONDS", 20);
    let reload_every = Duration::from_secs(setting("FERRY_SOAK_RELOAD_SECONDS", 4));
    let env = Env::new();
    let (key, public) = crate::util::client_key(env.path());
    let (sftp_port, ftp_port) = (free_port(), free_port());
    let plugins = env.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let mut config = format!(
        "[server]\ndata_dir = \"data\"\n\n\
         [[listeners]]\nprotocol = \"sftp\"\naddress = \"127.0.0.1:{sftp_port}\"\n\n\
         [[listeners]]\nprotocol = \"ftp\"\naddress = \"127.0.0.1:{ftp_port}\"\n\n"
    );
    for tenant in TENANTS {
        install(&versions()[0], &plugins.join(format!("{tenant}.wasm")));
        config.push_str(&format!(
            "[tenants.{tenant}.partners.alice]\nroutes = [{{ to = \"bob\" }}]\n\
             validator = \"plugins/{tenant}.wasm\"\n\
             [[tenants.{tenant}.partners.alice.accounts]]\nlogin = \"alice\"\n\
             password_hash = \"{SECRET_HASH}\"\nssh_keys = [\"{public}\"]\n\n\
             [tenants.{tenant}.partners.bob]\nreceipts = false\n\n"
        ));
    }
    env.write_config(&config);
    let mut server = env.serve();
    let pid = server.pid();

    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals {
        operations: AtomicU64::new(0),
        uploads: Mutex::new(Vec::new()),
        errors: Mutex::new(Vec::new()),
    });
    let clients: Vec<_> = TENANTS
        .iter()
        .flat_map(|tenant| (0..CLIENTS).map(move |n| (*tenant, n)))
        .map(|(tenant, n)| {
            client(
                env.path().to_owned(),
                tenant,
                n,
                sftp_port,
                ftp_port,
                key.clone(),
                Arc::clone(&stop),
                Arc::clone(&totals),
            )
        })
        .collect();

    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut next_reload = started + reload_every;
    let mut swaps = 0;
    let mut slowest_reload = Duration::ZERO;
    let mut steady_from = None::<usize>;
    let mut samples: Vec<(u64, u64)> = Vec::new();
    // The anonymous part of the resident set (the heap, plugin memories),
    // apart from mapped files (the journal, compiled plugins), for the report.
    let mut anon: Vec<u64> = Vec::new();
    while Instant::now() < end {
        samples.push((proc_status(pid, "VmRSS"), open_fds(pid)));
        anon.push(proc_status(pid, "RssAnon"));
        if samples.len().is_multiple_of(120) {
            // A line a minute (`--nocapture` shows them): the shape of any growth.
            println!(
                "soak: {:>5} s, RSS {} MiB (anonymous {}), {} fds",
                started.elapsed().as_secs(),
                samples.last().unwrap().0 / 1024,
                anon.last().unwrap() / 1024,
                samples.last().unwrap().1
            );
        }
        if Instant::now() >= next_reload {
            swaps += 1;
            let swapped = Instant::now();
            for tenant in TENANTS {
                install(
                    &versions()[swaps % 2],
                    &plugins.join(format!("{tenant}.wasm")),
                );
            }
            // Each swap is a new version serving: its activation journaled
            // (the first load is one more), while the traffic goes on.
            for tenant in TENANTS {
                while versions_journaled(&env, tenant) < swaps as i64 + 1 {
                    assert!(
                        swapped.elapsed() < Duration::from_secs(30),
                        "{tenant}: swap {swaps} not active after 30 s"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            slowest_reload = slowest_reload.max(swapped.elapsed());
            if swaps == 2 {
                // Both versions are compiled and cached from here on: what
                // grows after this is growth.
                steady_from = Some(samples.len());
            }
            next_reload += reload_every;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }

    let errors = totals.errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} client errors, first: {:?}\nferry's log:\n{}",
        errors.len(),
        &errors[..errors.len().min(5)],
        server.log_so_far()
    );
    let uploads = totals.uploads.lock().unwrap().clone();
    // The pipeline runs at low priority (nice 19): on a busy machine its
    // backlog drains after the traffic stops, so this waits longer than
    // `eventually` would.
    let drained = Instant::now();
    while env.count("SELECT COUNT(*) FROM tasks WHERE state != 'done'") > 0 {
        assert_eq!(
            env.count("SELECT COUNT(*) FROM tasks WHERE state = 'dead'"),
            0,
            "a pipeline step failed for good"
        );
        let left = env.db().query_row(
            "SELECT group_concat(state || ' ' || step || ' ' || COALESCE(last_error, ''), '; ')
             FROM (SELECT state, step, last_error FROM tasks WHERE state != 'done' LIMIT 5)",
            [],
            |row| row.get::<_, String>(0),
        );
        assert!(
            drained.elapsed() < Duration::from_secs(180),
            "tasks left after 180 s: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let drain_seconds = drained.elapsed().as_secs_f64();
    let peak_kib = proc_status(pid, "VmHWM");
    server.stop();

    // Every upload accepted and delivered to bob, none failed.
    for tenant in TENANTS {
        let sent = uploads.iter().filter(|(t, _)| t == tenant).count() as i64;
        let delivered = env.count(&format!(
            "SELECT COUNT(*) FROM messages WHERE tenant = '{tenant}' AND partner = 'alice' \
             AND direction = 'in' AND state = 'delivered'"
        ));
        assert_eq!(delivered, sent, "{tenant}: uploads delivered");
        let reloads = versions_journaled(&env, tenant);
        assert_eq!(
            reloads,
            swaps as i64 + 1,
            "{tenant}: plugin versions journaled: the first load and one per swap"
        );
        let out = env
            .ferry()
            .args(["journal", "verify", "--tenant", tenant])
            .ok();
        assert!(out.contains("ok"), "{tenant}: {out}");
    }
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM messages WHERE state IN ('failed', 'rejected', 'quarantined')"
        ),
        0,
        "failed, rejected or quarantined messages"
    );

    // Flat: the last fifth of the run against the fifth that follows the
    // second swap (before it: warm-up, each version's first compile, the
    // allocator's pools filling).
    let steady_from =
        steady_from.expect("at least two swaps: run for three reload intervals or more");
    let fifth = (samples.len() / 5).max(1);
    let window = |from: usize| -> Vec<(u64, u64)> {
        samples[from.min(samples.len() - 1)..(from + fifth).min(samples.len())].to_vec()
    };
    assert!(
        steady_from + fifth <= samples.len() - fifth,
        "too short a run to compare an early and a late window"
    );
    let (early, late) = (window(steady_from), window(samples.len() - fifth));
    let rss = |w: &[(u64, u64)]| median(w.iter().map(|s| s.0).collect());
    let anon_in = |from: usize| {
        median(anon[from.min(anon.len() - 1)..(from + fifth).min(anon.len())].to_vec())
    };
    let fds = |w: &[(u64, u64)]| w.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "soak: {seconds} s, {} operations ({} uploads), {swaps} plugin swaps per tenant, \
         slowest reload {} ms, backlog drained in {drain_seconds:.1} s; RSS median {} MiB early, {} MiB late (anonymous {} and {}), peak {} MiB; \
         fds at most {} early, {} late",
        totals.operations.load(Ordering::Relaxed),
        uploads.len(),
        slowest_reload.as_millis(),
        rss(&early) / 1024,
        rss(&late) / 1024,
        anon_in(steady_from) / 1024,
        anon_in(samples.len() - fifth) / 1024,
        peak_kib / 1024,
        fds(&early),
        fds(&late)
    );
    // A fifth more at most. A run of the test command's length (20 s,
    // windows of 4 s in a debug build) cannot tell a leak from warm-up:
    // each window may be the first to touch another of wasmtime's pooled
    // instance slots, or hold a plugin compile, and was seen to grow the
    // resident set by 40% (536 to 750 MiB) with no leak behind it (the
    // next runs: 506 to 469, 808 to 815). Since ferry returns freed memory
    // every 10 s (`src/alloc.rs`), the early window is small (155 MiB) and
    // a 4-second window may fall wholly between two trims (155 to 254 MiB
    // was seen): such runs get half more or 192 MiB, enough to catch a
    // leak of a fraction of a megabyte per operation; the 30-minute soak
    // (`scripts/soak`) is the one that holds the fifth.
    let allowance = if seconds >= 300 {
        (rss(&early) / 5).max(16 * 1024)
    } else {
        (rss(&early) / 2).max(192 * 1024)
    };
    assert!(
        rss(&late) <= rss(&early) + allowance,
        "the resident set grew: {} KiB early, {} KiB late",
        rss(&early),
        rss(&late)
    );
    assert!(
        fds(&late) <= fds(&early) + 2 * (TENANTS.len() * CLIENTS) as u64 + 8,
        "file descriptors grew: at most {} early, {} late",
        fds(&early),
        fds(&late)
    );
}
