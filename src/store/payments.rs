//! Payment sessions (one row per session created at any gateway); their refunds are in
//! [`super::refunds`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::ledger::{self, Entry, Kind};

#[derive(Debug, Clone, sqlx::FromRow, serde::Deserialize)]
pub struct Payment {
    pub id: Uuid,
    pub payment_token: String,
    pub order_id: Uuid,
    pub gateway: String,
    pub gateway_order_id: String,
    pub checkout_url: Option<String>,
    pub client_params: Value,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub gateway_payment_id: Option<String>,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub flagged: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The columns of a [`Payment`], for the statements built at run time
/// ([`crate::store::orders::detail`]); the checked statements spell them out.
pub(crate) const COLUMNS: &str =
    "id, payment_token, order_id, gateway, gateway_order_id, checkout_url,
    client_params, amount, currency, status, gateway_payment_id, captured_amount,
    refunded_amount, flagged, expires_at, created_at";

pub struct NewPayment<'a> {
    pub order_id: Uuid,
    pub payment_token: &'a str,
    pub gateway: &'a str,
    pub gateway_order_id: &'a str,
    pub checkout_url: Option<&'a str>,
    pub client_params: &'a Value,
    pub amount: i64,
    pub currency: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// Records a session; a session already recorded (a re-run step got the same one back
/// through the gateway's idempotency) is left as it is.
pub async fn record_session(conn: &mut PgConnection, p: &NewPayment<'_>) -> sqlx::Result<()> {
    let id = Uuid::now_v7();
    let recorded = sqlx::query!(
        "insert into payments (id, payment_token, order_id, gateway, gateway_order_id,
                               checkout_url, client_params, amount, currency, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (gateway, gateway_order_id) do nothing",
        id,
        p.payment_token,
        p.order_id,
        p.gateway,
        p.gateway_order_id,
        p.checkout_url,
        p.client_params,
        p.amount,
        p.currency,
        p.expires_at,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if recorded {
        let after = serde_json::json!({"status": "created", "gateway": p.gateway,
            "gateway_order_id": p.gateway_order_id, "amount": p.amount,
            "expires_at": p.expires_at});
        let entry = Entry::about("payment", id.to_string(), Kind::PaymentSessionCreated)
            .for_order(p.order_id)
            .currency(Some(p.currency))
            .after(after);
        ledger::append(conn, &entry).await?;
    }
    Ok(())
}

pub async fn for_order(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Vec<Payment>> {
    sqlx::query_as!(
        Payment,
        "select id, payment_token, order_id, gateway, gateway_order_id, checkout_url, client_params,
                amount, currency, status, gateway_payment_id, captured_amount, refunded_amount,
                flagged, expires_at, created_at
         from payments where order_id = $1 order by created_at, id",
        order_id
    )
    .fetch_all(conn)
    .await
}

pub async fn by_token(conn: &mut PgConnection, token: &str) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as!(
        Payment,
        "select id, payment_token, order_id, gateway, gateway_order_id, checkout_url, client_params,
                amount, currency, status, gateway_payment_id, captured_amount, refunded_amount,
                flagged, expires_at, created_at
         from payments where payment_token = $1",
        token
    )
    .fetch_optional(conn)
    .await
}

pub async fn by_gateway_order(
    conn: &mut PgConnection,
    gateway: &str,
    gateway_order_id: &str,
) -> sqlx::Result<Option<Payment>> {
    sqlx::query_as!(
        Payment,
        "select id, payment_token, order_id, gateway, gateway_order_id, checkout_url, client_params,
                amount, currency, status, gateway_payment_id, captured_amount, refunded_amount,
                flagged, expires_at, created_at
         from payments where gateway = $1 and gateway_order_id = $2",
        gateway,
        gateway_order_id
    )
    .fetch_optional(conn)
    .await
}

/// Records money taken on a session (the caller holds the order lock), with its ledger
/// row (+ the amount), once: a captured session is not captured again.
pub async fn mark_captured(
    conn: &mut PgConnection,
    id: Uuid,
    gateway_payment_id: &str,
    amount: i64,
    flagged: Option<&str>,
) -> sqlx::Result<()> {
    // `old` is the row as it was before this update: its status is the ledger's before
    let captured = sqlx::query!(
        "update payments p set status = 'captured', gateway_payment_id = $2,
                captured_amount = $3, flagged = coalesce($4, p.flagged)
           from (select id, status from payments where id = $1) old
          where p.id = old.id and p.status in ('created', 'failed', 'expired', 'cancelled')
          returning p.order_id, p.currency, p.gateway, old.status as before_status",
        id,
        gateway_payment_id,
        amount,
        flagged,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(c) = captured {
        let after = serde_json::json!({"status": "captured", "gateway": c.gateway,
            "gateway_payment_id": gateway_payment_id, "captured_amount": amount,
            "flagged": flagged});
        let entry = Entry::about("payment", id.to_string(), Kind::PaymentCaptured)
            .for_order(c.order_id)
            .money(amount, Some(&c.currency))
            .before(serde_json::json!({"status": c.before_status, "captured_amount": 0}))
            .after(after);
        ledger::append(conn, &entry).await?;
    }
    Ok(())
}

/// Marks still-open sessions of an order (after expiry, cancellation or failure), each
/// with its ledger row.
pub async fn close_open(conn: &mut PgConnection, order_id: Uuid, status: &str) -> sqlx::Result<()> {
    let closed = sqlx::query!(
        "update payments set status = $2 where order_id = $1 and status = 'created'
         returning id, currency",
        order_id,
        status
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in closed {
        let entry = Entry::about("payment", row.id.to_string(), Kind::PaymentSessionClosed)
            .for_order(order_id)
            .currency(Some(&row.currency))
            .before(serde_json::json!({"status": "created"}))
            .after(serde_json::json!({"status": status}));
        ledger::append(conn, &entry).await?;
    }
    Ok(())
}
