//! `ferry plugin new` and `ferry plugin build`: a plugin project that
//! builds as it is, in Rust or in Python, and its build into a checked
//! component; `ferry plugin run DIR` runs the project's tests (`cases`).
//!
//! Every project has a manifest, `ferry-plugin.toml`: its name, language
//! and role, and the tests `ferry plugin run` runs. The rest depends on the
//! language (`rust.rs`, `python.rs`); both carry copies of ferry's WIT file
//! and of the guest SDK as this ferry has them, so that a project builds
//! anywhere, without ferry's repository.

mod cases;
mod python;
mod rust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::plugin::{PluginEngine, Role};

pub use cases::run_tests;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    Python,
}

impl Lang {
    fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
        }
    }
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

/// The manifest's file name, at the top of a project.
pub const MANIFEST: &str = "ferry-plugin.toml";

const WIT: &str = include_str!("../../../wit/ferry-plugin.wit");

/// `ferry-plugin.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Lowercase letters, digits and dashes; the component is `NAME.wasm`
    /// with dashes as underscores.
    pub name: String,
    pub lang: Lang,
    #[serde(deserialize_with = "role")]
    pub role: Role,
    /// The folder of the WIT files, relative to the project (Python only;
    /// a Rust project's SDK finds them itself).
    #[serde(default = "default_wit")]
    pub wit: PathBuf,
    /// More folders of Python modules, relative to the project (Python only).
    #[serde(default)]
    pub python_path: Vec<PathBuf>,
    /// What `ferry plugin run DIR` runs.
    #[serde(default, rename = "test")]
    pub tests: Vec<cases::Case>,
}

fn default_wit() -> PathBuf {
    PathBuf::from("wit")
}

fn role<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(serde::de::Error::custom)
}

/// A project `ferry plugin new` made, found by its manifest.
pub struct Project {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Project {
    pub fn open(dir: &Path) -> anyhow::Result<Project> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is not a plugin project: no {MANIFEST} (`ferry plugin new` makes one)",
                dir.display()
            )
        })?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Project {
            dir: dir.to_owned(),
            manifest,
        })
    }

    /// The built component's file name.
    fn file_name(&self) -> String {
        format!("{}.wasm", self.manifest.name.replace('-', "_"))
    }

    /// Where the build leaves the component.
    pub fn component(&self) -> PathBuf {
        match self.manifest.lang {
            Lang::Rust => self
                .dir
                .join("target/wasm32-wasip2/release")
                .join(self.file_name()),
            Lang::Python => self.dir.join("build").join(self.file_name()),
        }
    }

    /// An engine whose compile cache is kept with the build's output, so
    /// that `run` after `build` does not compile the component again (a
    /// Python component is 18 MB of code: seconds to compile).
    pub fn engine(&self) -> anyhow::Result<PluginEngine> {
        let out = match self.manifest.lang {
            Lang::Rust => "target",
            Lang::Python => "build",
        };
        Ok(PluginEngine::new(Some(
            &self.dir.join(out).join("ferry-cache"),
        ))?)
    }
}

/// The project's name from the directory's: lowercase letters, digits and
/// dashes, starting with a letter.
fn project_name(dir: &Path) -> String {
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
    let (dir, role, lang) = (&args.dir, args.role, args.lang);
    new_project(dir, lang, role)?;
    let source = match lang {
        Lang::Rust => "crates/plugin/src/lib.rs",
        Lang::Python => "app.py",
    };
    println!(
        "a {role} plugin in {} in {}: change {source}, then `ferry plugin build {}` and `ferry plugin run {}`",
        lang.as_str(),
        dir.display(),
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes a new project into `dir` (made; it must not exist or be empty).
pub fn new_project(dir: &Path, lang: Lang, role: Role) -> anyhow::Result<()> {
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
    let name = project_name(dir);
    let mut files: BTreeMap<String, String> = match lang {
        Lang::Rust => rust::files(&name, role),
        Lang::Python => python::files(&name, role),
    };
    let tests = match role {
        Role::Validator => include_str!("templates/validator.toml.txt"),
        Role::Router => include_str!("templates/router.toml.txt"),
        Role::Acknowledger => include_str!("templates/acknowledger.toml.txt"),
    };
    files.insert(
        MANIFEST.into(),
        format!(
            "# A ferry {role} plugin in {}: `ferry plugin build .` builds it,\n\
             # `ferry plugin run .` runs its tests.\n\
             name = \"{name}\"\nlang = \"{}\"\nrole = \"{role}\"\n{tests}",
            lang.as_str(),
            lang.as_str().to_lowercase(),
        ),
    );
    files.insert("wit/ferry-plugin.wit".into(), WIT.into());
    files.insert(
        "fixtures/sample.csv".into(),
        "id,amount\n1,12.50\n2,7.00\n".into(),
    );
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("making {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The README of a new project: the loop of change, build, run, upload.
fn readme(name: &str, role: Role, lang: Lang, source: &str, component: &str) -> String {
    format!(
        "# {name}: a ferry {role} plugin in {lang}\n\n\
         Change `{source}`, add cases to `ferry-plugin.toml`, then:\n\n\
         ```sh\n\
         ferry plugin build .      # the component's path is the last line\n\
         ferry plugin run .        # the tests of ferry-plugin.toml\n\
         ferry plugin run . --file some-file.csv --param NAME=VALUE\n\
         ferry plugin upload {component} --tenant T --partner P --role {role}\n\
         ferry plugin activate SHA256 --tenant T --partner P --role {role}\n\
         ```\n",
        lang = lang.as_str(),
    )
}

pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let wasm = build_project(&args.dir)?;
    println!("{}", wasm.display());
    Ok(ExitCode::SUCCESS)
}

/// Builds a project and checks the component against its world; answers
/// the component's absolute path.
pub fn build_project(dir: &Path) -> anyhow::Result<PathBuf> {
    let project = Project::open(dir)?;
    match project.manifest.lang {
        Lang::Rust => rust::build(&project)?,
        Lang::Python => python::build(&project)?,
    }
    let wasm = project.component();
    let bytes = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let role = project.manifest.role;
    project
        .engine()?
        .load(&bytes, role)
        .with_context(|| format!("checking the component against ferry's {role} world"))?;
    eprintln!("implements {role} ({} bytes)", bytes.len());
    Ok(std::path::absolute(&wasm).unwrap_or(wasm))
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
    fn project_names_come_from_the_directory() {
        assert_eq!(project_name(Path::new("/tmp/Acme CSV")), "acme-csv");
        assert_eq!(project_name(Path::new("x/2024")), "plugin-2024");
        assert_eq!(project_name(Path::new("x/_")), "plugin");
    }

    #[test]
    fn every_generated_manifest_reads_back() {
        for lang in [Lang::Rust, Lang::Python] {
            for role in Role::ALL {
                let dir = std::env::temp_dir().join(format!(
                    "ferry-scaffold-{}-{role}-{}",
                    lang.as_str(),
                    std::process::id()
                ));
                let _ = std::fs::remove_dir_all(&dir);
                new_project(&dir, lang, role).unwrap();
                let project = Project::open(&dir).unwrap();
                assert_eq!(project.manifest.role, role);
                assert_eq!(project.manifest.lang, lang);
                assert!(!project.manifest.tests.is_empty());
                for case in &project.manifest.tests {
                    assert!(dir.join(&case.file).is_file(), "{}", case.file.display());
                }
                std::fs::remove_dir_all(&dir).unwrap();
            }
        }
    }
}
