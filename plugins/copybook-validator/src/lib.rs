//! Fixed-width records against a COBOL copybook: each record's length and
//! each numeric field (zoned or packed decimal) and alphabetic field are
//! checked, in ASCII or EBCDIC (cp037). See README.md for the parameters.
//!
//! ```toml
//! [tenants.acme.partners.alice]
//! validator = "plugins/copybook_validator.wasm"
//!
//! [tenants.acme.partners.alice.params]
//! layout = """
//!        01  CUSTOMER-REC.
//!            05  CUST-ID       PIC 9(6).
//!            05  CUST-NAME     PIC X(20).
//!            05  BALANCE       PIC S9(5)V99 COMP-3.
//! """
//! encoding = "cp037"
//! ```
//!
//! A copybook that cannot be read quarantines the file with the copybook's
//! line: the configuration is wrong, not the partner's file. The file is
//! read in pieces of 1 MiB, so memory does not grow with its size.

pub mod copybook;
pub mod ebcdic;
pub mod picture;
pub mod record;
pub mod source;

use ferry_plugin::host;
use ferry_plugin::types::{FileInfo, Verdict};

use copybook::Layout;
use record::{Checker, Encoding, Framing, Options};
use source::Format;

/// Reasons kept per file unless `max-reasons` says otherwise.
const MAX_REASONS: usize = 20;

/// The most reasons `max-reasons` may ask for: well under the host's limit
/// of 1 MiB on what a call returns.
const MAX_MAX_REASONS: usize = 1000;

struct CopybookValidator;

impl ferry_plugin::Validator for CopybookValidator {
    fn validate(file: FileInfo) -> Verdict {
        let config = match configure(&|name| host::param(name)) {
            Ok(config) => config,
            Err(reason) => return Verdict::Quarantine(reason),
        };
        if let Some(suffix) = &config.suffix
            && !file
                .name
                .to_ascii_lowercase()
                .ends_with(&suffix.to_ascii_lowercase())
        {
            return Verdict::Accept;
        }
        let reasons = judge(&config, host::chunks());
        if reasons.is_empty() {
            Verdict::Accept
        } else {
            Verdict::Reject(reasons)
        }
    }
}

ferry_plugin::validator!(CopybookValidator);

/// What the partner's parameters ask for.
#[derive(Debug)]
pub struct Config {
    pub layout: Layout,
    pub options: Options,
    /// Only files whose names end with it are checked.
    pub suffix: Option<String>,
}

/// Reads the parameters; the error is the quarantine reason.
pub fn configure(param: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let Some(text) = param("layout").filter(|t| !t.trim().is_empty()) else {
        return Err("the `layout` parameter (the copybook of the records) is not set".into());
    };
    let format = match param("copybook-format").as_deref().map(str::trim) {
        None | Some("auto") => Format::Auto,
        Some("fixed") => Format::Fixed,
        Some("free") => Format::Free,
        Some(other) => return Err(wrong("copybook-format", other, "auto, fixed or free")),
    };
    let encoding = match param("encoding").as_deref().map(str::trim) {
        None | Some("ascii") => Encoding::Ascii,
        Some("cp037") => Encoding::Cp037,
        Some(other) => return Err(wrong("encoding", other, "ascii or cp037")),
    };
    // EBCDIC files come from mainframe data sets, whose records have no
    // line ends; an ASCII file has usually been through a text transfer
    // that gave each record one.
    let framing = match param("record").as_deref().map(str::trim) {
        None if encoding == Encoding::Cp037 => Framing::Fixed,
        None | Some("lines") => Framing::Lines,
        Some("fixed") => Framing::Fixed,
        Some(other) => return Err(wrong("record", other, "lines or fixed")),
    };
    let max_reasons = match param("max-reasons") {
        None => MAX_REASONS,
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_MAX_REASONS).contains(n))
            .ok_or_else(|| {
                wrong(
                    "max-reasons",
                    &text,
                    &format!("a number from 1 to {MAX_MAX_REASONS}"),
                )
            })?,
    };
    let allow_blank_numeric = match param("allow-blank-numeric").as_deref().map(str::trim) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => return Err(wrong("allow-blank-numeric", other, "true or false")),
    };
    let layout = copybook::parse(&text, format).map_err(|e| e.to_string())?;
    Ok(Config {
        layout,
        options: Options {
            encoding,
            framing,
            max_reasons,
            allow_blank_numeric,
        },
        suffix: param("suffix").filter(|s| !s.is_empty()),
    })
}

fn wrong(name: &str, value: &str, expected: &str) -> String {
    format!("the `{name}` parameter is `{value}`; it must be {expected}")
}

/// The reasons to reject a file given as consecutive pieces; none when it
/// is good.
pub fn judge(config: &Config, pieces: impl IntoIterator<Item = Vec<u8>>) -> Vec<String> {
    let mut checker = Checker::new(&config.layout, config.options);
    for piece in pieces {
        checker.feed(&piece);
    }
    checker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOMER: &str = include_str!("../fixtures/customer.cpy");

    fn config(params: &[(&str, &str)]) -> Result<Config, String> {
        configure(&|name| {
            params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The reasons in pieces of `size` bytes, as if the host read that much
    /// at a time: the pieces must not change them.
    fn judge_in(config: &Config, bytes: &[u8], size: usize) -> Vec<String> {
        judge(config, bytes.chunks(size).map(<[u8]>::to_vec))
    }

    #[test]
    fn the_fixtures_are_judged_as_their_names_say() {
        let ascii = config(&[("layout", CUSTOMER)]).unwrap();
        let ebcdic = config(&[("layout", CUSTOMER), ("encoding", "cp037")]).unwrap();
        assert_eq!(ebcdic.options.framing, Framing::Fixed);
        assert_eq!(ascii.options.framing, Framing::Lines);
        for size in [1, 7, 80, 1 << 20] {
            let good = fixture("good-ascii.txt");
            assert_eq!(judge_in(&ascii, &good, size), [""; 0], "{size}");
            let good = fixture("good-cp037.dat");
            assert_eq!(judge_in(&ebcdic, &good, size), [""; 0], "{size}");
            let bad = fixture("bad-ascii.txt");
            assert_eq!(judge_in(&ascii, &bad, size), BAD_ASCII, "{size}");
            let bad = fixture("bad-cp037.dat");
            assert_eq!(judge_in(&ebcdic, &bad, size), BAD_CP037, "{size}");
        }
        // The EBCDIC file read as ASCII lines is one long line of garbage.
        assert_eq!(
            judge_in(&ascii, &fixture("good-cp037.dat"), 1 << 20),
            ["record 1: 240 bytes, the layout is 80"]
        );
    }

    /// The reasons for `fixtures/bad-ascii.txt`, as tests/it/copybook.rs
    /// expects them too.
    const BAD_ASCII: &[&str] = &[
        "record 2, CUST-ID: not numeric (0000X3)",
        "record 3, ITEM-QTY(2): not numeric (00X12)",
        "record 4: 79 bytes, the layout is 80",
        "record 5, BALANCE: not packed decimal (X'00012A4F')",
    ];

    /// The reasons for `fixtures/bad-cp037.dat`.
    const BAD_CP037: &[&str] = &[
        "record 2, CUST-ID: not numeric (0000X3)",
        "record 3, ITEM-QTY(3): not numeric (0001A)",
        "record 4, BALANCE: not packed decimal (X'0001234A')",
        "record 5: 37 bytes, the layout is 80",
    ];

    #[test]
    fn parameters_are_checked() {
        assert_eq!(
            config(&[]).unwrap_err(),
            "the `layout` parameter (the copybook of the records) is not set"
        );
        assert_eq!(
            config(&[("layout", CUSTOMER), ("encoding", "latin9")]).unwrap_err(),
            "the `encoding` parameter is `latin9`; it must be ascii or cp037"
        );
        assert_eq!(
            config(&[("layout", CUSTOMER), ("record", "vb")]).unwrap_err(),
            "the `record` parameter is `vb`; it must be lines or fixed"
        );
        assert_eq!(
            config(&[("layout", CUSTOMER), ("max-reasons", "0")]).unwrap_err(),
            "the `max-reasons` parameter is `0`; it must be a number from 1 to 1000"
        );
        let broken = "01 REC.\n  05 A PIC X(3).\n  05 B PIC 9(4).\n  05 C PIC S9(7)V9(.\n";
        assert_eq!(
            config(&[("layout", broken)]).unwrap_err(),
            "copybook line 4: PIC S9(7)V9( is not a picture: a repeat count is not closed"
        );
        let ascii = config(&[("layout", CUSTOMER), ("record", "fixed")]).unwrap();
        assert_eq!(ascii.options.framing, Framing::Fixed);
    }

    #[test]
    fn reasons_are_capped() {
        let layout = "01 R. 05 N PIC 9(3).";
        let config = config(&[("layout", layout), ("max-reasons", "2")]).unwrap();
        let file = "abc\n12\n003\nxyz\n1234\n".repeat(1000);
        let reasons = judge_in(&config, file.as_bytes(), 4096);
        assert_eq!(
            reasons,
            [
                "record 1, N: not numeric (abc)",
                "record 2: 2 bytes, the layout is 3",
                "... and 3998 more",
            ]
        );
    }
}
