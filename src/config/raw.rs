//! The TOML shape of the configuration, as serde reads it.
//!
//! These types are private to `config`: they carry `Spanned` values so that
//! semantic errors found after parsing can still name a line. The rest of
//! ferry sees only the plain types in `config::model`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The server file given to `--config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    pub server: ServerSection,
    #[serde(default)]
    pub limits: LimitsSection,
    #[serde(default)]
    pub listeners: Vec<Spanned<ListenerSection>>,
    #[serde(default)]
    pub tenants: BTreeMap<String, Spanned<TenantSection>>,
    #[serde(default)]
    pub admin: Option<Spanned<AdminSection>>,
    #[serde(default)]
    pub store: Option<StoreSection>,
    #[serde(default)]
    pub journal: Option<JournalSection>,
}

/// `[journal]`: when the server signs checkpoints of each tenant's journal.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    #[serde(default)]
    pub checkpoint_every: Option<Spanned<String>>,
    #[serde(default)]
    pub checkpoint_events: Option<Spanned<u64>>,
}

/// `[store.s3]`: where the object store named by `server.store` is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    #[serde(default)]
    pub s3: Option<Spanned<S3Section>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub region: Option<Spanned<String>>,
    #[serde(default)]
    pub access_key_id: Option<Spanned<String>>,
    #[serde(default)]
    pub secret_access_key_file: Option<Spanned<String>>,
    #[serde(default)]
    pub secret_access_key_env: Option<Spanned<String>>,
}

/// The admin HTTP API's listener and the operator's bearer token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub address: Spanned<String>,
    #[serde(default)]
    pub token_file: Option<Spanned<String>>,
    #[serde(default)]
    pub token_env: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub data_dir: Spanned<String>,
    #[serde(default)]
    pub tenants_dir: Option<Spanned<String>>,
    /// `postgres://...`: the journal in PostgreSQL instead of the embedded
    /// SQLite file in `data_dir`.
    #[serde(default)]
    pub journal: Option<Spanned<String>>,
    /// `s3://BUCKET`: content in an S3-compatible object store (see
    /// `[store.s3]`) instead of each tenant's directory.
    #[serde(default)]
    pub store: Option<Spanned<String>>,
    /// This node's name, unique among the nodes of one journal.
    #[serde(default)]
    pub node: Option<Spanned<String>>,
    /// The key that seals the secrets nodes share in a PostgreSQL journal
    /// (64 hex digits), from a file or an environment variable.
    #[serde(default)]
    pub secrets_key_file: Option<Spanned<String>>,
    #[serde(default)]
    pub secrets_key_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub pipeline_workers: Option<Spanned<u32>>,
    pub max_attempts: Option<Spanned<u32>>,
    pub max_file_size: Option<Spanned<String>>,
    pub login_failures: Option<Spanned<u32>>,
    pub ban_seconds: Option<Spanned<u64>>,
    /// `idle` (default), `low` or `normal`: the CPU priority of pipeline workers.
    pub pipeline_priority: Option<Spanned<String>>,
    /// Intervals such as `24h` or `90s`.
    pub resume_for: Option<Spanned<String>>,
    pub login_grace: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub max_suspended: Option<Spanned<u32>>,
    pub max_startups: Option<Spanned<u32>>,
    pub max_startups_per_address: Option<Spanned<u32>>,
    pub max_open_handles: Option<Spanned<u32>>,
    pub file_threads: Option<Spanned<u32>>,
    /// How long a pipeline task stays a node's without word from it.
    pub task_lease: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    pub protocol: Spanned<String>,
    pub address: Spanned<String>,
    #[serde(default)]
    pub tenant: Option<Spanned<String>>,
    /// FTP: the passive data ports, `FIRST-LAST`.
    #[serde(default)]
    pub passive_ports: Option<Spanned<String>>,
    /// FTP: the address told to clients in `227` replies.
    #[serde(default)]
    pub passive_address: Option<Spanned<String>>,
    /// FTP: allow PORT/EPRT (only ever to the control connection's address).
    #[serde(default)]
    pub active_mode: Option<bool>,
    /// FTP: certificate chain and private key (PEM); without them a
    /// self-signed certificate is made in the data directory.
    #[serde(default)]
    pub tls_cert: Option<Spanned<String>>,
    #[serde(default)]
    pub tls_key: Option<Spanned<String>>,
}

/// A tenant, either inline under `[tenants.NAME]` or alone in `tenants_dir/NAME.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    #[serde(default)]
    pub root: Option<Spanned<String>>,
    /// Whether logins and listings are journaled (access events).
    #[serde(default)]
    pub access_events: Option<bool>,
    #[serde(default)]
    pub retention_days: Option<Spanned<u32>>,
    /// CPU budget of one plugin call, in milliseconds.
    #[serde(default)]
    pub plugin_deadline_ms: Option<Spanned<u32>>,
    /// Memory cap of one plugin call (all its memories together), as a size.
    #[serde(default)]
    pub plugin_memory: Option<Spanned<String>>,
    /// The largest plugin component uploaded through the admin API, as a size.
    #[serde(default)]
    pub max_plugin_size: Option<Spanned<String>>,
    /// FTP logins of every account of the tenant need TLS.
    #[serde(default)]
    pub require_tls: Option<bool>,
    /// Logged-in sessions of the tenant's partners together, at most.
    #[serde(default)]
    pub max_sessions: Option<Spanned<u32>>,
    /// Bytes the tenant keeps of what its partners sent, at most (`10GiB`).
    #[serde(default)]
    pub quota: Option<Spanned<String>>,
    /// Bytes per second into the tenant, all sessions together (`50MiB/s`).
    #[serde(default)]
    pub upload_rate: Option<Spanned<String>>,
    /// Bytes per second out of the tenant, all sessions together.
    #[serde(default)]
    pub download_rate: Option<Spanned<String>>,
    /// The share of one core the tenant's plugins may use on average (`25%`).
    #[serde(default)]
    pub plugin_cpu: Option<Spanned<String>>,
    /// Pushes and pulls to partners' servers running at once, at most.
    #[serde(default)]
    pub max_connector_transfers: Option<Spanned<u32>>,
    /// The bearer token of the tenant's own admin API access.
    #[serde(default)]
    pub api_token_file: Option<Spanned<String>>,
    #[serde(default)]
    pub api_token_env: Option<Spanned<String>>,
    #[serde(default)]
    pub partners: BTreeMap<String, Spanned<PartnerSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerSection {
    #[serde(default)]
    pub accounts: Vec<Spanned<AccountSection>>,
    /// Logged-in sessions of the partner's accounts together, at most.
    #[serde(default)]
    pub max_sessions: Option<Spanned<u32>>,
    /// Bytes the tenant keeps of what this partner sent, at most.
    #[serde(default)]
    pub quota: Option<Spanned<String>>,
    /// Bytes per second from this partner's sessions together.
    #[serde(default)]
    pub upload_rate: Option<Spanned<String>>,
    /// Bytes per second to this partner's sessions together.
    #[serde(default)]
    pub download_rate: Option<Spanned<String>>,
    /// Addresses (`192.0.2.7`) and networks (`10.0.0.0/8`) the partner's
    /// logins may come from; any address when empty.
    #[serde(default)]
    pub allow_from: Vec<Spanned<String>>,
    #[serde(default)]
    pub routes: Vec<Spanned<RouteSection>>,
    #[serde(default)]
    pub receipts: Option<bool>,
    /// A virtual `NAME.sha256` (sha256sum format) next to each outbox file.
    #[serde(default)]
    pub sha256_files: Option<bool>,
    /// When an upload is complete: `close`, `rename` or `sidecar`.
    #[serde(default)]
    pub completion: Option<Spanned<String>>,
    /// Plugin files, by role.
    #[serde(default)]
    pub validator: Option<Spanned<String>>,
    #[serde(default)]
    pub router: Option<Spanned<String>>,
    #[serde(default)]
    pub acknowledger: Option<Spanned<String>>,
    /// Parameters the partner's plugins read with `param`.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The partner's own server, for pulling from and pushing to.
    #[serde(default)]
    pub connector: Option<Spanned<ConnectorSection>>,
    #[serde(default)]
    pub pull: Option<Spanned<PullSection>>,
    #[serde(default)]
    pub push: Option<Spanned<PushSection>>,
    /// OpenPGP public key every delivery to the partner is encrypted to.
    #[serde(default)]
    pub encrypt_to: Option<Spanned<String>>,
    /// OpenPGP public key of the partner, for deliveries a plugin asks to
    /// encrypt.
    #[serde(default)]
    pub pgp_key: Option<Spanned<String>>,
    /// OpenPGP secret key that decrypts what the partner sends.
    #[serde(default)]
    pub decrypt_with: Option<Spanned<String>>,
    #[serde(default)]
    pub passphrase_file: Option<Spanned<String>>,
    #[serde(default)]
    pub passphrase_env: Option<Spanned<String>>,
    /// OpenPGP public key whose signature what the partner sends must carry.
    #[serde(default)]
    pub verify_signature_from: Option<Spanned<String>>,
    /// Archives the partner sends become one file per entry.
    #[serde(default)]
    pub unzip: Option<bool>,
    #[serde(default)]
    pub unzip_max_total: Option<Spanned<String>>,
    #[serde(default)]
    pub unzip_max_ratio: Option<Spanned<u64>>,
    #[serde(default)]
    pub unzip_max_entries: Option<Spanned<u64>>,
    #[serde(default)]
    pub unzip_max_depth: Option<Spanned<u64>>,
    /// Every delivery to the partner is a zip archive.
    #[serde(default)]
    pub zip_to: Option<bool>,
}

/// How ferry reaches a partner's server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSection {
    /// `sftp`, `ftp`, `ftps` (explicit, AUTH TLS), `ftps-implicit` or `local`.
    pub protocol: Spanned<String>,
    #[serde(default)]
    pub host: Option<Spanned<String>>,
    #[serde(default)]
    pub port: Option<Spanned<u16>>,
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// Secrets come from a file or the environment, never the configuration.
    #[serde(default)]
    pub password_file: Option<Spanned<String>>,
    #[serde(default)]
    pub password_env: Option<Spanned<String>>,
    /// SFTP: an OpenSSH private key file.
    #[serde(default)]
    pub key_file: Option<Spanned<String>>,
    /// SFTP: the server's host key fingerprint, `SHA256:...` as `ssh-keygen -l` prints it.
    #[serde(default)]
    pub host_key: Option<Spanned<String>>,
    /// FTPS: the certificates to trust (PEM); the system roots otherwise.
    #[serde(default)]
    pub tls_ca_file: Option<Spanned<String>>,
    /// FTP: `epsv` (default) or `pasv`.
    #[serde(default)]
    pub passive: Option<Spanned<String>>,
    /// Local: the directory that stands for the partner's server.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// How long one network operation may take, in seconds.
    #[serde(default)]
    pub timeout_seconds: Option<Spanned<u64>>,
}

/// Fetching files the partner leaves on its server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSection {
    /// The remote directory to poll.
    pub from: Spanned<String>,
    /// An interval such as `30s` or `5m`.
    #[serde(default)]
    pub every: Option<Spanned<String>>,
    /// A cron expression (five or six fields), instead of `every`.
    #[serde(default)]
    pub cron: Option<Spanned<String>>,
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
    /// `unchanged` (size and time the same on two polls), `done-file` or `sidecar`.
    #[serde(default)]
    pub stable: Option<Spanned<String>>,
    /// `leave`, `delete`, `move` or `suffix`.
    #[serde(default)]
    pub then: Option<Spanned<String>>,
    /// The remote directory of `then = "move"`.
    #[serde(default)]
    pub move_to: Option<Spanned<String>>,
    /// The suffix of `then = "suffix"`.
    #[serde(default)]
    pub suffix: Option<Spanned<String>>,
    /// Another partner reached over FTP: files go there server to server (FXP).
    #[serde(default)]
    pub fxp_to: Option<Spanned<String>>,
}

/// Placing files on the partner's server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSection {
    /// The remote directory to write into.
    pub to: Spanned<String>,
    /// Files are written under NAME + this suffix, then renamed.
    #[serde(default)]
    pub temp_suffix: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSection {
    pub login: Spanned<String>,
    #[serde(default)]
    pub password_hash: Option<Spanned<String>>,
    #[serde(default)]
    pub ssh_keys: Vec<Spanned<String>>,
    /// The SHA-256 (hex) of the account's bearer token for the HTTPS file API.
    #[serde(default)]
    pub token_sha256: Option<Spanned<String>>,
    /// `any` (default): a key or the password; `key-and-password`: both, key first.
    #[serde(default)]
    pub require: Option<Spanned<String>>,
    /// FTP logins of this account need TLS (AUTH TLS or implicit FTPS).
    #[serde(default)]
    pub require_tls: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    #[serde(rename = "match", default)]
    pub pattern: Option<Spanned<String>>,
    pub to: Spanned<String>,
    #[serde(default)]
    pub name: Option<Spanned<String>>,
}
