//! Fault injection for crash-consistency tests.
//!
//! Two environment variables, read once at first use, let the integration
//! tests make a real `ferry` process fail where an unlucky machine would:
//!
//! - `FERRY_CRASH=NAME` aborts the process (no destructors, no flushing,
//!   like `kill -9`) when it reaches `crashpoint("NAME")`;
//! - `FERRY_FAULTS=NAME,NAME` makes `fault::check("NAME")` return an I/O
//!   error, standing in for a failed `fsync` or a full disk.
//!
//! With neither variable set, both are a load of a static and a comparison.

use std::io;
use std::sync::OnceLock;

struct Settings {
    crash: Option<String>,
    faults: Vec<String>,
}

fn settings() -> &'static Settings {
    // Process-wide: this process's fault settings (from its environment,
    // for the crash tests), no tenant's data.
    static SETTINGS: OnceLock<Settings> = OnceLock::new();
    SETTINGS.get_or_init(|| Settings {
        crash: std::env::var("FERRY_CRASH").ok().filter(|s| !s.is_empty()),
        faults: std::env::var("FERRY_FAULTS")
            .map(|s| s.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

/// Aborts the process here when `FERRY_CRASH` names this point.
pub fn crashpoint(name: &str) {
    if settings().crash.as_deref() == Some(name) {
        eprintln!("ferry: FERRY_CRASH={name}: aborting");
        std::process::abort();
    }
}

/// Fails with an I/O error when `FERRY_FAULTS` names this point.
pub fn check(name: &str) -> io::Result<()> {
    if settings().faults.iter().any(|f| f == name) {
        return Err(io::Error::other(format!(
            "injected fault `{name}` (FERRY_FAULTS)"
        )));
    }
    Ok(())
}

/// Whether `FERRY_FAULTS` names this point and it has not fired yet in this
/// process: for faults that a retry has to get past, such as a dropped
/// connection.
pub fn once(name: &str) -> bool {
    // Process-wide: the fault points that fired in this process.
    static FIRED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if check(name).is_ok() {
        return false;
    }
    let mut fired = FIRED.lock().unwrap_or_else(|p| p.into_inner());
    if fired.iter().any(|f| f == name) {
        return false;
    }
    fired.push(name.to_owned());
    true
}
