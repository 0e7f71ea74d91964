//! The command line: the edge where errors become messages and exit codes.

mod journal;
mod mailbox;
mod plugin;
mod proofs;
mod pull;
mod put;
mod remote;
pub mod scaffold;
mod serve;
mod tasks;
mod tenants;

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::config;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "A managed file transfer hub: SFTP and FTP(S) servers, connectors, a verifiable journal"
)]
struct Cli {
    /// The server configuration file.
    #[arg(
        short,
        long,
        global = true,
        env = "FERRY_CONFIG",
        default_value = "ferry.toml"
    )]
    config: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: listeners, pipeline, reload on SIGHUP.
    Serve,
    /// Validate a configuration without starting anything.
    CheckConfig {
        /// The server file to check (defaults to --config).
        file: Option<PathBuf>,
    },
    /// Store a local file as if PARTNER had uploaded it, through the same pipeline.
    Put(put::PutArgs),
    /// List a partner's mailbox folder.
    Ls(mailbox::LsArgs),
    /// Write a file of a partner's mailbox to standard output.
    Cat(mailbox::CatArgs),
    /// Put a file back in a partner's outbox (by name or SHA-256), as a
    /// partner does by creating /resend/NAME.
    Resend(mailbox::ResendArgs),
    /// Poll a partner's server once now, as the server does on its
    /// schedule (only when no server runs on this data directory).
    Pull(pull::PullArgs),
    /// List the tasks the pipeline gave up on (dead letters).
    Dead(tasks::DeadArgs),
    /// Send a dead-lettered task back to the pipeline.
    Retry(tasks::RetryArgs),
    /// Query and verify the journal.
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// Check, run, replay and roll back plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// The tenants the nodes of a cluster share: import, export, list.
    #[command(subcommand)]
    Tenants(tenants::TenantsCommand),
    /// Hash a password read from standard input, for `password_hash` in the configuration.
    HashPassword,
    /// Verify a proof (or a consistency proof) offline, with the journal's
    /// public key: no configuration, no database.
    VerifyProof(proofs::VerifyArgs),
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // The runner prints a plugin's log lines with its decision; tracing
    // them as well would only repeat them.
    let runner = matches!(cli.command, Command::Plugin(plugin::PluginCommand::Run(_)));
    // suppaftp logs its own errors at close (a failed TLS shutdown after a
    // refused certificate, say); ferry reports the failure itself, once.
    init_logging(if runner {
        "info,suppaftp=off,ferry::plugin::state=off"
    } else {
        "info,suppaftp=off"
    });
    // A write past RLIMIT_FSIZE raises SIGXFSZ, which kills by default.
    // Catching it turns that into an EFBIG error on the write, which the
    // store handles like a full disk: the upload fails, nothing is lost.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    match cli.command {
        Command::Serve => serve::serve(&cli.config),
        Command::CheckConfig { file } => check_config(file.as_ref().unwrap_or(&cli.config)),
        Command::Put(args) => put::put(&cli.config, args),
        Command::Pull(args) => pull::pull(&cli.config, args),
        Command::Ls(args) => mailbox::ls(&cli.config, args),
        Command::Cat(args) => mailbox::cat(&cli.config, args),
        Command::Resend(args) => mailbox::resend(&cli.config, args),
        Command::Dead(args) => tasks::dead(&cli.config, args),
        Command::Retry(args) => tasks::retry(&cli.config, args),
        Command::Journal(command) => journal::run(&cli.config, command),
        Command::Plugin(command) => plugin::run(&cli.config, command),
        Command::Tenants(command) => tenants::run(&cli.config, command),
        Command::HashPassword => hash_password(),
        Command::VerifyProof(args) => proofs::verify(args),
    }
}

fn init_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn check_config(path: &Path) -> anyhow::Result<ExitCode> {
    let config = config::load(path)?;
    let partners: usize = config.tenants.values().map(|t| t.partners.len()).sum();
    println!(
        "{}: ok ({} tenant{}, {} partner{}, {} listener{})",
        path.display(),
        config.tenants.len(),
        plural(config.tenants.len()),
        partners,
        plural(partners),
        config.listeners.len(),
        plural(config.listeners.len()),
    );
    Ok(ExitCode::SUCCESS)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn hash_password() -> anyhow::Result<ExitCode> {
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    let hash = config::hash_password(password).map_err(anyhow::Error::msg)?;
    println!("{hash}");
    Ok(ExitCode::SUCCESS)
}

/// Loads the configuration and opens the hub, for commands that need both.
fn open(config_path: &Path) -> anyhow::Result<std::sync::Arc<crate::tenant::Hub>> {
    let config = config::load(config_path)?;
    Ok(crate::tenant::Hub::open(config)?)
}

/// Partner `name` of `tenant`, or an error naming both.
fn partner(tenant: &crate::tenant::Tenant, name: &str) -> anyhow::Result<config::Partner> {
    tenant
        .config()
        .partners
        .get(name)
        .cloned()
        .with_context(|| format!("no partner `{name}` in tenant `{}`", tenant.name()))
}

/// The hub's tenant `name`, or an error naming the tenants there are.
fn tenant(
    hub: &crate::tenant::Hub,
    name: &str,
) -> anyhow::Result<std::sync::Arc<crate::tenant::Tenant>> {
    hub.tenant(name).with_context(|| {
        let names: Vec<_> = hub.config().tenants.keys().cloned().collect();
        format!("no tenant `{name}` (configured: {})", names.join(", "))
    })
}
