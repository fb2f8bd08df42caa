use std::net::SocketAddr;
use std::time::Duration;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::{api, store};

/// `checkout serve`: migrate, then serve the API (the routers of `--groups`, all by
/// default) until shutdown.
pub async fn serve(global: GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs { listen, groups } = args;
    let groups = api::ApiGroups::new(&groups);
    let settings = super::load_settings(&global, Some("api"))?;
    let pool = super::checked_pool(&settings, super::startup::Schema::Applies).await?;
    // Before migrating or binding, so a missing secret stops start-up at once.
    let state = super::app_state(pool.clone(), &settings)?;
    store::migrate(&pool).await?;
    let shutdown = super::shutdown_token();
    super::start_metrics(&pool, &settings, &shutdown);
    let port = listen.port.unwrap_or(settings.http.port);
    let listener = super::bind(SocketAddr::new(settings.http.host, port), "api").await?;
    let metrics = super::health_server(
        pool.clone(),
        None,
        settings.http.metrics_addr,
        "metrics",
        shutdown.clone(),
    )
    .await?;
    if !groups.is_all() {
        tracing::info!(groups = %groups.names(), "serving only these API groups");
    }
    let router = api::router_for(state, &groups)?;
    let served = api::serve_with(
        listener,
        router,
        shutdown,
        Duration::from_secs(settings.http.shutdown_grace_secs),
        Duration::from_millis(settings.http.header_read_timeout_ms),
    )
    .await;
    metrics.abort();
    served
}
