//! A validator that misbehaves on purpose, chosen by the partner parameter
//! `behaviour`, for ferry's sandbox tests: every way a plugin can go wrong
//! must be contained within its limits, with a clear reason.

use ferry_plugin::host;
use ferry_plugin::types::{FileInfo, HistoryQuery, Verdict};

struct Hostile;

impl ferry_plugin::Validator for Hostile {
    fn validate(file: FileInfo) -> Verdict {
        match host::param("behaviour").as_deref() {
            Some("loop") => spin(),
            Some("spy") => spy(&file),
            Some("memory") => hoard(),
            Some("recursion") => Verdict::Reject(vec![format!("depth {}", recurse(file.size))]),
            Some("trap") => panic!("this plugin panics on purpose"),
            Some("huge-output") => {
                Verdict::Reject((0..4096).map(|i| format!("{i:>1024}")).collect())
            }
            Some("host-flood") => {
                // Asks the host for far more than it gives; must hit a limit.
                for i in 0..2_000 {
                    host::kv_set(&format!("key-{i}"), &[0u8; 1024]);
                }
                Verdict::Accept
            }
            Some("call-flood") => {
                // Cheap host calls without end: the count stops them.
                loop {
                    std::hint::black_box(host::param("nothing"));
                }
            }
            Some("read-flood") => {
                // Reads the same MiB again and again: the bytes stop them.
                for _ in 0..1_000 {
                    std::hint::black_box(host::read(0, 1 << 20));
                }
                Verdict::Accept
            }
            Some("read-loop") => {
                // Small reads from a host that is slow to answer: the time
                // they wait is charged to the deadline.
                for i in 0..1_000 {
                    std::hint::black_box(host::read(i, 1));
                }
                Verdict::Accept
            }
            Some("kv-write") => {
                host::kv_set("written", b"yes");
                host::kv_delete("never-there");
                let seen = host::kv_get("written").unwrap_or_default();
                Verdict::Reject(vec![format!(
                    "read back {}",
                    String::from_utf8_lossy(&seen)
                )])
            }
            Some("kv-then-trap") => {
                host::kv_set("written", b"yes");
                panic!("this plugin panics after a write")
            }
            Some("log-flood") => {
                for i in 0..1_000_000u64 {
                    host::info(&format!("line {i}"));
                }
                Verdict::Accept
            }
            _ => Verdict::Accept,
        }
    }
}

ferry_plugin::validator!(Hostile);

/// Reports, as a rejection, what the imports let it see: the names its
/// history lists, what its key-value store held, and the first bytes of
/// the file it reads. ferry's isolation tests check that all of it is its
/// own tenant's and partner's. It also leaves its `mark` in the store.
fn spy(file: &FileInfo) -> Verdict {
    let history = host::history(HistoryQuery {
        direction: None,
        since: None,
        limit: 10_000,
    });
    let names: Vec<String> = history.into_iter().map(|h| h.name).collect();
    let seen = host::kv_get("seen")
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    let mark = host::param("mark").unwrap_or_default();
    host::kv_set("seen", format!("{seen}{mark},").as_bytes());
    let content = String::from_utf8_lossy(&host::read(0, 64)).into_owned();
    Verdict::Reject(vec![
        format!("file={}/{}/{}", file.tenant, file.partner, file.name),
        format!("history={}", names.join(",")),
        format!("kv={seen}"),
        format!("content={content}"),
    ])
}

fn spin() -> Verdict {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

fn hoard() -> Verdict {
    // Reserving is enough to grow linear memory; not touching the pages
    // keeps this fast, so the memory cap (not the deadline) stops it.
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(Vec::with_capacity(8 << 20)));
    }
}

#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    // Not a tail call: every level keeps a frame.
    let frame = std::hint::black_box([n; 32]);
    recurse(n + 1) + frame[n as usize % 32]
}
