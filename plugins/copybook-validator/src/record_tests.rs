//! The record checker's tests: each encoding of numbers, both framings,
//! pieces cut anywhere, and the bound on memory and reasons.

use super::*;
use crate::copybook::{self, Field};
use crate::ebcdic::encode;
use crate::source::Format;

fn options(encoding: Encoding, framing: Framing) -> Options {
    Options {
        encoding,
        framing,
        max_reasons: 20,
        allow_blank_numeric: false,
    }
}

const ASCII_LINES: Options = Options {
    encoding: Encoding::Ascii,
    framing: Framing::Lines,
    max_reasons: 20,
    allow_blank_numeric: false,
};

/// The reasons for `bytes`, fed in pieces of every size from 1 to 9 and
/// whole; all must agree.
fn check(layout: &Layout, options: Options, bytes: &[u8]) -> Vec<String> {
    let whole = {
        let mut checker = Checker::new(layout, options);
        checker.feed(bytes);
        checker.finish()
    };
    for size in 1..10 {
        let mut checker = Checker::new(layout, options);
        for piece in bytes.chunks(size) {
            checker.feed(piece);
        }
        assert_eq!(checker.finish(), whole, "in pieces of {size}");
    }
    whole
}

/// A layout of one field of `len` bytes checked as `check`.
fn one(check: Check, len: usize) -> Layout {
    Layout {
        length: len,
        fields: vec![Field {
            name: "F".into(),
            offset: 0,
            len,
            check,
        }],
    }
}

/// Whether one value passes, as a record of its own.
fn passes(check: Check, value: &[u8], encoding: Encoding) -> bool {
    let layout = one(check, value.len());
    let mut checker = Checker::new(&layout, options(encoding, Framing::Fixed));
    checker.feed(value);
    checker.finish().is_empty()
}

#[test]
fn zoned_decimal_in_ascii() {
    let ascii = |check, value: &str| passes(check, value.as_bytes(), Encoding::Ascii);
    let unsigned = Check::Zoned(Sign::Unsigned);
    let trailing = Check::Zoned(Sign::TrailingOverpunch);
    assert!(ascii(unsigned, "001234"));
    assert!(!ascii(unsigned, "0012 4"));
    assert!(!ascii(unsigned, "00123D"));
    for last in "0123456789{ABCDEFGHI}JKLMNOPQR".chars() {
        assert!(ascii(trailing, &format!("0012{last}")), "{last}");
    }
    assert!(!ascii(trailing, "0012S"));
    assert!(!ascii(trailing, "A0012"));
    assert!(!ascii(trailing, "001-2"));
    assert!(ascii(Check::Zoned(Sign::LeadingOverpunch), "J0012"));
    assert!(!ascii(Check::Zoned(Sign::LeadingOverpunch), "0012J"));
    assert!(ascii(Check::Zoned(Sign::TrailingSeparate), "0012-"));
    assert!(ascii(Check::Zoned(Sign::TrailingSeparate), "0012+"));
    assert!(!ascii(Check::Zoned(Sign::TrailingSeparate), "00123"));
    assert!(ascii(Check::Zoned(Sign::LeadingSeparate), "-0012"));
    assert!(!ascii(Check::Zoned(Sign::LeadingSeparate), "-"));
}

#[test]
fn zoned_decimal_in_ebcdic() {
    let ebcdic = |check, value: &[u8]| passes(check, value, Encoding::Cp037);
    let trailing = Check::Zoned(Sign::TrailingOverpunch);
    assert!(ebcdic(Check::Zoned(Sign::Unsigned), &[0xF0, 0xF1, 0xF9]));
    assert!(!ebcdic(Check::Zoned(Sign::Unsigned), &[0xF0, 0xF1, 0xC9]));
    // ASCII digits are not EBCDIC digits: a file sent in the wrong code
    // page fails.
    assert!(!ebcdic(Check::Zoned(Sign::Unsigned), b"012"));
    assert!(ebcdic(trailing, &[0xF0, 0xF1, 0xC9]));
    assert!(ebcdic(trailing, &[0xF0, 0xF1, 0xD0]));
    assert!(ebcdic(trailing, &[0xF0, 0xF1, 0xF5]));
    assert!(!ebcdic(trailing, &[0xF0, 0xF1, 0xE5]));
    assert!(!ebcdic(trailing, &[0xF0, 0xF1, 0xCA]));
    assert!(!ebcdic(trailing, &[0xC0, 0xF1, 0xF5]));
    assert!(ebcdic(
        Check::Zoned(Sign::LeadingOverpunch),
        &[0xD1, 0xF1, 0xF5]
    ));
    assert!(ebcdic(Check::Zoned(Sign::TrailingSeparate), &[0xF1, 0x60]));
    assert!(ebcdic(Check::Zoned(Sign::LeadingSeparate), &[0x4E, 0xF1]));
    assert!(!ebcdic(Check::Zoned(Sign::LeadingSeparate), b"+1"));
}

#[test]
fn packed_decimal() {
    let signed = Check::Packed { signed: true };
    let unsigned = Check::Packed { signed: false };
    for encoding in [Encoding::Ascii, Encoding::Cp037] {
        assert!(passes(signed, &[0x01, 0x23, 0x4C], encoding));
        assert!(passes(signed, &[0x01, 0x23, 0x4D], encoding));
        assert!(passes(signed, &[0x01, 0x23, 0x4F], encoding));
        assert!(passes(unsigned, &[0x01, 0x23, 0x4F], encoding));
        assert!(passes(signed, &[0x0C], encoding));
        assert!(!passes(signed, &[0x01, 0x23, 0x4A], encoding));
        assert!(!passes(signed, &[0x01, 0x2B, 0x4C], encoding));
        assert!(!passes(signed, &[0x01, 0x23, 0xAC], encoding));
        assert!(!passes(signed, &[0x40, 0x40, 0x40], encoding));
    }
    let layout = one(unsigned, 3);
    assert_eq!(
        check(
            &layout,
            options(Encoding::Ascii, Framing::Fixed),
            &[0x01, 0x23, 0x4D]
        ),
        ["record 1, F: a sign in an unsigned field (X'01234D')"]
    );
    assert_eq!(
        check(
            &layout,
            options(Encoding::Ascii, Framing::Fixed),
            &[0x01, 0x2F, 0x4C]
        ),
        ["record 1, F: not packed decimal (X'012F4C')"]
    );
}

#[test]
fn alphabetic_and_blank_numbers() {
    assert!(passes(Check::Alphabetic, b"Ab c", Encoding::Ascii));
    assert!(!passes(Check::Alphabetic, b"Ab1c", Encoding::Ascii));
    assert!(passes(Check::Alphabetic, &encode("Ab c"), Encoding::Cp037));
    assert!(!passes(Check::Alphabetic, &encode("A-c"), Encoding::Cp037));

    let layout = copybook::parse(
        "01 R. 05 N PIC 9(3). 05 P PIC S9(3) COMP-3. 05 A PIC A(2).",
        Format::Free,
    )
    .unwrap();
    let blank = b"     12\n";
    assert_eq!(
        check(&layout, ASCII_LINES, blank),
        [
            "record 1, N: not numeric (   )",
            "record 1, P: not packed decimal (X'2020')",
            "record 1, A: not alphabetic (12)",
        ]
    );
    let lenient = Options {
        allow_blank_numeric: true,
        ..ASCII_LINES
    };
    assert_eq!(
        check(&layout, lenient, blank),
        ["record 1, A: not alphabetic (12)"]
    );
}

#[test]
fn lines_lf_crlf_and_the_last_line() {
    let layout = copybook::parse("01 R. 05 N PIC 9(3). 05 T PIC X(2).", Format::Free).unwrap();
    assert!(check(&layout, ASCII_LINES, b"001ab\n002cd\n").is_empty());
    assert!(check(&layout, ASCII_LINES, b"001ab\r\n002cd\r\n").is_empty());
    // The last line needs no line end, but must be whole.
    assert!(check(&layout, ASCII_LINES, b"001ab\n002cd").is_empty());
    assert_eq!(
        check(&layout, ASCII_LINES, b"001ab\r\n002c\r\n003ef\r\n00"),
        [
            "record 2: 4 bytes, the layout is 5",
            "record 4: 2 bytes, the layout is 5"
        ]
    );
    // A record may end with the byte of a CR (packed data does): in a file
    // whose lines end with LF alone, it stays part of the record.
    assert!(check(&layout, ASCII_LINES, b"001a\r\n002bc\n003cd\n").is_empty());
    // And a CR LF file whose first record is short is still read as one.
    assert_eq!(
        check(&layout, ASCII_LINES, b"001a\r\n002bc\r\n003cd\r\n"),
        ["record 1: 4 bytes, the layout is 5"]
    );
    // Empty lines count as records of 0 bytes, except at the end.
    assert_eq!(
        check(&layout, ASCII_LINES, b"001ab\n\n002cd\n\n\n"),
        ["record 2: 0 bytes, the layout is 5"]
    );
    assert!(check(&layout, ASCII_LINES, b"").is_empty());
    assert_eq!(
        check(&layout, ASCII_LINES, b"001ab\n00Xcd\n0031234\n"),
        [
            "record 2, N: not numeric (00X)",
            "record 3: 7 bytes, the layout is 5"
        ]
    );
}

#[test]
fn lines_in_ebcdic_end_with_nl_or_lf() {
    let layout = copybook::parse("01 R. 05 N PIC 9(3).", Format::Free).unwrap();
    let cp037 = options(Encoding::Cp037, Framing::Lines);
    let mut file = encode("001");
    file.push(0x15);
    file.extend(encode("0A2"));
    file.push(0x25);
    file.extend(encode("003"));
    assert_eq!(
        check(&layout, cp037, &file),
        ["record 2, N: not numeric (0A2)"]
    );
    // CR LF is 0D 25 in EBCDIC.
    let crlf: Vec<u8> = ["001", "002", "0B3"]
        .iter()
        .flat_map(|line| [encode(line), vec![0x0D, 0x25]].concat())
        .collect();
    assert_eq!(
        check(&layout, cp037, &crlf),
        ["record 3, N: not numeric (0B3)"]
    );
}

#[test]
fn fixed_records_and_a_truncated_tail() {
    let layout = copybook::parse("01 R. 05 N PIC 9(2). 05 T PIC X.", Format::Free).unwrap();
    let fixed = options(Encoding::Ascii, Framing::Fixed);
    assert!(check(&layout, fixed, b"01a02b03c").is_empty());
    assert_eq!(
        check(&layout, fixed, b"01a0Xb03c0"),
        [
            "record 2, N: not numeric (0X)",
            "record 4: 1 bytes, the layout is 3"
        ]
    );
    // A file with line ends read as fixed records is misaligned at once.
    assert_eq!(
        check(&layout, fixed, b"01a\n02b\n"),
        [
            "record 2, N: not numeric (\\x0A0)",
            "record 3: 2 bytes, the layout is 3"
        ]
    );
}

#[test]
fn values_are_shown_readably() {
    assert_eq!(shown(b"12\x003\xff", false), "12\\x003\\xFF");
    assert_eq!(shown(&encode("0000X3"), true), "0000X3");
    assert_eq!(shown(&[0xF1, 0x00, 0xC0], true), "1\\x00{");
    assert_eq!(shown(&[b'9'; 50], false), format!("{}...", "9".repeat(40)));
    assert_eq!(hex(&[0x00, 0x12, 0x3C]), "X'00123C'");
}

#[test]
fn memory_and_reasons_do_not_grow_with_the_file() {
    let layout = copybook::parse("01 R. 05 N PIC 9(4).", Format::Free).unwrap();
    // A file of 64 MiB without a line end: one line, whose bytes past the
    // layout's length are counted, not kept.
    let mut checker = Checker::new(&layout, ASCII_LINES);
    let piece = vec![b'7'; 1 << 20];
    for _ in 0..64 {
        checker.feed(&piece);
        assert!(checker.carry.len() <= layout.length + 1);
    }
    assert_eq!(
        checker.finish(),
        ["record 1: 67108864 bytes, the layout is 4"]
    );

    let mut checker = Checker::new(&layout, ASCII_LINES);
    let bad = b"12X4\n".repeat(100_000);
    checker.feed(&bad);
    assert_eq!(checker.reasons.len(), 20);
    let reasons = checker.finish();
    assert_eq!(reasons.len(), 21);
    assert_eq!(reasons[0], "record 1, N: not numeric (12X4)");
    assert_eq!(reasons[19], "record 20, N: not numeric (12X4)");
    assert_eq!(reasons[20], "... and 99980 more");
}
