//! The TLS configurations of an FTP listener, around the certificate that
//! `secrets::tls` keeps in step with its files.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;

use crate::config::FtpOptions;
use crate::secrets::SecretsError;

/// The TLS configurations of one FTP listener: for control connections and
/// for data connections. Both serve the certificate files as they are at
/// each handshake: replacing the files rotates the certificate without a
/// restart.
pub fn server_config(
    data_dir: &Path,
    options: &FtpOptions,
) -> Result<(Arc<ServerConfig>, Arc<ServerConfig>), SecretsError> {
    let (resolver, cert) = crate::secrets::tls::certificate(data_dir, options.tls.as_ref())?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    // Data connections resume the control connection's TLS session (clients
    // such as curl and lftp do): a handshake per file costs a round trip and
    // a key exchange.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    // A data connection shares the session cache (so it can resume the
    // control connection's session) but sends no TLS 1.3 session tickets:
    // an uploading client never reads from its data connection, and
    // closing it with a ticket unread makes its kernel reset the
    // connection, which would look like a cut-off upload.
    let mut data = config.clone();
    data.send_tls13_tickets = 0;
    tracing::info!(certificate = %cert.display(), "FTPS certificate");
    Ok((Arc::new(config), Arc::new(data)))
}
