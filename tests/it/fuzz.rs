//! The fuzz targets' inputs, replayed: every file of the kept corpus
//! (`fuzz/corpus/TARGET/`) and every input that once broke ferry
//! (`fuzz/regressions/TARGET/`, each named for what it broke) goes
//! through the same harness as under `cargo fuzz run TARGET`, which panics
//! when ferry breaks a promise about that input (see `ferry::fuzzing`).

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
    replay("ftp_commands", ferry::fuzzing::ftp::run);
}

#[test]
fn sftp_packets() {
    replay("sftp_packets", ferry::fuzzing::sftp::run);
}

#[test]
fn config_loader() {
    replay("config_loader", ferry::fuzzing::config::run);
}

#[test]
fn journal_reader() {
    replay("journal_reader", ferry::fuzzing::journal::run);
}
