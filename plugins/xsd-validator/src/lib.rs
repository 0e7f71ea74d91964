//! Validates XML files against an XSD given in the partner's `xsd`
//! parameter: elements, sequences, choices and `xs:all`, cardinality,
//! attributes, the built-in simple types and restriction facets. Each
//! violation is reported with its line and the element's path.
//!
//! ```toml
//! [tenants.acme.partners.alice.params]
//! xsd = '''<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"> ... </xs:schema>'''
//! max_size = "16777216"   # larger files are rejected unread (default 16 MiB)
//! suffix = ".xml"         # only these names are checked ("" for every file)
//! ```
//!
//! The logic lives in the modules, which are tested on the host; this is
//! the glue to ferry's host.

mod builtin;
mod content;
mod lines;
mod pattern;
mod schema;
mod simple;
mod validate;
mod verdict;

use ferry_plugin::host;
use ferry_plugin::types::{FileInfo, Verdict};

/// The default of `max_size`: the document is held in memory whole (it
/// is read as text in one piece), which a 64 MiB plugin affords at this
/// size with room to spare.
const DEFAULT_MAX_SIZE: u64 = 16 << 20;

struct Xsd;

impl ferry_plugin::Validator for Xsd {
    fn validate(file: FileInfo) -> Verdict {
        let suffix = host::param("suffix").unwrap_or_else(|| ".xml".into());
        if !file
            .name
            .to_ascii_lowercase()
            .ends_with(&suffix.to_ascii_lowercase())
        {
            return Verdict::Accept;
        }
        let max = match host::param("max_size") {
            None => DEFAULT_MAX_SIZE,
            Some(v) => match v.trim().parse() {
                Ok(max) => max,
                Err(_) => {
                    return Verdict::Quarantine(format!(
                        "the `max_size` parameter '{v}' is not a number of bytes"
                    ));
                }
            },
        };
        if file.size > max {
            return Verdict::Reject(vec![format!(
                "the file has {} bytes, more than the {max} bytes this partner's XML files may have (params.max_size)",
                file.size
            )]);
        }
        let schema = match verdict::schema(host::param("xsd").as_deref()) {
            Ok(schema) => schema,
            Err(quarantine) => return quarantine,
        };
        for note in &schema.ignored {
            host::info(&format!("xsd-validator: {note}"));
        }
        // One allocation of the announced size; the loop stops at the cap
        // should the file be longer than announced.
        let mut bytes = Vec::with_capacity(file.size as usize);
        for chunk in host::chunks() {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Verdict::Reject(vec![format!(
                    "the file has more than the {max} bytes this partner's XML files may have (params.max_size)"
                )]);
            }
        }
        verdict::judge(&schema, &bytes)
    }
}

ferry_plugin::validator!(Xsd);
