//! The `system.ping` ledger.

use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

/// Records a new ping before its job is enqueued (same transaction).
pub async fn create(conn: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("insert into system_pings (id, enqueued_at) values ($1, clock_timestamp())")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn start(pool: &PgPool, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update system_pings set started_at = clock_timestamp(), runs = runs + 1 where id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn finish(pool: &PgPool, id: Uuid, worker: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update system_pings set finished_at = clock_timestamp(), ran_by = $2 where id = $1",
    )
    .bind(id)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(())
}
