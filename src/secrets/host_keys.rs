//! SSH host keys: made on first start, kept in `DATA_DIR/host_keys/`.

use std::path::Path;

use russh::keys::{Algorithm, HashAlg, PrivateKey};

use super::{SecretsError, Stamp};

/// The host key files, ed25519 first (modern clients) then RSA (old ones).
const FILES: [&str; 2] = ["ssh_host_ed25519_key", "ssh_host_rsa_key"];

/// What the key files look like now, to tell a replacement.
pub fn stamp(data_dir: &Path) -> Stamp<2> {
    let dir = data_dir.join("host_keys");
    let [a, b] = FILES.map(|file| dir.join(file));
    super::stamp([&a, &b])
}

/// The host keys as the files are now (after a replacement).
pub fn load(data_dir: &Path) -> Result<Vec<PrivateKey>, SecretsError> {
    let dir = data_dir.join("host_keys");
    FILES.iter().map(|file| read(&dir.join(file))).collect()
}

fn read(path: &Path) -> Result<PrivateKey, SecretsError> {
    PrivateKey::read_openssh_file(path).map_err(|e| SecretsError::Unusable {
        path: path.to_owned(),
        why: format!("not an OpenSSH private key: {e}"),
    })
}

/// The host keys, ed25519 first (modern clients) then RSA (old ones);
/// those missing are made and written.
pub fn load_or_create(data_dir: &Path) -> Result<Vec<PrivateKey>, SecretsError> {
    let dir = data_dir.join("host_keys");
    std::fs::create_dir_all(&dir).map_err(|source| SecretsError::Io {
        doing: "creating",
        path: dir.clone(),
        source,
    })?;
    let mut keys = Vec::new();
    for (file, algorithm) in FILES
        .into_iter()
        .zip([Algorithm::Ed25519, Algorithm::Rsa { hash: None }])
    {
        let path = dir.join(file);
        let key = if path.exists() {
            read(&path)?
        } else {
            let made = |e: russh::keys::ssh_key::Error| SecretsError::Make {
                what: "a host key",
                why: e.to_string(),
            };
            let key = match algorithm {
                // 3072 bits: OpenSSH's default size.
                Algorithm::Rsa { .. } => PrivateKey::from(
                    russh::keys::ssh_key::private::RsaKeypair::random(&mut rand::rng(), 3072)
                        .map_err(made)?,
                ),
                _ => PrivateKey::random(&mut rand::rng(), algorithm.clone()).map_err(made)?,
            };
            key.write_openssh_file(&path, russh::keys::ssh_key::LineEnding::LF)
                .map_err(|e| SecretsError::Io {
                    doing: "writing",
                    path: path.clone(),
                    source: std::io::Error::other(e),
                })?;
            tracing::info!(path = %path.display(), "made a new host key");
            key
        };
        tracing::info!(
            algorithm = %key.algorithm(),
            fingerprint = %key.fingerprint(HashAlg::Sha256),
            "SSH host key"
        );
        keys.push(key);
    }
    Ok(keys)
}
