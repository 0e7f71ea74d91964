//! Retention's half in the store: removing blobs nothing uses (mark and
//! sweep).
//!
//! The journal knows which blobs its entries name (the mark); this module
//! removes the others (the sweep). Between an upload's commit here and its
//! record in the journal, its blob is named by nothing, so the sweep spares
//! every blob written or reused within a grace period: [`Upload::commit`]
//! sets a blob's modification time whenever it hands it out, new or
//! deduplicated. A sweep and a commit of the same content can still cross:
//! the sweep moves a blob aside before it deletes it and puts it back if a
//! commit marked it meanwhile, and a commit checks after its mark that the
//! blob is still in place, else it puts its own copy there.
//!
//! [`Upload::commit`]: super::Upload::commit

use std::collections::HashSet;
use std::io;
use std::time::{Duration, SystemTime};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions};

use super::local::Local;
use super::{ContentHash, StoreError};

/// Marks the blob `name` in `dir` as in use now. Returns whether it is still
/// in place after the mark (a sweep may have taken it meanwhile).
pub(super) fn mark(dir: &Dir, name: &str) -> io::Result<bool> {
    let file = match dir.open_with(
        name,
        OpenOptions::new().read(true).follow(FollowSymlinks::No),
    ) {
        Ok(file) => file.into_std(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    file.set_modified(SystemTime::now())?;
    match dir.symlink_metadata(name) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether a blob last marked at `modified` is within `grace` of now (or
/// in the future: a clock set back must not make blobs look old).
fn fresh(modified: SystemTime, grace: Duration) -> bool {
    SystemTime::now()
        .duration_since(modified)
        .ok()
        .is_none_or(|age| age < grace)
}

fn modified(dir: &Dir, name: &str) -> io::Result<SystemTime> {
    Ok(dir.symlink_metadata(name)?.modified()?.into_std())
}

/// Removes every blob that `in_use` does not name and that no commit
/// marked within `grace`; returns how many. `in_use` must be read from
/// the journal before the sweep starts.
pub(super) fn sweep(
    local: &Local,
    in_use: &HashSet<ContentHash>,
    grace: Duration,
) -> Result<usize, StoreError> {
    let listing = StoreError::io("listing the objects");
    let mut removed = 0;
    for entry in local.objects.entries().map_err(listing)? {
        let entry = entry.map_err(StoreError::io("listing the objects"))?;
        let Some(prefix) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if prefix.len() != 2 || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let sub = local
            .objects
            .open_dir_nofollow(&prefix)
            .map_err(StoreError::io("opening an object directory"))?;
        for blob in sub
            .entries()
            .map_err(StoreError::io("listing the objects"))?
        {
            let blob = blob.map_err(StoreError::io("listing the objects"))?;
            let Some(name) = blob.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(hash) = format!("{prefix}{name}").parse::<ContentHash>() else {
                continue;
            };
            if in_use.contains(&hash) {
                continue;
            }
            if sweep_one(local, &sub, &name, grace)? {
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Removes one unused blob unless it is fresh; see the module's
/// documentation for the dance with a commit of the same content.
fn sweep_one(local: &Local, sub: &Dir, name: &str, grace: Duration) -> Result<bool, StoreError> {
    match modified(sub, name) {
        Ok(at) if fresh(at, grace) => return Ok(false),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io("reading blob metadata")(e)),
    }
    let aside = format!("swept-{:032x}", rand::random::<u128>());
    match sub.rename(name, &local.staging, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io("moving a blob aside")(e)),
    }
    let marked =
        modified(&local.staging, &aside).map_err(StoreError::io("reading blob metadata"))?;
    if fresh(marked, grace) {
        // A commit reused it between the first look and the move.
        local
            .staging
            .rename(&aside, sub, name)
            .map_err(StoreError::io("putting a blob back"))?;
        return Ok(false);
    }
    local
        .staging
        .remove_file(&aside)
        .map_err(StoreError::io("removing a blob"))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn age(store_root: &std::path::Path, by: Duration) {
        for dir in std::fs::read_dir(store_root.join("objects")).unwrap() {
            for blob in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let file = std::fs::File::open(blob.unwrap().path()).unwrap();
                file.set_modified(SystemTime::now() - by).unwrap();
            }
        }
    }

    #[test]
    fn the_sweep_spares_named_and_fresh_blobs() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let big = |byte: u8| vec![byte; super::super::INLINE_MAX + 1];
        let named = store.put_bytes(&big(1)).unwrap().hash;
        let unnamed = store.put_bytes(&big(2)).unwrap().hash;
        let grace = Duration::from_secs(3600);
        let in_use = HashSet::from([named]);

        // Both fresh: nothing goes.
        assert_eq!(store.sweep(&in_use, grace).unwrap(), 0);
        age(tmp.path(), 2 * grace);
        // A commit of the same content marks the old blob as in use again.
        store.put_bytes(&big(2)).unwrap();
        assert_eq!(store.sweep(&in_use, grace).unwrap(), 0);
        assert!(store.contains(&unnamed));

        age(tmp.path(), 2 * grace);
        assert_eq!(store.sweep(&in_use, grace).unwrap(), 1);
        assert!(store.contains(&named));
        assert!(!store.contains(&unnamed));
        // Nothing is left aside in staging.
        assert_eq!(
            std::fs::read_dir(tmp.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
    }
}
