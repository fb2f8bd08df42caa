use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::cli::GlobalArgs;
use crate::workflows::{cron, leader};

/// `checkout scheduler`: competes for leadership; only the leader enqueues cron ticks,
/// which workers run (`system.cron`).
pub async fn scheduler(global: GlobalArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&global, Some("scheduler"))?;
    let pool = super::checked_pool(&settings, super::startup::Schema::Needed).await?;
    let url = settings
        .database_url()
        .context("no database configured")?
        .to_owned();
    let shutdown = super::shutdown_token();
    super::start_metrics(&pool, &settings, &shutdown);
    super::sample_queues(&pool, &settings, &shutdown);
    let health = super::health_server(
        pool.clone(),
        None,
        std::net::SocketAddr::new(settings.http.host, settings.scheduler.health_port),
        "scheduler health",
        shutdown.clone(),
    )
    .await?;
    let (tx, rx) = watch::channel(false);
    let ticker = tokio::spawn(cron::ticker::run(
        pool,
        settings.scheduler.clone(),
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
    ticker.abort();
    health.abort();
    Ok(())
}
