//! A tenant's mailboxes: the virtual `/inbox` and `/outbox` of each partner,
//! built from the journal's mailbox index over the content store.
//!
//! Protocols (and `ferry put`) call these operations and never touch the file
//! system themselves. A name a partner gives is only ever a key in the
//! journal; it never becomes a path, so no name can reach outside the store.

mod folders;
mod path;
mod resume;
use std::io::{self, Read, Write};
use std::sync::Arc;

use crate::config::{self, Completion};
use crate::journal::{
    Download, Entry, Journal, JournalError, Mailbox, MessageId, PulledKey, Received, Timestamp,
    UploadFailed,
};
use crate::pipeline::Transitions as _;
use crate::store::{Blob, Committed, ContentHash, Progress, Store, StoreError, Upload};

use crate::usage::{
    ConnectorSlot, HandleSlot, QuotaError, QuotaExceeded, Room, TenantMeter, Throttle, Way,
};
pub use folders::Listing;
pub use path::*;

/// The longest path accepted, in bytes.
pub const MAX_PATH: usize = 4096;

impl From<QuotaError> for MailboxError {
    fn from(e: QuotaError) -> MailboxError {
        match e {
            QuotaError::Exceeded(e) => MailboxError::Quota(e),
            QuotaError::Journal(e) => MailboxError::Journal(e),
        }
    }
}

/// The folders of every view, in the order they are listed.
pub const FOLDERS: [&str; 4] = ["inbox", "outbox", "receipts", "resend"];

/// A tenant at run time.
pub struct Tenant {
    config: Arc<config::Tenant>,
    store: Store,
    pub(super) journal: Arc<dyn Journal>,
    /// The server's `[limits]`: file size, interrupted uploads.
    limits: config::Limits,
    meter: Arc<TenantMeter>,
    /// The hub's pipeline, woken when an operation queues work for it.
    pipeline: Arc<super::PipelineSlot>,
    /// Proofs of the journal for `/receipts/proofs/` (`receipts.rs`).
    pub(super) notary: Arc<crate::proofs::Notary>,
}

/// An upload in progress into a partner's inbox. Write to it, then pass it
/// to [`Tenant::commit`]; dropping it discards the bytes.
pub struct PendingUpload {
    partner: String,
    name: String,
    upload: Upload,
    /// What the quotas left when the upload began.
    room: Option<Room>,
    /// Its entry among its session's transfers, once shown there.
    transfer: Option<super::Transfer>,
}

impl PendingUpload {
    /// Shows the upload among `ticket`'s session's transfers, with its
    /// bytes so far, until it is finished or dropped.
    pub fn shown_in(&mut self, ticket: &super::Ticket) {
        self.transfer = Some(ticket.transfer("upload", &self.name, self.size()));
    }

    fn moved(&self) {
        if let Some(transfer) = &self.transfer {
            transfer.set(self.upload.size());
        }
    }

    pub fn size(&self) -> u64 {
        self.upload.size()
    }

    /// Whether writing `len` more bytes touches no file (see
    /// [`crate::store::Upload::stays_in_memory`]).
    pub fn stays_in_memory(&self, len: usize) -> bool {
        self.upload.stays_in_memory(len)
    }

    /// `write_all` of the first `len` bytes of `buf`, without copying them
    /// where the store can take the buffer (see
    /// [`crate::store::Upload::write_owned`]); gives back a buffer to fill
    /// next, of any length and content.
    pub fn write_owned(&mut self, buf: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
        self.check_room(len)?;
        let back = self.upload.write_owned(buf, len)?;
        self.moved();
        Ok(back)
    }

    fn check_room(&self, len: usize) -> io::Result<()> {
        match &self.room {
            Some(room) if self.upload.size() + len as u64 > room.bytes => Err(io::Error::new(
                io::ErrorKind::QuotaExceeded,
                room.exceeded.clone(),
            )),
            _ => Ok(()),
        }
    }
}

impl Write for PendingUpload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_room(buf.len())?;
        let n = self.upload.write(buf)?;
        self.moved();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.upload.flush()
    }
}

/// What closing an upload came to.
#[derive(Debug, Clone, Copy)]
pub enum Finished {
    /// Stored, visible and handed to the pipeline.
    Received(Ingested),
    /// Stored, waiting for the partner's signal that it is complete.
    Pending(MessageId),
}

fn is_temporary(name: &str) -> bool {
    Completion::TEMPORARY
        .iter()
        .any(|suffix| name.len() > suffix.len() && name.ends_with(suffix))
}

/// A stored and journaled upload.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    pub message: MessageId,
    pub committed: Committed,
}

impl Tenant {
    pub(super) fn new(
        config: Arc<config::Tenant>,
        store: Store,
        journal: Arc<dyn Journal>,
        limits: config::Limits,
        meter: Arc<TenantMeter>,
        pipeline: Arc<super::PipelineSlot>,
        notary: Arc<crate::proofs::Notary>,
    ) -> Tenant {
        Tenant {
            config,
            store,
            journal,
            limits,
            meter,
            pipeline,
            notary,
        }
    }

    /// A slot for one more open SFTP handle of this tenant's sessions, or
    /// `None` when `limits.max_open_handles` are open.
    pub fn handle_slot(&self) -> Option<HandleSlot> {
        self.meter.handle_slot(self.limits.max_open_handles)
    }

    /// The bandwidth buckets a session of `partner` draws from, one way.
    pub fn throttle(&self, partner: &str, way: Way) -> Throttle {
        self.meter.throttle(partner, way)
    }

    /// The right to run one more push or pull, within the tenant's
    /// `max_connector_transfers`; `None` while that many run.
    pub fn connector_slot(&self) -> Option<ConnectorSlot> {
        self.meter
            .connector_slot(self.config.max_connector_transfers)
    }

    /// Journals a path a session of `partner` asked for and was refused
    /// (`..`, NUL, over-long): an attempt to reach outside its view.
    pub fn refused_path(&self, partner: &str, protocol: &str, peer: &str, why: &str) {
        tracing::warn!(tenant = %self.config.name, partner, protocol, peer, why, "a path outside the view was refused");
        let detail = serde_json::json!({
            "partner": partner, "protocol": protocol, "peer": peer, "refused": why,
        });
        if let Err(e) = self.journal.record_event(
            &self.config.name,
            crate::journal::EventKind::AccessRefused,
            detail,
        ) {
            tracing::error!(error = %crate::error_chain(&e), "cannot journal a refused path");
        }
    }

    /// Whether the tenant's plugin steps may run now (its `plugin_cpu`).
    pub fn cpu_ready(&self) -> bool {
        self.meter.cpu_ready()
    }

    /// Counts CPU time one of its plugin steps used.
    pub fn charge_cpu(&self, used: std::time::Duration) {
        self.meter.charge_cpu(used);
    }

    /// Counts the kept bytes again from the journal (after retention).
    pub(super) fn recount(&self) {
        self.meter.recount();
    }

    /// `partner`'s binding quota and the bytes used of it, if it has one.
    pub fn quota_usage(&self, partner: &str) -> Result<Option<(u64, u64)>, MailboxError> {
        Ok(self.meter.usage(&*self.journal, &self.config, partner)?)
    }

    fn room(&self, partner: &str) -> Result<Option<Room>, MailboxError> {
        Ok(self.meter.room(&*self.journal, &self.config, partner)?)
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn config(&self) -> &Arc<config::Tenant> {
        &self.config
    }

    pub fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn partner(&self, partner: &str) -> Result<&config::Partner, MailboxError> {
        self.config
            .partners
            .get(partner)
            .ok_or_else(|| MailboxError::UnknownPartner(partner.to_owned()))
    }

    /// Whether [`Tenant::begin_upload`] for `partner` reads and writes
    /// nothing (a known partner without quota: the upload starts in
    /// memory), so that a protocol may call it off the file threads.
    pub fn upload_begins_in_memory(&self, partner: &str) -> bool {
        self.partner(partner).is_ok() && !crate::usage::has_quota(&self.config, partner)
    }

    /// Starts an upload to `path`, which must be a file in the inbox.
    pub fn begin_upload(
        &self,
        partner: &str,
        path: &MailboxPath,
    ) -> Result<PendingUpload, MailboxError> {
        self.partner(partner)?;
        let MailboxPath::File(Mailbox::Inbox, name) = path else {
            return Err(MailboxError::PermissionDenied(
                "files can only be uploaded into /inbox".to_owned(),
            ));
        };
        let room = self.room(partner)?;
        let mut upload = self.store.create(self.limits.max_file_size)?;
        upload.track(self.progress(partner, name));
        Ok(PendingUpload {
            partner: partner.to_owned(),
            name: name.clone(),
            upload,
            room,
            transfer: None,
        })
    }

    /// Keeps the durable part of an upload in the journal as it grows, as an
    /// interrupted upload, so that it can be resumed on another node should
    /// this one die mid-upload. Only a store that outlives its process (the
    /// object store) reports progress; nothing of the upload is visible.
    fn progress(&self, partner: &str, name: &str) -> Progress {
        let keeper = self.keeper();
        let (partner, name) = (partner.to_owned(), name.to_owned());
        Progress::new(move |token, size| {
            if let Err(e) = keeper.keep(&partner, &name, token, size) {
                tracing::warn!(error = %crate::error_chain(&e),
                    "cannot record the progress of an upload; it cannot be resumed elsewhere");
            }
        })
    }

    fn keeper(&self) -> Keeper {
        Keeper {
            journal: Arc::clone(&self.journal),
            store: self.store.clone(),
            meter: Arc::clone(&self.meter),
            tenant: self.config.name.clone(),
        }
    }

    /// Continues an interrupted upload of `path`, if one was kept: writes
    /// go on from its size (`reput`, resumed transfers).
    pub fn resume_upload(
        &self,
        partner: &str,
        path: &MailboxPath,
    ) -> Result<Option<PendingUpload>, MailboxError> {
        self.partner(partner)?;
        let MailboxPath::File(Mailbox::Inbox, name) = path else {
            return Ok(None);
        };
        // A read first: taking is a write transaction (an fsync), and most
        // uploads have nothing to resume.
        if self
            .journal
            .suspended_size(&self.config.name, partner, name)?
            .is_none()
        {
            return Ok(None);
        }
        // The quota first: refused, the kept part stays kept.
        let room = self.room(partner)?;
        let Some((staging, size)) =
            self.journal
                .take_suspended(&self.config.name, partner, name)?
        else {
            return Ok(None);
        };
        // No longer kept: its bytes count again when it is committed, or
        // kept again when it is cut again. The room measured above counted
        // them as kept; the upload holds them now.
        self.meter.kept(partner, -(size as i64));
        let room = room.map(|mut room| {
            room.bytes = room.bytes.saturating_add(size);
            room
        });
        let mut upload = self
            .store
            .resume(&staging, size, self.limits.max_file_size)?;
        upload.track(self.progress(partner, name));
        Ok(Some(PendingUpload {
            partner: partner.to_owned(),
            name: name.clone(),
            upload,
            room,
            transfer: None,
        }))
    }

    /// The size of an interrupted upload of `name`, if one is kept.
    pub fn suspended_size(&self, partner: &str, name: &str) -> Result<Option<u64>, MailboxError> {
        Ok(self
            .journal
            .suspended_size(&self.config.name, partner, name)?)
    }

    /// Keeps an upload the client did not finish, to be resumed; nothing of
    /// it is visible. Also journaled as a failed upload, with why.
    pub fn suspend(
        &self,
        upload: PendingUpload,
        protocol: &str,
        source: &str,
        error: &dyn std::error::Error,
    ) {
        let PendingUpload {
            partner,
            name,
            upload,
            ..
        } = upload;
        let size = upload.size();
        self.record_failure(&partner, &name, size, protocol, source, error);
        if size == 0 {
            return;
        }
        let kept = upload
            .suspend()
            .map_err(MailboxError::from)
            .and_then(|(staging, kept)| {
                // Nothing of it may be durable (a store that keeps whole
                // parts only, cut within the first).
                if kept > 0 {
                    self.keeper().keep(&partner, &name, &staging, kept)?;
                }
                Ok(())
            });
        if let Err(e) = kept {
            tracing::warn!(error = %crate::error_chain(&e), "cannot keep an interrupted upload");
        }
        // At most `max_suspended` kept per partner: the oldest go first.
        self.expire_suspended(Timestamp(i64::MIN));
    }

    /// Gives up the interrupted uploads kept longer than `resume_for`
    /// before `now` (`i64::MIN`: none for their age), and those of each
    /// partner beyond its `max_suspended` newest. Returns how many.
    pub fn expire_suspended(&self, now: Timestamp) -> usize {
        let age = i64::try_from(self.limits.resume_for.as_millis()).unwrap_or(i64::MAX);
        let before = Timestamp(now.0.saturating_sub(age));
        match self
            .journal
            .expire_suspended(&self.config.name, before, self.limits.max_suspended)
        {
            Ok(expired) => {
                for (partner, staging, size) in &expired {
                    self.meter.kept(partner, -(*size as i64));
                    self.store.discard(staging);
                    tracing::info!(tenant = %self.config.name, partner, size,
                        "an interrupted upload is no longer kept for resuming");
                }
                expired.len()
            }
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "cannot expire interrupted uploads");
                0
            }
        }
    }

    /// Commits an upload: durable in the store, then in the journal. Only
    /// after this returns may the client be told the file is stored.
    pub fn commit(
        &self,
        upload: PendingUpload,
        protocol: &str,
        source: &str,
    ) -> Result<Ingested, MailboxError> {
        let received = self.store_upload(upload, protocol, source)?;
        crate::crashpoint("ingest.committed");
        let message = self.recorded(&received, self.journal.record_received(&received))?;
        // Its judgement is queued: wake whoever runs the pipeline.
        self.pipeline.notify();
        self.drop_suspended(&received.partner, &received.name);
        let committed = Committed {
            hash: received.hash,
            size: received.size,
        };
        crate::crashpoint("ingest.journaled");
        Ok(Ingested { message, committed })
    }

    /// Commits a file fetched from a partner's server and records its remote
    /// `key` in the same journal transaction, so that a crash can neither
    /// lose it nor let the next poll fetch it again. With `expected`, the
    /// content must have that SHA-256 (a `.sha256` sidecar on the server).
    pub fn commit_pulled(
        &self,
        upload: PendingUpload,
        protocol: &str,
        source: &str,
        key: &PulledKey,
        expected: Option<&ContentHash>,
    ) -> Result<Ingested, MailboxError> {
        let received = self.store_upload(upload, protocol, source)?;
        if let Some(expected) = expected
            && *expected != received.hash
        {
            let error = MailboxError::Rejected(format!(
                "its SHA-256 is {}, its sidecar says {expected}",
                received.hash
            ));
            self.record_failure(
                &received.partner,
                &received.name,
                received.size,
                protocol,
                source,
                &error,
            );
            self.meter.release(&received.partner, received.size);
            return Err(error);
        }
        crate::crashpoint("pull.stored");
        let message = self.recorded(&received, self.journal.record_pulled(&received, key))?;
        self.pipeline.notify();
        crate::crashpoint("pull.journaled");
        Ok(Ingested {
            message,
            committed: Committed {
                hash: received.hash,
                size: received.size,
            },
        })
    }

    /// Completes an upload the way its partner signals completion: on close,
    /// or staged until a rename from a temporary name, or until a matching
    /// `.sha256` sidecar. Protocols call this when the client closes a file.
    pub fn finish(
        &self,
        upload: PendingUpload,
        protocol: &str,
        source: &str,
    ) -> Result<Finished, MailboxError> {
        let completion = self.partner(&upload.partner)?.completion;
        let name = upload.name.clone();
        match completion {
            Completion::Close => self
                .commit(upload, protocol, source)
                .map(Finished::Received),
            Completion::Rename if is_temporary(&name) => {
                self.stage(upload, protocol, source).map(Finished::Pending)
            }
            Completion::Rename => self
                .commit(upload, protocol, source)
                .map(Finished::Received),
            Completion::Sidecar => {
                let partner = upload.partner.clone();
                let id = self.stage(upload, protocol, source)?;
                let (file, sidecar) = match name.strip_suffix(".sha256") {
                    Some(file) => (file.to_owned(), name.clone()),
                    None => (name.clone(), format!("{name}.sha256")),
                };
                self.match_sidecar(&partner, &file, &sidecar)?;
                Ok(Finished::Pending(id))
            }
        }
    }

    /// Stores an upload without making it visible: it waits for completion.
    fn stage(
        &self,
        upload: PendingUpload,
        protocol: &str,
        source: &str,
    ) -> Result<MessageId, MailboxError> {
        let received = self.store_upload(upload, protocol, source)?;
        let id = self.recorded(&received, self.journal.record_pending(&received))?;
        Ok(id)
    }

    /// Makes an upload's bytes a durable blob and describes it for the
    /// journal; a failure is journaled with what was received.
    fn store_upload(
        &self,
        upload: PendingUpload,
        protocol: &str,
        source: &str,
    ) -> Result<Received, MailboxError> {
        let PendingUpload {
            partner,
            name,
            upload,
            ..
        } = upload;
        let size = upload.size();
        // The last quota check, counting the bytes in: uploads running
        // side by side each passed the first one.
        if let Err(e) = self
            .meter
            .reserve(&*self.journal, &self.config, &partner, size)
        {
            let e = MailboxError::from(e);
            self.record_failure(&partner, &name, size, protocol, source, &e);
            return Err(e);
        }
        let finished = match upload.finish() {
            Ok(finished) => finished,
            Err(e) => {
                self.meter.release(&partner, size);
                self.record_failure(&partner, &name, size, protocol, source, &e);
                return Err(e.into());
            }
        };
        Ok(Received {
            tenant: self.config.name.clone(),
            partner,
            name,
            hash: finished.committed.hash,
            size: finished.committed.size,
            protocol: protocol.to_owned(),
            source: source.to_owned(),
            inline: finished.inline,
        })
    }

    /// Discards an interrupted upload of `name` that a complete one made
    /// obsolete (a client that started over instead of resuming).
    fn drop_suspended(&self, partner: &str, name: &str) {
        let tenant = &self.config.name;
        // A read first: most commits have nothing to discard.
        if !matches!(
            self.journal.suspended_size(tenant, partner, name),
            Ok(Some(_))
        ) {
            return;
        }
        match self.journal.take_suspended(tenant, partner, name) {
            Ok(Some((staging, size))) => {
                self.meter.kept(partner, -(size as i64));
                self.store.discard(&staging);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %crate::error_chain(&e), "cannot discard an obsolete interrupted upload");
            }
        }
    }

    /// What recording a received file came to: counted in the metrics, or
    /// failed, its bytes taken back from the quota count.
    fn recorded<T>(
        &self,
        received: &Received,
        recorded: Result<T, JournalError>,
    ) -> Result<T, MailboxError> {
        match recorded {
            Ok(value) => {
                crate::metrics::metrics().received(self.name(), &received.protocol, received.size);
                Ok(value)
            }
            Err(e) => {
                self.meter.release(&received.partner, received.size);
                Err(e.into())
            }
        }
    }

    /// When both `file` and its `sidecar` are pending, checks the hash and
    /// completes both, or fails both with why.
    fn match_sidecar(&self, partner: &str, file: &str, sidecar: &str) -> Result<(), MailboxError> {
        let tenant = &self.config.name;
        let (Some(f), Some(s)) = (
            self.journal.find_pending(tenant, partner, file)?,
            self.journal.find_pending(tenant, partner, sidecar)?,
        ) else {
            return Ok(());
        };
        let claimed = match s.hash {
            Some(hash) => self.sidecar_hash(&hash),
            None => Err("the sidecar has no content".to_owned()),
        };
        let actual = f.hash.map(|h| h.to_string()).unwrap_or_default();
        match claimed {
            Ok(claimed) if claimed == actual => {
                self.journal.complete_pending(tenant, f.id, file)?;
                self.journal.complete_pending(tenant, s.id, sidecar)?;
                self.pipeline.notify();
                Ok(())
            }
            claimed => {
                let why = match claimed {
                    Ok(claimed) => {
                        format!("{sidecar} says sha256 {claimed}, but {file} has sha256 {actual}")
                    }
                    Err(why) => format!("{sidecar}: {why}"),
                };
                self.journal.fail_pending(tenant, f.id, &why)?;
                self.journal.fail_pending(tenant, s.id, &why)?;
                Err(MailboxError::Rejected(why))
            }
        }
    }

    /// The hash a `sha256sum`-style sidecar names: its first word.
    fn sidecar_hash(&self, hash: &ContentHash) -> Result<String, String> {
        let mut text = String::new();
        self.content(hash)
            .map_err(|e| e.to_string())?
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|_| "the sidecar is not text".to_owned())?;
        let word = text.split_whitespace().next().unwrap_or_default();
        word.parse::<ContentHash>()
            .map(|h| h.to_string())
            .map_err(|_| format!("`{word}` is not a SHA-256 in hexadecimal"))
    }

    /// Records an upload that will not be committed, with why.
    pub fn abort(
        &self,
        upload: PendingUpload,
        protocol: &str,
        source: &str,
        error: &dyn std::error::Error,
    ) {
        self.record_failure(
            &upload.partner,
            &upload.name,
            upload.size(),
            protocol,
            source,
            error,
        );
    }

    fn record_failure(
        &self,
        partner: &str,
        name: &str,
        size: u64,
        protocol: &str,
        source: &str,
        error: &dyn std::error::Error,
    ) {
        let error = crate::error_chain(error);
        tracing::warn!(tenant = %self.config.name, partner, name, %error, "upload failed");
        crate::metrics::metrics().upload_failed(&self.config.name);
        let recorded = self.journal.record_upload_failed(&UploadFailed {
            tenant: self.config.name.clone(),
            partner: partner.to_owned(),
            name: name.to_owned(),
            bytes_received: size,
            protocol: protocol.to_owned(),
            source: source.to_owned(),
            error,
        });
        if let Err(e) = recorded {
            tracing::error!(error = %crate::error_chain(&e), "cannot journal an upload failure");
        }
    }

    /// Streams `reader` into the inbox as `name` and commits it. `progress`
    /// is called with the bytes written so far.
    pub fn ingest(
        &self,
        partner: &str,
        name: &str,
        mut reader: impl Read,
        protocol: &str,
        source: &str,
        mut progress: impl FnMut(u64),
    ) -> Result<Ingested, MailboxError> {
        let path = MailboxPath::inbox_file(name)?;
        let mut upload = self.begin_upload(partner, &path)?;
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let error = MailboxError::Read(e);
                    self.abort(upload, protocol, source, &error);
                    return Err(error);
                }
            };
            if let Err(e) = upload.write_all(&buf[..n]) {
                let error = StoreError::Io {
                    doing: "writing a staging file",
                    source: e,
                };
                self.abort(upload, protocol, source, &error);
                return Err(error.into());
            }
            progress(upload.size());
        }
        self.commit(upload, protocol, source)
    }

    /// The files of one mailbox folder.
    pub fn list(&self, partner: &str, mailbox: Mailbox) -> Result<Vec<Entry>, MailboxError> {
        self.partner(partner)?;
        Ok(self
            .journal
            .list_mailbox(&self.config.name, partner, mailbox)?)
    }

    /// Opens a visible file for reading.
    pub fn open(
        &self,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<(Entry, Blob), MailboxError> {
        self.partner(partner)?;
        let entry = self
            .journal
            .find_entry(&self.config.name, partner, mailbox, name)?
            .ok_or_else(|| MailboxError::NotFound(format!("/{}/{name}", mailbox.as_str())))?;
        let blob = self.store.open_content(
            &entry.hash,
            self.journal
                .inline_content(&self.config.name, &entry.hash)?,
        )?;
        Ok((entry, blob))
    }

    /// Committed content by hash, wherever it is kept.
    pub fn content(&self, hash: &ContentHash) -> Result<Blob, MailboxError> {
        let inline = self.journal.inline_content(&self.config.name, hash)?;
        Ok(self.store.open_content(hash, inline)?)
    }

    /// The visible file `name` of a folder, if there is one.
    pub fn entry(
        &self,
        partner: &str,
        mailbox: Mailbox,
        name: &str,
    ) -> Result<Option<Entry>, MailboxError> {
        self.partner(partner)?;
        if let Some(entry) = self
            .journal
            .find_entry(&self.config.name, partner, mailbox, name)?
        {
            return Ok(Some(entry));
        }
        // A staged upload is there for its sender to see (clients stat a
        // temporary file before renaming it).
        if mailbox == Mailbox::Inbox
            && let Some(m) = self
                .journal
                .find_pending(&self.config.name, partner, name)?
            && let Some(hash) = m.hash
        {
            return Ok(Some(Entry {
                name: m.name,
                message: m.id,
                hash,
                size: m.size,
                created_at: m.created_at,
            }));
        }
        Ok(None)
    }

    /// Renames a file within a folder of the partner's view.
    pub fn rename(
        &self,
        partner: &str,
        mailbox: Mailbox,
        from: &str,
        to: &str,
    ) -> Result<(), MailboxError> {
        let config = self.partner(partner)?;
        MailboxPath::inbox_file(to)?;
        if mailbox == Mailbox::Inbox
            && config.completion == Completion::Rename
            && let Some(pending) = self
                .journal
                .find_pending(&self.config.name, partner, from)?
        {
            if is_temporary(to) {
                return Err(MailboxError::PermissionDenied(format!(
                    "`{to}` is a temporary name too: rename to the final name"
                )));
            }
            self.journal
                .complete_pending(&self.config.name, pending.id, to)?;
            // The rename completed an upload: its judgement is queued.
            self.pipeline.notify();
            return Ok(());
        }
        if self
            .journal
            .rename_entry(&self.config.name, partner, mailbox, from, to)?
        {
            Ok(())
        } else {
            Err(MailboxError::NotFound(format!(
                "/{}/{from}",
                mailbox.as_str()
            )))
        }
    }

    /// Journals the end of a download: complete (every byte read) or partial.
    pub fn record_download(
        &self,
        partner: &str,
        entry: &Entry,
        bytes_read: u64,
        complete: bool,
        protocol: &str,
        source: &str,
    ) -> Result<(), MailboxError> {
        self.journal.record_download(&Download {
            tenant: self.config.name.clone(),
            partner: partner.to_owned(),
            message: entry.message,
            name: entry.name.clone(),
            bytes_read,
            complete,
            protocol: protocol.to_owned(),
            source: source.to_owned(),
        })?;
        if complete {
            crate::metrics::metrics().sent(self.name(), protocol, bytes_read);
            // A complete download may be what an acknowledgement waits for.
            self.pipeline.notify();
        }
        Ok(())
    }

    /// Hides a file from the partner's view. Content and history stay.
    pub fn hide(&self, partner: &str, mailbox: Mailbox, name: &str) -> Result<(), MailboxError> {
        self.partner(partner)?;
        if self
            .journal
            .hide_entry(&self.config.name, partner, mailbox, name)?
        {
            Ok(())
        } else {
            Err(MailboxError::NotFound(format!(
                "/{}/{name}",
                mailbox.as_str()
            )))
        }
    }
}

/// Records an interrupted upload (or the durable part of one in progress)
/// for a resume: in the journal, counted in the partner's kept bytes, and
/// the upload of that name it replaces given up, unless it is the same
/// upload recorded at a smaller size.
struct Keeper {
    journal: Arc<dyn Journal>,
    store: Store,
    meter: Arc<TenantMeter>,
    tenant: String,
}

impl Keeper {
    fn keep(&self, partner: &str, name: &str, token: &str, size: u64) -> Result<(), MailboxError> {
        let replaced = self
            .journal
            .suspend_upload(&self.tenant, partner, name, token, size)?;
        self.meter.kept(partner, size as i64);
        if let Some((old, old_size)) = replaced {
            self.meter.kept(partner, -(old_size as i64));
            if !self.store.same_upload(&old, token) {
                self.store.discard(&old);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(MailboxPath::parse("/").unwrap(), MailboxPath::Root);
        assert_eq!(
            MailboxPath::parse("/inbox/./a.csv").unwrap(),
            MailboxPath::File(Mailbox::Inbox, "a.csv".into())
        );
        assert_eq!(
            MailboxPath::parse("outbox//").unwrap(),
            MailboxPath::Folder(Mailbox::Outbox)
        );
        for bad in [
            "/inbox/../outbox/x",
            "/inbox/a\0b",
            "/inbox/a\nb",
            "/inbox/..",
        ] {
            assert!(
                matches!(MailboxPath::parse(bad), Err(MailboxError::InvalidPath(_))),
                "{bad:?} was accepted"
            );
        }
        let long = format!("/inbox/{}", "x".repeat(256));
        assert!(matches!(
            MailboxPath::parse(&long),
            Err(MailboxError::InvalidPath(_))
        ));
        assert!(matches!(
            MailboxPath::parse("/etc/passwd"),
            Err(MailboxError::NotFound(_))
        ));
        assert!(MailboxPath::inbox_file("/etc/passwd").is_err());
        assert!(MailboxPath::inbox_file("..").is_err());
    }
}
