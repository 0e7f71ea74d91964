//! ferry as a node of several, beside ferry embedded: the same server with
//! its journal in PostgreSQL and its content in an S3-compatible object
//! store (`s3s-fs`, used unchanged), both on this machine, against the
//! embedded default (SQLite and a directory), the same clients driving
//! each, the order alternating every round as for the peers.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::clients::{sftp, sftp_concurrent_gets};
use crate::common::{free_port, wait_for_port};
use crate::peers::{Ferry, Process};
use crate::report::Compared;
use crate::{Settings, order};

/// PostgreSQL and the object store, in `dir`, stopped when dropped.
struct Backends {
    _postgres: Process,
    _s3: Process,
    url: String,
    endpoint: String,
}

const S3_KEY_ID: &str = "ferry-bench";
const S3_SECRET: &str = "ferry-bench-secret";

fn run(what: &str, cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Backends {
    fn start(dir: &Path, root: &Path) -> Backends {
        std::fs::create_dir_all(dir).unwrap();
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server (scripts/bench installs it)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file())
            .max()
            .expect("PostgreSQL's server programs");
        // PostgreSQL refuses to run as root: as root, as the `postgres` user.
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let pg = dir.join("postgres");
        std::fs::create_dir_all(&pg).unwrap();
        let command = |program: &Path| {
            let mut cmd = if as_root {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(program);
                cmd
            } else {
                Command::new(program)
            };
            cmd.stdout(Stdio::null());
            cmd
        };
        if as_root {
            run("chown", Command::new("chown").arg("postgres:").arg(&pg));
        }
        run(
            "initdb",
            command(&bin.join("initdb"))
                .arg("-D")
                .arg(pg.join("data"))
                .args(["-U", "ferry", "--auth=trust", "-E", "UTF8"]),
        );
        // Durable as shipped (fsync on): the embedded journal syncs too.
        let port = free_port();
        let postgres = command(&bin.join("postgres"))
            .arg("-D")
            .arg(pg.join("data"))
            .args(["-p", &port.to_string(), "-k"])
            .arg(&pg)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .stderr(Stdio::null())
            .spawn()
            .expect("starting PostgreSQL");
        wait_for_port(port);

        let s3s = root.join("target/tools/bin/s3s-fs");
        assert!(
            s3s.is_file(),
            "{} is missing: scripts/bench installs it",
            s3s.display()
        );
        let data = dir.join("s3");
        std::fs::create_dir_all(data.join("bench")).unwrap();
        let s3_port = free_port();
        let s3 = Command::new(&s3s)
            .args(["--host", "127.0.0.1", "--port", &s3_port.to_string()])
            .args(["--access-key", S3_KEY_ID, "--secret-key", S3_SECRET])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting s3s-fs");
        wait_for_port(s3_port);
        Backends {
            _postgres: Process { child: postgres },
            _s3: Process { child: s3 },
            url: format!("postgres://ferry@127.0.0.1:{port}/postgres"),
            endpoint: format!("http://127.0.0.1:{s3_port}"),
        }
    }

    /// `ferry`'s configuration moved onto these backends.
    fn adopt(&self, ferry: &Ferry) {
        let dir = ferry.config.parent().unwrap();
        std::fs::write(dir.join("secrets.key"), format!("{}\n", "5e".repeat(32))).unwrap();
        std::fs::write(dir.join("s3.secret"), S3_SECRET).unwrap();
        let text = std::fs::read_to_string(&ferry.config).unwrap();
        let text = text.replacen(
            "data_dir = \"data\"",
            &format!(
                "data_dir = \"data\"\njournal = \"{}\"\nsecrets_key_file = \"secrets.key\"\n\
                 store = \"s3://bench\"",
                self.url
            ),
            1,
        );
        let text = format!(
            "{text}\n[store.s3]\nendpoint = \"{}\"\naccess_key_id = \"{S3_KEY_ID}\"\n\
             secret_access_key_file = \"s3.secret\"\n",
            self.endpoint
        );
        std::fs::write(&ferry.config, text).unwrap();
    }
}

/// The cluster's rows: a node on PostgreSQL and the object store against
/// embedded ferry (`embedded`, already configured), then (for many
/// sessions) two such nodes against one.
pub fn compare(
    s: &Settings,
    scratch: &Path,
    root: &Path,
    embedded: &Ferry,
    key: &Path,
    public: &str,
    local: &Path,
) -> Vec<Compared> {
    let backends = Backends::start(&scratch.join("backends"), root);
    let node = |name: &str| {
        let ferry = Ferry::configure(&scratch.join(name), embedded.binary.clone(), public);
        backends.adopt(&ferry);
        let text = std::fs::read_to_string(&ferry.config).unwrap().replacen(
            "[server]\n",
            &format!("[server]\nnode = \"{name}\"\n"),
            1,
        );
        std::fs::write(&ferry.config, text).unwrap();
        ferry
    };
    let (a, b) = (node("node-a"), node("node-b"));
    let gib = if s.mib == 1024 {
        "1 GiB".to_owned()
    } else {
        format!("{} MiB", s.mib)
    };
    let mut rows = vec![
        Compared::new(
            &format!("SFTP {gib} put, node on PostgreSQL + S3"),
            "MB/s",
            "embedded ferry",
        ),
        Compared::new(
            &format!("SFTP {gib} get, node on PostgreSQL + S3"),
            "MB/s",
            "embedded ferry",
        ),
        Compared::new(
            &format!("SFTP {} x 4 KiB put, node on PostgreSQL + S3", s.files),
            "files/s",
            "embedded ferry",
        ),
        Compared::new(
            &format!(
                "{} concurrent SFTP sessions, 5 MiB get each, two nodes",
                s.sessions
            ),
            "MB/s in all",
            "one node",
        ),
    ];
    let bytes = (s.mib << 20) as f64;
    let embedded_process = embedded.start();
    let a_process = a.start();
    for round in 0..s.rounds {
        for side in order(round) {
            let (to, tag) = if side == 0 {
                (&a.sftp, "node")
            } else {
                (&embedded.sftp, "embedded")
            };
            let push = |row: &mut Compared, v: f64| {
                if side == 0 {
                    row.ferry.push(v)
                } else {
                    row.other.push(v)
                }
            };
            let name = format!("/inbox/cluster-{tag}-{round}.bin");
            let t = sftp(to, key, local, &format!("put big.bin {name}\n"));
            push(&mut rows[0], bytes / t / 1e6);
            let t = sftp(to, key, local, &format!("get {name} /dev/null\n"));
            push(&mut rows[1], bytes / t / 1e6);
            let folder = format!("cluster-{tag}-{round}");
            crate::small_files(&local.join(&folder), s.files, &folder);
            let t = sftp(to, key, &local.join(&folder), "cd /inbox\nmput *\n");
            push(&mut rows[2], s.files as f64 / t);
        }
    }
    drop(embedded_process);
    // Many sessions: half on each of two nodes, against all on one.
    let b_process = b.start();
    let five = "/inbox/cluster-five.bin";
    sftp(&a.sftp, key, local, &format!("put five.bin {five}\n"));
    for round in 0..s.rounds {
        for side in order(round) {
            let started = std::time::Instant::now();
            if side == 0 {
                let half = s.sessions / 2;
                std::thread::scope(|scope| {
                    scope.spawn(|| sftp_concurrent_gets(&a.sftp, key, local, five, half));
                    scope.spawn(|| {
                        sftp_concurrent_gets(&b.sftp, key, local, five, s.sessions - half)
                    });
                });
            } else {
                sftp_concurrent_gets(&a.sftp, key, local, five, s.sessions);
            }
            let v = (s.sessions * (5 << 20)) as f64 / started.elapsed().as_secs_f64() / 1e6;
            if side == 0 {
                rows[3].ferry.push(v)
            } else {
                rows[3].other.push(v)
            }
        }
    }
    drop((a_process, b_process, backends));
    rows
}
