//! The content store of one tenant: staged writes, committed blobs named
//! by their SHA-256.
//!
//! Two backends sit behind the [`Backend`] seam: [`local`], a directory per
//! tenant (the embedded default), and [`s3`], a prefix per tenant in an
//! S3-compatible object store that several nodes share. Everything above
//! this module sees [`Store`], [`Upload`] and [`Blob`] only.
//!
//! Small content (at most [`INLINE_MAX`] bytes) never reaches a backend:
//! an upload keeps it in memory until it grows past that, and
//! [`Upload::finish`] hands it back with its hash, for the caller to keep in
//! the journal in the same transaction that records the file. One
//! transaction (one `fsync` of the journal) then makes a small file durable,
//! where a blob costs three (the file, its directory, the journal); that is
//! what lets many small uploads go as fast as a server that syncs nothing.
//! Nothing here knows partners or mailboxes: names never reach a backend,
//! only hashes do.

mod digest;
mod hasher;
mod local;
mod s3;
mod sweep;

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

pub use digest::{ContentHash, ParseHashError};
pub use s3::{S3, S3Settings};

/// The largest content [`Upload::finish`] returns inline instead of
/// committing it as a blob.
pub const INLINE_MAX: usize = 64 << 10;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {}", path.display())]
    Open {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no content with hash {0} in the store")]
    NotFound(ContentHash),
    #[error("the interrupted upload {0} cannot be resumed")]
    NotResumable(String),
    #[error("store I/O failed while {doing}")]
    Io {
        doing: &'static str,
        #[source]
        source: io::Error,
    },
    /// The object store answered with an error, or not at all.
    #[error("the object store {endpoint} failed while {doing}")]
    Remote {
        endpoint: String,
        doing: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    fn io(doing: &'static str) -> impl FnOnce(io::Error) -> StoreError {
        move |source| StoreError::Io { doing, source }
    }
}

/// Where committed content lives; one implementation per kind of storage.
///
/// A backend stores bytes by hash and nothing else. Its invariants: content
/// is reachable under its hash only once it is whole and durable; a staged
/// write that is dropped leaves nothing reachable; a suspended write is
/// named by a token that [`Backend::resume`] accepts on any node sharing
/// the storage.
trait Backend: Send + Sync + std::fmt::Debug {
    /// Starts writing content that did not fit in memory.
    fn stage(&self) -> Result<Box<dyn Staging>, StoreError>;
    /// Goes on with a suspended write whose first `size` bytes are kept.
    fn resume(&self, suspended: &str, size: u64) -> Result<Box<dyn Staging>, StoreError>;
    /// Opens committed content; returns a reader and its size.
    fn open(&self, hash: &ContentHash) -> Result<(Box<dyn ObjectRead>, u64), StoreError>;
    /// Gives up a suspended write.
    fn discard(&self, suspended: &str);
    /// Removes what crashed writes left, except the suspended ones in `keep`.
    fn clean_staging(&self, keep: &[String]) -> Result<usize, StoreError>;
    /// Removes the content `in_use` does not name and nobody committed
    /// within `grace`.
    fn sweep(&self, in_use: &HashSet<ContentHash>, grace: Duration) -> Result<usize, StoreError>;
    /// Whether two suspension tokens are the same write at two sizes.
    fn same_write(&self, a: &str, b: &str) -> bool {
        a == b
    }
}

/// A write in progress in a backend. Dropping it gives the write up.
trait Staging: Send + std::fmt::Debug {
    /// Takes the next bytes; the staging hashes every byte it is given.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Takes all of the first `len` bytes of `buf`, and the buffer with
    /// them when that saves a copy; gives back a buffer to fill next.
    fn write_owned(&mut self, buf: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
        let mut rest = &buf[..len];
        while !rest.is_empty() {
            match self.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(buf)
    }
    /// Keeps what is durable so far; returns the token to resume it by and
    /// the bytes kept (a backend may keep fewer than it was given).
    fn suspend(self: Box<Self>) -> Result<(String, u64), StoreError>;
    /// Makes the bytes durable content named by their hash, or fails with
    /// nothing reachable.
    fn commit(self: Box<Self>) -> Result<ContentHash, StoreError>;
    /// Bytes taken so far.
    fn size(&self) -> u64;
    /// Asks to be told each time more of the write becomes durable, with a
    /// token that resumes it from there (a backend that cannot survive its
    /// process never calls it).
    fn track(&mut self, _progress: Progress) {}
}

/// Told `(token, size)` as a staged write becomes durable piece by piece,
/// so that the write can be resumed from there if this process dies.
pub struct Progress(Box<Tell>);

type Tell = dyn Fn(&str, u64) + Send + Sync;

impl Progress {
    pub fn new(tell: impl Fn(&str, u64) + Send + Sync + 'static) -> Progress {
        Progress(Box::new(tell))
    }

    fn tell(&self, token: &str, size: u64) {
        (self.0)(token, size);
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// Committed content opened for random reads.
trait ObjectRead: Send + Sync + std::fmt::Debug {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// The open file behind the content, when there is one: a plain socket
    /// can then be fed from it by the kernel (`sendfile`), with no copy.
    fn file(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }
}

/// One tenant's store. Cheap to clone; every clone shares the same backend.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

/// An upload finished by [`Upload::finish`]: either committed as a blob, or
/// small enough to come back `inline`, to be made durable by the caller.
#[derive(Debug)]
pub struct Finished {
    pub committed: Committed,
    pub inline: Option<Vec<u8>>,
}

/// A committed blob: its hash and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    pub hash: ContentHash,
    pub size: u64,
}

impl Store {
    /// Opens (creating if needed) the local store rooted at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Arc::new(local::Local::open(root)?),
        })
    }

    /// The store of `tenant` in a shared object store.
    pub fn remote(s3: &S3, tenant: &str) -> Store {
        Store {
            backend: Arc::new(s3.tenant(tenant)),
        }
    }

    /// Starts a write. It stays in memory until it is larger than
    /// [`INLINE_MAX`]; the bytes become a blob only through [`Upload::commit`]
    /// or [`Upload::finish`].
    pub fn create(&self, limit: Option<u64>) -> Result<Upload, StoreError> {
        Ok(Upload {
            store: self.clone(),
            staged: Staged::Memory(Vec::new()),
            limit,
            progress: None,
        })
    }

    /// Opens the content named `hash`: `inline`, the bytes the journal kept
    /// for it, when there are some, the committed blob otherwise. The
    /// journal is asked first by every caller (`journal.inline_content`):
    /// it is the record of what was received, so a file planted in the
    /// store can never stand in for inline content.
    pub fn open_content(
        &self,
        hash: &ContentHash,
        inline: Option<Vec<u8>>,
    ) -> Result<Blob, StoreError> {
        match inline {
            Some(bytes) => Ok(Blob::inline(bytes)),
            None => self.read(hash),
        }
    }

    /// Opens a committed blob for reading.
    pub fn read(&self, hash: &ContentHash) -> Result<Blob, StoreError> {
        let (object, size) = self.backend.open(hash)?;
        Ok(Blob {
            content: Content::Object { object, at: 0 },
            size,
        })
    }

    /// Whether a blob with this hash is committed.
    pub fn contains(&self, hash: &ContentHash) -> bool {
        self.read(hash).is_ok()
    }

    /// Reopens a suspended upload to continue it: the hash goes on from
    /// the kept bytes, so it stays the hash of the whole file.
    pub fn resume(
        &self,
        suspended: &str,
        size: u64,
        limit: Option<u64>,
    ) -> Result<Upload, StoreError> {
        Ok(Upload {
            store: self.clone(),
            staged: Staged::Backend(self.backend.resume(suspended, size)?),
            limit,
            progress: None,
        })
    }

    /// Removes a suspended upload that will not be resumed.
    pub fn discard(&self, suspended: &str) {
        self.backend.discard(suspended);
    }

    /// Whether two suspension tokens name the same upload (kept at two
    /// sizes): replacing one by the other must not discard it.
    pub fn same_upload(&self, a: &str, b: &str) -> bool {
        self.backend.same_write(a, b)
    }

    /// Removes staging files left by a crash, except the suspended uploads
    /// named in `keep`. Call before accepting uploads.
    pub fn clean_staging(&self, keep: &[String]) -> Result<usize, StoreError> {
        self.backend.clean_staging(keep)
    }

    /// Removes every blob that `in_use` does not name and that no commit
    /// marked within `grace`; returns how many. `in_use` must be read from
    /// the journal before the sweep starts.
    pub fn sweep(
        &self,
        in_use: &HashSet<ContentHash>,
        grace: Duration,
    ) -> Result<usize, StoreError> {
        self.backend.sweep(in_use, grace)
    }

    /// Puts a small, already complete piece of content (an acknowledgement
    /// file, say) through the same commit path as an upload.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Committed, StoreError> {
        let mut upload = self.create(None)?;
        upload
            .write_all(bytes)
            .map_err(StoreError::io("writing a staging file"))?;
        upload.commit()
    }
}

/// A staged write. Dropping it without `commit` removes the staged bytes.
#[derive(Debug)]
pub struct Upload {
    store: Store,
    staged: Staged,
    limit: Option<u64>,
    /// Handed to the backend's staging when there is one.
    progress: Option<Progress>,
}

/// Where an upload's bytes are.
#[derive(Debug)]
enum Staged {
    Memory(Vec<u8>),
    Backend(Box<dyn Staging>),
    Done,
}

impl Upload {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        match &self.staged {
            Staged::Memory(bytes) => bytes.len() as u64,
            Staged::Backend(staging) => staging.size(),
            Staged::Done => 0,
        }
    }

    /// Whether writing `len` more bytes keeps the upload in memory: such a
    /// write touches no file and may be done on any thread.
    pub fn stays_in_memory(&self, len: usize) -> bool {
        matches!(&self.staged, Staged::Memory(bytes) if bytes.len() + len <= INLINE_MAX)
    }

    /// Asks to be told, as the upload becomes durable piece by piece, how
    /// to resume it from there (see [`Progress`]).
    pub fn track(&mut self, progress: Progress) {
        match &mut self.staged {
            Staged::Backend(staging) => staging.track(progress),
            _ => self.progress = Some(progress),
        }
    }

    /// Keeps the bytes written so far (those the backend made durable), to
    /// be continued with [`Store::resume`]; returns the token to resume
    /// them by and how many bytes it keeps.
    pub fn suspend(mut self) -> Result<(String, u64), StoreError> {
        self.spill()?;
        match std::mem::replace(&mut self.staged, Staged::Done) {
            Staged::Backend(staging) => staging.suspend(),
            _ => unreachable!("spill leaves a staging"),
        }
    }

    /// Finishes the upload: content of at most [`INLINE_MAX`] bytes comes
    /// back inline, with nothing written, for the caller to make durable;
    /// anything larger is committed as a blob.
    pub fn finish(mut self) -> Result<Finished, StoreError> {
        if let Staged::Memory(bytes) = &mut self.staged {
            let inline = std::mem::take(bytes);
            self.staged = Staged::Done;
            let hash = ContentHash::from_bytes(Sha256::digest(&inline).into());
            return Ok(Finished {
                committed: Committed {
                    hash,
                    size: inline.len() as u64,
                },
                inline: Some(inline),
            });
        }
        Ok(Finished {
            committed: self.commit()?,
            inline: None,
        })
    }

    /// Makes the staged bytes a durable blob, or fails with nothing visible.
    pub fn commit(mut self) -> Result<Committed, StoreError> {
        self.spill()?;
        let Staged::Backend(staging) = std::mem::replace(&mut self.staged, Staged::Done) else {
            unreachable!("spill leaves a staging");
        };
        let size = staging.size();
        let hash = staging.commit()?;
        Ok(Committed { hash, size })
    }

    /// Moves bytes kept in memory to the backend.
    fn spill(&mut self) -> Result<(), StoreError> {
        match &mut self.staged {
            Staged::Memory(bytes) => {
                let mut staging = self.store.backend.stage()?;
                if let Some(progress) = self.progress.take() {
                    staging.track(progress);
                }
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = staging
                        .write(rest)
                        .map_err(StoreError::io("writing a staging file"))?;
                    rest = &rest[n..];
                }
                self.staged = Staged::Backend(staging);
                Ok(())
            }
            Staged::Backend(_) => Ok(()),
            Staged::Done => Err(StoreError::io("finishing an upload")(io::Error::other(
                "the upload is already finished",
            ))),
        }
    }

    /// `write_all` of the first `len` bytes of `buf`, handing the buffer
    /// itself on where the backend can use it (the hashing thread takes it
    /// instead of a copy); gives back a buffer for the next bytes, of any
    /// length and content.
    pub fn write_owned(&mut self, buf: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
        self.check_limit(len)?;
        if let Staged::Backend(staging) = &mut self.staged {
            return staging.write_owned(buf, len);
        }
        self.write_all(&buf[..len])?;
        Ok(buf)
    }

    fn check_limit(&self, len: usize) -> io::Result<()> {
        match self.limit {
            Some(limit) if self.size() + len as u64 > limit => Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("the upload is larger than the limit of {limit} bytes"),
            )),
            _ => Ok(()),
        }
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check_limit(buf.len())?;
        if let Staged::Memory(bytes) = &mut self.staged {
            if bytes.len() + buf.len() <= INLINE_MAX {
                bytes.extend_from_slice(buf);
                return Ok(buf.len());
            }
            self.spill().map_err(io::Error::other)?;
        }
        match &mut self.staged {
            Staged::Backend(staging) => staging.write(buf),
            _ => Err(io::Error::other("the upload is already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Committed content opened for reading: a blob in a backend, or content
/// kept inline in the journal.
#[derive(Debug)]
pub struct Blob {
    content: Content,
    size: u64,
}

#[derive(Debug)]
enum Content {
    Object {
        object: Box<dyn ObjectRead>,
        at: u64,
    },
    Inline(io::Cursor<Vec<u8>>),
}

impl Blob {
    /// Content that was kept inline (see [`Upload::finish`]).
    pub fn inline(bytes: Vec<u8>) -> Blob {
        Blob {
            size: bytes.len() as u64,
            content: Content::Inline(io::Cursor::new(bytes)),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The local file holding the content, for `sendfile`; `None` for
    /// inline content and remote backends.
    pub fn file(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        match &self.content {
            Content::Object { object, .. } => object.file(),
            Content::Inline(_) => None,
        }
    }

    /// Reads up to `buf.len()` bytes at `offset` without moving a cursor.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match &self.content {
            Content::Object { object, .. } => object.read_at(buf, offset),
            Content::Inline(cursor) => {
                let bytes = cursor.get_ref();
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let n = buf.len().min(bytes.len() - start);
                buf[..n].copy_from_slice(&bytes[start..start + n]);
                Ok(n)
            }
        }
    }
}

impl Read for Blob {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.content {
            Content::Object { object, at } => {
                let n = object.read_at(buf, *at)?;
                *at += n as u64;
                Ok(n)
            }
            Content::Inline(cursor) => cursor.read(buf),
        }
    }
}

impl Seek for Blob {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match &mut self.content {
            Content::Object { at, .. } => {
                let next = match pos {
                    SeekFrom::Start(n) => Some(n),
                    SeekFrom::End(d) => self.size.checked_add_signed(d),
                    SeekFrom::Current(d) => at.checked_add_signed(d),
                };
                let next = next.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek before the start")
                })?;
                *at = next;
                Ok(next)
            }
            Content::Inline(cursor) => cursor.seek(pos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_entries(root: &Path, sub: &str) -> Result<std::fs::ReadDir, io::Error> {
        std::fs::read_dir(root.join(sub))
    }

    #[test]
    fn commit_hashes_and_dedupes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut up = store.create(None).unwrap();
        up.write_all(b"hello\n").unwrap();
        let committed = up.commit().unwrap();
        assert_eq!(
            committed.hash.to_string(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        let again = store.put_bytes(b"hello\n").unwrap();
        assert_eq!(again, committed);
        let mut blob = store.read(&committed.hash).unwrap();
        let mut text = String::new();
        blob.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello\n");
        assert_eq!(local_entries(tmp.path(), "staging").unwrap().count(), 0);
    }

    #[test]
    fn dropped_upload_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut up = store.create(None).unwrap();
        up.write_all(&[7; 10_000]).unwrap();
        drop(up);
        assert_eq!(store.clean_staging(&[]).unwrap(), 0);
        assert_eq!(local_entries(tmp.path(), "staging").unwrap().count(), 0);
        assert_eq!(local_entries(tmp.path(), "objects").unwrap().count(), 0);
    }

    #[test]
    fn a_suspended_upload_resumes_with_the_same_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut up = store.create(None).unwrap();
        up.write_all(b"hello ").unwrap();
        let (name, _) = up.suspend().unwrap();
        assert_eq!(store.clean_staging(std::slice::from_ref(&name)).unwrap(), 0);
        let mut up = store.resume(&name, 6, None).unwrap();
        assert_eq!(up.size(), 6);
        up.write_all(b"world\n").unwrap();
        let whole = up.commit().unwrap();
        assert_eq!(whole, store.put_bytes(b"hello world\n").unwrap());
        assert!(store.resume("../../etc", 0, None).is_err());
    }

    #[test]
    fn small_content_stays_in_memory_and_larger_content_spills() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut up = store.create(None).unwrap();
        up.write_all(&[1; INLINE_MAX]).unwrap();
        assert_eq!(local_entries(tmp.path(), "staging").unwrap().count(), 0);
        let small = up.finish().unwrap();
        assert_eq!(small.inline.as_deref(), Some(&[1; INLINE_MAX][..]));
        assert!(matches!(
            store.read(&small.committed.hash),
            Err(StoreError::NotFound(_))
        ));

        let mut up = store.create(None).unwrap();
        up.write_all(&[1; INLINE_MAX]).unwrap();
        up.write_all(&[2]).unwrap();
        assert_eq!(local_entries(tmp.path(), "staging").unwrap().count(), 1);
        let large = up.finish().unwrap();
        assert!(large.inline.is_none());
        let blob = store.read(&large.committed.hash).unwrap();
        assert_eq!(blob.size(), INLINE_MAX as u64 + 1);
        let mut last = [0; 4];
        assert_eq!(blob.read_at(&mut last, INLINE_MAX as u64 - 1).unwrap(), 2);
        assert_eq!(last[..2], [1, 2]);
    }

    #[test]
    fn inline_blobs_read_like_files() {
        let mut blob = Blob::inline(b"hello world".to_vec());
        let mut buf = [0; 5];
        assert_eq!(blob.read_at(&mut buf, 6).unwrap(), 5);
        assert_eq!(&buf, b"world");
        assert_eq!(blob.read_at(&mut buf, 11).unwrap(), 0);
        assert_eq!(blob.read_at(&mut buf, 99).unwrap(), 0);
        blob.seek(SeekFrom::Start(6)).unwrap();
        let mut rest = String::new();
        blob.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "world");
    }

    #[test]
    fn limit_is_enforced_while_writing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut up = store.create(Some(10)).unwrap();
        up.write_all(&[1; 10]).unwrap();
        let err = up.write_all(&[1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
