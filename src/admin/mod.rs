//! The admin HTTP API (`/api/v1/...`, JSON) and Prometheus metrics
//! (`/metrics`), on a listener of their own.
//!
//! Every request carries a bearer token: the operator's reaches every
//! tenant and the server itself; a tenant's reaches that tenant only, and
//! another tenant's name in a path is answered `404` as if it did not exist
//! (no existence leak), with the attempt journaled in the caller's tenant.
//! Tokens are read from the configuration in force at each request, so a
//! reload rotates them without a restart.
//!
//! Handlers are thin: they call the same `Hub`, `Tenant` and `Journal`
//! operations as the command line, on blocking threads (the journal is
//! SQLite).

mod auth;
mod console;
mod error;
mod files;
mod plugins;
mod proofs;
mod routes;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::config::Admin;
use crate::tenant::Hub;

/// The largest request body: the API takes small JSON documents only.
const MAX_BODY: usize = 64 * 1024;

/// What every handler gets: the hub, the path of the configuration for
/// reloads, and the lock that makes configuration edits one at a time.
#[derive(Clone)]
struct State {
    hub: Arc<Hub>,
    config_path: Arc<std::path::Path>,
    /// Held from an edit's write to its reload (or its undo). One for the
    /// whole configuration, not one per tenant, because the configuration
    /// is one document: every reload reads every file, so a tenant's edit
    /// in flight would make another tenant's reload see it (and refuse it
    /// or take it in), and an undo must restore exactly what its own edit
    /// changed. It is held for one edit and one reload, milliseconds; it
    /// belongs to this hub, not to the process.
    edits: Arc<std::sync::Mutex<()>>,
    /// The console's logins.
    console: Arc<console::ConsoleSessions>,
}

/// Binds the admin listener (so that a taken port fails the start) and
/// returns the loop that serves it until dropped.
pub async fn bind(
    hub: Arc<Hub>,
    admin: &Admin,
    config_path: &std::path::Path,
) -> Result<impl Future<Output = ()> + use<>, crate::protocols::BindError> {
    let listener = tokio::net::TcpListener::bind(admin.address)
        .await
        .map_err(|source| crate::protocols::BindError::Bind {
            what: "admin API".into(),
            address: admin.address,
            source,
        })?;
    tracing::info!(address = %admin.address, "admin API listening");
    let app = router(State {
        hub,
        config_path: Arc::from(config_path),
        edits: Arc::default(),
        console: Arc::default(),
    });
    Ok(serve(listener, app))
}

/// The request headers must arrive within this (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request (its body read and its answer made) ends within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// A connection, keep-alive included, lasts at most this.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(600);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 256;

/// Serves the API: `axum::serve` sets no timeouts, so a client that sends
/// its headers a byte a minute would hold its connection for ever. Here
/// headers, requests and connections are bounded in time, connections in
/// number, and a failing `accept` (no descriptors left) backs off.
async fn serve(listener: tokio::net::TcpListener, app: Router) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accepting an admin API connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let connection =
                builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if tokio::time::timeout(CONNECTION_LIFETIME, connection)
                .await
                .is_err()
            {
                tracing::debug!("an admin API connection reached its lifetime");
            }
            drop(permit);
        });
    }
}

/// Bounds the time of each request, its body's reading included.
async fn deadline(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "the request took too long",
        )
        .into_response(),
    }
}

fn router(state: State) -> Router {
    routes::routes()
        .merge(console::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(deadline))
        .with_state(state)
}
