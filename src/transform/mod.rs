//! Built-in transforms of a file's content: OpenPGP encryption to a
//! partner's key (`encrypt_to`), decryption of what a partner sends
//! (`decrypt_with`, with `verify_signature_from`), the entries of an
//! uploaded archive (`unzip`), and an archive of a delivery (`zip_to`).
//!
//! A transform reads one stored file and writes new ones through the store's
//! ordinary commit path; it never touches the journal. The pipeline
//! (`pipeline/transform.rs`) runs it and records its outputs in one step,
//! so a crash before that step leaves only unreferenced blobs (swept like
//! any other) and the step runs again from the same input.
//!
//! Memory stays bounded whatever the file's size: every transform streams,
//! in pieces of [`CHUNK`] bytes at most.

pub mod openpgp;
pub mod unzip;
pub mod zip_to;

use std::io::{self, Read, Seek, Write};
use std::sync::{Arc, Mutex};

use crate::store::{Committed, Store, StoreError, Upload};

pub use openpgp::{DecryptKey, Recipient};
pub use unzip::UnzipLimits;

/// Bytes copied at a time.
const CHUNK: usize = 64 * 1024;

/// Why a transform did not give its outputs.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The file itself is refused (a wrong key, an altered ciphertext, an
    /// archive over a limit): its sender is told this reason, as for any
    /// rejection. Running the transform again gives the same answer.
    #[error("{0}")]
    Refused(String),
    /// The store failed: the step is tried again later.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TransformError {
    fn refused(why: impl std::fmt::Display) -> TransformError {
        TransformError::Refused(why.to_string())
    }
}

/// One file a transform made, committed to the store.
#[derive(Debug, Clone)]
pub struct Output {
    /// Its name: a file name, or a relative path for an archive's entry.
    pub name: String,
    pub committed: Committed,
}

/// An upload that refuses to grow past `limit` with a reason the sender
/// can read, unlike the store's own limit (an I/O error like any other).
struct Bounded {
    upload: Upload,
    written: u64,
    limit: Option<u64>,
    /// Set once a write went past the limit.
    over: bool,
}

impl Bounded {
    fn new(store: &Store, limit: Option<u64>) -> Result<Bounded, TransformError> {
        Ok(Bounded {
            upload: store.create(None)?,
            written: 0,
            limit,
            over: false,
        })
    }

    fn commit(self) -> Result<Committed, TransformError> {
        Ok(self.upload.commit()?)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self
            .limit
            .is_some_and(|limit| self.written + buf.len() as u64 > limit)
        {
            self.over = true;
            return Err(io::Error::other("over the size limit"));
        }
        let n = self.upload.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.upload.flush()
    }
}

/// Stored content being transformed, which remembers whether reading it
/// failed: a parser (rpgp, zip) reports the store's I/O errors as its own,
/// and a store that fails (a dropped connection to S3) must make the step
/// retry, not refuse the sender's file.
#[derive(Debug)]
pub(crate) struct Watched<R> {
    inner: R,
    failed: Arc<Mutex<Option<String>>>,
}

impl<R> Watched<R> {
    pub(crate) fn new(inner: R) -> (Watched<R>, Arc<Mutex<Option<String>>>) {
        let failed = Arc::new(Mutex::new(None));
        let watched = Watched {
            inner,
            failed: Arc::clone(&failed),
        };
        (watched, failed)
    }

    fn note<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }
        result
    }
}

/// A store error when reading the content a [`Watched`] wraps failed.
pub(crate) fn check_read(failed: &Mutex<Option<String>>) -> Result<(), TransformError> {
    match failed.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        None => Ok(()),
        Some(why) => Err(StoreError::Io {
            doing: "reading the file to transform",
            source: io::Error::other(why.clone()),
        }
        .into()),
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf);
        self.note(read)
    }
}

impl<R: Seek> Seek for Watched<R> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        let sought = self.inner.seek(pos);
        self.note(sought)
    }
}

/// Copies `from` into `to` a chunk at a time; the error says which side
/// failed, so that a store failure is retried and bad input is refused.
fn copy(from: &mut impl Read, to: &mut Bounded, what: &str) -> Result<u64, TransformError> {
    let mut buf = vec![0; CHUNK];
    let mut total = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TransformError::refused(format!("{what}: {e}"))),
        };
        if let Err(e) = to.write_all(&buf[..n]) {
            if to.over {
                return Err(TransformError::refused(format!(
                    "{what}: larger than the limit of {} bytes",
                    to.limit.unwrap_or_default()
                )));
            }
            return Err(StoreError::Io {
                doing: "writing a transform's output",
                source: e,
            }
            .into());
        }
        total += n as u64;
    }
}
