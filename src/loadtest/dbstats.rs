//! What only the database knows about a run: webhook-received -> enrolled latency,
//! job pickup latency per saga step, and the database's own counters (transactions,
//! rows) so a run can be reported per checkout.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{PgPool, Row};

use super::stats::{Percentiles, from_millis};

/// `pg_stat_database` counters of the current database.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DbCounters {
    pub xact_commit: i64,
    pub xact_rollback: i64,
    pub tup_returned: i64,
    pub tup_fetched: i64,
    pub tup_inserted: i64,
    pub tup_updated: i64,
    pub tup_deleted: i64,
    pub blks_hit: i64,
    pub blks_read: i64,
    /// Index entries returned by scans (`pg_stat_all_indexes.idx_tup_read`) per
    /// `schema.index`: where the rows read come from, index by index.
    pub index_entries: BTreeMap<String, i64>,
}

impl DbCounters {
    pub async fn read(pool: &PgPool) -> sqlx::Result<Self> {
        // a fresh snapshot, not one cached earlier in this transaction
        let mut conn = pool.acquire().await?;
        sqlx::query("select pg_stat_clear_snapshot()")
            .execute(&mut *conn)
            .await?;
        let row = sqlx::query(
            "select xact_commit, xact_rollback, tup_returned, tup_fetched, tup_inserted,
                    tup_updated, tup_deleted, blks_hit, blks_read
               from pg_stat_database where datname = current_database()",
        )
        .fetch_one(&mut *conn)
        .await?;
        let index_entries = sqlx::query_as::<_, (String, i64)>(
            "select schemaname || '.' || indexrelname, idx_tup_read from pg_stat_all_indexes
              where schemaname not in ('pg_catalog', 'pg_toast', 'information_schema')",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
        Ok(DbCounters {
            xact_commit: row.try_get(0)?,
            xact_rollback: row.try_get(1)?,
            tup_returned: row.try_get(2)?,
            tup_fetched: row.try_get(3)?,
            tup_inserted: row.try_get(4)?,
            tup_updated: row.try_get(5)?,
            tup_deleted: row.try_get(6)?,
            blks_hit: row.try_get(7)?,
            blks_read: row.try_get(8)?,
            index_entries,
        })
    }

    pub fn delta(&self, before: &Self) -> Self {
        DbCounters {
            xact_commit: self.xact_commit - before.xact_commit,
            xact_rollback: self.xact_rollback - before.xact_rollback,
            tup_returned: self.tup_returned - before.tup_returned,
            tup_fetched: self.tup_fetched - before.tup_fetched,
            tup_inserted: self.tup_inserted - before.tup_inserted,
            tup_updated: self.tup_updated - before.tup_updated,
            tup_deleted: self.tup_deleted - before.tup_deleted,
            blks_hit: self.blks_hit - before.blks_hit,
            blks_read: self.blks_read - before.blks_read,
            index_entries: self
                .index_entries
                .iter()
                .map(|(name, n)| {
                    let was = before.index_entries.get(name).copied().unwrap_or(0);
                    (name.clone(), n - was)
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DbLatencies {
    /// First processed webhook of the order -> its `order.enrolled` outbox event.
    pub webhook_to_enrolled: Percentiles,
    /// Per step: its start minus the previous step's finish (queue wait + wake-up).
    pub step_pickup: Vec<Percentiles>,
    /// Orders of this run by status, as the database has them.
    pub orders_by_status: BTreeMap<String, i64>,
    /// The run's orders' events: written -> published by the relay (only the published).
    pub event_publish_lag: Percentiles,
    /// The run's orders' events, and how many of them the relay has published.
    pub events_written: i64,
    pub events_published: i64,
}

/// Latencies of the orders of users `lt-{run_id}-*`. (The first webhook per order is
/// grouped once, not looked up per order: `webhook_events` has no index on `order_id`,
/// and the per-order lookup scanned every processed event for each order: 16 s after a
/// run on a database of 4,600 orders, growing with the square of the orders.)
pub async fn latencies(pool: &PgPool, run_id: &str) -> sqlx::Result<DbLatencies> {
    let pattern = format!("lt-{run_id}-%");
    let webhook: Vec<f64> = sqlx::query_scalar(
        "select (extract(epoch from (e.created_at - w.first)) * 1000)::float8
           from orders o
           join users u on u.id = o.user_id
           join (select order_id, min(received_at) as first from webhook_events
                  where status = 'processed' group by order_id) w on w.order_id = o.id
           join outbox_events e on e.aggregate_type = 'order' and e.aggregate_id = o.id
                                and e.event_type = 'order.enrolled'
          where u.email like $1",
    )
    .bind(&pattern)
    .fetch_all(pool)
    .await?;
    let rows = sqlx::query(
        "with run as (select o.id from orders o join users u on u.id = o.user_id where u.email like $1),
              s as (select st.step, st.started_at, st.outcome,
                           lag(st.finished_at) over w as prev_finished,
                           lag(st.outcome) over w as prev_outcome
                      from saga_steps st join run on run.id = st.order_id
                    window w as (partition by st.order_id order by st.id))
         select step, (extract(epoch from (started_at - prev_finished)) * 1000)::float8
           from s where prev_outcome = 'succeeded'",
    )
    .bind(&pattern)
    .fetch_all(pool)
    .await?;
    let mut by_step: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for row in rows {
        let step: String = row.try_get(0)?;
        let ms: f64 = row.try_get(1)?;
        by_step.entry(step).or_default().push(ms);
    }
    let statuses = sqlx::query(
        "select o.status, count(*) from orders o join users u on u.id = o.user_id
          where u.email like $1 group by o.status",
    )
    .bind(&pattern)
    .fetch_all(pool)
    .await?;
    let mut orders_by_status = BTreeMap::new();
    for row in statuses {
        orders_by_status.insert(row.try_get::<String, _>(0)?, row.try_get::<i64, _>(1)?);
    }
    let events = sqlx::query(
        "select (extract(epoch from (e.published_at - e.created_at)) * 1000)::float8
           from orders o join users u on u.id = o.user_id
           join outbox_events e on e.aggregate_type = 'order' and e.aggregate_id = o.id
          where u.email like $1",
    )
    .bind(&pattern)
    .fetch_all(pool)
    .await?;
    let events_written = events.len() as i64;
    let lags: Vec<f64> = events
        .iter()
        .filter_map(|row| row.try_get::<Option<f64>, _>(0).ok().flatten())
        .collect();
    Ok(DbLatencies {
        webhook_to_enrolled: from_millis("webhook received -> enrolled", webhook),
        step_pickup: by_step
            .into_iter()
            .map(|(step, v)| from_millis(&step, v))
            .collect(),
        orders_by_status,
        events_written,
        events_published: lags.len() as i64,
        event_publish_lag: from_millis("event written -> published", lags),
    })
}
