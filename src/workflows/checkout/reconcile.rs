//! Reconciliation: orders waiting for payment longer than `checkout.reconcile_after_secs`
//! have their `confirm` woken, which asks the gateway directly. A lost or never-sent
//! webhook therefore delays an enrollment by at most that long plus one period of the
//! `scheduler.reconcile` schedule (see `workflows::cron`).

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::runner::{enqueue_reconciling, enqueue_step};
use super::trace::in_order;
use crate::domain::order::Step;
use crate::store::orders;
use crate::workflows::cron::Stats;
use crate::workflows::cron::batch::Pages;

/// Wakes `confirm` of each order in `order_ids` with the key suffix `suffix` (a sweep's
/// tick or time bucket, so a repeated sweep wakes nobody twice), marked as
/// reconciliation's when `reconciling`, each in its order's trace and under its
/// correlation id. Returns how many jobs were new.
pub async fn wake_confirms(
    conn: &mut PgConnection,
    order_ids: &[Uuid],
    suffix: &str,
    reconciling: bool,
) -> anyhow::Result<u64> {
    let mut woken = 0;
    for order_id in order_ids {
        let scope = in_order(conn, *order_id).await?;
        let wake = async {
            if reconciling {
                enqueue_reconciling(conn, *order_id, suffix).await
            } else {
                enqueue_step(conn, *order_id, Step::Confirm, Some(suffix)).await
            }
        };
        if scope.run(wake).await? {
            woken += 1;
        }
    }
    Ok(woken)
}

/// Enqueues `confirm` for up to `limit` orders awaiting payment for longer than
/// `older_than`. The job key carries the sweep's time bucket, so repeated or concurrent
/// sweeps wake each order at most once per bucket. Returns how many were woken.
pub async fn sweep(
    pool: &PgPool,
    older_than: Duration,
    bucket: Duration,
    limit: i64,
) -> anyhow::Result<usize> {
    let mut tx = crate::store::begin(pool).await?;
    let due = orders::awaiting_payment_since(&mut tx, older_than.as_secs() as i64, limit).await?;
    let bucket_id = chrono::Utc::now().timestamp() / bucket.as_secs().max(1) as i64;
    let woken = wake_confirms(&mut tx, &due, &format!("rc:{bucket_id}"), true).await?;
    tx.commit().await?;
    if woken > 0 {
        tracing::info!(woken, "reconciliation woke orders waiting for payment");
    }
    Ok(woken as usize)
}

/// One `reconcile` cron tick: every due order, a page of `batch` per transaction, woken
/// once per tick (key `{order}:confirm:rc:{tick}`), so a re-run tick wakes nobody twice.
pub async fn sweep_tick(
    pool: &PgPool,
    older_than_secs: u64,
    tick: i64,
    batch: i64,
) -> anyhow::Result<Stats> {
    let suffix = format!("rc:{tick}");
    let mut pages = Pages::new(Uuid::nil(), batch);
    while let Some(after) = pages.next_after() {
        let mut tx = crate::store::begin(pool).await?;
        let page =
            orders::awaiting_payment_page(&mut tx, older_than_secs as i64, after, batch).await?;
        let woken = wake_confirms(&mut tx, &page, &suffix, true).await?;
        tx.commit().await?;
        if woken > 0 {
            tracing::info!(woken, "reconciliation woke orders waiting for payment");
        }
        pages.record(page.len(), page.last().copied(), woken);
    }
    Ok(pages.stats())
}
