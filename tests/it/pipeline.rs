//! The pipeline with steps other than the built-ins, as plugins will supply
//! them: rejection and its receipt, a failing validator quarantines, a
//! failing acknowledger is retried and then dead-lettered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ferry::config::Tenant as TenantConfig;
use ferry::journal::{AckEvent, MessageState, Routing, Verdict};
use ferry::pipeline::{
    AckAction, Acknowledger, Context, Decided, Pipeline, ReceiptFiles, RouteTable, StepError,
    StepSource, Steps, StepsFor, Validator,
};
use ferry::store::Store;
use ferry::tenant::Hub;

use crate::util::Env;

/// Rejects files whose content is not valid UTF-8; errors on `*.boom`.
struct Utf8Only;

impl Validator for Utf8Only {
    fn validate(&self, cx: &Context<'_>) -> Result<Decided<Verdict>, StepError> {
        if cx.message.name.ends_with(".boom") {
            return Err(StepError("trap: unreachable executed".into()));
        }
        let mut blob = cx.content()?;
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut blob, &mut text).unwrap();
        let verdict = match String::from_utf8(text) {
            Ok(_) => Verdict::Accept,
            Err(e) => Verdict::Reject {
                reasons: vec![format!("not UTF-8: {e}")],
            },
        };
        Ok(Decided::builtin("utf8-only", verdict))
    }
}

/// Fails every time, counting its calls.
struct Flaky(Arc<AtomicU32>);

impl Acknowledger for Flaky {
    fn acknowledge(
        &self,
        _: &Context<'_>,
        _: &AckEvent,
    ) -> Result<Decided<Vec<AckAction>>, StepError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err(StepError("mailbox service unavailable".into()))
    }
}

struct Source {
    hub: Arc<Hub>,
    steps: Steps,
}

impl StepSource for Source {
    fn resolve(&self, tenant: &str) -> Option<(Arc<TenantConfig>, Store, StepsFor)> {
        let tenant = self.hub.tenant(tenant)?;
        let steps = self.steps.clone();
        Some((
            Arc::clone(tenant.config()),
            tenant.store().clone(),
            Arc::new(move |_: &str| steps.clone()),
        ))
    }

    fn max_attempts(&self) -> u32 {
        2
    }

    fn max_file_size(&self) -> Option<u64> {
        None
    }

    fn tenants(&self) -> Vec<String> {
        self.hub.config().tenants.keys().cloned().collect()
    }

    fn cpu_ready(&self, tenant: &str) -> bool {
        self.hub.tenant(tenant).is_none_or(|t| t.cpu_ready())
    }

    fn connector_slot(&self, tenant: &str) -> Option<ferry::tenant::ConnectorSlot> {
        self.hub.tenant(tenant)?.connector_slot()
    }

    fn push_throttle(&self, _: &str, _: &str) -> Option<ferry::tenant::Throttle> {
        None
    }
}

fn setup(steps: Steps) -> (Env, Arc<Hub>, Arc<Pipeline>) {
    let env = Env::new();
    let hub = Hub::open(ferry::config::load(&env.config).unwrap()).unwrap();
    let source = Arc::new(Source {
        hub: Arc::clone(&hub),
        steps,
    });
    let pipeline = Pipeline::new(Arc::clone(hub.journal()), source, Default::default());
    (env, hub, pipeline)
}

fn state(hub: &Hub, id: ferry::journal::MessageId) -> (MessageState, Option<String>) {
    let m = hub.journal().message("acme", id).unwrap();
    (m.state, m.reason)
}

#[test]
fn rejection_writes_a_receipt_with_the_reason() {
    let (env, hub, pipeline) = setup(Steps {
        validator: Arc::new(Utf8Only),
        router: Arc::new(RouteTable),
        acknowledger: Arc::new(ReceiptFiles),
    });
    let acme = hub.tenant("acme").unwrap();
    let bad = acme
        .ingest(
            "alice",
            "bad.txt",
            &[0xff, 0xfe][..],
            "test",
            "test",
            |_| {},
        )
        .unwrap();
    let good = acme
        .ingest("alice", "good.txt", &b"fine"[..], "test", "test", |_| {})
        .unwrap();
    pipeline.drain().unwrap();

    assert_eq!(state(&hub, bad.message).0, MessageState::Rejected);
    assert_eq!(state(&hub, good.message).0, MessageState::Delivered);
    assert_eq!(env.names("bob", "/outbox"), ["good.txt"]);
    assert_eq!(
        env.names("alice", "/outbox"),
        ["bad.txt.rejected", "good.txt.received"]
    );
    let receipt = env.cat("alice", "/outbox/bad.txt.rejected");
    assert!(receipt.contains("reason: not UTF-8"), "{receipt}");
}

#[test]
fn a_failing_validator_quarantines_with_the_reason() {
    let (env, hub, pipeline) = setup(Steps {
        validator: Arc::new(Utf8Only),
        router: Arc::new(RouteTable),
        acknowledger: Arc::new(ReceiptFiles),
    });
    let acme = hub.tenant("acme").unwrap();
    let id = acme
        .ingest("alice", "x.boom", &b"data"[..], "test", "test", |_| {})
        .unwrap()
        .message;
    pipeline.drain().unwrap();
    let (state, reason) = state(&hub, id);
    assert_eq!(state, MessageState::Quarantined);
    assert_eq!(
        reason.as_deref(),
        Some("validator failed: trap: unreachable executed")
    );
    // Kept, not delivered, not lost.
    assert_eq!(env.names("alice", "/inbox"), ["x.boom"]);
    assert!(env.names("bob", "/outbox").is_empty());
}

#[test]
fn a_failing_step_is_retried_then_dead_lettered() {
    let calls = Arc::new(AtomicU32::new(0));
    let (env, hub, pipeline) = setup(Steps {
        validator: Arc::new(ferry::pipeline::AcceptAll),
        router: Arc::new(RouteTable),
        acknowledger: Arc::new(Flaky(Arc::clone(&calls))),
    });
    let acme = hub.tenant("acme").unwrap();
    let id = acme
        .ingest("alice", "a.txt", &b"data"[..], "test", "test", |_| {})
        .unwrap()
        .message;
    pipeline.drain().unwrap();
    // The first attempt failed; the retry is due in a second, not now.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM events WHERE kind = 'retried'"),
        1
    );

    // Make the retry due now instead of waiting for it.
    env.db()
        .execute("UPDATE tasks SET next_at = 0 WHERE state = 'pending'", [])
        .unwrap();
    pipeline.drain().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM tasks WHERE state = 'dead'"),
        1
    );
    let error: String = env
        .db()
        .query_row(
            "SELECT detail FROM events WHERE kind = 'failed' AND message = ?1",
            [id.0],
            |row| row.get(0),
        )
        .unwrap();
    assert!(
        error.contains("acknowledger: mailbox service unavailable"),
        "{error}"
    );
    // The file was delivered, and its state still says so.
    assert_eq!(state(&hub, id).0, MessageState::Delivered);
    // The delivery itself happened and stays.
    assert_eq!(env.names("bob", "/outbox"), ["a.txt"]);
    env.ferry().args(["journal", "verify"]).ok();
}

#[test]
fn hold_keeps_the_file_with_the_reason() {
    struct HoldAll;
    impl ferry::pipeline::Router for HoldAll {
        fn route(&self, _: &Context<'_>) -> Result<Decided<Routing>, StepError> {
            Ok(Decided::builtin(
                "hold-all",
                Routing::Hold {
                    reason: "waiting for the daily batch".into(),
                },
            ))
        }
    }
    let (_env, hub, pipeline) = setup(Steps {
        validator: Arc::new(ferry::pipeline::AcceptAll),
        router: Arc::new(HoldAll),
        acknowledger: Arc::new(ReceiptFiles),
    });
    let id = hub
        .tenant("acme")
        .unwrap()
        .ingest("alice", "a.txt", &b"data"[..], "test", "test", |_| {})
        .unwrap()
        .message;
    pipeline.drain().unwrap();
    assert_eq!(
        state(&hub, id),
        (
            MessageState::Held,
            Some("waiting for the daily batch".into())
        )
    );
}
