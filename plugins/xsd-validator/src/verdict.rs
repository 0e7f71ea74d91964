//! From a schema text and a document to ferry's verdict: the reasons a
//! sender reads, and the quarantine that tells an operator the
//! configuration is wrong rather than the file.

use ferry_plugin::types::Verdict;

use crate::schema::Schema;
use crate::validate::{Outcome, validate};

/// At most this many violations are listed; the rest are counted.
pub const MAX_REASONS: usize = 20;

/// Compiles the `xsd` parameter; a missing or unusable schema is the
/// configuration's fault, so the error is a quarantine reason.
pub fn schema(xsd: Option<&str>) -> Result<Schema, Verdict> {
    let Some(xsd) = xsd.filter(|x| !x.trim().is_empty()) else {
        return Err(Verdict::Quarantine(
            "no schema: the partner's `xsd` parameter is not set, so the file cannot be validated"
                .into(),
        ));
    };
    Schema::compile(xsd).map_err(|e| {
        Verdict::Quarantine(format!("the `xsd` parameter is not a usable schema: {e}"))
    })
}

/// The verdict on a document's bytes.
pub fn judge(schema: &Schema, bytes: &[u8]) -> Verdict {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            return Verdict::Reject(vec![format!(
                "line {line}, column {column}: not UTF-8 text (this validator reads UTF-8 documents only)"
            )]);
        }
    };
    match validate(schema, text, MAX_REASONS) {
        Outcome::Valid => Verdict::Accept,
        Outcome::Malformed(reason) => Verdict::Reject(vec![reason]),
        Outcome::Unjudgeable(reason) => Verdict::Quarantine(reason),
        Outcome::Invalid { violations, total } => {
            let mut reasons: Vec<String> = violations.iter().map(ToString::to_string).collect();
            if total > reasons.len() {
                reasons.push(format!("... and {} more", total - reasons.len()));
            }
            Verdict::Reject(reasons)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XSD: &str = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
        <xs:element name="list"><xs:complexType><xs:sequence>
          <xs:element name="n" type="xs:int" maxOccurs="unbounded"/>
        </xs:sequence></xs:complexType></xs:element></xs:schema>"#;

    fn reasons(verdict: Verdict) -> Vec<String> {
        match verdict {
            Verdict::Reject(reasons) => reasons,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn missing_or_broken_schemas_quarantine() {
        for xsd in [None, Some("  ")] {
            match schema(xsd) {
                Err(Verdict::Quarantine(reason)) => {
                    assert!(reason.contains("`xsd` parameter is not set"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
        match schema(Some(
            "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>\n<xs:element name='a' type='xs:integr'/></xs:schema>",
        )) {
            Err(Verdict::Quarantine(reason)) => assert_eq!(
                reason,
                "the `xsd` parameter is not a usable schema: line 2: xs:integr is not a built-in type"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(schema(Some("<oops")), Err(Verdict::Quarantine(_))));
    }

    #[test]
    fn reasons_are_capped() {
        let schema = schema(Some(XSD)).unwrap();
        assert!(matches!(
            judge(&schema, b"<list><n>1</n></list>"),
            Verdict::Accept
        ));
        let many: String = (0..25).map(|i| format!("<n>x{i}</n>\n")).collect();
        let found = reasons(judge(&schema, format!("<list>\n{many}</list>").as_bytes()));
        assert_eq!(found.len(), MAX_REASONS + 1);
        assert_eq!(found[0], "line 2, /list/n[1]: 'x0' is not a valid xs:int");
        assert_eq!(found[MAX_REASONS], "... and 5 more");
    }

    #[test]
    fn encodings_and_well_formedness() {
        let schema = schema(Some(XSD)).unwrap();
        let found = reasons(judge(&schema, b"<list>\n<n>\xe91</n></list>"));
        assert_eq!(
            found,
            ["line 2, column 4: not UTF-8 text (this validator reads UTF-8 documents only)"]
        );
        let found = reasons(judge(&schema, b"<list>\n<n>1</m></list>"));
        assert!(found[0].starts_with("line 2, column "), "{found:?}");
        assert!(found[0].contains("not well-formed XML"), "{found:?}");
        assert!(matches!(
            judge(&schema, "\u{FEFF}<list><n>1</n></list>".as_bytes()),
            Verdict::Accept
        ));
    }
}
