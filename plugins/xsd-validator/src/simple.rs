//! Simple types: a built-in type, a list or a union, narrowed by
//! restriction facets. A derived type carries its base's facets with its
//! own applied on top, so checking a value needs no walk up the chain.

use std::cmp::Ordering;

use crate::builtin::{Builtin, Decimal, Value, WhiteSpace, apply_whitespace, shorten};
use crate::pattern::Pattern;

#[derive(Debug, Clone)]
pub struct SimpleType {
    /// The name messages show: `xs:int`, or the schema's name for the type.
    pub name: String,
    pub variety: Variety,
    pub whitespace: WhiteSpace,
    pub facets: Facets,
}

#[derive(Debug, Clone)]
pub enum Variety {
    Atomic(Builtin),
    List(Box<SimpleType>),
    Union(Vec<SimpleType>),
}

/// A range facet's limit, as the schema wrote it (and checked that it
/// parses as a value of the type): values borrow from their text, so the
/// limit is parsed again, without allocating, when it is compared.
#[derive(Debug, Clone)]
pub struct Bound {
    literal: String,
    inclusive: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Facets {
    /// The allowed values as written (after whitespace processing); for
    /// ordered types they are compared as values, so that `1.0` equals `1`.
    enumeration: Option<Vec<String>>,
    /// One entry per derivation step: a value must match one pattern of
    /// every step.
    patterns: Vec<Vec<Pattern>>,
    length: Option<usize>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min: Option<Bound>,
    max: Option<Bound>,
    total_digits: Option<usize>,
    fraction_digits: Option<usize>,
}

impl SimpleType {
    pub fn builtin(b: Builtin) -> SimpleType {
        SimpleType {
            name: b.name().to_string(),
            variety: Variety::Atomic(b),
            whitespace: b.whitespace(),
            facets: Facets::default(),
        }
    }

    pub fn list(name: String, item: SimpleType) -> SimpleType {
        SimpleType {
            name,
            variety: Variety::List(Box::new(item)),
            whitespace: WhiteSpace::Collapse,
            facets: Facets::default(),
        }
    }

    pub fn union(name: String, members: Vec<SimpleType>) -> SimpleType {
        SimpleType {
            name,
            variety: Variety::Union(members),
            // Each member applies its own rule to the raw value.
            whitespace: WhiteSpace::Preserve,
            facets: Facets::default(),
        }
    }

    /// The built-in type at the root of an atomic type.
    fn atomic(&self) -> Option<Builtin> {
        match self.variety {
            Variety::Atomic(b) => Some(b),
            _ => None,
        }
    }

    /// A restriction of this type named `name` with `facets`, each a facet
    /// element's local name and `value` attribute, in schema order.
    pub fn restrict(
        &self,
        name: String,
        facets: &[(String, String)],
    ) -> Result<SimpleType, String> {
        let mut derived = self.clone();
        derived.name = name;
        let mut enumeration = Vec::new();
        let mut patterns = Vec::new();
        for (facet, literal) in facets {
            derived
                .apply(facet, literal, &mut enumeration, &mut patterns)
                .map_err(|e| format!("{facet} '{literal}': {e}"))?;
        }
        if !enumeration.is_empty() {
            derived.facets.enumeration = Some(enumeration);
        }
        if !patterns.is_empty() {
            derived.facets.patterns.push(patterns);
        }
        Ok(derived)
    }

    fn apply(
        &mut self,
        facet: &str,
        literal: &str,
        enumeration: &mut Vec<String>,
        patterns: &mut Vec<Pattern>,
    ) -> Result<(), String> {
        let atomic = self.atomic();
        let ordered = atomic.filter(|b| b.ordered());
        let number = || -> Result<usize, String> {
            literal
                .trim()
                .parse()
                .map_err(|_| "not a non-negative integer".to_string())
        };
        let lengthy = || match self.variety {
            Variety::Atomic(b) if b.ordered() || b == Builtin::Boolean => {
                Err(format!("length facets do not apply to {}", b.name()))
            }
            Variety::Union(_) => Err("length facets do not apply to a union".to_string()),
            _ => Ok(()),
        };
        match facet {
            "enumeration" => {
                let normalized = apply_whitespace(literal, self.whitespace).into_owned();
                if let Some(b) = ordered
                    && b.parse_ordered(&normalized).is_none()
                {
                    return Err(format!("not a valid {}", b.name()));
                }
                enumeration.push(normalized);
            }
            "pattern" => patterns.push(Pattern::new(literal)?),
            "length" => {
                lengthy()?;
                self.facets.length = Some(number()?);
            }
            "minLength" => {
                lengthy()?;
                self.facets.min_length = Some(number()?.max(self.facets.min_length.unwrap_or(0)));
            }
            "maxLength" => {
                lengthy()?;
                let n = number()?;
                self.facets.max_length = Some(self.facets.max_length.map_or(n, |m| m.min(n)));
            }
            "minInclusive" | "minExclusive" | "maxInclusive" | "maxExclusive" => {
                let b =
                    ordered.ok_or_else(|| format!("range facets do not apply to {}", self.name))?;
                let normalized = apply_whitespace(literal, WhiteSpace::Collapse);
                if b.parse_ordered(&normalized).is_none() {
                    return Err(format!("not a valid {}", b.name()));
                }
                let bound = Some(Bound {
                    literal: normalized.into_owned(),
                    inclusive: facet.ends_with("Inclusive"),
                });
                if facet.starts_with("min") {
                    self.facets.min = bound;
                } else {
                    self.facets.max = bound;
                }
            }
            "totalDigits" | "fractionDigits" => {
                let decimal = matches!(
                    ordered.map(|b| b.parse_ordered("0")),
                    Some(Some(Value::Decimal(_)))
                );
                if !decimal {
                    return Err(format!(
                        "{facet} applies to decimal types only, not {}",
                        self.name
                    ));
                }
                let n = number()?;
                if facet == "totalDigits" {
                    self.facets.total_digits = Some(n);
                } else {
                    self.facets.fraction_digits = Some(n);
                }
            }
            "whiteSpace" => {
                let rule = match literal.trim() {
                    "preserve" => WhiteSpace::Preserve,
                    "replace" => WhiteSpace::Replace,
                    "collapse" => WhiteSpace::Collapse,
                    _ => return Err("expected preserve, replace or collapse".to_string()),
                };
                // A derived type may only tighten the rule.
                self.whitespace = self.whitespace.max(rule);
            }
            _ => return Err("this facet is not supported".to_string()),
        }
        Ok(())
    }

    /// Checks a raw value (as written in the document, entities resolved);
    /// the error says what is wrong and what was expected.
    pub fn check(&self, raw: &str) -> Result<(), String> {
        let value = apply_whitespace(raw, self.whitespace);
        let value = value.as_ref();
        let mut parsed = None;
        let length = match &self.variety {
            Variety::Atomic(b) => {
                b.check(value)?;
                if b.ordered()
                    && (self.facets.min.is_some()
                        || self.facets.max.is_some()
                        || self.facets.enumeration.is_some())
                {
                    parsed = b.parse_ordered(value);
                }
                let unit = match b {
                    Builtin::HexBinary | Builtin::Base64Binary => "bytes",
                    Builtin::IdRefs | Builtin::Entities | Builtin::NmTokens => "items",
                    _ => "characters",
                };
                b.length_of(value).map(|n| (n, unit))
            }
            Variety::List(item) => {
                let items: Vec<&str> = value.split(' ').filter(|s| !s.is_empty()).collect();
                for token in &items {
                    item.check(token)
                        .map_err(|e| format!("an item of the list {}: {e}", self.name))?;
                }
                Some((items.len(), "items"))
            }
            Variety::Union(members) => {
                if !members.iter().any(|m| m.check(raw).is_ok()) {
                    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
                    return Err(format!(
                        "'{}' is not a valid {}: it is none of {}",
                        shorten(value),
                        self.name,
                        names.join(", ")
                    ));
                }
                None
            }
        };
        let ordered = self.atomic().filter(|b| b.ordered());
        self.facets.check(value, ordered, parsed.as_ref(), length)
    }
}

impl Facets {
    fn check(
        &self,
        value: &str,
        ordered: Option<Builtin>,
        parsed: Option<&Value>,
        length: Option<(usize, &str)>,
    ) -> Result<(), String> {
        // Only a failing check quotes the value.
        let quoted = || shorten(value);
        if let Some(allowed) = &self.enumeration {
            let found = allowed.iter().any(|literal| match (ordered, parsed) {
                (Some(b), Some(p)) => b
                    .parse_ordered(literal)
                    .is_some_and(|v| v.compare(p) == Some(Ordering::Equal)),
                _ => literal == value,
            });
            if !found {
                let mut list: Vec<&str> = allowed.iter().take(10).map(String::as_str).collect();
                if allowed.len() > 10 {
                    list.push("...");
                }
                return Err(format!(
                    "'{}' is not one of the allowed values: {}",
                    quoted(),
                    list.join(", ")
                ));
            }
        }
        for step in &self.patterns {
            if !step.iter().any(|p| p.matches(value)) {
                let sources: Vec<String> = step.iter().map(|p| format!("'{}'", p.source)).collect();
                return Err(format!(
                    "'{}' does not match the pattern {}",
                    quoted(),
                    sources.join(" or ")
                ));
            }
        }
        if let Some((n, unit)) = length {
            let expected = if self.length.is_some_and(|l| l != n) {
                self.length.map(|l| format!("exactly {l}"))
            } else if self.min_length.is_some_and(|l| n < l) {
                self.min_length.map(|l| format!("at least {l}"))
            } else if self.max_length.is_some_and(|l| n > l) {
                self.max_length.map(|l| format!("at most {l}"))
            } else {
                None
            };
            if let Some(expected) = expected {
                return Err(format!(
                    "'{}' has a length of {n} {unit}, expected {expected}",
                    quoted()
                ));
            }
        }
        if let (Some(parsed), Some(b)) = (parsed, ordered) {
            let limit = |bound: &Bound| {
                b.parse_ordered(&bound.literal)
                    .and_then(|v| parsed.compare(&v))
            };
            if let Some(min) = &self.min {
                let ok = match limit(min) {
                    Some(Ordering::Greater) => true,
                    Some(Ordering::Equal) => min.inclusive,
                    _ => false,
                };
                if !ok {
                    let rule = if min.inclusive {
                        "at least"
                    } else {
                        "greater than"
                    };
                    return Err(format!(
                        "'{}' is out of range: expected {rule} {}",
                        quoted(),
                        min.literal
                    ));
                }
            }
            if let Some(max) = &self.max {
                let ok = match limit(max) {
                    Some(Ordering::Less) => true,
                    Some(Ordering::Equal) => max.inclusive,
                    _ => false,
                };
                if !ok {
                    let rule = if max.inclusive {
                        "at most"
                    } else {
                        "less than"
                    };
                    return Err(format!(
                        "'{}' is out of range: expected {rule} {}",
                        quoted(),
                        max.literal
                    ));
                }
            }
        }
        if (self.total_digits.is_some() || self.fraction_digits.is_some())
            && let Some(d) = Decimal::parse(value)
        {
            if let Some(t) = self.total_digits.filter(|t| d.total_digits() > *t) {
                return Err(format!(
                    "'{}' has {} digits, expected at most {t}",
                    quoted(),
                    d.total_digits()
                ));
            }
            if let Some(f) = self.fraction_digits.filter(|f| d.fraction_digits() > *f) {
                return Err(format!(
                    "'{}' has {} fraction digits, expected at most {f}",
                    quoted(),
                    d.fraction_digits()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facets(base: Builtin, list: &[(&str, &str)]) -> SimpleType {
        let list: Vec<(String, String)> = list
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        SimpleType::builtin(base)
            .restrict("T".into(), &list)
            .unwrap()
    }

    #[test]
    fn enumerations_compare_values() {
        let t = facets(
            Builtin::String,
            &[("enumeration", "red"), ("enumeration", "green")],
        );
        assert!(t.check("red").is_ok());
        assert_eq!(
            t.check("blue").unwrap_err(),
            "'blue' is not one of the allowed values: red, green"
        );
        let n = facets(
            Builtin::Decimal,
            &[("enumeration", "1.0"), ("enumeration", "2.5")],
        );
        assert!(n.check(" 1 ").is_ok() && n.check("2.50").is_ok() && n.check("3").is_err());
        assert!(
            SimpleType::builtin(Builtin::Int)
                .restrict("T".into(), &[("enumeration".into(), "x".into())])
                .unwrap_err()
                .contains("not a valid xs:int")
        );
    }

    #[test]
    fn lengths_ranges_and_digits() {
        let code = facets(Builtin::String, &[("length", "3")]);
        assert!(code.check("abc").is_ok());
        assert_eq!(
            code.check("abcd").unwrap_err(),
            "'abcd' has a length of 4 characters, expected exactly 3"
        );
        let name = facets(Builtin::Token, &[("minLength", "2"), ("maxLength", "5")]);
        assert!(
            name.check(" ab ").is_ok() && name.check("a").is_err() && name.check("abcdef").is_err()
        );
        let price = facets(
            Builtin::Decimal,
            &[
                ("minInclusive", "0"),
                ("maxInclusive", "1000"),
                ("totalDigits", "6"),
                ("fractionDigits", "2"),
            ],
        );
        assert!(price.check("0").is_ok() && price.check("1000.00").is_ok());
        assert_eq!(
            price.check("1000.01").unwrap_err(),
            "'1000.01' is out of range: expected at most 1000"
        );
        assert_eq!(
            price.check("-0.5").unwrap_err(),
            "'-0.5' is out of range: expected at least 0"
        );
        assert_eq!(
            price.check("9.125").unwrap_err(),
            "'9.125' has 3 fraction digits, expected at most 2"
        );
        let digits = facets(Builtin::Decimal, &[("totalDigits", "3")]);
        assert!(
            digits.check("1.23").is_ok()
                && digits.check("12.30").is_ok()
                && digits.check("1234").is_err()
        );
        let excl = facets(
            Builtin::Int,
            &[("minExclusive", "0"), ("maxExclusive", "10")],
        );
        assert!(excl.check("1").is_ok() && excl.check("0").is_err() && excl.check("10").is_err());
        let day = facets(Builtin::Date, &[("minInclusive", "2024-01-01")]);
        assert!(day.check("2024-01-01").is_ok() && day.check("2023-12-31").is_err());
    }

    #[test]
    fn derivation_keeps_the_base_facets() {
        let sku = facets(Builtin::String, &[("pattern", "[A-Z]+-\\d+")]);
        let short = sku
            .restrict(
                "Short".into(),
                &[("pattern", "...-.*"), ("maxLength", "6")].map(|(a, b)| (a.into(), b.into())),
            )
            .unwrap();
        assert!(short.check("ABC-12").is_ok());
        assert!(short.check("AB-123").unwrap_err().contains("'...-.*'"));
        assert!(short.check("abc-12").unwrap_err().contains("'[A-Z]+-\\d+'"));
        assert!(short.check("ABC-123").unwrap_err().contains("at most 6"));
        let one_of = facets(Builtin::String, &[("pattern", "a+"), ("pattern", "b+")]);
        assert!(one_of.check("bb").is_ok());
        assert_eq!(
            one_of.check("ab").unwrap_err(),
            "'ab' does not match the pattern 'a+' or 'b+'"
        );
    }

    #[test]
    fn lists_and_unions() {
        let ints = SimpleType::list("Ints".into(), SimpleType::builtin(Builtin::Int));
        let ints = ints
            .restrict("Ints".into(), &[("maxLength".into(), "3".into())])
            .unwrap();
        assert!(ints.check(" 1  2\n3 ").is_ok());
        assert!(
            ints.check("1 x")
                .unwrap_err()
                .starts_with("an item of the list Ints: 'x'")
        );
        assert!(
            ints.check("1 2 3 4")
                .unwrap_err()
                .contains("expected at most 3")
        );
        let either = SimpleType::union(
            "IntOrDate".into(),
            vec![
                SimpleType::builtin(Builtin::Int),
                SimpleType::builtin(Builtin::Date),
            ],
        );
        assert!(either.check("5").is_ok() && either.check("2024-01-01").is_ok());
        assert!(
            either
                .check("x")
                .unwrap_err()
                .contains("none of xs:int, xs:date")
        );
    }

    #[test]
    fn misapplied_facets_are_schema_errors() {
        let restrict = |b: Builtin, f: &str, v: &str| {
            SimpleType::builtin(b).restrict("T".into(), &[(f.to_string(), v.to_string())])
        };
        assert!(restrict(Builtin::String, "minInclusive", "1").is_err());
        assert!(restrict(Builtin::Int, "maxLength", "1").is_err());
        assert!(restrict(Builtin::String, "totalDigits", "1").is_err());
        assert!(restrict(Builtin::Int, "maxInclusive", "x").is_err());
        assert!(restrict(Builtin::String, "length", "-1").is_err());
        assert!(restrict(Builtin::String, "maxScale", "1").is_err());
    }
}
