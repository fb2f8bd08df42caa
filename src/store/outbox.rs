//! The outbox: events written in the transaction of the change they describe
//! (docs/events.md). A writer names the aggregate (an order, or a cart); the table's
//! trigger gives the event the next number of the aggregate's `event_seq` counter, whose
//! update holds the aggregate's row lock until commit: per aggregate, sequences are
//! gapless and in commit order.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

/// The envelope's version; a breaking change of the envelope or of a type's `data`
/// raises it.
pub const VERSION: u32 = 1;

/// Every event type of the catalog (docs/events.md; a schema each in docs/events/), for
/// what names a type, such as a webhook subscription's filter.
pub const TYPES: &[&str] = &[
    "order.created",
    "order.priced",
    "order.reserved",
    "payment.session_created",
    "payment.failed",
    "payment.authorized",
    "payment.captured",
    "payment.voided",
    "order.paid",
    "order.enrolled",
    "order.completed",
    "order.failed",
    "order.expired",
    "order.cancelled",
    "order.refunded",
    "seat_hold.released",
    "seat_hold.expired",
    "order.compensated",
    "refund.requested",
    "refund.processed",
    "refund.failed",
    "cart.abandoned",
];

/// An event a saga step hands to its runner, which writes it with the step's timeline
/// line in one statement ([`crate::store::sagas::log_run_and_advance`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_type: &'static str,
    pub payload: Value,
}

impl Event {
    pub fn new(event_type: &'static str, payload: Value) -> Self {
        Event {
            event_type,
            payload,
        }
    }
}

/// Records an event of the order `order_id` (its payments, refunds and seat holds
/// included).
pub async fn record(
    conn: &mut PgConnection,
    order_id: Uuid,
    event_type: &str,
    payload: Value,
) -> sqlx::Result<()> {
    record_once(conn, order_id, event_type, payload, None).await?;
    Ok(())
}

/// [`record`], once per `dedupe_key` (a fact several runs may see, such as a gateway
/// payment found authorized); the caller holds the order's lock. Returns whether it was
/// recorded now.
pub async fn record_once(
    conn: &mut PgConnection,
    order_id: Uuid,
    event_type: &str,
    payload: Value,
    dedupe_key: Option<&str>,
) -> sqlx::Result<bool> {
    // The caller holds the order lock, so no other transaction records the same fact
    // between the check and the insert (whose sequence would then be lost).
    let done = sqlx::query!(
        "insert into outbox_events (aggregate_type, aggregate_id, event_type, payload, dedupe_key)
         select 'order', $1, $2, $3, $4
          where $4::text is null or not exists (
                select 1 from outbox_events
                 where aggregate_type = 'order' and aggregate_id = $1 and event_type = $2
                   and dedupe_key = $4)",
        order_id,
        event_type,
        payload,
        dedupe_key,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// An event as it leaves the system: the versioned envelope of docs/events.md.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    pub sequence: i64,
    pub correlation_id: Option<String>,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

impl Stored {
    pub fn envelope(&self) -> Value {
        json!({
            "id": self.event_id,
            "type": self.event_type,
            "version": VERSION,
            "occurred_at": self.created_at,
            "aggregate": {"type": self.aggregate_type, "id": self.aggregate_id},
            "sequence": self.sequence,
            "correlation_id": self.correlation_id,
            "data": self.payload,
        })
    }
}

/// Every event of one aggregate, in sequence order.
pub async fn for_aggregate(
    conn: &mut PgConnection,
    aggregate_type: &str,
    aggregate_id: Uuid,
) -> sqlx::Result<Vec<Stored>> {
    sqlx::query_as!(
        Stored,
        "select id, event_id, event_type, aggregate_type, aggregate_id, sequence, correlation_id,
                payload, created_at
           from outbox_events where aggregate_type = $1 and aggregate_id = $2
          order by sequence",
        aggregate_type,
        aggregate_id
    )
    .fetch_all(conn)
    .await
}

/// Advisory-lock class of an aggregate claimed by a relay (the two-key form, so it never
/// meets the single-key locks of the scheduler's leadership).
const CLAIM_CLASS: i32 = 0x6f75_7462; // "outb"

/// Claims, for the caller's transaction, the aggregates of (about) the `limit` oldest
/// unpublished events that no other relay holds, and returns all their unpublished
/// events, each aggregate's in sequence order. The claims are transaction-scoped
/// advisory locks: a relay that dies releases them with its connection. Reads the
/// oldest `limit` unpublished rows through the partial index, then each claimed
/// aggregate's events through its sequence index: bounded whatever the table holds.
pub async fn claim(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<Stored>> {
    sqlx::query_as!(
        Stored,
        r#"with candidates as (
             select distinct aggregate_type, aggregate_id
               from (select aggregate_type, aggregate_id from outbox_events
                      where published_at is null order by id limit $1) oldest
         ), claimed as materialized (
             select aggregate_type, aggregate_id from candidates
              where pg_try_advisory_xact_lock($2, hashtext(aggregate_type || ':' || aggregate_id::text))
         )
         select e.id, e.event_id, e.event_type, e.aggregate_type, e.aggregate_id, e.sequence,
                e.correlation_id, e.payload, e.created_at
           from outbox_events e join claimed c using (aggregate_type, aggregate_id)
          where e.published_at is null
          order by e.aggregate_type, e.aggregate_id, e.sequence"#,
        limit,
        CLAIM_CLASS,
    )
    .fetch_all(conn)
    .await
}

/// Marks events published (the broker confirmed them).
pub async fn mark_published(conn: &mut PgConnection, ids: &[i64]) -> sqlx::Result<()> {
    sqlx::query!(
        "update outbox_events set published_at = now() where id = any($1) and published_at is null",
        ids
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How far publishing is behind: unpublished events (counted up to `cap`) and the age of
/// the oldest, in seconds.
pub async fn lag(conn: &mut PgConnection, cap: i64) -> sqlx::Result<(i64, f64)> {
    let row = sqlx::query!(
        r#"select (select count(*) from (select 1 from outbox_events where published_at is null
                                          limit $1) capped) as "unpublished!",
                  coalesce((select extract(epoch from now() - created_at)::float8
                              from outbox_events where published_at is null
                             order by id limit 1), 0) as "oldest_secs!""#,
        cap
    )
    .fetch_one(conn)
    .await?;
    Ok((row.unpublished, row.oldest_secs))
}

/// Deletes up to `limit` published events written more than `age_secs` ago; returns how
/// many. Walks the oldest rows by `created_at` (its own index), so a batch reads about
/// `limit` rows however large the table; an unpublished event is never deleted.
pub async fn prune_published_batch(
    conn: impl sqlx::PgExecutor<'_>,
    age_secs: u64,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from outbox_events where id in (
             select id from outbox_events
              where created_at < now() - make_interval(secs => $1)
                and published_at is not null
              order by created_at limit $2)",
        age_secs as f64,
        limit
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
