//! OpenPGP over rpgp (the `pgp` crate): encryption to a partner's public
//! key, and decryption (and signature checks) of what a partner sends.
//!
//! Encryption writes SEIPDv1 (integrity-protected, AES-256), which every
//! GnuPG reads; the newer SEIPDv2 (RFC 9580 AEAD) is not read by GnuPG 2.2
//! and 2.4. Decryption streams: rpgp's default for SEIPDv1 holds the whole
//! message in memory to check its integrity code before releasing a byte.
//! Streaming releases plaintext that is checked only at the end, which is
//! safe here because nothing acts on it before then: it goes to a staging
//! upload, and a failed check at the end drops that upload unseen.

use std::io::{BufReader, Read};
use std::path::Path;

use pgp::composed::{
    DecryptionOptions, Deserializable, Message, MessageBuilder, SignedPublicKey,
    SignedPublicSubKey, SignedSecretKey, TheRing,
};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::SignatureType;
use pgp::types::{KeyDetails, Password, Seipdv1ReadMode};

use super::{Bounded, TransformError};
use crate::store::{Blob, Committed, Store};

/// A partner's public key: files delivered to it are encrypted to it, or
/// signatures on its files are checked with it.
#[derive(Debug, Clone)]
pub struct Recipient {
    cert: SignedPublicKey,
    fingerprint: String,
}

impl Recipient {
    /// Reads an armored (`.asc`) or binary public key. The reason names
    /// what is wrong with it, for the configuration's error.
    pub fn load(path: &Path) -> Result<Recipient, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
        let (cert, _) = SignedPublicKey::from_reader_single(BufReader::new(file))
            .map_err(|e| format!("not an OpenPGP public key: {e}"))?;
        cert.verify_bindings()
            .map_err(|e| format!("the key's self-signatures do not verify: {e}"))?;
        let fingerprint = hex::encode_upper(cert.fingerprint().as_bytes());
        Ok(Recipient { cert, fingerprint })
    }

    /// The primary key's fingerprint, upper-case hex as GnuPG prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The subkey to encrypt to: the newest one (the last in the key)
    /// flagged for encryption whose algorithm can, and which is not
    /// revoked: a partner that replaces a compromised subkey adds a new one
    /// and revokes the old.
    fn encryption_subkey(&self) -> Option<&SignedPublicSubKey> {
        self.cert.public_subkeys.iter().rev().find(|sub| {
            let revoked = sub
                .signatures
                .iter()
                .any(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation));
            !revoked
                && sub.key.algorithm().can_encrypt()
                && sub.signatures.iter().any(|sig| {
                    let flags = sig.key_flags();
                    flags.encrypt_comms() || flags.encrypt_storage()
                })
        })
    }

    /// Whether the key can be encrypted to at all (checked at load time
    /// for `encrypt_to`, so that a signing-only key is a configuration
    /// error rather than a failed delivery).
    pub fn can_encrypt(&self) -> bool {
        self.encryption_subkey().is_some()
    }
}

/// Our secret key for what a partner encrypts to us, and its passphrase.
#[derive(Clone)]
pub struct DecryptKey {
    key: SignedSecretKey,
    /// Never printed: `Debug` below leaves it out.
    passphrase: String,
    fingerprint: String,
}

impl std::fmt::Debug for DecryptKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the key nor its passphrase is ever printed.
        f.debug_struct("DecryptKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl DecryptKey {
    /// Reads an armored or binary secret key, and checks that the
    /// passphrase unlocks it.
    pub fn load(path: &Path, passphrase: String) -> Result<DecryptKey, String> {
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
        let (key, _) = SignedSecretKey::from_reader_single(BufReader::new(file))
            .map_err(|e| format!("not an OpenPGP secret key: {e}"))?;
        key.verify_bindings()
            .map_err(|e| format!("the key's self-signatures do not verify: {e}"))?;
        let password = Password::from(passphrase.as_str());
        let unlocked = match key.secret_subkeys.first() {
            Some(sub) => sub.key.unlock(&password, |_, _| Ok(())),
            None => key.primary_key.unlock(&password, |_, _| Ok(())),
        };
        match unlocked {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => {
                return Err(format!("the passphrase does not unlock it: {e}"));
            }
        }
        let fingerprint = hex::encode_upper(key.fingerprint().as_bytes());
        Ok(DecryptKey {
            key,
            passphrase,
            fingerprint,
        })
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// Encrypts `input` to `to` into a new blob. Each call draws a new session
/// key, so two runs give two different ciphertexts of the same plaintext.
pub fn encrypt(
    input: Blob,
    name: &str,
    to: &Recipient,
    store: &Store,
) -> Result<Committed, TransformError> {
    let subkey = to.encryption_subkey().ok_or_else(|| {
        TransformError::refused(format!(
            "the key {} has no encryption subkey",
            to.fingerprint
        ))
    })?;
    let mut rng = rand08::thread_rng();
    let mut builder = MessageBuilder::from_reader(name.to_owned(), input)
        .seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
    builder.encrypt_to_key(&mut rng, subkey).map_err(|e| {
        TransformError::refused(format!("cannot encrypt to {}: {e}", to.fingerprint))
    })?;
    let mut out = Bounded::new(store, None)?;
    if let Err(e) = builder.to_writer(&mut rng, &mut out) {
        // The input is our own stored file: a failure here is the store's
        // (reading the blob or writing the output), so it is retried.
        return Err(crate::store::StoreError::Io {
            doing: "encrypting a delivery",
            source: std::io::Error::other(e.to_string()),
        }
        .into());
    }
    out.commit()
}

/// What decryption found besides the plaintext.
#[derive(Debug, Clone)]
pub struct Decrypted {
    pub committed: Committed,
    /// The fingerprint of the key whose signature verified, when a signer
    /// was asked for.
    pub signed_by: Option<String>,
}

/// Decrypts `input` with `key` into a new blob of at most `limit` bytes;
/// with `signer`, the message must carry a signature by that key (checked
/// after the last byte, as the integrity code is).
pub fn decrypt(
    input: Blob,
    key: &DecryptKey,
    signer: Option<&Recipient>,
    store: &Store,
    limit: Option<u64>,
) -> Result<Decrypted, TransformError> {
    // Compressed data may expand without end (a compression bomb, layers
    // of it): the plaintext is bounded by `limit` and by a ratio to the
    // ciphertext, whichever is smaller.
    let ratio_bound = input
        .size()
        .saturating_mul(MAX_EXPANSION)
        .max(EXPANSION_FLOOR);
    let bound = limit.map_or(ratio_bound, |limit| limit.min(ratio_bound));
    let (input, failed) = super::Watched::new(input);
    let mut input = BufReader::with_capacity(super::CHUNK, input);
    if !looks_like_openpgp(&mut input)? {
        return Err(TransformError::refused(
            "the file is not an OpenPGP message: this partner's files must be encrypted to our key",
        ));
    }
    let parsed = Message::from_reader(input);
    super::check_read(&failed)?;
    let (message, _) = parsed
        .map_err(|e| TransformError::refused(format!("not a readable OpenPGP message: {e}")))?;
    if !message.is_encrypted() {
        return Err(TransformError::refused(
            "the file is not encrypted (expected an OpenPGP message encrypted to our key)",
        ));
    }
    let password = Password::from(key.passphrase.as_str());
    let ring = TheRing {
        secret_keys: vec![&key.key],
        key_passwords: vec![&password],
        // GnuPG 2.4 writes its own AEAD packets (OCB) to keys that announce
        // them, as keys made or edited by 2.4 do: authenticated and
        // chunked, as safe to read as SEIPD.
        decrypt_options: DecryptionOptions::new()
            .set_seipdv1_read_mode(Seipdv1ReadMode::Streaming)
            .enable_gnupg_aead(),
        ..Default::default()
    };
    let decrypted = message.decrypt_the_ring(ring, true);
    super::check_read(&failed)?;
    let (mut message, _) = decrypted.map_err(|e| {
        TransformError::refused(format!(
            "cannot decrypt with our key {}: {e}",
            key.fingerprint
        ))
    })?;
    // From here on the plaintext is read before its integrity is checked,
    // so what goes wrong is told to the sender in one fixed sentence: the
    // parser's own messages name packets and bytes of unauthenticated
    // plaintext, which a sender who altered a ciphertext must not learn.
    // The details go to the server's log.
    let altered = |detail: &dyn std::fmt::Display| {
        tracing::info!(%detail, "an OpenPGP message failed after its session key was found");
        TransformError::refused(
            "the message could not be decrypted and checked: it was altered, cut short, \
             or is not one OpenPGP message",
        )
    };
    // Compressed layers, under a signature or not, down to the literal
    // data; GnuPG writes one.
    let mut layers = 0;
    while message.literal_data_header().is_none() {
        layers += 1;
        if layers > MAX_LAYERS {
            return Err(TransformError::refused(format!(
                "the message nests more than {MAX_LAYERS} compressed layers"
            )));
        }
        message = message.decompress().map_err(|e| altered(&e))?;
    }
    let mut out = Bounded::new(store, Some(bound))?;
    let copied = super::copy(&mut message, &mut out, "decrypting");
    super::check_read(&failed)?;
    match copied {
        Ok(_) => {}
        Err(TransformError::Refused(_)) if out.over => {
            return Err(TransformError::refused(format!(
                "the plaintext is larger than {bound} bytes (the file size limit, or \
                 {MAX_EXPANSION} times the encrypted file)"
            )));
        }
        Err(TransformError::Refused(why)) => return Err(altered(&why)),
        Err(e) => return Err(e),
    }
    // Read to the very end: the integrity code and the signatures come
    // after the literal data.
    let mut rest = [0u8; 1];
    let trailing = message.read(&mut rest);
    super::check_read(&failed)?;
    match trailing {
        Ok(0) => {}
        Ok(_) => return Err(altered(&"data after the end")),
        Err(e) => return Err(altered(&e)),
    }
    let signed_by = match signer {
        None => None,
        Some(signer) => Some(verify(&message, signer)?),
    };
    Ok(Decrypted {
        committed: out.commit()?,
        signed_by,
    })
}

/// How many times larger than the encrypted file its plaintext may be
/// (past [`EXPANSION_FLOOR`]); GnuPG's compression of text reaches 10 or 20.
const MAX_EXPANSION: u64 = 1000;
const EXPANSION_FLOOR: u64 = 1 << 30;

/// Compressed layers opened at most.
const MAX_LAYERS: u32 = 4;

/// Whether the content starts as an OpenPGP message does: a binary packet
/// (its first byte has the high bit set) or ASCII armor (`-----BEGIN PGP`,
/// after blank space). rpgp's own error for anything else reads like a
/// parser's ("not enough bytes in buffer"), not like the sender's mistake.
fn looks_like_openpgp(input: &mut BufReader<super::Watched<Blob>>) -> Result<bool, TransformError> {
    use std::io::BufRead as _;
    let head = input.fill_buf().map_err(|e| crate::store::StoreError::Io {
        doing: "reading an upload to decrypt",
        source: e,
    })?;
    let text = head.trim_ascii_start();
    Ok(head.first().is_some_and(|b| b & 0x80 != 0) || text.starts_with(b"-----BEGIN PGP"))
}

/// Checks that a read message carries a signature by `signer`'s primary
/// key or one of its subkeys.
fn verify(message: &Message<'_>, signer: &Recipient) -> Result<String, TransformError> {
    if !message.is_signed() {
        return Err(TransformError::refused(format!(
            "the file is not signed; a signature by {} is required",
            signer.fingerprint
        )));
    }
    if message.verify(&signer.cert).is_ok()
        || signer
            .cert
            .public_subkeys
            .iter()
            .any(|sub| message.verify(sub).is_ok())
    {
        return Ok(signer.fingerprint.clone());
    }
    Err(TransformError::refused(format!(
        "the file's signature is not by {} or does not match its content",
        signer.fingerprint
    )))
}
