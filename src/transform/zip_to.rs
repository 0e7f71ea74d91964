//! A delivery as a zip archive (`zip_to`), for partners whose flows expect
//! one. Written as a stream (sizes and CRC after each entry's data, in data
//! descriptors) because a staging upload cannot seek back; Info-ZIP's
//! `unzip`, Windows and every zip library read that form.

use std::io::Write;

use super::{Bounded, TransformError};
use crate::store::{Blob, Committed, Store, StoreError};

/// Writes `input` as the one entry `name` of a new deflated archive.
pub fn zip_one(input: Blob, name: &str, store: &Store) -> Result<Committed, TransformError> {
    let size = input.size();
    let io = |e: std::io::Error| StoreError::Io {
        doing: "writing an archive",
        source: e,
    };
    let out = Bounded::new(store, None)?;
    let mut zip = zip::ZipWriter::new_stream(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(size >= u64::from(u32::MAX));
    zip.start_file(name, options)
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let mut input = input;
    std::io::copy(&mut input, &mut zip).map_err(io)?;
    let mut out = zip
        .finish()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?
        .into_inner();
    out.flush().map_err(io)?;
    out.commit()
}
