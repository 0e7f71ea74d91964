//! The FTPS certificate: from the listener's `tls_cert`/`tls_key` files, or
//! a self-signed one made on first start and kept in `DATA_DIR/tls/`;
//! replaced files are picked up at the next handshake.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{SecretsError, Stamp};

/// The certificate a listener serves: the configured files (`tls`), or
/// the data directory's self-signed one, made when missing. Returns the
/// resolver rustls asks at each handshake and the certificate's path.
pub fn certificate(
    data_dir: &Path,
    tls: Option<&(PathBuf, PathBuf)>,
) -> Result<(Arc<dyn ResolvesServerCert>, PathBuf), SecretsError> {
    let (cert, key) = match tls {
        Some((cert, key)) => (cert.clone(), key.clone()),
        None => self_signed(data_dir)?,
    };
    let files = CertFiles::load(cert.clone(), key)?;
    Ok((Arc::new(files), cert))
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
    current: Mutex<(Stamp<2>, Arc<CertifiedKey>)>,
}

impl CertFiles {
    fn load(cert: PathBuf, key: PathBuf) -> Result<CertFiles, SecretsError> {
        let stamp = super::stamp([&cert, &key]);
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
        let now = super::stamp([&self.cert, &self.key]);
        if now != current.0 {
            match read(&self.cert, &self.key) {
                Ok(certified) => {
                    tracing::info!(certificate = %self.cert.display(), "FTPS certificate replaced");
                    *current = (now, certified);
                }
                Err(e) => {
                    // Tried again at the next handshake, in case the files
                    // were caught half-written.
                    tracing::warn!(error = %crate::error_chain(&e), "a new FTPS certificate cannot be used; the current one stays");
                }
            }
        }
        Some(Arc::clone(&current.1))
    }
}

fn read(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, SecretsError> {
    let unusable = |path: &Path, why: String| SecretsError::Unusable {
        path: path.to_owned(),
        why,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| unusable(cert, format!("cannot read the certificate: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(cert, format!("cannot read the certificate: {e}")))?;
    if chain.is_empty() {
        return Err(unusable(cert, "no certificate in it (expected PEM)".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| unusable(key, format!("cannot read the private key: {e}")))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certified = CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
        unusable(
            key,
            format!("the certificate and the private key do not go together: {e}"),
        )
    })?;
    Ok(Arc::new(certified))
}

/// `DATA_DIR/tls/cert.pem` and `key.pem`, made once.
pub(super) fn self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf), SecretsError> {
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(&dir).map_err(|source| SecretsError::Io {
        doing: "creating",
        path: dir.clone(),
        source,
    })?;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(|e| SecretsError::Make {
            what: "a self-signed certificate",
            why: e.to_string(),
        })?;
    std::fs::write(&cert, made.cert.pem()).map_err(|source| SecretsError::Io {
        doing: "writing",
        path: cert.clone(),
        source,
    })?;
    write_private(&key, made.signing_key.serialize_pem().as_bytes())?;
    tracing::info!(path = %cert.display(), "made a self-signed FTPS certificate");
    Ok((cert, key))
}

/// Writes a private key readable by its owner only.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| SecretsError::Io {
        doing: "writing",
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)
}
