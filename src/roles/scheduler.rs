use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::cli::GlobalArgs;
use crate::workflows::checkout::reconcile;
use crate::workflows::leader;

/// `checkout scheduler`: competes for leadership; only the leader runs cron ticks.
pub async fn scheduler(global: GlobalArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&global)?;
    let pool = super::pool(&settings)?;
    let url = settings
        .database_url()
        .context("no database configured")?
        .to_owned();
    let shutdown = super::shutdown_token();
    let health = super::health_server(
        pool.clone(),
        settings.http.host,
        settings.scheduler.health_port,
        "scheduler health",
        shutdown.clone(),
    )
    .await?;
    let (tx, rx) = watch::channel(false);
    let reconcile = tokio::spawn(reconcile::run(
        pool,
        Duration::from_secs(settings.checkout.reconcile_after_secs),
        Duration::from_secs(settings.checkout.reconcile_every_secs),
        rx,
        shutdown.clone(),
    ));
    leader::run(
        url,
        Duration::from_millis(settings.scheduler.leader_poll_ms),
        tx,
        shutdown,
    )
    .await;
    reconcile.abort();
    health.abort();
    Ok(())
}
