//! Values found in the configuration, checked one at a time: names, sizes,
//! paths, password hashes, SSH keys, templates, secrets and tokens.

use super::*;

/// Parses `1234`, `64KiB`, `512MiB`, `10GiB`, `2TiB` (also KB/MB/GB/TB as powers of 1000).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// An argon2id PHC string for `password`, for `password_hash` (the
/// `hash-password` command and account changes through the admin API).
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher as _;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Names of tenants, partners and logins: they become parts of log lines,
/// metrics labels and (for tenants) directory names, so keep them plain.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

pub(super) fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 64
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && login.as_bytes()[0].is_ascii_alphanumeric()
}

pub(super) const NAME_RULE: &str =
    "expected 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter or digit";

/// `a/b/../../c` as `c`, without touching the file system, so that logs
/// and messages show the directory an operator would name.
pub(super) fn lexical_clean(path: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(clean.components().next_back(), Some(Component::Normal(_))) =>
            {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    if clean.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        clean
    }
}

/// A bearer token: a [`secret`] of at least 16 characters.
pub(super) fn token(
    source: &Source,
    key: &str,
    file: (&str, &Option<Spanned<String>>),
    env: (&str, &Option<Spanned<String>>),
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<Secret> {
    let token = secret(source, key, file, env, what, problems)?;
    if token.expose().len() >= 16 {
        return Some(token);
    }
    let (given_key, given) = if file.1.is_some() { file } else { env };
    problems.push(source.problem(
        given.as_ref().map(Spanned::span),
        &join_key(key, given_key),
        "the token is shorter than 16 characters; make one with `openssl rand -hex 32`".to_owned(),
    ));
    None
}

/// A secret given by a file (`file_key`, relative to the file it is named
/// in, a trailing newline dropped) or an environment variable (`env_key`),
/// at most one of them. `None` when neither is given or it cannot be read
/// (then with a problem that names the key, never the secret).
pub(super) fn secret(
    source: &Source,
    key: &str,
    (file_key, file): (&str, &Option<Spanned<String>>),
    (env_key, env): (&str, &Option<Spanned<String>>),
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<Secret> {
    if file.is_some() && env.is_some() {
        problems.push(source.problem(
            env.as_ref().map(Spanned::span),
            &join_key(key, env_key),
            format!("give {what} in one place: `{file_key}` or `{env_key}`, not both"),
        ));
        return None;
    }
    if let Some(path) = file {
        let base = source.path.parent().unwrap_or(Path::new("."));
        let resolved = absolute(&base.join(path.get_ref()));
        return match std::fs::read_to_string(&resolved) {
            // A trailing newline is an editor's, not the secret's.
            Ok(text) => Some(Secret::new(text.trim_end_matches(['\n', '\r']).to_owned())),
            Err(e) => {
                problems.push(source.problem(
                    Some(path.span()),
                    &join_key(key, file_key),
                    format!(
                        "cannot read {}: {e}; expected a file holding {what}",
                        resolved.display()
                    ),
                ));
                None
            }
        };
    }
    let var = env.as_ref()?;
    match std::env::var(var.get_ref()) {
        Ok(text) => Some(Secret::new(text)),
        Err(_) => {
            problems.push(source.problem(
                Some(var.span()),
                &join_key(key, env_key),
                format!(
                    "the environment variable `{}` is not set (or not UTF-8)",
                    var.get_ref()
                ),
            ));
            None
        }
    }
}

/// An absolute, lexically clean path (plugin paths are compared with the
/// paths file system events name).
pub(super) fn absolute(path: &Path) -> PathBuf {
    lexical_clean(&std::path::absolute(path).unwrap_or_else(|_| path.to_owned()))
}

/// A relative path with only normal components, or `None`.
pub(super) fn relative_inside(path: &str) -> Option<PathBuf> {
    let path = Path::new(path);
    let normal = path.components().all(|c| matches!(c, Component::Normal(_)));
    (normal && !path.as_os_str().is_empty() && !path.to_string_lossy().contains('\0'))
        .then(|| path.to_owned())
}

pub(super) fn valid_password_hash(hash: &str) -> bool {
    argon2::password_hash::phc::PasswordHash::new(hash)
        .is_ok_and(|h| matches!(h.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d"))
}

pub(super) fn check_ssh_key(line: &str) -> Result<(), String> {
    use base64::Engine as _;
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    let mut parts = line.split_whitespace();
    let kind = parts.next().ok_or("empty key")?;
    if !TYPES.contains(&kind) {
        return Err(format!("unknown key type `{kind}`"));
    }
    let blob = parts.next().ok_or("the key has no base64 body")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| "the key body is not base64".to_owned())?;
    // The blob starts with its own type name: a cheap check that it is whole.
    let named = bytes
        .get(4..4 + kind.len())
        .is_some_and(|name| name == kind.as_bytes());
    if !named {
        return Err("the key body does not match its type".to_owned());
    }
    Ok(())
}

pub(super) fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{template}`"))?;
        let placeholder = &after[..close];
        if !matches!(placeholder, "name" | "stem" | "ext") {
            return Err(format!(
                "unknown placeholder `{{{placeholder}}}` in `{template}`, expected `{{name}}`, `{{stem}}` or `{{ext}}`"
            ));
        }
        rest = &after[close + 1..];
    }
    if template.contains('/') || template.contains('\0') || template.is_empty() {
        return Err(format!(
            "`{template}` must be a plain file name, without `/`"
        ));
    }
    Ok(())
}
