//! The FTPS certificate: from the listener's `tls_cert`/`tls_key` files, or
//! a self-signed one made on first start and kept in `DATA_DIR/tls/`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::FtpOptions;

/// The TLS configurations of one FTP listener: for control connections and
/// for data connections.
pub fn server_config(
    data_dir: &Path,
    options: &FtpOptions,
) -> anyhow::Result<(Arc<ServerConfig>, Arc<ServerConfig>)> {
    let (cert, key) = match &options.tls {
        Some((cert, key)) => (cert.clone(), key.clone()),
        None => self_signed(data_dir)?,
    };
    let chain = CertificateDer::pem_file_iter(&cert)
        .with_context(|| format!("reading the certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the certificate {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate in {} (expected PEM)",
        cert.display()
    );
    let private = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .context("the certificate and the private key do not go together")?;
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

/// `DATA_DIR/tls/cert.pem` and `key.pem`, made once.
fn self_signed(data_dir: &Path) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf)> {
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .context("making a self-signed certificate")?;
    std::fs::write(&cert, made.cert.pem())
        .with_context(|| format!("writing {}", cert.display()))?;
    write_private(&key, made.signing_key.serialize_pem().as_bytes())?;
    tracing::info!(path = %cert.display(), "made a self-signed FTPS certificate");
    Ok((cert, key))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
