//! Confirms receipt to the sender, in its outbox:
//!
//! - when the receiving partner has downloaded all of the file,
//!   `NAME.received` (who, when, size and SHA-256);
//! - when the file is rejected, `NAME.rejected` with one reason per line;
//! - when it could not be delivered, `NAME.failed` with the reason.
//!
//! Set the partner parameter `on = "delivered"` to confirm as soon as the
//! file is in the receiver's outbox instead of when it is downloaded.

use ferry_plugin::types::{AckAction, AckEvent, AckFile, FileInfo};

struct Receipts;

impl ferry_plugin::Acknowledger for Receipts {
    fn acknowledge(file: FileInfo, event: AckEvent) -> Vec<AckAction> {
        let on_delivery = ferry_plugin::host::param("on").as_deref() == Some("delivered");
        let (suffix, body) = match event {
            AckEvent::Downloaded(by) => (
                "received",
                receipt(&file, &format!("downloaded-by: {by}\n")),
            ),
            AckEvent::Delivered if on_delivery => ("received", receipt(&file, "")),
            AckEvent::Delivered => return Vec::new(),
            AckEvent::Rejected(reasons) => {
                let mut body = receipt(&file, "");
                for reason in reasons {
                    body.push_str(&format!("reason: {}\n", one_line(&reason)));
                }
                ("rejected", body)
            }
            AckEvent::Failed(reason) => (
                "failed",
                receipt(&file, &format!("reason: {}\n", one_line(&reason))),
            ),
        };
        vec![AckAction::WriteFile(AckFile {
            partner: file.partner.clone(),
            name: format!("{}.{suffix}", file.name),
            content: body.into_bytes(),
        })]
    }
}

ferry_plugin::acknowledger!(Receipts);

fn receipt(file: &FileInfo, extra: &str) -> String {
    format!(
        "name: {}\nsize: {}\nsha256: {}\nmessage: {}\n{extra}",
        file.name, file.size, file.sha256, file.message_id
    )
}

/// Reasons may hold newlines; a receipt keeps one per line.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}
