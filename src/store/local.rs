//! The embedded content store: one directory per tenant on the local file
//! system.
//!
//! ```text
//! staging/<random>        writes in progress; never listed, removed on failure
//! objects/<aa>/<rest>     committed content, named by its SHA-256
//! ```
//!
//! A blob exists under `objects/` only after its bytes were hashed while
//! streaming, `sync_data`'d, renamed into place and its directory synced.
//! Directories below the root are opened without following symbolic links,
//! so a link planted inside the root is refused.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, File, OpenOptions};
use sha2::{Digest as _, Sha256};

use super::hasher::Hasher;
use super::{Backend, ContentHash, ObjectRead, Staging, StoreError, sweep};
use crate::fault;

const STAGING: &str = "staging";
const OBJECTS: &str = "objects";
/// How much an upload writes before its write-back to disk is started.
const WRITE_BACK: u64 = 8 << 20;

/// One tenant's directory.
#[derive(Clone, Debug)]
pub(super) struct Local {
    pub(super) staging: Arc<Dir>,
    pub(super) objects: Arc<Dir>,
}

impl Local {
    /// Opens (creating if needed) the store rooted at `root`.
    pub(super) fn open(root: &Path) -> Result<Local, StoreError> {
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
        Ok(Local {
            staging: Arc::new(staging),
            objects: Arc::new(objects),
        })
    }

    /// Creates a staging file, locked by this process; returns it and its name.
    fn create_staging_file(&self) -> Result<(std::fs::File, String), StoreError> {
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

    /// Opens `objects/<aa>`, creating and syncing it the first time.
    fn object_dir(&self, dir: &str) -> Result<Dir, StoreError> {
        match self.objects.create_dir(dir) {
            Ok(()) => {
                sync_dir(&self.objects).map_err(StoreError::io("syncing the objects directory"))?
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io("creating an object directory")(e)),
        }
        self.objects
            .open_dir_nofollow(dir)
            .map_err(StoreError::io("opening an object directory"))
    }
}

impl Backend for Local {
    fn stage(&self) -> Result<Box<dyn Staging>, StoreError> {
        let (file, name) = self.create_staging_file()?;
        Ok(Box::new(LocalStaging {
            local: self.clone(),
            file: Some(file),
            name,
            hasher: Hasher::new(),
            size: 0,
            written_back: 0,
        }))
    }

    fn resume(&self, suspended: &str, size: u64) -> Result<Box<dyn Staging>, StoreError> {
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
        Ok(Box::new(LocalStaging {
            local: self.clone(),
            file: Some(file),
            name: suspended.to_owned(),
            hasher: Hasher::resumed(hasher, size),
            size,
            written_back: size,
        }))
    }

    fn open(&self, hash: &ContentHash) -> Result<(Box<dyn ObjectRead>, u64), StoreError> {
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
        Ok((Box::new(LocalObject(file)), size))
    }

    fn discard(&self, suspended: &str) {
        if !suspended.is_empty() && suspended.bytes().all(|b| b.is_ascii_hexdigit()) {
            let _ = self.staging.remove_file(suspended);
        }
    }

    fn clean_staging(&self, keep: &[String]) -> Result<usize, StoreError> {
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

    fn sweep(&self, in_use: &HashSet<ContentHash>, grace: Duration) -> Result<usize, StoreError> {
        sweep::sweep(self, in_use, grace)
    }
}

/// A large upload being written to a staging file.
#[derive(Debug)]
struct LocalStaging {
    local: Local,
    /// `None` once committed or suspended.
    file: Option<std::fs::File>,
    /// The staging file's name, until it is renamed or handed on.
    name: String,
    hasher: Hasher,
    size: u64,
    /// Bytes before this offset have had their write-back started.
    written_back: u64,
}

impl LocalStaging {
    /// Counts `n` more bytes written to the file.
    fn wrote(&mut self, n: usize) {
        self.size += n as u64;
        if self.size - self.written_back >= WRITE_BACK
            && let Some(file) = &self.file
        {
            // Start writing the last stretch to disk now, without waiting:
            // the sync at commit then has little left to do, instead of the
            // whole file.
            let _ = rustix::fs::fadvise(
                file,
                self.written_back,
                std::num::NonZeroU64::new(self.size - self.written_back),
                rustix::fs::Advice::DontNeed,
            );
            self.written_back = self.size;
        }
    }
}

impl Staging for LocalStaging {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = &mut self.file else {
            return Err(io::Error::other("the upload is already finished"));
        };
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.wrote(n);
        Ok(n)
    }

    fn write_owned(&mut self, buf: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
        let Some(file) = &mut self.file else {
            return Err(io::Error::other("the upload is already finished"));
        };
        file.write_all(&buf[..len])?;
        self.wrote(len);
        Ok(self.hasher.update_owned(buf, len))
    }

    fn suspend(mut self: Box<Self>) -> Result<(String, u64), StoreError> {
        let file = self.file.take().ok_or_else(finished)?;
        file.sync_data()
            .map_err(StoreError::io("syncing a suspended upload"))?;
        Ok((std::mem::take(&mut self.name), self.size))
    }

    fn commit(mut self: Box<Self>) -> Result<ContentHash, StoreError> {
        let file = self.file.take().ok_or_else(finished)?;
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

        let hash = ContentHash::from_bytes(self.hasher.finish().ok_or_else(|| {
            StoreError::io("hashing an upload")(io::Error::other("the hashing thread failed"))
        })?);
        let (dir, name) = hash.object_path();
        let sub = self.local.object_dir(&dir)?;
        let exists = match sub.symlink_metadata(&name) {
            Ok(_) => sweep::mark(&sub, &name)
                .map_err(StoreError::io("marking an existing blob as in use"))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(StoreError::io("checking for an existing blob")(e)),
        };
        match exists {
            // The same content is already committed: keep that one (the
            // staged copy goes when `self` drops).
            true => {}
            false => {
                self.local
                    .staging
                    .rename(&self.name, &sub, &name)
                    .map_err(StoreError::io("renaming a staged file into place"))?;
                self.name.clear();
                crate::crashpoint("store.renamed");
                sync_dir(&sub).map_err(StoreError::io("syncing an object directory"))?;
            }
        }
        Ok(hash)
    }

    fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for LocalStaging {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            // Best effort: a leftover is removed by `clean_staging` at the next start.
            let _ = self.local.staging.remove_file(&self.name);
        }
    }
}

fn finished() -> StoreError {
    StoreError::io("finishing an upload")(io::Error::other("the upload is already finished"))
}

/// A committed blob on disk.
#[derive(Debug)]
struct LocalObject(File);

impl ObjectRead for LocalObject {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        use cap_std::fs::FileExt as _;
        self.0.read_at(buf, offset)
    }

    fn file(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd as _;
        Some(self.0.as_fd())
    }
}

/// Makes a directory's entries durable. cap-std's own directory handles are
/// `O_PATH`, which `fsync` refuses, so open the directory itself for reading.
fn sync_dir(dir: &Dir) -> io::Result<()> {
    dir.open_with(".", OpenOptions::new().read(true).maybe_dir(true))?
        .sync_all()
}
