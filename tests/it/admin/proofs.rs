//! The proof routes of the admin API: a tenant's checkpoint and the proof
//! of a partner's file, each scoped by the caller's token like the rest.

use super::{ACME, Admin, GLOBEX};

#[test]
fn checkpoints_and_proofs_through_the_api() {
    let admin = Admin::start();
    admin.put("acme", "a.json", br#"{"ok": true}"#);
    let (status, made) = admin.json(ACME, "POST", "/api/v1/tenants/acme/checkpoint", None);
    assert_eq!(status, 200, "{made}");
    let (status, latest) = admin.json(ACME, "GET", "/api/v1/tenants/acme/checkpoint", None);
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest["checkpoint"], made["checkpoint"]);
    assert!(
        latest["checkpoint"]["size"].as_u64().unwrap() >= 1,
        "{latest}"
    );

    let path = "/api/v1/tenants/acme/partners/alice/proofs/a.json";
    let (status, proof) = admin.json(ACME, "GET", path, None);
    assert_eq!(status, 200, "{proof}");
    assert_eq!(proof["format"], "ferry-proof-v1");
    assert_eq!(proof["events"][0]["event"]["kind"], "received", "{proof}");
    let (status, _) = admin.json(
        ACME,
        "GET",
        "/api/v1/tenants/acme/partners/alice/proofs/none.json",
        None,
    );
    assert_eq!(status, 404);
    let (status, _) = admin.json(GLOBEX, "GET", path, None);
    assert_eq!(status, 404, "another tenant's token sees no such tenant");
}
