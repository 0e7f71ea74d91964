//! The executor: takes due tasks from the journal, runs the step, records
//! the outcome.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::{AckAction, Context, Decided, StepError, Steps, Transitions};
use crate::config;
use crate::journal::{
    AckFile, Delivery, Journal, JournalError, Provenance, Rename, Routing, Step, Task, Timestamp,
    Verdict,
};
use crate::store::Store;

/// Where the executor finds a tenant's settings, store and steps. The
/// tenant module implements it; the indirection keeps the pipeline free of
/// reload and lifecycle concerns.
pub trait StepSource: Send + Sync {
    fn resolve(&self, tenant: &str) -> Option<(Arc<config::Tenant>, Store, StepsFor)>;
    fn max_attempts(&self) -> u32;
    /// `[limits] max_file_size`: no file a transform makes is larger.
    fn max_file_size(&self) -> Option<u64>;
    /// The tenants whose tasks run, in no particular order.
    fn tenants(&self) -> Vec<String>;
    /// Whether `tenant`'s plugin steps may run now, within its `plugin_cpu`.
    fn cpu_ready(&self, tenant: &str) -> bool;
    /// The right to run one push of `tenant` now, within its
    /// `max_connector_transfers`.
    fn connector_slot(&self, tenant: &str) -> Option<crate::usage::ConnectorSlot>;
    /// The buckets a push to `partner` of `tenant` draws from.
    fn push_throttle(&self, tenant: &str, partner: &str) -> Option<crate::usage::Throttle>;
}

/// Picks the steps for a partner of a tenant.
pub type StepsFor = Arc<dyn Fn(&str) -> Steps + Send + Sync>;

/// How often workers look for work written by another process (`ferry put`
/// while `ferry serve` runs); work from this process wakes them at once.
const POLL: Duration = Duration::from_millis(200);

/// How often they look when the journal announces work (PostgreSQL's
/// `NOTIFY`): only for announcements lost, and never later than the next
/// task due (a retry's time).
const POLL_ANNOUNCED: Duration = Duration::from_secs(2);

/// Whose tasks this pipeline's are, and for how long a task it takes stays
/// its own without word from it (`TaskQueue::lease`).
#[derive(Debug, Clone)]
pub struct Leasing {
    /// The node's name, unique among the nodes of one journal.
    pub owner: String,
    pub term: Duration,
}

impl Default for Leasing {
    fn default() -> Leasing {
        Leasing {
            owner: "local".to_owned(),
            term: Duration::from_secs(30),
        }
    }
}

pub struct Pipeline {
    journal: Arc<dyn Journal>,
    source: Arc<dyn StepSource>,
    leasing: Leasing,
    busy: Mutex<Busy>,
    wake: Condvar,
    /// How long an idle worker waits at most: [`POLL`] or [`POLL_ANNOUNCED`].
    poll_ms: AtomicU64,
    /// When the next task is due, in milliseconds, as the last look found
    /// (`i64::MAX`: none).
    due_at: AtomicI64,
    stopping: AtomicBool,
    /// Worker threads started.
    workers: AtomicU32,
    /// Which tenant looks for work first, among those with as many tasks
    /// running: turns, so that none always goes first.
    turn: AtomicUsize,
}

/// The tasks this process's workers hold, with their lease tokens.
#[derive(Default)]
struct Busy {
    ids: HashMap<i64, Option<i64>>,
    by_tenant: HashMap<String, u32>,
}

/// A task a worker took, with the connector slot a push needs.
struct Claimed {
    task: Task,
    _slot: Option<crate::usage::ConnectorSlot>,
}

/// Due tasks of one tenant looked at per claim: enough to find one that
/// is not a push waiting for a connector slot.
const CANDIDATES: usize = 8;

/// Sets the calling worker's CPU priority, `[limits] pipeline_priority`:
/// pipeline steps are background work (no client waits on them), and a
/// plugin that spins until its deadline must not slow another tenant's
/// transfer. `low` (the default) is nice 19; with `plugin_cpu` capping a
/// spinning tenant, that keeps the noisy-neighbour benchmark within its
/// target (nice 19 alone did not: a spinning worker still took 65% of a
/// core during a neighbour's upload). `idle` is Linux's `SCHED_IDLE` (nice
/// 19 where refused): a core only when nothing else wants one, so on a host
/// whose other programs keep the cores busy, steps (and a worker holding
/// the journal's writer) wait for idle moments. Plugin deadlines count CPU
/// time, so a starved call is late, not failed.
fn set_priority(priority: config::WorkerPriority) {
    use thread_priority::unix::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
        thread_native_id,
    };
    let nice_19 = || {
        // A thread id names the thread alone on Linux.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    };
    match priority {
        config::WorkerPriority::Normal => return,
        config::WorkerPriority::Low => return nice_19(),
        config::WorkerPriority::Idle => {}
    }
    let idle = set_thread_priority_and_policy(
        thread_native_id(),
        thread_priority::ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    );
    if let Err(e) = idle {
        tracing::debug!(error = ?e, "cannot run the pipeline workers at idle priority");
        nice_19();
    }
}

/// What running one task came to.
enum Outcome {
    Done,
    /// The step could not run now; try again later.
    Retry(String),
}

impl Pipeline {
    pub fn new(
        journal: Arc<dyn Journal>,
        source: Arc<dyn StepSource>,
        leasing: Leasing,
    ) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            journal,
            source,
            leasing,
            busy: Mutex::default(),
            wake: Condvar::new(),
            poll_ms: AtomicU64::new(POLL.as_millis() as u64),
            due_at: AtomicI64::new(i64::MAX),
            stopping: AtomicBool::new(false),
            workers: AtomicU32::new(0),
            turn: AtomicUsize::new(0),
        })
    }

    /// Tells an idle worker that new work is there. One is enough: waking
    /// them all for one task costs each a context switch for nothing.
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Starts `n` worker threads that run until [`Pipeline::stop`], and
    /// the thread that renews their leases. Leases an earlier run of this
    /// node left are ended first: its tasks are this run's at once.
    pub fn spawn_workers(
        self: &Arc<Self>,
        n: u32,
        priority: config::WorkerPriority,
    ) -> Vec<std::thread::JoinHandle<()>> {
        match self.journal.release_leases(&self.leasing.owner) {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, node = %self.leasing.owner,
                "took back the tasks an earlier run of this node held"),
            Err(e) => tracing::warn!(error = %crate::error_chain(&e),
                "cannot end the leases of an earlier run; they run out by themselves"),
        }
        // Work queued by another node wakes a worker at once; polling
        // stays for wake-ups that are lost.
        let me = Arc::downgrade(self);
        let announced = self.journal.on_new_work(Box::new(move || {
            if let Some(pipeline) = me.upgrade() {
                pipeline.notify();
            }
        }));
        if announced {
            self.poll_ms
                .store(POLL_ANNOUNCED.as_millis() as u64, Ordering::Relaxed);
        }
        self.workers.fetch_add(n, Ordering::SeqCst);
        let renewer = {
            let pipeline = Arc::clone(self);
            std::thread::Builder::new()
                .name("pipeline-leases".into())
                .spawn(move || pipeline.renew_leases())
                .expect("spawning a pipeline thread")
        };
        std::iter::once(renewer)
            .chain((0..n).map(|i| {
                let pipeline = Arc::clone(self);
                std::thread::Builder::new()
                    .name(format!("pipeline-{i}"))
                    .spawn(move || {
                        set_priority(priority);
                        pipeline.work()
                    })
                    .expect("spawning a pipeline thread")
            }))
            .collect()
    }

    /// Renews the leases of the tasks being run, three times a term, so
    /// that a long step (a push of a large file) stays this node's while
    /// it runs, and a node that dies loses its tasks within a term.
    fn renew_leases(&self) {
        let every = self.leasing.term / 3;
        let mut last = std::time::Instant::now();
        // Leases found lost at the last renewal, with their tokens.
        let mut suspects: Vec<(i64, i64)> = Vec::new();
        while !self.stopping.load(Ordering::SeqCst) {
            std::thread::sleep(POLL.min(every));
            if last.elapsed() < every {
                continue;
            }
            last = std::time::Instant::now();
            let held: Vec<(i64, i64)> = {
                let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
                busy.ids
                    .iter()
                    .filter_map(|(&id, &token)| Some((id, token?)))
                    .collect()
            };
            match self
                .journal
                .renew(&self.leasing.owner, &held, self.leasing.term)
            {
                Ok(lost) => {
                    // A task whose step committed while this renewal ran
                    // gave its lease up itself, and its worker lets go of
                    // it moments later: not lost. One still held with the
                    // same token at the next renewal, and lost again, is
                    // (the bench's small files met the first kind).
                    let lost: Vec<(i64, i64)> = held
                        .iter()
                        .filter(|(id, _)| lost.contains(id))
                        .copied()
                        .collect();
                    let confirmed: Vec<i64> = lost
                        .iter()
                        .filter(|held| suspects.contains(held))
                        .map(|&(id, _)| id)
                        .collect();
                    suspects = lost;
                    // Its step will fail to record (the token no longer
                    // matches) and roll back; whoever holds it now runs it.
                    if !confirmed.is_empty() {
                        tracing::warn!(lost = ?confirmed, "leases of running tasks were lost");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "cannot renew task leases")
                }
            }
        }
    }

    /// How many tasks this process's workers are running.
    pub fn running(&self) -> usize {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ids
            .len()
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// Hands back the leases this node still holds, once its workers have
    /// stopped: another node takes those tasks at once rather than after a
    /// term. (A worker finishes the step it runs before it stops, so there
    /// are rarely any.)
    pub fn hand_back(&self) {
        match self.journal.release_leases(&self.leasing.owner) {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "tasks handed back"),
            Err(e) => tracing::warn!(error = %crate::error_chain(&e),
                "cannot hand back task leases; they run out by themselves"),
        }
    }

    fn work(&self) {
        while !self.stopping.load(Ordering::SeqCst) {
            match self.claim(true) {
                Ok(Some(claimed)) => {
                    self.run(&claimed.task);
                    self.release(claimed);
                }
                Ok(None) => self.idle(),
                Err(e) => {
                    tracing::error!(error = %crate::error_chain(&e), "cannot read pipeline tasks");
                    self.idle();
                }
            }
        }
    }

    fn idle(&self) {
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        // A task due later (a retry) is looked for when it is due; one due
        // already that no worker here could take (another node holds it)
        // at the next poll, when its lease may have run out.
        let poll = Duration::from_millis(self.poll_ms.load(Ordering::Relaxed));
        let due_in = self
            .due_at
            .load(Ordering::Relaxed)
            .saturating_sub(Timestamp::now().0);
        let wait = match u64::try_from(due_in) {
            Ok(ms) if ms > 0 => poll.min(Duration::from_millis(ms)),
            _ => poll,
        };
        let _unused = self.wake.wait_timeout(busy, wait);
    }

    /// Takes one due task no other worker of this process holds, sharing
    /// the workers between tenants: the tenant with the fewest tasks
    /// running goes first, and while several tenants are configured none
    /// may hold every worker, so that a tenant whose plugins spin until
    /// their deadline or whose partner's server hangs cannot stall the
    /// others. A push waits (due, unclaimed) while its tenant's
    /// `max_connector_transfers` run; the worker moves on to other work.
    ///
    /// `shared` is false for [`Pipeline::drain`], the one-shot run of a
    /// command: it waits for no tenant's CPU share.
    fn claim(&self, shared: bool) -> Result<Option<Claimed>, JournalError> {
        let now = Timestamp::now();
        // One indexed look first: idle workers ask every 200 ms, and the
        // per-tenant queries below are only worth it when something is due.
        let due = self.journal.next_due()?;
        self.due_at
            .store(due.map_or(i64::MAX, |at| at.0), Ordering::Relaxed);
        if due.is_none_or(|at| at > now) {
            return Ok(None);
        }
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let held: Vec<i64> = busy.ids.keys().copied().collect();
        let mut tenants = self.source.tenants();
        if tenants.is_empty() {
            return Ok(None);
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % tenants.len();
        tenants.rotate_left(turn);
        let running = |busy: &Busy, tenant: &str| busy.by_tenant.get(tenant).copied().unwrap_or(0);
        tenants.sort_by_key(|tenant| running(&busy, tenant));
        let workers = self.workers.load(Ordering::SeqCst);
        let share = if workers > 1 && tenants.len() > 1 {
            workers - 1
        } else {
            u32::MAX
        };
        for tenant in tenants {
            if running(&busy, &tenant) >= share {
                continue;
            }
            for mut task in self.journal.due_tasks(&tenant, now, &held, CANDIDATES)? {
                let slot = match task.step {
                    Step::Push => match self.source.connector_slot(&tenant) {
                        Some(slot) => Some(slot),
                        None => continue,
                    },
                    // Plugin steps wait while their tenant is over its CPU share.
                    Step::Process | Step::Acknowledge(_)
                        if shared && !self.source.cpu_ready(&tenant) =>
                    {
                        continue;
                    }
                    _ => None,
                };
                // Another node (or a command) may have taken it since it
                // was listed.
                if !self
                    .journal
                    .lease(&mut task, &self.leasing.owner, self.leasing.term)?
                {
                    continue;
                }
                busy.ids.insert(task.id, task.lease);
                *busy.by_tenant.entry(tenant.clone()).or_default() += 1;
                return Ok(Some(Claimed { task, _slot: slot }));
            }
        }
        Ok(None)
    }

    fn release(&self, claimed: Claimed) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.ids.remove(&claimed.task.id);
        if let Some(n) = busy.by_tenant.get_mut(&claimed.task.tenant) {
            *n = n.saturating_sub(1);
        }
        // Finishing a task often queues the next step of its message: the
        // worker that finished it looks for that at once, without a wake-up.
    }

    /// Runs every task that is due now, on the calling thread, and returns
    /// how many ran. For `ferry put` when no server is running.
    pub fn drain(&self) -> Result<usize, JournalError> {
        let mut ran = 0;
        while let Some(claimed) = self.claim(false)? {
            self.run(&claimed.task);
            self.release(claimed);
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs one task and records what came of it. Never panics on bad
    /// input: every failure becomes a retry or a dead letter in the journal.
    fn run(&self, task: &Task) {
        let span = tracing::info_span!("task", id = task.id, tenant = %task.tenant,
            message = %task.message, step = task.step.name());
        let _enter = span.enter();
        let outcome = match self.step(task) {
            Ok(outcome) => outcome,
            Err(e) => Outcome::Retry(crate::error_chain(&e)),
        };
        let Outcome::Retry(error) = outcome else {
            tracing::debug!("done");
            return;
        };
        let attempts = task.attempts + 1;
        let recorded = if attempts >= self.source.max_attempts() {
            tracing::error!(%error, attempts, "giving up: dead-lettered");
            self.journal.fail_task(task, &error)
        } else {
            let delay = backoff(attempts);
            tracing::warn!(%error, attempts, retry_in = ?delay, "step failed, will retry");
            self.journal
                .retry_task(task, &error, Timestamp::now().after(delay))
        };
        if let Err(e) = recorded {
            // The task stays pending as it was and is picked up again.
            tracing::error!(error = %crate::error_chain(&e), "cannot record a step failure");
        }
    }

    fn step(&self, task: &Task) -> Result<Outcome, JournalError> {
        let Some((tenant, store, steps_for)) = self.source.resolve(&task.tenant) else {
            return Ok(Outcome::Retry(format!(
                "tenant `{}` is not configured",
                task.tenant
            )));
        };
        let message = self.journal.message(&task.tenant, task.message)?;
        let steps = steps_for(&message.partner);
        let cx = Context {
            message: &message,
            store: &store,
            tenant: &tenant,
            journal: &self.journal,
        };
        match &task.step {
            Step::Process => return self.process(task, &cx, &steps),
            Step::Deliver(delivery) => {
                if !tenant.partners.contains_key(&delivery.to) {
                    return Ok(Outcome::Retry(format!(
                        "partner `{}` is not configured",
                        delivery.to
                    )));
                }
                crate::crashpoint("pipeline.before-delivery");
                let push = pushes_to(&tenant, &delivery.to);
                // A transform that cannot run is tried again, and after the
                // last attempt the delivery is dead-lettered with its reason.
                let shaped = match super::transform::outbound(&cx, delivery) {
                    Ok(shaped) => shaped,
                    Err(e) => return Ok(Outcome::Retry(crate::error_chain(&e))),
                };
                self.journal
                    .finish_delivery(task, delivery, push, shaped.as_ref())?;
                crate::crashpoint("pipeline.delivered");
            }
            Step::Acknowledge(event) => {
                let decided = match steps.acknowledger.acknowledge(&cx, event) {
                    Ok(decided) => decided,
                    Err(e) => return Ok(Outcome::Retry(format!("acknowledger: {e}"))),
                };
                let (mut files, mut renames) = (Vec::new(), Vec::new());
                for action in decided.value {
                    match action {
                        AckAction::WriteFile {
                            partner,
                            name,
                            content,
                        } => {
                            if let Err(why) =
                                check_ack_target(&tenant, &message.partner, &partner, &name)
                            {
                                return Ok(Outcome::Retry(format!("acknowledger: {why}")));
                            }
                            let committed = match store.put_bytes(&content) {
                                Ok(committed) => committed,
                                Err(e) => return Ok(Outcome::Retry(crate::error_chain(&e))),
                            };
                            files.push(AckFile {
                                push: pushes_to(&tenant, &partner),
                                partner,
                                name,
                                hash: committed.hash,
                                size: committed.size,
                            });
                        }
                        AckAction::RenameFile {
                            partner,
                            mailbox,
                            old_name,
                            new_name,
                        } => {
                            if let Err(why) =
                                check_ack_target(&tenant, &message.partner, &partner, &new_name)
                            {
                                return Ok(Outcome::Retry(format!("acknowledger: {why}")));
                            }
                            renames.push(Rename {
                                partner,
                                mailbox,
                                old_name,
                                new_name,
                            });
                        }
                    }
                }
                if let Err(why) = self.rename_remote(&tenant, &renames) {
                    return Ok(Outcome::Retry(format!("acknowledger: {why}")));
                }
                self.journal
                    .finish_acknowledge(task, &files, &renames, &decided.by)?;
            }
            Step::Push => return self.push(task, &cx),
        }
        Ok(Outcome::Done)
    }
}

impl Pipeline {
    /// Inbound transforms (decryption, archives), or else verdict, then
    /// routing. A validator or router that cannot decide quarantines the
    /// file with its reason: nothing is dropped, nothing is guessed.
    fn process(
        &self,
        task: &Task,
        cx: &Context<'_>,
        steps: &Steps,
    ) -> Result<Outcome, JournalError> {
        use super::transform::Inbound;
        let transformed = match super::transform::inbound(cx, self.source.max_file_size()) {
            Ok(transformed) => transformed,
            Err(e) => return Ok(Outcome::Retry(crate::error_chain(&e))),
        };
        match transformed {
            Inbound::Untouched => {}
            Inbound::Made(outputs, detail) => {
                crate::crashpoint("pipeline.transformed");
                self.journal.finish_transform(task, &outputs, &detail)?;
                return Ok(Outcome::Done);
            }
            Inbound::Refused(by, reason) => {
                let verdict = Verdict::Reject {
                    reasons: vec![reason],
                };
                self.journal
                    .finish_process(task, (&verdict, &Provenance::builtin(by)), None)?;
                return Ok(Outcome::Done);
            }
        }
        self.decide(task, cx, steps)?;
        Ok(Outcome::Done)
    }

    /// Verdict, then routing.
    fn decide(&self, task: &Task, cx: &Context<'_>, steps: &Steps) -> Result<(), JournalError> {
        let verdict = match steps.validator.validate(cx) {
            Ok(decided) => decided,
            Err(e) => quarantined("validator", &e),
        };
        let routing = match verdict.value {
            Verdict::Accept => match steps.router.route(cx) {
                Ok(routing) => Some(routing),
                Err(e) => {
                    let verdict = quarantined("router", &e);
                    return self
                        .journal
                        .finish_process(task, (&verdict.value, &verdict.by), None);
                }
            },
            _ => None,
        };
        if let Some(Decided {
            value: Routing::Deliver(deliveries),
            by,
        }) = &routing
            && let Some(reason) = deliveries
                .iter()
                .find_map(|d| routing_problem(cx.tenant, &by.by, d))
        {
            let verdict = Decided {
                value: Verdict::Quarantine { reason },
                by: by.clone(),
            };
            return self
                .journal
                .finish_process(task, (&verdict.value, &verdict.by), None);
        }
        crate::crashpoint("pipeline.decided");
        self.journal.finish_process(
            task,
            (&verdict.value, &verdict.by),
            routing.as_ref().map(|r| (&r.value, &r.by)),
        )
    }
}

/// Why a router's delivery cannot be made, if it cannot: a partner the
/// tenant does not have, a name that is not one, or a transform asked that
/// the target cannot get (`encrypt` with no key).
fn routing_problem(tenant: &config::Tenant, by: &str, delivery: &Delivery) -> Option<String> {
    if !tenant.partners.contains_key(&delivery.to) || check_name(&delivery.name).is_err() {
        return Some(format!(
            "{by} routed to partner `{}` as `{}`, which is not a configured partner \
             and a valid file name",
            delivery.to, delivery.name
        ));
    }
    super::transform::check_requests(tenant, delivery).map(|why| format!("{by}: {why}"))
}

/// Whether files for `partner` go to its own server.
fn pushes_to(tenant: &config::Tenant, partner: &str) -> bool {
    tenant
        .partners
        .get(partner)
        .is_some_and(|p| p.push.is_some() && p.connector.is_some())
}

/// Attempts within one run of a push step before it is retried with
/// backoff: a dropped connection is usually back at once, and each attempt
/// continues the bytes the last one left on the server. Attempts go on
/// while they make progress, up to `QUICK_ATTEMPTS`; `STALLED_ATTEMPTS`
/// in a row without progress hand the task to the backoff.
const QUICK_ATTEMPTS: u32 = 20;
const STALLED_ATTEMPTS: u32 = 3;

impl Pipeline {
    /// Places an outbound message on its partner's server.
    fn push(&self, task: &Task, cx: &Context<'_>) -> Result<Outcome, JournalError> {
        let message = cx.message;
        let partner = cx.tenant.partners.get(&message.partner);
        let Some((connector, push)) =
            partner.and_then(|p| p.connector.as_ref().zip(p.push.as_ref()))
        else {
            return Ok(Outcome::Retry(format!(
                "partner `{}` has no `connector` and `push` to push to",
                message.partner
            )));
        };
        let Some(hash) = message.hash else {
            return Ok(Outcome::Retry("the message has no content".into()));
        };
        let mut attempts = crate::connectors::Attempts {
            retry: self.journal.push_started(&task.tenant, message.id)?,
            ..Default::default()
        };
        let mut error = String::new();
        // The largest partial file an attempt found: finding more means the
        // attempt before made progress; finding no more, or failing before
        // looking, is a stall. The first failure is not counted: there is
        // nothing yet to compare with.
        let (mut stalled, mut furthest) = (0, None::<u64>);
        let throttle = self.source.push_throttle(&task.tenant, &message.partner);
        for attempt in 0..QUICK_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 * u64::from(stalled + 1)));
            }
            attempts.kept = None;
            let began = std::time::Instant::now();
            let pushed = cx
                .content()
                .map_err(|e| e.to_string())
                .and_then(|mut content| {
                    let mut remote = crate::connectors::connect(connector)
                        .map_err(|e| crate::error_chain(&e))?;
                    crate::connectors::push_file(
                        &mut *remote,
                        push,
                        &crate::connectors::Outgoing {
                            name: &message.name,
                            size: message.size,
                            sha256: &hash.to_string(),
                        },
                        &mut content,
                        &mut attempts,
                        throttle.as_ref(),
                    )
                    .map_err(|e| crate::error_chain(&e))
                });
            match pushed {
                Ok(mut report) => {
                    crate::crashpoint("push.renamed");
                    report.seconds = (began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
                    let detail = serde_json::to_value(&report).unwrap_or_default();
                    tracing::info!(server = %report.server, path = %report.path,
                        resumed_from = report.resumed_from, "pushed");
                    self.journal.finish_push(task, &message.partner, &detail)?;
                    let protocol = format!("{}-push", connector.protocol.as_str());
                    let metrics = crate::metrics::metrics();
                    metrics.sent(&task.tenant, &protocol, message.size);
                    metrics.transfer(&task.tenant, &protocol, report.seconds);
                    return Ok(Outcome::Done);
                }
                Err(why) => {
                    tracing::warn!(error = %why, attempt, kept = ?attempts.kept, "push attempt failed");
                    error = why;
                    attempts.retry = true;
                    match attempts.kept {
                        Some(kept) if furthest.is_none_or(|f| kept > f) => {
                            furthest = Some(kept);
                            stalled = 0;
                        }
                        _ if attempt > 0 => stalled += 1,
                        _ => {}
                    }
                    if stalled >= STALLED_ATTEMPTS {
                        break;
                    }
                }
            }
        }
        Ok(Outcome::Retry(error))
    }

    /// Applies acknowledgement renames of pulled files on the partner's
    /// server too (`NAME` to `NAME.received`, say), before the journal
    /// records them. A file already renamed there counts as done.
    fn rename_remote(&self, tenant: &config::Tenant, renames: &[Rename]) -> Result<(), String> {
        for rename in renames {
            let Some(connector) = tenant
                .partners
                .get(&rename.partner)
                .and_then(|p| p.connector.as_ref())
            else {
                continue;
            };
            if rename.mailbox != crate::journal::Mailbox::Inbox {
                continue;
            }
            let entry = self
                .journal
                .find_entry(
                    &tenant.name,
                    &rename.partner,
                    rename.mailbox,
                    &rename.old_name,
                )
                .map_err(|e| crate::error_chain(&e))?;
            let Some(entry) = entry else { continue };
            let Some(path) = self
                .journal
                .pulled_path(&tenant.name, entry.message)
                .map_err(|e| crate::error_chain(&e))?
            else {
                continue;
            };
            let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            let to = crate::connectors::join(dir, &rename.new_name);
            let mut remote =
                crate::connectors::connect(connector).map_err(|e| crate::error_chain(&e))?;
            if remote
                .size(&path)
                .map_err(|e| crate::error_chain(&e))?
                .is_none()
            {
                continue;
            }
            remote
                .rename(&path, &to)
                .map_err(|e| crate::error_chain(&e))?;
        }
        Ok(())
    }
}

/// An acknowledgement may only write into partners of the tenant, under valid names.
/// Whether an acknowledger of `sender`'s file may write or rename `name`
/// in `partner`'s mailbox: only the sender's own, as the WIT documents, so
/// that one partner's plugin cannot place files for, or rename those of,
/// the tenant's other partners.
fn check_ack_target(
    tenant: &config::Tenant,
    sender: &str,
    partner: &str,
    name: &str,
) -> Result<(), String> {
    if !tenant.partners.contains_key(partner) {
        return Err(format!("no partner `{partner}` in this tenant"));
    }
    if partner != sender {
        return Err(format!(
            "an acknowledger acts on the file's sender `{sender}` only, not on `{partner}`"
        ));
    }
    check_name(name).map_err(|e| format!("`{name}`: {e}"))
}

/// An acknowledgement's file name: a path relative to the mailbox, as the
/// file it answers may have (`batch/a.csv.received`).
fn check_name(name: &str) -> Result<(), &'static str> {
    crate::names::check_relative_path(name).map(|_| ())
}

fn quarantined(step: &str, error: &StepError) -> Decided<Verdict> {
    Decided::builtin("pipeline", quarantine(step, error))
}

fn quarantine(step: &str, error: &StepError) -> Verdict {
    Verdict::Quarantine {
        reason: format!("{step} failed: {error}"),
    }
}

/// 1 s, 2 s, 4 s, ... capped at 5 minutes, plus up to a quarter more at
/// random, so that tasks failing together (a partner's server down) do not
/// come back together.
fn backoff(attempts: u32) -> Duration {
    let base = Duration::from_secs(1u64 << attempts.saturating_sub(1).min(9))
        .min(Duration::from_secs(300));
    base + base.mul_f64(rand::random::<f64>() / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        for _ in 0..100 {
            let (one, three, many) = (backoff(1), backoff(3), backoff(30));
            assert!(
                one >= Duration::from_secs(1) && one <= Duration::from_millis(1250),
                "{one:?}"
            );
            assert!(
                three >= Duration::from_secs(4) && three <= Duration::from_secs(5),
                "{three:?}"
            );
            assert!(
                many >= Duration::from_secs(300) && many <= Duration::from_secs(375),
                "{many:?}"
            );
        }
    }
}
