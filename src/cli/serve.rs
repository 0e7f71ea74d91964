use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use std::sync::Arc;

use crate::config::{self, Protocol};
use crate::journal::Timestamp;
use crate::tenant::{Hub, PipelineLock};

pub fn serve(config_path: &Path) -> anyhow::Result<ExitCode> {
    crate::alloc::spawn_trimmer();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(run(config_path))
}

async fn run(config_path: &Path) -> anyhow::Result<ExitCode> {
    let config = config::load(config_path)?;
    let data_dir = config.data_dir.clone();
    let workers = config.limits.pipeline_workers;
    let priority = config.limits.pipeline_priority;
    let listeners = config.listeners.clone();
    let admin = config.admin.clone();
    let hub = Hub::open(config)?;
    let lock = PipelineLock::acquire(&data_dir)?;
    let removed = hub.recover(&lock)?;
    if removed > 0 {
        tracing::info!(removed, "removed staging files left by an interrupted run");
    }
    for listener in &listeners {
        match listener.protocol {
            Protocol::Sftp => {
                let server =
                    crate::protocols::sftp::bind(Arc::clone(&hub), listener.clone()).await?;
                tokio::spawn(server);
            }
            Protocol::Ftp | Protocol::Ftps => {
                let server =
                    crate::protocols::ftp::bind(Arc::clone(&hub), listener.clone()).await?;
                tokio::spawn(server);
            }
            Protocol::Https => {
                let server =
                    crate::protocols::https::bind(Arc::clone(&hub), listener.clone()).await?;
                tokio::spawn(server);
            }
        }
    }
    if let Some(admin) = &admin {
        let server = crate::admin::bind(Arc::clone(&hub), admin, config_path).await?;
        tokio::spawn(server);
    }

    // Another node's announced change (an admin edit in a shared
    // `tenants_dir`) is read here too; this node's own are not.
    {
        let (me, path, weak) = (
            hub.config().node.clone(),
            config_path.to_owned(),
            Arc::downgrade(&hub),
        );
        hub.journal().on_told(
            crate::journal::Topic::Config,
            Box::new(move |payload| {
                let Some(hub) = weak.upgrade() else { return };
                // `NODE` (all of the configuration) or `NODE/TENANT` (one
                // tenant's own change); "" when a change may have been missed.
                let (origin, tenant) = match payload.split_once('/') {
                    Some((origin, tenant)) => (origin, Some(tenant)),
                    None => (payload, None),
                };
                if origin == me {
                    return;
                }
                // The shared tenants first: the change may be theirs.
                let reloaded = hub
                    .fetch_shared()
                    .and_then(|_| hub.reload_announced(&path, tenant));
                if let Err(e) = reloaded {
                    tracing::error!(origin, error = %crate::error_chain(&e).replace("\n  ", "; "),
                    "a change another node announced cannot be applied here");
                }
            }),
        );
    }
    // Bans another node imposed or lifted apply here too.
    {
        let weak = Arc::downgrade(&hub);
        hub.journal().on_told(
            crate::journal::Topic::Bans,
            Box::new(move |told| {
                if let Some(hub) = weak.upgrade() {
                    hub.guard().heard(told);
                }
            }),
        );
    }
    // A kick of one of this node's sessions through another node's admin API.
    {
        let weak = Arc::downgrade(&hub);
        hub.journal().on_told(
            crate::journal::Topic::Sessions,
            Box::new(move |told| {
                if let Some(hub) = weak.upgrade() {
                    hub.heard_of_sessions(told);
                }
            }),
        );
    }
    hub.watch_plugins()?;
    let pipeline = hub.pipeline()?;
    let threads = pipeline.spawn_workers(workers, priority);
    let poller = crate::poller::spawn(Arc::clone(&hub));
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tracing::info!(data_dir = %data_dir.display(), workers, "ferry ready");

    // Retention, and the store sweep after it, run at start and then hourly:
    // the sweep walks every blob of every tenant, a directory listing each.
    let mut retention = tokio::time::interval(std::time::Duration::from_secs(3600));
    // Interrupted uploads are given up soon after `resume_for`: checked a
    // few times within it, at most every minute.
    let resume_for = hub.config().limits.resume_for;
    let sweep_every = (resume_for / 4).clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    let mut sweep = tokio::time::interval(sweep_every);
    let mut heartbeat = tokio::time::interval(crate::tenant::HEARTBEAT);
    // Checkpoints are looked at every minute (or as often as asked, if
    // that is sooner); each tenant gets one when due (`Notary`).
    let checkpoints = hub.config().checkpoints;
    let mut checkpoint =
        tokio::time::interval(checkpoints.every.min(std::time::Duration::from_secs(60)));
    let started_at = Timestamp::now();
    let mut beat_soon = false;
    loop {
        tokio::select! {
            // A session opened or closed: the other nodes learn it within a
            // second (changes within that second go in one beat; the loop
            // never waits for it).
            _ = hub.sessions().changed() => {
                if !beat_soon {
                    heartbeat.reset_after(std::time::Duration::from_secs(1));
                    beat_soon = true;
                }
            }
            _ = heartbeat.tick() => {
                beat_soon = false;
                let hub = hub.clone();
                let path = config_path.to_owned();
                let beat = tokio::task::spawn_blocking(move || {
                    if let Err(e) = hub.heartbeat(started_at) {
                        tracing::warn!(error = %crate::error_chain(&e), "heartbeat not recorded");
                    }
                    // A change of the shared tenants whose announcement
                    // this node missed is caught here.
                    if let Err(e) = hub.catch_up_shared(&path) {
                        tracing::error!(error = %crate::error_chain(&e).replace("\n  ", "; "),
                            "the shared tenants' change cannot be applied here");
                    }
                });
                let _ = beat.await;
            }
            _ = sweep.tick() => {
                let hub = hub.clone();
                if let Ok(expired) = tokio::task::spawn_blocking(move || hub.expire_suspended(Timestamp::now())).await
                    && expired > 0
                {
                    tracing::info!(expired, "interrupted uploads given up after resume_for");
                }
            }
            _ = checkpoint.tick() => {
                let hub = hub.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    for tenant in hub.config().tenants.keys() {
                        if let Err(e) = hub.notary().checkpoint_if_due(tenant, &checkpoints) {
                            tracing::error!(tenant, error = %crate::error_chain(&e), "journal checkpoint failed");
                        }
                    }
                })
                .await;
            }
            _ = retention.tick() => {
                let hub = hub.clone();
                let result = tokio::task::spawn_blocking(move || hub.expire(Timestamp::now())).await;
                match result {
                    Ok(Ok(0)) => {}
                    Ok(Ok(removed)) => tracing::info!(removed, "retention removed expired content"),
                    Ok(Err(e)) => tracing::error!(error = %crate::error_chain(&e), "retention failed"),
                    Err(e) => tracing::error!(error = %e, "retention panicked"),
                }
            }
            _ = hangup.recv() => {
                let hub = hub.clone();
                let path = config_path.to_owned();
                let result = tokio::task::spawn_blocking(move || {
                    hub.fetch_shared()?;
                    hub.reload(&path)
                })
                .await;
                match result {
                    Ok(Ok(())) => {}
                    // One log line per event: the problems of the file are joined with `; `.
                    Ok(Err(e)) => tracing::error!(
                        error = %crate::error_chain(&e).replace("\n  ", "; "),
                        "configuration reload refused; the previous configuration stays in force"
                    ),
                    Err(e) => tracing::error!(error = %e, "configuration reload panicked"),
                }
            }
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }

    tracing::info!("stopping");
    // Sessions are told (FTP `421`, an SSH disconnect) and given a moment
    // to go, rather than cut when the process ends.
    let tenants: Vec<String> = hub.config().tenants.keys().cloned().collect();
    let closing: usize = tenants.iter().map(|t| hub.sessions().kick_tenant(t)).sum();
    if closing > 0 {
        tracing::info!(closing, "closing the sessions");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !hub.sessions().list(None).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    poller.stop();
    pipeline.stop();
    for thread in threads {
        let _ = thread.join();
    }
    pipeline.hand_back();
    drop(lock);
    Ok(ExitCode::SUCCESS)
}
