//! Builds the example plugins in `plugins/` (their own workspace, for the
//! wasm32-wasip2 target) into `target/wasm/`, so that `cargo run` and
//! `cargo test` find them without a separate step. Cargo runs this again
//! only when something under `plugins/` or `wit/` changes, or when the
//! toolchain's wasm32-wasip2 target is not (or no longer) installed.
//!
//! A machine that has the pinned toolchain but not its wasm32-wasip2
//! target (rustup installs a toolchain's targets only when it installs the
//! toolchain itself) gets the target here, through `rustup`, with one line
//! saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    println!("cargo:rerun-if-changed=plugins");
    println!("cargo:rerun-if-changed=wit");
    println!("cargo:rerun-if-env-changed=FERRY_SKIP_PLUGINS");
    if std::env::var_os("FERRY_SKIP_PLUGINS").is_some() {
        return;
    }
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_target();
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

/// Installs the wasm32-wasip2 target of the toolchain that runs this build
/// when it is missing, and asks cargo to run this script again should the
/// target disappear.
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let Some(sysroot) = sysroot else {
        // Not a rustc that can say where it lives: the plugins' build will
        // say what is wrong.
        return;
    };
    let installed = sysroot.join("lib/rustlib").join(TARGET);
    println!("cargo:rerun-if-changed={}", installed.display());
    if installed.is_dir() {
        return;
    }
    let rustup_found = Command::new("rustup")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !rustup_found {
        fail(&installed, "rustup is not installed");
    }
    let toolchain = std::env::var("RUSTUP_TOOLCHAIN").ok();
    println!(
        "cargo:warning=installing the {TARGET} target{} with rustup, to build the plugins in plugins/",
        toolchain
            .as_deref()
            .map(|t| format!(" of toolchain {t}"))
            .unwrap_or_default()
    );
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = &toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    match rustup.status() {
        Ok(status) if status.success() && installed.is_dir() => {}
        _ => fail(&installed, "`rustup target add` failed (see above)"),
    }
}

fn fail(installed: &Path, why: &str) -> ! {
    panic!(
        "the plugins in plugins/ need the {TARGET} target, missing from {}: {why}; \
         run `rustup target add {TARGET}` (rustup: https://rustup.rs), \
         or set FERRY_SKIP_PLUGINS=1 to build ferry without the plugins",
        installed.parent().map_or(installed, |p| p).display()
    );
}
