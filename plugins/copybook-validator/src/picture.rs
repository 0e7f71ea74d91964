//! PICTURE strings: their category (numeric, alphabetic, alphanumeric,
//! edited, national), their number of digits and sign, and how many bytes
//! they take in DISPLAY usage. The usage (binary, packed) changes the size
//! of numeric items; that is decided by the caller, which knows the usage.

/// What kind of data a picture describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Only `9`, `S`, `V` and `P`: a number, checked digit by digit.
    Numeric,
    /// Only `A`: letters and spaces.
    Alphabetic,
    /// `X`, or `X`/`A` mixed with `9`: any bytes.
    Alphanumeric,
    /// A numeric-edited or alphanumeric-edited picture (`Z`, `.`, `,`,
    /// `+`, `-`, `$`, `*`, `B`, `0`, `/`, `CR`, `DB`): text formatted for
    /// people, not checked.
    Edited,
    /// `N` (national, UTF-16) or `G` (DBCS): two bytes a character.
    National,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// As written in the copybook, for messages.
    pub text: String,
    pub class: Class,
    /// The number of `9`s: the digits a numeric item stores (`P` scaling
    /// positions and the implied point `V` take no storage).
    pub digits: usize,
    /// Whether it has an `S`.
    pub signed: bool,
    /// Bytes in DISPLAY usage, before a SIGN SEPARATE byte.
    pub size: usize,
}

/// Larger repeat counts are surely typing mistakes; this also keeps the
/// sizes far from overflowing.
const MAX_REPEAT: usize = 1 << 24;

/// IBM Enterprise COBOL's limit with ARITH(EXTEND).
const MAX_DIGITS: usize = 31;

/// Parses a picture; the error says why it is not one.
pub fn parse(text: &str) -> Result<Picture, String> {
    let upper: Vec<char> = text.to_ascii_uppercase().chars().collect();
    // Each symbol as written, with its repeat count; `99(3)` is two
    // elements, of 1 and 3.
    let mut elements: Vec<(&'static str, usize)> = Vec::new();
    let mut repeated = false;
    let mut i = 0;
    while i < upper.len() {
        let c = upper[i];
        if c == '(' {
            let Some(last) = elements.last_mut() else {
                return Err("a repeat count with no symbol before it".into());
            };
            if repeated {
                return Err("two repeat counts in a row".into());
            }
            let Some(close) = upper[i + 1..].iter().position(|&c| c == ')') else {
                return Err("a repeat count is not closed".into());
            };
            let inner: String = upper[i + 1..i + 1 + close].iter().collect();
            let count = Some(&inner)
                .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|&n| n > 0);
            let Some(count) = count else {
                return Err(format!("({inner}) is not a repeat count"));
            };
            if count > MAX_REPEAT {
                return Err(format!("the repeat count {count} is too large"));
            }
            last.1 = count;
            repeated = true;
            i += close + 2;
            continue;
        }
        let (symbol, width) = match (c, upper.get(i + 1)) {
            ('C', Some('R')) => ("CR", 2),
            ('D', Some('B')) => ("DB", 2),
            _ => match symbol(c) {
                Some(symbol) => (symbol, 1),
                None if c == ')' => return Err("a `)` with no `(` before it".into()),
                None => return Err(format!("`{c}` is not a picture symbol")),
            },
        };
        elements.push((symbol, 1));
        repeated = false;
        i += width;
    }
    if elements.is_empty() {
        return Err("it is empty".into());
    }

    let count = |s: &str| -> usize {
        elements
            .iter()
            .filter(|(e, _)| *e == s)
            .map(|(_, n)| n)
            .sum()
    };
    let only = |set: &[&str]| elements.iter().all(|(e, _)| set.contains(e));
    let signed = count("S") > 0;
    let digits = count("9");
    if count("V") > 1 {
        return Err("V appears more than once".into());
    }
    let make = |class, size| Picture {
        text: text.to_string(),
        class,
        digits,
        signed,
        size,
    };

    if only(&["9", "S", "V", "P"]) {
        if signed && (count("S") > 1 || elements[0] != ("S", 1)) {
            return Err("S must come first, once".into());
        }
        if digits == 0 {
            return Err("a number needs at least one 9".into());
        }
        if digits > MAX_DIGITS {
            return Err(format!("{digits} digits, more than {MAX_DIGITS}"));
        }
        return Ok(make(Class::Numeric, digits));
    }
    if signed {
        return Err("S goes only with 9, V and P".into());
    }
    let total =
        |per: fn(&str) -> usize| -> usize { elements.iter().map(|(e, n)| per(e) * n).sum() };
    if only(&["A"]) {
        return Ok(make(Class::Alphabetic, total(|_| 1)));
    }
    if only(&["X", "A", "9"]) {
        return Ok(make(Class::Alphanumeric, total(|_| 1)));
    }
    if only(&["N"]) || only(&["G"]) {
        return Ok(make(Class::National, total(|_| 2)));
    }
    let edited = [
        "9", "Z", "*", "+", "-", "$", ".", ",", "B", "0", "/", "V", "P", "CR", "DB", "X", "A", "E",
    ];
    if only(&edited) {
        let size = total(|e| match e {
            "V" | "P" => 0,
            "CR" | "DB" => 2,
            _ => 1,
        });
        if size == 0 {
            return Err("it has no character positions".into());
        }
        return Ok(make(Class::Edited, size));
    }
    Err("its symbols do not make one kind of picture".into())
}

/// The one-character symbols a picture may use.
fn symbol(c: char) -> Option<&'static str> {
    Some(match c {
        '9' => "9",
        'X' => "X",
        'A' => "A",
        'S' => "S",
        'V' => "V",
        'P' => "P",
        'N' => "N",
        'G' => "G",
        'Z' => "Z",
        'B' => "B",
        'E' => "E",
        '0' => "0",
        '/' => "/",
        ',' => ",",
        '.' => ".",
        '+' => "+",
        '-' => "-",
        '*' => "*",
        '$' => "$",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (Class, usize, usize, bool) {
        let p = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (p.class, p.digits, p.size, p.signed)
    }

    #[test]
    fn numeric_pictures() {
        assert_eq!(ok("9(6)"), (Class::Numeric, 6, 6, false));
        assert_eq!(ok("S9(5)V99"), (Class::Numeric, 7, 7, true));
        assert_eq!(ok("s9(7)v9(2)"), (Class::Numeric, 9, 9, true));
        assert_eq!(ok("99(3)"), (Class::Numeric, 4, 4, false));
        assert_eq!(ok("9(3)PP"), (Class::Numeric, 3, 3, false));
        assert_eq!(ok("SVP(2)99"), (Class::Numeric, 2, 2, true));
        assert_eq!(ok("V99"), (Class::Numeric, 2, 2, false));
    }

    #[test]
    fn text_pictures() {
        assert_eq!(ok("X(10)"), (Class::Alphanumeric, 0, 10, false));
        assert_eq!(ok("XXX"), (Class::Alphanumeric, 0, 3, false));
        assert_eq!(ok("A(4)"), (Class::Alphabetic, 0, 4, false));
        assert_eq!(ok("X(2)9(3)"), (Class::Alphanumeric, 3, 5, false));
        assert_eq!(ok("N(5)"), (Class::National, 0, 10, false));
        assert_eq!(ok("ZZ,ZZ9.99CR"), (Class::Edited, 3, 11, false));
        assert_eq!(ok("-9(5)V99"), (Class::Edited, 7, 8, false));
        assert_eq!(ok("99/99/99"), (Class::Edited, 6, 8, false));
    }

    #[test]
    fn broken_pictures_say_why() {
        let err = |text: &str| parse(text).unwrap_err();
        assert_eq!(err("S9(7)V9("), "a repeat count is not closed");
        assert_eq!(err("9(X)"), "(X) is not a repeat count");
        assert_eq!(err("9()"), "() is not a repeat count");
        assert_eq!(err("9(0)"), "(0) is not a repeat count");
        assert_eq!(err("9(+5)"), "(+5) is not a repeat count");
        assert_eq!(err("(5)9"), "a repeat count with no symbol before it");
        assert_eq!(err("9(2)(3)"), "two repeat counts in a row");
        assert_eq!(err("9)"), "a `)` with no `(` before it");
        assert_eq!(err("9Q"), "`Q` is not a picture symbol");
        assert_eq!(err("9S9"), "S must come first, once");
        assert_eq!(err("S9V9V9"), "V appears more than once");
        assert_eq!(err("SX(3)"), "S goes only with 9, V and P");
        assert_eq!(err("S"), "a number needs at least one 9");
        assert_eq!(err("9(32)"), "32 digits, more than 31");
        assert_eq!(err("9(99999999)"), "the repeat count 99999999 is too large");
        assert_eq!(err("NX"), "its symbols do not make one kind of picture");
        assert_eq!(err(""), "it is empty");
    }
}
