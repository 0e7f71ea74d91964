//! Tidy: the invariants ARCHITECTURE.md states about the code itself,
//! checked by reading the source (as rust-analyzer's `tidy.rs` does), so
//! that a change that breaks one fails the test command the day it is
//! made. Each check names the file and line, and says what to do instead.

use std::path::{Path, PathBuf};

/// Files longer than this are split (one concern per file).
const MAX_LINES: usize = 1000;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir` (relative to the repository), sorted.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join(dir), &mut found);
    found.sort();
    assert!(!found.is_empty(), "no Rust files under {dir}");
    found
}

/// `path` relative to the repository, with `/` separators.
fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// The lines of a file that are code: comments and the text of string
/// literals on their own lines are not, so that a comment may name what
/// the code must not do.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| {
            let trimmed = line.trim_start();
            !trimmed.starts_with("//") && !trimmed.starts_with('"')
        })
        .map(|(n, line)| (n, line.split(" // ").next().unwrap_or(line)))
}

/// Collects the breaches of one check and fails with all of them.
struct Breaches(Vec<String>);

impl Breaches {
    fn new() -> Breaches {
        Breaches(Vec::new())
    }

    fn add(&mut self, path: &Path, line: usize, what: &str) {
        self.0.push(format!("{}:{line}: {what}", relative(path)));
    }

    #[track_caller]
    fn check(self, rule: &str) {
        assert!(self.0.is_empty(), "{rule}:\n{}", self.0.join("\n"));
    }
}

#[test]
fn no_file_is_over_a_thousand_lines() {
    let mut breaches = Breaches::new();
    for dir in ["src", "tests", "benches"] {
        for path in rust_files(dir) {
            let lines = std::fs::read_to_string(&path).unwrap().lines().count();
            if lines > MAX_LINES {
                breaches.add(&path, lines, &format!("{lines} lines"));
            }
        }
    }
    breaches.check("files over 1,000 lines: split them by concern");
}

#[test]
fn protocols_never_touch_the_file_system() {
    let mut breaches = Breaches::new();
    for path in rust_files("src/protocols") {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in code_lines(&text) {
            for forbidden in [
                "std::fs",
                "tokio::fs",
                "File::open",
                "File::create",
                "cap_std",
            ] {
                if line.contains(forbidden) {
                    breaches.add(&path, n, forbidden);
                }
            }
        }
    }
    breaches.check(
        "the protocols receive what they serve from `tenant` (files) and `secrets` \
         (keys, certificates); they never open a file",
    );
}

#[test]
fn anyhow_only_at_the_edge() {
    let mut breaches = Breaches::new();
    for path in rust_files("src") {
        let name = relative(&path);
        if name == "src/main.rs" || name.starts_with("src/cli/") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in code_lines(&text) {
            if line.contains("anyhow") {
                breaches.add(&path, n, "anyhow");
            }
        }
    }
    breaches.check(
        "anyhow belongs to main.rs and cli/ only: inside modules, errors are typed \
         (thiserror) with a kind that maps to a protocol status",
    );
}

#[test]
fn nothing_is_left_to_do_on_a_reachable_path() {
    let mut breaches = Breaches::new();
    for dir in ["src", "tests"] {
        for path in rust_files(dir) {
            if relative(&path) == "tests/it/tidy.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in code_lines(&text) {
                for forbidden in ["todo!(", "unimplemented!(", "dbg!("] {
                    if line.contains(forbidden) {
                        breaches.add(&path, n, forbidden);
                    }
                }
            }
        }
    }
    breaches.check("unfinished code");
}

#[test]
fn global_state_says_why_it_is_global() {
    let mut breaches = Breaches::new();
    for path in rust_files("src") {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let declares = [
                "static ",
                "pub static ",
                "pub(crate) static ",
                "thread_local!",
            ]
            .iter()
            .any(|start| trimmed.starts_with(start));
            if !declares {
                continue;
            }
            // The comment just above (doc comments included) must say
            // whose state it is.
            let said = lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.trim_start().starts_with("//"))
                .any(|l| {
                    ["Process-wide:", "Per thread:", "per tenant", "by tenant"]
                        .iter()
                        .any(|why| l.contains(why))
                });
            // A thread_local! block's statics are covered by its comment.
            let in_thread_local = i > 0
                && lines[..i]
                    .iter()
                    .rev()
                    .take(3)
                    .any(|l| l.contains("thread_local!"));
            if !said && !in_thread_local {
                breaches.add(&path, i + 1, trimmed);
            }
        }
    }
    breaches.check(
        "global state must be keyed by tenant, or its comment must say why not \
         (`// Process-wide: ...` or `// Per thread: ...` just above it)",
    );
}

#[test]
fn the_fuzz_harnesses_are_not_in_the_shipped_binary() {
    let lib = root().join("src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "pub mod fuzzing;")
        .expect("src/lib.rs declares `pub mod fuzzing;`");
    assert!(
        lines[..at]
            .iter()
            .rev()
            .take(3)
            .any(|l| l.contains(r#"#[cfg(any(test, feature = "fuzzing"))]"#)),
        "src/lib.rs:{}: `fuzzing` must be compiled only for tests and the `fuzzing` feature",
        at + 1
    );
}

#[test]
fn the_journal_does_not_expose_its_database() {
    let mut breaches = Breaches::new();
    let path = root().join("src/journal/mod.rs");
    let text = std::fs::read_to_string(&path).unwrap();
    for (n, line) in code_lines(&text) {
        if line.contains("rusqlite") {
            breaches.add(&path, n, "rusqlite");
        }
    }
    breaches.check(
        "the journal's interface (journal/mod.rs) names no database crate: a second \
         backend implements the same traits and errors",
    );
}

#[test]
fn every_module_is_on_the_code_map() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("src")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name == "lib.rs" || name == "main.rs" {
            continue;
        }
        if !map.contains(&format!("### `src/{name}`")) {
            missing.push(format!("src/{name}"));
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "modules with no section in ARCHITECTURE.md's code map: {missing:?}"
    );
}

#[test]
fn the_pipeline_and_the_plugins_do_not_use_the_hub() {
    let mut breaches = Breaches::new();
    for (dir, forbidden) in [
        ("src/pipeline", &["crate::tenant", "crate::plugin"][..]),
        ("src/plugin", &["crate::tenant"][..]),
        // Connectors know remote servers; pulling into mailboxes is the poller's.
        ("src/connectors", &["crate::tenant", "crate::poller"][..]),
        // The tenant's operations wake the pipeline when they queue work.
        ("src/protocols", &["hub.notify()", ".notify();"][..]),
    ] {
        for path in rust_files(dir) {
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in code_lines(&text) {
                for module in forbidden {
                    if line.contains(module) {
                        breaches.add(&path, n, module);
                    }
                }
            }
        }
    }
    breaches.check(
        "module cycles: `tenant` uses `pipeline` and `plugin`, not the other way round \
         (`plugin` implements `pipeline`'s traits; the hub hands both what they need); \
         `pipeline` uses `connectors`, which must not use `tenant` or `poller`",
    );
}

#[test]
fn journal_backends_store_and_do_not_decide() {
    let mut breaches = Breaches::new();
    // What a verdict, a routing or an acknowledgement changes is written
    // once, in `pipeline/transitions.rs`; a backend that names them has
    // grown a second copy of the state machine.
    let decisions = [
        "AckEvent",
        "Verdict",
        "Routing",
        "Step::Deliver",
        "Step::Acknowledge",
        "Step::Push",
        "EventKind::Routed",
        "EventKind::Delivered",
        "EventKind::Acknowledged",
        "EventKind::Pushed",
        "EventKind::Downloaded",
    ];
    let backends = [
        rust_files("src/journal/sqlite"),
        rust_files("src/journal/postgres"),
    ];
    for path in backends.iter().flatten() {
        let text = std::fs::read_to_string(path).unwrap();
        for (n, line) in code_lines(&text) {
            for decision in decisions {
                if line.contains(decision) {
                    breaches.add(path, n, decision);
                }
            }
        }
    }
    breaches.check(
        "a journal backend stores and queries: the pipeline's transitions belong in \
         src/pipeline/transitions.rs, over the journal's `StepWriter`",
    );
}

/// The top-level modules of `src/` each file's `crate::` paths name, by module.
fn module_graph() -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let mut graph = std::collections::BTreeMap::<_, std::collections::BTreeSet<_>>::new();
    for path in rust_files("src") {
        let relative = relative(&path);
        let module = relative["src/".len()..]
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (_, line) in code_lines(&text) {
            for (at, _) in line.match_indices("crate::") {
                let used: String = line[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !used.is_empty() && used != module {
                    graph.entry(module.clone()).or_default().insert(used);
                }
            }
        }
    }
    graph
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = module_graph();
    assert!(
        graph["tenant"].contains("pipeline"),
        "the scan sees `tenant` use `pipeline`: {graph:?}"
    );
    // Depth-first search; a module met again while on the path closes a cycle.
    fn visit(
        module: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|m| m == module) {
            cycles.push(format!("{} -> {module}", path[at..].join(" -> ")));
            return;
        }
        if !done.insert(module.to_owned()) {
            return;
        }
        path.push(module.to_owned());
        for used in graph.get(module).into_iter().flatten() {
            visit(used, graph, path, done, cycles);
        }
        path.pop();
    }
    let (mut done, mut cycles) = (Default::default(), Vec::new());
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(
        cycles.is_empty(),
        "modules that use each other (ARCHITECTURE.md, \"Module dependencies\"): {cycles:?}"
    );
}
