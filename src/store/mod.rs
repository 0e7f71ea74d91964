//! The content store of one tenant: staged writes, committed blobs.
//!
//! Layout under the tenant root (a `cap_std::fs::Dir`, so no input can reach
//! a path outside it):
//!
//! ```text
//! staging/<random>        writes in progress; never listed, removed on failure
//! objects/<aa>/<rest>     committed content, named by its SHA-256
//! ```
//!
//! A blob exists under `objects/` only after its bytes were hashed while
//! streaming, `sync_data`'d, renamed into place and its directory synced.
//!
//! Small content (at most [`INLINE_MAX`] bytes) never touches the disk here:
//! an upload keeps it in memory until it grows past that, and
//! [`Upload::finish`] hands it back with its hash, for the caller to keep in
//! the journal in the same transaction that records the file. One
//! transaction (one `fsync` of the journal) then makes a small file durable,
//! where a blob costs three (the file, its directory, the journal); that is
//! what lets many small uploads go as fast as a server that syncs nothing.
//! Nothing here knows partners or mailboxes: names never reach the file
//! system, only hashes do, and directories below the root are opened without
//! following symbolic links, so a link planted inside the root is refused.

mod digest;
mod hasher;
mod sweep;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, File, OpenOptions};
use sha2::{Digest as _, Sha256};

pub use digest::{ContentHash, ParseHashError};

use crate::fault;
use hasher::Hasher;

const STAGING: &str = "staging";
/// How much an upload writes before its write-back to disk is started.
const WRITE_BACK: u64 = 8 << 20;
const OBJECTS: &str = "objects";
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
}

impl StoreError {
    fn io(doing: &'static str) -> impl FnOnce(io::Error) -> StoreError {
        move |source| StoreError::Io { doing, source }
    }
}

/// One tenant's store. Cheap to clone; every clone shares the same handles.
#[derive(Clone, Debug)]
pub struct Store {
    staging: Arc<Dir>,
    objects: Arc<Dir>,
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
    /// Opens (creating if needed) the store rooted at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: root.to_owned(),
            source,
        };
        std::fs::create_dir_all(root).map_err(open_err)?;
        let dir = Dir::open_ambient_dir(root, ambient_authority()).map_err(open_err)?;
        let mut made = false;
        for sub in [STAGING, OBJECTS] {
            match dir.create_dir(sub) {
                Ok(()) => made = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(open_err(e)),
            }
        }
        if made {
            sync_dir(&dir).map_err(open_err)?;
        }
        let staging = dir.open_dir_nofollow(STAGING).map_err(open_err)?;
        let objects = dir.open_dir_nofollow(OBJECTS).map_err(open_err)?;
        Ok(Store {
            staging: Arc::new(staging),
            objects: Arc::new(objects),
        })
    }

    /// Starts a write. It stays in memory until it is larger than
    /// [`INLINE_MAX`]; the bytes become a blob only through [`Upload::commit`]
    /// or [`Upload::finish`].
    pub fn create(&self, limit: Option<u64>) -> Result<Upload, StoreError> {
        Ok(Upload {
            store: self.clone(),
            staged: Staged::Memory(Vec::new()),
            name: String::new(),
            hasher: Hasher::new(),
            size: 0,
            limit,
            written_back: 0,
        })
    }

    /// Creates a staging file, locked by this process; returns it and its name.
    fn stage(&self) -> Result<(std::fs::File, String), StoreError> {
        let name = format!("{:032x}", rand::random::<u128>());
        let file = self
            .staging
            .open_with(
                &name,
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .follow(FollowSymlinks::No),
            )
            .map_err(StoreError::io("creating a staging file"))?
            .into_std();
        // The lock tells `clean_staging` in another process that this file
        // is being written, not left over from a crash.
        file.try_lock()
            .map_err(|e| StoreError::io("locking a staging file")(e.into()))?;
        Ok((file, name))
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
        let (dir, file) = hash.object_path();
        let sub = match self.objects.open_dir_nofollow(&dir) {
            Ok(sub) => sub,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(*hash));
            }
            Err(e) => return Err(StoreError::io("opening an object directory")(e)),
        };
        let file = sub
            .open_with(
                &file,
                OpenOptions::new().read(true).follow(FollowSymlinks::No),
            )
            .map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StoreError::NotFound(*hash),
                _ => StoreError::io("opening a blob")(e),
            })?;
        let size = file
            .metadata()
            .map_err(StoreError::io("reading blob metadata"))?
            .len();
        Ok(Blob {
            content: Content::File(file),
            size,
        })
    }

    /// Whether a blob with this hash is committed.
    pub fn contains(&self, hash: &ContentHash) -> bool {
        self.read(hash).is_ok()
    }

    /// Reopens a suspended upload to continue it: its bytes are hashed
    /// again from the start, so the hash stays the hash of the whole file.
    pub fn resume(
        &self,
        suspended: &str,
        size: u64,
        limit: Option<u64>,
    ) -> Result<Upload, StoreError> {
        if suspended.is_empty() || !suspended.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::NotResumable(suspended.to_owned()));
        }
        let mut file = self
            .staging
            .open_with(
                suspended,
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .follow(FollowSymlinks::No),
            )
            .map_err(|_| StoreError::NotResumable(suspended.to_owned()))?
            .into_std();
        file.try_lock()
            .map_err(|_| StoreError::NotResumable(suspended.to_owned()))?;
        // Only the bytes that were synced when it was suspended count.
        file.set_len(size)
            .map_err(StoreError::io("trimming a suspended upload"))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(StoreError::io("rehashing a suspended upload"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(Upload {
            store: self.clone(),
            staged: Staged::File(file),
            name: suspended.to_owned(),
            hasher: Hasher::resumed(hasher, size),
            size,
            limit,
            written_back: size,
        })
    }

    /// Removes a suspended upload that will not be resumed.
    pub fn discard(&self, suspended: &str) {
        if !suspended.is_empty() && suspended.bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = self.staging.remove_file(suspended);
        }
    }

    /// Removes staging files left by a crash, except the suspended uploads
    /// named in `keep`. Call before accepting uploads.
    pub fn clean_staging(&self, keep: &[String]) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in self
            .staging
            .entries()
            .map_err(StoreError::io("listing staging"))?
        {
            let entry = entry.map_err(StoreError::io("listing staging"))?;
            let name = entry.file_name();
            if keep.iter().any(|k| name.to_str() == Some(k.as_str())) {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let file = self
                    .staging
                    .open_with(
                        &name,
                        OpenOptions::new().read(true).follow(FollowSymlinks::No),
                    )
                    .map_err(StoreError::io("opening a staging file"))?
                    .into_std();
                if matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)) {
                    // Another process is writing it right now.
                    continue;
                }
            }
            self.staging
                .remove_file_or_symlink(&name)
                .map_err(StoreError::io("removing a staging file"))?;
            removed += 1;
        }
        Ok(removed)
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
    /// The staging file's name, once there is one.
    name: String,
    hasher: Hasher,
    size: u64,
    limit: Option<u64>,
    /// Bytes before this offset have had their write-back started.
    written_back: u64,
}

/// Where an upload's bytes are.
#[derive(Debug)]
enum Staged {
    Memory(Vec<u8>),
    File(std::fs::File),
    Done,
}

impl Upload {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Keeps the bytes written so far, synced, to be continued with
    /// [`Store::resume`]; returns the name to resume them by.
    pub fn suspend(mut self) -> Result<String, StoreError> {
        self.spill()?;
        let Staged::File(file) = std::mem::replace(&mut self.staged, Staged::Done) else {
            unreachable!("spill leaves a file");
        };
        file.sync_data()
            .map_err(StoreError::io("syncing a suspended upload"))?;
        Ok(std::mem::take(&mut self.name))
    }

    /// Finishes the upload: content of at most [`INLINE_MAX`] bytes comes
    /// back inline, with nothing written, for the caller to make durable;
    /// anything larger is committed as a blob.
    pub fn finish(mut self) -> Result<Finished, StoreError> {
        if let Staged::Memory(bytes) = &mut self.staged {
            let inline = std::mem::take(bytes);
            self.staged = Staged::Done;
            let hash = ContentHash::from_bytes(self.digest()?);
            return Ok(Finished {
                committed: Committed {
                    hash,
                    size: self.size,
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
        let Staged::File(file) = std::mem::replace(&mut self.staged, Staged::Done) else {
            unreachable!("spill leaves a file");
        };
        fault::check("store.sync").map_err(StoreError::io("syncing a staged file"))?;
        // A fresh modification time marks the bytes as in use until the
        // journal names them: the sweep leaves younger blobs alone. The
        // last write may be old (a resumed upload with nothing left to send).
        file.set_modified(SystemTime::now())
            .map_err(StoreError::io("marking a staged file"))?;
        file.sync_data()
            .map_err(StoreError::io("syncing a staged file"))?;
        drop(file);
        crate::crashpoint("store.synced");

        let hash = ContentHash::from_bytes(self.digest()?);
        let (dir, name) = hash.object_path();
        let sub = self.object_dir(&dir)?;
        let exists = match sub.symlink_metadata(&name) {
            Ok(_) => sweep::mark(&sub, &name)
                .map_err(StoreError::io("marking an existing blob as in use"))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(StoreError::io("checking for an existing blob")(e)),
        };
        match exists {
            // The same content is already committed: keep that one.
            true => self.remove_staged(),
            false => {
                self.store
                    .staging
                    .rename(&self.name, &sub, &name)
                    .map_err(StoreError::io("renaming a staged file into place"))?;
                crate::crashpoint("store.renamed");
                sync_dir(&sub).map_err(StoreError::io("syncing an object directory"))?;
            }
        }
        self.name.clear();
        Ok(Committed {
            hash,
            size: self.size,
        })
    }

    /// Opens `objects/<aa>`, creating and syncing it the first time.
    fn object_dir(&self, dir: &str) -> Result<Dir, StoreError> {
        let objects = &self.store.objects;
        match objects.create_dir(dir) {
            Ok(()) => sync_dir(objects).map_err(StoreError::io("syncing the objects directory"))?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io("creating an object directory")(e)),
        }
        objects
            .open_dir_nofollow(dir)
            .map_err(StoreError::io("opening an object directory"))
    }

    /// Moves bytes kept in memory to a staging file.
    fn spill(&mut self) -> Result<(), StoreError> {
        match &mut self.staged {
            Staged::Memory(bytes) => {
                let (mut file, name) = self.store.stage()?;
                self.name = name;
                file.write_all(bytes)
                    .map_err(StoreError::io("writing a staging file"))?;
                self.staged = Staged::File(file);
                Ok(())
            }
            Staged::File(_) => Ok(()),
            Staged::Done => Err(StoreError::io("finishing an upload")(io::Error::other(
                "the upload is already finished",
            ))),
        }
    }

    /// The SHA-256 of every byte written.
    fn digest(&mut self) -> Result<[u8; 32], StoreError> {
        self.hasher.finish().ok_or_else(|| {
            StoreError::io("hashing an upload")(io::Error::other("the hashing thread failed"))
        })
    }

    fn remove_staged(&mut self) {
        if !self.name.is_empty() {
            // Best effort: a leftover is removed by `clean_staging` at the next start.
            let _ = self.store.staging.remove_file(&self.name);
            self.name.clear();
        }
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(limit) = self.limit
            && self.size + buf.len() as u64 > limit
        {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("the upload is larger than the limit of {limit} bytes"),
            ));
        }
        if let Staged::Memory(bytes) = &mut self.staged {
            if bytes.len() + buf.len() <= INLINE_MAX {
                bytes.extend_from_slice(buf);
                self.hasher.update(buf);
                self.size += buf.len() as u64;
                return Ok(buf.len());
            }
            self.spill().map_err(io::Error::other)?;
        }
        let Staged::File(file) = &mut self.staged else {
            return Err(io::Error::other("the upload is already finished"));
        };
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        if self.size - self.written_back >= WRITE_BACK {
            // Start writing the last stretch to disk now, without waiting:
            // the sync at commit then has little left to do, instead of the
            // whole file.
            let _ = rustix::fs::fadvise(
                &*file,
                self.written_back,
                std::num::NonZeroU64::new(self.size - self.written_back),
                rustix::fs::Advice::DontNeed,
            );
            self.written_back = self.size;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        self.remove_staged();
    }
}

/// Committed content opened for reading: a blob file, or content kept
/// inline in the journal.
#[derive(Debug)]
pub struct Blob {
    content: Content,
    size: u64,
}

#[derive(Debug)]
enum Content {
    File(File),
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

    /// Reads up to `buf.len()` bytes at `offset` without moving a cursor.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use cap_std::fs::FileExt as _;
        match &self.content {
            Content::File(file) => file.read_at(buf, offset),
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
            Content::File(file) => file.read(buf),
            Content::Inline(cursor) => cursor.read(buf),
        }
    }
}

impl Seek for Blob {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match &mut self.content {
            Content::File(file) => file.seek(pos),
            Content::Inline(cursor) => cursor.seek(pos),
        }
    }
}

/// Makes a directory's entries durable. cap-std's own directory handles are
/// `O_PATH`, which `fsync` refuses, so open the directory itself for reading.
fn sync_dir(dir: &Dir) -> io::Result<()> {
    dir.open_with(".", OpenOptions::new().read(true).maybe_dir(true))?
        .sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(store.staging.entries().unwrap().count(), 0);
    }

    #[test]
    fn dropped_upload_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut up = store.create(None).unwrap();
        up.write_all(&[7; 10_000]).unwrap();
        drop(up);
        assert_eq!(store.clean_staging(&[]).unwrap(), 0);
        assert_eq!(store.staging.entries().unwrap().count(), 0);
        assert_eq!(store.objects.entries().unwrap().count(), 0);
    }

    #[test]
    fn a_suspended_upload_resumes_with_the_same_hash() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut up = store.create(None).unwrap();
        up.write_all(b"hello ").unwrap();
        let name = up.suspend().unwrap();
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
        assert_eq!(store.staging.entries().unwrap().count(), 0);
        let small = up.finish().unwrap();
        assert_eq!(small.inline.as_deref(), Some(&[1; INLINE_MAX][..]));
        assert!(matches!(
            store.read(&small.committed.hash),
            Err(StoreError::NotFound(_))
        ));

        let mut up = store.create(None).unwrap();
        up.write_all(&[1; INLINE_MAX]).unwrap();
        up.write_all(&[2]).unwrap();
        assert_eq!(store.staging.entries().unwrap().count(), 1);
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
