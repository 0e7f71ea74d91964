//! A partner's built-in transforms (`encrypt_to`, `decrypt_with`,
//! `verify_signature_from`, `unzip`, `zip_to`): keys are read and checked
//! here, at load time, so that a wrong path, a key that cannot encrypt or
//! a wrong passphrase is an error naming the file, line and key rather than
//! a failed delivery later.

use std::sync::Arc;

use super::*;
use crate::transform::{DecryptKey, Recipient, UnzipLimits};

/// What the pipeline does to a partner's files besides judging and routing
/// them.
#[derive(Debug, Clone, Default)]
pub struct Transforms {
    /// Every delivery to the partner is encrypted to this key (`NAME.pgp`).
    pub encrypt_to: Option<Arc<Recipient>>,
    /// The partner's key for deliveries a router asks to encrypt
    /// (`transform-delivery`), when not every delivery is (`encrypt_to`).
    pub pgp_key: Option<Arc<Recipient>>,
    /// What the partner sends is decrypted with this key before it is
    /// judged and routed.
    pub decrypt_with: Option<Arc<DecryptKey>>,
    /// What the partner sends must be signed by this key.
    pub verify_signature_from: Option<Arc<Recipient>>,
    /// Archives the partner sends become one file per entry.
    pub unzip: Option<UnzipLimits>,
    /// Every delivery to the partner is a zip archive (`NAME.zip`).
    pub zip_to: bool,
}

impl Transforms {
    /// The key a delivery to the partner is encrypted to when asked.
    pub fn encryption_key(&self) -> Option<&Arc<Recipient>> {
        self.encrypt_to.as_ref().or(self.pgp_key.as_ref())
    }

    /// Whether files the partner sends are transformed before a verdict.
    pub fn inbound(&self) -> bool {
        self.decrypt_with.is_some() || self.unzip.is_some()
    }
}

pub(super) fn transforms(
    source: &Source,
    key: &str,
    section: &PartnerSection,
    problems: &mut Vec<Problem>,
) -> Transforms {
    let base = source.path.parent().unwrap_or(Path::new("."));
    let public = |field: &str, path: &Spanned<String>, problems: &mut Vec<Problem>| {
        let resolved = absolute(&base.join(path.get_ref()));
        match Recipient::load(&resolved) {
            Ok(recipient) => Some(Arc::new(recipient)),
            Err(why) => {
                problems.push(source.problem(
                    Some(path.span()),
                    &join_key(key, field),
                    format!("{}: {why}", resolved.display()),
                ));
                None
            }
        }
    };
    // A key to encrypt to must have a subkey that can: a signing-only key
    // is a configuration error here, not a failed delivery later.
    let encrypting = |field: &str, path: &Option<Spanned<String>>, problems: &mut Vec<Problem>| {
        let path = path.as_ref()?;
        let recipient = public(field, path, problems)?;
        if recipient.can_encrypt() {
            return Some(recipient);
        }
        problems.push(source.problem(
            Some(path.span()),
            &join_key(key, field),
            format!(
                "the key {} has no subkey for encryption",
                recipient.fingerprint()
            ),
        ));
        None
    };
    let encrypt_to = encrypting("encrypt_to", &section.encrypt_to, problems);
    let pgp_key = encrypting("pgp_key", &section.pgp_key, problems);
    let verify_signature_from = section
        .verify_signature_from
        .as_ref()
        .and_then(|path| public("verify_signature_from", path, problems));
    if section.verify_signature_from.is_some() && section.decrypt_with.is_none() {
        problems.push(source.problem(
            section.verify_signature_from.as_ref().map(Spanned::span),
            &join_key(key, "verify_signature_from"),
            "signatures are checked while decrypting: set `decrypt_with` too".to_owned(),
        ));
    }
    let passphrase = values::secret(
        source,
        key,
        ("passphrase_file", &section.passphrase_file),
        ("passphrase_env", &section.passphrase_env),
        "the passphrase of `decrypt_with`'s key",
        problems,
    );
    let decrypt_with = section.decrypt_with.as_ref().and_then(|path| {
        let resolved = absolute(&base.join(path.get_ref()));
        let passphrase = passphrase
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        match DecryptKey::load(&resolved, passphrase) {
            Ok(key) => Some(Arc::new(key)),
            Err(why) => {
                problems.push(source.problem(
                    Some(path.span()),
                    &join_key(key, "decrypt_with"),
                    format!("{}: {why}", resolved.display()),
                ));
                None
            }
        }
    });

    let mut limits = UnzipLimits::default();
    if let Some(total) = &section.unzip_max_total {
        match parse_size(total.get_ref()) {
            Some(bytes) if bytes > 0 => limits.max_total = bytes,
            _ => problems.push(source.problem(
                Some(total.span()),
                &join_key(key, "unzip_max_total"),
                format!("`{}` is not a size such as `1GiB`", total.get_ref()),
            )),
        }
    }
    // Each is a whole number of at least 1 (a zero would refuse every
    // archive, which `unzip = false` says more plainly).
    let mut whole = |field: &str, value: &Option<Spanned<u64>>| {
        let value = value.as_ref()?;
        if *value.get_ref() >= 1 {
            return Some(*value.get_ref());
        }
        problems.push(source.problem(
            Some(value.span()),
            &join_key(key, field),
            "expected a whole number of at least 1".to_owned(),
        ));
        None
    };
    if let Some(ratio) = whole("unzip_max_ratio", &section.unzip_max_ratio) {
        limits.max_ratio = ratio;
    }
    if let Some(entries) = whole("unzip_max_entries", &section.unzip_max_entries) {
        limits.max_entries = usize::try_from(entries).unwrap_or(usize::MAX);
    }
    if let Some(depth) = whole("unzip_max_depth", &section.unzip_max_depth) {
        limits.max_depth = u32::try_from(depth).unwrap_or(u32::MAX);
    }
    let unzip_set = section.unzip_max_total.is_some()
        || section.unzip_max_ratio.is_some()
        || section.unzip_max_entries.is_some()
        || section.unzip_max_depth.is_some();
    if unzip_set && section.unzip != Some(true) {
        problems.push(source.problem(
            None,
            &join_key(key, "unzip"),
            "the `unzip_max_*` limits apply with `unzip = true`, which is not set".to_owned(),
        ));
    }
    Transforms {
        encrypt_to,
        pgp_key,
        decrypt_with,
        verify_signature_from,
        unzip: (section.unzip == Some(true)).then_some(limits),
        zip_to: section.zip_to.unwrap_or(false),
    }
}
