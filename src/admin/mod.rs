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
mod error;
mod routes;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::config::Admin;
use crate::tenant::Hub;

/// The largest request body: the API takes small JSON documents only.
const MAX_BODY: usize = 64 * 1024;

/// What every handler gets: the hub, and the path of the configuration for reloads.
#[derive(Clone)]
struct State {
    hub: Arc<Hub>,
    config_path: Arc<std::path::Path>,
}

/// Binds the admin listener (so that a taken port fails the start) and
/// returns the loop that serves it until dropped.
pub async fn bind(
    hub: Arc<Hub>,
    admin: &Admin,
    config_path: &std::path::Path,
) -> anyhow::Result<impl Future<Output = ()> + use<>> {
    let listener = tokio::net::TcpListener::bind(admin.address)
        .await
        .with_context(|| format!("binding the admin API on {}", admin.address))?;
    tracing::info!(address = %admin.address, "admin API listening");
    let app = router(State {
        hub,
        config_path: Arc::from(config_path),
    });
    Ok(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the admin API stopped");
        }
    })
}

fn router(state: State) -> Router {
    routes::routes()
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}
