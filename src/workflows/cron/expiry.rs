//! Seat holds and payment sessions the workflow missed.
//!
//! - A hold still `held` past its expiry on an order that ended without it (failed,
//!   expired, cancelled, refunded) is released through `compensate::release_holds`
//!   under the order lock, as compensation would have.
//! - An order awaiting payment whose every session expired gets its `confirm` woken
//!   (key `{order}:confirm:expiry-sweep:{tick}`); `confirm` asks the gateway a last
//!   time and expires it.

use sqlx::PgPool;
use uuid::Uuid;

use super::batch::{Pages, Stats};
use crate::store::{holds, orders};
use crate::workflows::checkout::compensate::release_holds;
use crate::workflows::checkout::reconcile::wake_confirms;

pub async fn sweep(pool: &PgPool, batch: i64, tick: i64) -> anyhow::Result<Stats> {
    let released = release_orphaned_holds(pool, batch).await?;
    let woken = wake_expired_sessions(pool, batch, tick).await?;
    Ok(released.merge(woken))
}

async fn release_orphaned_holds(pool: &PgPool, batch: i64) -> anyhow::Result<Stats> {
    let mut pages = Pages::new(Uuid::nil(), batch);
    while let Some(after) = pages.next_after() {
        let mut tx = pool.begin().await?;
        let page = holds::orphaned_orders(&mut tx, after, batch).await?;
        let mut released = 0;
        for order_id in &page {
            // the order lock orders this after any compensation still running
            if orders::lock(&mut tx, *order_id).await?.is_some() {
                released += release_holds(&mut tx, *order_id).await?;
            }
        }
        tx.commit().await?;
        if released > 0 {
            tracing::warn!(released, "released seat holds that compensation missed");
        }
        pages.record(page.len(), page.last().copied(), released);
    }
    Ok(pages.stats())
}

async fn wake_expired_sessions(pool: &PgPool, batch: i64, tick: i64) -> anyhow::Result<Stats> {
    let suffix = format!("expiry-sweep:{tick}");
    let mut pages = Pages::new(Uuid::nil(), batch);
    while let Some(after) = pages.next_after() {
        let mut tx = pool.begin().await?;
        let page = orders::sessions_expired_page(&mut tx, after, batch).await?;
        let woken = wake_confirms(&mut tx, &page, &suffix, false).await?;
        tx.commit().await?;
        if woken > 0 {
            tracing::info!(woken, "woke confirm of orders whose sessions expired");
        }
        pages.record(page.len(), page.last().copied(), woken);
    }
    Ok(pages.stats())
}
