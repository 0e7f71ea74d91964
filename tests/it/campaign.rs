//! The crash campaign: trials that kill -9 a busy `ferry serve` at a random
//! moment, restart it, let it finish, and check what it promises:
//!
//! - no partial file is visible to anyone (every file listed anywhere has
//!   the full content of an upload, pull or push of that name);
//! - every file a client was told was stored (its client exited 0) is
//!   there with the right SHA-256;
//! - every pending delivery completed exactly once: each received file is
//!   in each destination once, pushed to the partner's server once, and
//!   acknowledged once; nothing is left on that server but whole files;
//! - `ferry journal verify` passes.
//!
//! While it runs, alice uploads without pause over SFTP (OpenSSH `sftp`)
//! and FTP (`curl`); ferry pulls globex's files from an `sshd`, delivers
//! alice's and globex's files to bob (a client) and pushes them to hooli's
//! `sshd`; the receipt acknowledger plugin writes alice's receipts. The
//! kill lands anywhere in that traffic.
//!
//! The test command runs 10 trials; `FERRY_CRASH_TRIALS=100` runs the full
//! campaign (`cargo test --test it campaign -- --nocapture` prints each
//! trial). `FERRY_CRASH_SEED` replays a campaign: a failure names its seed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::connectors::{Hub, files, sftp_connector, verify_journal, write};
use crate::peers::Sshd;
use crate::util::{Env, bytes, setting, sftp_batch, sha256_hex};

/// A small, seeded generator (xorshift64*), so that a campaign replays.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a client tried to store, and whether it was told it was stored.
struct Upload {
    name: String,
    sha256: String,
    told: bool,
}

/// alice's uploads over one protocol, one after another until `stop`.
fn uploader(
    hub: &Hub,
    protocol: &'static str,
    trial: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
    done: Arc<Mutex<Vec<Upload>>>,
) -> std::thread::JoinHandle<()> {
    let (dir, port, key) = (hub.env.path().to_owned(), hub.sftp_port, hub.key.clone());
    let url = hub.ftp_url("alice", "/inbox/");
    std::thread::spawn(move || {
        let mut dice = Dice(seed);
        for i in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let name = format!("t{trial}-{i}.{protocol}");
            // 16 KiB to 4 MiB: most uploads take longer than the client's
            // start, so kills land mid-transfer as well as between files.
            let content = bytes(dice.next(), 16_384 + dice.below(4 << 20) as usize);
            std::fs::write(dir.join(&name), &content).unwrap();
            let told = match protocol {
                "sftp" => sftp_batch(
                    port,
                    &key,
                    "alice",
                    &dir,
                    &format!("put {name} /inbox/{name}\n"),
                    &["-o", "ConnectTimeout=5"],
                )
                .status
                .success(),
                _ => Command::new("curl")
                    .args(["-sS", "--max-time", "20", "-T", &name])
                    .arg(&url)
                    .current_dir(&dir)
                    .output()
                    .unwrap()
                    .status
                    .success(),
            };
            std::fs::remove_file(dir.join(&name)).unwrap();
            done.lock().unwrap().push(Upload {
                name,
                sha256: sha256_hex(&content),
                told,
            });
        }
    })
}

fn rows(env: &Env, sql: &str) -> Vec<(String, i64)> {
    env.rows(sql)
}

/// Waits until ferry has nothing left to do: globex's files all pulled
/// (`then = "delete"` removes them) and no task pending. A dead task is a
/// failure of the campaign, with its reason.
fn settle(env: &Env, outgoing: &Path, trial: usize) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let dead = rows(
            env,
            "SELECT step || ': ' || COALESCE(last_error, ''), id FROM tasks WHERE state = 'dead'",
        );
        assert!(dead.is_empty(), "trial {trial}: dead tasks {dead:?}");
        let pending = env.count("SELECT COUNT(*) FROM tasks WHERE state = 'pending'");
        if pending == 0 && files(outgoing).is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "trial {trial}: {pending} tasks still pending, {} files not pulled",
            files(outgoing).len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kill_nine_at_random_moments_loses_and_repeats_nothing() {
    let trials = setting("FERRY_CRASH_TRIALS", 10) as usize;
    let seed = seed();
    println!("crash campaign: {trials} trials, FERRY_CRASH_SEED={seed}");
    let mut dice = Dice(seed);

    let sshd = Sshd::start();
    let outgoing = sshd.dir("outgoing");
    let incoming = sshd.dir("incoming");
    let hub = Hub::new(|_| partners(&sshd, &outgoing, &incoming));

    // Every content tried under each name: alice's uploads and globex's
    // files. A name is never reused, so a visible file must match its own.
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut told: Vec<(String, String)> = Vec::new();
    let mut pulled: Vec<String> = Vec::new();
    let mut cut = 0;
    let mut pending_at_kill: BTreeMap<String, i64> = BTreeMap::new();

    for trial in 0..trials {
        // globex's server gets new files, some before the start and some
        // while ferry runs.
        let mut add_pull_files = |dice: &mut Dice, count: u64, expected: &mut BTreeMap<_, _>| {
            for _ in 0..count {
                let name = format!("t{trial}-{}.pull", dice.below(1 << 40));
                let content = bytes(dice.next(), 1 + dice.below(3 << 20) as usize);
                write(&outgoing, &name, &content);
                expected.insert(name.clone(), sha256_hex(&content));
                pulled.push(name);
            }
        };
        let count = 1 + dice.below(3);
        add_pull_files(&mut dice, count, &mut expected);

        let server = hub.env.serve();
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Mutex::new(Vec::new()));
        let clients = [
            uploader(
                &hub,
                "sftp",
                trial,
                dice.next(),
                Arc::clone(&stop),
                Arc::clone(&done),
            ),
            uploader(
                &hub,
                "ftp",
                trial,
                dice.next(),
                Arc::clone(&stop),
                Arc::clone(&done),
            ),
        ];
        let kill_at = Duration::from_millis(100 + dice.below(1400));
        let started = Instant::now();
        let count = dice.below(3);
        add_pull_files(&mut dice, count, &mut expected);
        std::thread::sleep(kill_at.saturating_sub(started.elapsed()));
        // No upload starts after the kill; those in flight are cut by it.
        stop.store(true, Ordering::Relaxed);
        drop(server); // kill -9
        for client in clients {
            client.join().unwrap();
        }

        // What was in flight when ferry died.
        for (step, n) in rows(
            &hub.env,
            "SELECT COALESCE(json_extract(step, '$.step'), step), COUNT(*) FROM tasks
             WHERE state = 'pending' GROUP BY 1",
        ) {
            *pending_at_kill.entry(step).or_default() += n;
        }
        let (stored, cut_now) = take(&done, &mut expected, &mut told);
        cut += cut_now;
        println!(
            "trial {trial}: killed after {} ms, {stored} uploads told stored, {cut_now} cut",
            kill_at.as_millis(),
        );

        let server = hub.env.serve();
        settle(&hub.env, &outgoing, trial);
        server.stop();
        check(&hub.env, &incoming, &expected, &told, &pulled, trial);
    }
    println!(
        "crash campaign: {trials} trials passed (seed {seed}): {} uploads told stored, {cut} cut by the kill, \
         {} files pulled; tasks pending at the kills: {pending_at_kill:?}",
        told.len(),
        pulled.len()
    );
}

/// Takes the uploads a trial's clients made into what every later check
/// expects: each content under its name, and those their clients were told
/// were stored. Returns how many were told stored and how many were cut.
fn take(
    done: &Mutex<Vec<Upload>>,
    expected: &mut BTreeMap<String, String>,
    told: &mut Vec<(String, String)>,
) -> (usize, usize) {
    let uploads = std::mem::take(&mut *done.lock().unwrap());
    let cut = uploads.iter().filter(|u| !u.told).count();
    let stored = uploads.len() - cut;
    for upload in uploads {
        if upload.told {
            told.push((upload.name.clone(), upload.sha256.clone()));
        }
        expected.insert(upload.name, upload.sha256);
    }
    (stored, cut)
}

/// The campaign's seed: `FERRY_CRASH_SEED`, else the clock; odd, as
/// xorshift needs a seed that is not zero.
fn seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    setting("FERRY_CRASH_SEED", now) | 1
}

/// acme's partners in both campaigns: globex's files pulled from an sshd
/// and routed to bob and hooli, hooli's pushed to the sshd, alice's
/// uploads routed to both and acknowledged by the receipt plugin.
fn partners(sshd: &Sshd, outgoing: &Path, incoming: &Path) -> String {
    format!(
        "[tenants.acme.partners.globex]\nroutes = [{{ to = \"bob\" }}, {{ to = \"hooli\" }}]\n\
         receipts = false\n\
         [tenants.acme.partners.globex.connector]\n{}\
         [tenants.acme.partners.globex.pull]\nfrom = \"{}\"\nevery = \"100ms\"\nthen = \"delete\"\n\n\
         [tenants.acme.partners.hooli]\nreceipts = false\n\
         [tenants.acme.partners.hooli.connector]\n{}\
         [tenants.acme.partners.hooli.push]\nto = \"{}\"\n\n\
         [tenants.acme.partners.alice]\nroutes = [{{ to = \"bob\" }}, {{ to = \"hooli\" }}]\n\
         acknowledger = \"{}\"\nparams = {{ on = \"delivered\" }}\n\
         [tenants.acme.partners.bob]\nreceipts = false\n",
        sftp_connector(sshd),
        outgoing.display(),
        sftp_connector(sshd),
        incoming.display(),
        crate::plugins::wasm("receipt_acknowledger").display(),
    )
}

/// The campaign on two nodes of one cluster (a PostgreSQL journal, an
/// S3-compatible object store), with the same traffic and the same
/// promises: in each trial alice uploads over SFTP to one node and over FTP
/// to another (chosen at random), both nodes pull, deliver, push and
/// acknowledge, and one of them, at random, is killed at a random moment;
/// the other carries on (a task of the dead node's is taken over when its
/// lease runs out, a pull source when its poll lease does), then the dead
/// one comes back.
///
/// The test command runs 3 trials; `scripts/crash-campaign --cluster`
/// runs `FERRY_CRASH_TRIALS` (100).
#[test]
fn kill_nine_of_a_random_node_of_a_cluster_loses_and_repeats_nothing() {
    use crate::backends::{S3Server, postgres, s3};
    let trials = setting("FERRY_CRASH_CLUSTER_TRIALS", 3) as usize;
    let seed = seed();
    println!("cluster crash campaign: {trials} trials, FERRY_CRASH_SEED={seed}");
    let mut dice = Dice(seed);

    let sshd = Sshd::start();
    let outgoing = sshd.dir("outgoing");
    let incoming = sshd.dir("incoming");
    let (url, bucket) = (postgres().fresh_database(), s3().fresh_bucket());
    let nodes: Vec<Hub> = ["node-a", "node-b"]
        .into_iter()
        .map(|name| {
            let hub = Hub::new(|_| partners(&sshd, &outgoing, &incoming));
            let config = std::fs::read_to_string(&hub.env.config).unwrap();
            let config = s3().on(&bucket, &crate::postgres::on(&url, &config));
            let config = config.replacen(
                "data_dir = \"data\"",
                &format!("data_dir = \"data\"\nnode = \"{name}\""),
                1,
            );
            // A dead node's tasks are taken over within two seconds.
            hub.env
                .write_config(&format!("{config}\n[limits]\ntask_lease = \"2s\"\n"));
            crate::postgres::key_file(hub.env.path());
            S3Server::key_file(hub.env.path());
            hub
        })
        .collect();

    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut told: Vec<(String, String)> = Vec::new();
    let mut pulled: Vec<String> = Vec::new();
    let mut cut = 0;
    let mut servers: Vec<Option<crate::util::Server>> =
        nodes.iter().map(|hub| Some(hub.env.serve())).collect();
    for trial in 0..trials {
        for _ in 0..1 + dice.below(3) {
            let name = format!("t{trial}-{}.pull", dice.below(1 << 40));
            let content = bytes(dice.next(), 1 + dice.below(3 << 20) as usize);
            write(&outgoing, &name, &content);
            expected.insert(name.clone(), sha256_hex(&content));
            pulled.push(name);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(Mutex::new(Vec::new()));
        let (sftp_to, ftp_to) = (dice.below(2) as usize, dice.below(2) as usize);
        let clients = [
            uploader(
                &nodes[sftp_to],
                "sftp",
                trial,
                dice.next(),
                Arc::clone(&stop),
                Arc::clone(&done),
            ),
            uploader(
                &nodes[ftp_to],
                "ftp",
                trial,
                dice.next(),
                Arc::clone(&stop),
                Arc::clone(&done),
            ),
        ];
        let victim = dice.below(2) as usize;
        let kill_at = Duration::from_millis(300 + dice.below(1700));
        std::thread::sleep(kill_at);
        stop.store(true, Ordering::Relaxed);
        drop(servers[victim].take()); // kill -9
        for client in clients {
            client.join().unwrap();
        }
        let (stored, cut_now) = take(&done, &mut expected, &mut told);
        cut += cut_now;
        println!(
            "trial {trial}: node {victim} killed after {} ms, {stored} uploads told stored, {cut_now} cut",
            kill_at.as_millis(),
        );
        // The survivor alone first: it takes over what the dead node held.
        settle(&nodes[1 - victim].env, &outgoing, trial);
        servers[victim] = Some(nodes[victim].env.serve());
        settle(&nodes[victim].env, &outgoing, trial);
        check(
            &nodes[victim].env,
            &incoming,
            &expected,
            &told,
            &pulled,
            trial,
        );
    }
    println!(
        "cluster crash campaign: {trials} trials passed (seed {seed}): {} uploads told stored, \
         {cut} cut by the kill, {} files pulled",
        told.len(),
        pulled.len()
    );
}

/// The campaign's promises, over everything so far.
fn check(
    env: &Env,
    incoming: &Path,
    expected: &BTreeMap<String, String>,
    told: &[(String, String)],
    pulled: &[String],
    trial: usize,
) {
    let context = |what: &str| format!("trial {trial}: {what}");
    // No partial file visible: each listed file is whole.
    let mut visible: BTreeMap<String, String> = BTreeMap::new();
    // (alice's outbox holds the receipts, which are made, not sent.)
    for (partner, folder) in [
        ("alice", "/inbox"),
        ("globex", "/inbox"),
        ("bob", "/outbox"),
        ("hooli", "/outbox"),
    ] {
        for (name, _, sha256) in env.ls(partner, folder) {
            assert_eq!(
                expected.get(&name),
                Some(&sha256),
                "{}",
                context(&format!("{partner}'s {folder}/{name} is not a whole file"))
            );
            if folder == "/inbox" {
                visible.insert(name, sha256);
            }
        }
    }
    let on_server = files(incoming);
    for (name, sha256) in &on_server {
        assert_eq!(
            expected.get(name),
            Some(sha256),
            "{}",
            context(&format!(
                "hooli's server holds {name}, not a whole file of ours"
            ))
        );
    }

    // Every file a client was told was stored, with its content.
    for (name, sha256) in told {
        assert_eq!(
            visible.get(name),
            Some(sha256),
            "{}",
            context(&format!("{name} was confirmed to its client"))
        );
    }
    // Every pulled file, once.
    for name in pulled {
        assert!(
            visible.contains_key(name),
            "{}",
            context(&format!("{name} not pulled"))
        );
    }
    let repeated = rows(
        env,
        "SELECT partner || '/' || name, COUNT(*) FROM messages WHERE direction = 'in' AND state != 'failed'
         GROUP BY partner, name HAVING COUNT(*) != 1",
    );
    assert!(
        repeated.is_empty(),
        "{}",
        context(&format!("received twice: {repeated:?}"))
    );

    // Every received file delivered to bob and to hooli once, each copy
    // pushed once, every one of alice's acknowledged once.
    let received = rows(
        env,
        "SELECT partner || '/' || name, id FROM messages WHERE direction = 'in' AND state != 'failed'",
    );
    let copies = rows(
        env,
        "SELECT origin || ' ' || partner, COUNT(*) FROM messages WHERE direction = 'out'
         AND origin IS NOT NULL GROUP BY origin, partner",
    );
    let copies: BTreeMap<String, i64> = copies.into_iter().collect();
    // alice hears of each file twice: delivered (to bob's outbox, the
    // last local delivery), and downloaded (pushed to hooli's server).
    let acks = |sql: &str| -> BTreeMap<String, i64> { rows(env, sql).into_iter().collect() };
    let ack_events = acks(
        "SELECT CAST(message AS TEXT), COUNT(*) FROM events WHERE kind = 'acknowledged' GROUP BY message",
    );
    let ack_kinds = acks(
        "SELECT CAST(message AS TEXT), COUNT(DISTINCT json_extract(detail, '$.event')) FROM events
         WHERE kind = 'acknowledged' GROUP BY message",
    );
    let receipts = env.names("alice", "/outbox");
    for (what, id) in &received {
        for to in ["bob", "hooli"] {
            assert_eq!(
                copies.get(&format!("{id} {to}")),
                Some(&1),
                "{}",
                context(&format!("{what} (message {id}) copies for {to}"))
            );
        }
        if what.starts_with("alice/") {
            let id = id.to_string();
            assert_eq!(
                (ack_events.get(&id), ack_kinds.get(&id)),
                (Some(&2), Some(&2)),
                "{}",
                context(&format!(
                    "{what} (message {id}): acknowledgements, and of how many kinds"
                ))
            );
            let receipt = format!("{}.received", what.trim_start_matches("alice/"));
            assert!(
                receipts.contains(&receipt),
                "{}",
                context(&format!("{receipt} in alice's outbox"))
            );
        }
    }
    // Each of hooli's copies pushed once, and hooli's server holds exactly
    // those files: the same names, nothing else.
    let pushes: BTreeMap<String, i64> = rows(
        env,
        "SELECT CAST(message AS TEXT), COUNT(*) FROM events WHERE kind = 'pushed' GROUP BY message",
    )
    .into_iter()
    .collect();
    let hooli: BTreeMap<String, String> = rows(
        env,
        "SELECT name, id FROM messages WHERE direction = 'out' AND partner = 'hooli'",
    )
    .into_iter()
    .map(|(name, id)| (id.to_string(), name))
    .collect();
    let pushed_once: Vec<&String> = pushes
        .iter()
        .filter(|(_, n)| **n == 1)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        (pushed_once, pushes.len()),
        (hooli.keys().collect::<Vec<_>>(), hooli.len()),
        "{}",
        context(&format!(
            "one push event for each of hooli's copies, and no other: {pushes:?}"
        ))
    );
    let mut names: Vec<&String> = hooli.values().collect();
    names.sort();
    assert_eq!(
        on_server.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        names,
        "{}",
        context("hooli's server holds exactly hooli's copies")
    );
    verify_journal(env);
}
