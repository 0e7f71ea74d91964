//! Folders inside mailboxes, as partners' scripts make them: `sftp put -r`
//! and `mkdir`, `lftp mirror -R` into `/inbox/batch`. A file's name is its
//! path relative to the mailbox; the receiver gets the same relative paths
//! in its outbox, and routes match globs on the path.

use std::path::Path;

use crate::util::{FtpEnv, SftpEnv, bytes, eventually, sha256_hex};

/// A small tree: `NAME/a.csv`, `NAME/sub/b.txt`, `NAME/sub/deeper/c.bin`.
fn tree(dir: &Path, name: &str) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("a.csv".to_owned(), b"id,amount\n1,2\n".to_vec()),
        ("sub/b.txt".to_owned(), b"hello\n".to_vec()),
        ("sub/deeper/c.bin".to_owned(), bytes(5, 300_000)),
    ];
    for (path, content) in &files {
        let path = dir.join(name).join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    files
}

/// Every file below `dir`, as (relative path, SHA-256), sorted.
fn walk(dir: &Path) -> Vec<(String, String)> {
    fn visit(root: &Path, dir: &Path, found: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(root, &path, found);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.push((name, sha256_hex(&std::fs::read(&path).unwrap())));
            }
        }
    }
    let mut found = Vec::new();
    visit(dir, dir, &mut found);
    found.sort();
    found
}

fn hashed(files: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
    let mut hashed: Vec<_> = files
        .iter()
        .map(|(name, content)| (name.clone(), sha256_hex(content)))
        .collect();
    hashed.sort();
    hashed
}

/// OpenSSH `sftp`: `mkdir`, `put -r`, listings of the folders, `rmdir` of
/// an empty folder (and not of a full one); bob finds the tree in his
/// outbox with the same paths and takes it with `get -r`; carol's route
/// (`*.csv`) matches across folders.
#[test]
fn sftp_put_r_and_mkdir_make_folders_the_receiver_sees() {
    let s = SftpEnv::new();
    let _server = s.env.serve();
    let files = tree(s.env.path(), "tree");

    let out = s.sftp_ok(
        "alice",
        "mkdir /inbox/2026\nput -r tree /inbox/\nls /inbox\nls /inbox/tree\nls -l /inbox/tree/sub\n",
    );
    for name in ["2026", "tree", "a.csv", "sub", "b.txt", "deeper"] {
        assert!(out.contains(name), "{name} not listed:\n{out}");
    }
    let refused = s.sftp("alice", "rmdir /inbox/tree\n");
    assert!(!refused.status.success(), "a full folder was removed");
    let refused = s.sftp("alice", "mkdir /outbox/mine\n");
    assert!(!refused.status.success(), "a folder was made in the outbox");
    s.sftp_ok("alice", "rmdir /inbox/2026\n");
    let out = s.sftp_ok("alice", "ls /inbox\n");
    assert!(!out.contains("2026"), "{out}");

    eventually("the tree in bob's outbox", || {
        s.env
            .names("bob", "/outbox")
            .contains(&"tree/sub/deeper/c.bin".to_owned())
    });
    std::fs::create_dir(s.env.path().join("got")).unwrap();
    s.sftp_ok("bob", "lcd got\nget -r /outbox/tree\n");
    assert_eq!(walk(&s.env.path().join("got/tree")), hashed(&files));
    assert_eq!(
        s.env.names("carol", "/outbox"),
        ["tree/a.csv"],
        "*.csv matches in folders"
    );
    s.env.ferry().args(["journal", "verify"]).ok();
}

/// lftp: `mirror -R` of a tree into `/inbox/batch` (MKD, CWD, STOR), then
/// bob mirrors `/outbox/batch` back down: the same relative paths and
/// bytes. PWD, MLSD and RMD on the way.
#[test]
fn lftp_mirror_r_into_a_folder_and_back() {
    let f = FtpEnv::new();
    let _server = f.env.serve();
    let files = tree(f.env.path(), "outgoing");
    let out = f.lftp(
        "alice",
        "mirror -R outgoing /inbox/batch; cd /inbox/batch/sub; pwd; cls -1",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("/inbox/batch/sub"), "{stdout}");
    assert!(
        stdout.contains("b.txt") && stdout.contains("deeper"),
        "{stdout}"
    );

    eventually("the tree in bob's outbox", || {
        f.env
            .names("bob", "/outbox")
            .contains(&"batch/sub/deeper/c.bin".to_owned())
    });
    // bob's account requires TLS, for its data too.
    let out = f.lftp(
        "bob",
        "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; mirror /outbox/batch got",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(walk(&f.env.path().join("got")), hashed(&files));

    let out = f.lftp(
        "alice",
        "mkdir /inbox/empty; rmdir /inbox/empty; cls -1 /inbox",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("empty") && stdout.contains("batch"),
        "{stdout}"
    );
    let out = f.lftp("alice", "rmdir /inbox/batch");
    assert!(!out.status.success(), "a full folder was removed");
}
