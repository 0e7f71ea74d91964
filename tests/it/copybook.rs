//! The copybook validator (plugins/copybook-validator) against the real
//! host: its fixtures are accepted or rejected with their exact reasons, a
//! configuration it cannot use quarantines the file, and a file of many
//! pieces is read without the plugin's memory growing with it.

use std::path::Path;
use std::time::Duration;

use ferry::journal::Verdict;
use ferry::plugin::{Limits, Plugin, PluginEngine, Role};

use crate::plugins::{file, services, wasm};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plugins/copybook-validator/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn copybook() -> String {
    String::from_utf8(fixture("customer.cpy")).unwrap()
}

/// A generous deadline: the test build copies what the plugin reads
/// slowly (wasmtime's copying code is not optimised here), and tests
/// share two cores.
fn patient() -> Limits {
    Limits {
        deadline: Duration::from_secs(30),
        ..Limits::default()
    }
}

fn validator(engine: &PluginEngine) -> Plugin {
    engine
        .load(
            &std::fs::read(wasm("copybook_validator")).unwrap(),
            Role::Validator,
        )
        .unwrap()
}

fn decide(
    engine: &PluginEngine,
    plugin: &Plugin,
    name: &str,
    content: &[u8],
    params: &[(&str, &str)],
) -> Verdict {
    plugin
        .validate(
            engine,
            services(content, params),
            patient(),
            &file(name, content.len() as u64),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .value
}

fn reject(reasons: &[&str]) -> Verdict {
    Verdict::Reject {
        reasons: reasons.iter().map(|r| r.to_string()).collect(),
    }
}

#[test]
fn the_copybook_validator_judges_its_fixtures() {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = validator(&engine);
    let layout = copybook();
    let ascii = [("layout", layout.as_str())];
    let ebcdic = [("layout", layout.as_str()), ("encoding", "cp037")];

    let good = fixture("good-ascii.txt");
    assert_eq!(
        decide(&engine, &plugin, "customers.txt", &good, &ascii),
        Verdict::Accept
    );
    let bad = fixture("bad-ascii.txt");
    assert_eq!(
        decide(&engine, &plugin, "customers.txt", &bad, &ascii),
        reject(&[
            "record 2, CUST-ID: not numeric (0000X3)",
            "record 3, ITEM-QTY(2): not numeric (00X12)",
            "record 4: 79 bytes, the layout is 80",
            "record 5, BALANCE: not packed decimal (X'00012A4F')",
        ])
    );

    let good = fixture("good-cp037.dat");
    assert_eq!(
        decide(&engine, &plugin, "CUSTOMER.DAT", &good, &ebcdic),
        Verdict::Accept
    );
    let bad = fixture("bad-cp037.dat");
    assert_eq!(
        decide(&engine, &plugin, "CUSTOMER.DAT", &bad, &ebcdic),
        reject(&[
            "record 2, CUST-ID: not numeric (0000X3)",
            "record 3, ITEM-QTY(3): not numeric (0001A)",
            "record 4, BALANCE: not packed decimal (X'0001234A')",
            "record 5: 37 bytes, the layout is 80",
        ])
    );

    // The EBCDIC file taken for ASCII lines: one line, of every record.
    assert_eq!(
        decide(&engine, &plugin, "CUSTOMER.DAT", &good, &ascii),
        reject(&["record 1: 240 bytes, the layout is 80"])
    );
    // With `suffix`, other files pass unchecked.
    let only_dat = [("layout", layout.as_str()), ("suffix", ".dat")];
    assert_eq!(
        decide(&engine, &plugin, "readme.txt", b"anything", &only_dat),
        Verdict::Accept
    );
    assert_eq!(
        decide(&engine, &plugin, "x.DAT", b"short\n", &only_dat),
        reject(&["record 1: 5 bytes, the layout is 80"])
    );
}

#[test]
fn a_configuration_the_copybook_validator_cannot_use_quarantines() {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = validator(&engine);
    let data = fixture("good-ascii.txt");
    let broken = "01 REC.\n  05 A PIC X(3).\n  05 B PIC 9(4).\n  05 C PIC S9(7)V9(.\n";
    assert_eq!(
        decide(&engine, &plugin, "f.txt", &data, &[("layout", broken)]),
        Verdict::Quarantine {
            reason: "copybook line 4: PIC S9(7)V9( is not a picture: a repeat count is not closed"
                .into()
        }
    );
    let varying = "01 REC.\n  05 N PIC 9(2).\n  05 LINES PIC X(10) OCCURS 1 TO 9 DEPENDING ON N.\n";
    let Verdict::Quarantine { reason } =
        decide(&engine, &plugin, "f.txt", &data, &[("layout", varying)])
    else {
        panic!("OCCURS DEPENDING ON is not supported");
    };
    assert!(
        reason.starts_with("copybook line 3: OCCURS DEPENDING ON"),
        "{reason}"
    );
    assert_eq!(
        decide(&engine, &plugin, "f.txt", &data, &[]),
        Verdict::Quarantine {
            reason: "the `layout` parameter (the copybook of the records) is not set".into()
        }
    );
    let layout = copybook();
    assert_eq!(
        decide(
            &engine,
            &plugin,
            "f.txt",
            &data,
            &[("layout", layout.as_str()), ("encoding", "cp500")]
        ),
        Verdict::Quarantine {
            reason: "the `encoding` parameter is `cp500`; it must be ascii or cp037".into()
        }
    );
}

/// About 9.6 MB of EBCDIC records, read by the host in 1 MiB pieces that
/// cut records in two: the one bad record at the end is found with its
/// number, and the plugin's memory stays far below the file's size.
#[test]
fn the_copybook_validator_streams_a_large_file() {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = validator(&engine);
    let layout = copybook();
    let mut content = fixture("good-cp037.dat").repeat(40_000);
    content.extend_from_slice(&fixture("bad-cp037.dat")[80..160]);
    assert_eq!(content.len(), 120_001 * 80);
    let outcome = plugin
        .validate(
            &engine,
            services(
                &content,
                &[("layout", layout.as_str()), ("encoding", "cp037")],
            ),
            patient(),
            &file("BIG.DAT", content.len() as u64),
        )
        .unwrap();
    assert_eq!(
        outcome.value,
        reject(&["record 120001, CUST-ID: not numeric (0000X3)"])
    );
    assert!(
        outcome.peak_memory < 8 << 20,
        "{} bytes of memory for a file of {}",
        outcome.peak_memory,
        content.len()
    );
}
