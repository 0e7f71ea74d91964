//! The `connector`, `pull` and `push` sections of a partner: how ferry
//! reaches the partner's own server and what it does there.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::error::{Problem, Source};
use super::model::{Connector, ConnectorProtocol, Disposition, Pull, Push, Schedule, Stable};
use super::raw::{ConnectorSection, PartnerSection, PullSection, PushSection, TenantSection};
use super::{absolute, join_key};

/// Reads a partner's connector sections. `pull` and `push` need a connector;
/// `fxp_to` needs an FTP connector on both partners.
pub(super) fn sections(
    source: &Source,
    key: &str,
    section: &PartnerSection,
    tenant: &TenantSection,
    problems: &mut Vec<Problem>,
) -> (Option<Connector>, Option<Pull>, Option<Push>) {
    let connector = section
        .connector
        .as_ref()
        .and_then(|c| connector(source, &join_key(key, "connector"), c.get_ref(), problems));
    let pull = section.pull.as_ref().and_then(|p| {
        pull(
            source,
            &join_key(key, "pull"),
            p.get_ref(),
            tenant,
            problems,
        )
    });
    let push = section
        .push
        .as_ref()
        .map(|p| push(source, &join_key(key, "push"), p.get_ref(), problems));
    for (name, span) in [
        ("pull", section.pull.as_ref().map(Spanned::span)),
        ("push", section.push.as_ref().map(Spanned::span)),
    ] {
        if let Some(span) = span
            && section.connector.is_none()
        {
            problems.push(source.problem(
                Some(span),
                &join_key(key, name),
                format!(
                    "`{name}` needs a `connector` section: the partner's server to {name} files"
                ),
            ));
        }
    }
    if let (Some(pull), Some(connector)) = (&pull, &connector)
        && pull.fxp_to.is_some()
        && !connector.protocol.is_ftp()
    {
        problems.push(source.problem(
            section.pull.as_ref().map(Spanned::span),
            &join_key(key, "pull.fxp_to"),
            "FXP moves files between two FTP servers: this partner's connector must be `ftp` or `ftps`"
                .to_owned(),
        ));
    }
    (connector, pull, push)
}

fn connector(
    source: &Source,
    key: &str,
    section: &ConnectorSection,
    problems: &mut Vec<Problem>,
) -> Option<Connector> {
    let protocol = match section.protocol.get_ref().as_str() {
        "sftp" => ConnectorProtocol::Sftp,
        "ftp" => ConnectorProtocol::Ftp,
        "ftps" => ConnectorProtocol::Ftps,
        "ftps-implicit" => ConnectorProtocol::FtpsImplicit,
        "local" => ConnectorProtocol::Local,
        other => {
            problems.push(source.problem(
                Some(section.protocol.span()),
                &join_key(key, "protocol"),
                format!(
                    "unknown connector protocol `{other}`, expected `sftp`, `ftp`, `ftps`, `ftps-implicit` or `local`"
                ),
            ));
            return None;
        }
    };
    let base = source.path.parent().unwrap_or(Path::new("."));
    let file =
        |value: &Option<Spanned<String>>| value.as_ref().map(|v| absolute(&base.join(v.get_ref())));
    let before = problems.len();
    let require = |problems: &mut Vec<Problem>, present: bool, name: &str, why: &str| {
        if !present {
            problems.push(source.problem(
                Some(section.protocol.span()),
                &join_key(key, name),
                format!("a `{}` connector needs `{name}`: {why}", protocol.as_str()),
            ));
        }
    };
    if protocol == ConnectorProtocol::Local {
        require(
            problems,
            section.path.is_some(),
            "path",
            "the directory that stands for the partner's server",
        );
    } else {
        require(
            problems,
            section.host.is_some(),
            "host",
            "the partner server's name or address",
        );
        require(
            problems,
            section.user.is_some(),
            "user",
            "the login on the partner's server",
        );
    }
    if protocol == ConnectorProtocol::Sftp {
        require(
            problems,
            section.host_key.is_some(),
            "host_key",
            "the server's key fingerprint (`ssh-keyscan HOST | ssh-keygen -lf -`), so that no other server is trusted",
        );
    }
    if let Some(host_key) = &section.host_key
        && !host_key.get_ref().starts_with("SHA256:")
    {
        problems.push(source.problem(
            Some(host_key.span()),
            &join_key(key, "host_key"),
            "expected a SHA-256 fingerprint such as `SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s`"
                .to_owned(),
        ));
    }
    let password = super::secret(
        source,
        key,
        ("password_file", &section.password_file),
        ("password_env", &section.password_env),
        "the password",
        problems,
    );
    let key_file = file(&section.key_file);
    if let (Some(path), Some(spanned)) = (&key_file, &section.key_file)
        && !path.is_file()
    {
        problems.push(source.problem(
            Some(spanned.span()),
            &join_key(key, "key_file"),
            format!(
                "{} is not a readable file: expected an OpenSSH private key",
                path.display()
            ),
        ));
    }
    if protocol == ConnectorProtocol::Sftp && password.is_none() && key_file.is_none() {
        require(
            problems,
            false,
            "key_file",
            "a private key, or a password in `password_file` or `password_env`",
        );
    }
    if protocol.is_ftp() && password.is_none() && problems.len() == before {
        require(
            problems,
            false,
            "password_file",
            "FTP logs in with a password (`password_file` or `password_env`)",
        );
    }
    let extended_passive = match section.passive.as_ref().map(|p| (p, p.get_ref().as_str())) {
        None | Some((_, "epsv")) => true,
        Some((_, "pasv")) => false,
        Some((p, other)) => {
            problems.push(source.problem(
                Some(p.span()),
                &join_key(key, "passive"),
                format!("unknown passive mode `{other}`, expected `epsv` or `pasv`"),
            ));
            true
        }
    };
    let default_port = match protocol {
        ConnectorProtocol::Sftp => 22,
        ConnectorProtocol::FtpsImplicit => 990,
        _ => 21,
    };
    if problems.len() > before {
        return None;
    }
    Some(Connector {
        protocol,
        host: section
            .host
            .as_ref()
            .map(|h| h.get_ref().clone())
            .unwrap_or_default(),
        port: section.port.as_ref().map_or(default_port, |p| *p.get_ref()),
        user: section
            .user
            .as_ref()
            .map(|u| u.get_ref().clone())
            .unwrap_or_default(),
        password,
        key_file,
        host_key: section.host_key.as_ref().map(|h| h.get_ref().clone()),
        tls_ca_file: file(&section.tls_ca_file),
        extended_passive,
        path: file(&section.path),
        timeout: Duration::from_secs(
            section
                .timeout_seconds
                .as_ref()
                .map_or(30, |t| *t.get_ref()),
        ),
    })
}

fn pull(
    source: &Source,
    key: &str,
    section: &PullSection,
    tenant: &TenantSection,
    problems: &mut Vec<Problem>,
) -> Option<Pull> {
    let before = problems.len();
    let schedule = match (&section.every, &section.cron) {
        (Some(_), Some(cron)) => {
            problems.push(source.problem(
                Some(cron.span()),
                &join_key(key, "cron"),
                "give one schedule: `every` or `cron`, not both".to_owned(),
            ));
            None
        }
        (Some(every), None) => {
            match humantime::parse_duration(every.get_ref()) {
                Ok(d) if d >= Duration::from_millis(100) => Some(Schedule::Every(d)),
                _ => {
                    problems.push(source.problem(
                    Some(every.span()),
                    &join_key(key, "every"),
                    format!("`{}` is not an interval of at least 100ms, expected e.g. `30s` or `5m`", every.get_ref()),
                ));
                    None
                }
            }
        }
        (None, Some(cron)) => match cron.get_ref().parse::<croner::Cron>() {
            Ok(parsed) => Some(Schedule::Cron(Box::new(parsed))),
            Err(e) => {
                problems.push(source.problem(
                    Some(cron.span()),
                    &join_key(key, "cron"),
                    format!(
                        "`{}` is not a cron expression ({e}), expected e.g. `*/5 * * * *`",
                        cron.get_ref()
                    ),
                ));
                None
            }
        },
        (None, None) => Some(Schedule::Every(Duration::from_secs(60))),
    };
    let mut patterns = Vec::new();
    for (i, pattern) in section.patterns.iter().enumerate() {
        match globset::Glob::new(pattern.get_ref()) {
            Ok(glob) => patterns.push(glob.compile_matcher()),
            Err(e) => problems.push(source.problem(
                Some(pattern.span()),
                &format!("{key}.patterns[{i}]"),
                format!(
                    "`{}` is not a glob pattern: {}",
                    pattern.get_ref(),
                    e.kind()
                ),
            )),
        }
    }
    let stable = match section.stable.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "unchanged")) => Stable::Unchanged,
        Some((_, "done-file")) => Stable::DoneFile,
        Some((_, "sidecar")) => Stable::Sidecar,
        Some((s, other)) => {
            problems.push(source.problem(
                Some(s.span()),
                &join_key(key, "stable"),
                format!("unknown rule `{other}`, expected `unchanged`, `done-file` or `sidecar`"),
            ));
            Stable::Unchanged
        }
    };
    let missing = |problems: &mut Vec<Problem>, field: &str, then: &Spanned<String>| {
        problems.push(source.problem(
            Some(then.span()),
            &join_key(key, field),
            format!("`then = \"{}\"` needs `{field}`", then.get_ref()),
        ));
    };
    let then = match section.then.as_ref().map(|t| (t, t.get_ref().as_str())) {
        None | Some((_, "leave")) => Disposition::Leave,
        Some((_, "delete")) => Disposition::Delete,
        Some((t, "move")) => match &section.move_to {
            Some(dir) => Disposition::Move(dir.get_ref().trim_end_matches('/').to_owned()),
            None => {
                missing(problems, "move_to", t);
                Disposition::Leave
            }
        },
        Some((t, "suffix")) => match &section.suffix {
            Some(suffix) if !suffix.get_ref().is_empty() && !suffix.get_ref().contains('/') => {
                Disposition::Suffix(suffix.get_ref().clone())
            }
            _ => {
                missing(problems, "suffix", t);
                Disposition::Leave
            }
        },
        Some((t, other)) => {
            problems.push(source.problem(
                Some(t.span()),
                &join_key(key, "then"),
                format!(
                    "unknown disposition `{other}`, expected `leave`, `delete`, `move` or `suffix`"
                ),
            ));
            Disposition::Leave
        }
    };
    if let Some(to) = &section.fxp_to {
        match tenant.partners.get(to.get_ref()) {
            Some(target)
                if target.get_ref().push.is_some()
                    && target.get_ref().connector.as_ref().is_some_and(|c| {
                        matches!(c.get_ref().protocol.get_ref().as_str(), "ftp" | "ftps" | "ftps-implicit")
                    }) => {}
            _ => problems.push(source.problem(
                Some(to.span()),
                &join_key(key, "fxp_to"),
                format!(
                    "`{}` must be a partner of this tenant with an FTP `connector` and a `push` section",
                    to.get_ref()
                ),
            )),
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(Pull {
        from: section.from.get_ref().trim_end_matches('/').to_owned(),
        schedule: schedule?,
        patterns,
        stable,
        then,
        fxp_to: section.fxp_to.as_ref().map(|t| t.get_ref().clone()),
    })
}

fn push(source: &Source, key: &str, section: &PushSection, problems: &mut Vec<Problem>) -> Push {
    let temp_suffix = section
        .temp_suffix
        .as_ref()
        .map_or(".part".to_owned(), |s| s.get_ref().clone());
    if let Some(spanned) = &section.temp_suffix
        && (temp_suffix.is_empty() || temp_suffix.contains('/'))
    {
        problems.push(source.problem(
            Some(spanned.span()),
            &join_key(key, "temp_suffix"),
            "expected a non-empty suffix without `/`, such as `.part`".to_owned(),
        ));
    }
    Push {
        to: section.to.get_ref().trim_end_matches('/').to_owned(),
        temp_suffix,
    }
}
