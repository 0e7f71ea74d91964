//! Changes the admin API makes to the configuration files: one account of
//! one partner, written into the file that defines its tenant, with
//! everything else in it (comments, order, layout) as it was. The caller
//! reloads; when the result does not load, [`Edit::undo`] puts the old text
//! back, so a bad change never outlives its request.

use std::io;
use std::path::{Path, PathBuf};

use toml_edit::{ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::Config;

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    NotFound(String),
    /// The file says it in a way this editor does not rewrite (a partner
    /// as an inline table, say); the operator edits it by hand.
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot read or write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} does not parse any more: {why}", path.display())]
    Parse { path: PathBuf, why: String },
}

/// What to do with one account.
#[derive(Debug, Clone)]
pub enum AccountChange {
    /// Create it, or change the given fields of the one there.
    Set {
        password_hash: Option<String>,
        ssh_keys: Option<Vec<String>>,
        /// The SHA-256 of a new bearer token (replacing the one there).
        token_sha256: Option<String>,
    },
    Remove,
}

/// A change written to a file, with the text it replaced.
#[derive(Debug)]
pub struct Edit {
    pub path: PathBuf,
    /// `None`: the change created the file.
    before: Option<String>,
}

impl Edit {
    /// Puts the file back as it was (or removes the one it created).
    pub fn undo(&self) -> Result<(), EditError> {
        match &self.before {
            Some(text) => write(&self.path, text),
            None => std::fs::remove_file(&self.path).map_err(|source| EditError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// `tenants_dir/NAME.toml`, for a tenant the API may write: refused for
/// a tenant defined in the server file, or without a tenants directory.
fn tenant_file(config: &Config, tenant: &str) -> Result<PathBuf, EditError> {
    // A node of a cluster writes into its copy of the shared tenants; the
    // caller then shares the change (`crate::settings::publish`).
    let Some(dir) = config
        .shared_tenants
        .as_ref()
        .or(config.tenants_dir.as_ref())
    else {
        return Err(EditError::Unsupported(
            "the configuration has no `server.tenants_dir` to write tenants into".into(),
        ));
    };
    if !super::valid_name(tenant) {
        return Err(EditError::Unsupported(format!(
            "`{tenant}` is not a valid tenant name"
        )));
    }
    let path = dir.join(format!("{tenant}.toml"));
    if let Some(t) = config.tenants.get(tenant)
        && t.source != path
    {
        return Err(EditError::Unsupported(format!(
            "tenant `{tenant}` is defined in {}; change it there",
            t.source.display()
        )));
    }
    Ok(path)
}

/// Writes `text` as tenant `tenant`'s file in the tenants directory,
/// creating or replacing it. It must parse as TOML; the reload checks the rest.
pub fn write_tenant(config: &Config, tenant: &str, text: &str) -> Result<Edit, EditError> {
    let path = tenant_file(config, tenant)?;
    text.parse::<DocumentMut>().map_err(|e| EditError::Parse {
        path: path.clone(),
        why: e.to_string(),
    })?;
    let before = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => return Err(EditError::Io { path, source }),
    };
    write(&path, text)?;
    Ok(Edit { path, before })
}

/// Removes tenant `tenant`'s file from the tenants directory.
pub fn remove_tenant(config: &Config, tenant: &str) -> Result<Edit, EditError> {
    let path = tenant_file(config, tenant)?;
    let io = |source| EditError::Io {
        path: path.clone(),
        source,
    };
    let before = std::fs::read_to_string(&path).map_err(io)?;
    std::fs::remove_file(&path).map_err(io)?;
    Ok(Edit {
        path,
        before: Some(before),
    })
}

/// Applies `change` to account `login` of `partner` of `tenant`, in the
/// file that defines the tenant.
pub fn edit_account(
    config: &Config,
    tenant: &str,
    partner: &str,
    login: &str,
    change: &AccountChange,
) -> Result<Edit, EditError> {
    let t = config
        .tenants
        .get(tenant)
        .ok_or_else(|| EditError::NotFound(format!("no tenant `{tenant}`")))?;
    if !t.partners.contains_key(partner) {
        return Err(EditError::NotFound(format!(
            "no partner `{partner}` in this tenant"
        )));
    }
    let path = t.source.clone();
    let before = std::fs::read_to_string(&path).map_err(|source| EditError::Io {
        path: path.clone(),
        source,
    })?;
    let mut doc: DocumentMut =
        before
            .parse()
            .map_err(|e: toml_edit::TomlError| EditError::Parse {
                path: path.clone(),
                why: e.to_string(),
            })?;
    // Inline tenants live under `tenants.NAME` of the server file; a file
    // of the tenants directory is the tenant's table itself.
    let inline = doc
        .get("tenants")
        .and_then(|tenants| tenants.get(tenant))
        .is_some();
    let mut root = doc.as_table_mut();
    if inline {
        let tenants = table(root, "tenants", "tenants")?;
        root = table(tenants, tenant, &format!("tenants.{tenant}"))?;
    }
    let partners = table(root, "partners", "partners")?;
    let section = table(partners, partner, &format!("partners.{partner}"))?;
    let found = accounts(section, partner, login, change)?;
    if !found && matches!(change, AccountChange::Remove) {
        return Err(EditError::NotFound(format!(
            "partner `{partner}` has no account `{login}`"
        )));
    }
    write(&path, &doc.to_string())?;
    Ok(Edit {
        path,
        before: Some(before),
    })
}

/// The standard table `key` of `parent`.
fn table<'a>(parent: &'a mut Table, key: &str, what: &str) -> Result<&'a mut Table, EditError> {
    match parent.get_mut(key) {
        Some(Item::Table(table)) => Ok(table),
        Some(_) => Err(EditError::Unsupported(format!(
            "`{what}` is not written as a [table]; change it in the file"
        ))),
        None => Err(EditError::NotFound(format!("no `{what}` in the file"))),
    }
}

/// Changes the account of `login` among the partner's accounts, or adds
/// one; returns whether one was there.
fn accounts(
    section: &mut Table,
    partner: &str,
    login: &str,
    change: &AccountChange,
) -> Result<bool, EditError> {
    let is_login = |value: Option<&Value>| value.and_then(Value::as_str) == Some(login);
    match section.get_mut("accounts") {
        Some(Item::ArrayOfTables(list)) => {
            let at = list
                .iter()
                .position(|t| is_login(t.get("login").and_then(Item::as_value)));
            match (at, change) {
                (Some(i), AccountChange::Remove) => {
                    list.remove(i);
                }
                (Some(i), AccountChange::Set { .. }) => {
                    let table = list.get_mut(i).expect("found above");
                    set_fields(|k, v| table[k] = Item::Value(v), change);
                }
                (None, AccountChange::Remove) => return Ok(false),
                (None, AccountChange::Set { .. }) => list.push(new_account(login, change)),
            }
            Ok(at.is_some())
        }
        Some(Item::Value(Value::Array(list))) => {
            let at = list
                .iter()
                .position(|v| is_login(v.as_inline_table().and_then(|t| t.get("login"))));
            match (at, change) {
                (Some(i), AccountChange::Remove) => {
                    list.remove(i);
                }
                (Some(i), AccountChange::Set { .. }) => {
                    if let Some(table) = list.get_mut(i).and_then(Value::as_inline_table_mut) {
                        set_fields(|k, v| _ = table.insert(k, v), change);
                    }
                }
                (None, AccountChange::Remove) => return Ok(false),
                (None, AccountChange::Set { .. }) => {
                    let mut table = InlineTable::new();
                    table.insert("login", login.into());
                    set_fields(|k, v| _ = table.insert(k, v), change);
                    list.push(table);
                }
            }
            Ok(at.is_some())
        }
        Some(_) => Err(EditError::Unsupported(format!(
            "the accounts of `{partner}` are not a list; change them in the file"
        ))),
        None => {
            if let AccountChange::Remove = change {
                return Ok(false);
            }
            let mut list = ArrayOfTables::new();
            list.push(new_account(login, change));
            section.insert("accounts", Item::ArrayOfTables(list));
            Ok(false)
        }
    }
}

fn new_account(login: &str, change: &AccountChange) -> Table {
    let mut table = Table::new();
    table["login"] = toml_edit::value(login);
    set_fields(|k, v| table[k] = Item::Value(v), change);
    table
}

fn set_fields(mut set: impl FnMut(&str, Value), change: &AccountChange) {
    let AccountChange::Set {
        password_hash,
        ssh_keys,
        token_sha256,
    } = change
    else {
        return;
    };
    if let Some(token) = token_sha256 {
        set("token_sha256", token.as_str().into());
    }
    if let Some(hash) = password_hash {
        set("password_hash", hash.as_str().into());
    }
    if let Some(keys) = ssh_keys {
        set("ssh_keys", keys.iter().map(String::as_str).collect());
    }
}

/// Replaces the file whole (a temporary file renamed over it), so that a
/// reload never reads half of it.
fn write(path: &Path, text: &str) -> Result<(), EditError> {
    let io = |source| EditError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("toml.edit");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tenant of the tenants directory, its accounts an inline array: an
    /// account is added and removed, the comment stays, the result loads.
    #[test]
    fn an_account_goes_into_a_tenant_file_and_out_again() {
        let dir = tempfile::tempdir().unwrap();
        let server = dir.path().join("ferry.toml");
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
        std::fs::write(
            &server,
            "[server]\ndata_dir = \"data\"\ntenants_dir = \"tenants\"\n",
        )
        .unwrap();
        let hash = crate::config::hash_password("globex-pass").unwrap();
        let file = dir.path().join("tenants/globex.toml");
        std::fs::write(
            &file,
            format!(
                "# globex's partners\n[partners.alice]\naccounts = [{{ login = \"alice\", password_hash = \"{hash}\" }}]\n"
            ),
        )
        .unwrap();
        let config = crate::config::load(&server).unwrap();
        let set = AccountChange::Set {
            password_hash: Some(hash.clone()),
            ssh_keys: None,
            token_sha256: None,
        };
        let edit = edit_account(&config, "globex", "alice", "alice2", &set).unwrap();
        assert_eq!(edit.path, file);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# globex's partners\n"), "{text}");
        let config = crate::config::load(&server).unwrap();
        let globex = &config.tenants["globex"];
        assert!(globex.account("alice2").is_some() && globex.account("alice").is_some());

        edit_account(&config, "globex", "alice", "alice", &AccountChange::Remove).unwrap();
        let config = crate::config::load(&server).unwrap();
        assert!(config.tenants["globex"].account("alice").is_none());
        let missing = edit_account(&config, "globex", "alice", "alice", &AccountChange::Remove);
        assert!(
            matches!(missing, Err(EditError::NotFound(_))),
            "{missing:?}"
        );
        edit.undo().unwrap();
        assert!(!std::fs::read_to_string(&file).unwrap().contains("alice2"));
    }
}
