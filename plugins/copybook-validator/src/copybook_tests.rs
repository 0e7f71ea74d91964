//! The copybook reader's tests: layouts from real-looking copybooks, and
//! the reason given for each kind of mistake.

use super::*;

fn layout(text: &str) -> Layout {
    parse(text, Format::Auto).unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> String {
    parse(text, Format::Auto)
        .expect_err("the copybook is wrong")
        .to_string()
}

/// Name, offset, length and check of each checked field.
fn fields(layout: &Layout) -> Vec<(&str, usize, usize, Check)> {
    layout
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.offset, f.len, f.check))
        .collect()
}

#[test]
fn the_customer_fixture() {
    let layout = layout(include_str!("../fixtures/customer.cpy"));
    assert_eq!(layout.length, 80);
    let zoned = Check::Zoned(Sign::Unsigned);
    assert_eq!(
        fields(&layout),
        [
            ("CUST-ID", 0, 6, zoned),
            ("CUST-ZIP", 42, 5, zoned),
            ("BALANCE", 47, 4, Check::Packed { signed: true }),
            // LAST-ORDER-YMD REDEFINES it: its parts are not checked.
            ("LAST-ORDER-DATE", 51, 8, zoned),
            ("ITEM-QTY(1)", 59, 5, zoned),
            ("ITEM-QTY(2)", 64, 5, zoned),
            ("ITEM-QTY(3)", 69, 5, zoned),
            ("CREDIT-LIMIT", 74, 5, Check::Zoned(Sign::TrailingOverpunch)),
        ]
    );
}

#[test]
fn usages_and_their_sizes() {
    let layout = layout(
        "01 R.
           05 H   PIC S9(4)  COMP.
           05 F   PIC 9(9)   BINARY.
           05 D   PIC S9(18) COMP-5.
           05 P   PIC S9(4)  PACKED-DECIMAL.
           05 Q   PIC 9(3)   USAGE IS COMPUTATIONAL-3.
           05 E   COMP-1.
           05 L   USAGE COMP-2.
           05 N   PIC N(3).
           05 Z   PIC ZZ,ZZ9.99-.
           05 A   PIC A(2).
           05 T   PIC S9(3) SIGN IS LEADING SEPARATE CHARACTER.
           05 U   PIC S9(3) TRAILING SEPARATE.
           05 V   PIC S9(3) SIGN LEADING.
           05 G   COMP-3.
              10 G1 PIC S9(3).
              10 G2 PIC 9(2) DISPLAY.
        ",
    );
    // 2 + 4 + 8 + 3 + 2 + 4 + 8 + 6 + 10 + 2 + 4 + 4 + 3 + 2 + 2
    assert_eq!(layout.length, 64);
    assert_eq!(
        fields(&layout),
        [
            ("P", 14, 3, Check::Packed { signed: true }),
            ("Q", 17, 2, Check::Packed { signed: false }),
            ("A", 47, 2, Check::Alphabetic),
            ("T", 49, 4, Check::Zoned(Sign::LeadingSeparate)),
            ("U", 53, 4, Check::Zoned(Sign::TrailingSeparate)),
            ("V", 57, 3, Check::Zoned(Sign::LeadingOverpunch)),
            // The group's usage applies to the items under it, unless
            // they say otherwise.
            ("G1", 60, 2, Check::Packed { signed: true }),
            ("G2", 62, 2, Check::Zoned(Sign::Unsigned)),
        ]
    );
}

#[test]
fn nested_occurs_get_one_subscript_per_level() {
    let layout = layout(
        "01 ORDER-REC.
           05 ORDER-NO PIC 9(4).
           05 LINE-ITEM OCCURS 2 TIMES INDEXED BY LX.
              10 SKU      PIC X(3).
              10 QTY      PIC 9(2) OCCURS 3 ASCENDING KEY IS SKU INDEXED BY QX.
           05 TAIL OCCURS 1000.
              10 FILLER PIC X(5).
        ",
    );
    assert_eq!(layout.length, 4 + 2 * (3 + 6) + 5000);
    let names: Vec<(&str, usize)> = layout
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.offset))
        .collect();
    assert_eq!(
        names,
        [
            ("ORDER-NO", 0),
            ("QTY(1,1)", 7),
            ("QTY(1,2)", 9),
            ("QTY(1,3)", 11),
            ("QTY(2,1)", 16),
            ("QTY(2,2)", 18),
            ("QTY(2,3)", 20),
        ]
    );
}

#[test]
fn ambiguous_names_are_qualified_and_fillers_skipped() {
    let layout = layout(
        "       05 BILLING.
               10 AMOUNT PIC 9(3).
           05 SHIPPING.
               10 AMOUNT PIC 9(3).
               10 FILLER PIC 9(2).
               10 PIC 9(2).
               10 COUNT-X PIC 9.
        ",
    );
    assert_eq!(layout.length, 11);
    let names: Vec<&str> = layout.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["AMOUNT OF BILLING", "AMOUNT OF SHIPPING", "COUNT-X"]
    );
}

#[test]
fn redefines_shares_the_bytes_of_the_first_definition() {
    let layout = layout(
        "01 R.
           05 KIND PIC X.
           05 BODY PIC X(10).
           05 NUMERIC-BODY REDEFINES BODY PIC 9(10).
           05 PARTS REDEFINES BODY.
              10 P1 PIC 9(4).
              10 P2 PIC X(6).
           05 AFTER PIC 9.
        01 R2 REDEFINES R PIC X(12).
        ",
    );
    assert_eq!(layout.length, 12);
    assert_eq!(
        fields(&layout),
        [("AFTER", 11, 1, Check::Zoned(Sign::Unsigned))]
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X(2).\n 05 B REDEFINES A PIC X(3).\n"),
        "copybook line 3: 05 B is 3 bytes, longer than the 2 of A, which it REDEFINES"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X(2).\n 05 B PIC X.\n 05 C REDEFINES A PIC X.\n"),
        "copybook line 4: 05 C REDEFINES A, which is not the item just before it at its level"
    );
}

#[test]
fn a_copybook_without_01_is_one_record() {
    let layout = layout("05 A PIC 9(2).\n05 B PIC X(3) OCCURS 2.\n05 C REDEFINES B PIC X.\n");
    assert_eq!(layout.length, 8);
    assert_eq!(
        error("05 A PIC 9.\n01 B.\n 05 C PIC X.\n"),
        "copybook line 2: 01 B comes after items of level 05 that belong to no 01 record"
    );
}

#[test]
fn condition_names_renames_and_values_are_skipped() {
    let layout = layout(
        "01 R.
           05 STATUS-CODE PIC X VALUE SPACE.
              88 ACTIVE VALUES ARE 'A' 'B' THRU 'D'.
              88 CLOSED VALUE 'Z'.
           05 AMOUNT PIC S9(5)V99 VALUE -1.5 COMP-3.
           05 NAME PIC X(10) JUST RIGHT VALUE ALL '*'.
           05 PRICE PIC 9(3)V99 BLANK WHEN ZERO.
        66 AMOUNT-AND-NAME RENAMES AMOUNT THRU NAME.
        ",
    );
    assert_eq!(layout.length, 1 + 4 + 10 + 5);
    assert_eq!(layout.fields.len(), 2);
}

#[test]
fn mistakes_name_their_line() {
    assert_eq!(
        error("01 R.\n 05 A PIC X.\n 05 B PIC S9(7)V9(.\n"),
        "copybook line 3: PIC S9(7)V9( is not a picture: a repeat count is not closed"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X(3)\n 05 B PIC 9.\n"),
        "copybook line 3: `05` is not understood here (is the period missing at the end of the entry before it?)"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC 9 OCCURS 1 TO 5 TIMES DEPENDING ON N.\n"),
        "copybook line 2: OCCURS DEPENDING ON (a count that varies from record to record) is not supported: give the largest count without DEPENDING if the records are padded to it"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC 9 OCCURS 5 DEPENDING ON N.\n"),
        "copybook line 2: OCCURS DEPENDING ON (a count that varies from record to record) is not supported: give the largest count without DEPENDING if the records are padded to it"
    );
    assert_eq!(
        error("01 R.\n 05 A.\n"),
        "copybook line 2: 05 A has no PIC clause and no items under it"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X(4).\n   10 B PIC X(4).\n"),
        "copybook line 2: 05 A has PIC X(4) but 10 B on line 3 is under it: an item with a picture cannot be a group"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X COMP-3.\n"),
        "copybook line 2: 05 A: X cannot be COMP-3, which needs a numeric picture (9, S, V, P)"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC 9(19) COMP.\n"),
        "copybook line 2: 05 A: a binary item holds at most 18 digits, not 19"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC S9(4) COMP SYNC.\n"),
        "copybook line 2: 05 A: SYNCHRONIZED binary items get slack bytes that depend on the compiler; this validator does not place them (remove SYNC if the file has none)"
    );
    assert_eq!(
        error("01 R.\n 05 A USAGE POINTER.\n"),
        "copybook line 2: USAGE POINTER is not supported (DISPLAY, COMP, BINARY, COMP-1 to COMP-5, PACKED-DECIMAL, NATIONAL are)"
    );
    assert_eq!(
        error("01 R.\n 50 A PIC X.\n"),
        "copybook line 2: `50` is not a level number (01-49, 66, 77 or 88)"
    );
    assert_eq!(
        error("01 R.\n 05 A-B* PIC X.\n"),
        "copybook line 2: `A-B*` is not a data name"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X DATE FORMAT YYXXXX.\n"),
        "copybook line 2: `DATE` is not understood here"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X.\n77 COUNTER PIC 9.\n"),
        "copybook line 3: 77 COUNTER is a level-77 item, which stands alone outside any record"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X.\n01 TRAILER.\n 05 B PIC X.\n"),
        "copybook line 3: a second record, 01 TRAILER: one record layout is checked per file (write `01 TRAILER REDEFINES R` if it is another view of the same bytes)"
    );
    assert_eq!(
        error("01 R OCCURS 2.\n 05 A PIC X.\n"),
        "copybook line 1: a record (level 01) cannot have OCCURS"
    );
    assert_eq!(
        error("      * only a comment\n"),
        "copybook: it describes no data items"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC X(9999) OCCURS 9999.\n"),
        "copybook line 2: the record would be longer than the 16777216 bytes this validator takes"
    );
    assert_eq!(
        error("01 R.\n 05 A PIC 9 OCCURS 200000.\n"),
        "copybook: more than 100000 fields to check once the OCCURS are counted"
    );
}

#[test]
fn fixed_format_with_tags_in_columns_73_to_80() {
    let text: String = [
        ("000100", "01  REC.", "REC00001"),
        (
            "000200",
            "    05  AMOUNT    PIC S9(7)V99 COMP-3.",
            "REC00002",
        ),
        ("000300", "    05  CODE-X    PIC X(4).", "REC00003"),
    ]
    .iter()
    .map(|(sequence, text, tag)| format!("{sequence} {text:<65}{tag}\n"))
    .collect();
    let layout = layout(&text);
    assert_eq!(layout.length, 9);
    // The same text read as free format fails on the sequence numbers,
    // which is what the `copybook-format` parameter is for.
    assert!(parse(&text, Format::Free).is_err());
}
