//! A plugin project in Python, built with componentize-py.
//!
//! ```text
//! DIR/ferry-plugin.toml      name, lang, role, the tests
//! DIR/app.py                 the plugin: the file to change
//! DIR/ferry_plugin.py        the SDK (a copy of ferry's plugins/python-sdk)
//! DIR/wit/ferry-plugin.wit   the worlds
//! DIR/fixtures/sample.csv    a file the tests run it on
//! DIR/build/NAME.wasm        the component, once built
//! ```
//!
//! componentize-py compiles CPython and the project's modules into one
//! component and runs their top level at build time, so that the snapshot
//! a call starts from has the modules imported already: a fresh instance
//! per call costs the copy-on-write mapping of that memory image, not an
//! interpreter's start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::Context as _;

use super::{Lang, Project, readme, step};
use crate::plugin::Role;

/// The version ferry is tested with; installed when none is found.
pub const COMPONENTIZE_PY: &str = "0.25.1";

const SDK: &str = include_str!("../../../plugins/python-sdk/ferry_plugin.py");

fn template(role: Role) -> &'static str {
    match role {
        Role::Validator => include_str!("templates/validator.py.txt"),
        Role::Router => include_str!("templates/router.py.txt"),
        Role::Acknowledger => include_str!("templates/acknowledger.py.txt"),
    }
}

pub(super) fn files(name: &str, role: Role) -> BTreeMap<String, String> {
    let component = format!("build/{}.wasm", name.replace('-', "_"));
    [
        ("app.py", template(role).to_owned()),
        ("ferry_plugin.py", SDK.to_owned()),
        (".gitignore", "/build\n__pycache__/\n".to_owned()),
        (
            "README.md",
            readme(name, role, Lang::Python, "app.py", &component),
        ),
    ]
    .into_iter()
    .map(|(path, text)| (path.to_owned(), text))
    .collect()
}

/// `componentize-py` against the project's WIT file and its role's world,
/// installed with pip first when it is not found.
pub(super) fn build(project: &Project) -> anyhow::Result<()> {
    let tool = match find() {
        Some(tool) => tool,
        None => {
            install()?;
            find().with_context(|| {
                format!(
                    "componentize-py {COMPONENTIZE_PY} was installed but is not on PATH \
                     nor in Python's scripts folders: add the folder pip names above to PATH"
                )
            })?
        }
    };
    // The tool runs in the project's folder: the output's path must not be
    // relative to the caller's.
    let out = std::path::absolute(project.component())?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("making {}", parent.display()))?;
    }
    let mut command = Command::new(&tool);
    command
        .current_dir(&project.dir)
        .arg("-d")
        .arg(&project.manifest.wit)
        .args(["-w", project.manifest.role.as_str()])
        .args(["componentize", "app", "-p", "."]);
    for path in &project.manifest.python_path {
        command.arg("-p").arg(path);
    }
    command.arg("-o").arg(&out);
    step(
        &mut command,
        &format!("building the plugin ({} componentize app)", tool.display()),
    )
}

/// componentize-py on PATH, or where pip puts scripts for this user or
/// for the Python installation.
fn find() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts')); \
             print(sysconfig.get_path('scripts', sysconfig.get_preferred_scheme('user')))",
        ])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .chain(scripts)
        .map(|dir| dir.join("componentize-py"))
        .find(|tool| tool.is_file())
}

/// `pip install componentize-py==VERSION`: into the Python installation
/// when it is the user's own (pyenv, a virtual environment), else for the
/// user; a Debian-managed Python (PEP 668) needs `--break-system-packages`
/// for that, which touches only the user's folder.
fn install() -> anyhow::Result<()> {
    let package = format!("componentize-py=={COMPONENTIZE_PY}");
    eprintln!("componentize-py is not installed: installing {package} with pip");
    let attempts: [&[&str]; 3] = [&[], &["--user"], &["--user", "--break-system-packages"]];
    let mut last = None;
    for extra in attempts {
        let mut command = Command::new("python3");
        command
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(extra)
            .arg(&package);
        match step(
            &mut command,
            &format!(
                "installing componentize-py (python3 -m pip install {}{package})",
                extra.iter().map(|a| format!("{a} ")).collect::<String>()
            ),
        ) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("three attempts"))
}
