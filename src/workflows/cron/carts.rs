//! Cart cleanup: carts past `expires_at` become expired; expired and merged carts past
//! `scheduler.cart_retention_secs` are deleted (items cascade; converted carts stay,
//! orders refer to them by token).

use sqlx::PgPool;

use super::batch::{Stats, repeat};
use crate::config::SchedulerSettings;
use crate::store::carts;

pub async fn cleanup(pool: &PgPool, s: &SchedulerSettings) -> sqlx::Result<Stats> {
    let expired = repeat(s.batch_size, || async {
        let mut tx = pool.begin().await?;
        let expired = carts::expire_batch(&mut tx, s.batch_size).await?;
        tx.commit().await?;
        Ok(expired)
    })
    .await?;
    let deleted = repeat(s.batch_size, || {
        carts::delete_finished_batch(pool, s.cart_retention_secs, s.batch_size)
    })
    .await?;
    if expired.rows + deleted.rows > 0 {
        tracing::info!(
            expired = expired.rows,
            deleted = deleted.rows,
            "cart cleanup"
        );
    }
    Ok(expired.merge(deleted))
}
