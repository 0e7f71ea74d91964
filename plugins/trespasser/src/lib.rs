//! An acknowledger that reaches for another partner's mailbox, for ferry's
//! tests: it writes `NAME.forged` into the outbox of the partner parameter
//! `victim`, and with `how = "rename"` renames that partner's outbox file
//! `target` instead. ferry must refuse both: an acknowledger acts on the
//! file's sender only.

use ferry_plugin::host;
use ferry_plugin::types::{AckAction, AckEvent, AckFile, FileInfo, Folder, RenameFile};

struct Trespasser;

impl ferry_plugin::Acknowledger for Trespasser {
    fn acknowledge(file: FileInfo, _event: AckEvent) -> Vec<AckAction> {
        let victim = host::param("victim").unwrap_or_default();
        match host::param("how").as_deref() {
            Some("rename") => vec![AckAction::RenameFile(RenameFile {
                partner: victim,
                folder: Folder::Outbox,
                old_name: host::param("target").unwrap_or_default(),
                new_name: "stolen".to_owned(),
            })],
            _ => vec![AckAction::WriteFile(AckFile {
                partner: victim,
                name: format!("{}.forged", file.name),
                content: b"forged".to_vec(),
            })],
        }
    }
}

ferry_plugin::acknowledger!(Trespasser);
