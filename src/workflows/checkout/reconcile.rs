//! Reconciliation: orders waiting for payment longer than `checkout.reconcile_after_secs`
//! have their `confirm` woken, which asks the gateway directly. A lost or never-sent
//! webhook therefore delays an enrollment by at most that long plus one sweep period.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::runner::enqueue_step;
use crate::domain::order::Step;
use crate::store::orders;

/// Enqueues `confirm` for up to `limit` orders awaiting payment for longer than
/// `older_than`. The job key carries the sweep's time bucket, so repeated or concurrent
/// sweeps wake each order at most once per bucket. Returns how many were woken.
pub async fn sweep(
    pool: &PgPool,
    older_than: Duration,
    bucket: Duration,
    limit: i64,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let due = orders::awaiting_payment_since(&mut tx, older_than.as_secs() as i64, limit).await?;
    let bucket_id = chrono::Utc::now().timestamp() / bucket.as_secs().max(1) as i64;
    let mut woken = 0;
    for order_id in due {
        if enqueue_step(
            &mut tx,
            order_id,
            Step::Confirm,
            Some(&format!("rc:{bucket_id}")),
        )
        .await?
        {
            woken += 1;
        }
    }
    tx.commit().await?;
    if woken > 0 {
        tracing::info!(woken, "reconciliation woke orders waiting for payment");
    }
    Ok(woken)
}

/// Sweeps every `period` while this process leads (`leader` is true).
pub async fn run(
    pool: PgPool,
    older_than: Duration,
    period: Duration,
    mut leader: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
            _ = leader.changed() => {}
        }
        let leading = *leader.borrow();
        if leading && let Err(e) = sweep(&pool, older_than, period, 500).await {
            tracing::warn!(error = %e, "reconciliation sweep failed");
        }
    }
}
