//! `xs:pattern`: XSD's regular expressions, translated to the `regex`
//! crate's syntax.
//!
//! The dialects differ in a few places, each handled here: an XSD pattern
//! always matches the whole value (there are no anchors, so `^` and `$` are
//! ordinary characters); `.` excludes `\r` as well as `\n`; `\d`, `\w` and
//! `\s` have XSD's own definitions; `\i` and `\c` (XML name characters)
//! exist; and a character class may subtract another, `[a-z-[aeiou]]`,
//! which `regex` writes `[a-z--[aeiou]]`. Unicode block escapes
//! (`\p{IsBasicLatin}`) are refused, as `regex` does not know blocks.

use regex::Regex;

/// A compiled pattern and its XSD source, which messages quote.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    regex: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, String> {
        let translated = translate(source)?;
        let regex = regex::RegexBuilder::new(&format!(r"\A(?:{translated})\z"))
            // A pattern is schema input: keep a hostile one from taking the
            // plugin's memory.
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("the pattern '{source}' is not valid: {e}"))?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

/// XSD's multi-character escapes, as `regex` classes that may also stand
/// inside another class.
fn class_escape(c: char) -> Option<&'static str> {
    Some(match c {
        'd' => r"\p{Nd}",
        'D' => r"\P{Nd}",
        's' => r"[ \t\n\r]",
        'S' => r"[^ \t\n\r]",
        // Everything but punctuation, separators and "other" characters.
        'w' => r"[^\p{P}\p{Z}\p{C}]",
        'W' => r"[\p{P}\p{Z}\p{C}]",
        // XML's NameStartChar and NameChar, approximated by Unicode
        // categories as XSD 1.0's appendix does.
        'i' => r"[\p{L}_:]",
        'I' => r"[^\p{L}_:]",
        'c' => r"[\p{L}\p{Nd}\p{Mn}\p{Mc}\p{Lm}._:\-\x{B7}]",
        'C' => r"[^\p{L}\p{Nd}\p{Mn}\p{Mc}\p{Lm}._:\-\x{B7}]",
        _ => return None,
    })
}

/// The single-character escapes XSD allows, all of which `regex` reads
/// the same way.
const SINGLE_ESCAPES: &str = "nrt\\|.-^?*+{}()[]";

fn translate(source: &str) -> Result<String, String> {
    let mut out = String::with_capacity(source.len() + 16);
    let mut chars = source.chars().peekable();
    // How deep in character classes we are; 0 outside any.
    let mut class_depth = 0usize;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::take(&mut class_start);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err(format!("the pattern '{source}' ends with a lone backslash"));
                };
                if let Some(class) = class_escape(e) {
                    out.push_str(class);
                } else if e == 'p' || e == 'P' {
                    let mut name = String::new();
                    if chars.next() != Some('{') {
                        return Err(format!("the pattern '{source}' has \\{e} without {{...}}"));
                    }
                    for n in chars.by_ref() {
                        if n == '}' {
                            break;
                        }
                        name.push(n);
                    }
                    if name.starts_with("Is") {
                        return Err(format!(
                            "the pattern '{source}' uses the Unicode block \\{e}{{{name}}}, which this validator does not support"
                        ));
                    }
                    out.push_str(&format!("\\{e}{{{name}}}"));
                } else if SINGLE_ESCAPES.contains(e) {
                    out.push('\\');
                    out.push(e);
                } else {
                    return Err(format!(
                        "the pattern '{source}' has the unknown escape \\{e}"
                    ));
                }
            }
            '[' if class_depth == 0 => {
                class_depth = 1;
                class_start = true;
                out.push('[');
            }
            '^' if class_depth > 0 && at_class_start => out.push('^'),
            '-' if class_depth > 0 && chars.peek() == Some(&'[') => {
                // Subtraction: the nested class closes the outer one.
                chars.next();
                class_depth += 1;
                class_start = true;
                out.push_str("--[");
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            // Characters that `regex` reads as set operators or as the
            // start of a nested class inside a class, and as anchors or
            // flags outside one, are literal in XSD.
            '[' | '&' | '~' | '^' | '$' | '#' | ' ' if class_depth > 0 => {
                out.push('\\');
                out.push(c);
            }
            '^' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '.' => out.push_str(r"[^\n\r]"),
            '(' => {
                if chars.peek() == Some(&'?') {
                    return Err(format!(
                        "the pattern '{source}' has '(?', which XSD does not allow"
                    ));
                }
                out.push_str("(?:");
            }
            _ => out.push(c),
        }
    }
    if class_depth > 0 {
        return Err(format!(
            "the pattern '{source}' has an unclosed character class"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        Pattern::new(p).unwrap().matches(v)
    }

    #[test]
    fn patterns_match_whole_values() {
        assert!(m(r"[A-Z]{3}-\d{4}", "ABC-1234"));
        assert!(!m(r"[A-Z]{3}-\d{4}", "xABC-1234"));
        assert!(!m(r"[A-Z]{3}-\d{4}", "ABC-12345"));
        assert!(m("a|bc", "bc") && !m("a|bc", "abc"));
    }

    #[test]
    fn xsd_dialect() {
        assert!(m(r"\d+", "١٢٣"), "\\d is Unicode digits");
        assert!(m("^a$", "^a$"), "anchors are literal");
        assert!(m(".", "x") && !m(".", "\r"));
        assert!(m(r"\i\c*", "order-line.2") && !m(r"\i\c*", "2order"));
        assert!(m(r"\w+", "héllo") && !m(r"\w", "!"));
        assert!(m(r"\s", "\t") && !m(r"\s", "\u{A0}"));
        assert!(m("[a-z-[aeiou]]+", "xyz") && !m("[a-z-[aeiou]]+", "xaz"));
        assert!(m("[^0-9]", "a") && m("[a^]", "^"));
        assert!(m(r"[\-a]", "-") && m("[a&&b]", "&"));
        assert!(m(r"\p{Lu}\p{Ll}*", "Émile"));
        assert!(m(r"\(\d\)", "(1)"));
    }

    #[test]
    fn refusals_name_the_problem() {
        assert!(
            Pattern::new(r"\p{IsBasicLatin}")
                .unwrap_err()
                .contains("Unicode block")
        );
        assert!(Pattern::new(r"\q").unwrap_err().contains("unknown escape"));
        assert!(Pattern::new("[abc").unwrap_err().contains("unclosed"));
        assert!(Pattern::new("(?i)a").is_err());
        assert!(Pattern::new("a{2,1}").is_err());
    }
}
