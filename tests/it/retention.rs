//! Retention: files leave the mailboxes after `retention_days`, their
//! history stays, and a blob leaves the store only when nothing names it and
//! no commit touched it within the sweep's grace (issue 18, finding 10).
//!
//! The races are reproduced in-process, step by step, with the library's
//! own types: a real client cannot be paused between the store's commit and
//! the journal's record.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use ferry::journal::Timestamp;
use ferry::store::{ContentHash, INLINE_MAX};
use ferry::tenant::{Finished, Hub, MailboxPath, SWEEP_GRACE};

use crate::util::{Env, bytes, sha256_hex};

/// acme keeps files 30 days; carol (whose files go nowhere) completes her
/// uploads by renaming them from a temporary name.
fn env() -> Env {
    let config = crate::util::default_config()
        .replace(
            "[tenants.acme.partners.alice]",
            "[tenants.acme]\nretention_days = 30\n\n[tenants.acme.partners.alice]",
        )
        .replace(
            "[tenants.acme.partners.carol]",
            "[tenants.acme.partners.carol]\ncompletion = \"rename\"",
        );
    Env::with_config(&config)
}

fn hub(env: &Env) -> std::sync::Arc<Hub> {
    Hub::open(ferry::config::load(&env.config).unwrap()).unwrap()
}

/// Makes every blob of acme look last touched `by` ago, as if that much
/// time had passed on the disk too.
fn age_blobs(env: &Env, by: Duration) {
    let objects = env.tenant_root("acme").join("objects");
    for dir in std::fs::read_dir(objects).unwrap() {
        for blob in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let file = std::fs::File::open(blob.unwrap().path()).unwrap();
            file.set_modified(SystemTime::now() - by).unwrap();
        }
    }
}

fn in_31_days() -> Timestamp {
    Timestamp::now().after(Duration::from_secs(31 * 86_400))
}

/// Retention removes old files from every view, keeps their history, and
/// sweeps their content from the store once the grace has passed.
#[test]
fn retention_expires_old_files_but_keeps_history() {
    let env = env();
    let content = bytes(1, INLINE_MAX + 1);
    env.put("carol", "old.txt", &content).ok();
    let hub = hub(&env);
    let hash: ContentHash = sha256_hex(&content).parse().unwrap();
    let store = hub.tenant("acme").unwrap().store().clone();

    // Nothing is 30 days old yet.
    assert_eq!(hub.expire(Timestamp::now()).unwrap(), 0);
    assert_eq!(env.names("carol", "/inbox"), ["old.txt"]);

    // 31 days later: gone from the view, still in the journal; the blob
    // stays while it is younger than the grace, and goes after it.
    let later = in_31_days();
    assert_eq!(hub.expire(later).unwrap(), 0);
    assert!(env.names("carol", "/inbox").is_empty());
    assert!(store.contains(&hash));
    age_blobs(&env, 2 * SWEEP_GRACE);
    assert_eq!(hub.expire(later).unwrap(), 1);
    assert!(!store.contains(&hash));
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'expired'"),
        1
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE name = 'old.txt'"),
        1
    );
    env.ferry().args(["journal", "verify"]).ok();
}

/// An upload staged until its rename keeps its bytes when an older file
/// with the same content expires: as a blob, and inline when small.
#[test]
fn an_upload_waiting_for_its_rename_keeps_its_content() {
    let env = env();
    let big = bytes(2, INLINE_MAX + 1);
    let small = b"id;amount\n1;100\n".to_vec();
    env.put("carol", "old.csv", &big).ok();
    env.put("carol", "old-small.csv", &small).ok();
    let hub = hub(&env);
    let tenant = hub.tenant("acme").unwrap();
    for (name, content) in [("new.csv.tmp", &big), ("new-small.csv.tmp", &small)] {
        let mut upload = tenant
            .begin_upload("carol", &MailboxPath::inbox_file(name).unwrap())
            .unwrap();
        upload.write_all(content).unwrap();
        let finished = tenant.finish(upload, "test", "127.0.0.1").unwrap();
        assert!(
            matches!(finished, Finished::Pending(_)),
            "{name} should wait for its rename"
        );
    }
    age_blobs(&env, 2 * SWEEP_GRACE);

    hub.expire(in_31_days()).unwrap();
    assert!(
        env.names("carol", "/inbox").is_empty(),
        "the old files expired"
    );
    for content in [&big, &small] {
        let hash: ContentHash = sha256_hex(content).parse().unwrap();
        let mut read = Vec::new();
        std::io::Read::read_to_end(&mut tenant.content(&hash).unwrap(), &mut read).unwrap();
        assert_eq!(&read, content, "the staged upload lost its bytes");
    }
}

/// An upload whose bytes match a blob that is about to expire, committed
/// in the store but not yet journaled when the sweep runs, keeps that blob;
/// the blob goes only when it is unnamed and older than the grace.
#[test]
fn an_upload_in_flight_keeps_the_blob_it_reuses() {
    let env = env();
    let content = bytes(3, INLINE_MAX + 1);
    env.put("carol", "old.bin", &content).ok();
    let hash: ContentHash = sha256_hex(&content).parse().unwrap();
    age_blobs(&env, 2 * SWEEP_GRACE);
    let hub = hub(&env);
    let store = hub.tenant("acme").unwrap().store().clone();

    // The upload in flight: committed in the store, deduplicated onto the
    // old blob, its journal record yet to come.
    let mut upload = store.create(None).unwrap();
    upload.write_all(&content).unwrap();
    assert_eq!(upload.commit().unwrap().hash, hash);

    assert_eq!(hub.expire(in_31_days()).unwrap(), 0);
    assert!(
        env.names("carol", "/inbox").is_empty(),
        "the old file expired"
    );
    assert!(
        store.contains(&hash),
        "the sweep took the blob of an upload in flight"
    );

    // Never journaled (its server died, say): an orphan, swept after the grace.
    age_blobs(&env, 2 * SWEEP_GRACE);
    assert_eq!(hub.expire(in_31_days()).unwrap(), 1);
    assert!(!store.contains(&hash));
}
