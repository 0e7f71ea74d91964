//! The built-in transforms as pipeline steps: what a partner sends is
//! decrypted and unzipped before any verdict (`inbound`), and what it is
//! delivered is zipped and encrypted on the way to its outbox (`outbound`).
//! The transforms themselves are in `crate::transform`; here is only which
//! apply to a message, and in what order.

use serde_json::json;

use super::Context;
use crate::journal::{Delivery, Derived, Direction, Shaped};
use crate::transform::{self, Output, TransformError};

/// The transforms a router may ask for a delivery (`transform-delivery`).
pub const TRANSFORMS: [&str; 2] = ["zip", "encrypt"];

/// Why a routing's requested transforms cannot be done: `encrypt` for a
/// target with no key. Checked before the routing is recorded, so that the
/// file is quarantined with the reason rather than its delivery failing.
pub(super) fn check_requests(
    tenant: &crate::config::Tenant,
    delivery: &Delivery,
) -> Option<String> {
    let target = tenant.partners.get(&delivery.to)?;
    let wants_key = delivery.transforms.iter().any(|t| t == "encrypt");
    (wants_key && target.transforms.encryption_key().is_none()).then(|| {
        format!(
            "the copy for `{}` is to be encrypted, but that partner has no OpenPGP key \
             (`pgp_key` or `encrypt_to`)",
            delivery.to
        )
    })
}

/// What the inbound transforms made of a file.
pub(super) enum Inbound {
    /// No transform applies: judge and route the file itself.
    Untouched,
    /// The files it became, and the `transformed` event's detail.
    Made(Vec<Derived>, serde_json::Value),
    /// The file is refused, with the reason its sender is told, and by
    /// which transform (`decrypt`, `unzip`).
    Refused(&'static str, String),
}

/// The `protocol` of a message a transform made: it is not transformed
/// again by the same transform.
const DECRYPTED: &str = "decrypt";
const UNZIPPED: &str = "unzip";

/// Runs the inbound transform that applies to the message, if any:
/// decryption for a partner with `decrypt_with` (every file it sends must
/// be encrypted to us), then, on what that gave, `unzip` for an archive
/// (by its `.zip` name; other files pass untouched).
/// No output may be larger than `file_limit` (`max_file_size`), as no
/// upload may: that bounds what a compressed OpenPGP message expands to.
pub(super) fn inbound(
    cx: &Context<'_>,
    file_limit: Option<u64>,
) -> Result<Inbound, crate::store::StoreError> {
    let message = cx.message;
    let Some(partner) = cx.partner() else {
        return Ok(Inbound::Untouched);
    };
    let transforms = &partner.transforms;
    if message.direction != Direction::In || !transforms.inbound() {
        return Ok(Inbound::Untouched);
    }
    let protocol = message.protocol.as_str();
    if let Some(key) = &transforms.decrypt_with
        && protocol != DECRYPTED
        && protocol != UNZIPPED
    {
        let content = content(cx)?;
        let signer = transforms.verify_signature_from.as_deref();
        return match transform::openpgp::decrypt(content, key, signer, cx.store, file_limit) {
            Ok(done) => {
                // `..pgp` would give `.`: such a name keeps its suffix.
                let plain = plain_name(&message.name);
                let name = match crate::names::check_relative_path(&plain) {
                    Ok(_) => plain,
                    Err(_) => message.name.clone(),
                };
                let detail = json!({
                    "op": DECRYPTED, "key": key.fingerprint(), "signed_by": done.signed_by,
                });
                let derived = Derived {
                    name,
                    hash: done.committed.hash,
                    size: done.committed.size,
                };
                Ok(Inbound::Made(vec![derived], detail))
            }
            Err(e) => refused(DECRYPTED, e),
        };
    }
    let Some(limits) = &transforms.unzip else {
        return Ok(Inbound::Untouched);
    };
    if protocol == UNZIPPED || !is_archive(cx) {
        return Ok(Inbound::Untouched);
    }
    let content = content(cx)?;
    match transform::unzip::unzip(content, limits, cx.store, file_limit) {
        Ok(outputs) => {
            // Entries go into a folder of the archive's own folder, when it
            // was uploaded in one: `batch/a.zip` gives `batch/x.csv`.
            let folder = message.name.rsplit_once('/').map(|(dir, _)| dir);
            let mut derived = Vec::with_capacity(outputs.len());
            for Output { name, committed } in outputs {
                let name = match folder {
                    Some(dir) => format!("{dir}/{name}"),
                    None => name,
                };
                if let Err(why) = crate::names::check_relative_path(&name) {
                    return Ok(Inbound::Refused(
                        UNZIPPED,
                        format!("entry `{name}` is not a valid file name here: {why}"),
                    ));
                }
                derived.push(Derived {
                    name,
                    hash: committed.hash,
                    size: committed.size,
                });
            }
            let detail = json!({ "op": UNZIPPED, "entries": derived.len() });
            Ok(Inbound::Made(derived, detail))
        }
        Err(e) => refused(UNZIPPED, e),
    }
}

/// A delivery to `delivery.to` as its transforms make it: zipped with
/// `zip_to` or when the router asked (`NAME.zip`), then encrypted with
/// `encrypt_to` or when asked, to the target's key (`NAME.pgp`, or
/// `NAME.zip.pgp` with both). `None` when none applies.
pub(super) fn outbound(
    cx: &Context<'_>,
    delivery: &Delivery,
) -> Result<Option<Shaped>, TransformError> {
    let Some(target) = cx.tenant.partners.get(&delivery.to) else {
        return Ok(None);
    };
    let transforms = &target.transforms;
    let asked = |op: &str| delivery.transforms.iter().any(|t| t == op);
    let zip = transforms.zip_to || asked("zip");
    let key = if transforms.encrypt_to.is_some() || asked("encrypt") {
        Some(transforms.encryption_key().ok_or_else(|| {
            TransformError::Refused(format!("partner `{}` has no OpenPGP key", delivery.to))
        })?)
    } else {
        None
    };
    if !zip && key.is_none() {
        return Ok(None);
    }
    let suffixes = match (zip, key.is_some()) {
        (true, true) => ".zip.pgp",
        (true, false) => ".zip",
        _ => ".pgp",
    };
    let shaped = format!("{}{suffixes}", delivery.name);
    if let Err(why) = crate::names::check_relative_path(&shaped) {
        return Err(TransformError::Refused(format!(
            "the delivery would be named `{shaped}`, which is not a valid name: {why}"
        )));
    }
    let mut name = delivery.name.clone();
    let mut content = content(cx)?;
    let mut ops = Vec::new();
    let mut committed = None;
    let mut detail = json!({});
    if zip {
        // The entry is the file's own name, without its folders: the
        // archive is placed in those folders.
        let entry = name
            .rsplit_once('/')
            .map_or(name.as_str(), |(_, base)| base);
        let zipped = transform::zip_to::zip_one(content, entry, cx.store)?;
        name.push_str(".zip");
        ops.push("zip");
        content = cx.store.read(&zipped.hash)?;
        committed = Some(zipped);
    }
    if let Some(recipient) = key {
        let literal = name
            .rsplit_once('/')
            .map_or(name.as_str(), |(_, base)| base);
        let encrypted = transform::openpgp::encrypt(content, literal, recipient, cx.store)?;
        name.push_str(".pgp");
        ops.push("encrypt");
        detail["key"] = json!(recipient.fingerprint());
        committed = Some(encrypted);
    }
    let committed = committed.expect("one transform ran");
    detail["ops"] = json!(ops);
    debug_assert_eq!(name, shaped);
    Ok(Some(Shaped {
        name,
        hash: committed.hash,
        size: committed.size,
        detail,
    }))
}

/// The file's content ([`Context::content`]); a failure to open it is not
/// the sender's, so the step is retried.
fn content(cx: &Context<'_>) -> Result<crate::store::Blob, crate::store::StoreError> {
    cx.content().map_err(|e| crate::store::StoreError::Io {
        doing: "opening a message's content",
        source: std::io::Error::other(e.0),
    })
}

fn refused(op: &'static str, e: TransformError) -> Result<Inbound, crate::store::StoreError> {
    match e {
        TransformError::Refused(why) => Ok(Inbound::Refused(op, why)),
        TransformError::Store(e) => Err(e),
    }
}

/// Whether the message is a zip archive to expand: by its name alone. An
/// Office document, a jar or an epub starts like a zip, and is a file.
fn is_archive(cx: &Context<'_>) -> bool {
    cx.message.name.to_ascii_lowercase().ends_with(".zip")
}

/// A decrypted file's name: the encrypted one's without `.pgp`, `.gpg`
/// or `.asc`.
fn plain_name(name: &str) -> String {
    for suffix in [".pgp", ".gpg", ".asc"] {
        if let Some(stem) = name
            .len()
            .checked_sub(suffix.len())
            .filter(|&at| at > 0 && name.is_char_boundary(at))
            .filter(|&at| name[at..].eq_ignore_ascii_case(suffix))
            .map(|at| &name[..at])
            && !stem.ends_with('/')
        {
            return stem.to_owned();
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn decrypted_names_lose_the_suffix() {
        assert_eq!(plain_name("orders.csv.pgp"), "orders.csv");
        assert_eq!(plain_name("orders.csv.GPG"), "orders.csv");
        assert_eq!(plain_name("batch/orders.csv.asc"), "batch/orders.csv");
        assert_eq!(plain_name("orders.csv"), "orders.csv");
        assert_eq!(plain_name(".pgp"), ".pgp");
        assert_eq!(plain_name("batch/.pgp"), "batch/.pgp");
    }
}
