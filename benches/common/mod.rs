//! What the protocol benchmarks share: settings from the environment, free
//! ports, medians, test data, clients run to their end and the table they print.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `mib` MiB of incompressible bytes (xorshift), written once per run.
pub fn write_random_file(path: &Path, mib: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut x: u64 = 0x2545f4914f6cdd1d;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).unwrap();
    }
}

/// Prints the medians and ratios as a Markdown table, then every round.
pub fn print_table(peer: &str, rounds: usize, results: Vec<(&str, [Vec<f64>; 2])>) {
    println!();
    println!("| measure ({rounds} rounds, medians) | ferry | {peer} | ferry/{peer} |");
    println!("|---|---|---|---|");
    let rounds_of = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let mut raw = Vec::new();
    for (what, [ferry, other]) in results {
        raw.push(format!(
            "- {what}: ferry {}, {peer} {}",
            rounds_of(&ferry),
            rounds_of(&other)
        ));
        let (f, o) = (median(ferry), median(other));
        println!("| {what} | {f:.0} | {o:.0} | {:.2} |", f / o);
    }
    println!("\nEach round:\n{}", raw.join("\n"));
}

/// Runs `cmd` (an `sftp -b -` with its arguments, say) with `input` on its
/// standard input to its successful end; returns the wall time in seconds.
pub fn timed_with_input(cmd: &mut Command, input: &str, what: &str) -> f64 {
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed().as_secs_f64()
}
