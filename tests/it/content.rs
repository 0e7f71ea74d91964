//! The content store's conformance suite: what every backend behind
//! `ferry::store::Store` must do (a tenant's directory, an S3-compatible
//! object store), written against `Store` only. Each check runs against
//! every backend in [`backends`]; "another node" is a second `Store` opened
//! on the same storage, as a second process would.

use std::collections::HashSet;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry::store::{Progress, S3, S3Settings, Store, StoreError};

use crate::backends::{S3_KEY_ID, S3_SECRET, s3};
use crate::util::{bytes, sha256_hex};

/// Opens the store of tenant `acme` on a storage; called twice on the same
/// storage, it is the same tenant's store as another node sees it.
type Open = Box<dyn Fn() -> Store>;

fn backends(dir: &Path) -> Vec<(&'static str, Open)> {
    let root = dir.join("acme");
    let bucket = s3().fresh_bucket();
    vec![
        ("local", Box::new(move || Store::open(&root).unwrap())),
        (
            "s3",
            Box::new(move || {
                let s3 = S3::connect(&S3Settings {
                    bucket: bucket.clone(),
                    endpoint: Some(s3().endpoint()),
                    region: "us-east-1".into(),
                    access_key_id: Some(S3_KEY_ID.into()),
                    secret_access_key: Some(S3_SECRET.into()),
                })
                .unwrap();
                Store::remote(&s3, "acme")
            }),
        ),
    ]
}

fn each(check: impl Fn(&str, &Open)) {
    let dir = tempfile::tempdir().unwrap();
    for (name, open) in backends(dir.path()) {
        check(name, &open);
    }
}

/// Writes `data` in pieces of odd sizes, as protocols do.
fn write(upload: &mut ferry::store::Upload, data: &[u8]) {
    for piece in data.chunks(100_003) {
        upload.write_all(piece).unwrap();
    }
}

fn read_all(store: &Store, hash: &ferry::store::ContentHash) -> Vec<u8> {
    let mut blob = store.read(hash).unwrap();
    let mut got = Vec::new();
    blob.read_to_end(&mut got).unwrap();
    got
}

#[test]
fn content_is_named_by_its_hash_and_reads_at_any_offset() {
    each(|backend, open| {
        let store = open();
        // Three parts and a tail in the object store.
        let data = bytes(7, 27 << 20);
        let mut upload = store.create(None).unwrap();
        write(&mut upload, &data);
        assert_eq!(upload.size(), data.len() as u64);
        let committed = upload.commit().unwrap();
        assert_eq!(committed.hash.to_string(), sha256_hex(&data), "{backend}");
        assert_eq!(committed.size, data.len() as u64);

        // Another node reads it: whole, and at offsets anywhere, backwards.
        let other = open();
        assert_eq!(read_all(&other, &committed.hash), data, "{backend}");
        let blob = other.read(&committed.hash).unwrap();
        assert_eq!(blob.size(), data.len() as u64);
        for offset in [data.len() - 10, 20 << 20, 5, (8 << 20) - 3, 0] {
            let mut buf = vec![0; 64 << 10];
            let n = blob.read_at(&mut buf, offset as u64).unwrap();
            assert!(n > 0, "{backend} at {offset}");
            assert_eq!(buf[..n], data[offset..offset + n], "{backend} at {offset}");
        }
        let mut buf = [0; 8];
        assert_eq!(blob.read_at(&mut buf, data.len() as u64).unwrap(), 0);
        // Seek and read, as FTP's REST does.
        let mut blob = other.read(&committed.hash).unwrap();
        blob.seek(SeekFrom::Start(25 << 20)).unwrap();
        let mut rest = Vec::new();
        blob.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[25 << 20..], "{backend}");

        // The same content again is the same blob; a small blob too.
        assert_eq!(store.put_bytes(&data).unwrap(), committed, "{backend}");
        let small = bytes(8, 100_000);
        let put = store.put_bytes(&small).unwrap();
        assert_eq!(read_all(&other, &put.hash), small, "{backend}");
    });
}

#[test]
fn a_dropped_upload_leaves_nothing_readable() {
    each(|backend, open| {
        let store = open();
        let data = bytes(9, 20 << 20);
        let mut upload = store.create(None).unwrap();
        write(&mut upload, &data);
        drop(upload);
        let hash = sha256_hex(&data).parse().unwrap();
        assert!(
            matches!(open().read(&hash), Err(StoreError::NotFound(_))),
            "{backend}"
        );
    });
}

#[test]
fn a_suspended_upload_resumes_on_another_node_with_the_whole_hash() {
    each(|backend, open| {
        let data = bytes(11, 30 << 20);
        let mut upload = open().create(None).unwrap();
        write(&mut upload, &data[..21 << 20]);
        let (token, kept) = upload.suspend().unwrap();
        // A store may keep fewer bytes than it was given (whole parts in
        // the object store), never more, and never none here.
        assert!(kept > 0 && kept <= 21 << 20, "{backend}: {kept}");
        assert!(
            !open().contains(&sha256_hex(&data[..kept as usize]).parse().unwrap()),
            "{backend}: nothing of a suspended upload is readable"
        );

        let other = open();
        let mut resumed = other.resume(&token, kept, None).unwrap();
        assert_eq!(resumed.size(), kept);
        write(&mut resumed, &data[kept as usize..]);
        let committed = resumed.commit().unwrap();
        assert_eq!(committed.hash.to_string(), sha256_hex(&data), "{backend}");
        assert_eq!(read_all(&open(), &committed.hash), data, "{backend}");
        // A token that names nothing is refused.
        assert!(other.resume("../../etc/passwd", 1, None).is_err());
    });
}

/// A suspended upload given up (expired, or replaced by a new one) is
/// gone: its bytes cannot be resumed from any node.
#[test]
fn a_discarded_upload_cannot_be_resumed() {
    each(|backend, open| {
        let data = bytes(15, 20 << 20);
        let mut upload = open().create(None).unwrap();
        write(&mut upload, &data);
        let (token, kept) = upload.suspend().unwrap();
        assert!(kept > 0, "{backend}");
        open().discard(&token);
        let resumed = open().resume(&token, kept, None).and_then(|mut up| {
            write(&mut up, &data[kept as usize..]);
            up.commit()
        });
        assert!(resumed.is_err(), "{backend}: {resumed:?}");
    });
}

/// A node that dies mid-upload never suspends it: what it reported as
/// durable while writing is what another node resumes.
#[test]
fn progress_reported_while_writing_resumes_after_a_death() {
    let dir = tempfile::tempdir().unwrap();
    let (_, open) = backends(dir.path())
        .into_iter()
        .find(|(name, _)| *name == "s3")
        .unwrap();
    let told: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let data = bytes(12, 26 << 20);
    let mut upload = open().create(None).unwrap();
    let sink = Arc::clone(&told);
    upload.track(Progress::new(move |token, size| {
        sink.lock().unwrap().push((token.to_owned(), size));
    }));
    write(&mut upload, &data[..20 << 20]);
    // The process "dies": nothing of the upload runs again, not even its drop.
    std::mem::forget(upload);
    let told = told.lock().unwrap().clone();
    let sizes: Vec<u64> = told.iter().map(|(_, size)| *size).collect();
    assert_eq!(sizes, [8 << 20], "one part in, one in flight or filling");
    let (token, kept) = told.last().unwrap().clone();

    let mut resumed = open().resume(&token, kept, None).unwrap();
    write(&mut resumed, &data[kept as usize..]);
    let committed = resumed.commit().unwrap();
    assert_eq!(committed.hash.to_string(), sha256_hex(&data));
    assert_eq!(read_all(&open(), &committed.hash), data);
}

#[test]
fn the_sweep_removes_only_what_nothing_names() {
    each(|backend, open| {
        let store = open();
        let named = store.put_bytes(&bytes(13, 200_000)).unwrap().hash;
        let unnamed = store.put_bytes(&bytes(14, 200_000)).unwrap().hash;
        let in_use = HashSet::from([named]);
        // Everything is fresh within an hour's grace.
        assert_eq!(
            store.sweep(&in_use, Duration::from_secs(3600)).unwrap(),
            0,
            "{backend}"
        );
        // Age is what the sweep looks at, and the object store's clock
        // (modification times to the second) is not the test's to set:
        // time passes.
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(
            store.sweep(&in_use, Duration::from_millis(500)).unwrap(),
            1,
            "{backend}"
        );
        assert!(store.contains(&named), "{backend}");
        assert!(!store.contains(&unnamed), "{backend}");
    });
}

/// An object store that does not answer is named in the error, at once.
#[test]
fn an_unreachable_object_store_is_named() {
    let port = crate::util::free_port();
    let started = std::time::Instant::now();
    let error = S3::connect(&S3Settings {
        bucket: "nowhere".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: "us-east-1".into(),
        access_key_id: Some(S3_KEY_ID.into()),
        secret_access_key: Some(S3_SECRET.into()),
    })
    .unwrap_err();
    let text = ferry::error_chain(&error);
    assert!(
        text.contains(&format!("s3://nowhere at http://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(!text.contains(S3_SECRET), "{text}");
    assert!(started.elapsed() < Duration::from_secs(30));
}
