//! `ferry plugin ...`: what an integrator runs before and after deploying a
//! plugin.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::journal::{AckEvent, Direction, Timestamp};
use crate::plugin::{
    FileMeta, HistoryEntry, Limits, MemoryServices, Plugin, PluginEngine, ReplayScope, Role,
};
use crate::tenant::{Activate, PipelineLock};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Check that a component implements a role's world with nothing but ferry's imports.
    Check {
        plugin: PathBuf,
        /// The role to check; every role when absent.
        #[arg(long)]
        role: Option<Role>,
    },
    /// Run a plugin on a local file exactly as the server would, and print its decision.
    Run(RunArgs),
    /// Re-run a candidate plugin on a partner's past files and show where it would decide otherwise.
    Replay(ReplayArgs),
    /// Put back the version of a partner's plugin that served before the current one.
    Rollback(SlotArgs),
    /// List the versions a partner's plugin had, oldest first.
    Versions(SlotArgs),
    /// Upload a new version to the running server (its admin API): checked,
    /// kept, replayed on the partner's last files; it serves once activated.
    Upload(super::remote::UploadArgs),
    /// Make a version (uploaded, or one that served) serve on the running server.
    Activate(super::remote::ActivateArgs),
    /// Write a plugin project that builds as it is (source, a fixture, a README).
    New(super::scaffold::NewArgs),
    /// Build a project `new` made, check it against its world, print the component's path last.
    Build(super::scaffold::BuildArgs),
}

/// One role of one partner of one tenant.
#[derive(Args)]
pub struct SlotArgs {
    #[arg(long)]
    pub(super) tenant: String,
    #[arg(long)]
    pub(super) partner: String,
    #[arg(long)]
    pub(super) role: Role,
}

#[derive(Args)]
pub struct RunArgs {
    /// A component, or a project `ferry plugin new` made: its built
    /// component runs the tests of its ferry-plugin.toml (or `--file`).
    plugin: PathBuf,
    /// The role to run the component in (a project's own by default).
    #[arg(long)]
    role: Option<Role>,
    /// The file to decide about (a project's tests when absent).
    #[arg(long)]
    file: Option<PathBuf>,
    /// The file's name as the partner sent it (defaults to the file's name).
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "partner")]
    partner: String,
    #[arg(long, default_value = "tenant")]
    tenant: String,
    /// A JSON array of history entries (message_id, direction, name, size, sha256, state, received_at).
    #[arg(long)]
    history: Option<PathBuf>,
    /// A partner parameter, NAME=VALUE; repeat for more.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// For acknowledgers: delivered, downloaded:PARTNER, rejected:REASON or failed:REASON.
    #[arg(long, default_value = "delivered")]
    event: String,
    #[arg(long, default_value_t = 50)]
    deadline_ms: u64,
    /// Memory cap, such as 64MiB.
    #[arg(long, default_value = "64MiB")]
    memory: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ReplayArgs {
    candidate: PathBuf,
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    partner: String,
    /// `validator` or `router`.
    #[arg(long)]
    role: Role,
    /// Only files received at or after this time (RFC 3339, such as 2026-11-01T00:00:00Z).
    #[arg(long)]
    since: Option<String>,
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

pub fn run(config: &Path, command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Check { plugin, role } => check(&plugin, role),
        PluginCommand::Run(args) => run_plugin(args),
        PluginCommand::Replay(args) => replay(config, args),
        PluginCommand::Rollback(slot) => rollback(config, &slot),
        PluginCommand::Versions(slot) => versions(config, &slot),
        PluginCommand::Upload(args) => super::remote::upload(config, args),
        PluginCommand::Activate(args) => super::remote::activate(config, args),
        PluginCommand::New(args) => super::scaffold::new(args),
        PluginCommand::Build(args) => super::scaffold::build(args),
    }
}

fn read_plugin(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn check(path: &Path, role: Option<Role>) -> anyhow::Result<ExitCode> {
    let bytes = read_plugin(path)?;
    let engine = PluginEngine::new(None)?;
    let started = Instant::now();
    let roles = match role {
        Some(role) => {
            engine.load(&bytes, role)?;
            vec![role]
        }
        None => engine.roles(&bytes)?,
    };
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    println!(
        "{}: ok, implements {} ({} bytes, checked in {:.0?})",
        path.display(),
        names.join(", "),
        bytes.len(),
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_event(text: &str) -> anyhow::Result<AckEvent> {
    let (kind, arg) = text.split_once(':').unwrap_or((text, ""));
    Ok(match kind {
        "delivered" => AckEvent::Delivered,
        "downloaded" => AckEvent::Downloaded { by: arg.to_owned() },
        "rejected" => AckEvent::Rejected {
            reasons: vec![arg.to_owned()],
        },
        "failed" => AckEvent::Failed {
            reason: arg.to_owned(),
        },
        other => bail!(
            "unknown event `{other}`: expected delivered, downloaded:PARTNER, rejected:REASON or failed:REASON"
        ),
    })
}

fn run_plugin(args: RunArgs) -> anyhow::Result<ExitCode> {
    let project = if args.plugin.is_dir() {
        Some(super::scaffold::Project::open(&args.plugin)?)
    } else {
        None
    };
    let (wasm, engine, role) = match &project {
        Some(project) => {
            if args.file.is_none() {
                return super::scaffold::run_tests(project);
            }
            (
                project.component(),
                project.engine()?,
                args.role.unwrap_or(project.manifest.role),
            )
        }
        None => (
            args.plugin.clone(),
            PluginEngine::new(None)?,
            args.role
                .context("--role is needed with a component (validator, router or acknowledger)")?,
        ),
    };
    let Some(path) = &args.file else {
        bail!("--file is needed with a component: the file to decide about");
    };
    let bytes = read_plugin(&wasm)?;
    let content = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let history: Vec<HistoryEntry> = match &args.history {
        Some(path) => serde_json::from_slice(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| {
            format!(
                "{}: expected a JSON array of history entries",
                path.display()
            )
        })?,
        None => Vec::new(),
    };
    let mut params = BTreeMap::new();
    for param in &args.params {
        let (name, value) = param
            .split_once('=')
            .with_context(|| format!("`{param}`: expected NAME=VALUE"))?;
        params.insert(name.to_owned(), value.to_owned());
    }
    let memory = crate::config::parse_size(&args.memory)
        .with_context(|| format!("`{}` is not a size", args.memory))?;
    let limits = Limits {
        deadline: std::time::Duration::from_millis(args.deadline_ms),
        memory: memory as usize,
        ..Limits::default()
    };
    let name = match &args.name {
        Some(name) => name.clone(),
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let file = file_meta(&args.tenant, &args.partner, &name, &content, &history, path);
    let services = Box::new(MemoryServices {
        content,
        history,
        params,
        kv: BTreeMap::new(),
    });

    let started = Instant::now();
    let plugin = engine.load(&bytes, role)?;
    let load_time = started.elapsed();
    let result = call(&plugin, &engine, services, limits, &file, &args.event)?;
    let (decision, logs, elapsed, peak) = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            if args.json {
                println!("{}", json!({ "error": e.to_string() }));
            } else {
                println!("error: {e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "decision": decision, "logs": logs, "call_ms": elapsed.as_secs_f64() * 1000.0,
            "load_ms": load_time.as_secs_f64() * 1000.0, "peak_memory": peak,
            "sha256": plugin.sha256,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "decision: {decision}")?;
        writeln!(
            out,
            "time:     {:.3} ms call, {:.1} ms load and compile",
            elapsed.as_secs_f64() * 1000.0,
            load_time.as_secs_f64() * 1000.0
        )?;
        writeln!(
            out,
            "memory:   {:.1} MiB peak",
            peak as f64 / (1 << 20) as f64
        )?;
        writeln!(out, "plugin:   {} ({})", plugin.sha256, plugin.role)?;
        for log in logs {
            writeln!(out, "log:      {}: {}", log.level, log.message)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(in crate::cli) type Called = (
    serde_json::Value,
    Vec<crate::plugin::LogLine>,
    std::time::Duration,
    usize,
);

/// What the server knows of a file a partner sent, for a file on disk.
pub(in crate::cli) fn file_meta(
    tenant: &str,
    partner: &str,
    name: &str,
    content: &[u8],
    history: &[HistoryEntry],
    source: &Path,
) -> FileMeta {
    use sha2::Digest as _;
    FileMeta {
        tenant: tenant.to_owned(),
        partner: partner.to_owned(),
        direction: Direction::In,
        name: name.to_owned(),
        size: content.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(content)),
        protocol: "cli".into(),
        source: source.display().to_string(),
        message_id: history.iter().map(|h| h.message_id).max().unwrap_or(0) + 1,
        received_at: Timestamp::now().0,
    }
}

/// Calls a plugin in its role; the outer error is the runner's, the inner the plugin's.
pub(in crate::cli) fn call(
    plugin: &Plugin,
    engine: &PluginEngine,
    services: Box<dyn crate::plugin::HostServices>,
    limits: Limits,
    file: &FileMeta,
    event: &str,
) -> anyhow::Result<Result<Called, crate::plugin::PluginError>> {
    Ok(match plugin.role {
        Role::Validator => plugin
            .validate(engine, services, limits, file)
            .map(|o| (json!(o.value), o.logs, o.elapsed, o.peak_memory)),
        Role::Router => plugin
            .route(engine, services, limits, file)
            .map(|o| (json!(o.value), o.logs, o.elapsed, o.peak_memory)),
        Role::Acknowledger => {
            let event = parse_event(event)?;
            plugin
                .acknowledge(engine, services, limits, file, &event)
                .map(|o| (json!(o.value), o.logs, o.elapsed, o.peak_memory))
        }
    })
}

fn replay(config: &Path, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    if args.role == Role::Acknowledger {
        bail!("replay compares verdicts and routes: use --role validator or router")
    }
    let since = match &args.since {
        Some(text) => {
            let time = humantime::parse_rfc3339_weak(text)
                .with_context(|| format!("`{text}` is not a time such as 2026-11-01T00:00:00Z"))?;
            let ms = time
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as i64;
            Some(Timestamp(ms))
        }
        None => None,
    };
    let hub = super::open(config)?;
    let tenant = super::tenant(&hub, &args.tenant)?;
    let partner = super::partner(&tenant, &args.partner)?;
    let engine = PluginEngine::new(None)?;
    let plugin = engine.load(&read_plugin(&args.candidate)?, args.role)?;
    let report = crate::plugin::replay(
        &engine,
        &plugin,
        &ReplayScope {
            journal: hub.journal(),
            store: tenant.store(),
            tenant: &args.tenant,
            partner: &args.partner,
            params: std::sync::Arc::clone(&partner.params),
            limits: Limits {
                deadline: tenant.config().plugin_deadline,
                memory: tenant.config().plugin_memory,
                ..Limits::default()
            },
            since,
            limit: args.limit,
        },
    )?;

    let mut out = std::io::stdout().lock();
    for file in &report.files {
        let recorded = file
            .recorded
            .as_ref()
            .map_or_else(|| "(none recorded)".to_owned(), |r| r.to_string());
        writeln!(
            out,
            "{} {:>6}  {}\n    recorded:  {recorded}\n    candidate: {}",
            if file.same { "same   " } else { "DIFFERS" },
            file.message,
            file.name,
            file.candidate,
        )?;
    }
    let differ = match report.differ {
        1 => "1 decision differs".to_owned(),
        n => format!("{n} decisions differ"),
    };
    writeln!(
        out,
        "{} file{} replayed, {differ}",
        report.compared,
        if report.compared == 1 { "" } else { "s" }
    )?;
    Ok(ExitCode::SUCCESS)
}

fn versions(config: &Path, slot: &SlotArgs) -> anyhow::Result<ExitCode> {
    let hub = super::open(config)?;
    let events = hub
        .journal()
        .plugin_events(&slot.tenant, &slot.partner, slot.role.as_str())?;
    for event in events {
        let d = &event.detail;
        println!(
            "{}  {:<12} {}  {}",
            event.at,
            d["status"].as_str().unwrap_or_default(),
            d["sha256"].as_str().unwrap_or("-"),
            d["reason"].as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rollback(config: &Path, slot: &SlotArgs) -> anyhow::Result<ExitCode> {
    let (tenant, partner, role) = (slot.tenant.as_str(), slot.partner.as_str(), slot.role);
    let hub = super::open(config)?;
    super::tenant(&hub, tenant)?;
    let activated =
        hub.activate_plugin(tenant, partner, role, &Activate::Previous, "command line")?;
    println!(
        "{tenant}/{partner} {role}: {} -> {}",
        activated.from, activated.to
    );
    match PipelineLock::holder(&hub.config().data_dir) {
        Some(pid) => {
            rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).context("invalid pid in the lock file")?,
                rustix::process::Signal::HUP,
            )
            .with_context(|| format!("signalling the server (pid {pid})"))?;
            println!("the running server (pid {pid}) applies it now");
        }
        None => println!("no server is running: it applies at the next start"),
    }
    Ok(ExitCode::SUCCESS)
}
