//! The spine's figures, each against a baseline measured in the same run:
//!
//! - commits/s of store + journal for 4 KiB files (fsync on), against
//!   writing the same files with `write` + `fsync` + directory `fsync`;
//! - MB/s of `ferry put` for one large file, against `cp` + `sha256sum`
//!   (and `cp` + `sync` + `sha256sum`, since ferry's bytes are durable).
//!
//! `cargo bench --bench spine` (environment: `FERRY_BENCH_FILES`, default
//! 2000; `FERRY_BENCH_MIB`, default 1024; `FERRY_BENCH_ROUNDS`, default 3).
//! Rounds are interleaved A/B and the table reports medians, since the
//! machine is shared and noisy. Scratch files go under `target/bench-scratch`,
//! on the same file system as a real data directory would be.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

mod common;

use common::{env_or, median, write_random_file};

fn config(dir: &Path) -> PathBuf {
    let path = dir.join("ferry.toml");
    std::fs::write(
        &path,
        r#"
[server]
data_dir = "data"

[tenants.bench.partners.alice]
routes = [{ to = "bob" }]
[tenants.bench.partners.bob]
"#,
    )
    .unwrap();
    path
}

/// 4 KiB commits through the store and the journal, on one thread.
fn ferry_commits(dir: &Path, files: usize) -> f64 {
    let hub = ferry::tenant::Hub::open(ferry::config::load(&config(dir)).unwrap()).unwrap();
    let tenant = hub.tenant("bench").unwrap();
    let mut content = vec![0u8; 4096];
    let start = Instant::now();
    for i in 0..files {
        content[..8].copy_from_slice(&(i as u64).to_le_bytes());
        tenant
            .ingest(
                "alice",
                &format!("f{i}.dat"),
                &content[..],
                "bench",
                "bench",
                |_| {},
            )
            .unwrap();
    }
    files as f64 / start.elapsed().as_secs_f64()
}

/// The floor: write, fsync the file, fsync the directory.
fn plain_commits(dir: &Path, files: usize) -> f64 {
    std::fs::create_dir_all(dir).unwrap();
    let dir_handle = std::fs::File::open(dir).unwrap();
    let mut content = vec![0u8; 4096];
    let start = Instant::now();
    for i in 0..files {
        content[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let mut file = std::fs::File::create(dir.join(format!("f{i}.dat"))).unwrap();
        file.write_all(&content).unwrap();
        file.sync_data().unwrap();
        dir_handle.sync_all().unwrap();
    }
    files as f64 / start.elapsed().as_secs_f64()
}

fn run(cmd: &mut Command) -> f64 {
    let start = Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used here.
    let files = env_or("FERRY_BENCH_FILES", 2000);
    let mib = env_or("FERRY_BENCH_MIB", 1024);
    let rounds = env_or("FERRY_BENCH_ROUNDS", 3);
    let scratch = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scratch");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    let (mut ferry, mut plain) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let dir = scratch.join(format!("commits-{round}"));
        std::fs::create_dir_all(&dir).unwrap();
        ferry.push(ferry_commits(&dir, files));
        plain.push(plain_commits(&dir.join("plain"), files));
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let (ferry_rate, plain_rate) = (median(ferry), median(plain));

    // One large file, made once and read from the page cache by every side.
    let source = scratch.join("big.bin");
    write_random_file(&source, mib);
    let bytes = (mib << 20) as f64;
    let (mut put, mut cp_hash, mut cp_sync_hash) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let dir = scratch.join(format!("put-{round}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = config(&dir);
        let copy = dir.join("copy.bin");

        put.push(run(Command::new(env!("CARGO_BIN_EXE_ferry"))
            .arg("-c")
            .arg(&config)
            .args(["put", "--tenant", "bench", "--as", "alice"])
            .arg(&source)
            .env("FERRY_LOG", "warn")));
        cp_hash.push(
            run(Command::new("cp").arg(&source).arg(&copy))
                + run(Command::new("sha256sum").arg(&copy)),
        );
        std::fs::remove_file(&copy).unwrap();
        cp_sync_hash.push(
            run(Command::new("cp").arg(&source).arg(&copy))
                + run(Command::new("sync").arg(&copy))
                + run(Command::new("sha256sum").arg(&copy)),
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let mbps = |t: f64| bytes / t / 1e6;
    let (put, cp_hash, cp_sync_hash) = (median(put), median(cp_hash), median(cp_sync_hash));

    println!();
    println!("| measure ({rounds} rounds, medians) | ferry | baseline | ferry/baseline |");
    println!("|---|---|---|---|");
    println!(
        "| 4 KiB commits/s, store + journal, fsync on ({files} files) vs write+fsync+dir fsync | {ferry_rate:.0} | {plain_rate:.0} | {:.2} |",
        ferry_rate / plain_rate
    );
    println!(
        "| `ferry put` {mib} MiB, MB/s vs `cp` + `sha256sum` | {:.0} | {:.0} | {:.2} |",
        mbps(put),
        mbps(cp_hash),
        cp_hash / put
    );
    println!(
        "| `ferry put` {mib} MiB, MB/s vs `cp` + `sync` + `sha256sum` | {:.0} | {:.0} | {:.2} |",
        mbps(put),
        mbps(cp_sync_hash),
        cp_sync_hash / put
    );
    std::fs::remove_dir_all(&scratch).unwrap();
}
