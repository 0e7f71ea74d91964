//! The secrets the nodes of one journal share: the SSH host keys and the
//! self-signed FTPS certificate, so that a partner behind a load balancer
//! never sees a host key change.
//!
//! They are kept in the journal sealed (AES-256-GCM, a random nonce each,
//! the secret's name as associated data) with the key every node is given
//! (`[server] secrets_key_file`); the journal never holds one in clear. At
//! start a node takes what the journal holds into its data directory, where
//! the protocols read them as ever; what the journal lacks the node makes
//! (or takes from its files) and offers, and of two nodes offering at once
//! both end with the one the journal kept.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::SecretsError;
use crate::journal::Cluster;

/// The shared secrets: their names in the journal and their files in the
/// data directory. The certificate and its key travel together, so that
/// no node ever pairs one node's certificate with another's key.
const SHARED: [(&str, &[&str]); 4] = [
    ("ssh_host_ed25519_key", &["host_keys/ssh_host_ed25519_key"]),
    ("ssh_host_rsa_key", &["host_keys/ssh_host_rsa_key"]),
    ("ftps_self_signed", &["tls/cert.pem", "tls/key.pem"]),
    // Checkpoints signed by any node verify with the one published key.
    ("journal_ed25519", &[super::journal_key::FILE]),
];

/// Makes the data directory's host keys and self-signed certificate the
/// cluster's: taken from the journal, or made and offered to it.
/// `key_hex` is the secrets key, 64 hex digits.
pub fn share(journal: &dyn Cluster, data_dir: &Path, key_hex: &str) -> Result<(), SecretsError> {
    let key = Key::new(key_hex)?;
    let mut missing = Vec::new();
    for (name, files) in SHARED {
        match journal.secret(name).map_err(|e| journal_error(name, &e))? {
            Some(sealed) => write(data_dir, files, &key.open(name, &sealed)?)?,
            None => missing.push((name, files)),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    // This node is the first: what it has, or makes now, becomes the
    // cluster's, unless another node offers first.
    super::host_keys::load_or_create(data_dir)?;
    super::tls::self_signed(data_dir)?;
    super::journal_key::JournalKey::load_or_create(data_dir)?;
    for (name, files) in missing {
        let mine = read(data_dir, files)?;
        let kept = journal
            .offer_secret(name, &key.seal(name, &mine)?)
            .map_err(|e| journal_error(name, &e))?;
        let kept = key.open(name, &kept)?;
        if kept != mine {
            write(data_dir, files, &kept)?;
        }
        tracing::info!(secret = name, "shared through the journal");
    }
    Ok(())
}

/// The files of one secret, each as a length-prefixed part.
fn read(data_dir: &Path, files: &[&str]) -> Result<Vec<u8>, SecretsError> {
    let mut joined = Vec::new();
    for file in files {
        let path = data_dir.join(file);
        let bytes = std::fs::read(&path).map_err(|source| SecretsError::Io {
            doing: "reading",
            path,
            source,
        })?;
        joined.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        joined.extend_from_slice(&bytes);
    }
    Ok(joined)
}

/// Writes the parts of a secret to its files (owner-only), where they
/// differ from what is there.
fn write(data_dir: &Path, files: &[&str], joined: &[u8]) -> Result<(), SecretsError> {
    let mut rest = joined;
    for file in files {
        let path = data_dir.join(file);
        let unusable = |why: &str| SecretsError::Unusable {
            path: PathBuf::from(format!("the journal's copy of {file}")),
            why: why.to_owned(),
        };
        let (len, tail) = rest
            .split_at_checked(8)
            .ok_or_else(|| unusable("cut short"))?;
        let len = u64::from_be_bytes(len.try_into().expect("8 bytes")) as usize;
        let (bytes, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| unusable("cut short"))?;
        rest = tail;
        if std::fs::read(&path).ok().as_deref() == Some(bytes) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| SecretsError::Io {
                doing: "creating",
                path: dir.to_owned(),
                source,
            })?;
        }
        super::tls::write_private(&path, bytes)?;
        tracing::info!(path = %path.display(), "taken from the journal");
    }
    Ok(())
}

fn journal_error(name: &str, e: &crate::journal::JournalError) -> SecretsError {
    SecretsError::Unusable {
        path: PathBuf::from(format!("the journal's {name}")),
        why: crate::error_chain(e),
    }
}

/// The secrets key: what seals the secrets the nodes share (here, and the
/// shared tenants' files in `crate::settings`).
pub(crate) struct Key(LessSafeKey);

impl Key {
    pub(crate) fn new(hex_key: &str) -> Result<Key, SecretsError> {
        let invalid = |why: String| SecretsError::Make {
            what: "the secrets key",
            why,
        };
        let bytes = hex::decode(hex_key.trim()).map_err(|e| invalid(e.to_string()))?;
        let key = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| invalid("it must be 32 bytes (64 hex digits)".into()))?;
        Ok(Key(LessSafeKey::new(key)))
    }

    /// `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, name: &str, plain: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = plain.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(name.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SecretsError::Make {
                what: "a sealed secret",
                why: "sealing failed".into(),
            })?;
        Ok([&nonce[..], &sealed].concat())
    }

    pub(crate) fn open(&self, name: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretsError> {
        let refused = || SecretsError::Unusable {
            path: PathBuf::from(format!("the journal's {name}")),
            why: "it cannot be opened with this node's secrets key: every node of a journal needs \
                  the same `secrets_key_file`"
                .into(),
        };
        let (nonce, body) = sealed.split_at_checked(NONCE_LEN).ok_or_else(refused)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut body = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(name.as_bytes()), &mut body)
            .map_err(|_| refused())?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_name_only() {
        let key = Key::new(&"11".repeat(32)).unwrap();
        let sealed = key.seal("ssh_host_rsa_key", b"secret bytes").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "sealed in clear"
        );
        assert_eq!(
            key.open("ssh_host_rsa_key", &sealed).unwrap(),
            b"secret bytes"
        );
        assert!(
            key.open("ftps_self_signed", &sealed).is_err(),
            "another name"
        );
        let other = Key::new(&"22".repeat(32)).unwrap();
        assert!(
            other.open("ssh_host_rsa_key", &sealed).is_err(),
            "another key"
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open("ssh_host_rsa_key", &altered).is_err(), "altered");
    }
}
