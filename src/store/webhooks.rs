//! Gateway webhook deliveries: stored once per gateway event id (and once per payment
//! fact), rejected ones kept for audit only.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// Records a rejected delivery (bad or missing signature) for audit; never processed,
/// and outside the once-per-event indexes (which skip `rejected`).
pub async fn insert_rejected(
    conn: &mut PgConnection,
    gateway: &str,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into webhook_events (id, gateway, status, error) values ($1, $2, 'rejected', $3)",
    )
    .bind(Uuid::now_v7())
    .bind(gateway)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a verified webhook about this gateway payment was stored (any event type or
/// status but `rejected`); reads the `(gateway, gateway_payment_id, ...)` index.
pub async fn heard_of_payment(
    conn: &mut PgConnection,
    gateway: &str,
    gateway_payment_id: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists(select 1 from webhook_events
                        where gateway = $1 and gateway_payment_id = $2 and status <> 'rejected')",
    )
    .bind(gateway)
    .bind(gateway_payment_id)
    .fetch_one(conn)
    .await
}

/// A verified delivery to store; [`insert_verified`] works out its order and status in
/// the same statement.
pub struct VerifiedEvent<'a> {
    pub gateway: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub gateway_order_id: Option<&'a str>,
    pub gateway_payment_id: Option<&'a str>,
    pub payment_status: Option<&'a str>,
    /// Our order token as the gateway echoes it (receipt / client_reference_id).
    pub reference: Option<&'a str>,
    /// Whether the event's kind moves an order (a payment or session outcome).
    pub acts: bool,
    pub payload: &'a Value,
}

/// What [`insert_verified`] stored.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub id: Uuid,
    pub order_id: Option<Uuid>,
    /// processed, ignored or unmatched
    pub status: String,
}

/// Stores a verified event in one statement, matched to our order by the gateway
/// session we stored, else by the order token the gateway echoes (a session whose
/// creation answer we never saw). Its status: `ignored` when it does not act, else
/// `processed` when it matched an order, `unmatched` when not. `None` when the same
/// event (or the same payment fact under another event id) was stored before.
pub async fn insert_verified(
    conn: &mut PgConnection,
    e: &VerifiedEvent<'_>,
) -> sqlx::Result<Option<Stored>> {
    sqlx::query_as(
        "with matched as (
             select coalesce(
                 (select order_id from payments where gateway = $2 and gateway_order_id = $5),
                 (select id from orders where order_token = $9),
                 -- Stripe's refund events name only the PaymentIntent: our refunds of it
                 (select order_id from refunds where gateway = $2 and gateway_payment_id = $6
                   limit 1)) as order_id
         ), decided as (
             select order_id,
                    case when not $10 then 'ignored'
                         when order_id is null then 'unmatched'
                         else 'processed' end as status
             from matched
         )
         insert into webhook_events (id, gateway, event_id, event_type, gateway_order_id,
                                     gateway_payment_id, payment_status, order_id, status,
                                     payload, processed_at)
         select $1, $2, $3, $4, $5, $6, $7, order_id, status, $8,
                case when status in ('processed', 'ignored') then now() end
         from decided
         on conflict do nothing returning id, order_id, status",
    )
    .bind(Uuid::now_v7())
    .bind(e.gateway)
    .bind(e.event_id)
    .bind(e.event_type)
    .bind(e.gateway_order_id)
    .bind(e.gateway_payment_id)
    .bind(e.payment_status)
    .bind(e.payload)
    .bind(e.reference)
    .bind(e.acts)
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
