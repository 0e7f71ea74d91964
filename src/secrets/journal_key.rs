//! The journal key: the Ed25519 key that signs checkpoints of the journal
//! (`src/proofs`), made at first start in `DATA_DIR/journal_key/`, the
//! same on every node of a cluster (`shared.rs`).
//!
//! Its public half has a stable text form, one line, that partners keep to
//! verify proofs offline: `ferry-journal-ed25519 BASE64` (the 32 raw bytes,
//! standard base64 with padding).

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use sha2::Digest as _;

use super::SecretsError;

/// The key file, relative to the data directory: PKCS#8, owner-only.
pub const FILE: &str = "journal_key/ed25519.pk8";

/// The first word of the public key's text form.
pub const PREFIX: &str = "ferry-journal-ed25519";

pub struct JournalKey {
    pair: Ed25519KeyPair,
    public: [u8; 32],
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private half is never shown.
        f.debug_struct("JournalKey")
            .field("key_id", &self.key_id())
            .finish()
    }
}

impl JournalKey {
    /// The data directory's key, made and written when there is none.
    pub fn load_or_create(data_dir: &Path) -> Result<JournalKey, SecretsError> {
        let path = data_dir.join(FILE);
        if !path.exists() {
            let dir = path.parent().expect("FILE has a folder");
            std::fs::create_dir_all(dir).map_err(|source| SecretsError::Io {
                doing: "creating",
                path: dir.to_owned(),
                source,
            })?;
            let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|e| {
                SecretsError::Make {
                    what: "the journal key",
                    why: e.to_string(),
                }
            })?;
            super::tls::write_private(&path, document.as_ref())?;
            tracing::info!(path = %path.display(), "made the journal key");
        }
        Self::read(&path)
    }

    fn read(path: &PathBuf) -> Result<JournalKey, SecretsError> {
        let bytes = std::fs::read(path).map_err(|source| SecretsError::Io {
            doing: "reading",
            path: path.clone(),
            source,
        })?;
        let pair = Ed25519KeyPair::from_pkcs8(&bytes).map_err(|e| SecretsError::Unusable {
            path: path.clone(),
            why: format!("not an Ed25519 key in PKCS#8: {e}"),
        })?;
        let public = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| SecretsError::Unusable {
                path: path.clone(),
                why: "its public key is not 32 bytes".into(),
            })?;
        Ok(JournalKey { pair, public })
    }

    /// The 64-byte Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// `ferry-journal-ed25519 BASE64`.
    pub fn public_text(&self) -> String {
        format!(
            "{PREFIX} {}",
            base64::engine::general_purpose::STANDARD.encode(self.public)
        )
    }

    pub fn key_id(&self) -> String {
        key_id(&self.public)
    }
}

/// The first 16 hexadecimal digits of the public key's SHA-256: which key
/// signed a checkpoint.
pub fn key_id(public: &[u8; 32]) -> String {
    hex::encode(sha2::Sha256::digest(public))[..16].to_owned()
}

/// A public key from its text form (blank lines and `#` comments around it
/// are allowed).
pub fn parse_public(text: &str) -> Result<[u8; 32], String> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or("no key: expected a line `ferry-journal-ed25519 BASE64`")?;
    let Some(encoded) = line.strip_prefix(PREFIX).map(str::trim) else {
        return Err(format!(
            "`{line}` is not a ferry journal key: it must start with `{PREFIX}`"
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("the key is not base64: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| "the key is not 32 bytes (an Ed25519 public key)".to_owned())
}

/// Whether `signature` is `public`'s Ed25519 signature of `message`.
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&signature::ED25519, public)
        .verify(message, signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_signs_what_its_text_form_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let key = JournalKey::load_or_create(dir.path()).unwrap();
        let again = JournalKey::load_or_create(dir.path()).unwrap();
        assert_eq!(key.public(), again.public(), "made once, then read");
        let public = parse_public(&format!("# acme's ferry\n{}\n", key.public_text())).unwrap();
        let signature = key.sign(b"checkpoint");
        assert!(verify(&public, b"checkpoint", &signature));
        assert!(!verify(&public, b"checkpoinT", &signature));
        assert!(parse_public("ssh-ed25519 AAAA").is_err());
        assert_eq!(key_id(&public), key.key_id());
    }
}
