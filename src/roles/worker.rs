use std::time::Duration;

use crate::cli::GlobalArgs;
use std::sync::Arc;

use crate::workflows::jobs::{JobContext, run_workers};

/// `checkout worker`: run every queue until shutdown; a database outage only pauses it.
pub async fn worker(global: GlobalArgs) -> anyhow::Result<()> {
    let settings = super::load_settings(&global, Some("worker"))?;
    let pool = super::checked_pool(&settings, super::startup::Schema::Needed).await?;
    let shutdown = super::shutdown_token();
    super::start_metrics(&pool, &settings, &shutdown);
    let health = super::health_server(
        pool.clone(),
        None,
        std::net::SocketAddr::new(settings.http.host, settings.worker.health_port),
        "worker health",
        shutdown.clone(),
    )
    .await?;
    let grace = Duration::from_secs(settings.http.shutdown_grace_secs);
    let context = Arc::new(JobContext::new(pool, Arc::new(settings.clone()))?);
    let run = run_workers(context, shutdown.clone());
    tokio::pin!(run);
    tokio::select! {
        _ = &mut run => {}
        _ = shutdown.cancelled() => {
            if tokio::time::timeout(grace, &mut run).await.is_err() {
                tracing::warn!("jobs did not finish within the grace period; they will be re-run");
            }
        }
    }
    health.abort();
    Ok(())
}
