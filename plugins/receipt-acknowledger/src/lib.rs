//! Confirms receipt to the sender, in its outbox:
//!
//! - when the receiving partner has downloaded all of the file,
//!   `NAME.received` (who, when, size and SHA-256);
//! - when the file is rejected, `NAME.rejected` with one reason per line;
//! - when it could not be delivered, `NAME.failed` with the reason.
//!
//! Set the partner parameter `on = "delivered"` to confirm as soon as the
//! file is in the receiver's outbox instead of when it is downloaded.
//!
//! Set `mark = ".received"` (any suffix) to also rename the sender's file
//! in its inbox when the receipt is written, `NAME` to `NAME.received`: for
//! a file ferry pulled from the sender's own server, ferry renames it there
//! too, which is how many partners' systems learn that a file arrived.

use ferry_plugin::types::{AckAction, AckEvent, AckFile, FileInfo, Folder, RenameFile};

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
        let mut actions = vec![AckAction::WriteFile(AckFile {
            partner: file.partner.clone(),
            name: format!("{}.{suffix}", file.name),
            content: body.into_bytes(),
        })];
        if let Some(mark) = ferry_plugin::host::param("mark").filter(|m| !m.is_empty())
            && suffix == "received"
        {
            actions.push(AckAction::RenameFile(RenameFile {
                partner: file.partner.clone(),
                folder: Folder::Inbox,
                old_name: file.name.clone(),
                new_name: format!("{}{mark}", file.name),
            }));
        }
        actions
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
