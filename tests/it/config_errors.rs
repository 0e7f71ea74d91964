//! Every kind of configuration mistake, with a snapshot of the message an
//! operator sees: it must name the file, the line and the key.

use std::process::Command;

/// Runs `ferry check-config CASE` from the crate root, so paths in messages are stable.
fn check(case: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["check-config", &format!("tests/data/config/{case}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("FERRY_LOG", "off")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{case} was accepted");
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

macro_rules! cases {
    ($($name:ident => $file:literal,)*) => {$(
        #[test]
        fn $name() {
            let message = check($file);
            insta::assert_snapshot!(stringify!($name), message);
        }
    )*};
}

cases! {
    typo_key => "typo_key.toml",
    unknown_section => "unknown_section.toml",
    wrong_type => "wrong_type.toml",
    missing_data_dir => "missing_data_dir.toml",
    syntax_error => "syntax_error.toml",
    duplicate_key => "duplicate_key.toml",
    duplicate_login => "duplicate_login.toml",
    root_outside => "root_outside.toml",
    root_absolute => "root_absolute.toml",
    root_overlap => "root_overlap.toml",
    route_unknown_partner => "route_unknown_partner.toml",
    bad_glob => "bad_glob.toml",
    bad_template => "bad_template.toml",
    bad_password_hash => "bad_password_hash.toml",
    bad_ssh_key => "bad_ssh_key.toml",
    no_credentials => "no_credentials.toml",
    bad_token => "bad_token.toml",
    bad_names => "bad_names.toml",
    bad_listener => "bad_listener.toml",
    bad_ftp_listener => "bad_ftp_listener.toml",
    bad_size => "bad_size.toml",
    tenant_defined_twice => "tenants_dup/ferry.toml",
    tenant_file_typo => "tenant_file_typo/ferry.toml",
    missing_tenants_dir => "missing_tenants_dir.toml",
    missing_file => "no-such-file.toml",
    retention_zero => "retention_zero.toml",
    bad_require_and_completion => "bad_require.toml",
    bad_admin => "bad_admin.toml",
    admin_without_token => "admin_without_token.toml",
    same_tokens => "same_tokens.toml",
    bad_allow_from => "bad_allow_from.toml",
    bad_limits => "bad_limits.toml",
    bad_journal => "bad_journal.toml",
    bad_store => "bad_store.toml",
    store_section_alone => "store_section_alone.toml",
    store_half_credentials => "store_half_credentials.toml",
    journal_without_key => "journal_without_key.toml",
}

/// Every located message carries `FILE:LINE:COLUMN: `KEY`:`.
#[test]
fn every_problem_is_located() {
    for case in [
        "typo_key.toml",
        "duplicate_login.toml",
        "bad_listener.toml",
        "tenant_file_typo/ferry.toml",
    ] {
        let message = check(case);
        let problems: Vec<&str> = message
            .lines()
            .filter(|l| l.starts_with("  tests/"))
            .collect();
        assert!(
            !problems.is_empty(),
            "{case}: no located problem in {message}"
        );
        for line in problems {
            let mut parts = line.trim().splitn(4, ':');
            let file = parts.next().unwrap();
            let line_no: usize = parts.next().unwrap().parse().expect("a line number");
            let column: usize = parts.next().unwrap().parse().expect("a column");
            assert!(
                file.ends_with(".toml") && line_no > 0 && column > 0,
                "{line}"
            );
            assert!(
                parts.next().unwrap().trim_start().starts_with('`'),
                "no key in {line}"
            );
        }
    }
}

#[test]
fn the_quickstart_is_valid() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["check-config", "examples/quickstart/ferry.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 tenant, 2 partners"));
}
