//! `ferry plugin run DIR`: the tests of a project's `ferry-plugin.toml`,
//! each a file decided on by the built component exactly as the server
//! would, compared with the decision expected.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde_json::Value;

use super::Project;
use crate::cli::plugin::{call, file_meta};
use crate::plugin::{HistoryEntry, Limits, MemoryServices};

/// One `[[test]]` of the manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// The file, relative to the project.
    pub file: PathBuf,
    /// The name the partner sent it under (the file's own by default).
    #[serde(default, rename = "as")]
    pub sent_as: Option<String>,
    #[serde(default)]
    pub partner: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Parameters read from files, relative to the project (a schema, a
    /// copybook): `param-files = { schema = "fixtures/schema.json" }`.
    #[serde(default, rename = "param-files")]
    pub param_files: BTreeMap<String, PathBuf>,
    /// A JSON file of history entries, relative to the project.
    #[serde(default)]
    pub history: Option<PathBuf>,
    /// For acknowledgers: delivered, downloaded:PARTNER, rejected:REASON, failed:REASON.
    #[serde(default)]
    pub event: Option<String>,
    /// The decision as `ferry plugin run --json` prints it; only the keys
    /// written are compared.
    pub expect: Value,
}

/// Runs every test of the project on its built component; fails (exit 1)
/// when one does not decide as expected.
pub fn run_tests(project: &Project) -> anyhow::Result<ExitCode> {
    let manifest = &project.manifest;
    if manifest.tests.is_empty() {
        bail!(
            "{} has no [[test]]: add one, or give a file with --file",
            project.dir.join(super::MANIFEST).display()
        );
    }
    let wasm = project.component();
    let bytes = std::fs::read(&wasm).with_context(|| {
        format!(
            "reading {} (build it first: ferry plugin build {})",
            wasm.display(),
            project.dir.display()
        )
    })?;
    let engine = project.engine()?;
    let plugin = engine.load(&bytes, manifest.role)?;
    let (mut passed, mut failed) = (0, 0);
    for case in &manifest.tests {
        let path = project.dir.join(&case.file);
        let content = std::fs::read(&path)
            .with_context(|| format!("test `{}`: reading {}", case.name, path.display()))?;
        let history: Vec<HistoryEntry> = match &case.history {
            Some(file) => {
                let file = project.dir.join(file);
                serde_json::from_slice(
                    &std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
                )
                .with_context(|| {
                    format!(
                        "{}: expected a JSON array of history entries",
                        file.display()
                    )
                })?
            }
            None => Vec::new(),
        };
        let name = case.sent_as.clone().unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let file = file_meta(
            "tenant",
            case.partner.as_deref().unwrap_or("partner"),
            &name,
            &content,
            &history,
            &path,
        );
        let mut params = case.params.clone();
        for (name, file) in &case.param_files {
            let file = project.dir.join(file);
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("test `{}`: reading {}", case.name, file.display()))?;
            params.insert(name.clone(), text);
        }
        let services = Box::new(MemoryServices {
            content,
            history,
            params,
            kv: BTreeMap::new(),
        });
        let event = case.event.as_deref().unwrap_or("delivered");
        let outcome = call(&plugin, &engine, services, Limits::default(), &file, event)?;
        let (ok, shown) = match outcome {
            Ok((decision, _, elapsed, _)) => (
                contains(&decision, &case.expect),
                format!("{decision} ({:.1} ms)", elapsed.as_secs_f64() * 1000.0),
            ),
            Err(e) => (false, format!("error: {e}")),
        };
        if ok {
            passed += 1;
            println!("ok    {}: {shown}", case.name);
        } else {
            failed += 1;
            println!(
                "FAIL  {}\n      expected: {}\n      got:      {shown}",
                case.name, case.expect
            );
        }
    }
    println!("{passed} passed, {failed} failed ({})", wasm.display());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether `actual` has everything `expected` has: objects by the keys
/// written, arrays element by element and of the same length, the rest
/// equal.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|got| contains(got, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(got, v)| contains(got, v))
        }
        _ => actual == expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_keys_written_are_compared() {
        let hold = json!({"hold": {"reason": "no `to` parameter"}});
        assert!(contains(&hold, &json!({"hold": {}})));
        assert!(!contains(&hold, &json!({"deliver": []})));
        let sent = json!({"deliver": [{"to": "bob", "name": "a.csv"}]});
        assert!(contains(&sent, &json!({"deliver": [{"to": "bob"}]})));
        assert!(!contains(&sent, &json!({"deliver": [{"to": "carol"}]})));
        assert!(!contains(&sent, &json!({"deliver": []})));
        assert!(contains(
            &json!({"verdict": "reject", "reasons": ["x"]}),
            &json!({"verdict": "reject"})
        ));
    }
}
