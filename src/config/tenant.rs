//! A tenant's and a partner's sections of the configuration, checked and
//! turned into the plain types of `model.rs`.

use super::*;

pub(super) fn tenant(
    source: &Source,
    key: &str,
    name: &str,
    section: Spanned<TenantSection>,
    data_dir: &Path,
    problems: &mut Vec<Problem>,
) -> Option<Tenant> {
    let span = section.span();
    let section = section.into_inner();
    let before = problems.len();
    if !valid_name(name) {
        problems.push(source.problem(
            Some(span.clone()),
            &key_or(key, name),
            format!("`{name}` is not a valid tenant name: {NAME_RULE}"),
        ));
    }

    let root = match &section.root {
        Some(root) => match relative_inside(root.get_ref()) {
            Some(relative) => data_dir.join("tenants").join(relative),
            None => {
                problems.push(source.problem(
                    Some(root.span()),
                    &join_key(key, "root"),
                    format!(
                        "`{}` is outside the data directory: expected a relative path without `..`, \
                         resolved under DATA_DIR/tenants/",
                        root.get_ref()
                    ),
                ));
                PathBuf::new()
            }
        },
        None => data_dir.join("tenants").join(name),
    };

    if let Some(days) = &section.retention_days
        && *days.get_ref() == 0
    {
        problems.push(source.problem(
            Some(days.span()),
            &join_key(key, "retention_days"),
            "0 would expire every file at once: expected at least 1, or no `retention_days` to keep files forever"
                .to_owned(),
        ));
    }

    let mut logins: HashMap<String, String> = HashMap::new();
    let mut partners = BTreeMap::new();
    for (partner_name, partner_section) in &section.partners {
        let partner_key = join_key(key, &format!("partners.{partner_name}"));
        if !valid_name(partner_name) {
            problems.push(source.problem(
                Some(partner_section.span()),
                &partner_key,
                format!("`{partner_name}` is not a valid partner name: {NAME_RULE}"),
            ));
        }
        let partner = partner(
            source,
            &partner_key,
            partner_name,
            partner_section.get_ref(),
            &section,
            &mut logins,
            problems,
        );
        partners.insert(partner_name.clone(), partner);
    }

    let mut plugin_deadline = std::time::Duration::from_millis(50);
    if let Some(ms) = &section.plugin_deadline_ms {
        if (1..=60_000).contains(ms.get_ref()) {
            plugin_deadline = std::time::Duration::from_millis(u64::from(*ms.get_ref()));
        } else {
            problems.push(source.problem(
                Some(ms.span()),
                &join_key(key, "plugin_deadline_ms"),
                format!("{} is out of range, expected 1 to 60000", ms.get_ref()),
            ));
        }
    }
    let mut plugin_memory = 64 << 20;
    if let Some(size) = &section.plugin_memory {
        match parse_size(size.get_ref()) {
            Some(bytes) if (1 << 20..=256 << 20).contains(&bytes) => plugin_memory = bytes as usize,
            _ => problems.push(source.problem(
                Some(size.span()),
                &join_key(key, "plugin_memory"),
                format!("`{}` is not a size from 1MiB to 256MiB", size.get_ref()),
            )),
        }
    }

    let mut max_plugin_size = 50 << 20;
    if let Some(size) = &section.max_plugin_size {
        match parse_size(size.get_ref()) {
            Some(bytes) if (1 << 10..=1 << 30).contains(&bytes) => max_plugin_size = bytes,
            _ => problems.push(source.problem(
                Some(size.span()),
                &join_key(key, "max_plugin_size"),
                format!("`{}` is not a size from 1KiB to 1GiB", size.get_ref()),
            )),
        }
    }

    let mut plugin_cpu = 0.25;
    if let Some(share) = &section.plugin_cpu {
        let parsed = share
            .get_ref()
            .trim()
            .strip_suffix('%')
            .and_then(|n| n.trim().parse::<f64>().ok())
            .filter(|n| *n > 0.0 && *n <= 6400.0);
        match parsed {
            Some(percent) => plugin_cpu = percent / 100.0,
            None => problems.push(source.problem(
                Some(share.span()),
                &join_key(key, "plugin_cpu"),
                format!(
                    "`{}` is not a share of a core such as 25% or 200%",
                    share.get_ref()
                ),
            )),
        }
    }
    let usage = usage_limits(
        source,
        key,
        [&section.quota, &section.upload_rate, &section.download_rate],
        problems,
    );
    let mut max_connector_transfers = None;
    if let Some(n) = &section.max_connector_transfers {
        if *n.get_ref() >= 1 {
            max_connector_transfers = Some(*n.get_ref());
        } else {
            problems.push(source.problem(
                Some(n.span()),
                &join_key(key, "max_connector_transfers"),
                "0 is out of range, expected at least 1".to_owned(),
            ));
        }
    }

    let api_token = token(
        source,
        key,
        ("api_token_file", &section.api_token_file),
        ("api_token_env", &section.api_token_env),
        "the tenant's API token",
        problems,
    );

    if problems.len() > before {
        return None;
    }
    Some(Tenant {
        name: name.to_owned(),
        root,
        retention_days: section.retention_days.map(Spanned::into_inner),
        source: source.path.clone(),
        plugin_deadline,
        plugin_memory,
        max_plugin_size,
        plugin_cpu,
        require_tls: section.require_tls.unwrap_or(false),
        access_events: section.access_events.unwrap_or(true),
        max_sessions: section.max_sessions.map(Spanned::into_inner),
        usage,
        max_connector_transfers,
        api_token,
        partners,
    })
}

pub(super) fn partner(
    source: &Source,
    key: &str,
    name: &str,
    section: &PartnerSection,
    tenant: &TenantSection,
    logins: &mut HashMap<String, String>,
    problems: &mut Vec<Problem>,
) -> Partner {
    let mut accounts = Vec::new();
    for (i, account) in section.accounts.iter().enumerate() {
        let account_key = format!("{key}.accounts[{i}]");
        let account = account.get_ref();
        let login = account.login.get_ref();
        if !valid_login(login) {
            problems.push(source.problem(
                Some(account.login.span()),
                &format!("{account_key}.login"),
                format!(
                    "`{login}` is not a valid login: expected 1 to 64 characters of letters, digits, `-`, `_` and `.`"
                ),
            ));
        } else if let Some(owner) = logins.insert(login.clone(), name.to_owned()) {
            problems.push(source.problem(
                Some(account.login.span()),
                &format!("{account_key}.login"),
                format!(
                    "duplicate login `{login}`: partner `{owner}` already has it; logins are unique within a tenant"
                ),
            ));
        }
        if let Some(hash) = &account.password_hash
            && !valid_password_hash(hash.get_ref())
        {
            problems.push(source.problem(
                Some(hash.span()),
                &format!("{account_key}.password_hash"),
                "not an argon2 hash: expected a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$SALT$HASH` \
                 (make one with `ferry hash-password`)"
                    .to_owned(),
            ));
        }
        for (k, ssh_key) in account.ssh_keys.iter().enumerate() {
            if let Err(why) = check_ssh_key(ssh_key.get_ref()) {
                problems.push(source.problem(
                    Some(ssh_key.span()),
                    &format!("{account_key}.ssh_keys[{k}]"),
                    format!("{why}: expected an OpenSSH public key line such as `ssh-ed25519 AAAA... comment`"),
                ));
            }
        }
        if let Some(token) = &account.token_sha256
            && (token.get_ref().len() != 64
                || !token
                    .get_ref()
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            problems.push(
                source.problem(
                    Some(token.span()),
                    &format!("{account_key}.token_sha256"),
                    "not a SHA-256: expected 64 lowercase hex digits (the admin API's \
                 `POST .../accounts/LOGIN/token` makes a token and writes its hash)"
                        .to_owned(),
                ),
            );
        }
        if account.password_hash.is_none()
            && account.ssh_keys.is_empty()
            && account.token_sha256.is_none()
        {
            problems.push(source.problem(
                Some(account.login.span()),
                &account_key,
                format!("account `{login}` has no way to log in: expected `password_hash`, `ssh_keys`, `token_sha256` or some of them"),
            ));
        }
        let key_and_password = match account.require.as_ref().map(|r| (r, r.get_ref().as_str())) {
            None | Some((_, "any")) => false,
            Some((r, "key-and-password")) => {
                if account.password_hash.is_none() || account.ssh_keys.is_empty() {
                    problems.push(source.problem(
                        Some(r.span()),
                        &format!("{account_key}.require"),
                        "`key-and-password` needs both `ssh_keys` and `password_hash`".to_owned(),
                    ));
                }
                true
            }
            Some((r, other)) => {
                problems.push(source.problem(
                    Some(r.span()),
                    &format!("{account_key}.require"),
                    format!("unknown requirement `{other}`, expected `any` or `key-and-password`"),
                ));
                false
            }
        };
        accounts.push(Account {
            key_and_password,
            require_tls: account.require_tls.unwrap_or(false),
            login: login.clone(),
            password_hash: account.password_hash.as_ref().map(|h| h.get_ref().clone()),
            token_sha256: account.token_sha256.as_ref().map(|t| t.get_ref().clone()),
            ssh_keys: account
                .ssh_keys
                .iter()
                .map(|k| k.get_ref().clone())
                .collect(),
        });
    }

    let mut routes = Vec::new();
    for (i, route) in section.routes.iter().enumerate() {
        let route_key = format!("{key}.routes[{i}]");
        let route = route.get_ref();
        let to = route.to.get_ref();
        if !tenant.partners.contains_key(to) {
            let known: Vec<_> = tenant.partners.keys().map(|p| format!("`{p}`")).collect();
            problems.push(source.problem(
                Some(route.to.span()),
                &format!("{route_key}.to"),
                format!(
                    "no partner `{to}` in this tenant, expected one of {}",
                    known.join(", ")
                ),
            ));
        }
        let pattern_text = route.pattern.as_ref().map_or("*", |p| p.get_ref().as_str());
        let pattern = match globset::Glob::new(pattern_text) {
            Ok(glob) => Some(glob.compile_matcher()),
            Err(e) => {
                problems.push(source.problem(
                    route.pattern.as_ref().map(Spanned::span),
                    &format!("{route_key}.match"),
                    format!("`{pattern_text}` is not a glob pattern: {}", e.kind()),
                ));
                None
            }
        };
        if let Some(template) = &route.name
            && let Err(why) = check_template(template.get_ref())
        {
            problems.push(source.problem(Some(template.span()), &format!("{route_key}.name"), why));
        }
        if let Some(pattern) = pattern {
            routes.push(Route {
                pattern,
                to: to.clone(),
                name: route.name.as_ref().map(|n| n.get_ref().clone()),
            });
        }
    }

    let mut plugins = BTreeMap::new();
    let base = source.path.parent().unwrap_or(Path::new("."));
    for (role, path) in [
        ("validator", &section.validator),
        ("router", &section.router),
        ("acknowledger", &section.acknowledger),
    ] {
        let Some(path) = path else { continue };
        let resolved = absolute(&base.join(path.get_ref()));
        match std::fs::metadata(&resolved) {
            Ok(meta) if meta.is_file() => {
                plugins.insert(role, resolved);
            }
            Ok(_) => problems.push(source.problem(
                Some(path.span()),
                &format!("{key}.{role}"),
                format!("{} is not a file: expected a WebAssembly component (.wasm)", resolved.display()),
            )),
            Err(e) => problems.push(source.problem(
                Some(path.span()),
                &format!("{key}.{role}"),
                format!(
                    "cannot read {}: {e}; expected a WebAssembly component (.wasm), relative to this file",
                    resolved.display()
                ),
            )),
        }
    }

    let completion = match section
        .completion
        .as_ref()
        .map(|c| (c, c.get_ref().as_str()))
    {
        None | Some((_, "close")) => Completion::Close,
        Some((_, "rename")) => Completion::Rename,
        Some((_, "sidecar")) => Completion::Sidecar,
        Some((c, other)) => {
            problems.push(source.problem(
                Some(c.span()),
                &format!("{key}.completion"),
                format!(
                    "unknown completion mode `{other}`, expected `close`, `rename` or `sidecar`"
                ),
            ));
            Completion::Close
        }
    };

    let (connector, pull, push) = connector::sections(source, key, section, tenant, problems);
    let mut allow_from = Vec::new();
    for (i, entry) in section.allow_from.iter().enumerate() {
        match IpNet::parse(entry.get_ref()) {
            Some(net) => allow_from.push(net),
            None => problems.push(source.problem(
                Some(entry.span()),
                &format!("{key}.allow_from[{i}]"),
                format!(
                    "`{}` is not an address or a network, expected one such as `192.0.2.7` or `10.0.0.0/8`",
                    entry.get_ref()
                ),
            )),
        }
    }
    Partner {
        connector,
        pull,
        push,
        name: name.to_owned(),
        accounts,
        allow_from,
        max_sessions: section.max_sessions.as_ref().map(|m| *m.get_ref()),
        usage: usage_limits(
            source,
            key,
            [&section.quota, &section.upload_rate, &section.download_rate],
            problems,
        ),
        routes,
        receipts: section.receipts.unwrap_or(true),
        sha256_files: section.sha256_files.unwrap_or(false),
        completion,
        plugins,
        params: std::sync::Arc::new(section.params.clone()),
        transforms: transforms::transforms(source, key, section, problems),
    }
}
