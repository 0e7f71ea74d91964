//! The harnesses of ferry's fuzz targets, one per untrusted input: FTP
//! command lines, SFTP packets, configuration files and journal databases.
//!
//! Each `run` takes the fuzzer's bytes, drives the real code path with
//! them and panics when ferry breaks a promise it makes about such input
//! (a malformed reply, a hang, a broken hash chain reported intact, a
//! configuration error that does not say where). Errors are not failures:
//! refusing bad input is the point. The harnesses live in the library, not
//! in `fuzz/`, so that the unit tests (`replay` below) replay the corpus
//! and every crash kept under `fuzz/regressions/` in the test command; the
//! cargo-fuzz targets in `fuzz/` only call them, through the `fuzzing`
//! feature. The module is compiled only for those two: nothing here is in
//! the shipped binary.

pub mod config;
pub mod ftp;
pub mod journal;
pub mod sftp;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh directory of this process's own under the system's temporary
/// directory, for a fixture or one input.
pub(crate) fn scratch(what: &str) -> PathBuf {
    // Process-wide: numbers the harnesses' scratch directories.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ferry-fuzz-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch directory");
    dir
}

/// The runtime a fixture serves on: two workers, like a small server.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A cheap argon2id hash of `password` (8 KiB, one pass): the harnesses
/// log in on most inputs, and the default parameters would make that the
/// whole cost of an input. Verification reads the parameters from the hash.
pub(crate) fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::PasswordHasher as _;
    let params = argon2::Params::new(8, 1, 1, None).expect("argon2 parameters");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes())
        .expect("hashing the fixture's password")
        .to_string()
}

/// The configuration every fixture uses: tenant `acme`, partner `alice`
/// (password `fuzz-pass`) whose files go to `bob`, and `listeners`.
pub(crate) fn fixture_config(dir: &std::path::Path, listeners: &str) -> crate::config::Config {
    let text = format!(
        "[server]\ndata_dir = \"{data}\"\n\n[limits]\nlogin_failures = 1000000000\n\n{listeners}\n\
         [tenants.acme.partners.alice]\nroutes = [{{ to = \"bob\" }}]\n\
         [[tenants.acme.partners.alice.accounts]]\nlogin = \"alice\"\npassword_hash = \"{hash}\"\n\n\
         [tenants.acme.partners.bob]\n[[tenants.acme.partners.bob.accounts]]\nlogin = \"bob\"\n\
         password_hash = \"{hash}\"\n",
        data = dir.join("data").display(),
        hash = cheap_hash("fuzz-pass"),
    );
    let path = dir.join("ferry.toml");
    std::fs::write(&path, text).expect("writing the fixture's configuration");
    crate::config::load(&path).expect("the fixture's configuration")
}

/// The fuzz targets' inputs, replayed: every file of the kept corpus
/// (`fuzz/corpus/TARGET/`) and every input that once broke ferry
/// (`fuzz/regressions/TARGET/`, each named for what it broke) goes through
/// the same harness as under `cargo fuzz run TARGET`, which panics when
/// ferry breaks a promise about that input.
#[cfg(test)]
mod replay {
    use std::path::Path;

    fn replay(target: &str, run: fn(&[u8])) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut replayed = 0;
        for kind in ["corpus", "regressions"] {
            let dir = root.join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
            paths.sort();
            for path in paths {
                let input = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&input));
                assert!(outcome.is_ok(), "{} broke the harness", path.display());
                replayed += 1;
            }
        }
        assert!(replayed > 0, "no inputs kept for {target}");
    }

    #[test]
    fn ftp_commands() {
        replay("ftp_commands", super::ftp::run);
    }

    #[test]
    fn sftp_packets() {
        replay("sftp_packets", super::sftp::run);
    }

    #[test]
    fn config_loader() {
        replay("config_loader", super::config::run);
    }

    #[test]
    fn journal_reader() {
        replay("journal_reader", super::journal::run);
    }
}
