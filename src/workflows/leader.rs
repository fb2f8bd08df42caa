//! Scheduler leadership through a Postgres session advisory lock.
//!
//! The lock lives as long as the session that took it, so it is held on a dedicated
//! connection (never a pooled one, which could hand the session to someone else). When
//! the leader dies, its session ends and Postgres releases the lock; a follower takes it
//! on its next try, within `leader_poll_ms`.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Lock key: an arbitrary constant unique to the checkout scheduler.
pub const SCHEDULER_LOCK: i64 = 0x0c4e_c0de_0001;

/// Keeps trying to become leader until `shutdown`; publishes leadership on `tx`.
pub async fn run(
    url: String,
    poll: Duration,
    tx: watch::Sender<bool>,
    shutdown: CancellationToken,
) {
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match try_lead(&url).await {
            Ok(Some(mut conn)) => {
                tracing::info!("became scheduler leader");
                metrics::gauge!("scheduler_is_leader").set(1.0);
                let _ = tx.send(true);
                // Hold the session; check it every poll so a lost connection (and so a
                // lost lock) is noticed and leadership is given up promptly.
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            let _ = sqlx::query("select pg_advisory_unlock($1)").bind(SCHEDULER_LOCK).execute(&mut conn).await;
                            let _ = tx.send(false);
                            return;
                        }
                        _ = tokio::time::sleep(poll) => {}
                    }
                    if sqlx::query("select 1").execute(&mut conn).await.is_err() {
                        tracing::warn!("lost the leader connection; giving up leadership");
                        break;
                    }
                }
                metrics::gauge!("scheduler_is_leader").set(0.0);
                let _ = tx.send(false);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot reach the database to elect a leader"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(poll) => {}
        }
    }
    let _ = tx.send(false);
}

async fn try_lead(url: &str) -> anyhow::Result<Option<PgConnection>> {
    let mut conn = PgConnection::connect_with(&crate::store::connect_options(url)?).await?;
    let got: bool = sqlx::query_scalar("select pg_try_advisory_lock($1)")
        .bind(SCHEDULER_LOCK)
        .fetch_one(&mut conn)
        .await?;
    if got {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}
