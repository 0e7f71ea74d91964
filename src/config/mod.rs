//! Configuration: the only module that knows TOML.
//!
//! `load` reads the server file and every tenant file, and either returns a
//! fully validated [`Config`] or every problem it found, each with its file,
//! line, column and dotted key. Nothing else in ferry parses configuration,
//! so a reload is just `load` again followed by a swap.

mod backends;
mod connector;
pub mod edit;
mod error;
mod model;
mod raw;
pub mod shared;
mod tenant;
mod transforms;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use toml::Spanned;

pub use error::{ConfigError, Problem};
pub use model::{
    Account, Admin, Checkpoints, Completion, Config, Connector, ConnectorProtocol, Disposition,
    FtpOptions, IpNet, JournalBackend, Limits, Listener, Partner, Protocol, Pull, Push, Route,
    S3Backend, Schedule, Secret, Stable, StoreBackend, Tenant, UsageLimits, WorkerPriority,
};

use error::Source;
use raw::{PartnerSection, ServerFile, TenantSection};
use tenant::*;
pub use transforms::Transforms;
use values::*;
pub use values::{hash_password, parse_size, valid_name};

/// Whether two configurations hold the same secrets (tokens, connector
/// passwords). Secrets live in files and variables outside the
/// configuration's text, so its digest cannot tell that one was rotated.
pub fn same_secrets(a: &Config, b: &Config) -> bool {
    fn secrets(config: &Config) -> Vec<Option<&Secret>> {
        let mut all = vec![config.admin.as_ref().map(|a| &a.token)];
        for tenant in config.tenants.values() {
            all.push(tenant.api_token.as_ref());
            for partner in tenant.partners.values() {
                all.push(partner.connector.as_ref().and_then(|c| c.password.as_ref()));
            }
        }
        all
    }
    secrets(a) == secrets(b)
}

/// Reads and validates the configuration rooted at the server file `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_reading_shared(path, None)
}

/// `load`, with the shared tenants read from `shared` instead of the
/// node's copy: what a node would make of the shared tenants laid out
/// there (`ferry tenants import` checks an import with it before it
/// stands). The `Config` still names the node's copy.
pub fn load_reading_shared(path: &Path, shared: Option<&Path>) -> Result<Config, ConfigError> {
    let server_source = read(path)?;
    let server: ServerFile = parse(&server_source)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut problems = Vec::new();
    let mut digest = Sha256::new();
    digest.update(server_source.text.as_bytes());

    let data_dir = lexical_clean(&base.join(server.server.data_dir.get_ref()));
    let node = match &server.server.node {
        Some(node) if is_node_name(node.get_ref()) => node.get_ref().clone(),
        Some(node) => {
            problems.push(server_source.problem(
                Some(node.span()),
                "server.node",
                format!(
                    "`{}` is not a node name: 1 to 64 letters, digits, `-`, `_` or `.`",
                    node.get_ref()
                ),
            ));
            String::new()
        }
        None => rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
    };
    let secrets_key = values::secret(
        &server_source,
        "server",
        ("secrets_key_file", &server.server.secrets_key_file),
        ("secrets_key_env", &server.server.secrets_key_env),
        "the secrets key",
        &mut problems,
    )
    .filter(|key| {
        let fine = key.expose().len() == 64 && key.expose().bytes().all(|b| b.is_ascii_hexdigit());
        if !fine {
            let given = server.server.secrets_key_file.as_ref().or(server.server.secrets_key_env.as_ref());
            let which = if server.server.secrets_key_file.is_some() { "secrets_key_file" } else { "secrets_key_env" };
            problems.push(server_source.problem(
                given.map(Spanned::span),
                &format!("server.{which}"),
                "the secrets key must be 64 hex digits (32 bytes); make one with `openssl rand -hex 32`"
                    .to_owned(),
            ));
        }
        fine
    });
    let journal =
        match &server.server.journal {
            None => JournalBackend::Sqlite,
            Some(url)
                if url.get_ref().starts_with("postgres://")
                    || url.get_ref().starts_with("postgresql://") =>
            {
                if secrets_key.is_none()
                    && server.server.secrets_key_file.is_none()
                    && server.server.secrets_key_env.is_none()
                {
                    problems.push(server_source.problem(
                    Some(url.span()),
                    "server.journal",
                    "the nodes of a PostgreSQL journal share their host keys and certificate, \
                     sealed: give the key with `secrets_key_file` or `secrets_key_env` (64 hex \
                     digits, `openssl rand -hex 32`; the same on every node)"
                        .to_owned(),
                ));
                }
                JournalBackend::Postgres(Secret::new(url.get_ref().clone()))
            }
            Some(url) => {
                problems.push(
                    server_source.problem(
                        Some(url.span()),
                        "server.journal",
                        "expected a PostgreSQL URL, `postgres://USER@HOST:PORT/DATABASE` (leave \
                 `journal` out for the embedded SQLite journal in `data_dir`)"
                            .to_owned(),
                    ),
                );
                JournalBackend::Sqlite
            }
        };

    let store = backends::store(
        &server_source,
        &server.server.store,
        &server.store,
        &mut problems,
    );

    // Tenant sections, inline ones first, then one file per tenant.
    let mut tenant_sections: Vec<(String, Spanned<TenantSection>, usize)> = Vec::new();
    let mut sources = vec![server_source];
    for (name, section) in server.tenants {
        tenant_sections.push((name, section, 0));
    }
    if let Some(dir) = &server.server.tenants_dir {
        let dir_path = base.join(dir.get_ref());
        let files = tenant_files(&dir_path).map_err(|e| {
            ConfigError::Invalid(vec![sources[0].problem(
                Some(dir.span()),
                "server.tenants_dir",
                format!(
                    "cannot read the directory {}: {e}; expected a directory of TENANT.toml files",
                    dir_path.display()
                ),
            )])
        })?;
        for file in files {
            read_tenant_file(&file, &mut digest, &mut sources, &mut tenant_sections)?;
        }
    }
    // A node of a cluster also serves the tenants the nodes share, from
    // its copy of them (`crate::settings` keeps it).
    let shared_tenants = matches!(journal, JournalBackend::Postgres(_))
        .then(|| data_dir.join("shared").join("tenants"));
    let read_from = shared_tenants
        .as_deref()
        .map(|copy| shared.unwrap_or(copy).to_owned());
    if let Some(dir) = read_from.as_ref().filter(|dir| dir.is_dir()) {
        let files = tenant_files(dir).map_err(|source| ConfigError::Read {
            path: dir.clone(),
            source,
        })?;
        for file in files {
            read_tenant_file(&file, &mut digest, &mut sources, &mut tenant_sections)?;
        }
    }

    let limits = limits(&sources[0], &server.limits, &mut problems);
    let checkpoints = checkpoints(&sources[0], server.journal.as_ref(), &mut problems);
    let mut tenants = BTreeMap::new();
    let mut roots: HashMap<PathBuf, String> = HashMap::new();
    for (name, section, source_index) in tenant_sections {
        let source = &sources[source_index];
        let key = if source_index == 0 {
            format!("tenants.{name}")
        } else {
            String::new()
        };
        if tenants.contains_key(&name) {
            problems.push(source.problem(
                Some(section.span()),
                &format!("tenants.{name}"),
                format!("tenant `{name}` is defined more than once (inline, in tenants_dir or among the shared tenants)"),
            ));
            continue;
        }
        let section_span = section.span();
        let token_span = {
            let s = section.get_ref();
            s.api_token_file
                .as_ref()
                .or(s.api_token_env.as_ref())
                .map(Spanned::span)
        };
        if let Some(tenant) = tenant(source, &key, &name, section, &data_dir, &mut problems) {
            // A token names whom it reaches: two holders of one would be one.
            if let Some(token) = &tenant.api_token
                && let Some(other) = tenants
                    .values()
                    .find(|t: &&Tenant| t.api_token.as_ref() == Some(token))
            {
                problems.push(source.problem(
                    token_span.clone(),
                    &join_key(&key, "api_token_file"),
                    format!(
                        "tenant `{name}` has the same API token as tenant `{}`; each needs its own",
                        other.name
                    ),
                ));
            }
            let overlap = roots
                .iter()
                .find(|(root, _)| root.starts_with(&tenant.root) || tenant.root.starts_with(root));
            if let Some((_, other)) = overlap {
                problems.push(source.problem(
                    Some(section_span),
                    &join_key(&key, "root"),
                    format!(
                        "storage root {} overlaps the root of tenant `{other}`; each tenant needs its own",
                        tenant.root.display()
                    ),
                ));
            }
            roots.insert(tenant.root.clone(), name.clone());
            tenants.insert(name, tenant);
        }
    }

    let mut listeners = Vec::new();
    for (i, listener) in server.listeners.iter().enumerate() {
        let key = format!("listeners[{i}]");
        let source = &sources[0];
        let listener = listener.get_ref();
        let protocol = match listener.protocol.get_ref().as_str() {
            "sftp" => Some(Protocol::Sftp),
            "ftp" => Some(Protocol::Ftp),
            "ftps" => Some(Protocol::Ftps),
            "https" => Some(Protocol::Https),
            other => {
                problems.push(source.problem(
                    Some(listener.protocol.span()),
                    &format!("{key}.protocol"),
                    format!(
                        "unknown protocol `{other}`, expected `sftp`, `ftp`, `ftps` or `https`"
                    ),
                ));
                None
            }
        };
        let address = match listener.address.get_ref().parse::<SocketAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                problems.push(source.problem(
                    Some(listener.address.span()),
                    &format!("{key}.address"),
                    format!(
                        "`{}` is not a socket address, expected IP:PORT such as 127.0.0.1:2222",
                        listener.address.get_ref()
                    ),
                ));
                None
            }
        };
        // A node of a cluster may serve a tenant not shared yet: its
        // listener refuses logins until `ferry tenants import` brings it.
        if let Some(tenant) = &listener.tenant
            && !tenants.contains_key(tenant.get_ref())
            && shared_tenants.is_none()
        {
            problems.push(source.problem(
                Some(tenant.span()),
                &format!("{key}.tenant"),
                format!("no tenant named `{}`", tenant.get_ref()),
            ));
        }
        if let (Some(protocol), Some(address)) = (protocol, address) {
            if listeners.iter().any(|l: &Listener| l.address == address) {
                problems.push(source.problem(
                    Some(listener.address.span()),
                    &format!("{key}.address"),
                    format!("address {address} is used by another listener"),
                ));
            }
            let ftp = ftp_options(source, &key, protocol, listener, base, &mut problems);
            listeners.push(Listener {
                protocol,
                address,
                tenant: listener.tenant.as_ref().map(|t| t.get_ref().clone()),
                ftp,
            });
        }
    }

    let admin = server
        .admin
        .as_ref()
        .and_then(|section| admin(&sources[0], section, &listeners, &mut problems));
    if let (Some(admin), Some(section)) = (&admin, &server.admin)
        && let Some(tenant) = tenants
            .values()
            .find(|t| t.api_token.as_ref() == Some(&admin.token))
    {
        let section = section.get_ref();
        problems.push(sources[0].problem(
            section.token_file.as_ref().or(section.token_env.as_ref()).map(Spanned::span),
            "admin.token_file",
            format!(
                "the operator's token is tenant `{}`'s API token too; the operator's must be its own",
                tenant.name
            ),
        ));
    }

    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Config {
        sources: sources.into_iter().map(|s| s.path).collect(),
        digest: hex::encode(digest.finalize()),
        data_dir,
        journal,
        store,
        node,
        secrets_key,
        tenants_dir: server
            .server
            .tenants_dir
            .as_ref()
            .map(|dir| lexical_clean(&base.join(dir.get_ref()))),
        shared_tenants,
        limits,
        listeners,
        tenants,
        admin,
        checkpoints,
    })
}

/// `[journal]`: checkpoint_every (an interval of at least 1s) and
/// checkpoint_events (at least 1).
fn checkpoints(
    source: &Source,
    section: Option<&raw::JournalSection>,
    problems: &mut Vec<Problem>,
) -> model::Checkpoints {
    let mut out = model::Checkpoints::default();
    let Some(section) = section else {
        return out;
    };
    if let Some(text) = &section.checkpoint_every {
        match humantime::parse_duration(text.get_ref()) {
            Ok(d) if d >= std::time::Duration::from_secs(1) => out.every = d,
            _ => problems.push(source.problem(
                Some(text.span()),
                "journal.checkpoint_every",
                format!(
                    "`{}` is not an interval of at least 1s, expected e.g. `10m` or `1h`",
                    text.get_ref()
                ),
            )),
        }
    }
    if let Some(events) = &section.checkpoint_events {
        if *events.get_ref() == 0 {
            problems.push(source.problem(
                Some(events.span()),
                "journal.checkpoint_events",
                "must be at least 1".to_owned(),
            ));
        } else {
            out.events = *events.get_ref();
        }
    }
    out
}

/// Reads one tenant's file (`TENANT.toml` of a tenants directory) into the
/// sections `load` checks.
fn read_tenant_file(
    file: &Path,
    digest: &mut Sha256,
    sources: &mut Vec<Source>,
    sections: &mut Vec<(String, Spanned<TenantSection>, usize)>,
) -> Result<(), ConfigError> {
    let source = read(file)?;
    digest.update(source.text.as_bytes());
    let section: Spanned<TenantSection> = parse(&source)?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    sources.push(source);
    sections.push((name, section, sources.len() - 1));
    Ok(())
}

/// The `[admin]` section: an address no protocol listener uses, and the
/// operator's token, which must be given.
fn admin(
    source: &Source,
    section: &Spanned<raw::AdminSection>,
    listeners: &[Listener],
    problems: &mut Vec<Problem>,
) -> Option<Admin> {
    let section_span = section.span();
    let section = section.get_ref();
    let address = match section.address.get_ref().parse::<SocketAddr>() {
        Ok(address) if listeners.iter().any(|l| l.address == address) => {
            problems.push(source.problem(
                Some(section.address.span()),
                "admin.address",
                format!("address {address} is used by a protocol listener"),
            ));
            None
        }
        Ok(address) => Some(address),
        Err(_) => {
            problems.push(source.problem(
                Some(section.address.span()),
                "admin.address",
                format!(
                    "`{}` is not a socket address, expected IP:PORT such as 127.0.0.1:8080",
                    section.address.get_ref()
                ),
            ));
            None
        }
    };
    if section.token_file.is_none() && section.token_env.is_none() {
        problems.push(source.problem(
            Some(section_span),
            "admin",
            "the admin API needs the operator's token: `token_file` or `token_env`".to_owned(),
        ));
        return None;
    }
    let token = token(
        source,
        "admin",
        ("token_file", &section.token_file),
        ("token_env", &section.token_env),
        "the operator's API token",
        problems,
    );
    Some(Admin {
        address: address?,
        token: token?,
    })
}

/// The FTP settings of a listener; on an SFTP listener they are refused.
fn ftp_options(
    source: &Source,
    key: &str,
    protocol: Protocol,
    listener: &raw::ListenerSection,
    base: &Path,
    problems: &mut Vec<Problem>,
) -> FtpOptions {
    let mut options = FtpOptions {
        active_mode: listener.active_mode.unwrap_or(false),
        ..FtpOptions::default()
    };
    if protocol == Protocol::Sftp {
        let given = [
            (
                "passive_ports",
                listener.passive_ports.as_ref().map(Spanned::span),
            ),
            (
                "passive_address",
                listener.passive_address.as_ref().map(Spanned::span),
            ),
            ("tls_cert", listener.tls_cert.as_ref().map(Spanned::span)),
            ("tls_key", listener.tls_key.as_ref().map(Spanned::span)),
        ];
        for (name, span) in given {
            if let Some(span) = span {
                problems.push(source.problem(
                    Some(span),
                    &format!("{key}.{name}"),
                    format!("`{name}` is an FTP setting; this listener serves SFTP"),
                ));
            }
        }
        return options;
    }
    if protocol == Protocol::Https {
        let given = [
            (
                "passive_ports",
                listener.passive_ports.as_ref().map(Spanned::span),
            ),
            (
                "passive_address",
                listener.passive_address.as_ref().map(Spanned::span),
            ),
        ];
        for (name, span) in given {
            if let Some(span) = span {
                problems.push(source.problem(
                    Some(span),
                    &format!("{key}.{name}"),
                    format!("`{name}` is an FTP setting; this listener serves HTTPS"),
                ));
            }
        }
        options.active_mode = false;
    }
    if let Some(ports) = &listener.passive_ports {
        let parsed = ports
            .get_ref()
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?)))
            .filter(|(a, b)| *a > 0 && a <= b);
        match parsed {
            Some(range) => options.passive_ports = Some(range),
            None => problems.push(source.problem(
                Some(ports.span()),
                &format!("{key}.passive_ports"),
                format!(
                    "`{}` is not a port range, expected FIRST-LAST such as 50000-50099",
                    ports.get_ref()
                ),
            )),
        }
    }
    if let Some(address) = &listener.passive_address {
        match address.get_ref().parse() {
            Ok(ip) => options.passive_address = Some(ip),
            Err(_) => problems.push(source.problem(
                Some(address.span()),
                &format!("{key}.passive_address"),
                format!(
                    "`{}` is not an IP address, expected one such as 203.0.113.7",
                    address.get_ref()
                ),
            )),
        }
    }
    match (&listener.tls_cert, &listener.tls_key) {
        (Some(cert), Some(key_file)) => {
            options.tls = Some((
                lexical_clean(&base.join(cert.get_ref())),
                lexical_clean(&base.join(key_file.get_ref())),
            ));
        }
        (None, None) => {}
        (Some(one), None) | (None, Some(one)) => problems.push(source.problem(
            Some(one.span()),
            &format!("{key}.tls_cert"),
            "`tls_cert` and `tls_key` go together: give both, or neither for a self-signed certificate"
                .to_owned(),
        )),
    }
    options
}

fn key_or(key: &str, fallback: &str) -> String {
    if key.is_empty() {
        fallback.to_owned()
    } else {
        key.to_owned()
    }
}

fn join_key(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_owned()
    } else {
        format!("{prefix}.{rest}")
    }
}

fn read(path: &Path) -> Result<Source, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(Source {
        path: path.to_owned(),
        text,
    })
}

fn tenant_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Deserializes one file, turning the first error into a located problem.
fn parse<T: DeserializeOwned>(source: &Source) -> Result<T, ConfigError> {
    let fail = |span, key: String, message: String| {
        ConfigError::Invalid(vec![source.problem(span, &key, message)])
    };
    let deserializer = toml::Deserializer::parse(&source.text).map_err(|e| {
        let key = e
            .span()
            .map(|span| key_at(&source.text, span.start))
            .unwrap_or_default();
        fail(e.span(), key, e.message().to_owned())
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = clean_path(&e.path().to_string());
        let inner = e.into_inner();
        let message = inner.message().to_owned();
        // serde names a missing key only in the message; the path stops at its table.
        let key = match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((field, _)) => join_key(&path, field),
            None => path,
        };
        fail(inner.span(), key, message)
    })
}

/// The dotted key at a byte offset, read from the text itself: for syntax
/// errors, which come before any key path exists.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    let header = |line: &str| {
        line.trim_start_matches('[')
            .trim_end_matches(']')
            .trim()
            .to_owned()
    };
    if line.starts_with('[') {
        return header(line);
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(header)
        .unwrap_or_default();
    match line.split_once('=') {
        Some((key, _)) => join_key(&table, key.trim()),
        None => table,
    }
}

/// Drops the private markers `Spanned` adds to serde paths.
fn clean_path(path: &str) -> String {
    let path = path
        .split('.')
        .filter(|part| !part.starts_with("$__serde_spanned") && *part != "?")
        .collect::<Vec<_>>()
        .join(".");
    if path == "." { String::new() } else { path }
}

fn limits(source: &Source, section: &raw::LimitsSection, problems: &mut Vec<Problem>) -> Limits {
    let mut limits = Limits::default();
    if let Some(workers) = &section.pipeline_workers {
        if (1..=64).contains(workers.get_ref()) {
            limits.pipeline_workers = *workers.get_ref();
        } else {
            problems.push(source.problem(
                Some(workers.span()),
                "limits.pipeline_workers",
                format!("{} is out of range, expected 1 to 64", workers.get_ref()),
            ));
        }
    }
    if let Some(attempts) = &section.max_attempts {
        if *attempts.get_ref() >= 1 {
            limits.max_attempts = *attempts.get_ref();
        } else {
            problems.push(source.problem(
                Some(attempts.span()),
                "limits.max_attempts",
                "0 is out of range, expected at least 1".to_owned(),
            ));
        }
    }
    if let Some(n) = &section.login_failures {
        if *n.get_ref() >= 1 {
            limits.login_failures = *n.get_ref();
        } else {
            problems.push(source.problem(
                Some(n.span()),
                "limits.login_failures",
                "0 is out of range, expected at least 1".to_owned(),
            ));
        }
    }
    if let Some(priority) = &section.pipeline_priority {
        match priority.get_ref().as_str() {
            "idle" => limits.pipeline_priority = WorkerPriority::Idle,
            "low" => limits.pipeline_priority = WorkerPriority::Low,
            "normal" => limits.pipeline_priority = WorkerPriority::Normal,
            other => problems.push(source.problem(
                Some(priority.span()),
                "limits.pipeline_priority",
                format!("`{other}` is not a priority, expected `idle`, `low` or `normal`"),
            )),
        }
    }
    let mut count =
        |value: &Option<Spanned<u32>>, name: &str, range: (u32, u32), into: &mut u32| {
            if let Some(n) = value {
                if (range.0..=range.1).contains(n.get_ref()) {
                    *into = *n.get_ref();
                } else {
                    problems.push(source.problem(
                        Some(n.span()),
                        &format!("limits.{name}"),
                        format!(
                            "{} is out of range, expected {} to {}",
                            n.get_ref(),
                            range.0,
                            range.1
                        ),
                    ));
                }
            }
        };
    count(
        &section.max_suspended,
        "max_suspended",
        (0, 100_000),
        &mut limits.max_suspended,
    );
    count(
        &section.max_startups,
        "max_startups",
        (1, 1_000_000),
        &mut limits.max_startups,
    );
    count(
        &section.max_startups_per_address,
        "max_startups_per_address",
        (1, 1_000_000),
        &mut limits.max_startups_per_address,
    );
    count(
        &section.max_open_handles,
        "max_open_handles",
        (1, 1_000_000),
        &mut limits.max_open_handles,
    );
    count(
        &section.file_threads,
        "file_threads",
        (1, 1024),
        &mut limits.file_threads,
    );
    let mut interval = |value: &Option<Spanned<String>>,
                        name: &str,
                        into: &mut std::time::Duration| {
        if let Some(text) = value {
            match humantime::parse_duration(text.get_ref()) {
                Ok(d) if d >= std::time::Duration::from_secs(1) => *into = d,
                _ => problems.push(source.problem(
                    Some(text.span()),
                    &format!("limits.{name}"),
                    format!(
                        "`{}` is not an interval of at least 1s, expected e.g. `90s`, `10m` or `24h`",
                        text.get_ref()
                    ),
                )),
            }
        }
    };
    interval(&section.resume_for, "resume_for", &mut limits.resume_for);
    interval(&section.task_lease, "task_lease", &mut limits.task_lease);
    interval(&section.login_grace, "login_grace", &mut limits.login_grace);
    interval(
        &section.idle_timeout,
        "idle_timeout",
        &mut limits.idle_timeout,
    );
    if let Some(seconds) = &section.ban_seconds {
        limits.ban = std::time::Duration::from_secs(*seconds.get_ref());
    }
    if let Some(size) = &section.max_file_size {
        match parse_size(size.get_ref()) {
            Some(bytes) => limits.max_file_size = Some(bytes),
            None => problems.push(source.problem(
                Some(size.span()),
                "limits.max_file_size",
                format!(
                    "`{}` is not a size, expected a number with an optional unit such as 512MiB or 10GiB",
                    size.get_ref()
                ),
            )),
        }
    }
    limits
}

/// `quota`, `upload_rate` and `download_rate` of a tenant or partner section.
fn usage_limits(
    source: &Source,
    key: &str,
    [quota, upload, download]: [&Option<Spanned<String>>; 3],
    problems: &mut Vec<Problem>,
) -> UsageLimits {
    let mut read = |name: &str, value: &Option<Spanned<String>>, rate: bool| {
        let value = value.as_ref()?;
        let text = value.get_ref().trim();
        let text = if rate {
            text.strip_suffix("/s").unwrap_or(text)
        } else {
            text
        };
        match parse_size(text) {
            Some(bytes) if bytes > 0 => Some(bytes),
            _ => {
                let expected = if rate {
                    "a rate such as 512KiB/s or 10MiB/s, above 0"
                } else {
                    "a size such as 512MiB or 10GiB, above 0"
                };
                problems.push(source.problem(
                    Some(value.span()),
                    &join_key(key, name),
                    format!("`{}` is not {expected}", value.get_ref()),
                ));
                None
            }
        }
    };
    UsageLimits {
        quota: read("quota", quota, false),
        upload_rate: read("upload_rate", upload, true),
        download_rate: read("download_rate", download, true),
    }
}

/// A node's name: short, and safe in logs, metrics and the journal.
fn is_node_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10GiB"), Some(10 << 30));
        assert_eq!(parse_size("512 MiB"), Some(512 << 20));
        assert_eq!(parse_size("7"), Some(7));
        assert_eq!(parse_size("1KB"), Some(1000));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("5PB"), None);
    }

    #[test]
    fn clean_paths() {
        assert_eq!(
            lexical_clean(Path::new("examples/quickstart/../../data/q")),
            Path::new("data/q")
        );
        assert_eq!(lexical_clean(Path::new("../x/./y")), Path::new("../x/y"));
        assert_eq!(lexical_clean(Path::new("a/..")), Path::new("."));
    }

    #[test]
    fn route_names() {
        let route = Route {
            pattern: globset::Glob::new("*").unwrap().compile_matcher(),
            to: "bob".into(),
            name: Some("{stem}-copy.{ext}".into()),
        };
        assert_eq!(route.target_name("a.b.csv"), "a.b-copy.csv");
        assert_eq!(route.target_name(".hidden"), ".hidden-copy.");
    }
}
