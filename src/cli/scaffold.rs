//! `ferry plugin new` and `ferry plugin build`: a plugin project that
//! builds as it is, and its build into a checked component.
//!
//! A Rust project is a small workspace of its own, with copies of ferry's
//! WIT files and of the plugin SDK (`plugins/sdk`) as this ferry has them,
//! so that it builds anywhere, without ferry's repository:
//!
//! ```text
//! DIR/Cargo.toml             the workspace (release profile for small plugins)
//! DIR/rust-toolchain.toml    ferry's toolchain, with the wasm32-wasip2 target
//! DIR/.cargo/config.toml     target = "wasm32-wasip2"
//! DIR/wit/ferry-plugin.wit   the worlds
//! DIR/crates/sdk/            the SDK (its macros find ../../wit from here)
//! DIR/crates/plugin/src/lib.rs   the plugin: the file to change
//! DIR/fixtures/sample.csv    a file to run it on (`ferry plugin run`)
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

use crate::plugin::{PluginEngine, Role};

#[derive(Clone, Copy, ValueEnum)]
pub enum Lang {
    Rust,
}

#[derive(Args)]
pub struct NewArgs {
    /// The project's directory (made; must not exist or be empty).
    dir: PathBuf,
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    #[arg(long)]
    role: Role,
}

#[derive(Args)]
pub struct BuildArgs {
    /// A project made by `ferry plugin new`.
    dir: PathBuf,
}

const WIT: &str = include_str!("../../wit/ferry-plugin.wit");
const SDK: &str = include_str!("../../plugins/sdk/src/lib.rs");
const TOOLCHAIN: &str = include_str!("../../rust-toolchain.toml");

fn template(role: Role) -> &'static str {
    match role {
        Role::Validator => include_str!("scaffold/validator.rs.txt"),
        Role::Router => include_str!("scaffold/router.rs.txt"),
        Role::Acknowledger => include_str!("scaffold/acknowledger.rs.txt"),
    }
}

/// The crate's name from the directory's: lowercase letters, digits and
/// dashes.
fn crate_name(dir: &Path) -> String {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let name = name.trim_matches('-').to_owned();
    match name.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => name,
        _ => format!("plugin-{name}").trim_end_matches('-').to_owned(),
    }
}

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} exists and is not empty: choose a new directory",
            dir.display()
        );
    }
    let Lang::Rust = args.lang;
    let name = crate_name(dir);
    let role = args.role;
    let files: Vec<(&str, String)> = vec![
        (
            "Cargo.toml",
            format!(
                "# A ferry {role} plugin. Build it with `ferry plugin build .`\n\
                 # (or `cargo build --release`): the component is\n\
                 # target/wasm32-wasip2/release/{file}.wasm.\n\
                 [workspace]\nresolver = \"3\"\nmembers = [\"crates/plugin\", \"crates/sdk\"]\n\n\
                 [workspace.package]\nedition = \"2024\"\nversion = \"0.1.0\"\n\n\
                 [workspace.dependencies]\nwit-bindgen = \"0.61\"\nferry-plugin = {{ path = \"crates/sdk\" }}\n\n\
                 [profile.release]\n# Small plugins compile and load fast.\nopt-level = \"s\"\nlto = true\n\
                 codegen-units = 1\npanic = \"abort\"\nstrip = \"debuginfo\"\n",
                file = name.replace('-', "_")
            ),
        ),
        ("rust-toolchain.toml", TOOLCHAIN.to_owned()),
        (
            ".cargo/config.toml",
            "[build]\ntarget = \"wasm32-wasip2\"\n".to_owned(),
        ),
        ("wit/ferry-plugin.wit", WIT.to_owned()),
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
        ("fixtures/sample.csv", "id,amount\n1,12.50\n2,7.00\n".to_owned()),
        (
            ".gitignore",
            "/target\n".to_owned(),
        ),
        (
            "README.md",
            format!(
                "# {name}: a ferry {role} plugin\n\n\
                 Change `crates/plugin/src/lib.rs`, then:\n\n\
                 ```sh\n\
                 ferry plugin build .                      # the component's path is the last line\n\
                 ferry plugin run target/wasm32-wasip2/release/{file}.wasm --role {role} --file fixtures/sample.csv\n\
                 ferry plugin upload target/wasm32-wasip2/release/{file}.wasm --tenant T --partner P --role {role}\n\
                 ```\n",
                file = name.replace('-', "_")
            ),
        ),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("making {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "a {role} plugin in Rust in {}: change crates/plugin/src/lib.rs, then `ferry plugin build {}`",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    let manifest = dir.join("crates/plugin/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| {
        format!(
            "{} is not a project `ferry plugin new` made (no crates/plugin/Cargo.toml)",
            dir.display()
        )
    })?;
    let name = text
        .lines()
        .find_map(|l| l.strip_prefix("name = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .context("crates/plugin/Cargo.toml has no package name")?
        .replace('-', "_");
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
    )?;
    let wasm = dir.join(format!("target/wasm32-wasip2/release/{name}.wasm"));
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let roles = PluginEngine::new(None)?
        .roles(&bytes)
        .context("checking the component against ferry's worlds")?;
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    eprintln!("implements {} ({} bytes)", names.join(", "), bytes.len());
    println!("{}", std::path::absolute(&wasm).unwrap_or(wasm).display());
    Ok(ExitCode::SUCCESS)
}

/// Runs one step of a build with its output shown as it is; says which
/// step failed.
fn step(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("{what}: cannot start it"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crate_names_come_from_the_directory() {
        assert_eq!(crate_name(Path::new("/tmp/Acme CSV")), "acme-csv");
        assert_eq!(crate_name(Path::new("x/2024")), "plugin-2024");
        assert_eq!(crate_name(Path::new("x/_")), "plugin");
    }
}
