//! The XSD validator (plugins/xsd-validator) against the real host: its
//! fixtures decide as its README says, with the tenant's default memory,
//! and a schema that cannot be used quarantines rather than rejects.

use ferry::journal::Verdict;
use ferry::plugin::{Limits, PluginEngine, Role};

use crate::plugins::{file, services, wasm};

const XSD: &str = include_str!("../../plugins/xsd-validator/fixtures/order.xsd");
const GOOD: &[u8] = include_bytes!("../../plugins/xsd-validator/fixtures/order-good.xml");
const BAD: &[u8] = include_bytes!("../../plugins/xsd-validator/fixtures/order-bad.xml");

/// The validator's verdict on `content`, named `name`, with `params`.
fn decide(name: &str, content: &[u8], params: &[(&str, &str)]) -> Verdict {
    let engine = PluginEngine::new(None).unwrap();
    let plugin = engine
        .load(
            &std::fs::read(wasm("xsd_validator")).unwrap(),
            Role::Validator,
        )
        .unwrap();
    // The fixtures take a few milliseconds; the deadline is generous only
    // because the tests share two cores. Memory stays at the default.
    let limits = Limits {
        deadline: std::time::Duration::from_secs(2),
        ..Limits::default()
    };
    let outcome = plugin
        .validate(
            &engine,
            services(content, params),
            limits,
            &file(name, content.len() as u64),
        )
        .unwrap();
    assert!(
        outcome.peak_memory < 16 << 20,
        "{} bytes of memory for a small file",
        outcome.peak_memory
    );
    outcome.value
}

fn reasons(verdict: Verdict) -> Vec<String> {
    match verdict {
        Verdict::Reject { reasons } => reasons,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn quarantine(verdict: Verdict) -> String {
    match verdict {
        Verdict::Quarantine { reason } => reason,
        other => panic!("expected a quarantine, got {other:?}"),
    }
}

#[test]
fn the_good_order_is_accepted() {
    assert_eq!(
        decide("order-good.xml", GOOD, &[("xsd", XSD)]),
        Verdict::Accept
    );
}

#[test]
fn the_bad_order_is_rejected_with_each_line_and_path() {
    let found = reasons(decide("order-bad.xml", BAD, &[("xsd", XSD)]));
    assert_eq!(
        found,
        [
            r"line 2, /order/@id: '42' does not match the pattern 'ORD-\d{6}'",
            "line 2, /order/@currency: 'YEN' is not one of the allowed values: EUR, USD, GBP, CHF",
            "line 3, /order/date: '2026-02-30' is not a valid xs:date (expected YYYY-MM-DD)",
            r"line 6, /order/customer/email: 'bob-at-example' does not match the pattern '[^@\s]+@[^@\s]+\.[a-z]{2,}'",
            "line 8, /order: missing one of <pickup>, <delivery> before <item>",
            "line 10, /order/item[1]/qty: 'abc' is not a valid xs:positiveInteger",
            r"line 14, /order/item[2]/sku: 'abc-12' does not match the pattern '[A-Z]{3}-\d{4}'",
            "line 16, /order/item[2]/price: '-5' is out of range: expected at least 0",
            "line 18, /order/item[3]: missing required attribute 'line'",
            "line 22, /order/item[3]/deliverBy: '2026-03-01' is not a valid xs:dateTime (expected YYYY-MM-DDThh:mm:ss)",
            "line 24, /order/item[4]: missing <price>",
            "line 26, /order/item[4]/qty: '1000' is out of range: expected at most 999",
            "line 28, /order/discount: unexpected element <discount>; expected one of <item>, <note>",
        ]
    );
}

#[test]
fn a_broken_or_missing_schema_quarantines() {
    let broken = XSD.replace(r#"type="xs:date""#, r#"type="xs:dat""#);
    let reason = quarantine(decide("order-good.xml", GOOD, &[("xsd", broken.as_str())]));
    assert_eq!(
        reason,
        "the `xsd` parameter is not a usable schema: line 12: xs:dat is not a built-in type"
    );
    let reason = quarantine(decide("order-good.xml", GOOD, &[("xsd", "<xs:schema")]));
    assert!(
        reason.starts_with("the `xsd` parameter is not a usable schema: line 1, column "),
        "{reason}"
    );
    let reason = quarantine(decide("order-good.xml", GOOD, &[]));
    assert!(reason.contains("`xsd` parameter is not set"), "{reason}");
}

#[test]
fn malformed_large_and_other_files() {
    let found = reasons(decide(
        "broken.xml",
        b"<order xmlns=\"urn:example:order\">\n  <date>2026-01-01</datum>\n</order>",
        &[("xsd", XSD)],
    ));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("line 2, column ") && found[0].contains("not well-formed XML"),
        "{found:?}"
    );
    let found = reasons(decide(
        "order-good.xml",
        GOOD,
        &[("xsd", XSD), ("max_size", "100")],
    ));
    assert!(found[0].contains("more than the 100 bytes"), "{found:?}");
    // Only names ending with the suffix (.xml by default) are checked.
    assert_eq!(
        decide("notes.txt", b"not xml", &[("xsd", XSD)]),
        Verdict::Accept
    );
    assert!(matches!(
        decide("notes.txt", b"not xml", &[("xsd", XSD), ("suffix", "")]),
        Verdict::Reject { .. }
    ));
}
