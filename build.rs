//! Builds the example plugins in `plugins/` (their own workspace, for the
//! wasm32-wasip2 target) into `target/wasm/`, so that `cargo run` and
//! `cargo test` find them without a separate step. Cargo runs this again
//! only when something under `plugins/` or `wit/` changes.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=plugins");
    println!("cargo:rerun-if-changed=wit");
    println!("cargo:rerun-if-env-changed=FERRY_SKIP_PLUGINS");
    if std::env::var_os("FERRY_SKIP_PLUGINS").is_some() {
        return;
    }
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root.join("plugins"))
        .args(["build", "--release", "--locked"])
        // Settings of this build must not leak into the plugins' build.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env("CARGO_TARGET_DIR", root.join("target").join("wasm"))
        .status()
        .expect("running cargo to build the plugins");
    assert!(
        status.success(),
        "building the plugins in plugins/ failed (see above); \
         set FERRY_SKIP_PLUGINS=1 to build ferry without them"
    );
}
