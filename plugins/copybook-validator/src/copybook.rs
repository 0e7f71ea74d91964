//! A COBOL copybook, read into the layout of one record: its length, and
//! the fields whose bytes can be checked (zoned and packed decimal,
//! alphabetic), each with its offset, length and name as a person would
//! write it (`ITEM-QTY(3)`).
//!
//! What is read: level numbers 01-49 (66 and 88 are skipped: a RENAMES adds
//! no bytes, and condition names describe values a program tests, not the
//! only values a field may hold), group items, PIC/PICTURE, USAGE (DISPLAY,
//! COMP/BINARY/COMP-4/COMP-5, COMP-3/PACKED-DECIMAL, COMP-1, COMP-2,
//! NATIONAL) on items and groups, SIGN LEADING/TRAILING [SEPARATE],
//! OCCURS n TIMES (with its KEY and INDEXED BY phrases), REDEFINES, FILLER,
//! and VALUE, JUSTIFIED, BLANK WHEN ZERO, EXTERNAL and GLOBAL, which do not
//! change the layout. Everything else is refused with its line, because a
//! layout guessed around an unknown clause would judge partners' files
//! wrongly.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::picture::{self, Class, Picture};
use crate::source::{self, Format, Token};

/// The longest record this validator takes: far above z/OS's 32,760 bytes,
/// and small enough that the one record it buffers stays cheap.
pub const MAX_RECORD: usize = 16 << 20;

/// The most fields checked per record, OCCURS expanded: enough for any real
/// layout, and a bound on the memory a typing mistake in an OCCURS can take.
pub const MAX_FIELDS: usize = 100_000;

/// A mistake in the copybook, on a line of it (0 when it is about the
/// whole copybook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopybookError {
    pub line: usize,
    pub message: String,
}

impl CopybookError {
    pub fn at(line: usize, message: impl Into<String>) -> CopybookError {
        CopybookError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for CopybookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "copybook: {}", self.message)
        } else {
            write!(f, "copybook line {}: {}", self.line, self.message)
        }
    }
}

/// Where the sign of a zoned decimal number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    /// `PIC 9`: digits only.
    Unsigned,
    /// `PIC S9` (the default): the last digit carries the sign in its zone.
    TrailingOverpunch,
    /// `SIGN LEADING`: the first digit carries it.
    LeadingOverpunch,
    /// `SIGN TRAILING SEPARATE`: a `+` or `-` after the digits.
    TrailingSeparate,
    /// `SIGN LEADING SEPARATE`: a `+` or `-` before them.
    LeadingSeparate,
}

/// How a field's bytes are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Zoned decimal (a numeric DISPLAY item).
    Zoned(Sign),
    /// Packed decimal (COMP-3): two digits a byte, the sign in the last nibble.
    Packed { signed: bool },
    /// `PIC A`: letters and spaces.
    Alphabetic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `CUST-ID`, `ITEM-QTY(3)`, or `AMOUNT OF BILLING(2)` when the name
    /// alone is ambiguous.
    pub name: String,
    pub offset: usize,
    pub len: usize,
    pub check: Check,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The record's length in bytes.
    pub length: usize,
    /// The fields to check, in the order of their offsets in the copybook.
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    Display,
    Binary,
    Packed,
    Float4,
    Float8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SignClause {
    leading: bool,
    separate: bool,
}

/// One data description entry.
#[derive(Debug, Clone, Default)]
struct Entry {
    line: usize,
    level: u8,
    /// None for FILLER (or an entry without a name, which is one).
    name: Option<String>,
    picture: Option<Picture>,
    usage: Option<Usage>,
    sign: Option<SignClause>,
    occurs: Option<usize>,
    redefines: Option<String>,
    sync: bool,
}

impl Entry {
    fn shown(&self) -> String {
        format!(
            "{:02} {}",
            self.level,
            self.name.as_deref().unwrap_or("FILLER")
        )
    }
}

/// An entry in the hierarchy, with what measuring it found.
#[derive(Debug, Default)]
struct Node {
    entry: Entry,
    parent: usize,
    children: Vec<usize>,
    /// Bytes of one occurrence.
    size: usize,
    /// From the start of one occurrence of the parent.
    offset: usize,
    /// It REDEFINES another item: its bytes are checked as the first
    /// definition says, not as this one does.
    redefining: bool,
    check: Option<Check>,
    /// It is, or holds, a field to check.
    checked: bool,
}

/// Reads a copybook into the layout of its record.
pub fn parse(text: &str, format: Format) -> Result<Layout, CopybookError> {
    let mut nodes = vec![Node::default()];
    let mut stack = vec![0usize];
    for tokens in source::entries(text, format)? {
        let entry = parse_entry(&tokens)?;
        match entry.level {
            // A RENAMES regroups bytes already described, and a condition
            // name describes values; neither adds to the record.
            66 | 88 => continue,
            77 => {
                return Err(CopybookError::at(
                    entry.line,
                    format!(
                        "{} is a level-77 item, which stands alone outside any record",
                        entry.shown()
                    ),
                ));
            }
            _ => {}
        }
        while stack.len() > 1 && nodes[*stack.last().unwrap()].entry.level >= entry.level {
            stack.pop();
        }
        let parent = *stack.last().unwrap();
        let index = nodes.len();
        nodes[parent].children.push(index);
        nodes.push(Node {
            entry,
            parent,
            ..Node::default()
        });
        stack.push(index);
    }

    let record = record_of(&nodes)?;
    if record == 0 {
        measure(&mut nodes, 0, Usage::Display, None)?;
    } else {
        // Every record description is measured, the alternative views too,
        // so that a mistake anywhere in the copybook is reported.
        for child in nodes[0].children.clone() {
            measure(&mut nodes, child, Usage::Display, None)?;
        }
    }
    // Within MAX_RECORD: measuring stops at the first item past it.
    let length = nodes[record].size;

    let mut pending = Vec::new();
    flatten(&nodes, record, 0, &mut Vec::new(), &mut pending)?;
    // A name used by two items is qualified by its group, as COBOL would
    // need it to be (`AMOUNT OF BILLING`).
    let mut items: HashMap<String, HashSet<usize>> = HashMap::new();
    for p in &pending {
        let name = nodes[p.node].entry.name.as_deref().unwrap_or_default();
        items
            .entry(name.to_ascii_uppercase())
            .or_default()
            .insert(p.node);
    }
    let fields = pending
        .into_iter()
        .map(|p| {
            let node = &nodes[p.node];
            let name = node.entry.name.clone().unwrap_or_default();
            let mut shown = name.clone();
            if items[&name.to_ascii_uppercase()].len() > 1
                && let Some(group) = named_ancestor(&nodes, p.node)
            {
                shown = format!("{shown} OF {group}");
            }
            if !p.subscripts.is_empty() {
                let list: Vec<String> = p.subscripts.iter().map(usize::to_string).collect();
                shown = format!("{shown}({})", list.join(","));
            }
            Field {
                name: shown,
                offset: p.offset,
                len: node.size,
                check: node.check.expect("only checked items are pending"),
            }
        })
        .collect();
    Ok(Layout { length, fields })
}

/// The node that is the record: the first 01 level, or, for a copybook of
/// fields without an 01 (it is often COPYed under one), all of them.
fn record_of(nodes: &[Node]) -> Result<usize, CopybookError> {
    let top = &nodes[0].children;
    let Some(&first) = top.first() else {
        return Err(CopybookError::at(0, "it describes no data items"));
    };
    if nodes[first].entry.level != 1 {
        if let Some(&late) = top.iter().find(|&&c| nodes[c].entry.level == 1) {
            let entry = &nodes[late].entry;
            return Err(CopybookError::at(
                entry.line,
                format!(
                    "{} comes after items of level {:02} that belong to no 01 record",
                    entry.shown(),
                    nodes[first].entry.level
                ),
            ));
        }
        return Ok(0);
    }
    if nodes[first].entry.occurs.is_some() {
        return Err(CopybookError::at(
            nodes[first].entry.line,
            "a record (level 01) cannot have OCCURS",
        ));
    }
    // Further 01 levels are other records in the same area. Declared with
    // REDEFINES they are alternative views of this one, checked as the
    // first; otherwise they are another record type, which needs its own
    // layout (and its own partner or validator).
    for &other in &top[1..] {
        let entry = &nodes[other].entry;
        if entry.redefines.is_none() {
            return Err(CopybookError::at(
                entry.line,
                format!(
                    "a second record, {}: one record layout is checked per file (write `{} REDEFINES {}` if it is another view of the same bytes)",
                    entry.shown(),
                    entry.shown(),
                    nodes[first].entry.name.as_deref().unwrap_or("FILLER")
                ),
            ));
        }
    }
    Ok(first)
}

fn named_ancestor(nodes: &[Node], mut node: usize) -> Option<&str> {
    while node != 0 {
        node = nodes[node].parent;
        if let Some(name) = &nodes[node].entry.name {
            return Some(name);
        }
    }
    None
}

/// Sizes an item and everything under it, and places its children. The
/// usage and SIGN clause of a group apply to the items under it that do not
/// say otherwise.
fn measure(
    nodes: &mut [Node],
    index: usize,
    usage: Usage,
    sign: Option<SignClause>,
) -> Result<(), CopybookError> {
    let usage = nodes[index].entry.usage.unwrap_or(usage);
    let sign = nodes[index].entry.sign.or(sign);
    let children = nodes[index].children.clone();
    let line = nodes[index].entry.line;
    let too_long = |line: usize| {
        CopybookError::at(
            line,
            format!("the record would be longer than the {MAX_RECORD} bytes this validator takes"),
        )
    };
    if children.is_empty() {
        let (size, check) = elementary(&nodes[index].entry, usage, sign)?;
        let node = &mut nodes[index];
        node.size = size;
        node.check = check;
        node.checked = check.is_some() && node.entry.name.is_some();
        return Ok(());
    }
    if let Some(picture) = &nodes[index].entry.picture {
        let child = &nodes[children[0]].entry;
        return Err(CopybookError::at(
            line,
            format!(
                "{} has PIC {} but {} on line {} is under it: an item with a picture cannot be a group",
                nodes[index].entry.shown(),
                picture.text,
                child.shown(),
                child.line
            ),
        ));
    }
    let mut cursor = 0usize;
    // The last item not redefining another: the only one a REDEFINES may
    // name (COBOL requires it to be the one just before, at this level).
    let mut base: Option<(Option<String>, usize, usize)> = None;
    let mut checked = false;
    for child in children {
        measure(nodes, child, usage, sign)?;
        let entry = &nodes[child].entry;
        let total = nodes[child]
            .size
            .checked_mul(entry.occurs.unwrap_or(1))
            .filter(|&t| t <= MAX_RECORD)
            .ok_or_else(|| too_long(entry.line))?;
        if let Some(target) = entry.redefines.clone() {
            let Some((Some(name), offset, size)) = &base else {
                return Err(redefines_nothing(entry, &target));
            };
            if !name.eq_ignore_ascii_case(&target) {
                return Err(redefines_nothing(entry, &target));
            }
            if total > *size {
                return Err(CopybookError::at(
                    entry.line,
                    format!(
                        "{} is {total} bytes, longer than the {size} of {target}, which it REDEFINES",
                        entry.shown()
                    ),
                ));
            }
            let offset = *offset;
            nodes[child].offset = offset;
            nodes[child].redefining = true;
        } else {
            let (name, child_line) = (entry.name.clone(), entry.line);
            nodes[child].offset = cursor;
            checked |= nodes[child].checked;
            base = Some((name, cursor, total));
            cursor = cursor
                .checked_add(total)
                .filter(|&c| c <= MAX_RECORD)
                .ok_or_else(|| too_long(child_line))?;
        }
    }
    nodes[index].size = cursor;
    nodes[index].checked = checked;
    Ok(())
}

fn redefines_nothing(entry: &Entry, target: &str) -> CopybookError {
    CopybookError::at(
        entry.line,
        format!(
            "{} REDEFINES {target}, which is not the item just before it at its level",
            entry.shown()
        ),
    )
}

/// The size and check of an item without subordinates.
fn elementary(
    entry: &Entry,
    usage: Usage,
    sign: Option<SignClause>,
) -> Result<(usize, Option<Check>), CopybookError> {
    let fail = |message: String| Err(CopybookError::at(entry.line, message));
    if let Usage::Float4 | Usage::Float8 = usage {
        if entry.picture.is_some() {
            return fail(format!(
                "{}: COMP-1 and COMP-2 items take no PIC clause",
                entry.shown()
            ));
        }
        // Floating point has no invalid bit patterns worth a check here.
        return Ok((if usage == Usage::Float4 { 4 } else { 8 }, None));
    }
    let Some(picture) = &entry.picture else {
        return fail(format!(
            "{} has no PIC clause and no items under it",
            entry.shown()
        ));
    };
    let numeric = picture.class == Class::Numeric;
    match usage {
        Usage::Binary | Usage::Packed if !numeric => fail(format!(
            "{}: {} cannot be {}, which needs a numeric picture (9, S, V, P)",
            entry.shown(),
            picture.text,
            if usage == Usage::Binary {
                "COMP/BINARY"
            } else {
                "COMP-3"
            }
        )),
        Usage::Binary if entry.sync => fail(format!(
            "{}: SYNCHRONIZED binary items get slack bytes that depend on the compiler; this validator does not place them (remove SYNC if the file has none)",
            entry.shown()
        )),
        // IBM's sizes: a halfword, a fullword or a doubleword by digits.
        // The bytes of a binary number are all valid, so only the record
        // length checks them.
        Usage::Binary => match picture.digits {
            1..=4 => Ok((2, None)),
            5..=9 => Ok((4, None)),
            10..=18 => Ok((8, None)),
            digits => fail(format!(
                "{}: a binary item holds at most 18 digits, not {digits}",
                entry.shown()
            )),
        },
        Usage::Packed => Ok((
            picture.digits / 2 + 1,
            Some(Check::Packed {
                signed: picture.signed,
            }),
        )),
        _ => match picture.class {
            Class::Numeric => {
                let sign = match (picture.signed, sign) {
                    (false, _) => Sign::Unsigned,
                    (true, None) => Sign::TrailingOverpunch,
                    (true, Some(SignClause { leading, separate })) => match (leading, separate) {
                        (false, false) => Sign::TrailingOverpunch,
                        (true, false) => Sign::LeadingOverpunch,
                        (false, true) => Sign::TrailingSeparate,
                        (true, true) => Sign::LeadingSeparate,
                    },
                };
                let extra = usize::from(matches!(
                    sign,
                    Sign::TrailingSeparate | Sign::LeadingSeparate
                ));
                Ok((picture.size + extra, Some(Check::Zoned(sign))))
            }
            Class::Alphabetic => Ok((picture.size, Some(Check::Alphabetic))),
            Class::Alphanumeric | Class::Edited | Class::National => Ok((picture.size, None)),
        },
    }
}

/// One field to check, before its name is settled.
struct Pending {
    node: usize,
    offset: usize,
    subscripts: Vec<usize>,
}

/// Lists the checked fields under `index` with their offsets in the
/// record, once for each occurrence.
fn flatten(
    nodes: &[Node],
    index: usize,
    start: usize,
    subscripts: &mut Vec<usize>,
    out: &mut Vec<Pending>,
) -> Result<(), CopybookError> {
    let node = &nodes[index];
    // Subtrees without checked fields are skipped whole, so that a large
    // OCCURS of text costs nothing.
    if node.redefining || !node.checked {
        return Ok(());
    }
    for k in 0..node.entry.occurs.unwrap_or(1) {
        let at = start + node.offset + k * node.size;
        if node.entry.occurs.is_some() {
            subscripts.push(k + 1);
        }
        if node.children.is_empty() {
            if out.len() >= MAX_FIELDS {
                return Err(CopybookError::at(
                    0,
                    format!("more than {MAX_FIELDS} fields to check once the OCCURS are counted"),
                ));
            }
            out.push(Pending {
                node: index,
                offset: at,
                subscripts: subscripts.clone(),
            });
        } else {
            for &child in &node.children {
                flatten(nodes, child, at, subscripts, out)?;
            }
        }
        if node.entry.occurs.is_some() {
            subscripts.pop();
        }
    }
    Ok(())
}

fn usage_of(word: &str) -> Option<Usage> {
    Some(match word {
        "DISPLAY" | "DISPLAY-1" | "NATIONAL" => Usage::Display,
        "COMP" | "COMPUTATIONAL" | "COMP-4" | "COMPUTATIONAL-4" | "BINARY" | "COMP-5"
        | "COMPUTATIONAL-5" => Usage::Binary,
        "COMP-3" | "COMPUTATIONAL-3" | "PACKED-DECIMAL" => Usage::Packed,
        "COMP-1" | "COMPUTATIONAL-1" => Usage::Float4,
        "COMP-2" | "COMPUTATIONAL-2" => Usage::Float8,
        _ => return None,
    })
}

/// The words that start a clause: a name never is one, and the names after
/// KEY IS and INDEXED BY, and the literals of VALUE, run until one.
fn starts_clause(word: &str) -> bool {
    matches!(
        word,
        "PIC"
            | "PICTURE"
            | "USAGE"
            | "REDEFINES"
            | "OCCURS"
            | "VALUE"
            | "VALUES"
            | "SIGN"
            | "LEADING"
            | "TRAILING"
            | "JUST"
            | "JUSTIFIED"
            | "BLANK"
            | "SYNC"
            | "SYNCHRONIZED"
            | "EXTERNAL"
            | "GLOBAL"
            | "INDEXED"
            | "ASCENDING"
            | "DESCENDING"
            | "DEPENDING"
            | "RENAMES"
    ) || usage_of(word).is_some()
}

/// Reads one entry's level, name and clauses.
fn parse_entry(tokens: &[Token]) -> Result<Entry, CopybookError> {
    let first = &tokens[0];
    let level = Some(first.text.as_str())
        .filter(|t| (1..=2).contains(&t.len()) && t.chars().all(|c| c.is_ascii_digit()))
        .and_then(|t| t.parse::<u8>().ok())
        .filter(|l| matches!(l, 1..=49 | 66 | 77 | 88));
    let Some(level) = level else {
        return Err(CopybookError::at(
            first.line,
            format!(
                "`{}` is not a level number (01-49, 66, 77 or 88)",
                first.text
            ),
        ));
    };
    let mut entry = Entry {
        line: first.line,
        level,
        ..Entry::default()
    };
    if matches!(level, 66 | 88) {
        return Ok(entry);
    }
    let mut t = Cursor { tokens, at: 1 };
    if let Some(word) = t.peek()
        && !starts_clause(&word.upper())
    {
        let word = t.next().unwrap();
        if word.upper() != "FILLER" {
            if word.literal || !is_name(&word.text) {
                return Err(CopybookError::at(
                    word.line,
                    format!("`{}` is not a data name", word.text),
                ));
            }
            entry.name = Some(word.text.clone());
        }
    }
    while let Some(word) = t.next() {
        let upper = word.upper();
        match upper.as_str() {
            "PIC" | "PICTURE" => {
                t.skip("IS");
                let Some(text) = t.next() else {
                    return Err(CopybookError::at(word.line, "PIC without a picture"));
                };
                let picture = picture::parse(&text.text).map_err(|why| {
                    CopybookError::at(
                        text.line,
                        format!("PIC {} is not a picture: {why}", text.text),
                    )
                })?;
                entry.picture = Some(picture);
            }
            "USAGE" => {
                t.skip("IS");
                let usage = t.next().and_then(|u| usage_of(&u.upper()));
                let Some(usage) = usage else {
                    let shown = t.tokens.get(t.at - 1).map_or("", |u| u.text.as_str());
                    return Err(CopybookError::at(
                        word.line,
                        format!(
                            "USAGE {shown} is not supported (DISPLAY, COMP, BINARY, COMP-1 to COMP-5, PACKED-DECIMAL, NATIONAL are)"
                        ),
                    ));
                };
                entry.usage = Some(usage);
            }
            "REDEFINES" => {
                let Some(target) = t.next().filter(|n| is_name(&n.text)) else {
                    return Err(CopybookError::at(word.line, "REDEFINES without a name"));
                };
                entry.redefines = Some(target.text.clone());
            }
            "OCCURS" => entry.occurs = Some(occurs(&mut t, word.line)?),
            "SIGN" | "LEADING" | "TRAILING" => {
                let position = if upper == "SIGN" {
                    t.skip("IS");
                    t.next().map(Token::upper).unwrap_or_default()
                } else {
                    upper
                };
                if position != "LEADING" && position != "TRAILING" {
                    return Err(CopybookError::at(
                        word.line,
                        "SIGN needs LEADING or TRAILING",
                    ));
                }
                let separate = t.skip("SEPARATE");
                if separate {
                    t.skip("CHARACTER");
                }
                entry.sign = Some(SignClause {
                    leading: position == "LEADING",
                    separate,
                });
            }
            // VALUE does not change the layout; its literals (and THRU,
            // ALL, figurative constants) run to the next clause.
            "VALUE" | "VALUES" => {
                while t
                    .peek()
                    .is_some_and(|n| n.literal || !starts_clause(&n.upper()))
                {
                    t.next();
                }
            }
            "JUST" | "JUSTIFIED" => {
                t.skip("RIGHT");
            }
            "BLANK" => {
                t.skip("WHEN");
                if !(t.skip("ZERO") || t.skip("ZEROS") || t.skip("ZEROES")) {
                    return Err(CopybookError::at(word.line, "BLANK needs WHEN ZERO"));
                }
            }
            "SYNC" | "SYNCHRONIZED" => {
                entry.sync = true;
                let _ = t.skip("LEFT") || t.skip("RIGHT");
            }
            "EXTERNAL" | "GLOBAL" => {}
            _ => match usage_of(&upper) {
                Some(usage) => entry.usage = Some(usage),
                None => return Err(not_understood(word, first.line)),
            },
        }
    }
    Ok(entry)
}

/// The count of an OCCURS clause, past its KEY and INDEXED BY phrases.
fn occurs(t: &mut Cursor, line: usize) -> Result<usize, CopybookError> {
    let count = t
        .next()
        .filter(|n| n.text.chars().all(|c| c.is_ascii_digit()))
        .and_then(|n| n.text.parse::<usize>().ok())
        .filter(|&n| n > 0);
    let Some(count) = count else {
        return Err(CopybookError::at(line, "OCCURS needs a number of times"));
    };
    let varying = t.skip("TO");
    if varying {
        t.next();
    }
    t.skip("TIMES");
    if varying || t.peek().is_some_and(|n| n.upper() == "DEPENDING") {
        return Err(CopybookError::at(
            line,
            "OCCURS DEPENDING ON (a count that varies from record to record) is not supported: give the largest count without DEPENDING if the records are padded to it",
        ));
    }
    while let Some(next) = t.peek() {
        match next.upper().as_str() {
            "ASCENDING" | "DESCENDING" => {
                t.next();
                t.skip("KEY");
                t.skip("IS");
            }
            "INDEXED" => {
                t.next();
                t.skip("BY");
            }
            _ => break,
        }
        while t
            .peek()
            .is_some_and(|n| !n.literal && !starts_clause(&n.upper()))
        {
            t.next();
        }
    }
    Ok(count)
}

fn not_understood(word: &Token, entry_line: usize) -> CopybookError {
    let mut message = format!("`{}` is not understood here", word.text);
    if word.line != entry_line && word.text.chars().all(|c| c.is_ascii_digit()) {
        message.push_str(" (is the period missing at the end of the entry before it?)");
    }
    CopybookError::at(word.line, message)
}

/// A COBOL user-defined word: letters, digits, hyphens and underscores,
/// with a letter among them. Colons are allowed too, for the `:TAG:`
/// prefixes that COPY REPLACING fills in, which show up as written.
fn is_name(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
        && text.chars().any(|c| c.is_ascii_alphabetic())
}

struct Cursor<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        token
    }

    /// Takes the next token if it is this optional word.
    fn skip(&mut self, word: &str) -> bool {
        let found = self.peek().is_some_and(|t| !t.literal && t.upper() == word);
        if found {
            self.at += 1;
        }
        found
    }
}

#[cfg(test)]
#[path = "copybook_tests.rs"]
mod tests;
