//! Legacy scp (`scp -O`, and the clients that only speak it): the old
//! protocol of `rcp` over an SSH exec channel, against the same mailboxes,
//! atomic commit, journal and limits as SFTP. `scp` without `-O` speaks
//! SFTP and never comes here.
//!
//! The client runs `scp -t TARGET` to upload (ferry is the sink) or `scp -f
//! PATH` to download (ferry is the source). Both sides then exchange
//! control lines (`C0644 SIZE NAME\n` before a file's bytes, `T...\n` with
//! times under `-p`) and one-byte answers: `\0` is yes, `\x01` then a line
//! is an error the other side reports and goes on from, `\x02` a fatal one.
//! An upload refused at its `C` line (a bad name, over `max_file_size`) is
//! skipped by the client without sending its bytes; a quota reached while
//! writing fails the upload as over SFTP.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, BufReader};

use super::session::{Context, Exit};
use crate::journal::Mailbox;
use crate::tenant::{MailboxError, MailboxPath, Way};

/// The longest control line read; a file name is at most a few hundred bytes.
const LINE: usize = 4096;
/// Bytes moved per hop to the file threads.
const CHUNK: usize = 1 << 20;
/// Bytes read (and paced) at a time.
const PIECE: usize = 64 << 10;

/// What the client asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode {
    /// `scp -t TARGET`: files come in, into TARGET (a folder, or a name).
    Sink(String),
    /// `scp -f PATH...`: these files go out.
    Source(Vec<String>),
}

/// Parses the exec request's command: `scp [-v] [-p] [-d] (-t|-f) [--] PATH...`
/// (options may be bundled, `-pf`); `None` for any other command. Paths
/// may be quoted as a shell would take them.
pub fn parse(command: &[u8]) -> Option<Result<Mode, String>> {
    let words = unquote(std::str::from_utf8(command).ok()?)?;
    let mut words = words.into_iter();
    if words.next()? != "scp" {
        return None;
    }
    let (mut sink, mut source) = (false, false);
    let mut paths = Vec::new();
    let mut options = true;
    for word in words {
        if options && word == "--" {
            options = false;
        } else if options && word.starts_with('-') && word.len() > 1 {
            for flag in word[1..].chars() {
                match flag {
                    't' => sink = true,
                    'f' => source = true,
                    'p' | 'd' | 'v' | 'q' => {}
                    'r' => {
                        return Some(Err(
                            "copying folders (scp -r) is not offered: use sftp".into()
                        ));
                    }
                    other => return Some(Err(format!("scp: unknown option -{other}"))),
                }
            }
        } else {
            options = false;
            paths.push(word);
        }
    }
    Some(match (sink, source, paths.len()) {
        (true, false, 1) => Ok(Mode::Sink(paths.remove(0))),
        (false, true, n) if n > 0 => Ok(Mode::Source(paths)),
        _ => Err("scp: expected -t with one path or -f with paths".into()),
    })
}

/// Splits a command line as a POSIX shell would for plain words, single
/// and double quotes and backslashes; `None` for anything else a shell
/// would act on (variables, globs stay as they are: ferry matches them).
fn unquote(text: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => w.push(c),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => w.push(chars.next()?),
                        '$' | '`' => return None,
                        c => w.push(c),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            ';' | '&' | '|' | '<' | '>' | '$' | '`' | '(' | ')' | '\n' => return None,
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Some(words)
}

/// A mailbox path from an scp path, relative to the root like SFTP's.
fn mailbox_path(cx: &Context, path: &str) -> Result<MailboxPath, MailboxError> {
    let absolute = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let parsed = MailboxPath::parse(&absolute)?;
    cx.tenant.resolve(&cx.partner, parsed)
}

type Reader<R> = BufReader<std::pin::Pin<Box<R>>>;

/// Serves one scp command on its channel, then the exit status: 0 when
/// every file went through, 1 otherwise.
pub async fn run<R: AsyncRead + Send>(
    reader: R,
    mut out: russh::ChannelWriteHalf<russh::server::Msg>,
    cx: Context,
    exit: Exit,
    mode: Mode,
) {
    let cx = Arc::new(cx);
    let mut reader = BufReader::with_capacity(64 << 10, Box::pin(reader));
    let ok = match mode {
        Mode::Sink(target) => sink(&mut reader, &mut out, &cx, &target).await,
        Mode::Source(paths) => source(&mut reader, &mut out, &cx, &paths).await,
    };
    let ok = ok.unwrap_or_else(|e| {
        tracing::debug!(peer = %cx.peer, error = %e, "scp session ended");
        false
    });
    let _ = exit
        .handle
        .exit_status_request(exit.channel, if ok { 0 } else { 1 })
        .await;
    let _ = out.eof().await;
    let _ = out.close().await;
}

async fn send(
    out: &mut russh::ChannelWriteHalf<russh::server::Msg>,
    bytes: Vec<u8>,
) -> std::io::Result<()> {
    out.data_bytes(Bytes::from(bytes))
        .await
        .map_err(std::io::Error::other)
}

/// `\x01scp: WHY\n`: an error the client reports and goes on from.
async fn refuse(
    out: &mut russh::ChannelWriteHalf<russh::server::Msg>,
    why: &str,
) -> std::io::Result<()> {
    let line = why.replace('\n', " ");
    send(out, format!("\x01scp: {line}\n").into_bytes()).await
}

/// A control line, without its `\n`; `None` at the end of input.
async fn line<R: AsyncRead>(reader: &mut Reader<R>) -> std::io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let n = (&mut *reader)
        .take(LINE as u64)
        .read_until(b'\n', &mut bytes)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    if bytes.pop() != Some(b'\n') {
        return Err(std::io::Error::other("an scp control line is too long"));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The other side's answer: `Ok(None)` for yes, `Ok(Some(why))` for an error.
async fn answer<R: AsyncRead>(reader: &mut Reader<R>) -> std::io::Result<Option<String>> {
    match reader.read_u8().await? {
        0 => Ok(None),
        1 | 2 => Ok(Some(line(reader).await?.unwrap_or_default())),
        other => Err(std::io::Error::other(format!(
            "scp: unexpected answer byte {other}"
        ))),
    }
}

/// Runs blocking mailbox work on the hub's file threads, in the tenant's turn.
async fn on_files<T: Send + 'static>(
    cx: &Arc<Context>,
    work: impl FnOnce(&Context) -> T + Send + 'static,
) -> std::io::Result<T> {
    let tenant = cx.tenant.name().to_owned();
    let cx2 = Arc::clone(cx);
    cx.hub
        .files()
        .run(&tenant, move || work(&cx2))
        .await
        .ok_or_else(|| std::io::Error::other("a file thread failed"))
}

async fn sink<R: AsyncRead>(
    reader: &mut Reader<R>,
    out: &mut russh::ChannelWriteHalf<russh::server::Msg>,
    cx: &Arc<Context>,
    target: &str,
) -> std::io::Result<bool> {
    let target = target.to_owned();
    let folder = on_files(cx, move |cx| match mailbox_path(cx, &target) {
        Ok(MailboxPath::Root) => Ok(None),
        Ok(MailboxPath::Folder(Mailbox::Inbox)) => Ok(Some("".to_owned())),
        Ok(MailboxPath::Subfolder(Mailbox::Inbox, dir)) => Ok(Some(format!("{dir}/"))),
        Ok(MailboxPath::File(Mailbox::Inbox, name)) => Err(Ok(name)),
        Ok(_) => Ok(None),
        Err(e) => Err(Err(e.to_string())),
    })
    .await?;
    // Where files go: into a folder, or one file under the target's name.
    let (prefix, fixed) = match folder {
        Ok(Some(prefix)) => (prefix, None),
        Ok(None) => {
            refuse(out, "files can only be uploaded into /inbox").await?;
            return Ok(false);
        }
        Err(Ok(name)) => (String::new(), Some(name)),
        Err(Err(why)) => {
            refuse(out, &why).await?;
            return Ok(false);
        }
    };
    send(out, vec![0]).await?;
    let mut all_ok = true;
    while let Some(control) = line(reader).await? {
        let Some((kind, rest)) = control.split_at_checked(1) else {
            refuse(out, "an empty control line").await?;
            return Ok(false);
        };
        match kind {
            "T" => send(out, vec![0]).await?,
            "D" | "E" => {
                refuse(out, "copying folders (scp -r) is not offered: use sftp").await?;
                return Ok(false);
            }
            "C" => {
                let mut fields = rest.splitn(3, ' ');
                let (_mode, size, name) = (fields.next(), fields.next(), fields.next());
                let (Some(size), Some(name)) = (size.and_then(|s| s.parse::<u64>().ok()), name)
                else {
                    refuse(out, &format!("`C{rest}` is not a file header")).await?;
                    return Ok(false);
                };
                if name.contains('/') || name == "." || name == ".." {
                    refuse(out, &format!("{name}: not a file name")).await?;
                    all_ok = false;
                    continue;
                }
                let name = fixed.clone().unwrap_or_else(|| format!("{prefix}{name}"));
                if !receive(reader, out, cx, name, size).await? {
                    all_ok = false;
                }
            }
            _ => {
                refuse(out, &format!("`{control}` is not an scp control line")).await?;
                return Ok(false);
            }
        }
    }
    Ok(all_ok)
}

/// One file into the inbox: refused before its bytes (the client then
/// skips them), or read, committed after the client's `\0`, answered.
async fn receive<R: AsyncRead>(
    reader: &mut Reader<R>,
    out: &mut russh::ChannelWriteHalf<russh::server::Msg>,
    cx: &Arc<Context>,
    name: String,
    size: u64,
) -> std::io::Result<bool> {
    let begun = on_files(cx, move |cx| {
        if let Some(limit) = cx.hub.config().limits.max_file_size
            && size > limit
        {
            return Err(format!(
                "{name}: {size} bytes is more than the {limit} allowed"
            ));
        }
        let path = MailboxPath::inbox_file(&name).map_err(|e| e.to_string())?;
        let mut upload = cx
            .tenant
            .begin_upload(&cx.partner, &path)
            .map_err(|e| format!("{name}: {e}"))?;
        upload.shown_in(&cx.ticket);
        Ok(upload)
    })
    .await?;
    let mut upload = match begun {
        Ok(upload) => upload,
        Err(why) => {
            refuse(out, &why).await?;
            return Ok(false);
        }
    };
    send(out, vec![0]).await?;
    let throttle = cx.tenant.throttle(&cx.partner, Way::Up);
    let mut left = size;
    let mut failed: Option<String> = None;
    while left > 0 {
        // Read in pieces paced by the partner's bandwidth, handed to the
        // file threads a megabyte at a time.
        let mut chunk = vec![0u8; left.min(CHUNK as u64) as usize];
        let mut filled = 0;
        while filled < chunk.len() {
            let piece = (chunk.len() - filled).min(PIECE);
            if let Err(e) = reader.read_exact(&mut chunk[filled..filled + piece]).await {
                // The client went away mid-file: the upload is journaled as
                // failed (scp cannot resume, so nothing is kept for a retry).
                let (source, why) = (
                    cx.peer.to_string(),
                    format!(
                        "the client left after {} of {size} bytes: {e}",
                        size - left + filled as u64
                    ),
                );
                on_files(cx, move |cx| {
                    cx.tenant
                        .abort(upload, "scp", &source, &std::io::Error::other(why))
                })
                .await?;
                return Err(e);
            }
            throttle.pace(piece).await;
            filled += piece;
        }
        left -= chunk.len() as u64;
        if failed.is_some() {
            continue;
        }
        // The upload goes to a file thread and back with each chunk.
        let (back, written) = on_files(cx, move |_| {
            let written = upload.write_all(&chunk).map_err(|e| e.to_string());
            (upload, written)
        })
        .await?;
        upload = back;
        if let Err(why) = written {
            failed = Some(why);
        }
    }
    let source = cx.peer.to_string();
    // The client's word on its file; a client gone by now failed it.
    let client = match answer(reader).await {
        Ok(client) => client,
        Err(e) => Some(format!("the client left before confirming the file: {e}")),
    };
    let outcome = on_files(cx, move |cx| {
        if let Some(why) = failed.or(client.map(|w| format!("the client failed: {w}"))) {
            cx.tenant
                .abort(upload, "scp", &source, &std::io::Error::other(why.clone()));
            return Err(why);
        }
        cx.tenant
            .finish(upload, "scp", &source)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await?;
    match outcome {
        Ok(()) => {
            send(out, vec![0]).await?;
            Ok(true)
        }
        Err(why) => {
            refuse(out, &why).await?;
            Ok(false)
        }
    }
}

async fn source<R: AsyncRead>(
    reader: &mut Reader<R>,
    out: &mut russh::ChannelWriteHalf<russh::server::Msg>,
    cx: &Arc<Context>,
    paths: &[String],
) -> std::io::Result<bool> {
    if let Some(why) = answer(reader).await? {
        return Err(std::io::Error::other(format!(
            "the client refused to start: {why}"
        )));
    }
    let mut all_ok = true;
    for path in paths {
        let wanted = path.clone();
        let files = on_files(cx, move |cx| files_of(cx, &wanted)).await?;
        match files {
            Ok(names) => {
                for (mailbox, name) in names {
                    if !send_file(reader, out, cx, mailbox, name).await? {
                        all_ok = false;
                    }
                }
            }
            Err(why) => {
                refuse(out, &why).await?;
                all_ok = false;
            }
        }
    }
    Ok(all_ok)
}

/// The files a download path names: one file, or those of its folder a
/// `*`/`?` pattern matches (the shell would expand them for OpenSSH).
fn files_of(cx: &Context, path: &str) -> Result<Vec<(Mailbox, String)>, String> {
    let (folder, last) = path.rsplit_once('/').unwrap_or(("", path));
    if last.contains(['*', '?', '[']) {
        let matcher = globset::Glob::new(last)
            .map_err(|e| format!("{path}: {e}"))?
            .compile_matcher();
        let Ok(MailboxPath::Folder(mailbox)) = mailbox_path(cx, folder) else {
            return Err(format!(
                "{path}: patterns are matched in /inbox or /outbox only"
            ));
        };
        let names: Vec<(Mailbox, String)> = cx
            .tenant
            .list(&cx.partner, mailbox)
            .map_err(|e| format!("{path}: {e}"))?
            .into_iter()
            .filter(|e| !e.name.contains('/') && matcher.is_match(&e.name))
            .map(|e| (mailbox, e.name))
            .collect();
        if names.is_empty() {
            return Err(format!("{path}: No such file or directory"));
        }
        return Ok(names);
    }
    match mailbox_path(cx, path) {
        Ok(MailboxPath::File(mailbox, name)) => Ok(vec![(mailbox, name)]),
        Ok(_) => Err(format!("{path}: not a regular file")),
        Err(MailboxError::NotFound(_)) => Err(format!("{path}: No such file or directory")),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

async fn send_file<R: AsyncRead>(
    reader: &mut Reader<R>,
    out: &mut russh::ChannelWriteHalf<russh::server::Msg>,
    cx: &Arc<Context>,
    mailbox: Mailbox,
    name: String,
) -> std::io::Result<bool> {
    let shown = name.clone();
    let opened = on_files(cx, move |cx| cx.tenant.open(&cx.partner, mailbox, &name)).await?;
    let (entry, blob) = match opened {
        Ok(opened) => opened,
        // OpenSSH's words, which scripts look for.
        Err(MailboxError::NotFound(_)) => {
            refuse(out, &format!("{shown}: No such file or directory")).await?;
            return Ok(false);
        }
        Err(e) => {
            refuse(out, &format!("{shown}: {e}")).await?;
            return Ok(false);
        }
    };
    let base = entry
        .name
        .rsplit('/')
        .next()
        .unwrap_or(&entry.name)
        .to_owned();
    send(out, format!("C0644 {} {base}\n", entry.size).into_bytes()).await?;
    if let Some(why) = answer(reader).await? {
        tracing::debug!(peer = %cx.peer, %why, "the scp client refused a file");
        return Ok(false);
    }
    let transfer = cx.ticket.transfer("download", &entry.name, 0);
    let throttle = cx.tenant.throttle(&cx.partner, Way::Down);
    let mut blob = blob;
    let mut sent = 0u64;
    loop {
        let (back, chunk) = on_files(cx, move |_| {
            let mut buf = vec![0u8; CHUNK];
            let n = blob.read(&mut buf);
            (
                blob,
                n.map(|n| {
                    buf.truncate(n);
                    buf
                }),
            )
        })
        .await?;
        blob = back;
        let chunk = chunk?;
        if chunk.is_empty() {
            break;
        }
        throttle.pace(chunk.len()).await;
        sent += chunk.len() as u64;
        transfer.set(sent);
        send(out, chunk).await?;
    }
    send(out, vec![0]).await?;
    let complete = answer(reader).await?.is_none() && sent == entry.size;
    let source = cx.peer.to_string();
    on_files(cx, move |cx| {
        if let Err(e) =
            cx.tenant
                .record_download(&cx.partner, &entry, sent, complete, "scp", &source)
        {
            tracing::error!(error = %crate::error_chain(&e), "cannot journal a download");
        }
    })
    .await?;
    Ok(complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_as_openssh_sends_them() {
        assert_eq!(
            parse(b"scp -t inbox/"),
            Some(Ok(Mode::Sink("inbox/".into())))
        );
        assert_eq!(
            parse(b"scp -v -p -t -- '/inbox/a b.csv'"),
            Some(Ok(Mode::Sink("/inbox/a b.csv".into())))
        );
        assert_eq!(
            parse(b"scp -pf outbox/x.csv outbox/y.csv"),
            Some(Ok(Mode::Source(vec![
                "outbox/x.csv".into(),
                "outbox/y.csv".into()
            ])))
        );
        assert!(matches!(parse(b"scp -r -t inbox"), Some(Err(_))));
        assert_eq!(parse(b"ls -l"), None);
        assert_eq!(parse(b"scp -t inbox; rm -rf /"), None);
        assert_eq!(parse(b"scp -t \"$HOME\""), None);
    }
}
