//! Tenants made portable, for the settings the nodes of a cluster share
//! (`crate::settings` keeps them in the journal): a tenant read from a
//! file, checked as `load` checks it, and written out as one document that
//! names its files in a fixed layout beside it, with those files' bytes.
//!
//! The layout, the same for a node's copy of the shared tenants and for
//! `ferry tenants export`:
//!
//! ```text
//! TENANT.toml                      the tenant, as a file of a tenants_dir
//! plugins/SHA256.wasm              its plugin components, by SHA-256
//! secrets/TENANT/DOTTED.KEY        its token, passwords and keys
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml_edit::{DocumentMut, TableLike};

use super::*;

/// A tenant ready to be shared.
#[derive(Debug)]
pub struct Portable {
    pub name: String,
    /// The tenant's TOML as a file of the layout: its file references are
    /// `plugins/...` and `secrets/...`.
    pub document: String,
    /// The files the document names, with their bytes.
    pub files: Vec<Carried>,
}

/// One file a portable tenant names.
#[derive(Debug)]
pub struct Carried {
    /// Where the document names it, relative to the document's directory.
    pub path: String,
    pub kind: CarriedKind,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarriedKind {
    /// A plugin component: `plugins/SHA256.wasm`, not secret.
    Plugin,
    /// A token, password or key: `secrets/TENANT/KEY`, sealed when shared.
    Secret,
}

/// A server file's tenants, its other sections left aside.
#[derive(Deserialize)]
struct TenantsOf {
    #[serde(default)]
    tenants: BTreeMap<String, Spanned<TenantSection>>,
}

/// The tenants of `file`, checked as `load` checks them (with the node's
/// `data_dir`), and made portable. `file` is either a tenant's own file
/// (`TENANT.toml` of a tenants_dir: one tenant, named by the file) or a
/// server file, whose `[tenants.NAME]` sections are taken and whose other
/// sections are ignored. Problems are located in `file`.
pub fn portable_tenants(file: &Path, data_dir: &Path) -> Result<Vec<Portable>, ConfigError> {
    let source = read(file)?;
    let doc: DocumentMut = source.text.parse().map_err(|e: toml_edit::TomlError| {
        ConfigError::Invalid(vec![source.problem(e.span(), "", e.message().to_owned())])
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    let mut found = Vec::new();
    if doc.contains_key("tenants") {
        let sections: TenantsOf = parse(&source)?;
        for (name, section) in sections.tenants {
            let key = format!("tenants.{name}");
            if tenant(&source, &key, &name, section, data_dir, &mut problems).is_some() {
                let table = doc["tenants"][name.as_str()]
                    .as_table_like()
                    .expect("a tenant that parsed is a table");
                let mut own = DocumentMut::new();
                for (k, v) in table.iter() {
                    // With the key's own decoration: the comment above it.
                    match table.key(k) {
                        Some(key) => own.insert_formatted(key, v.clone()),
                        None => own.insert(k, v.clone()),
                    };
                }
                found.push((name, own));
            }
        }
    } else {
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let section: Spanned<TenantSection> = parse(&source)?;
        if tenant(&source, "", &name, section, data_dir, &mut problems).is_some() {
            found.push((name, doc));
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    found
        .into_iter()
        .map(|(name, doc)| carry(&source, base, name, doc))
        .collect()
}

/// Rewrites the file references of tenant `name`'s document to the layout
/// and takes the files' bytes. Files were checked by `tenant` just before;
/// one that changed in between is reported as unreadable.
fn carry(
    source: &Source,
    base: &Path,
    name: String,
    mut doc: DocumentMut,
) -> Result<Portable, ConfigError> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let mut take = |key: &str, value: &str, kind: CarriedKind| -> Option<String> {
        let from = absolute(&base.join(value));
        let bytes = match std::fs::read(&from) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(source.problem(
                    None,
                    key,
                    format!("cannot read {}: {e}", from.display()),
                ));
                return None;
            }
        };
        let path = match kind {
            CarriedKind::Plugin => format!("plugins/{}.wasm", hex::encode(Sha256::digest(&bytes))),
            CarriedKind::Secret => format!("secrets/{name}/{key}"),
        };
        if !files.iter().any(|f: &Carried| f.path == path) {
            files.push(Carried {
                path: path.clone(),
                kind,
                bytes,
            });
        }
        Some(path)
    };
    let root = doc.as_table_mut();
    rewrite(
        root,
        "",
        &["api_token_file"],
        CarriedKind::Secret,
        &mut take,
    );
    if let Some(partners) = root.get_mut("partners").and_then(|p| p.as_table_like_mut()) {
        for (partner, section) in partners.iter_mut() {
            let Some(section) = section.as_table_like_mut() else {
                continue;
            };
            let at = format!("partners.{partner}");
            rewrite(
                section,
                &at,
                &["validator", "router", "acknowledger"],
                CarriedKind::Plugin,
                &mut take,
            );
            if let Some(connector) = section
                .get_mut("connector")
                .and_then(|c| c.as_table_like_mut())
            {
                let at = format!("{at}.connector");
                rewrite(
                    connector,
                    &at,
                    &["password_file", "key_file", "tls_ca_file"],
                    CarriedKind::Secret,
                    &mut take,
                );
                // A local connector's directory is each node's own: kept
                // as the absolute path it names from the original file.
                if let Some(path) = connector.get_mut("path")
                    && let Some(value) = path.as_str()
                {
                    let absolute = absolute(&base.join(value));
                    *path = toml_edit::value(absolute.to_string_lossy().into_owned());
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Portable {
        name,
        document: doc.to_string(),
        files,
    })
}

/// Replaces each string value of `keys` in `table` by what `take` makes of
/// it (the file's place in the layout), keeping its comments.
fn rewrite(
    table: &mut dyn TableLike,
    at: &str,
    keys: &[&str],
    kind: CarriedKind,
    take: &mut impl FnMut(&str, &str, CarriedKind) -> Option<String>,
) {
    for key in keys {
        let Some(item) = table.get_mut(key) else {
            continue;
        };
        let Some(value) = item.as_str() else {
            continue;
        };
        let dotted = join_key(at, key);
        if let Some(path) = take(&dotted, value, kind) {
            let decor = item.as_value().map(|v| v.decor().clone());
            *item = toml_edit::value(path);
            if let (Some(decor), Some(value)) = (decor, item.as_value_mut()) {
                *value.decor_mut() = decor;
            }
        }
    }
}

/// Where a tenant's copy lives in the layout rooted at `dir`.
pub fn document_path(dir: &Path, tenant: &str) -> PathBuf {
    dir.join(format!("{tenant}.toml"))
}

/// The SHA-256s of the plugin components a tenant's document names in the
/// layout (`plugins/SHA256.wasm`); a document that does not parse names none.
pub fn plugin_references(document: &str) -> Vec<String> {
    let Ok(doc) = document.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let partners = doc.get("partners").and_then(|p| p.as_table_like());
    for (_, section) in partners.into_iter().flat_map(|p| p.iter()) {
        let Some(section) = section.as_table_like() else {
            continue;
        };
        for role in ["validator", "router", "acknowledger"] {
            if let Some(sha) = section
                .get(role)
                .and_then(|v| v.as_str())
                .and_then(|v| v.strip_prefix("plugins/"))
                .and_then(|v| v.strip_suffix(".wasm"))
                .filter(|sha| sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                found.push(sha.to_owned());
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_references_are_found_by_their_layout() {
        let sha = "a".repeat(64);
        let doc = format!(
            "[partners.a]\nvalidator = \"plugins/{sha}.wasm\"\nrouter = \"plugins/{sha}.wasm\"\n\
             [partners.b]\nvalidator = \"plugins/zz.wasm\"\nparams = {{ x = \"plugins/{sha}.wasm\" }}\n"
        );
        assert_eq!(plugin_references(&doc), vec![sha]);
    }
}
