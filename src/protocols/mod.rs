//! The servers partners connect to. A protocol module turns its requests
//! into `tenant::Tenant` operations; none of them touches the file system.

pub mod ftp;
pub mod https;
pub mod listing;
pub mod login;
pub mod sftp;

/// Why a listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("binding the {what} on {address}")]
    Bind {
        what: String,
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("setting up TLS: {0}")]
    Tls(String),
    #[error("preparing the listener: {0}")]
    Task(#[from] tokio::task::JoinError),
}
