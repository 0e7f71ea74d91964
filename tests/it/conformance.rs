//! The journal's conformance suite: what every backend of the journal's
//! roles (`Intake`, `TaskQueue`, `Mailboxes`, `PluginState`, `Chain`,
//! `Proofs`, `Cluster`) must
//! do, written against `dyn Journal` only. Each check runs against every
//! backend in [`backends`]; a second backend joins by adding one line
//! there, and must pass the same checks.

use std::path::Path;
use std::sync::Arc;

use ferry::journal::{
    AckEvent, Delivery, EventKind, Journal, JournalError, Mailbox, MessageState, PluginPin,
    PostgresJournal, Provenance, Received, Routing, SqliteJournal, Step, Timestamp, Verdict,
};
use ferry::pipeline::Transitions as _;
use ferry::store::ContentHash;

/// A fresh, empty journal of each backend, made in `dir`.
type Open = fn(&Path) -> Arc<dyn Journal>;

fn backends() -> Vec<(&'static str, Open)> {
    vec![
        ("sqlite", |dir| {
            Arc::new(SqliteJournal::open(&dir.join("journal.sqlite")).unwrap())
        }),
        // A database of its own on the test process's PostgreSQL server.
        ("postgres", |_| {
            let url = crate::backends::postgres().fresh_database();
            Arc::new(PostgresJournal::connect(&url).unwrap())
        }),
    ]
}

/// Runs `check` once per backend, each on a journal of its own.
fn each_backend(check: impl Fn(&dyn Journal)) {
    for (name, open) in backends() {
        let dir = tempfile::tempdir().unwrap();
        let journal = open(dir.path());
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&*journal)));
        if let Err(panic) = result {
            eprintln!("backend `{name}` failed");
            std::panic::resume_unwind(panic);
        }
    }
}

fn received(tenant: &str, partner: &str, name: &str, content: &[u8]) -> Received {
    use sha2::Digest as _;
    Received {
        tenant: tenant.into(),
        partner: partner.into(),
        name: name.into(),
        hash: ContentHash::from_bytes(sha2::Sha256::digest(content).into()),
        size: content.len() as u64,
        protocol: "test".into(),
        source: "conformance".into(),
        inline: Some(content.to_vec()),
    }
}

/// The tasks of `tenant` due now, none held elsewhere.
fn due(journal: &dyn Journal, tenant: &str) -> Vec<ferry::journal::Task> {
    journal
        .due_tasks(tenant, Timestamp::now(), &[], 100)
        .unwrap()
}

#[test]
fn a_received_file_is_listed_kept_and_queued() {
    each_backend(|journal| {
        let r = received("acme", "alice", "a.csv", b"1,2\n");
        let id = journal.record_received(&r).unwrap();
        let message = journal.message("acme", id).unwrap();
        assert_eq!(
            (message.name.as_str(), message.size, message.hash),
            ("a.csv", 4, Some(r.hash))
        );
        let inbox = journal
            .list_mailbox("acme", "alice", Mailbox::Inbox)
            .unwrap();
        assert_eq!(
            inbox.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ["a.csv"]
        );
        assert_eq!(
            journal.inline_content("acme", &r.hash).unwrap().as_deref(),
            Some(&b"1,2\n"[..])
        );
        let tasks = due(journal, "acme");
        assert_eq!(tasks.len(), 1);
        assert_eq!((tasks[0].message, &tasks[0].step), (id, &Step::Process));
        assert!(due(journal, "globex").is_empty(), "scoped by tenant");
    });
}

#[test]
fn a_step_is_finished_exactly_once() {
    each_backend(|journal| {
        journal
            .record_received(&received("acme", "alice", "a.csv", b"x"))
            .unwrap();
        let task = due(journal, "acme").remove(0);
        let by = Provenance::builtin("test");
        let routing = Routing::Deliver(vec![Delivery {
            to: "bob".into(),
            name: "a.csv".into(),
            transforms: Vec::new(),
        }]);
        journal
            .finish_process(&task, (&Verdict::Accept, &by), Some((&routing, &by)))
            .unwrap();
        assert!(
            journal
                .finish_process(&task, (&Verdict::Accept, &by), Some((&routing, &by)))
                .is_err(),
            "a task finished twice"
        );
        let deliver = due(journal, "acme");
        assert_eq!(deliver.len(), 1);
        let Step::Deliver(delivery) = &deliver[0].step else {
            panic!("{:?}", deliver[0].step)
        };
        journal
            .finish_delivery(&deliver[0], delivery, false, None)
            .unwrap();
        assert!(
            journal
                .finish_delivery(&deliver[0], delivery, false, None)
                .is_err()
        );
        let outbox = journal
            .list_mailbox("acme", "bob", Mailbox::Outbox)
            .unwrap();
        assert_eq!(outbox.len(), 1, "one copy, not two");
        assert!(journal.verify("acme").unwrap().problem.is_none());
    });
}

/// A step's writes commit together or not at all: a step that fails
/// after some of its writes leaves none of them, and its task pending.
#[test]
fn a_step_is_all_or_nothing() {
    each_backend(|journal| {
        let id = journal
            .record_received(&received("acme", "alice", "a.csv", b"x"))
            .unwrap();
        let task = due(journal, "acme").remove(0);
        let events = journal.verify("acme").unwrap().events;
        let failed = journal.step("acme", &mut |tx| {
            tx.complete(&task)?;
            tx.append(
                EventKind::Verdict,
                Some(id),
                Some("alice"),
                &serde_json::json!({}),
            )?;
            tx.set_state(id, MessageState::Held, Some("half way"))?;
            tx.place("bob", Mailbox::Outbox, "a.csv", id)?;
            Err(JournalError::Corrupt("refused on purpose".into()))
        });
        assert!(failed.is_err());
        let report = journal.verify("acme").unwrap();
        assert_eq!(report.events, events, "no event of the failed step");
        assert!(report.problem.is_none());
        assert_eq!(
            journal.message("acme", id).unwrap().state,
            MessageState::Received
        );
        assert!(
            journal
                .list_mailbox("acme", "bob", Mailbox::Outbox)
                .unwrap()
                .is_empty()
        );
        assert_eq!(due(journal, "acme").len(), 1, "the task is still pending");
        // A writer is scoped to the tenant it was opened for: globex cannot
        // revive acme's dead letter.
        journal.fail_task(&task, "never").unwrap();
        let revive = |tenant: &str| {
            let mut revived = None;
            journal
                .step(tenant, &mut |tx| {
                    revived = tx.revive(task.id)?;
                    Ok(())
                })
                .unwrap();
            revived
        };
        assert_eq!(revive("globex"), None, "acme's task is not globex's");
        assert_eq!(revive("acme"), Some((id, Step::Process)));
    });
}

#[test]
fn a_failing_step_is_retried_later_then_dead_lettered() {
    each_backend(|journal| {
        journal
            .record_received(&received("acme", "alice", "a.csv", b"x"))
            .unwrap();
        let task = due(journal, "acme").remove(0);
        let later = Timestamp(Timestamp::now().0 + 60_000);
        journal.retry_task(&task, "not now", later).unwrap();
        assert!(due(journal, "acme").is_empty(), "not due before its time");
        let retried = journal
            .due_tasks("acme", Timestamp(later.0 + 1), &[], 10)
            .unwrap();
        assert_eq!(retried.len(), 1);
        assert_eq!(retried[0].attempts, task.attempts + 1);
        journal.fail_task(&retried[0], "never").unwrap();
        // The failure is told to the sender: its acknowledgement is queued.
        let told = due(journal, "acme");
        assert!(
            told.iter()
                .all(|t| matches!(t.step, Step::Acknowledge(AckEvent::Failed { .. }))),
            "{told:?}"
        );
        let dead = journal.dead_tasks("acme").unwrap();
        assert_eq!(dead.len(), 1);
        assert!(journal.revive_task("acme", dead[0].id).unwrap());
        assert!(
            due(journal, "acme")
                .iter()
                .any(|t| t.step == Step::Process && t.message == task.message),
            "revived"
        );
        assert!(journal.dead_tasks("acme").unwrap().is_empty());
    });
}

#[test]
fn held_tasks_are_not_handed_out_twice() {
    each_backend(|journal| {
        for name in ["a", "b", "c"] {
            journal
                .record_received(&received("acme", "alice", name, name.as_bytes()))
                .unwrap();
        }
        let first = due(journal, "acme");
        assert_eq!(first.len(), 3);
        let busy: Vec<i64> = first.iter().take(2).map(|t| t.id).collect();
        let rest = journal
            .due_tasks("acme", Timestamp::now(), &busy, 10)
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert!(!busy.contains(&rest[0].id));
    });
}

#[test]
fn hiding_keeps_the_message_and_the_chain() {
    each_backend(|journal| {
        let id = journal
            .record_received(&received("acme", "alice", "a.csv", b"x"))
            .unwrap();
        assert!(
            journal
                .hide_entry("acme", "alice", Mailbox::Inbox, "a.csv")
                .unwrap()
        );
        assert!(
            !journal
                .hide_entry("acme", "alice", Mailbox::Inbox, "a.csv")
                .unwrap(),
            "hidden once"
        );
        assert!(
            journal
                .list_mailbox("acme", "alice", Mailbox::Inbox)
                .unwrap()
                .is_empty()
        );
        assert_eq!(journal.message("acme", id).unwrap().name, "a.csv");
        assert!(journal.verify("acme").unwrap().problem.is_none());
    });
}

#[test]
fn the_chain_is_one_chain_per_tenant() {
    each_backend(|journal| {
        for tenant in ["acme", "globex"] {
            journal
                .record_received(&received(tenant, "alice", "a", b"a"))
                .unwrap();
            journal
                .record_event(
                    tenant,
                    EventKind::ConfigReloaded,
                    serde_json::json!({ "digest": tenant }),
                )
                .unwrap();
        }
        let acme = journal.verify("acme").unwrap();
        let globex = journal.verify("globex").unwrap();
        assert!(acme.problem.is_none() && globex.problem.is_none());
        assert_eq!((acme.events, globex.events), (2, 2));
        assert_ne!(acme.head, globex.head);
        let mut tenants = journal.tenants().unwrap();
        tenants.sort();
        assert_eq!(tenants, ["acme", "globex"]);
        assert!(journal.purge_tenant("globex").unwrap() > 0);
        assert_eq!(journal.tenants().unwrap(), ["acme"]);
        assert!(journal.verify("acme").unwrap().problem.is_none());
    });
}

/// The tree over a tenant's events has the root RFC 6962 defines (computed
/// here from the events' hashes alone), grows in steps, keeps its nodes per
/// tenant, and keeps checkpoints, each journaled as an event.
#[test]
fn the_tree_over_the_events_and_its_checkpoints() {
    use ferry::journal::Checkpoint;
    use ferry::journal::merkle::{self, Hash};
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            1 => merkle::leaf_hash(&leaves[0]),
            n => {
                let k = 1 << (63 - (n as u64 - 1).leading_zeros());
                merkle::node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }
    each_backend(|journal| {
        for (i, tenant) in ["acme", "acme", "globex", "acme", "acme", "acme"]
            .iter()
            .enumerate()
        {
            journal
                .record_received(&received(tenant, "alice", &format!("f{i}"), b"x"))
                .unwrap();
            if i == 1 {
                assert_eq!(journal.extend_tree("acme").unwrap(), 2);
            }
        }
        let size = journal.extend_tree("acme").unwrap();
        assert_eq!(size, 5);
        assert_eq!(journal.extend_tree("acme").unwrap(), 5, "nothing new");
        let seqs: Vec<u64> = (1..=size).collect();
        let events = journal.raw_events("acme", &seqs).unwrap();
        let leaves: Vec<Hash> = events
            .iter()
            .map(|e| {
                let mut h = [0u8; 32];
                hex::decode_to_slice(&e.hash, &mut h).unwrap();
                h
            })
            .collect();
        let root =
            merkle::range_hashes(&[(0, size)], |ids| journal.tree_nodes("acme", ids)).unwrap()[0];
        assert_eq!(root, mth(&leaves));
        assert!(
            journal.tree_nodes("acme", &[(3, 0)]).is_err(),
            "no such subtree yet"
        );
        assert_eq!(journal.extend_tree("globex").unwrap(), 1);

        assert!(journal.latest_checkpoint("acme").unwrap().is_none());
        for size in [5, 3] {
            journal
                .put_checkpoint(&Checkpoint {
                    tenant: "acme".into(),
                    size,
                    root: hex::encode(root),
                    time: 7,
                    key_id: "k".into(),
                    signature: "s".into(),
                })
                .unwrap();
        }
        assert_eq!(journal.latest_checkpoint("acme").unwrap().unwrap().size, 5);
        assert!(journal.latest_checkpoint("globex").unwrap().is_none());
        assert_eq!(
            journal.verify("acme").unwrap().events,
            7,
            "two checkpoint events"
        );
        assert!(journal.purge_tenant("acme").unwrap() > 0);
        assert!(journal.latest_checkpoint("acme").unwrap().is_none());
        assert_eq!(journal.extend_tree("acme").unwrap(), 0);
    });
}

#[test]
fn plugin_state_is_kept_per_partner() {
    each_backend(|journal| {
        journal.kv_set("acme", "alice", "seen", b"1").unwrap();
        assert_eq!(
            journal.kv_get("acme", "alice", "seen").unwrap().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(journal.kv_get("acme", "bob", "seen").unwrap(), None);
        assert_eq!(journal.kv_get("globex", "alice", "seen").unwrap(), None);
        assert_eq!(journal.kv_count("acme", "alice").unwrap(), 1);
        journal.kv_delete("acme", "alice", "seen").unwrap();
        assert_eq!(journal.kv_count("acme", "alice").unwrap(), 0);

        assert_eq!(
            journal.plugin_pin("acme", "alice", "validator").unwrap(),
            None
        );
        let pin = PluginPin {
            sha256: "ab".repeat(32),
            file_sha256: "cd".repeat(32),
        };
        journal
            .set_plugin_pin("acme", "alice", "validator", Some(&pin))
            .unwrap();
        assert_eq!(
            journal.plugin_pin("acme", "alice", "validator").unwrap(),
            Some(pin)
        );
        assert_eq!(
            journal.plugin_pin("acme", "bob", "validator").unwrap(),
            None
        );
        journal
            .set_plugin_pin("acme", "alice", "validator", None)
            .unwrap();
        assert_eq!(
            journal.plugin_pin("acme", "alice", "validator").unwrap(),
            None
        );
    });
}

#[test]
fn folders_are_made_removed_and_seen_below() {
    each_backend(|journal| {
        assert!(
            journal
                .make_folder("acme", "alice", Mailbox::Inbox, "batch")
                .unwrap()
        );
        assert!(
            !journal
                .make_folder("acme", "alice", Mailbox::Inbox, "batch")
                .unwrap()
        );
        assert_eq!(
            journal.folders("acme", "alice", Mailbox::Inbox).unwrap(),
            ["batch"]
        );
        assert!(
            journal
                .folders("acme", "bob", Mailbox::Inbox)
                .unwrap()
                .is_empty()
        );
        journal
            .record_received(&received("acme", "alice", "batch/2026/a.csv", b"x"))
            .unwrap();
        journal
            .record_received(&received("acme", "alice", "batch0", b"y"))
            .unwrap();
        let below = |folder| {
            journal
                .has_files_below("acme", "alice", Mailbox::Inbox, folder)
                .unwrap()
        };
        assert!(below("batch") && below("batch/2026"));
        assert!(!below("batch/2026/a.csv") && !below("batc") && !below("batch0"));
        assert!(
            journal
                .remove_folder("acme", "alice", Mailbox::Inbox, "batch")
                .unwrap()
        );
        assert!(
            !journal
                .remove_folder("acme", "alice", Mailbox::Inbox, "batch")
                .unwrap()
        );
    });
}

/// Writers on many threads (on PostgreSQL, each on a connection of its
/// own) append to one chain per tenant: none is lost or applied twice, a
/// step that fails leaves nothing, and the chain verifies.
#[test]
fn concurrent_writers_keep_one_chain() {
    each_backend(|journal| {
        std::thread::scope(|scope| {
            for t in 0..8 {
                scope.spawn(move || {
                    for i in 0..25 {
                        let detail = serde_json::json!({ "t": t, "i": i });
                        journal
                            .record_event("acme", EventKind::ConfigReloaded, detail)
                            .unwrap();
                        let failed = journal.step("acme", &mut |tx| {
                            tx.append(
                                EventKind::ConfigReloaded,
                                None,
                                None,
                                &serde_json::json!({}),
                            )?;
                            Err(JournalError::Corrupt("refused on purpose".into()))
                        });
                        assert!(failed.is_err());
                    }
                });
            }
        });
        let report = journal.verify("acme").unwrap();
        assert_eq!(report.events, 200);
        assert!(report.problem.is_none(), "{:?}", report.problem);
        // A tenant whose only step wrote nothing has no chain.
        journal.step("globex", &mut |_| Ok(())).unwrap();
        assert_eq!(journal.tenants().unwrap(), ["acme"]);
        assert_eq!(journal.verify("globex").unwrap().events, 0);
        assert!(journal.purge_tenant("acme").unwrap() >= 200);
        assert!(journal.tenants().unwrap().is_empty());
    });
}

/// A task leased to one node is that node's: no other leases it or
/// finishes it while the lease runs; a lease that ran out is taken over,
/// and the first holder can then no longer record the step; a node that
/// starts again ends its old leases.
#[test]
fn a_leased_task_is_its_holders() {
    use std::time::Duration;
    let minute = Duration::from_secs(60);
    each_backend(|journal| {
        journal
            .record_received(&received("acme", "alice", "a.csv", b"x"))
            .unwrap();
        let by = Provenance::builtin("test");
        let routing = Routing::Deliver(Vec::new());
        let finish = |task: &ferry::journal::Task| {
            journal.finish_process(task, (&Verdict::Accept, &by), Some((&routing, &by)))
        };
        let listed = due(journal, "acme").remove(0);

        let mut a = listed.clone();
        assert!(journal.lease(&mut a, "node-a", minute).unwrap());
        let token = a.lease.expect("a token");
        let mut b = listed.clone();
        assert!(
            !journal.lease(&mut b, "node-b", minute).unwrap(),
            "a running lease"
        );
        assert!(due(journal, "acme").is_empty(), "a leased task is not due");
        assert!(
            finish(&b).is_err(),
            "finished by a node that does not hold it"
        );
        assert_eq!(
            journal.renew("node-a", &[(a.id, token)], minute).unwrap(),
            Vec::<i64>::new()
        );
        assert_eq!(
            journal.renew("node-b", &[(a.id, 7)], minute).unwrap(),
            [a.id]
        );

        // node-a's lease runs out (a term of nothing) and node-b takes over.
        assert!(journal.lease(&mut a, "node-a", Duration::ZERO).is_ok());
        let mut a = listed.clone();
        journal.release_leases("node-a").unwrap();
        assert!(journal.lease(&mut a, "node-a", Duration::ZERO).unwrap());
        assert!(
            journal.lease(&mut b, "node-b", minute).unwrap(),
            "taken over"
        );
        assert!(
            finish(&a).is_err(),
            "recorded by a holder whose lease ran out"
        );
        finish(&b).unwrap();
        assert!(finish(&b).is_err(), "finished twice");

        // A node that starts again ends its leases: its tasks are due at once.
        journal
            .record_received(&received("acme", "alice", "b.csv", b"y"))
            .unwrap();
        let mut c = due(journal, "acme").remove(0);
        assert!(journal.lease(&mut c, "node-a", minute).unwrap());
        assert!(due(journal, "acme").is_empty());
        assert_eq!(journal.release_leases("node-a").unwrap(), 1);
        assert_eq!(due(journal, "acme").len(), 1);
    });
}

/// Nodes' heartbeats are listed with what they said; a job is one node's
/// at a time until it lets go or its lease runs out.
#[test]
fn nodes_beat_and_a_job_runs_on_one_node() {
    use ferry::journal::NodeBeat;
    use std::time::Duration;
    let minute = Duration::from_secs(60);
    each_backend(|journal| {
        for (node, sessions) in [("node-a", 3), ("node-b", 5)] {
            journal
                .heartbeat(&NodeBeat {
                    node: node.into(),
                    version: "9.9.9".into(),
                    started_at: Timestamp(1_000),
                    load: serde_json::json!({ "sessions": sessions }),
                })
                .unwrap();
        }
        let nodes = journal.nodes().unwrap();
        let mut names: Vec<&str> = nodes.iter().map(|n| n.node.as_str()).collect();
        names.sort();
        assert_eq!(names, ["node-a", "node-b"]);
        let b = nodes.iter().find(|n| n.node == "node-b").unwrap();
        assert_eq!(
            (b.version.as_str(), b.started_at, &b.load),
            (
                "9.9.9",
                Timestamp(1_000),
                &serde_json::json!({ "sessions": 5 })
            )
        );
        assert!((0..60_000).contains(&b.silent_for_ms), "{b:?}");

        let job = "pull:acme/bob";
        assert!(journal.hold(job, "node-a", minute).unwrap());
        assert!(
            !journal.hold(job, "node-b", minute).unwrap(),
            "held by node-a"
        );
        assert!(
            journal.hold(job, "node-a", minute).unwrap(),
            "kept by its holder"
        );
        journal.let_go(job, "node-b").unwrap();
        assert!(
            !journal.hold(job, "node-b", minute).unwrap(),
            "only the holder lets go"
        );
        journal.let_go(job, "node-a").unwrap();
        assert!(journal.hold(job, "node-b", Duration::ZERO).unwrap());
        assert!(
            journal.hold(job, "node-a", minute).unwrap(),
            "node-b's lease ran out"
        );
        assert!(
            journal.hold("pull:acme/carol", "node-b", minute).unwrap(),
            "another job"
        );
    });
}

/// The message search the console and the admin API use: by name (a part
/// of it), content, state and time, newest first, a page at a time.
#[test]
fn messages_are_searched_by_name_content_state_and_time() {
    use ferry::journal::MessageQuery;
    each_backend(|journal| {
        let mut ids = Vec::new();
        for (name, content) in [
            ("orders-1.csv", &b"1"[..]),
            ("orders-2.csv", b"2"),
            ("invoice.xml", b"1"),
        ] {
            ids.push(
                journal
                    .record_received(&received("acme", "alice", name, content))
                    .unwrap(),
            );
        }
        journal
            .record_received(&received("globex", "alice", "orders-3.csv", b"1"))
            .unwrap();
        let search = |query: MessageQuery| -> Vec<String> {
            journal
                .messages(&MessageQuery {
                    tenant: Some("acme".into()),
                    ..query
                })
                .unwrap()
                .into_iter()
                .map(|m| m.name)
                .collect()
        };
        assert_eq!(
            search(MessageQuery {
                name: Some("orders".into()),
                ..MessageQuery::default()
            }),
            ["orders-2.csv", "orders-1.csv"]
        );
        let one = received("acme", "alice", "x", b"1").hash.to_string();
        assert_eq!(
            search(MessageQuery {
                sha256: Some(one),
                ..MessageQuery::default()
            }),
            ["invoice.xml", "orders-1.csv"]
        );
        assert_eq!(
            search(MessageQuery {
                state: Some(MessageState::Received),
                before: Some(ids[2]),
                limit: Some(1),
                ..MessageQuery::default()
            }),
            ["orders-2.csv"]
        );
        assert!(
            search(MessageQuery {
                state: Some(MessageState::Rejected),
                ..MessageQuery::default()
            })
            .is_empty()
        );
        let first = journal
            .messages(&MessageQuery {
                id: Some(ids[0]),
                ..MessageQuery::default()
            })
            .unwrap()[0]
            .created_at;
        assert!(
            search(MessageQuery {
                until: Some(first),
                ..MessageQuery::default()
            })
            .is_empty()
        );
        assert_eq!(
            search(MessageQuery {
                since: Some(first),
                name: Some("-1".into()),
                ..MessageQuery::default()
            }),
            ["orders-1.csv"]
        );
    });
}
