use super::Decimal;
use super::*;
use Builtin::*;

fn ok(t: Builtin, v: &str) -> bool {
    t.check(v).is_ok()
}

#[test]
fn integers_have_their_ranges() {
    assert!(ok(Int, "-2147483648") && ok(Int, "+2147483647") && ok(Int, "007"));
    assert!(!ok(Int, "2147483648") && !ok(Int, "1.0") && !ok(Int, "") && !ok(Int, "1e3"));
    assert!(ok(PositiveInteger, "1") && !ok(PositiveInteger, "0") && !ok(PositiveInteger, "-0"));
    assert!(ok(NonNegativeInteger, "-0") && !ok(NonNegativeInteger, "-1"));
    assert!(ok(Integer, "123456789012345678901234567890123456789012345"));
    assert!(!ok(
        UnsignedLong,
        "123456789012345678901234567890123456789012345"
    ));
    assert!(ok(UnsignedByte, "255") && !ok(UnsignedByte, "256") && !ok(Byte, "128"));
    assert!(ok(NegativeInteger, "-1") && !ok(NegativeInteger, "0"));
    assert_eq!(
        PositiveInteger.check("abc").unwrap_err(),
        "'abc' is not a valid xs:positiveInteger"
    );
    assert_eq!(
        Int.check("2147483648").unwrap_err(),
        "'2147483648' is not a valid xs:int: it is outside -2147483648..2147483647"
    );
}

#[test]
fn decimals_compare_exactly() {
    let d = |s| Decimal::parse(s).unwrap();
    assert_eq!(d("01.50"), d("1.5"));
    assert_eq!(d("-0.0"), d("0"));
    assert!(d("-2") < d("-1.5") && d("-1.5") < d("0") && d("0.5") < d("1"));
    assert!(d("999.99") < d("1000") && d("1000.01") > d("1000"));
    assert_eq!(d("0012.3400").total_digits(), 4);
    assert_eq!(d("0.0012").total_digits(), 2);
    assert_eq!(d("12.340").fraction_digits(), 2);
    for bad in ["", ".", "1.2.3", "1e3", "+-1", "1,5", " 1"] {
        assert!(Decimal::parse(bad).is_none(), "{bad}");
    }
    assert!(ok(Builtin::Decimal, ".5") && ok(Builtin::Decimal, "5."));
}

#[test]
fn floats_take_xsd_forms_only() {
    for good in ["1", "-1.5E3", "INF", "-INF", "NaN", ".5e-2", "1e+2"] {
        assert!(ok(Double, good), "{good}");
    }
    for bad in ["inf", "nan", "infinity", "1e", "e3", "1.2.3", "+INF"] {
        assert!(!ok(Float, bad), "{bad}");
    }
}

#[test]
fn dates_and_times() {
    for good in [
        "2024-02-29",
        "2023-12-31Z",
        "-0044-03-15",
        "12024-01-01+14:00",
    ] {
        assert!(ok(Date, good), "{good}");
    }
    for bad in [
        "2023-02-29",
        "2023-2-01",
        "0000-01-01",
        "2023-13-01",
        "2023-01-01T00:00:00",
        "2023-01-01+15:00",
        "02023-01-01",
    ] {
        assert!(!ok(Date, bad), "{bad}");
    }
    for good in [
        "2024-01-31T23:59:59",
        "2024-01-31T24:00:00",
        "2024-01-31T10:00:00.125-05:00",
    ] {
        assert!(ok(DateTime, good), "{good}");
    }
    for bad in [
        "2024-01-31",
        "2024-01-31T25:00:00",
        "2024-01-31T10:00",
        "2024-01-31T10:00:00.",
        "2024-01-31 10:00:00",
    ] {
        assert!(!ok(DateTime, bad), "{bad}");
    }
    assert!(ok(Time, "13:20:00Z") && !ok(Time, "13:60:00"));
    assert!(ok(GYear, "2024") && ok(GYearMonth, "2024-02") && !ok(GYearMonth, "2024-13"));
    assert!(ok(GMonthDay, "--02-29") && !ok(GMonthDay, "--02-30"));
    assert!(ok(GDay, "---31") && ok(GMonth, "--12") && !ok(GMonth, "--13"));
    let t = |s| DateTime.parse_ordered(s).unwrap();
    assert_eq!(
        t("2024-01-01T10:00:00+01:00").compare(&t("2024-01-01T09:00:00Z")),
        Some(Ordering::Equal)
    );
    assert_eq!(
        t("2024-01-01T09:00:00.5").compare(&t("2024-01-01T09:00:00.25")),
        Some(Ordering::Greater)
    );
    let d = |s| Date.parse_ordered(s).unwrap();
    assert_eq!(
        d("2024-03-01").compare(&d("2024-02-29")),
        Some(Ordering::Greater)
    );
    assert!(
        Date.check("31/01/2024")
            .unwrap_err()
            .ends_with("(expected YYYY-MM-DD)")
    );
}

#[test]
fn other_lexical_spaces() {
    assert!(ok(Boolean, "true") && ok(Boolean, "0") && !ok(Boolean, "yes") && !ok(Boolean, "TRUE"));
    assert!(ok(Duration, "P1Y2M3DT4H5M6.5S") && ok(Duration, "-PT1M") && ok(Duration, "P0D"));
    for bad in ["P", "PT", "P1H", "1D", "P1.5D", "P1M1Y", "PT1.5M"] {
        assert!(!ok(Duration, bad), "{bad}");
    }
    assert!(ok(HexBinary, "0fA1") && !ok(HexBinary, "0fA") && !ok(HexBinary, "zz"));
    assert!(
        ok(Base64Binary, "aGVsbG8=") && !ok(Base64Binary, "aGVsbG8") && !ok(Base64Binary, "a=GV")
    );
    assert_eq!(Base64Binary.length_of("aGVsbG8="), Some(5));
    assert_eq!(HexBinary.length_of("0fA1"), Some(2));
    assert!(ok(Language, "en-GB") && !ok(Language, "en_GB") && !ok(Language, "toolonglang"));
    assert!(ok(NcName, "a-b.c") && !ok(NcName, "a:b") && ok(Name, "a:b") && !ok(NcName, "1a"));
    assert!(ok(QName, "x:y") && !ok(QName, "x:y:z") && ok(NmTokens, "1 2 a"));
    assert!(ok(Builtin::String, "") && ok(Token, "anything at all"));
}

#[test]
fn whitespace_rules() {
    assert_eq!(apply_whitespace(" a \n b ", WhiteSpace::Collapse), "a b");
    assert_eq!(apply_whitespace("a\tb", WhiteSpace::Replace), "a b");
    assert_eq!(apply_whitespace(" a ", WhiteSpace::Preserve), " a ");
    assert!(matches!(
        apply_whitespace("5", WhiteSpace::Collapse),
        Cow::Borrowed(_)
    ));
    assert_eq!(shorten(&"x".repeat(100)).len(), 63);
}
