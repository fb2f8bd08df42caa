//! Gateway webhook deliveries: stored once per gateway event id (and once per payment
//! fact), rejected ones kept for audit only.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

pub struct NewEvent<'a> {
    pub gateway: &'a str,
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub gateway_order_id: Option<&'a str>,
    pub gateway_payment_id: Option<&'a str>,
    pub payment_status: Option<&'a str>,
    pub order_id: Option<Uuid>,
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub payload: Option<&'a Value>,
}

/// Stores an event; `None` when the same event (or the same payment fact under another
/// event id) was stored before: a duplicate delivery.
pub async fn insert(conn: &mut PgConnection, e: &NewEvent<'_>) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar(
        "insert into webhook_events (id, gateway, event_id, event_type, gateway_order_id,
                                     gateway_payment_id, payment_status, order_id, status,
                                     error, payload, processed_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
                 case when $9 in ('processed', 'ignored') then now() end)
         on conflict do nothing returning id",
    )
    .bind(Uuid::now_v7())
    .bind(e.gateway)
    .bind(e.event_id)
    .bind(e.event_type)
    .bind(e.gateway_order_id)
    .bind(e.gateway_payment_id)
    .bind(e.payment_status)
    .bind(e.order_id)
    .bind(e.status)
    .bind(e.error)
    .bind(e.payload)
    .fetch_optional(conn)
    .await
}

/// Deletes up to `limit` events received more than `age_secs` ago; returns how many.
pub async fn prune_batch(
    conn: impl sqlx::PgExecutor<'_>,
    age_secs: u64,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "delete from webhook_events where id in
             (select id from webhook_events
              where received_at < now() - make_interval(secs => $1) limit $2)",
    )
    .bind(age_secs as f64)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// An event as operators see it (`checkout admin webhooks`).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct EventRow {
    pub id: Uuid,
    pub gateway: String,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    pub status: String,
    pub order_id: Option<Uuid>,
    pub error: Option<String>,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

const EVENT_COLUMNS: &str =
    "id, gateway, event_id, event_type, status, order_id, error, received_at";

/// Newest first, optionally of one gateway and status.
pub async fn list(
    conn: &mut PgConnection,
    gateway: Option<&str>,
    status: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {EVENT_COLUMNS} from webhook_events
         where ($1::text is null or gateway = $1) and ($2::text is null or status = $2)
         order by received_at desc limit $3"
    )))
    .bind(gateway)
    .bind(status)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// An event by our id or the gateway's event id (the newest, if several gateways
/// used the same id).
pub async fn find(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<EventRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {EVENT_COLUMNS} from webhook_events where id::text = $1 or event_id = $1
         order by received_at desc limit 1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}
