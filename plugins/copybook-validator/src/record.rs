//! Checks a file's records against a layout, fed piece by piece so that
//! memory stays the same whatever the file's size: at most one record (or
//! one line, cut at the layout's length) is kept between two pieces.
//!
//! Reasons read `record 2, CUST-ID: not numeric (0000X3)` and
//! `record 3: 79 bytes, the layout is 80`. The first `max_reasons` are
//! kept, the others counted into a last `... and N more`.

use crate::copybook::{Check, Layout, Sign};
use crate::ebcdic;

/// How the file's bytes are text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// ASCII, or any code page that keeps ASCII's digits and letters.
    Ascii,
    /// EBCDIC, IBM code page 037.
    Cp037,
}

/// How records follow each other in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A record per line, ended by LF or CR LF (in cp037: NL, LF, CR LF).
    Lines,
    /// Records of exactly the layout's length, back to back.
    Fixed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub encoding: Encoding,
    pub framing: Framing,
    /// At most this many reasons, then one line counting the rest.
    pub max_reasons: usize,
    /// Numeric fields that are all spaces pass: many files leave an
    /// unknown amount blank rather than zero.
    pub allow_blank_numeric: bool,
}

/// The longest value shown in a reason, in bytes.
const SHOWN: usize = 40;

/// How many lines decide whether lines end with CR LF or LF alone.
const DECIDE_AFTER: usize = 16;

pub struct Checker<'a> {
    layout: &'a Layout,
    options: Options,
    /// Records seen so far (the number of the last one).
    records: u64,
    reasons: Vec<String>,
    /// Problems past `max_reasons`, only counted.
    more: u64,
    /// The start of the record or line that the next piece continues, cut
    /// at the layout's length plus one (room for a CR).
    carry: Vec<u8>,
    /// The full length of the line being assembled, which can be longer
    /// than what `carry` keeps of it.
    carry_len: usize,
    /// The last byte of that line, to see its CR even when it was cut.
    carry_last: Option<u8>,
    /// Lines end with CR LF: decided once `DECIDE_AFTER` lines are seen.
    crlf: Option<bool>,
    /// The first lines, held until that is decided: their first bytes (at
    /// most the layout's length plus one), full length and last byte.
    undecided: Vec<(Vec<u8>, usize, Option<u8>)>,
    /// Empty lines not yet reported: ignored at the end of the file,
    /// records of 0 bytes before a line that is not empty.
    empty_lines: u64,
}

impl<'a> Checker<'a> {
    pub fn new(layout: &'a Layout, options: Options) -> Checker<'a> {
        Checker {
            layout,
            options,
            records: 0,
            reasons: Vec::new(),
            more: 0,
            carry: Vec::with_capacity(layout.length + 1),
            carry_len: 0,
            carry_last: None,
            crlf: None,
            undecided: Vec::new(),
            empty_lines: 0,
        }
    }

    /// Checks the records that end in this piece of the file; the start of
    /// a record it does not finish waits for the next piece.
    pub fn feed(&mut self, piece: &[u8]) {
        match self.options.framing {
            Framing::Fixed => self.feed_fixed(piece),
            Framing::Lines => self.feed_lines(piece),
        }
    }

    /// The reasons for rejecting the file; none when it is good.
    pub fn finish(mut self) -> Vec<String> {
        match self.options.framing {
            Framing::Fixed if !self.carry.is_empty() => {
                // A final record cut short: the file's size is not a
                // multiple of the record length.
                self.records += 1;
                let len = self.carry.len();
                self.wrong_length(len);
            }
            Framing::Lines => {
                if self.carry_len > 0 {
                    self.end_line_from_carry();
                }
                if self.crlf.is_none() {
                    self.decide_line_ends();
                }
            }
            Framing::Fixed => {}
        }
        if self.more > 0 {
            self.reasons.push(format!("... and {} more", self.more));
        }
        self.reasons
    }

    fn feed_fixed(&mut self, piece: &[u8]) {
        let length = self.layout.length;
        let mut rest = piece;
        if !self.carry.is_empty() {
            let take = (length - self.carry.len()).min(rest.len());
            self.carry.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.carry.len() < length {
                return;
            }
            let record = std::mem::take(&mut self.carry);
            self.record(&record);
            self.carry = record;
            self.carry.clear();
        }
        let mut records = rest.chunks_exact(length);
        for record in &mut records {
            self.record(record);
        }
        self.carry.extend_from_slice(records.remainder());
    }

    fn feed_lines(&mut self, piece: &[u8]) {
        let encoding = self.options.encoding;
        let is_end = move |b: &u8| match encoding {
            Encoding::Ascii => *b == b'\n',
            // EBCDIC's new line (NL, 0x15) and line feed (LF, 0x25).
            Encoding::Cp037 => *b == 0x15 || *b == 0x25,
        };
        let mut rest = piece;
        while let Some(end) = rest.iter().position(is_end) {
            let line = &rest[..end];
            if self.carry_len == 0 {
                self.line(line, line.len(), line.last().copied());
            } else {
                self.append(line);
                self.end_line_from_carry();
            }
            rest = &rest[end + 1..];
        }
        self.append(rest);
    }

    /// Keeps the start of a line that goes on in the next piece.
    fn append(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let room = (self.layout.length + 1).saturating_sub(self.carry.len());
        self.carry
            .extend_from_slice(&bytes[..room.min(bytes.len())]);
        self.carry_len += bytes.len();
        self.carry_last = bytes.last().copied();
    }

    fn end_line_from_carry(&mut self) {
        let line = std::mem::take(&mut self.carry);
        self.line(&line, self.carry_len, self.carry_last);
        self.carry = line;
        self.carry.clear();
        self.carry_len = 0;
        self.carry_last = None;
    }

    /// One line: `bytes` holds at least its first `length + 1` bytes, `len`
    /// is its full length and `last` its last byte.
    fn line(&mut self, bytes: &[u8], len: usize, last: Option<u8>) {
        let Some(crlf) = self.crlf else {
            let kept = bytes[..bytes.len().min(self.layout.length + 1)].to_vec();
            self.undecided.push((kept, len, last));
            if self.undecided.len() == DECIDE_AFTER {
                self.decide_line_ends();
            }
            return;
        };
        let len = if crlf && last == Some(b'\r') {
            len - 1
        } else {
            len
        };
        if len == 0 {
            self.empty_lines += 1;
            return;
        }
        for _ in 0..std::mem::take(&mut self.empty_lines) {
            self.records += 1;
            self.wrong_length(0);
        }
        if len == self.layout.length {
            self.record(&bytes[..len]);
        } else {
            self.records += 1;
            self.wrong_length(len);
        }
    }

    /// Lines end with CR LF when most of the first lines end with a CR. One
    /// line cannot decide it: a record may end with a byte 0x0D of packed
    /// or binary data, and the first record may be the one that is short.
    fn decide_line_ends(&mut self) {
        let held = std::mem::take(&mut self.undecided);
        let lines = held.iter().filter(|(_, len, _)| *len > 0).count();
        let with_cr = held
            .iter()
            .filter(|(_, len, last)| *len > 0 && *last == Some(b'\r'))
            .count();
        self.crlf = Some(with_cr * 2 > lines);
        for (bytes, len, last) in held {
            self.line(&bytes, len, last);
        }
    }

    fn wrong_length(&mut self, len: usize) {
        let (record, layout) = (self.records, self.layout.length);
        self.report(|| format!("record {record}: {len} bytes, the layout is {layout}"));
    }

    /// A record of the layout's length: its fields are checked.
    fn record(&mut self, record: &[u8]) {
        self.records += 1;
        let layout = self.layout;
        for field in &layout.fields {
            let value = &record[field.offset..field.offset + field.len];
            if let Some(problem) = problem(field.check, value, &self.options) {
                let (number, ebcdic) = (self.records, self.options.encoding == Encoding::Cp037);
                self.report(|| {
                    format!(
                        "record {number}, {}: {}",
                        field.name,
                        problem.describe(value, ebcdic)
                    )
                });
            }
        }
    }

    /// Keeps a reason, or only counts it once enough are kept, so that a
    /// bad file of a gigabyte costs no more memory than a good one.
    fn report(&mut self, reason: impl FnOnce() -> String) {
        if self.reasons.len() < self.options.max_reasons {
            self.reasons.push(reason());
        } else {
            self.more += 1;
        }
    }
}

/// What is wrong with a value; described only when the reason is kept, so
/// that counting the problems of a bad file allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    NotNumeric,
    NotPacked,
    SignedPackedInUnsigned,
    NotAlphabetic,
}

impl Problem {
    fn describe(self, value: &[u8], ebcdic: bool) -> String {
        match self {
            Problem::NotNumeric => format!("not numeric ({})", shown(value, ebcdic)),
            Problem::NotPacked => format!("not packed decimal ({})", hex(value)),
            Problem::SignedPackedInUnsigned => {
                format!("a sign in an unsigned field ({})", hex(value))
            }
            Problem::NotAlphabetic => format!("not alphabetic ({})", shown(value, ebcdic)),
        }
    }
}

/// What is wrong with a field's value, if anything.
fn problem(check: Check, value: &[u8], options: &Options) -> Option<Problem> {
    let ebcdic = options.encoding == Encoding::Cp037;
    let space = if ebcdic { 0x40 } else { b' ' };
    let blank = || value.iter().all(|&b| b == space);
    match check {
        Check::Zoned(_) | Check::Packed { .. } if options.allow_blank_numeric && blank() => None,
        Check::Zoned(sign) => (!zoned_ok(value, sign, ebcdic)).then_some(Problem::NotNumeric),
        Check::Packed { signed } => match packed_sign(value) {
            // An unsigned field holds F; C or D is a number written for
            // another PIC.
            Some(0xF) => None,
            Some(_) if signed => None,
            Some(_) => Some(Problem::SignedPackedInUnsigned),
            None => Some(Problem::NotPacked),
        },
        Check::Alphabetic => {
            let letters = value.iter().all(|&b| {
                let c = if ebcdic {
                    ebcdic::decode_byte(b)
                } else {
                    char::from(b)
                };
                c.is_ascii_alphabetic() || c == ' '
            });
            (!letters).then_some(Problem::NotAlphabetic)
        }
    }
}

/// Zoned decimal: a digit a byte, the sign where the SIGN clause puts it.
/// In ASCII a signed digit is overpunched as `{ABCDEFGHI` (+0 to +9) or
/// `}JKLMNOPQR` (-0 to -9), as mainframe files converted to ASCII have them,
/// and a plain digit is positive; in EBCDIC it is a digit with zone C
/// (positive), D (negative) or F (unsigned, taken as positive).
fn zoned_ok(value: &[u8], sign: Sign, ebcdic: bool) -> bool {
    let digit = |b: u8| {
        if ebcdic {
            (0xF0..=0xF9).contains(&b)
        } else {
            b.is_ascii_digit()
        }
    };
    let overpunch = |b: u8| {
        if ebcdic {
            matches!(b >> 4, 0xC | 0xD | 0xF) && b & 0xF <= 9
        } else {
            b.is_ascii_digit() || b"{ABCDEFGHI}JKLMNOPQR".contains(&b)
        }
    };
    let separate = |b: u8| {
        if ebcdic {
            b == 0x4E || b == 0x60
        } else {
            b == b'+' || b == b'-'
        }
    };
    let Some((&first, _)) = value.split_first() else {
        return false;
    };
    let last = value[value.len() - 1];
    let all = |bytes: &[u8]| bytes.iter().all(|&b| digit(b));
    let n = value.len();
    match sign {
        Sign::Unsigned => all(value),
        Sign::TrailingOverpunch => all(&value[..n - 1]) && overpunch(last),
        Sign::LeadingOverpunch => overpunch(first) && all(&value[1..]),
        Sign::TrailingSeparate => n > 1 && all(&value[..n - 1]) && separate(last),
        Sign::LeadingSeparate => n > 1 && separate(first) && all(&value[1..]),
    }
}

/// The sign nibble of a packed decimal value, if it is one: every nibble a
/// digit but the last, which is C (positive), D (negative) or F
/// (unsigned). IBM's hardware also takes A, B and E, but no COBOL program
/// writes them, so they point to bytes that are not packed decimal at all.
fn packed_sign(value: &[u8]) -> Option<u8> {
    let (&last, body) = value.split_last()?;
    let digits = body.iter().all(|&b| b >> 4 <= 9 && b & 0xF <= 9) && last >> 4 <= 9;
    let sign = last & 0xF;
    (digits && matches!(sign, 0xC | 0xD | 0xF)).then_some(sign)
}

/// A value as a person reads it: printable characters as they are (cp037
/// decoded), the others as `\xNN`, cut after `SHOWN` bytes.
pub fn shown(value: &[u8], ebcdic: bool) -> String {
    let mut out = String::new();
    for &b in value.iter().take(SHOWN) {
        let c = if ebcdic {
            ebcdic::decode_byte(b)
        } else {
            char::from(b)
        };
        if c.is_control() || (!ebcdic && !b.is_ascii()) {
            out.push_str(&format!("\\x{b:02X}"));
        } else {
            out.push(c);
        }
    }
    if value.len() > SHOWN {
        out.push_str("...");
    }
    out
}

/// Bytes as a COBOL hexadecimal literal, `X'00012C'`.
pub fn hex(value: &[u8]) -> String {
    let digits: String = value.iter().map(|b| format!("{b:02X}")).collect();
    format!("X'{digits}'")
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
