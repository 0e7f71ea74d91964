//! Validates `*.json` files: they must be well-formed JSON and, when the
//! partner parameter `schema` holds a JSON Schema, valid against it.
//!
//! ```toml
//! [tenants.acme.partners.alice.params]
//! schema = '{"type": "object", "required": ["order", "lines"]}'
//! max-bytes = "16777216"   # larger files are rejected unread (default 16 MiB)
//! ```
//!
//! Files with another extension are accepted unchecked. A schema that is
//! itself invalid quarantines the file: the fault is the configuration's,
//! not the sender's.

use ferry_plugin::host;
use ferry_plugin::types::{FileInfo, Verdict};

/// At most this many schema errors are reported per file.
const MAX_REASONS: usize = 20;

struct JsonSchema;

impl ferry_plugin::Validator for JsonSchema {
    fn validate(file: FileInfo) -> Verdict {
        if !file.name.to_ascii_lowercase().ends_with(".json") {
            return Verdict::Accept;
        }
        let max: u64 = host::param("max-bytes")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(16 << 20);
        if file.size > max {
            return Verdict::Reject(vec![format!(
                "{} bytes is larger than the {max} bytes this partner's JSON files may have",
                file.size
            )]);
        }
        let schema = match host::param("schema") {
            None => None,
            Some(text) => match serde_json::from_str(&text) {
                Ok(schema) => Some(schema),
                Err(e) => {
                    return Verdict::Quarantine(format!("the `schema` parameter is not JSON: {e}"));
                }
            },
        };
        check(&host::read_all(), schema.as_ref())
    }
}

ferry_plugin::validator!(JsonSchema);

/// The verdict for a document, against an optional schema.
pub fn check(bytes: &[u8], schema: Option<&serde_json::Value>) -> Verdict {
    let document: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(document) => document,
        Err(e) => return Verdict::Reject(vec![format!("not well-formed JSON: {e}")]),
    };
    let Some(schema) = schema else {
        return Verdict::Accept;
    };
    let validator = match jsonschema::validator_for(schema) {
        Ok(validator) => validator,
        Err(e) => {
            return Verdict::Quarantine(format!(
                "the `schema` parameter is not a valid JSON Schema: {e}"
            ));
        }
    };
    let reasons: Vec<String> = validator
        .iter_errors(&document)
        .take(MAX_REASONS)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                format!("{e}")
            } else {
                format!("at {at}: {e}")
            }
        })
        .collect();
    if reasons.is_empty() {
        Verdict::Accept
    } else {
        Verdict::Reject(reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(verdict: Verdict) -> Vec<String> {
        match verdict {
            Verdict::Reject(reasons) => reasons,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn well_formed_is_enough_without_a_schema() {
        assert!(matches!(check(b"[1, 2]", None), Verdict::Accept));
        assert!(reasons(check(b"[1, 2", None))[0].starts_with("not well-formed JSON"));
    }

    #[test]
    fn schema_errors_name_their_place() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": { "lines": { "type": "array", "items": { "type": "integer" } } }
        });
        let found = reasons(check(br#"{"lines": [1, "two"]}"#, Some(&schema)));
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("at /lines/1:"), "{found:?}");
        assert!(matches!(
            check(br#"{"lines": [1]}"#, Some(&serde_json::json!({"type": 5}))),
            Verdict::Quarantine(_)
        ));
    }
}
