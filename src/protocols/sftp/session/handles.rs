//! Open handles: files being uploaded or downloaded and directories being
//! listed, each served by its own task on the shared file threads, one
//! request at a time in the order the client sent them.

use super::*;

/// What a handle's worker holds.
pub(super) enum State {
    Dir {
        files: Vec<File>,
        sent: bool,
    },
    Download(Download),
    Upload(Option<PendingUpload>, Option<String>),
    /// A `/receipts` file, generated when opened; not journaled as a download.
    Generated(Blob),
    /// A `/resend` request: acted on when closed.
    Resend(String),
}

/// Attributes of a generated file: its size, and now.
pub(super) fn generated_attrs(size: usize) -> FileAttributes {
    let now = (crate::journal::Timestamp::now().0 / 1000).clamp(0, i64::from(u32::MAX)) as u32;
    FileAttributes {
        size: Some(size as u64),
        permissions: Some(0o100_444),
        atime: Some(now),
        mtime: Some(now),
        ..FileAttributes::empty()
    }
}

pub(super) struct Download {
    entry: Entry,
    blob: Blob,
    /// Byte ranges read, merged: to tell a full download from a partial one.
    read: Vec<(u64, u64)>,
    /// Its entry among the session's transfers.
    transfer: crate::tenant::Transfer,
}

impl Download {
    fn note(&mut self, start: u64, end: u64) {
        self.read.push((start, end));
        merge(&mut self.read);
        self.transfer.set(self.bytes_read());
    }

    fn bytes_read(&self) -> u64 {
        self.read.iter().map(|(s, e)| e - s).sum()
    }
}

/// Sorts byte ranges and merges those that touch or overlap.
pub(super) fn merge(ranges: &mut Vec<(u64, u64)>) {
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(s, e) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *ranges = merged;
}

/// OPEN of a new upload into the inbox (write and truncate, what `put`
/// sends) for a partner without quota: nothing is read or written before
/// the first bytes, so it is answered on the session's task, without the
/// hand-over to a file thread and back that every other request costs (a
/// small file's upload is three requests, each a round trip the client
/// waits for). `None` for any other OPEN, and for one that fails or is
/// refused: the file threads serve it as before, errors and their
/// journaling included.
pub(super) fn open_in_memory(
    shared: &Arc<Shared>,
    open: &russh_sftp::protocol::Open,
) -> Option<String> {
    let cx = &shared.cx;
    if !open.pflags.contains(OpenFlags::WRITE | OpenFlags::TRUNCATE)
        || !cx.tenant.upload_begins_in_memory(&cx.partner)
    {
        return None;
    }
    let path = parse(&open.filename).ok()?;
    if !matches!(path, MailboxPath::File(Mailbox::Inbox, _)) {
        return None;
    }
    let mut upload = cx.tenant.begin_upload(&cx.partner, &path).ok()?;
    upload.shown_in(&cx.ticket);
    // A refused handle (too many open) drops the upload, which has
    // nothing yet; the file threads then refuse it again and journal it.
    try_new_handle(shared, State::Upload(Some(upload), None)).ok()
}

pub(super) fn new_handle(shared: &Arc<Shared>, state: State) -> Result<String, MailboxError> {
    try_new_handle(shared, state).map_err(|refused| {
        let (state, why) = *refused;
        // As for any handle not closed: a resumed upload is kept again, a
        // download journaled.
        abandon(&shared.cx, state);
        MailboxError::PermissionDenied(why)
    })
}

/// Registers a handle for `state` and starts its worker; on refusal gives
/// the state back with why.
fn try_new_handle(shared: &Arc<Shared>, state: State) -> Result<String, Box<(State, String)>> {
    let name = format!("h{}", shared.next_handle.fetch_add(1, Ordering::Relaxed));
    let (queue, jobs) = mpsc::unbounded_channel();
    let refused = {
        let mut guard = shared.handles.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            // The client left while this handle was being opened: no one
            // can use or close it. (Found by the `sftp_packets` fuzz target:
            // kept, its queue held the session and its worker for ever.)
            None => Err("the session has ended".to_owned()),
            Some(handles) if handles.len() >= MAX_HANDLES => {
                Err(format!("more than {MAX_HANDLES} open handles"))
            }
            Some(handles) => match shared.cx.tenant.handle_slot() {
                Some(slot) => {
                    handles.insert(name.clone(), queue);
                    Ok(slot)
                }
                None => Err("too many open handles in this tenant's sessions: close some".into()),
            },
        }
    };
    let slot = match refused {
        Ok(slot) => slot,
        Err(why) => return Err(Box::new((state, why))),
    };
    let worker = Arc::clone(shared);
    let handle = name.clone();
    shared
        .runtime
        .spawn(work(worker, handle, state, jobs, slot));
    Ok(name)
}

pub(super) fn open(
    shared: &Arc<Shared>,
    path: &str,
    flags: OpenFlags,
) -> Result<String, MailboxError> {
    let cx = &shared.cx;
    let path = parse(path)?;
    let state = match (&path, flags.contains(OpenFlags::WRITE)) {
        (MailboxPath::SpecialFile(Special::Resend, request), true) => {
            Some(State::Resend(request.clone()))
        }
        (MailboxPath::SpecialFile(Special::Receipts, name), false) => Some(State::Generated(
            Blob::inline(cx.tenant.receipt(&cx.partner, name)?),
        )),
        (MailboxPath::Special(_) | MailboxPath::SpecialFile(..), _) => {
            return Err(MailboxError::PermissionDenied(
                "/receipts is read-only and /resend takes new requests only".into(),
            ));
        }
        (MailboxPath::File(mailbox, name), false) => cx
            .tenant
            .checksum_file(&cx.partner, *mailbox, name)?
            .map(|content| State::Generated(Blob::inline(content))),
        _ => None,
    };
    if let Some(state) = state {
        return new_handle(shared, state);
    }
    let state = if flags.contains(OpenFlags::WRITE) {
        let truncate = flags.contains(OpenFlags::TRUNCATE);
        if !truncate && exists(cx, &path)? {
            return Err(MailboxError::PermissionDenied(
                "files are immutable once stored: upload a new file instead of changing one".into(),
            ));
        }
        // Without truncation (OpenSSH `reput` opens with APPEND), an
        // interrupted upload of this name goes on where it stopped.
        let resumed = if truncate {
            None
        } else {
            cx.tenant.resume_upload(&cx.partner, &path)?
        };
        let mut upload = match resumed {
            Some(upload) => upload,
            None => cx.tenant.begin_upload(&cx.partner, &path)?,
        };
        upload.shown_in(&cx.ticket);
        State::Upload(Some(upload), None)
    } else {
        let MailboxPath::File(mailbox, name) = path else {
            return Err(MailboxError::PermissionDenied("that is a folder".into()));
        };
        let (entry, blob) = cx.tenant.open(&cx.partner, mailbox, &name)?;
        let transfer = cx.ticket.transfer("download", &entry.name, 0);
        State::Download(Download {
            entry,
            blob,
            read: Vec::new(),
            transfer,
        })
    };
    new_handle(shared, state)
}

pub(super) fn exists(cx: &Context, path: &MailboxPath) -> Result<bool, MailboxError> {
    match path {
        MailboxPath::File(mailbox, name) => {
            Ok(cx.tenant.entry(&cx.partner, *mailbox, name)?.is_some())
        }
        _ => Ok(true),
    }
}

pub(super) fn open_dir(shared: &Arc<Shared>, path: &str) -> Result<String, MailboxError> {
    let cx = &shared.cx;
    let files = match cx.tenant.resolve(&cx.partner, parse(path)?)? {
        MailboxPath::Special(Special::Receipts) => RECEIPTS
            .into_iter()
            .map(|name| {
                let attrs = generated_attrs(cx.tenant.receipt(&cx.partner, name)?.len());
                Ok(File {
                    filename: name.into(),
                    longname: long_name(name, &attrs, &cx.partner),
                    attrs,
                })
            })
            .collect::<Result<_, MailboxError>>()?,
        // Requests are taken at once: the folder is always empty.
        MailboxPath::Special(Special::Resend) => Vec::new(),
        MailboxPath::Root => FOLDERS
            .into_iter()
            .map(|name| File {
                filename: name.into(),
                longname: long_name(name, &dir_attrs(), &cx.partner),
                attrs: dir_attrs(),
            })
            .collect(),
        path @ (MailboxPath::Folder(_) | MailboxPath::Subfolder(..)) => {
            let (mailbox, folder) = match &path {
                MailboxPath::Subfolder(mailbox, folder) => (*mailbox, folder.as_str()),
                MailboxPath::Folder(mailbox) => (*mailbox, ""),
                _ => unreachable!("matched above"),
            };
            let listing = cx.tenant.list_folder(&cx.partner, mailbox, folder)?;
            cx.tenant.record_listing(
                &cx.partner,
                mailbox,
                folder,
                &listing,
                "sftp",
                &cx.peer.to_string(),
            );
            let checksums = cx
                .tenant
                .checksum_files(&cx.partner, mailbox, &listing.files)?;
            let file = |name: &str, attrs: FileAttributes| File {
                filename: name.to_owned(),
                longname: long_name(name, &attrs, &cx.partner),
                attrs,
            };
            listing
                .folders
                .iter()
                .map(|name| file(name, dir_attrs()))
                .chain(
                    listing
                        .files
                        .iter()
                        .map(|entry| file(&entry.name, file_attrs(entry))),
                )
                .chain(checksums.iter().map(|(name, content, entry)| {
                    let mut attrs = file_attrs(entry);
                    attrs.size = Some(content.len() as u64);
                    file(name, attrs)
                }))
                .collect()
        }
        MailboxPath::File(..) | MailboxPath::SpecialFile(..) => {
            return Err(MailboxError::PermissionDenied("that is a file".into()));
        }
    };
    new_handle(shared, State::Dir { files, sent: false })
}

/// An `ls -l` line, as OpenSSH's server writes it.
pub(super) fn long_name(name: &str, attrs: &FileAttributes, owner: &str) -> String {
    let dir = attrs.permissions.is_some_and(|p| p & 0o040_000 != 0);
    crate::protocols::listing::ls_line(
        name,
        dir,
        attrs.size.unwrap_or(0),
        attrs.mtime.map(i64::from),
        owner,
    )
}

/// Reads and writes of one handle served in one turn on a file thread, at
/// most: OpenSSH keeps 64 requests in flight, and each turn costs two
/// thread hand-overs, which a batch pays once.
const BATCH: usize = 16;

/// Bytes a read asks for (zero for anything else).
fn read_len(packet: &Packet) -> usize {
    match packet {
        Packet::Read(read) => read.len.min(MAX_IO) as usize,
        _ => 0,
    }
}

fn is_io(packet: &Packet) -> bool {
    matches!(packet, Packet::Read(_) | Packet::Write(_))
}

/// A handle's worker: serves its requests in order until closed, on the
/// file threads (reads and writes queued together in one turn). Holds the
/// tenant's handle slot while it lives.
pub(super) async fn work(
    shared: Arc<Shared>,
    handle: String,
    state: State,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    _slot: crate::tenant::HandleSlot,
) {
    let (up, down) = {
        let cx = &shared.cx;
        (
            cx.tenant.throttle(&cx.partner, Way::Up),
            cx.tenant.throttle(&cx.partner, Way::Down),
        )
    };
    let mut state = Some(state);
    // A job taken from the queue behind a batch, served next.
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => break,
            },
        };
        // A write that stays in memory (a small file's bytes, kept until
        // the close) needs no file thread: served here, it saves two
        // thread hand-overs.
        if let (Packet::Write(write), Some(State::Upload(Some(upload), None))) =
            (&job.packet, &state)
            && upload.stays_in_memory(write.data.len())
        {
            up.pace(write.data.len()).await;
            let answer = serve(state.as_mut().expect("matched above"), job.packet);
            reply(&shared, answer, job._permit).await;
            continue;
        }
        let mut batch = vec![job];
        let mut reading = read_len(&batch[0].packet);
        if is_io(&batch[0].packet) {
            while batch.len() < BATCH {
                match jobs.try_recv() {
                    // Reads are batched within the reply budget: their data
                    // is in memory from the read until it is written.
                    Ok(job) if reading + read_len(&job.packet) > REPLY_BYTES => {
                        next = Some(job);
                        break;
                    }
                    Ok(job) if is_io(&job.packet) => {
                        reading += read_len(&job.packet);
                        batch.push(job);
                    }
                    Ok(job) => {
                        next = Some(job);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        // Bandwidth limits hold back the reply: the client keeps only so
        // many requests in flight, so its rate follows.
        let written: usize = batch
            .iter()
            .map(|job| match &job.packet {
                Packet::Write(write) => write.data.len(),
                _ => 0,
            })
            .sum();
        if written > 0 {
            up.pace(written).await;
        }
        // The data of the reads is held to the session's reply budget
        // before it is read, not after: 200 sessions downloading at once
        // otherwise each held a batch of reads' data (and its encoding).
        let mut budget = match reading {
            0 => None,
            n => Arc::clone(&shared.reply_bytes)
                .acquire_many_owned(n.min(REPLY_BYTES) as u32)
                .await
                .ok(),
        };
        let closing = matches!(batch[0].packet, Packet::Close(_));
        let Some(current) = state.take() else { break };
        let (packets, permits): (Vec<Packet>, Vec<OwnedSemaphorePermit>) = batch
            .into_iter()
            .map(|job| (job.packet, job._permit))
            .unzip();
        let ids: Vec<u32> = packets.iter().map(Packet::get_request_id).collect();
        let job = Arc::clone(&shared);
        let done = on_files(&shared, move || {
            let mut current = current;
            let answers: Vec<Encoded> = packets
                .into_iter()
                .map(|packet| match closing {
                    // A close is a batch of its own.
                    true => encode(close(&job.cx, &mut current, packet.get_request_id())),
                    false => serve_encoded(&mut current, packet),
                })
                .collect();
            (current, answers)
        })
        .await;
        let answers = match done {
            Some((current, answers)) => {
                state = Some(current);
                answers
            }
            // A bug lost the handle's state: the handle ends here.
            None => ids
                .iter()
                .map(|&id| encode(status(id, StatusCode::Failure, "internal error")))
                .collect(),
        };
        let closed = closing || state.is_none();
        if closed {
            // Gone from the map before the reply, so that no request sent
            // after the client saw the close is queued here.
            shared
                .handles
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .map(|handles| handles.remove(&handle));
        }
        let last = answers.len().saturating_sub(1);
        for (i, (answer, permit)) in answers.into_iter().zip(permits).enumerate() {
            if answer.data > 0 {
                down.pace(answer.data).await;
            }
            // The batch's budget goes with its last reply: freed once all
            // of the batch is written.
            let budget = match (&budget, i == last) {
                (None, _) => Budget::Take,
                (Some(_), true) => Budget::Held(budget.take()),
                (Some(_), false) => Budget::Held(None),
            };
            send(&shared, answer.bytes, permit, budget).await;
        }
        if closed {
            // Requests queued before the removal (pipelined after the
            // close) are answered, not dropped.
            jobs.close();
            let mut late: Vec<Job> = next.take().into_iter().collect();
            while let Ok(job) = jobs.try_recv() {
                late.push(job);
            }
            for late in late {
                let id = late.packet.get_request_id();
                reply(
                    &shared,
                    status(id, StatusCode::Failure, "handle closed"),
                    late._permit,
                )
                .await;
            }
            return;
        }
    }
    // The session ended without a close: an upload is kept to resume (or
    // journaled as failed), a download is journaled as partial.
    if let Some(state) = state {
        let job = Arc::clone(&shared);
        on_files(&shared, move || abandon(&job.cx, state)).await;
    }
}

/// A reply encoded on the file thread, with the file data it carries (for
/// the download's bandwidth limit).
pub(super) struct Encoded {
    pub(super) bytes: Option<Bytes>,
    pub(super) data: usize,
}

pub(super) fn encode(packet: Packet) -> Encoded {
    Encoded {
        bytes: super::encode(packet),
        data: 0,
    }
}

/// Serves a request on a handle, its reply encoded. A read's data goes
/// straight into its reply: one buffer of the reply's exact size, where
/// decoding into a buffer and encoding into a growing one held up to three
/// times the data (and copied it once more).
pub(super) fn serve_encoded(state: &mut State, packet: Packet) -> Encoded {
    let Packet::Read(read) = &packet else {
        return encode(serve(state, packet));
    };
    let (id, offset, len) = (read.id, read.offset, read.len.min(MAX_IO) as usize);
    let read = match state {
        State::Download(download) => data_reply(id, offset, len, true, |buf, at| {
            download.blob.read_at(buf, at)
        }),
        State::Generated(blob) => {
            data_reply(id, offset, len, false, |buf, at| blob.read_at(buf, at))
        }
        _ => return encode(serve(state, packet)),
    };
    match read {
        Ok(Some((bytes, n))) => {
            if let State::Download(download) = state {
                download.note(offset, offset + n as u64);
            }
            Encoded {
                bytes: Some(bytes),
                data: n,
            }
        }
        Ok(None) => encode(status(id, StatusCode::Eof, "end of file")),
        Err(e) => encode(status(id, StatusCode::Failure, &e.to_string())),
    }
}

/// `SSH_FXP_DATA` with up to `len` bytes read at `offset` (until `len` or the
/// end of the file when `fill`, else one read); `None` at the end of the file.
fn data_reply(
    id: u32,
    offset: u64,
    len: usize,
    fill: bool,
    mut read_at: impl FnMut(&mut [u8], u64) -> std::io::Result<usize>,
) -> std::io::Result<Option<(Bytes, usize)>> {
    // Length, type, request id, data length.
    const HEADER: usize = 4 + 1 + 4 + 4;
    let mut buf = BytesMut::zeroed(HEADER + len);
    let mut filled = 0;
    while filled < len {
        match read_at(&mut buf[HEADER + filled..], offset + filled as u64)? {
            0 => break,
            n => filled += n,
        }
        if !fill {
            break;
        }
    }
    if filled == 0 {
        return Ok(None);
    }
    buf.truncate(HEADER + filled);
    let mut header = &mut buf[..HEADER];
    header.put_u32((HEADER - 4 + filled) as u32);
    header.put_u8(SSH_FXP_DATA);
    header.put_u32(id);
    header.put_u32(filled as u32);
    Ok(Some((buf.freeze(), filled)))
}

/// The packet type of a data reply (draft-ietf-secsh-filexfer-02).
const SSH_FXP_DATA: u8 = 103;

pub(super) fn serve(state: &mut State, packet: Packet) -> Packet {
    let id = packet.get_request_id();
    match (state, packet) {
        (State::Dir { files, sent }, Packet::ReadDir(_)) => {
            if *sent || files.is_empty() {
                return status(id, StatusCode::Eof, "end of directory");
            }
            *sent = true;
            Packet::Name(Name {
                id,
                files: std::mem::take(files),
            })
        }
        (State::Upload(upload, failed), Packet::Write(write)) => {
            let Some(upload) = upload else {
                return status(id, StatusCode::Failure, "the upload has failed");
            };
            if failed.is_some() {
                return status(
                    id,
                    StatusCode::Failure,
                    failed.as_deref().unwrap_or_default(),
                );
            }
            if write.offset != upload.size() {
                // Writes arrive in order; a gap or a rewrite means a client
                // this server cannot store faithfully.
                let why = format!(
                    "write at offset {} but {} bytes were written: uploads must be sequential",
                    write.offset,
                    upload.size()
                );
                *failed = Some(why.clone());
                return status(id, StatusCode::Failure, &why);
            }
            // A failed write (the size limit, a full disk) fails the file:
            // SFTP v3 has no quota status, so clients get a failure with why.
            // The request's buffer goes to the hashing thread, uncopied.
            let len = write.data.len();
            match upload.write_owned(write.data, len) {
                Ok(_) => ok(id),
                Err(e) => {
                    *failed = Some(e.to_string());
                    status(id, StatusCode::Failure, &e.to_string())
                }
            }
        }
        (State::Download(d), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: file_attrs(&d.entry),
        }),
        (State::Upload(upload, _), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: FileAttributes {
                size: Some(upload.as_ref().map_or(0, PendingUpload::size)),
                permissions: Some(FILE_MODE),
                ..FileAttributes::empty()
            },
        }),
        (State::Dir { .. }, Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: dir_attrs(),
        }),
        (State::Generated(blob), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: generated_attrs(blob.size() as usize),
        }),
        // A request names its file and carries nothing: its bytes are not kept.
        (State::Resend(_), Packet::Write(_)) => ok(id),
        (State::Resend(_), Packet::Fstat(_)) => Packet::Attrs(Attrs {
            id,
            attrs: generated_attrs(0),
        }),
        // Times and modes are ferry's to keep; accepting them keeps `put -p` working.
        (_, Packet::FSetStat(_)) => ok(id),
        // The bytes are synced when the file is committed at close.
        (_, Packet::Extended(_)) => ok(id),
        (_, _) => status(id, StatusCode::Failure, "not possible on this handle"),
    }
}

pub(super) fn close(cx: &Context, state: &mut State, id: u32) -> Packet {
    let source = cx.peer.to_string();
    match std::mem::replace(
        state,
        State::Dir {
            files: Vec::new(),
            sent: true,
        },
    ) {
        State::Dir { .. } => ok(id),
        State::Download(d) => {
            record_download(cx, &d);
            ok(id)
        }
        State::Upload(Some(upload), None) => match cx.tenant.finish(upload, "sftp", &source) {
            Ok(finished) => {
                tracing::info!(tenant = %cx.tenant.name(), partner = %cx.partner, ?finished,
                    "SFTP upload stored");
                ok(id)
            }
            Err(e) => failure(id, &e),
        },
        State::Upload(Some(upload), Some(why)) => {
            cx.tenant
                .abort(upload, "sftp", &source, &std::io::Error::other(why.clone()));
            status(id, StatusCode::Failure, &why)
        }
        State::Upload(None, _) => status(id, StatusCode::Failure, "the upload has failed"),
        State::Generated(_) => ok(id),
        State::Resend(request) => match cx.tenant.resend(&cx.partner, &request, &source) {
            Ok(entry) => {
                tracing::info!(tenant = %cx.tenant.name(), partner = %cx.partner,
                    name = %entry.name, "resent on request");
                ok(id)
            }
            Err(e) => failure(id, &e),
        },
    }
}

pub(super) fn abandon(cx: &Context, state: State) {
    let source = cx.peer.to_string();
    match state {
        // Kept (invisible) so that the client can resume it.
        State::Upload(Some(upload), None) => cx.tenant.suspend(
            upload,
            "sftp",
            &source,
            &std::io::Error::other("the client disconnected before closing the file"),
        ),
        State::Upload(Some(upload), Some(why)) => {
            cx.tenant
                .abort(upload, "sftp", &source, &std::io::Error::other(why))
        }
        State::Download(d) => record_download(cx, &d),
        _ => {}
    }
}

pub(super) fn record_download(cx: &Context, d: &Download) {
    let bytes = d.bytes_read();
    let complete = d
        .read
        .first()
        .is_some_and(|r| r.0 == 0 && r.1 >= d.entry.size)
        || d.entry.size == 0;
    if let Err(e) = cx.tenant.record_download(
        &cx.partner,
        &d.entry,
        bytes,
        complete,
        "sftp",
        &cx.peer.to_string(),
    ) {
        tracing::error!(error = %crate::error_chain(&e), "cannot journal a download");
    }
}
