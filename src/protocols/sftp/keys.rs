//! Host keys: made on first start, kept in `DATA_DIR/host_keys/`.

use std::path::Path;

use russh::keys::{Algorithm, HashAlg, PrivateKey};

/// The host key files, ed25519 first (modern clients) then RSA (old ones).
const FILES: [&str; 2] = ["ssh_host_ed25519_key", "ssh_host_rsa_key"];

/// What the key files looked like: their sizes and modification times.
pub type Stamp = [(u64, Option<std::time::SystemTime>); 2];

pub fn stamp(data_dir: &Path) -> Stamp {
    let dir = data_dir.join("host_keys");
    FILES.map(|file| {
        std::fs::metadata(dir.join(file)).map_or((0, None), |m| (m.len(), m.modified().ok()))
    })
}

/// The host keys as the files are now (after a replacement).
pub fn load(data_dir: &Path) -> anyhow::Result<Vec<PrivateKey>> {
    let dir = data_dir.join("host_keys");
    FILES
        .iter()
        .map(|file| {
            let path = dir.join(file);
            PrivateKey::read_openssh_file(&path)
                .map_err(|e| anyhow::anyhow!("reading the host key {}: {e}", path.display()))
        })
        .collect()
}

/// The host keys, ed25519 first (modern clients) then RSA (old ones).
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Vec<PrivateKey>> {
    let dir = data_dir.join("host_keys");
    std::fs::create_dir_all(&dir)?;
    let mut keys = Vec::new();
    for (file, algorithm) in FILES
        .into_iter()
        .zip([Algorithm::Ed25519, Algorithm::Rsa { hash: None }])
    {
        let path = dir.join(file);
        let key = if path.exists() {
            PrivateKey::read_openssh_file(&path)
                .map_err(|e| anyhow::anyhow!("reading the host key {}: {e}", path.display()))?
        } else {
            let key = match algorithm {
                // 3072 bits: OpenSSH's default size.
                Algorithm::Rsa { .. } => russh::keys::PrivateKey::from(
                    russh::keys::ssh_key::private::RsaKeypair::random(&mut rand::rng(), 3072)
                        .map_err(|e| anyhow::anyhow!("making an RSA host key: {e}"))?,
                ),
                _ => PrivateKey::random(&mut rand::rng(), algorithm.clone())
                    .map_err(|e| anyhow::anyhow!("making a host key: {e}"))?,
            };
            key.write_openssh_file(&path, russh::keys::ssh_key::LineEnding::LF)
                .map_err(|e| anyhow::anyhow!("writing the host key {}: {e}", path.display()))?;
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
