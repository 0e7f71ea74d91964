//! Memory as the kernel counts it, from `/proc`: a process's resident set
//! (now and at its peak), a sampler that follows it during a transfer, and
//! the proportional set size of a whole process tree (sshd forks one
//! process per session, so its sessions' memory is the sum over its tree;
//! proportional, so pages the processes share are counted once in all).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub const MIB: f64 = 1024.0 * 1024.0;

/// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
pub fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

pub fn rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS")
}

pub fn peak_rss(pid: u32) -> u64 {
    status_bytes(pid, "VmHWM")
}

/// Open file descriptors of `pid`.
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Samples a process's resident set every 50 ms until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<u64>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                samples.push(rss(pid));
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        });
        Sampler { stop, thread }
    }

    /// Every sample taken, in order.
    pub fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// `pid` and every process below it.
fn tree(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The command name, in parentheses, may hold spaces: read after it.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((child, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found
}

/// The proportional set size of `pid`'s whole tree, in bytes, and how many
/// processes it counts.
pub fn tree_pss(pid: u32) -> (u64, usize) {
    let pids = tree(pid);
    let pss = pids
        .iter()
        .map(|p| {
            std::fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
                .unwrap_or_default()
                .lines()
                .find_map(|line| line.strip_prefix("Pss:"))
                .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        })
        .sum();
    (pss, pids.len())
}
