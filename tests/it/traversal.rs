//! Hostile names and planted links: refused, never followed.

use std::os::unix::fs::symlink;

use crate::util::{Env, sha256_hex};

#[test]
fn hostile_upload_names_are_refused() {
    let env = Env::new();
    let long = "x".repeat(256);
    for name in [
        "../escape",
        "/etc/passwd",
        "a//b",
        "a/../b",
        "a/",
        "..",
        ".",
        "a\\b",
        "tab\there",
        &long,
    ] {
        let stderr = env.put("alice", name, b"payload").fails();
        assert!(stderr.contains("invalid path"), "{name:?}: {stderr}");
    }
    // 255 bytes is the limit, and it is accepted; `a/b` is a file in a
    // folder, a key in the journal, never a path on disk.
    env.put("alice", &"y".repeat(255), b"payload").ok();
    env.put("alice", "a/b", b"payload").ok();
    assert_eq!(
        env.names("alice", "/inbox"),
        vec!["a/b".to_owned(), "y".repeat(255)]
    );
    assert!(!env.data().join("tenants").join("acme").join("a").exists());
    assert!(!env.path().join("escape").exists());
    assert!(!env.data().join("tenants").join("escape").exists());
}

#[test]
fn hostile_read_paths_are_refused() {
    let env = Env::new();
    env.put("alice", "a.txt", b"payload").ok();
    for path in [
        "/inbox/../../../etc/passwd",
        "/../etc/passwd",
        "/inbox/..",
        "/etc/passwd",
        "/inbox/a.txt/../../../x",
    ] {
        let stderr = env
            .ferry()
            .args(["cat", "--tenant", "acme", "--as", "alice", path])
            .fails();
        assert!(
            stderr.contains("invalid path") || stderr.contains("no such file"),
            "{path}: {stderr}"
        );
    }
    // Another partner's mailbox is not reachable by any spelling.
    let stderr = env
        .ferry()
        .args(["cat", "--tenant", "acme", "--as", "carol", "/inbox/a.txt"])
        .fails();
    assert!(stderr.contains("no such file"), "{stderr}");
}

/// Reading `path` as `partner` fails and shows nothing of the planted content.
#[track_caller]
fn assert_refused(env: &Env, partner: &str, path: &str) {
    let out = env
        .ferry()
        .args(["cat", "--tenant", "acme", "--as", partner, path])
        .run();
    assert!(!out.status.success(), "{path} was read");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("SECRET"));
}

/// A directory of the store replaced by a link to a directory outside the
/// tenant root holding a file under the blob's name: reading refuses it.
#[test]
fn planted_directory_link_is_not_followed() {
    let env = Env::new();
    // Larger than what is kept inline in the journal: a blob in the store.
    let data = &[b'c'; 100 << 10][..];
    env.put("alice", "a.txt", data).ok();
    let hash = sha256_hex(data);
    let objects = env.tenant_root("acme").join("objects");
    let fanout = objects.join(&hash[..2]);

    let outside = env.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join(&hash[2..]), "SECRET from outside the root\n").unwrap();
    std::fs::remove_dir_all(&fanout).unwrap();
    symlink(&outside, &fanout).unwrap();

    assert_refused(&env, "bob", "/outbox/a.txt");

    // The same with a link that stays inside the root: refused as well.
    std::fs::remove_file(&fanout).unwrap();
    let inside = env.tenant_root("acme").join("decoy");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(inside.join(&hash[2..]), "SECRET decoy\n").unwrap();
    symlink(&inside, &fanout).unwrap();
    assert_refused(&env, "bob", "/outbox/a.txt");
}

/// A blob replaced by a link to a file outside: refused.
#[test]
fn planted_file_link_is_not_followed() {
    let env = Env::new();
    let data = &[b'c'; 100 << 10][..];
    env.put("alice", "a.txt", data).ok();
    let hash = sha256_hex(data);
    let blob = env
        .tenant_root("acme")
        .join("objects")
        .join(&hash[..2])
        .join(&hash[2..]);
    let outside = env.path().join("secret.txt");
    std::fs::write(&outside, "SECRET\n").unwrap();
    std::fs::remove_file(&blob).unwrap();
    symlink(&outside, &blob).unwrap();
    assert_refused(&env, "alice", "/inbox/a.txt");
}

/// `staging` replaced by a link to a directory outside: the store refuses
/// to open, and nothing is written outside.
#[test]
fn planted_staging_link_is_refused() {
    let env = Env::new();
    env.put("alice", "a.txt", b"x").ok();
    let staging = env.tenant_root("acme").join("staging");
    let outside = env.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::remove_dir(&staging).unwrap();
    symlink(&outside, &staging).unwrap();
    let stderr = env.put("alice", "b.txt", b"y").fails();
    assert!(stderr.contains("cannot open the store"), "{stderr}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}
