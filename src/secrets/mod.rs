//! Secrets on disk: the SSH host keys and the FTPS certificate, read,
//! made on first start, and read again when their files are replaced.
//!
//! The one module besides `store` and `journal` that touches the data
//! directory's files; the protocols receive keys and certificates from
//! here and never open a file themselves (checked by `tests/it/tidy.rs`).
//! With several nodes on a PostgreSQL journal, `shared.rs` makes them the
//! same on every node, sealed in the journal.

pub mod host_keys;
pub mod journal_key;
pub mod shared;
pub mod tls;

use std::path::{Path, PathBuf};

/// Why a secret cannot be read or made. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("{doing} {}", path.display())]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that is there but holds no usable key or certificate.
    #[error("{}: {why}", path.display())]
    Unusable { path: PathBuf, why: String },
    #[error("making {what}: {why}")]
    Make { what: &'static str, why: String },
}

/// What a set of files looked like: their sizes and modification times.
/// A secret is read again when its stamp changes.
pub type Stamp<const N: usize> = [(u64, Option<std::time::SystemTime>); N];

fn stamp<const N: usize>(paths: [&Path; N]) -> Stamp<N> {
    paths.map(|path| std::fs::metadata(path).map_or((0, None), |m| (m.len(), m.modified().ok())))
}
