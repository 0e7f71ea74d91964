//! A plugin project in Rust: a small workspace of its own.
//!
//! ```text
//! DIR/ferry-plugin.toml      name, lang, role, the tests
//! DIR/Cargo.toml             the workspace (release profile for small plugins)
//! DIR/rust-toolchain.toml    ferry's toolchain, with the wasm32-wasip2 target
//! DIR/.cargo/config.toml     target = "wasm32-wasip2"
//! DIR/wit/ferry-plugin.wit   the worlds
//! DIR/crates/sdk/            the SDK (its macros find ../../wit from here)
//! DIR/crates/plugin/src/lib.rs   the plugin: the file to change
//! DIR/fixtures/sample.csv    a file the tests run it on
//! ```

use std::collections::BTreeMap;
use std::process::Command;

use super::{Lang, Project, readme, step};
use crate::plugin::Role;

const SDK: &str = include_str!("../../../plugins/sdk/src/lib.rs");
const TOOLCHAIN: &str = include_str!("../../../rust-toolchain.toml");

fn template(role: Role) -> &'static str {
    match role {
        Role::Validator => include_str!("templates/validator.rs.txt"),
        Role::Router => include_str!("templates/router.rs.txt"),
        Role::Acknowledger => include_str!("templates/acknowledger.rs.txt"),
    }
}

pub(super) fn files(name: &str, role: Role) -> BTreeMap<String, String> {
    let file = name.replace('-', "_");
    let component = format!("target/wasm32-wasip2/release/{file}.wasm");
    [
        (
            "Cargo.toml",
            format!(
                "# A ferry {role} plugin. Build it with `ferry plugin build .`\n\
                 # (or `cargo build --release`): the component is\n\
                 # {component}.\n\
                 [workspace]\nresolver = \"3\"\nmembers = [\"crates/plugin\", \"crates/sdk\"]\n\n\
                 [workspace.package]\nedition = \"2024\"\nversion = \"0.1.0\"\n\n\
                 [workspace.dependencies]\nwit-bindgen = \"0.61\"\nferry-plugin = {{ path = \"crates/sdk\" }}\n\n\
                 [profile.release]\n# Small plugins compile and load fast.\nopt-level = \"s\"\nlto = true\n\
                 codegen-units = 1\npanic = \"abort\"\nstrip = \"debuginfo\"\n"
            ),
        ),
        ("rust-toolchain.toml", TOOLCHAIN.to_owned()),
        (
            ".cargo/config.toml",
            "[build]\ntarget = \"wasm32-wasip2\"\n".to_owned(),
        ),
        (
            "crates/sdk/Cargo.toml",
            "[package]\nname = \"ferry-plugin\"\ndescription = \"Write ferry plugins in a few lines of Rust (a copy of ferry's plugins/sdk)\"\n\
             edition.workspace = true\nversion.workspace = true\npublish = false\n\n\
             [dependencies]\nwit-bindgen.workspace = true\n"
                .to_owned(),
        ),
        ("crates/sdk/src/lib.rs", SDK.to_owned()),
        (
            "crates/plugin/Cargo.toml",
            format!(
                "[package]\nname = \"{name}\"\nedition.workspace = true\nversion.workspace = true\npublish = false\n\n\
                 [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nferry-plugin.workspace = true\n"
            ),
        ),
        ("crates/plugin/src/lib.rs", template(role).to_owned()),
        (".gitignore", "/target\n".to_owned()),
        (
            "README.md",
            readme(name, role, Lang::Rust, "crates/plugin/src/lib.rs", &component),
        ),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_owned(), text))
    .collect()
}

/// `cargo build --release` for wasm32-wasip2, adding the target first when
/// the toolchain lacks it.
pub(super) fn build(project: &Project) -> anyhow::Result<()> {
    let dir = &project.dir;
    // rustup adds the target named in rust-toolchain.toml when it installs
    // the toolchain, not when the toolchain is already there.
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .output();
    if let Ok(out) = installed
        && !String::from_utf8_lossy(&out.stdout).contains("wasm32-wasip2")
    {
        step(
            Command::new("rustup")
                .args(["target", "add", "wasm32-wasip2"])
                .current_dir(dir),
            "adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)",
        )?;
    }
    step(
        Command::new("cargo")
            .args(["build", "--release"])
            .current_dir(dir)
            .env_remove("CARGO_TARGET_DIR"),
        "building the plugin (cargo build --release)",
    )
}
