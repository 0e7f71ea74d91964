//! The entries of an uploaded zip archive, each one a file of its own,
//! within limits that stop a zip bomb before it fills the disk.
//!
//! The limits are checked on the archive's own claims (its directory: the
//! entry count, each entry's sizes) before a byte is expanded, and then on
//! the bytes actually expanded: an entry that expands past what its header
//! says is refused (the zip crate checks this and the CRC as it reads), and
//! the total is counted as it grows, across nested archives.

use std::collections::HashSet;

use super::{Bounded, Output, TransformError, Watched};
use crate::store::{Blob, Store};

/// Limits on what one uploaded archive may expand to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnzipLimits {
    /// Bytes of all entries together, nested archives included.
    pub max_total: u64,
    /// How many times larger than its compressed bytes an entry of more
    /// than [`RATIO_FLOOR`] bytes may be.
    pub max_ratio: u64,
    /// Entries of all archives together.
    pub max_entries: usize,
    /// Archive levels opened: 1 opens the upload only, 2 also an archive
    /// inside it, and so on; a deeper archive refuses the upload.
    pub max_depth: u32,
}

impl Default for UnzipLimits {
    fn default() -> UnzipLimits {
        UnzipLimits {
            max_total: 1 << 30,
            max_ratio: 100,
            max_entries: 10_000,
            max_depth: 2,
        }
    }
}

/// Entries smaller than this are not held to the ratio: a small file of
/// repeated bytes compresses a thousandfold and hurts no one.
pub const RATIO_FLOOR: u64 = 1 << 20;

/// What expanding has used so far, across nesting.
struct Budget {
    limits: UnzipLimits,
    total: u64,
    entries: usize,
    /// The size limit of one file, `max_file_size`.
    file_limit: Option<u64>,
    /// The uploaded archive's own size: all entries together may expand
    /// to `max_ratio` times it, whatever the entries' headers claim.
    archive: u64,
    /// The output names so far, and the folders they imply: two entries
    /// may not end up as one file (`inner.zip`'s `a.txt` and an entry
    /// `inner/a.txt`, names that decode alike), nor a file and a folder.
    files: HashSet<String>,
    folders: HashSet<String>,
}

impl Budget {
    /// Takes `name` for an output, or says why it cannot be.
    fn claim(&mut self, name: &str) -> Result<(), String> {
        if self.files.contains(name) || self.folders.contains(name) {
            return Err(format!("two entries of the archive would both be `{name}`"));
        }
        let mut at = 0;
        while let Some(slash) = name[at..].find('/') {
            let folder = &name[..at + slash];
            if self.files.contains(folder) {
                return Err(format!("`{folder}` would be both a file and a folder"));
            }
            self.folders.insert(folder.to_owned());
            at += slash + 1;
        }
        self.files.insert(name.to_owned());
        Ok(())
    }
}

/// Expands `archive` into its files, in the archive's order, each committed
/// to `store`. Folders are implied by the entries' paths. Nested archives
/// (entries named `*.zip`) are expanded into a folder named after them
/// (`inner.zip` into `inner/`), up to `max_depth` levels.
pub fn unzip(
    archive: Blob,
    limits: &UnzipLimits,
    store: &Store,
    file_limit: Option<u64>,
) -> Result<Vec<Output>, TransformError> {
    let mut budget = Budget {
        limits: *limits,
        total: 0,
        entries: 0,
        file_limit,
        archive: archive.size(),
        files: HashSet::new(),
        folders: HashSet::new(),
    };
    let mut outputs = Vec::new();
    expand(archive, "", 1, &mut budget, store, &mut outputs)?;
    if outputs.is_empty() {
        return Err(TransformError::refused("the archive has no files"));
    }
    Ok(outputs)
}

fn expand(
    archive: Blob,
    prefix: &str,
    depth: u32,
    budget: &mut Budget,
    store: &Store,
    outputs: &mut Vec<Output>,
) -> Result<(), TransformError> {
    let limits = budget.limits;
    let at = if prefix.is_empty() {
        String::new()
    } else {
        format!(" (in {})", prefix.trim_end_matches('/'))
    };
    let (archive, failed) = Watched::new(archive);
    let opened = zip::ZipArchive::new(archive);
    super::check_read(&failed)?;
    let mut zip =
        opened.map_err(|e| TransformError::refused(format!("not a zip archive{at}: {e}")))?;
    if budget.entries + zip.len() > limits.max_entries {
        return Err(TransformError::refused(format!(
            "the archive has more than {} entries{at}",
            limits.max_entries
        )));
    }
    budget.entries += zip.len();
    if zip.has_duplicate_names() {
        return Err(TransformError::refused(format!(
            "the archive has two entries of the same name{at}"
        )));
    }
    for index in 0..zip.len() {
        let entry = zip.by_index(index);
        super::check_read(&failed)?;
        let mut entry =
            entry.map_err(|e| TransformError::refused(format!("entry {index}{at}: {e}")))?;
        let raw_name = entry
            .name()
            .map_err(|e| TransformError::refused(format!("entry {index}{at}: {e}")))?
            .into_owned();
        if entry.is_dir() {
            continue;
        }
        let shown = format!("`{raw_name}`{at}");
        if entry.is_symlink() {
            return Err(TransformError::refused(format!(
                "entry {shown} is a symbolic link"
            )));
        }
        if entry.encrypted() {
            return Err(TransformError::refused(format!(
                "entry {shown} is encrypted with a password"
            )));
        }
        // The name must be a plain relative path as ferry's mailboxes take
        // them: no `..`, no leading `/`, no backslashes or control
        // characters. It is not rewritten into something safe: an archive
        // naming such a path is refused as a whole.
        if crate::names::check_relative_path(&raw_name).is_err()
            || entry.enclosed_name().is_none()
            || raw_name.contains('\\')
        {
            return Err(TransformError::refused(format!(
                "entry {shown} is not a safe relative path"
            )));
        }
        let (size, packed) = (entry.size(), entry.compressed_size());
        if size > RATIO_FLOOR && size / packed.max(1) > limits.max_ratio {
            return Err(TransformError::refused(format!(
                "entry {shown} expands {} times (from {packed} to {size} bytes), more than the limit of {}",
                size / packed.max(1),
                limits.max_ratio
            )));
        }
        if budget.total.saturating_add(size) > limits.max_total {
            return Err(TransformError::refused(format!(
                "the archive expands to more than {} bytes (at entry {shown})",
                limits.max_total
            )));
        }
        if budget.file_limit.is_some_and(|limit| size > limit) {
            return Err(TransformError::refused(format!(
                "entry {shown} is larger than the limit of {} bytes per file",
                budget.file_limit.unwrap_or_default()
            )));
        }
        // The header's size is a claim: a little more than it is read, so
        // that an entry longer than it claims is caught here too (the zip
        // crate reports it as an error first).
        let mut out = Bounded::new(store, Some(size))?;
        let copied = super::copy(
            &mut std::io::Read::take(&mut entry, size.saturating_add(1)),
            &mut out,
            &format!("entry {shown}"),
        );
        super::check_read(&failed)?;
        let read = copied?;
        if read != size {
            return Err(TransformError::refused(format!(
                "entry {shown} is {read} bytes, not the {size} its header says"
            )));
        }
        budget.total += read;
        // The entries' compressed sizes are the archive's claims; its own
        // size is not: all it holds may expand `max_ratio` times it.
        if budget.total > RATIO_FLOOR && budget.total / budget.archive.max(1) > limits.max_ratio {
            return Err(TransformError::refused(format!(
                "the archive expands more than {} times its {} bytes (at entry {shown})",
                limits.max_ratio, budget.archive
            )));
        }
        let committed = out.commit()?;
        let name = format!("{prefix}{raw_name}");
        drop(entry);
        // An archive inside is opened by its name, as the upload is: an
        // Office document or a jar starts like a zip and is a file.
        if !raw_name.to_ascii_lowercase().ends_with(".zip") {
            budget.claim(&name).map_err(TransformError::Refused)?;
            outputs.push(Output { name, committed });
            continue;
        }
        if depth >= limits.max_depth {
            return Err(TransformError::refused(format!(
                "entry {shown} is an archive nested deeper than {} levels",
                limits.max_depth
            )));
        }
        let folder = name.strip_suffix(".zip").unwrap_or(&name);
        let inner = store.read(&committed.hash)?;
        expand(
            inner,
            &format!("{folder}/"),
            depth + 1,
            budget,
            store,
            outputs,
        )?;
    }
    Ok(())
}
