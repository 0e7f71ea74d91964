//! The built-in transforms against the tools partners use: GnuPG on the
//! other side of `encrypt_to` and `decrypt_with`, Info-ZIP's `zip` and
//! `unzip` on the other side of `unzip` and `zip_to`; zip bombs and hostile
//! archives refused with their reasons written back to the sender; a crash
//! between a transform and its journal step repeats nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{Env, bytes, default_config, eventually, sha256_hex};

/// A GnuPG home of its own, for one party.
struct Gpg {
    home: PathBuf,
}

impl Gpg {
    /// A new home holding one key for `name`: Ed25519 to sign and Curve25519
    /// to encrypt (fast to make), or RSA when `rsa` (what many partners
    /// still have), protected by `passphrase` (empty: none).
    fn new(dir: &Path, name: &str, passphrase: &str, rsa: bool) -> Gpg {
        let home = dir.join(format!("gnupg-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        let gpg = Gpg { home };
        let (primary, sub) = if rsa {
            ("rsa2048", "rsa2048")
        } else {
            ("ed25519", "cv25519")
        };
        let user = format!("{name} <{name}@example.com>");
        gpg.run_ok(&[
            "--passphrase",
            passphrase,
            "--quick-gen-key",
            &user,
            primary,
            "sign",
            "never",
        ]);
        let fpr = gpg.fingerprint(name);
        gpg.run_ok(&[
            "--passphrase",
            passphrase,
            "--quick-add-key",
            &fpr,
            sub,
            "encr",
            "never",
        ]);
        gpg
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args([
            "60",
            "gpg",
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--homedir",
        ])
        .arg(&self.home)
        .args(["--trust-model", "always"]);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .expect("gpg (gnupg) is needed")
    }

    fn run_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "gpg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn fingerprint(&self, name: &str) -> String {
        let listing =
            String::from_utf8(self.run_ok(&["--with-colons", "--list-keys", name])).unwrap();
        listing
            .lines()
            .find_map(|line| line.strip_prefix("fpr:::::::::"))
            .map(|rest| rest.trim_end_matches(':').to_owned())
            .expect("a fingerprint")
    }

    /// Exports `name`'s public key (armored) to `to`.
    fn export(&self, name: &str, to: &Path) {
        std::fs::write(to, self.run_ok(&["--armor", "--export", name])).unwrap();
    }

    /// Exports `name`'s secret key (armored, still under its passphrase) to `to`.
    fn export_secret(&self, name: &str, passphrase: &str, to: &Path) {
        let key = self.run_ok(&[
            "--passphrase",
            passphrase,
            "--armor",
            "--export-secret-keys",
            name,
        ]);
        std::fs::write(to, key).unwrap();
    }

    fn import(&self, key: &Path) {
        self.run_ok(&["--import", key.to_str().unwrap()]);
    }
}

/// `ferry cat`'s bytes as they are (a `.pgp` or `.zip` file is binary).
fn cat_bytes(env: &Env, partner: &str, path: &str) -> Vec<u8> {
    let out = env
        .ferry()
        .args(["cat", "--tenant", "acme", "--as", partner, path])
        .run();
    assert!(
        out.status.success(),
        "cat {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn with_partner_lines(partner: &str, lines: &str) -> String {
    let header = format!("[tenants.acme.partners.{partner}]\n");
    default_config().replace(&header, &format!("{header}{lines}"))
}

#[test]
fn encrypt_to_delivers_what_gnupg_decrypts() {
    let env = Env::new();
    // bob decrypts with GnuPG, with an RSA key and with a Curve25519 one.
    for (round, rsa) in [(0, false), (1, true)] {
        let bob = Gpg::new(env.path(), &format!("bob{round}"), "", rsa);
        let key = env.path().join(format!("bob{round}.asc"));
        bob.export(&format!("bob{round}"), &key);
        env.write_config(&with_partner_lines(
            "bob",
            &format!("encrypt_to = \"bob{round}.asc\"\n"),
        ));
        let data = bytes(round, 300_000);
        let name = format!("orders{round}.csv");
        env.put("alice", &name, &data).ok();

        let sealed = cat_bytes(&env, "bob", &format!("/outbox/{name}.pgp"));
        assert_ne!(sealed, data);
        let file = env.path().join(format!("{name}.pgp"));
        std::fs::write(&file, &sealed).unwrap();
        let opened = bob.run_ok(&["--decrypt", file.to_str().unwrap()]);
        assert_eq!(sha256_hex(&opened), sha256_hex(&data), "rsa: {rsa}");
        // carol (no key) gets the file as it was sent.
        assert_eq!(cat_bytes(&env, "carol", &format!("/outbox/{name}")), data);
    }
    // Each transform is journaled with both contents' SHA-256 and the key.
    let events = env.rows(
        "SELECT json_extract(detail, '$.in_sha256') || ' ' || json_extract(detail, '$.out_sha256') \
         || ' ' || json_extract(detail, '$.key'), 1 FROM events WHERE kind = 'transformed'",
    );
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].0.starts_with(&sha256_hex(&bytes(0, 300_000))),
        "{events:?}"
    );
    env.ferry().args(["journal", "verify"]).ok();
}

/// ferry's key pair for `decrypt_with` (passphrase in a file), and alice's
/// signing key for `verify_signature_from`.
fn decrypt_setup(env: &Env) -> (Gpg, Gpg) {
    let ferry = Gpg::new(env.path(), "ferry", "s3cret phrase", false);
    ferry.export_secret("ferry", "s3cret phrase", &env.path().join("ferry.sec.asc"));
    ferry.export("ferry", &env.path().join("ferry.asc"));
    std::fs::write(env.path().join("passphrase.txt"), "s3cret phrase\n").unwrap();
    let alice = Gpg::new(env.path(), "alice", "", false);
    alice.export("alice", &env.path().join("alice.asc"));
    alice.import(&env.path().join("ferry.asc"));
    (ferry, alice)
}

#[test]
fn decrypt_with_judges_and_routes_the_plaintext() {
    let env = Env::new();
    let (_ferry, alice) = decrypt_setup(&env);
    env.write_config(&with_partner_lines(
        "alice",
        "decrypt_with = \"ferry.sec.asc\"\npassphrase_file = \"passphrase.txt\"\n\
         verify_signature_from = \"alice.asc\"\n",
    ));
    let data = bytes(3, 200_000);
    let plain = env.path().join("orders.csv");
    std::fs::write(&plain, &data).unwrap();
    let encrypt = |args: &[&str], out: &str| {
        let out = env.path().join(out);
        let mut all = vec!["--recipient", "ferry", "--output", out.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push(plain.to_str().unwrap());
        alice.run_ok(&all);
        std::fs::read(out).unwrap()
    };
    // Signed and encrypted, as GnuPG does it (compressed inside).
    let sealed = encrypt(
        &["--sign", "--local-user", "alice", "--encrypt"],
        "orders.csv.gpg",
    );
    env.put("alice", "orders.csv.gpg", &sealed).ok();
    // The plaintext is what is routed: `*.csv` reaches carol too.
    for partner in ["bob", "carol"] {
        assert_eq!(
            env.ls(partner, "/outbox"),
            vec![(
                "orders.csv".to_owned(),
                data.len() as u64,
                sha256_hex(&data)
            )],
            "{partner}"
        );
    }
    // alice's inbox keeps what she sent, as she sent it.
    assert_eq!(
        env.ls("alice", "/inbox"),
        vec![(
            "orders.csv.gpg".to_owned(),
            sealed.len() as u64,
            sha256_hex(&sealed)
        )]
    );
    let detail = env.rows(
        "SELECT json_extract(detail, '$.signed_by') || ' ' || json_extract(detail, '$.op'), 1 \
         FROM events WHERE kind = 'transformed'",
    );
    assert_eq!(detail.len(), 1, "{detail:?}");
    assert!(detail[0].0.ends_with(" decrypt"), "{detail:?}");

    // Encrypted but not signed: refused, and alice is told why.
    let unsigned = encrypt(&["--encrypt"], "unsigned.csv.gpg");
    env.put("alice", "unsigned.csv.gpg", &unsigned).ok();
    let why = env.cat("alice", "/outbox/unsigned.csv.gpg.rejected");
    assert!(why.contains("not signed"), "{why}");

    // One byte changed in the middle: the integrity check fails at the
    // end, nothing is delivered, and the reason says so.
    let mut tampered = sealed.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x40;
    env.put("alice", "tampered.csv.gpg", &tampered).ok();
    let why = env.cat("alice", "/outbox/tampered.csv.gpg.rejected");
    assert!(why.contains("could not be decrypted and checked"), "{why}");
    // The parser's own words, which could tell what the altered plaintext
    // held, stay in the server's log.
    assert!(!why.contains("packet"), "{why}");
    // Not encrypted at all.
    env.put("alice", "plain.csv", b"a,b\n").ok();
    let why = env.cat("alice", "/outbox/plain.csv.rejected");
    assert!(why.contains("is not an OpenPGP message"), "{why}");
    assert_eq!(env.names("bob", "/outbox"), ["orders.csv"]);
    env.ferry().args(["journal", "verify"]).ok();
}

#[test]
fn decrypt_with_names_a_wrong_passphrase_at_load() {
    let env = Env::new();
    decrypt_setup(&env);
    std::fs::write(env.path().join("passphrase.txt"), "not it\n").unwrap();
    env.write_config(&with_partner_lines(
        "alice",
        "decrypt_with = \"ferry.sec.asc\"\npassphrase_file = \"passphrase.txt\"\n",
    ));
    let err = env.ferry().args(["check-config"]).fails();
    assert!(err.contains("ferry.toml"), "{err}");
    assert!(
        err.contains("tenants.acme.partners.alice.decrypt_with"),
        "{err}"
    );
    assert!(err.contains("passphrase"), "{err}");
    assert!(!err.contains("not it"), "the passphrase leaked: {err}");
}

/// Runs Python's zipfile to write an archive with exactly these entries
/// (names as given, hostile ones included), each deflated.
fn python_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let script = "import sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED)\n\
        args = sys.argv[2:]\n\
        for name, src in zip(args[0::2], args[1::2]):\n\
        \x20   z.writestr(name, open(src, 'rb').read())\n\
        z.close()\n";
    let mut cmd = Command::new("python3");
    cmd.args(["-c", script]).arg(path);
    for (i, (name, content)) in entries.iter().enumerate() {
        let src = path.with_extension(format!("src{i}"));
        std::fs::write(&src, content).unwrap();
        cmd.arg(name).arg(src);
    }
    let out = cmd.output().expect("python3 is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unzip_makes_each_entry_a_file_and_refuses_bombs() {
    let env = Env::with_config(&with_partner_lines(
        "alice",
        "unzip = true\nunzip_max_entries = 5\n",
    ));
    let dir = env.path();
    let work = dir.join("batch");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    let (a, b, c) = (bytes(1, 50_000), bytes(2, 70_000), b"x,y\n1,2\n".to_vec());
    std::fs::write(work.join("a.csv"), &a).unwrap();
    std::fs::write(work.join("b.txt"), &b).unwrap();
    std::fs::write(work.join("sub/c.csv"), &c).unwrap();
    let zipped = Command::new("zip")
        .args(["-q", "-r", "../batch.zip", "a.csv", "b.txt", "sub"])
        .current_dir(&work)
        .output()
        .expect("zip is needed");
    assert!(
        zipped.status.success(),
        "{}",
        String::from_utf8_lossy(&zipped.stderr)
    );
    let archive = std::fs::read(dir.join("batch.zip")).unwrap();
    env.put("alice", "batch.zip", &archive).ok();

    // Each entry was judged and routed on its own: all to bob, the `.csv`
    // ones to carol too, in their folders.
    let mut bob = env.ls("bob", "/outbox");
    bob.sort();
    assert_eq!(
        bob,
        vec![
            ("a.csv".to_owned(), a.len() as u64, sha256_hex(&a)),
            ("b.txt".to_owned(), b.len() as u64, sha256_hex(&b)),
            ("sub/c.csv".to_owned(), c.len() as u64, sha256_hex(&c)),
        ]
    );
    assert_eq!(env.names("carol", "/outbox"), ["a.csv", "sub/c.csv"]);
    // The archive stays in alice's inbox; its entries name it as origin.
    assert_eq!(env.names("alice", "/inbox"), ["batch.zip"]);
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM messages WHERE protocol = 'unzip' AND origin = \
             (SELECT id FROM messages WHERE name = 'batch.zip')"
        ),
        3
    );
    assert_eq!(
        env.count(
            "SELECT COUNT(*) FROM messages WHERE name = 'batch.zip' AND state = 'transformed'"
        ),
        1
    );

    // A bomb: 50 MiB of zeros in a few tens of kilobytes.
    let zeros = dir.join("zeros.bin");
    std::fs::write(&zeros, vec![0u8; 50 << 20]).unwrap();
    let bomb = Command::new("zip")
        .args(["-q", "bomb.zip", "zeros.bin"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(bomb.status.success());
    let bomb = std::fs::read(dir.join("bomb.zip")).unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    env.put("alice", "bomb.zip", &bomb).ok();
    let why = env.cat("alice", "/outbox/bomb.zip.rejected");
    assert!(why.contains("expands"), "{why}");

    // Names that are paths out of the mailbox, too many entries, archives
    // nested too deep: each refused with its reason, nothing delivered.
    let many: Vec<String> = (0..6).map(|i| format!("f{i}.csv")).collect();
    let cases = [
        (
            "evil.zip",
            vec!["ok.csv", "../evil.csv"],
            "safe relative path",
        ),
        ("abs.zip", vec!["/etc/cron.d/x"], "safe relative path"),
        (
            "many.zip",
            many.iter().map(String::as_str).collect(),
            "more than 5 entries",
        ),
    ];
    for (name, names, reason) in cases {
        let path = dir.join(name);
        let borrowed: Vec<(&str, Vec<u8>)> = names.iter().map(|n| (*n, b"1\n".to_vec())).collect();
        python_zip(&path, &borrowed);
        env.put("alice", name, &std::fs::read(&path).unwrap()).ok();
        let why = env.cat("alice", &format!("/outbox/{name}.rejected"));
        assert!(why.contains(reason), "{name}: {why}");
    }
    let inner = dir.join("inner.zip");
    python_zip(&inner, &[("deep.csv", b"1\n".to_vec())]);
    let middle = dir.join("middle.zip");
    python_zip(&middle, &[("inner.zip", std::fs::read(&inner).unwrap())]);
    let outer = dir.join("outer.zip");
    python_zip(&outer, &[("middle.zip", std::fs::read(&middle).unwrap())]);
    env.put("alice", "outer.zip", &std::fs::read(&outer).unwrap())
        .ok();
    let why = env.cat("alice", "/outbox/outer.zip.rejected");
    assert!(why.contains("nested deeper than 2"), "{why}");
    // One level of nesting is opened: middle.zip's entry lands in `middle/`.
    env.put("alice", "middle.zip", &std::fs::read(&middle).unwrap())
        .ok();
    // An archive inside and a folder of its name would make one file of
    // two entries: refused, rather than one replacing the other.
    let clash = dir.join("clash.zip");
    python_zip(
        &clash,
        &[
            ("inner.zip", std::fs::read(&inner).unwrap()),
            ("inner/deep.csv", b"2\n".to_vec()),
        ],
    );
    env.put("alice", "clash.zip", &std::fs::read(&clash).unwrap())
        .ok();
    let why = env.cat("alice", "/outbox/clash.zip.rejected");
    assert!(why.contains("would both be `inner/deep.csv`"), "{why}");
    // A file that is a zip inside but not named one (an Office document)
    // passes as it is.
    env.put("alice", "report.xlsx", &std::fs::read(&inner).unwrap())
        .ok();
    assert_eq!(
        env.names("bob", "/outbox"),
        [
            "a.csv",
            "b.txt",
            "inner/deep.csv",
            "report.xlsx",
            "sub/c.csv"
        ]
    );
    env.ferry().args(["journal", "verify"]).ok();
}

#[test]
fn zip_to_and_encrypt_to_bundle_a_delivery() {
    let env = Env::new();
    let bob = Gpg::new(env.path(), "bob", "", false);
    bob.export("bob", &env.path().join("bob.asc"));
    env.write_config(&with_partner_lines(
        "bob",
        "zip_to = true\nencrypt_to = \"bob.asc\"\n",
    ));
    let data = bytes(9, 100_000);
    env.put("alice", "orders.csv", &data).ok();
    let sealed = cat_bytes(&env, "bob", "/outbox/orders.csv.zip.pgp");
    let file = env.path().join("orders.csv.zip.pgp");
    std::fs::write(&file, sealed).unwrap();
    let zip = env.path().join("orders.csv.zip");
    bob.run_ok(&[
        "--output",
        zip.to_str().unwrap(),
        "--decrypt",
        file.to_str().unwrap(),
    ]);
    let out = Command::new("unzip")
        .args(["-p", zip.to_str().unwrap(), "orders.csv"])
        .output()
        .expect("unzip is needed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_hex(&out.stdout), sha256_hex(&data));
}

/// A crash after a transform's outputs are in the store and before its
/// journal step: the next run transforms again and records it once.
#[test]
fn a_crash_between_unzip_and_its_step_repeats_nothing() {
    let env = Env::with_config(&with_partner_lines("alice", "unzip = true\n"));
    let archive = env.path().join("two.zip");
    python_zip(
        &archive,
        &[("a.csv", bytes(4, 10_000)), ("b.csv", bytes(5, 10_000))],
    );
    let out = env
        .put("alice", "two.zip", &std::fs::read(&archive).unwrap())
        .env("FERRY_CRASH", "pipeline.transformed")
        .run();
    assert!(!out.status.success(), "did not crash");
    assert!(env.names("bob", "/outbox").is_empty());
    let server = env.serve();
    eventually("the entries in bob's outbox", || {
        env.names("bob", "/outbox") == ["a.csv", "b.csv"]
    });
    server.stop();
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'transformed'"),
        1
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM messages WHERE protocol = 'unzip'"),
        2
    );
    env.ferry().args(["journal", "verify"]).ok();
}

/// A router asks for a transform for one target only (`transform-delivery`,
/// here through the glob router's `transforms` parameter): bob's copy is
/// encrypted to his `pgp_key`, carol's stays as it was; a request for a
/// target with no key quarantines the file with the reason.
#[test]
fn a_router_asks_to_encrypt_the_copy_for_one_target() {
    let env = Env::new();
    let bob = Gpg::new(env.path(), "bob", "", false);
    bob.export("bob", &env.path().join("bob.asc"));
    let router = crate::plugins::wasm("glob_router");
    let config = |transforms: &str| {
        default_config()
            .replace(
                "[tenants.acme.partners.alice]\nroutes = [{ to = \"bob\" }, { match = \"*.csv\", to = \"carol\" }]\n",
                &format!(
                    "[tenants.acme.partners.alice]\nrouter = \"{}\"\n\
                     params = {{ routes = \"* -> bob, carol\", transforms = \"{transforms}\" }}\n",
                    router.display()
                ),
            )
            .replace(
                "[tenants.acme.partners.bob]\n",
                "[tenants.acme.partners.bob]\npgp_key = \"bob.asc\"\n",
            )
    };
    env.write_config(&config("bob: encrypt"));
    let data = bytes(11, 50_000);
    env.put("alice", "orders.csv", &data).ok();
    let sealed = cat_bytes(&env, "bob", "/outbox/orders.csv.pgp");
    let file = env.path().join("orders.csv.pgp");
    std::fs::write(&file, sealed).unwrap();
    let opened = bob.run_ok(&["--decrypt", file.to_str().unwrap()]);
    assert_eq!(sha256_hex(&opened), sha256_hex(&data));
    assert_eq!(cat_bytes(&env, "carol", "/outbox/orders.csv"), data);

    // carol has no key: the file is quarantined, nothing delivered.
    env.write_config(&config("carol: encrypt"));
    env.put("alice", "more.csv", b"1\n").ok();
    let listed = env.ferry().args(["journal", "list"]).ok();
    let line = listed
        .lines()
        .find(|l| l.ends_with(" more.csv"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(line.contains("quarantined"), "{line}");
    let shown = env
        .ferry()
        .args(["journal", "show", line.split_whitespace().next().unwrap()])
        .ok();
    assert!(shown.contains("has no OpenPGP key"), "{shown}");
    assert!(!env.names("bob", "/outbox").contains(&"more.csv".to_owned()));
}
