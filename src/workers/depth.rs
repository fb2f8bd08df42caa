//! The queues' depth as metrics: `jobs_ready{queue}` (jobs due and not yet taken) and
//! `jobs_oldest_ready_seconds{queue}`, sampled by the scheduler role and `dev` (one
//! sampler is enough: the numbers are the database's, not a process's).

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::shutdown::Ticks;
use crate::store;

/// Until `shutdown`, every `every`: reads [`store::jobs::ready`] for `queues` and sets
/// the gauges (a failed read leaves the last values and is logged).
pub async fn sample(
    pool: PgPool,
    queues: &'static [&'static str],
    every: Duration,
    shutdown: CancellationToken,
) {
    crate::telemetry::catalog::register_queue_gauges(queues);
    let mut ticks = Ticks::new(every, shutdown);
    while ticks.next().await {
        if let Err(e) = once(&pool, queues).await {
            tracing::warn!(error = %e, "sampling the queues' depth failed");
        }
    }
}

/// One sample.
pub async fn once(pool: &PgPool, queues: &[&'static str]) -> sqlx::Result<()> {
    let mut conn = store::acquire(pool).await?;
    for row in store::jobs::ready(&mut conn, queues).await? {
        // a queue name from our own list, not from the row: labels stay a closed set
        let Some(&queue) = queues.iter().find(|q| **q == row.queue) else {
            continue;
        };
        metrics::gauge!("jobs_ready", "queue" => queue).set(row.ready as f64);
        metrics::gauge!("jobs_oldest_ready_seconds", "queue" => queue).set(row.oldest_secs);
    }
    Ok(())
}
