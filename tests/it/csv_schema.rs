//! The Python example plugin `plugins/csv-schema-validator`: built with
//! `ferry plugin build`, it passes its own tests, then judges files in the
//! real pipeline, with the partner's real history from the journal.

use std::path::Path;

use crate::util::{Env, default_config};

#[test]
fn the_python_csv_validator_judges_in_the_pipeline() {
    let env = Env::new();
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/csv-schema-validator");
    let built = env.ferry().arg("plugin").arg("build").arg(&project).ok();
    let wasm = built.lines().last().unwrap_or_default().to_owned();
    assert!(wasm.ends_with("csv_schema_validator.wasm"), "{built}");
    let tested = env.ferry().arg("plugin").arg("run").arg(&project).ok();
    assert!(tested.contains("5 passed, 0 failed"), "{tested}");

    let schema = std::fs::read_to_string(project.join("fixtures/schema.json")).unwrap();
    env.write_config(&default_config().replace(
        "[tenants.acme.partners.alice]\n",
        &format!(
            "[tenants.acme.partners.alice]\nvalidator = {wasm:?}\n\
             params = {{ schema = '''{schema}''' }}\n"
        ),
    ));
    let good = std::fs::read(project.join("fixtures/orders-good.csv")).unwrap();
    let bad = std::fs::read(project.join("fixtures/orders-bad.csv")).unwrap();

    env.put("alice", "orders-1.csv", &good).ok();
    assert_eq!(env.names("bob", "/outbox"), ["orders-1.csv"]);

    env.put("alice", "orders-2.csv", &bad).ok();
    let rejected = env.cat("alice", "/outbox/orders-2.csv.rejected");
    assert!(
        rejected.contains("line 3, order_id: '10X2' is not an integer"),
        "{rejected}"
    );
    assert!(
        rejected.contains("line 4: order_id=1001 repeats line 2"),
        "{rejected}"
    );

    // The same content again, under another name: the journal's history
    // shows it was received and delivered already.
    env.put("alice", "orders-3.csv", &good).ok();
    let resent = env.cat("alice", "/outbox/orders-3.csv.rejected");
    assert!(
        resent.contains("the same content was already received as orders-1.csv"),
        "{resent}"
    );
    assert_eq!(env.names("bob", "/outbox"), ["orders-1.csv"]);
}
