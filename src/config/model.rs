//! The validated configuration the rest of ferry reads.
//!
//! Everything here has passed `config::load`: names are well formed, routes
//! point at partners that exist, paths stay inside the data directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use globset::GlobMatcher;

#[derive(Debug, Clone)]
pub struct Config {
    /// The files this configuration was read from, server file first.
    pub sources: Vec<PathBuf>,
    /// SHA-256 over the bytes of every source file, to tell reloads apart.
    pub digest: String,
    pub data_dir: PathBuf,
    /// Where the journal is kept.
    pub journal: JournalBackend,
    /// Where content is kept.
    pub store: StoreBackend,
    /// This node's name among the nodes of one journal (`[server] node`,
    /// by default the host's name): the owner of the tasks it leases.
    pub node: String,
    /// The key (64 hex digits) that seals the host keys and certificate the
    /// nodes of a PostgreSQL journal share; required with one.
    pub secrets_key: Option<Secret>,
    /// Where `TENANT.toml` files are read from, when configured.
    pub tenants_dir: Option<PathBuf>,
    /// A node of a cluster (PostgreSQL journal): its copy of the tenants
    /// the nodes share, `DATA_DIR/shared/tenants` (see `crate::settings`).
    pub shared_tenants: Option<PathBuf>,
    pub limits: Limits,
    pub listeners: Vec<Listener>,
    pub tenants: BTreeMap<String, Tenant>,
    /// The admin HTTP API, when configured.
    pub admin: Option<Admin>,
    /// `[journal]`: when checkpoints are signed.
    pub checkpoints: Checkpoints,
}

/// The server signs a checkpoint of a tenant's journal when it has grown
/// and `every` has passed since the last one, or sooner once `events`
/// events were added.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoints {
    pub every: std::time::Duration,
    pub events: u64,
}

impl Default for Checkpoints {
    fn default() -> Checkpoints {
        Checkpoints {
            every: std::time::Duration::from_secs(600),
            events: 10_000,
        }
    }
}

/// Where the journal is kept: the embedded default, or a PostgreSQL
/// database that several nodes share.
#[derive(Debug, Clone)]
pub enum JournalBackend {
    /// `journal.sqlite` in the data directory.
    Sqlite,
    /// A `postgres://` URL, which may hold a password.
    Postgres(Secret),
}

/// Where content is kept: each tenant's directory (the embedded default),
/// or an S3-compatible object store that several nodes share.
#[derive(Debug, Clone)]
pub enum StoreBackend {
    Local,
    S3(S3Backend),
}

/// `server.store = "s3://BUCKET"` with `[store.s3]`.
#[derive(Debug, Clone)]
pub struct S3Backend {
    pub bucket: String,
    /// `http(s)://HOST:PORT`; AWS itself when `None`.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
}

/// The admin HTTP API's listener.
#[derive(Debug, Clone)]
pub struct Admin {
    pub address: SocketAddr,
    /// The operator's bearer token: every tenant, and the server itself.
    pub token: Secret,
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// Threads that run pipeline steps.
    pub pipeline_workers: u32,
    /// How often a failing pipeline step is tried before it is dead-lettered.
    pub max_attempts: u32,
    /// Uploads larger than this fail; `None` means no limit.
    pub max_file_size: Option<u64>,
    /// Failed logins from one address (within 10 minutes) before a ban.
    pub login_failures: u32,
    /// How long a ban lasts.
    pub ban: std::time::Duration,
    /// The CPU priority of the pipeline's workers.
    pub pipeline_priority: WorkerPriority,
    /// How long an interrupted upload is kept to be resumed.
    pub resume_for: std::time::Duration,
    /// Interrupted uploads kept per partner; past it the oldest goes.
    pub max_suspended: u32,
    /// Connections not logged in yet, per listener (OpenSSH's `MaxStartups`).
    pub max_startups: u32,
    /// Connections not logged in yet from one address (an IPv6 /64), over
    /// every listener.
    pub max_startups_per_address: u32,
    /// How long a connection may take to log in, TLS handshakes included.
    pub login_grace: std::time::Duration,
    /// How long a logged-in session may send no command (FTP `NOOP` does
    /// not count) or an SSH connection carry no traffic.
    pub idle_timeout: std::time::Duration,
    /// Open SFTP handles of one tenant's sessions together.
    pub max_open_handles: u32,
    /// How long a pipeline task a node took stays that node's without word
    /// from it (the node renews it while the step runs): how soon another
    /// node takes over the tasks of a node that died.
    pub task_lease: std::time::Duration,
    /// Threads that do SFTP sessions' file and journal work, shared fairly
    /// between tenants.
    pub file_threads: u32,
}

/// How pipeline workers share the CPU with sessions and other processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerPriority {
    /// `SCHED_IDLE`: only cores nothing else wants. For hosts that run
    /// ferry alone: where other programs keep the cores busy, pipeline
    /// steps wait for idle moments, and a worker holding the journal's
    /// writer waits with them.
    Idle,
    /// Nice 19: a small share even on a busy host.
    #[default]
    Low,
    /// Like the sessions.
    Normal,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pipeline_workers: 2,
            max_attempts: 10,
            max_file_size: None,
            login_failures: 5,
            ban: std::time::Duration::from_secs(600),
            pipeline_priority: WorkerPriority::Low,
            resume_for: std::time::Duration::from_secs(24 * 3600),
            max_suspended: 16,
            max_startups: 256,
            max_startups_per_address: 16,
            login_grace: std::time::Duration::from_secs(60),
            idle_timeout: std::time::Duration::from_secs(900),
            max_open_handles: 1024,
            file_threads: 16,
            task_lease: std::time::Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Sftp,
    Ftp,
    /// FTP over TLS from the first byte (implicit FTPS).
    Ftps,
    /// The file API and the partner web client, over TLS.
    Https,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Sftp => "sftp",
            Protocol::Ftp => "ftp",
            Protocol::Ftps => "ftps",
            Protocol::Https => "https",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub protocol: Protocol,
    pub address: SocketAddr,
    /// When set, plain logins on this listener belong to this tenant.
    pub tenant: Option<String>,
    /// FTP and FTPS; HTTPS uses its `tls` only.
    pub ftp: FtpOptions,
}

/// Settings of an FTP or FTPS listener.
#[derive(Debug, Clone, Default)]
pub struct FtpOptions {
    /// Passive data ports; `None` lets the system pick.
    pub passive_ports: Option<(u16, u16)>,
    /// What `227`/`229` replies advertise; the control connection's local
    /// address when unset.
    pub passive_address: Option<std::net::IpAddr>,
    /// PORT/EPRT allowed, to the control connection's own address only.
    pub active_mode: bool,
    /// Certificate chain and key files (PEM); `None`: self-signed.
    pub tls: Option<(PathBuf, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct Tenant {
    pub name: String,
    /// The tenant's storage root, inside `data_dir`.
    pub root: PathBuf,
    /// Days a committed file is kept; `None` keeps files forever.
    pub retention_days: Option<u32>,
    /// The file this tenant was defined in.
    pub source: PathBuf,
    /// CPU budget of one plugin call.
    pub plugin_deadline: std::time::Duration,
    /// Memory cap of one plugin call, in bytes.
    pub plugin_memory: usize,
    /// The largest plugin component the admin API takes for the tenant.
    pub max_plugin_size: u64,
    /// The share of one core its plugin calls may use on average: past it,
    /// its plugin steps wait (others' do not).
    pub plugin_cpu: f64,
    /// FTP logins need TLS for every account of this tenant.
    pub require_tls: bool,
    /// Whether every login and every listing of a folder is journaled
    /// (`login`, `listed`): evidence of what partners were shown, at the
    /// cost of an event each.
    pub access_events: bool,
    /// Logged-in sessions of all its partners together, at most.
    pub max_sessions: Option<u32>,
    /// Storage and bandwidth of all its partners together.
    pub usage: UsageLimits,
    /// Pushes and pulls running at once, at most.
    pub max_connector_transfers: Option<u32>,
    /// The bearer token that reaches this tenant, and only it, in the admin API.
    pub api_token: Option<Secret>,
    pub partners: BTreeMap<String, Partner>,
}

impl Tenant {
    /// The partner that owns `login`, with the account.
    pub fn account(&self, login: &str) -> Option<(&Partner, &Account)> {
        self.partners.values().find_map(|partner| {
            partner
                .accounts
                .iter()
                .find(|account| account.login == login)
                .map(|account| (partner, account))
        })
    }
}

/// What a tenant, or one partner of it, may use; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageLimits {
    /// Bytes kept of what was received (uploads and pulls), until retention
    /// removes them.
    pub quota: Option<u64>,
    /// Bytes per second received from clients.
    pub upload_rate: Option<u64>,
    /// Bytes per second sent to clients.
    pub download_rate: Option<u64>,
}

/// How a partner signals that an upload is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Completion {
    /// Closing the file completes it.
    #[default]
    Close,
    /// Files named `*.part`, `*.tmp` or `*.filepart` (FileZilla, WinSCP)
    /// complete when renamed to their final name; others on close.
    Rename,
    /// A file completes when `NAME.sha256` arrives and its hash matches.
    Sidecar,
}

impl Completion {
    /// The temporary suffixes of the rename mode.
    pub const TEMPORARY: [&'static str; 3] = [".part", ".tmp", ".filepart"];
}

#[derive(Debug, Clone)]
pub struct Partner {
    pub name: String,
    pub accounts: Vec<Account>,
    /// Logged-in sessions of its accounts together, at most.
    pub max_sessions: Option<u32>,
    /// Storage and bandwidth of its sessions together.
    pub usage: UsageLimits,
    /// Where its logins may come from; anywhere when empty.
    pub allow_from: Vec<IpNet>,
    pub routes: Vec<Route>,
    /// Whether the built-in acknowledger writes `.received` / `.rejected` files.
    pub receipts: bool,
    /// Whether each outbox file has a virtual `NAME.sha256` next to it.
    pub sha256_files: bool,
    pub completion: Completion,
    /// Plugin files by role (`validator`, `router`, `acknowledger`), as
    /// absolute paths.
    pub plugins: BTreeMap<&'static str, PathBuf>,
    /// Parameters the partner's plugins read.
    pub params: std::sync::Arc<BTreeMap<String, String>>,
    /// The partner's own server, if ferry pulls from it or pushes to it.
    pub connector: Option<Connector>,
    pub pull: Option<Pull>,
    pub push: Option<Push>,
    /// OpenPGP and zip, on what it sends and what it is delivered.
    pub transforms: super::Transforms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorProtocol {
    Sftp,
    Ftp,
    /// FTP upgraded with `AUTH TLS`.
    Ftps,
    /// FTP over TLS from the first byte.
    FtpsImplicit,
    /// A directory on this host.
    Local,
}

impl ConnectorProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorProtocol::Sftp => "sftp",
            ConnectorProtocol::Ftp => "ftp",
            ConnectorProtocol::Ftps => "ftps",
            ConnectorProtocol::FtpsImplicit => "ftps-implicit",
            ConnectorProtocol::Local => "local",
        }
    }

    pub fn is_ftp(self) -> bool {
        matches!(
            self,
            ConnectorProtocol::Ftp | ConnectorProtocol::Ftps | ConnectorProtocol::FtpsImplicit
        )
    }
}

/// A password read from a file or the environment. Its `Debug` prints
/// nothing of it, so that logging a configuration cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// How ferry reaches a partner's server.
#[derive(Debug, Clone)]
pub struct Connector {
    pub protocol: ConnectorProtocol,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    /// SFTP: an OpenSSH private key file, absolute.
    pub key_file: Option<PathBuf>,
    /// SFTP: the pinned host key fingerprint (`SHA256:...`).
    pub host_key: Option<String>,
    /// FTPS: certificates to trust instead of the system roots.
    pub tls_ca_file: Option<PathBuf>,
    /// FTP: EPSV (true) or PASV.
    pub extended_passive: bool,
    /// Local: the directory, absolute.
    pub path: Option<PathBuf>,
    pub timeout: std::time::Duration,
}

impl Connector {
    /// What logs and the journal show: never the password.
    pub fn describe(&self) -> String {
        match self.protocol {
            ConnectorProtocol::Local => format!(
                "local:{}",
                self.path
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            ),
            protocol => format!(
                "{}://{}@{}:{}",
                protocol.as_str(),
                self.user,
                self.host,
                self.port
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Schedule {
    Every(std::time::Duration),
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// The time of the next poll after `now`.
    pub fn next_after(&self, now: std::time::SystemTime) -> std::time::SystemTime {
        match self {
            Schedule::Every(every) => now + *every,
            Schedule::Cron(cron) => {
                let now: chrono::DateTime<chrono::Utc> = now.into();
                cron.find_next_occurrence(&now, false)
                    .map(std::time::SystemTime::from)
                    // An expression with no next time (a date in the past)
                    // still polls now and then rather than never.
                    .unwrap_or_else(|_| {
                        std::time::SystemTime::now() + std::time::Duration::from_secs(3600)
                    })
            }
        }
    }
}

/// When a remote file is complete enough to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stable {
    /// Its size and modification time are the same on two polls in a row.
    Unchanged,
    /// `NAME.done` exists next to it.
    DoneFile,
    /// `NAME.sha256` exists next to it, and the fetched bytes match it.
    Sidecar,
}

/// What happens to a remote file once ferry has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Leave,
    Delete,
    /// Into this remote directory.
    Move(String),
    /// Renamed to NAME + suffix in place.
    Suffix(String),
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub from: String,
    pub schedule: Schedule,
    /// Names to take; empty takes every file.
    pub patterns: Vec<GlobMatcher>,
    pub stable: Stable,
    pub then: Disposition,
    /// Server to server: matching files go to this partner's FTP server
    /// directly, without passing through ferry.
    pub fxp_to: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Push {
    pub to: String,
    pub temp_suffix: String,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub login: String,
    /// An argon2 PHC string; verified, never printed.
    pub password_hash: Option<String>,
    /// OpenSSH `authorized_keys` lines.
    pub ssh_keys: Vec<String>,
    /// The SHA-256 (lowercase hex) of the account's bearer token for the
    /// HTTPS file API. A fast hash is enough: ferry makes the tokens, 256
    /// random bits each, so nothing can be guessed from the hash, and a
    /// request checks one without argon2's tens of milliseconds.
    pub token_sha256: Option<String>,
    /// Whether a login needs a key and then the password (SFTP), not either.
    pub key_and_password: bool,
    /// Whether an FTP login needs TLS first.
    pub require_tls: bool,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub pattern: GlobMatcher,
    pub to: String,
    /// A name template with `{name}`, `{stem}` and `{ext}`; `None` keeps the name.
    pub name: Option<String>,
}

impl Route {
    pub fn target_name(&self, name: &str) -> String {
        let Some(template) = &self.name else {
            return name.to_owned();
        };
        let (stem, ext) = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => (stem, ext),
            _ => (name, ""),
        };
        template
            .replace("{name}", name)
            .replace("{stem}", stem)
            .replace("{ext}", ext)
    }
}

/// An address or a network, `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: std::net::IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// `ADDRESS` or `ADDRESS/PREFIX`; `None` when it is neither.
    pub fn parse(text: &str) -> Option<IpNet> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        // An IPv4 client on an IPv6 socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
            v4 => v4,
        };
        let bits = |ip: std::net::IpAddr| -> (u128, u32) {
            match ip {
                std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let ((net, width), (addr, addr_width)) = (bits(self.addr), bits(ip));
        if width != addr_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (addr >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::IpNet;

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(
            IpNet::parse("0.0.0.0/0")
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
        assert!(
            IpNet::parse("2001:db8::/32")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert!(
            !IpNet::parse("2001:db8::/32")
                .unwrap()
                .contains("10.0.0.1".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0/8", "::1/129", "1.2.3.4/"] {
            assert_eq!(IpNet::parse(bad), None, "{bad}");
        }
    }
}
