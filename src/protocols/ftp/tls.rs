//! The FTPS certificate: from the listener's `tls_cert`/`tls_key` files, or
//! a self-signed one made on first start and kept in `DATA_DIR/tls/`;
//! replaced files are picked up at the next handshake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::FtpOptions;

/// The TLS configurations of one FTP listener: for control connections and
/// for data connections. Both serve the certificate files as they are at
/// each handshake ([`CertFiles`]): replacing the files rotates the
/// certificate without a restart.
pub fn server_config(
    data_dir: &Path,
    options: &FtpOptions,
) -> anyhow::Result<(Arc<ServerConfig>, Arc<ServerConfig>)> {
    let (cert, key) = match &options.tls {
        Some((cert, key)) => (cert.clone(), key.clone()),
        None => self_signed(data_dir)?,
    };
    let files = CertFiles::load(cert.clone(), key)?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(files));
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

/// A certificate and key kept in step with their files: each handshake
/// looks at the files' size and modification time (two `stat`s), and reads
/// them again when either changed. A replacement that cannot be read, or
/// whose key does not fit its certificate, is logged and the one in use
/// stays.
#[derive(Debug)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<(Stamp, Arc<CertifiedKey>)>,
}

/// What the files looked like when they were read.
type Stamp = [(u64, Option<std::time::SystemTime>); 2];

impl CertFiles {
    fn load(cert: PathBuf, key: PathBuf) -> anyhow::Result<CertFiles> {
        let stamp = stamp(&cert, &key);
        let certified = read(&cert, &key)?;
        Ok(CertFiles {
            cert,
            key,
            current: Mutex::new((stamp, certified)),
        })
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let now = stamp(&self.cert, &self.key);
        if now != current.0 {
            match read(&self.cert, &self.key) {
                Ok(certified) => {
                    tracing::info!(certificate = %self.cert.display(), "FTPS certificate replaced");
                    *current = (now, certified);
                }
                Err(e) => {
                    // Tried again at the next handshake, in case the files
                    // were caught half-written.
                    tracing::warn!(error = %format!("{e:#}"), "a new FTPS certificate cannot be used; the current one stays");
                }
            }
        }
        Some(Arc::clone(&current.1))
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    [cert, key]
        .map(|path| std::fs::metadata(path).map_or((0, None), |m| (m.len(), m.modified().ok())))
}

fn read(cert: &Path, key: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading the certificate {}", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "no certificate in {} (expected PEM)",
        cert.display()
    );
    let private = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certified = CertifiedKey::from_der(chain, private, &provider)
        .context("the certificate and the private key do not go together")?;
    Ok(Arc::new(certified))
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
