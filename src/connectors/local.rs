//! A directory on this host standing in for a partner's server: for
//! partners on the same machine, and for tests. cap-std keeps every path
//! inside the directory, symbolic links included.

use std::io::{self, Read, Seek, SeekFrom, Write};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use sha2::{Digest, Sha256};

use super::{ConnectorError, Remote, RemoteFile, Result, copy};
use crate::config::Connector;

pub struct LocalDir {
    dir: Dir,
    target: String,
}

impl LocalDir {
    pub fn open(connector: &Connector) -> Result<LocalDir> {
        let target = connector.describe();
        let path = connector.path.clone().unwrap_or_default();
        let dir = Dir::open_ambient_dir(&path, ambient_authority()).map_err(|source| {
            ConnectorError::Connect {
                target: target.clone(),
                source,
            }
        })?;
        Ok(LocalDir { dir, target })
    }

    fn io(&self, doing: &str, path: &str) -> impl FnOnce(io::Error) -> ConnectorError {
        let target = self.target.clone();
        let doing = format!("{doing} {path}");
        move |source| ConnectorError::Io {
            target,
            doing,
            source,
        }
    }
}

/// Remote paths are `/`-rooted; inside the directory they are relative.
fn relative(path: &str) -> &str {
    let trimmed = path.trim_start_matches('/');
    if trimmed.is_empty() { "." } else { trimmed }
}

impl Remote for LocalDir {
    fn target(&self) -> &str {
        &self.target
    }

    fn list(&mut self, dir: &str) -> Result<Vec<RemoteFile>> {
        let mut files = Vec::new();
        for entry in self
            .dir
            .read_dir(relative(dir))
            .map_err(self.io("listing", dir))?
        {
            let entry = entry.map_err(self.io("listing", dir))?;
            let meta = entry.metadata().map_err(self.io("listing", dir))?;
            if !meta.is_file() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64);
            files.push(RemoteFile {
                name,
                size: meta.len(),
                modified,
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    fn size(&mut self, path: &str) -> Result<Option<u64>> {
        match self.dir.metadata(relative(path)) {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io("looking up", path)(e)),
        }
    }

    fn get(&mut self, path: &str, offset: u64, sink: &mut dyn Write) -> Result<u64> {
        let mut file = self
            .dir
            .open(relative(path))
            .map_err(self.io("opening", path))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(self.io("reading", path))?;
        copy(&mut file, sink).map_err(self.io("reading", path))
    }

    fn put(
        &mut self,
        path: &str,
        offset: u64,
        source: &mut dyn Read,
        _confirmed: &mut Option<u64>,
    ) -> Result<u64> {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(offset == 0);
        let mut file = self
            .dir
            .open_with(relative(path), &options)
            .map_err(self.io("creating", path))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(self.io("writing", path))?;
        let written = copy(source, &mut file).map_err(self.io("writing", path))?;
        file.sync_all().map_err(self.io("syncing", path))?;
        Ok(written)
    }

    fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.dir
            .rename(relative(from), &self.dir, relative(to))
            .map_err(self.io("renaming", from))
    }

    fn delete(&mut self, path: &str) -> Result<()> {
        self.dir
            .remove_file(relative(path))
            .map_err(self.io("deleting", path))
    }

    fn sha256(&mut self, path: &str) -> Result<Option<String>> {
        let mut file = self
            .dir
            .open(relative(path))
            .map_err(self.io("opening", path))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0; super::CHUNK];
        loop {
            let n = file.read(&mut buf).map_err(self.io("reading", path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(Some(hex::encode(hasher.finalize())))
    }
}
