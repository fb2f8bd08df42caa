//! Webhook subscriptions and their deliveries (docs/events.md, "Webhook
//! subscriptions"): an endpoint per row, and one delivery per (subscription, event)
//! holding the envelope as sent, so a delivery outlives the outbox's pruning.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::outbox::Stored;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Subscription {
    pub id: Uuid,
    pub url: String,
    /// None: every event type.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// Never printed: shown once by `add` and `rotate-secret`.
    #[serde(skip)]
    pub secret: String,
    #[serde(skip)]
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// The secrets to sign with at `now`: the current one, and the one it replaced while
    /// its grace period lasts (receivers accept either signature).
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_expires_at)
            && until > now
        {
            secrets.push(old.as_str());
        }
        secrets
    }
}

const SUBSCRIPTION_COLUMNS: &str = "id, url, event_types, description, secret, previous_secret,
    previous_secret_expires_at, status, disabled_reason, consecutive_failures, created_at,
    updated_at";

pub async fn create(
    conn: &mut PgConnection,
    url: &str,
    event_types: Option<&[String]>,
    description: Option<&str>,
    secret: &str,
) -> sqlx::Result<Subscription> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "insert into webhook_subscriptions (id, url, event_types, description, secret)
         values ($1, $2, $3, $4, $5) returning {SUBSCRIPTION_COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(url)
    .bind(event_types)
    .bind(description)
    .bind(secret)
    .fetch_one(conn)
    .await
}

pub async fn list(conn: &mut PgConnection) -> sqlx::Result<Vec<Subscription>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SUBSCRIPTION_COLUMNS} from webhook_subscriptions order by created_at"
    )))
    .fetch_all(conn)
    .await
}

/// The subscription, unlocked.
pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Subscription>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SUBSCRIPTION_COLUMNS} from webhook_subscriptions where id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The subscription, locked for the caller's transaction.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Subscription>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {SUBSCRIPTION_COLUMNS} from webhook_subscriptions where id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Disables (with the reason) or enables; enabling forgets the failures that led to it.
pub async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    disabled_reason: Option<&str>,
) -> sqlx::Result<Subscription> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update webhook_subscriptions
            set status = case when $2::text is null then 'active' else 'disabled' end,
                disabled_reason = $2,
                consecutive_failures = case when $2::text is null then 0
                                            else consecutive_failures end,
                updated_at = now()
          where id = $1 returning {SUBSCRIPTION_COLUMNS}"
    )))
    .bind(id)
    .bind(disabled_reason)
    .fetch_one(conn)
    .await
}

/// A new secret; the old one keeps signing beside it for `grace_secs`.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    id: Uuid,
    secret: &str,
    grace_secs: i64,
) -> sqlx::Result<Subscription> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "update webhook_subscriptions
            set previous_secret = secret,
                previous_secret_expires_at = now() + make_interval(secs => $3),
                secret = $2, updated_at = now()
          where id = $1 returning {SUBSCRIPTION_COLUMNS}"
    )))
    .bind(id)
    .bind(secret)
    .bind(grace_secs as f64)
    .fetch_one(conn)
    .await
}

/// A success: the endpoint's failure streak ends.
pub async fn note_success(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update webhook_subscriptions set consecutive_failures = 0
          where id = $1 and consecutive_failures <> 0",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A failed attempt; at `threshold` consecutive ones the endpoint is disabled. Returns
/// the reason when this failure disabled it.
pub async fn note_failure(
    conn: &mut PgConnection,
    id: Uuid,
    threshold: i32,
) -> sqlx::Result<Option<String>> {
    let reason = format!("{threshold} consecutive failed delivery attempts");
    sqlx::query_scalar(
        "update webhook_subscriptions
            set consecutive_failures = consecutive_failures + 1,
                status = case when consecutive_failures + 1 >= $2 then 'disabled' else status end,
                disabled_reason = case when consecutive_failures + 1 >= $2 and status = 'active'
                                       then $3 || ' (last at ' || now()::text || ')'
                                       else disabled_reason end,
                updated_at = now()
          where id = $1
         returning case when status = 'disabled' and consecutive_failures = $2
                        then disabled_reason end",
    )
    .bind(id)
    .bind(threshold)
    .bind(reason)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    #[serde(skip)]
    pub payload: Value,
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_latency_ms: Option<i32>,
    pub last_error: Option<String>,
    pub last_response: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// An attempt is under way until then (see [`lease`]).
    pub sending_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const DELIVERY_COLUMNS: &str = "id, subscription_id, event_id, event_type, payload, status,
    attempts, last_status_code, last_latency_ms, last_error, last_response, next_attempt_at,
    sending_until, created_at, updated_at";

/// Inside the relay's transaction: one pending delivery per event of `events` and
/// active subscription that wants its type. A (subscription, event) pair gets one
/// delivery ever, so an event published twice is delivered once per endpoint. Returns
/// the deliveries created now, for the caller to enqueue their jobs.
pub async fn create_deliveries(
    conn: &mut PgConnection,
    events: &[Stored],
) -> sqlx::Result<Vec<Uuid>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let envelopes: Vec<Value> = events.iter().map(Stored::envelope).collect();
    sqlx::query_scalar(
        "insert into webhook_deliveries
                (id, subscription_id, event_id, event_type, payload, next_attempt_at)
         select gen_random_uuid(), s.id, e.event_id, e.event_type, e.payload, now()
           from unnest($1::uuid[], $2::text[], $3::jsonb[]) as e(event_id, event_type, payload)
           join webhook_subscriptions s
             on s.status = 'active'
            and (s.event_types is null or e.event_type = any(s.event_types))
         on conflict (subscription_id, event_id) do nothing
         returning id",
    )
    .bind(ids)
    .bind(types)
    .bind(envelopes)
    .fetch_all(conn)
    .await
}

/// The delivery, locked for the caller's transaction (a second run of its job waits,
/// then sees what the first did).
pub async fn lock_delivery(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Delivery>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries where id = $1 for update"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Takes the delivery (locked by the caller) for one attempt lasting at most
/// `secs`: the attempt then runs outside any transaction, and another run of its job
/// finds the lease and leaves it alone. Returns false when a live lease exists.
pub async fn lease(conn: &mut PgConnection, id: Uuid, secs: f64) -> sqlx::Result<bool> {
    let taken = sqlx::query(
        "update webhook_deliveries set sending_until = now() + make_interval(secs => $2)
          where id = $1 and (sending_until is null or sending_until < now())",
    )
    .bind(id)
    .bind(secs)
    .execute(conn)
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// What one attempt found.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub status_code: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    pub response: Option<String>,
}

/// Records an attempt and the delivery's new status (`succeeded`, `failed` with the
/// next attempt's time, or `dead`).
pub async fn record_attempt(
    conn: &mut PgConnection,
    id: Uuid,
    attempt: &Attempt,
    status: &str,
    next_attempt_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "update webhook_deliveries
            set attempts = attempts + 1, status = $2, last_status_code = $3,
                last_latency_ms = $4, last_error = $5, last_response = $6,
                next_attempt_at = $7, sending_until = null, updated_at = now()
          where id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(attempt.status_code)
    .bind(attempt.latency_ms)
    .bind(&attempt.error)
    .bind(&attempt.response)
    .bind(next_attempt_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives up on a delivery without an attempt (its subscription is disabled).
pub async fn mark_dead(conn: &mut PgConnection, id: Uuid, why: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update webhook_deliveries
            set status = 'dead', last_error = $2, next_attempt_at = null, updated_at = now()
          where id = $1",
    )
    .bind(id)
    .bind(why)
    .execute(conn)
    .await?;
    Ok(())
}

/// Newest first.
pub async fn list_deliveries(
    conn: &mut PgConnection,
    subscription_id: Option<Uuid>,
    status: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<Delivery>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries
          where ($1::uuid is null or subscription_id = $1)
            and ($2::text is null or status = $2)
          order by created_at desc, id desc limit $3"
    )))
    .bind(subscription_id)
    .bind(status)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Makes deliveries pending again for a replay, due now; returns each with its attempt
/// count (the next job's `attempt`). `ids`: these deliveries whatever their status;
/// otherwise those since `since` (of one subscription, if given) that did not succeed.
/// Only deliveries of active subscriptions are touched.
pub async fn reset_for_redelivery(
    conn: &mut PgConnection,
    ids: Option<&[Uuid]>,
    since: Option<DateTime<Utc>>,
    subscription_id: Option<Uuid>,
) -> sqlx::Result<Vec<(Uuid, i32)>> {
    sqlx::query_as(
        "update webhook_deliveries d
            set status = 'pending', next_attempt_at = now(), updated_at = now()
           from webhook_subscriptions s
          where s.id = d.subscription_id and s.status = 'active'
            and ($1::uuid[] is null or d.id = any($1))
            and ($2::timestamptz is null or (d.created_at >= $2 and d.status <> 'succeeded'))
            and ($3::uuid is null or d.subscription_id = $3)
         returning d.id, d.attempts",
    )
    .bind(ids)
    .bind(since)
    .bind(subscription_id)
    .fetch_all(conn)
    .await
}

/// The delivery, unlocked.
pub async fn delivery(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Delivery>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries where id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Deletes up to `limit` deliveries that succeeded or are dead, made more than
/// `age_secs` ago; returns how many. Oldest first by their `created_at` index.
pub async fn prune_settled_batch(
    conn: impl sqlx::PgExecutor<'_>,
    age_secs: u64,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from webhook_deliveries where id in (
             select id from webhook_deliveries
              where created_at < now() - make_interval(secs => $1)
                and status in ('succeeded', 'dead')
              order by created_at limit $2)",
        age_secs as f64,
        limit
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
