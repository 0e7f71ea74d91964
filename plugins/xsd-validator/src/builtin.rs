//! XSD's built-in simple types: their names, their whitespace rule, their
//! lexical space, and a value that range facets can compare.
//!
//! Values are checked after whitespace processing, as the XSD
//! specification prescribes, so `<qty> 5 </qty>` is a valid integer.

use std::borrow::Cow;
use std::cmp::Ordering;

/// The built-in types this validator knows, by their local name in the
/// XML Schema namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    AnySimpleType,
    String,
    NormalizedString,
    Token,
    Language,
    Name,
    NcName,
    Id,
    IdRef,
    IdRefs,
    Entity,
    Entities,
    NmToken,
    NmTokens,
    AnyUri,
    QName,
    Notation,
    Boolean,
    Decimal,
    Integer,
    NonPositiveInteger,
    NegativeInteger,
    Long,
    Int,
    Short,
    Byte,
    NonNegativeInteger,
    UnsignedLong,
    UnsignedInt,
    UnsignedShort,
    UnsignedByte,
    PositiveInteger,
    Float,
    Double,
    Duration,
    DateTime,
    Time,
    Date,
    GYearMonth,
    GYear,
    GMonthDay,
    GDay,
    GMonth,
    HexBinary,
    Base64Binary,
}

/// How a type treats whitespace before its value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WhiteSpace {
    Preserve,
    Replace,
    Collapse,
}

/// A value that the range facets (`minInclusive` and the others) order.
/// Values borrow from the text they were read from: checking a value
/// allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Decimals and every integer type, exactly.
    Decimal(Decimal<'a>),
    Float(f64),
    /// The date and time types, as a number of seconds (or months, or days)
    /// and the fractional digits of the second.
    Moment(i128, &'a str),
}

impl Value<'_> {
    /// How two values compare; `None` when they do not (NaN, or values of
    /// different kinds).
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Decimal(a), Value::Decimal(b)) => Some(a.cmp(b)),
            (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
            (Value::Moment(a, fa), Value::Moment(b, fb)) => {
                Some(a.cmp(b).then_with(|| fraction_cmp(fa, fb)))
            }
            _ => None,
        }
    }
}

/// Compares two runs of fraction digits as if padded with zeros.
fn fraction_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    (0..a.len().max(b.len()))
        .map(|i| a.get(i).unwrap_or(&b'0').cmp(b.get(i).unwrap_or(&b'0')))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// An exact decimal: a sign, the integer digits without leading zeros and
/// the fraction digits without trailing zeros, so that equal values have
/// equal representations (`1.50` and `01.5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
}

impl<'a> Decimal<'a> {
    /// Parses XSD's decimal lexical form: an optional sign, digits, an
    /// optional point and digits, no exponent.
    pub fn parse(s: &'a str) -> Option<Decimal<'a>> {
        let (negative, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let zero = int.is_empty() && frac.is_empty();
        Some(Decimal {
            negative: negative && !zero,
            int,
            frac,
        })
    }

    /// The number of significant digits, as `totalDigits` counts them.
    pub fn total_digits(&self) -> usize {
        if self.int.is_empty() {
            self.frac.trim_start_matches('0').len().max(1)
        } else {
            self.int.len() + self.frac.len()
        }
    }

    pub fn fraction_digits(&self) -> usize {
        self.frac.len()
    }

    fn is_integer(&self) -> bool {
        self.frac.is_empty()
    }

    fn magnitude_cmp(&self, other: &Self) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(other.int))
            .then_with(|| fraction_cmp(self.frac, other.frac))
    }
}

impl Ord for Decimal<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.magnitude_cmp(other),
            (true, true) => other.magnitude_cmp(self),
        }
    }
}

impl PartialOrd for Decimal<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Builtin {
    /// The built-in type of this local name in the XML Schema namespace.
    pub fn from_name(name: &str) -> Option<Builtin> {
        use Builtin::*;
        Some(match name {
            "anySimpleType" => AnySimpleType,
            "string" => String,
            "normalizedString" => NormalizedString,
            "token" => Token,
            "language" => Language,
            "Name" => Name,
            "NCName" => NcName,
            "ID" => Id,
            "IDREF" => IdRef,
            "IDREFS" => IdRefs,
            "ENTITY" => Entity,
            "ENTITIES" => Entities,
            "NMTOKEN" => NmToken,
            "NMTOKENS" => NmTokens,
            "anyURI" => AnyUri,
            "QName" => QName,
            "NOTATION" => Notation,
            "boolean" => Boolean,
            "decimal" => Decimal,
            "integer" => Integer,
            "nonPositiveInteger" => NonPositiveInteger,
            "negativeInteger" => NegativeInteger,
            "long" => Long,
            "int" => Int,
            "short" => Short,
            "byte" => Byte,
            "nonNegativeInteger" => NonNegativeInteger,
            "unsignedLong" => UnsignedLong,
            "unsignedInt" => UnsignedInt,
            "unsignedShort" => UnsignedShort,
            "unsignedByte" => UnsignedByte,
            "positiveInteger" => PositiveInteger,
            "float" => Float,
            "double" => Double,
            "duration" => Duration,
            "dateTime" => DateTime,
            "time" => Time,
            "date" => Date,
            "gYearMonth" => GYearMonth,
            "gYear" => GYear,
            "gMonthDay" => GMonthDay,
            "gDay" => GDay,
            "gMonth" => GMonth,
            "hexBinary" => HexBinary,
            "base64Binary" => Base64Binary,
            _ => return None,
        })
    }

    /// The name messages show, with the conventional `xs:` prefix.
    pub fn name(self) -> &'static str {
        use Builtin::*;
        match self {
            AnySimpleType => "xs:anySimpleType",
            String => "xs:string",
            NormalizedString => "xs:normalizedString",
            Token => "xs:token",
            Language => "xs:language",
            Name => "xs:Name",
            NcName => "xs:NCName",
            Id => "xs:ID",
            IdRef => "xs:IDREF",
            IdRefs => "xs:IDREFS",
            Entity => "xs:ENTITY",
            Entities => "xs:ENTITIES",
            NmToken => "xs:NMTOKEN",
            NmTokens => "xs:NMTOKENS",
            AnyUri => "xs:anyURI",
            QName => "xs:QName",
            Notation => "xs:NOTATION",
            Boolean => "xs:boolean",
            Decimal => "xs:decimal",
            Integer => "xs:integer",
            NonPositiveInteger => "xs:nonPositiveInteger",
            NegativeInteger => "xs:negativeInteger",
            Long => "xs:long",
            Int => "xs:int",
            Short => "xs:short",
            Byte => "xs:byte",
            NonNegativeInteger => "xs:nonNegativeInteger",
            UnsignedLong => "xs:unsignedLong",
            UnsignedInt => "xs:unsignedInt",
            UnsignedShort => "xs:unsignedShort",
            UnsignedByte => "xs:unsignedByte",
            PositiveInteger => "xs:positiveInteger",
            Float => "xs:float",
            Double => "xs:double",
            Duration => "xs:duration",
            DateTime => "xs:dateTime",
            Time => "xs:time",
            Date => "xs:date",
            GYearMonth => "xs:gYearMonth",
            GYear => "xs:gYear",
            GMonthDay => "xs:gMonthDay",
            GDay => "xs:gDay",
            GMonth => "xs:gMonth",
            HexBinary => "xs:hexBinary",
            Base64Binary => "xs:base64Binary",
        }
    }

    pub fn whitespace(self) -> WhiteSpace {
        match self {
            Builtin::String | Builtin::AnySimpleType => WhiteSpace::Preserve,
            Builtin::NormalizedString => WhiteSpace::Replace,
            _ => WhiteSpace::Collapse,
        }
    }

    /// Whether the length facets count characters (strings), octets
    /// (binary) or, for the list-like built-ins, items.
    pub fn length_of(self, value: &str) -> Option<usize> {
        match self {
            Builtin::HexBinary => Some(value.len() / 2),
            Builtin::Base64Binary => {
                let chars = value.bytes().filter(|b| *b != b' ').count();
                let padding = value.bytes().rev().filter(|b| *b == b'=').take(2).count();
                Some(chars / 4 * 3 - padding)
            }
            Builtin::IdRefs | Builtin::Entities | Builtin::NmTokens => {
                Some(value.split(' ').count())
            }
            b if b.ordered() => None,
            Builtin::Boolean => None,
            _ => Some(value.chars().count()),
        }
    }

    /// Whether values of this type have an order that range facets use.
    pub fn ordered(self) -> bool {
        self.is_numeric() || self.is_temporal()
    }

    fn is_numeric(self) -> bool {
        use Builtin::*;
        matches!(
            self,
            Decimal
                | Float
                | Double
                | Integer
                | NonPositiveInteger
                | NegativeInteger
                | Long
                | Int
                | Short
                | Byte
                | NonNegativeInteger
                | UnsignedLong
                | UnsignedInt
                | UnsignedShort
                | UnsignedByte
                | PositiveInteger
        )
    }

    fn is_temporal(self) -> bool {
        use Builtin::*;
        matches!(
            self,
            DateTime | Time | Date | GYearMonth | GYear | GMonthDay | GDay | GMonth
        )
    }

    /// The bounds of the integer types (`None` for no bound that side);
    /// `None` for a type that is not an integer type.
    fn integer_range(self) -> Option<(Option<i128>, Option<i128>)> {
        use Builtin::*;
        Some(match self {
            Integer => (None, None),
            NonPositiveInteger => (None, Some(0)),
            NegativeInteger => (None, Some(-1)),
            Long => (Some(i64::MIN.into()), Some(i64::MAX.into())),
            Int => (Some(i32::MIN.into()), Some(i32::MAX.into())),
            Short => (Some(i16::MIN.into()), Some(i16::MAX.into())),
            Byte => (Some(i8::MIN.into()), Some(i8::MAX.into())),
            NonNegativeInteger => (Some(0), None),
            UnsignedLong => (Some(0), Some(u64::MAX.into())),
            UnsignedInt => (Some(0), Some(u32::MAX.into())),
            UnsignedShort => (Some(0), Some(u16::MAX.into())),
            UnsignedByte => (Some(0), Some(u8::MAX.into())),
            PositiveInteger => (Some(1), None),
            _ => return None,
        })
    }

    /// A hint of the expected form, for the types whose form is not
    /// obvious from their name.
    fn hint(self) -> &'static str {
        use Builtin::*;
        match self {
            Date => " (expected YYYY-MM-DD)",
            DateTime => " (expected YYYY-MM-DDThh:mm:ss)",
            Time => " (expected hh:mm:ss)",
            GYearMonth => " (expected YYYY-MM)",
            GYear => " (expected YYYY)",
            GMonthDay => " (expected --MM-DD)",
            GDay => " (expected ---DD)",
            GMonth => " (expected --MM)",
            Boolean => " (expected true, false, 1 or 0)",
            Duration => " (expected a duration such as P1DT2H)",
            _ => "",
        }
    }

    /// Checks a whitespace-processed value; the error says what is wrong.
    pub fn check(self, value: &str) -> Result<(), String> {
        if self.lexically_valid(value) {
            return Ok(());
        }
        let mut message = format!("'{}' is not a valid {}", shorten(value), self.name());
        if let Some((low, high)) = self.integer_range()
            && is_integer_lexical(value)
        {
            // The form is right, so the value is out of the type's range.
            message = match (low, high) {
                (Some(low), Some(high)) => format!("{message}: it is outside {low}..{high}"),
                (Some(low), None) => format!("{message}: it is less than {low}"),
                (None, Some(high)) => format!("{message}: it is greater than {high}"),
                (None, None) => message,
            };
        }
        message.push_str(self.hint());
        Err(message)
    }

    fn lexically_valid(self, v: &str) -> bool {
        use Builtin::*;
        if let Some((low, high)) = self.integer_range() {
            return integer_in(v, low, high);
        }
        match self {
            AnySimpleType | String | NormalizedString | Token | AnyUri => true,
            Language => is_language(v),
            Name => is_name(v, true),
            NcName | Id | IdRef | Entity => is_name(v, false),
            IdRefs | Entities => !v.is_empty() && v.split(' ').all(|t| is_name(t, false)),
            NmToken => is_nmtoken(v),
            NmTokens => !v.is_empty() && v.split(' ').all(is_nmtoken),
            QName | Notation => match v.split_once(':') {
                Some((p, l)) => is_name(p, false) && is_name(l, false),
                None => is_name(v, false),
            },
            Boolean => matches!(v, "true" | "false" | "1" | "0"),
            Decimal => self::Decimal::parse(v).is_some(),
            Float | Double => parse_float(v).is_some(),
            Duration => is_duration(v),
            HexBinary => v.len().is_multiple_of(2) && v.bytes().all(|b| b.is_ascii_hexdigit()),
            Base64Binary => is_base64(v),
            _ => self.parse_ordered(v).is_some(),
        }
    }

    /// The value of an ordered type, for range facets and enumerations.
    pub fn parse_ordered(self, v: &str) -> Option<Value<'_>> {
        use Builtin::*;
        if self.integer_range().is_some() {
            return self::Decimal::parse(v)
                .filter(|d| d.is_integer() && !v.contains('.'))
                .map(Value::Decimal);
        }
        match self {
            Decimal => self::Decimal::parse(v).map(Value::Decimal),
            Float | Double => parse_float(v).map(Value::Float),
            DateTime => moment(v, true, true),
            Date => moment(v, true, false),
            Time => moment(v, false, true),
            GYearMonth => {
                let (rest, _) = split_zone(v)?;
                let (year, month) = year_prefix(rest)?;
                let month = two_digits(month.strip_prefix('-')?)?;
                (1..=12)
                    .contains(&month)
                    .then(|| Value::Moment(year * 12 + i128::from(month), ""))
            }
            GYear => {
                let (rest, _) = split_zone(v)?;
                let (year, tail) = year_prefix(rest)?;
                tail.is_empty().then_some(Value::Moment(year, ""))
            }
            GMonthDay => {
                let (rest, _) = split_zone(v)?;
                let (month, day) = rest.strip_prefix("--")?.split_once('-')?;
                let (month, day) = (two_digits(month)?, two_digits(day)?);
                ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(2000, month))
                    .then(|| Value::Moment(i128::from(month) * 32 + i128::from(day), ""))
            }
            GDay => {
                let (rest, _) = split_zone(v)?;
                let day = two_digits(rest.strip_prefix("---")?)?;
                (1..=31)
                    .contains(&day)
                    .then(|| Value::Moment(day.into(), ""))
            }
            GMonth => {
                let (rest, _) = split_zone(v)?;
                let month = two_digits(rest.strip_prefix("--")?)?;
                (1..=12)
                    .contains(&month)
                    .then(|| Value::Moment(month.into(), ""))
            }
            _ => None,
        }
    }
}

/// Applies a whitespace rule; borrows when nothing changes.
pub fn apply_whitespace(value: &str, rule: WhiteSpace) -> Cow<'_, str> {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    match rule {
        WhiteSpace::Preserve => Cow::Borrowed(value),
        WhiteSpace::Replace if !value.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) => {
            Cow::Borrowed(value)
        }
        WhiteSpace::Replace => Cow::Owned(value.replace(['\t', '\n', '\r'], " ")),
        WhiteSpace::Collapse => {
            let trimmed = value.trim_matches(is_ws);
            // One pass over the bytes: most values have nothing to collapse.
            let mut previous_space = false;
            let clean = trimmed.bytes().all(|b| {
                let ok = !(matches!(b, b'\t' | b'\n' | b'\r') || (b == b' ' && previous_space));
                previous_space = b == b' ';
                ok
            });
            if clean {
                Cow::Borrowed(trimmed)
            } else {
                Cow::Owned(
                    trimmed
                        .split(is_ws)
                        .filter(|t| !t.is_empty())
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            }
        }
    }
}

/// A value as messages quote it: long values are cut.
pub fn shorten(value: &str) -> Cow<'_, str> {
    const MAX: usize = 60;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => Cow::Owned(format!("{}...", &value[..end])),
        None => Cow::Borrowed(value),
    }
}

fn is_integer_lexical(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn integer_in(v: &str, low: Option<i128>, high: Option<i128>) -> bool {
    if !is_integer_lexical(v) {
        return false;
    }
    let negative = v.starts_with('-');
    let digits = v.trim_start_matches(['+', '-']).trim_start_matches('0');
    // Past 38 digits the value is beyond every finite bound XSD defines.
    if digits.len() > 38 {
        return if negative {
            low.is_none()
        } else {
            high.is_none()
        };
    }
    let magnitude: i128 = digits.parse().unwrap_or(0);
    let n = if negative { -magnitude } else { magnitude };
    low.is_none_or(|low| n >= low) && high.is_none_or(|high| n <= high)
}

fn parse_float(v: &str) -> Option<f64> {
    match v {
        "INF" => return Some(f64::INFINITY),
        "-INF" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    // Rust's parser also takes `inf`, `nan` and `infinity`: only XSD's
    // form (digits, a point, an exponent) is let through to it.
    let body = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_ok = (!int.is_empty() || !frac.is_empty())
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(is_integer_lexical);
    if digits_ok && exponent_ok {
        v.parse().ok()
    } else {
        None
    }
}

fn two_digits(s: &str) -> Option<u32> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn days_in_month(year: i128, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Splits a trailing time zone (`Z`, `+hh:mm`, `-hh:mm`) off, giving its
/// offset in minutes.
fn split_zone(v: &str) -> Option<(&str, Option<i32>)> {
    if let Some(rest) = v.strip_suffix('Z') {
        return Some((rest, Some(0)));
    }
    if v.len() >= 6 && v.is_char_boundary(v.len() - 6) {
        let (rest, zone) = v.split_at(v.len() - 6);
        let bytes = zone.as_bytes();
        if matches!(bytes[0], b'+' | b'-') && bytes[3] == b':' {
            let (hours, minutes) = (two_digits(zone.get(1..3)?)?, two_digits(zone.get(4..6)?)?);
            if minutes > 59 || hours > 14 || (hours == 14 && minutes != 0) {
                return None;
            }
            let offset = (hours * 60 + minutes) as i32;
            return Some((rest, Some(if bytes[0] == b'-' { -offset } else { offset })));
        }
    }
    Some((v, None))
}

/// The year at the start of a date (`-?YYYY+`, not 0000, no leading zero
/// past four digits) and what follows it.
fn year_prefix(v: &str) -> Option<(i128, &str)> {
    let (negative, body) = match v.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, v),
    };
    let end = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let digits = &body[..end];
    if digits.len() < 4 || (digits.len() > 4 && digits.starts_with('0')) || digits.len() > 30 {
        return None;
    }
    let year: i128 = digits.parse().ok()?;
    if year == 0 {
        return None;
    }
    Some((if negative { -year } else { year }, &body[end..]))
}

/// `hh:mm:ss(.s+)?` as seconds of the day and fraction digits.
fn time_of_day(v: &str) -> Option<(i128, &str)> {
    if v.get(2..3)? != ":" || v.get(5..6)? != ":" {
        return None;
    }
    let (hours, minutes, seconds) = (
        two_digits(v.get(0..2)?)?,
        two_digits(v.get(3..5)?)?,
        two_digits(v.get(6..8)?)?,
    );
    let frac = match v.get(8..)? {
        "" => "",
        rest => {
            let digits = rest.strip_prefix('.')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.trim_end_matches('0')
        }
    };
    let midnight = hours == 24 && minutes == 0 && seconds == 0 && frac.is_empty();
    if (hours > 23 && !midnight) || minutes > 59 || seconds > 59 {
        return None;
    }
    let total = i128::from(hours) * 3600 + i128::from(minutes) * 60 + i128::from(seconds);
    Some((total, frac))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm), so that dates and date-times compare as numbers.
fn days_from_civil(year: i128, month: u32, day: u32) -> i128 {
    let (month, day) = (i128::from(month), i128::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A date, a time, or a date-time as a comparable moment. Time zones are
/// applied to times; a date's zone is ignored, as comparing a zoned date
/// with an unzoned one has no single answer.
fn moment(v: &str, has_date: bool, has_time: bool) -> Option<Value<'_>> {
    let (rest, zone) = split_zone(v)?;
    let mut seconds = 0i128;
    let mut time_part = rest;
    if has_date {
        let (year, tail) = year_prefix(rest)?;
        if tail.get(0..1)? != "-" || tail.get(3..4)? != "-" {
            return None;
        }
        let (month, day) = (two_digits(tail.get(1..3)?)?, two_digits(tail.get(4..6)?)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        seconds = days_from_civil(year, month, day) * 86_400;
        let after = tail.get(6..)?;
        time_part = match (has_time, after.strip_prefix('T')) {
            (true, Some(time)) => time,
            (false, None) if after.is_empty() => after,
            _ => return None,
        };
    }
    let mut frac = "";
    if has_time {
        let (of_day, digits) = time_of_day(time_part)?;
        seconds += of_day - i128::from(zone.unwrap_or(0)) * 60;
        frac = digits;
    }
    Some(Value::Moment(seconds, frac))
}

fn is_duration(v: &str) -> bool {
    let body = v.strip_prefix('-').unwrap_or(v);
    let Some(body) = body.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match body.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (body, None),
    };
    // Each part is a run of number-and-designator pairs, in this order.
    fn pairs(mut s: &str, designators: &[u8], last_may_be_decimal: bool) -> Option<usize> {
        let mut count = 0;
        let mut allowed = designators;
        while !s.is_empty() {
            let end = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
            let (number, rest) = s.split_at(end);
            let designator = *rest.as_bytes().first()?;
            let at = allowed.iter().position(|d| *d == designator)?;
            let decimal_ok = last_may_be_decimal && at + 1 == allowed.len();
            let valid_number = if decimal_ok {
                Decimal::parse(number).is_some() && !number.starts_with(['+', '-'])
            } else {
                !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
            };
            if !valid_number {
                return None;
            }
            allowed = &allowed[at + 1..];
            s = &rest[1..];
            count += 1;
        }
        Some(count)
    }
    let Some(date_count) = pairs(date, b"YMD", false) else {
        return false;
    };
    match time {
        None => date_count > 0,
        Some(time) => matches!(pairs(time, b"HMS", true), Some(n) if n > 0),
    }
}

fn is_base64(v: &str) -> bool {
    let chars: Vec<u8> = v.bytes().filter(|b| *b != b' ').collect();
    if !chars.len().is_multiple_of(4) {
        return false;
    }
    let padding = chars.iter().rev().take_while(|b| **b == b'=').count();
    padding <= 2
        && chars[..chars.len() - padding]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn is_language(v: &str) -> bool {
    let mut parts = v.split('-');
    let first = parts.next().unwrap_or_default();
    let ok = |p: &str, alpha_only: bool| {
        (1..=8).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_alphabetic() || (!alpha_only && b.is_ascii_digit()))
    };
    ok(first, true) && parts.all(|p| ok(p, false))
}

/// XML 1.0 (fifth edition) NameStartChar, with or without the colon.
fn is_name_start(c: char, colon: bool) -> bool {
    matches!(c,
        'A'..='Z' | 'a'..='z' | '_'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
        || (colon && c == ':')
}

fn is_name_char(c: char, colon: bool) -> bool {
    is_name_start(c, colon)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

fn is_name(v: &str, colon: bool) -> bool {
    let mut chars = v.chars();
    chars.next().is_some_and(|c| is_name_start(c, colon)) && chars.all(|c| is_name_char(c, colon))
}

fn is_nmtoken(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| is_name_char(c, true))
}

#[cfg(test)]
mod tests;
