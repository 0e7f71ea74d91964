//! `ferry plugin new`, `ferry plugin build` and `ferry plugin run DIR`: a
//! generated project, in Rust or in Python, builds as it is into a
//! component the runner takes and passes its own tests; a broken one says
//! which step failed.

use crate::util::Env;

/// The output of a command, both streams, for messages.
fn both(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A router project: built, its path the last line of the output, checked
/// against its world; run on the generated fixture it holds the file, and
/// with the `to` parameter delivers it. Broken, the build says it was the
/// compiler's step and shows the compiler's error.
#[test]
fn a_generated_router_builds_and_decides() {
    let env = Env::new();
    let dir = env.path().join("acme-router");
    let made = env
        .ferry()
        .args(["plugin", "new", "acme-router", "--role", "router"])
        .ok();
    assert!(made.contains("router plugin in Rust"), "{made}");
    for file in [
        "Cargo.toml",
        "crates/plugin/src/lib.rs",
        "fixtures/sample.csv",
        "wit/ferry-plugin.wit",
    ] {
        assert!(dir.join(file).is_file(), "no {file}");
    }
    let again = env
        .ferry()
        .args(["plugin", "new", "acme-router", "--role", "router"])
        .fails();
    assert!(again.contains("not empty"), "{again}");

    let built = env.ferry().args(["plugin", "build", "acme-router"]).ok();
    let wasm = built.lines().last().unwrap_or_default().to_owned();
    assert!(wasm.ends_with("acme_router.wasm"), "{built}");
    assert!(std::path::Path::new(&wasm).is_file(), "{wasm}");

    let run = |params: &[&str]| {
        env.ferry()
            .args(["plugin", "run", &wasm, "--role", "router", "--file"])
            .arg(dir.join("fixtures/sample.csv"))
            .args(params)
            .ok()
    };
    let tested = env.ferry().args(["plugin", "run", "acme-router"]).ok();
    assert!(tested.contains("2 passed, 0 failed"), "{tested}");
    let held = run(&[]);
    assert!(held.contains("\"hold\""), "{held}");
    let sent = run(&["--param", "to=bob"]);
    assert!(sent.contains("\"to\":\"bob\""), "{sent}");

    std::fs::write(dir.join("crates/plugin/src/lib.rs"), "this is not Rust").unwrap();
    let failed = env.ferry().args(["plugin", "build", "acme-router"]).fails();
    assert!(
        failed.contains("building the plugin (cargo build --release) failed"),
        "{failed}"
    );
}

/// A Python validator from `new` to `build` to `run`: the project passes
/// its generated test; changed to reject, its test fails and says how;
/// broken, the build names componentize-py's step and shows Python's error.
#[test]
fn a_python_validator_goes_from_new_to_build_to_run() {
    let env = Env::new();
    let dir = env.path().join("acme-csv");
    let made = env
        .ferry()
        .args([
            "plugin",
            "new",
            "acme-csv",
            "--lang",
            "python",
            "--role",
            "validator",
        ])
        .ok();
    assert!(made.contains("validator plugin in Python"), "{made}");
    for file in [
        "ferry-plugin.toml",
        "app.py",
        "ferry_plugin.py",
        "wit/ferry-plugin.wit",
        "fixtures/sample.csv",
    ] {
        assert!(dir.join(file).is_file(), "no {file}");
    }

    let built = env.ferry().args(["plugin", "build", "acme-csv"]).ok();
    let wasm = built.lines().last().unwrap_or_default().to_owned();
    assert!(wasm.ends_with("build/acme_csv.wasm"), "{built}");
    let tested = env.ferry().args(["plugin", "run", "acme-csv"]).ok();
    assert!(tested.contains("ok    the sample is accepted"), "{tested}");
    assert!(tested.contains("1 passed, 0 failed"), "{tested}");
    // One file, the project's role, and the log line the template writes.
    let one = env
        .ferry()
        .args([
            "plugin",
            "run",
            "acme-csv",
            "--file",
            "acme-csv/fixtures/sample.csv",
        ])
        .ok();
    assert!(one.contains("validating sample.csv (25 bytes)"), "{one}");

    let app = dir.join("app.py");
    let source = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        source
            .replace(
                "from ferry_plugin import FileInfo, Verdict, accept, info",
                "from ferry_plugin import FileInfo, Verdict, info, reject",
            )
            .replace(
                "return accept()",
                "return reject(f\"{file.name}: not today\")",
            ),
    )
    .unwrap();
    env.ferry().args(["plugin", "build", "acme-csv"]).ok();
    let out = env.ferry().args(["plugin", "run", "acme-csv"]).run();
    assert!(!out.status.success(), "{}", both(&out));
    let text = both(&out);
    assert!(text.contains("FAIL  the sample is accepted"), "{text}");
    assert!(text.contains("sample.csv: not today"), "{text}");

    std::fs::write(&app, "this is not Python(\n").unwrap();
    let out = env.ferry().args(["plugin", "build", "acme-csv"]).run();
    assert!(!out.status.success());
    let text = both(&out);
    assert!(text.contains("componentize app) failed"), "{text}");
    assert!(text.contains("SyntaxError"), "{text}");
}

/// Python routers and acknowledgers as generated build and pass their
/// tests: the router holds without `to` and delivers with it, the
/// acknowledger writes a receipt for the sender.
#[test]
fn python_routers_and_acknowledgers_build_and_pass_their_tests() {
    let env = Env::new();
    for (dir, role, passed) in [
        ("routes", "router", "2 passed, 0 failed"),
        ("receipts", "acknowledger", "2 passed, 0 failed"),
    ] {
        env.ferry()
            .args(["plugin", "new", dir, "--lang", "python", "--role", role])
            .ok();
        env.ferry().args(["plugin", "build", dir]).ok();
        let tested = env.ferry().args(["plugin", "run", dir]).ok();
        assert!(tested.contains(passed), "{role}: {tested}");
    }
}
