//! The poller: one thread per pull source (a partner with a `pull`
//! section), each polling on its schedule. A supervisor thread starts
//! threads for sources a reload adds; a thread whose source a reload removed
//! ends at its next wake-up.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

mod pull;

pub use pull::{PollMemory, PullReport, poll_source};

use crate::config::Partner;
use crate::connectors::{connect, fxp_transfer, join};
use crate::journal::{EventKind, FxpRecord, PulledKey};
use crate::tenant::Hub;

/// How often sleeping threads look at the stop flag and the configuration.
const TICK: Duration = Duration::from_millis(200);

pub struct Poller {
    stop: Arc<AtomicBool>,
    supervisor: Option<std::thread::JoinHandle<()>>,
}

type Running = Arc<Mutex<HashMap<(String, String), std::thread::JoinHandle<()>>>>;

/// Starts polling every pull source of `hub`'s configuration.
pub fn spawn(hub: Arc<Hub>) -> Poller {
    let stop = Arc::new(AtomicBool::new(false));
    let running: Running = Arc::default();
    let supervisor = {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("poller".into())
            .spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    start_new_sources(&hub, &stop, &running);
                    std::thread::sleep(TICK);
                }
                let threads: Vec<_> = running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .drain()
                    .collect();
                for (_, thread) in threads {
                    let _ = thread.join();
                }
            })
            .expect("spawning the poller")
    };
    Poller {
        stop,
        supervisor: Some(supervisor),
    }
}

impl Poller {
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.supervisor.take() {
            let _ = thread.join();
        }
    }
}

fn sources(hub: &Hub) -> HashSet<(String, String)> {
    let config = hub.config();
    config
        .tenants
        .values()
        .flat_map(|t| {
            t.partners
                .values()
                .filter(|p| p.pull.is_some() && p.connector.is_some())
                .map(|p| (t.name.clone(), p.name.clone()))
        })
        .collect()
}

fn start_new_sources(hub: &Arc<Hub>, stop: &Arc<AtomicBool>, running: &Running) {
    let mut running = running.lock().unwrap_or_else(|p| p.into_inner());
    running.retain(|_, thread| !thread.is_finished());
    for source in sources(hub) {
        if running.contains_key(&source) {
            continue;
        }
        let (hub, stop) = (Arc::clone(hub), Arc::clone(stop));
        let (tenant, partner) = source.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pull-{partner}"))
            .spawn(move || poll_loop(&hub, &stop, &tenant, &partner))
            .expect("spawning a pull thread");
        running.insert(source, thread);
    }
}

/// Polls one source until it leaves the configuration or the poller stops,
/// then lets go of the source's lease, so that another node takes it at
/// once. The first poll is at once.
fn poll_loop(hub: &Hub, stop: &AtomicBool, tenant: &str, partner: &str) {
    poll_until_stopped(hub, stop, tenant, partner);
    hub.polls().forget(tenant, partner);
    let job = format!("pull:{tenant}/{partner}");
    if let Err(e) = hub.journal().let_go(&job, &hub.config().node) {
        tracing::debug!(tenant, partner, error = %crate::error_chain(&e), "the pull lease runs out by itself");
    }
}

fn poll_until_stopped(hub: &Hub, stop: &AtomicBool, tenant: &str, partner: &str) {
    let mut memory = PollMemory::default();
    let mut due = SystemTime::now();
    while !stop.load(Ordering::SeqCst) {
        let Some(settings) = hub
            .tenant(tenant)
            .and_then(|t| t.config().partners.get(partner).cloned())
        else {
            return;
        };
        let Some(pull) = &settings.pull else { return };
        if SystemTime::now() < due {
            std::thread::sleep(TICK.min(due.duration_since(SystemTime::now()).unwrap_or_default()));
            continue;
        }
        // A poll waits while its tenant's `max_connector_transfers` run.
        let Some(_slot) = hub.tenant(tenant).and_then(|t| t.connector_slot()) else {
            std::thread::sleep(TICK);
            continue;
        };
        // One node polls a source at a time: the others find it held and
        // look again at the next poll, taking over when the holder stops
        // renewing (it died).
        let config = hub.config();
        let job = format!("pull:{tenant}/{partner}");
        let term = config.limits.task_lease.max(Duration::from_secs(60));
        match hub.journal().hold(&job, &config.node, term) {
            Ok(true) => {}
            Ok(false) => {
                due = pull.schedule.next_after(SystemTime::now());
                let why = "another node polls it now".to_owned();
                hub.polls().skipped(tenant, partner, why, due);
                continue;
            }
            Err(e) => {
                tracing::warn!(tenant, partner, error = %crate::error_chain(&e),
                    "cannot take the pull source's lease; not polling");
                due = pull.schedule.next_after(SystemTime::now());
                let why = format!("not polled: the lease: {}", crate::error_chain(&e));
                hub.polls().skipped(tenant, partner, why, due);
                continue;
            }
        }
        let span = tracing::info_span!("pull", tenant, partner);
        let _enter = span.enter();
        // Problems are logged by the poll and retried by the next one.
        let outcome = describe(&poll_once(hub, tenant, &settings, &mut memory));
        due = pull.schedule.next_after(SystemTime::now());
        hub.polls().polled(tenant, partner, outcome, due);
    }
}

/// A poll's outcome in a few words, for the admin API and the console.
fn describe(polled: &Result<Polled, String>) -> String {
    match polled {
        Err(why) => format!("failed: {why}"),
        Ok(p) => {
            let mut said = match p.taken.len() {
                0 => "nothing new".to_owned(),
                1 => "took 1 file".to_owned(),
                n => format!("took {n} files"),
            };
            if p.waiting > 0 {
                said += &format!(", {} still changing", p.waiting);
            }
            if !p.errors.is_empty() {
                said += &format!(", {} not taken: {}", p.errors.len(), p.errors[0]);
            }
            said
        }
    }
}

/// What one poll of one source took, and what went wrong with single files.
#[derive(Debug, Default)]
pub struct Polled {
    /// The names of the files pulled (or moved by FXP).
    pub taken: Vec<String>,
    /// Files seen for the first time or still changing.
    pub waiting: usize,
    pub errors: Vec<String>,
}

/// One poll of one source; problems are logged, returned, and the next
/// poll tries again. `Err` when the server could not be polled at all.
pub fn poll_once(
    hub: &Hub,
    tenant_name: &str,
    partner: &Partner,
    memory: &mut PollMemory,
) -> Result<Polled, String> {
    let (Some(tenant), Some(connector), Some(pull)) =
        (hub.tenant(tenant_name), &partner.connector, &partner.pull)
    else {
        return Err(format!(
            "partner `{}` of tenant `{tenant_name}` has no `connector` and `pull`",
            partner.name
        ));
    };
    let mut remote = match connect(connector) {
        Ok(remote) => {
            memory.last_refusal = None;
            remote
        }
        Err(e) => {
            let error = crate::error_chain(&e);
            tracing::warn!(%error, "cannot reach the partner's server");
            // A refusal that is a matter of trust (a host key that is not
            // the pinned one, a login refused) is journaled, once per
            // change, so that an operator sees it next to the transfers.
            let trust = matches!(
                e,
                crate::connectors::ConnectorError::HostKey { .. }
                    | crate::connectors::ConnectorError::Certificate { .. }
                    | crate::connectors::ConnectorError::Login { .. }
            );
            if trust && memory.last_refusal.as_deref() != Some(error.as_str()) {
                let detail = serde_json::json!({
                    "partner": partner.name, "server": connector.describe(), "error": error,
                });
                if let Err(e) =
                    hub.journal()
                        .record_event(tenant_name, EventKind::ConnectFailed, detail)
                {
                    tracing::error!(error = %crate::error_chain(&e), "cannot journal a refused connection");
                }
                memory.last_refusal = Some(error.clone());
            }
            return Err(error);
        }
    };
    if let Some(to) = &pull.fxp_to {
        return fxp_poll(hub, tenant_name, partner, to, &mut *remote, memory);
    }
    match poll_source(&mut *remote, &tenant, &partner.name, pull, memory) {
        Ok(report) => {
            for error in &report.errors {
                tracing::warn!(%error, "a file was not pulled; the next poll tries again");
            }
            if !report.ingested.is_empty() {
                tracing::info!(files = report.ingested.len(), "pulled");
            }
            Ok(Polled {
                taken: report.ingested.into_iter().map(|(name, _)| name).collect(),
                waiting: report.waiting,
                errors: report.errors,
            })
        }
        Err(e) => {
            let error = crate::error_chain(&e);
            tracing::warn!(%error, "poll failed");
            Err(error)
        }
    }
}

/// A poll whose files go to another partner's FTP server directly.
fn fxp_poll(
    hub: &Hub,
    tenant_name: &str,
    partner: &Partner,
    to: &str,
    remote: &mut dyn crate::connectors::Remote,
    memory: &mut PollMemory,
) -> Result<Polled, String> {
    let (Some(pull), Some(connector)) = (&partner.pull, &partner.connector) else {
        return Err(format!("partner `{}` has no `pull`", partner.name));
    };
    let Some(tenant) = hub.tenant(tenant_name) else {
        return Err(format!("no tenant `{tenant_name}`"));
    };
    let target = tenant.config().partners.get(to).cloned();
    let Some((to_connector, push)) = target
        .as_ref()
        .and_then(|t| t.connector.as_ref().zip(t.push.as_ref()))
    else {
        return Err(format!(
            "`fxp_to` partner `{to}` has no `connector` and `push`"
        ));
    };
    let files = remote.list(&pull.from).map_err(|e| {
        let error = crate::error_chain(&e);
        tracing::warn!(%error, "poll failed");
        error
    })?;
    let journal = hub.journal();
    let (stable, waiting) = memory.stable(pull, &files);
    let mut polled = Polled {
        waiting,
        ..Polled::default()
    };
    for file in stable {
        let path = join(&pull.from, &file.name);
        let key = PulledKey {
            tenant: tenant_name.to_owned(),
            partner: partner.name.clone(),
            path: path.clone(),
            size: file.size,
            modified: file.modified,
        };
        match journal.pulled(&key) {
            Ok(None) => {}
            Ok(Some(pulled)) => {
                // Moved before, but a crash came before the disposition.
                if !pulled.disposed
                    && let Err(error) = pull::dispose(remote, &tenant, pull, &key, &file.name)
                {
                    tracing::warn!(%error, "cannot dispose of the source");
                }
                continue;
            }
            Err(e) => {
                let error = crate::error_chain(&e);
                tracing::error!(%error, "cannot read the journal");
                return Err(error);
            }
        }
        let to_path = join(&push.to, &file.name);
        // A few quick attempts: each continues what the last one left.
        let mut outcome = Err(None);
        for attempt in 0..5 {
            match fxp_transfer(
                connector,
                &path,
                to_connector,
                &to_path,
                &push.temp_suffix,
                file.size,
                true,
            ) {
                Ok(report) => {
                    outcome = Ok(report);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), attempt, "FXP transfer failed");
                    outcome = Err(Some(e));
                    std::thread::sleep(Duration::from_millis(200 * (attempt + 1)));
                }
            }
        }
        let report = match outcome {
            Ok(report) => report,
            Err(e) => {
                let why = e.map_or_else(|| "no attempt".into(), |e| crate::error_chain(&e));
                polled.errors.push(format!("{}: {why}", file.name));
                continue;
            }
        };
        let record = FxpRecord {
            key: key.clone(),
            to: to.to_owned(),
            name: file.name.clone(),
            sha256: report.sha256.as_deref().and_then(|h| h.parse().ok()),
            detail: serde_json::to_value(&report).unwrap_or_default(),
        };
        if let Err(e) = journal.record_fxp(&record) {
            let error = crate::error_chain(&e);
            tracing::error!(%error, "cannot record an FXP transfer");
            return Err(error);
        }
        tracing::info!(path, to, size = file.size, "moved by FXP");
        polled.taken.push(file.name.clone());
        if let Err(error) = pull::dispose(remote, &tenant, pull, &key, &file.name) {
            tracing::warn!(%error, "cannot dispose of the source");
        }
    }
    Ok(polled)
}
