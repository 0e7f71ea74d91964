//! Access events: every login and every listing of a mailbox folder,
//! journaled compactly, so that what a partner was shown is part of the
//! evidence ("bob listed /outbox at T and it held nothing").
//! Downloads are journaled where they happen (`record_download`).

use serde_json::json;
use sha2::Digest as _;

use super::{Listing, Tenant};
use crate::journal::{EventKind, Mailbox};

impl Tenant {
    /// Journals a listing a session of `partner` was shown: the folder, how
    /// many files and folders, and a digest of what was listed (SHA-256 of
    /// `name\tsha256\tsize\n` per file, sorted, then `name/\n` per folder),
    /// not the names themselves. Failing to journal it is logged, not
    /// passed on: the listing was already made.
    pub fn record_listing(
        &self,
        partner: &str,
        mailbox: Mailbox,
        folder: &str,
        listing: &Listing,
        protocol: &str,
        source: &str,
    ) {
        if !self.config().access_events {
            return;
        }
        let mut lines: Vec<String> = listing
            .files
            .iter()
            .map(|e| format!("{}\t{}\t{}\n", e.name, e.hash, e.size))
            .collect();
        lines.sort();
        let mut folders: Vec<String> = listing.folders.iter().map(|f| format!("{f}/\n")).collect();
        folders.sort();
        let mut digest = sha2::Sha256::new();
        for line in lines.iter().chain(&folders) {
            digest.update(line.as_bytes());
        }
        let path = if folder.is_empty() {
            format!("/{}", mailbox.as_str())
        } else {
            format!("/{}/{folder}", mailbox.as_str())
        };
        let detail = json!({
            "partner": partner, "folder": path, "files": listing.files.len(),
            "folders": listing.folders.len(), "digest": hex::encode(digest.finalize()),
            "protocol": protocol, "source": source,
        });
        if let Err(e) = self
            .journal
            .record_event(self.name(), EventKind::Listed, detail)
        {
            tracing::error!(error = %crate::error_chain(&e), "cannot journal a listing");
        }
    }
}
