//! The replica's health, sampled: every [`SAMPLE_EVERY`] the primary's WAL position,
//! then the replica's state and replayed position, give the lag ([`super::lag`]) and
//! with it the [`Status`] routed reads follow. Also the metrics `db_replica_up`,
//! `db_replica_serving` and `db_replica_lag_seconds`.

use std::sync::Weak;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::lag::Lsns;
use super::{Bypass, Replica, Status};
use crate::shutdown::Ticks;

/// How often the sampler looks: the resolution of the lag, and how long reads may still
/// be sent to a replica that just stopped (each then retried on the primary).
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Until `shutdown` or until the reader is gone, one sample per [`SAMPLE_EVERY`].
pub(super) async fn run(replica: Weak<Replica>, primary: PgPool, shutdown: CancellationToken) {
    // until the first sample says otherwise (at once)
    metrics::gauge!("db_replica_up").set(0.0);
    metrics::gauge!("db_replica_serving").set(0.0);
    let mut lsns = Lsns::default();
    let mut ticks = Ticks::new(SAMPLE_EVERY, shutdown);
    while ticks.next().await {
        let Some(replica) = replica.upgrade() else {
            return;
        };
        once(&replica, &primary, &mut lsns).await;
    }
}

/// One sample: measures, then publishes the status and the metrics.
pub(super) async fn once(replica: &Replica, primary: &PgPool, lsns: &mut Lsns) {
    // bounded, so a server that hangs does not stop the sampling
    let status = match tokio::time::timeout(SAMPLE_EVERY, measure(replica, primary, lsns)).await {
        Ok(status) => status,
        Err(_) => Status::Bypassed(Bypass::Unreachable),
    };
    publish(replica, status);
}

async fn measure(replica: &Replica, primary: &PgPool, lsns: &mut Lsns) -> Status {
    // The primary first: a replica at or past this position is current. A primary that
    // does not answer writes nothing new, so the samples already taken still date the
    // replica's lag.
    match sqlx::query_scalar!(r#"select (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint as "lsn!""#)
        .fetch_one(primary)
        .await
    {
        Ok(lsn) => lsns.primary_at(Instant::now(), lsn),
        Err(e) => tracing::debug!(error = %e, "replica sampler: the primary did not answer"),
    }
    let state = sqlx::query!(
        r#"select pg_is_in_recovery() as "recovery!",
                  (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint as replayed"#
    )
    .fetch_one(&replica.pool)
    .await;
    let state = match state {
        Ok(state) => state,
        Err(e) => {
            tracing::debug!(error = %e, "replica sampler: the replica did not answer");
            return Status::Bypassed(Bypass::Unreachable);
        }
    };
    let (true, Some(replayed)) = (state.recovery, state.replayed) else {
        return Status::Bypassed(Bypass::NotStandby);
    };
    metrics::gauge!("db_replica_up").set(1.0);
    match lsns.lag(Instant::now(), replayed) {
        Some(lag) if lag <= replica.max_lag => {
            metrics::gauge!("db_replica_lag_seconds").set(lag.as_secs_f64());
            Status::Serving { lag }
        }
        lag => {
            if let Some(lag) = lag {
                metrics::gauge!("db_replica_lag_seconds").set(lag.as_secs_f64());
            }
            Status::Bypassed(Bypass::Lagging { lag })
        }
    }
}

/// Sets the status and the metrics; logs a change of route.
fn publish(replica: &Replica, status: Status) {
    if matches!(
        status,
        Status::Bypassed(Bypass::Unreachable | Bypass::NotStandby)
    ) {
        metrics::gauge!("db_replica_up").set(0.0);
    }
    metrics::gauge!("db_replica_serving").set(if status.serving() { 1.0 } else { 0.0 });
    let mut current = replica.status.lock().unwrap_or_else(|e| e.into_inner());
    match (current.serving(), &status) {
        (true, Status::Bypassed(why)) => {
            tracing::warn!(
                ?why,
                "read replica bypassed: routed reads go to the primary"
            );
        }
        (false, Status::Serving { lag }) => {
            tracing::info!(
                lag_ms = lag.as_millis() as u64,
                "read replica serving routed reads"
            );
        }
        _ => {}
    }
    *current = status;
}
