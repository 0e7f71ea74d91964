//! `ferry plugin new` and `ferry plugin build`: a generated project builds
//! as it is, for every role, into a component the runner takes; a broken
//! one says which step failed.

use crate::util::Env;

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
