//! Orders and their saga row: creating one, freezing its price, moving its status
//! (reads in `read`, reconciliation pages in `pages`).

mod pages;
mod read;

pub use pages::{awaiting_payment_page, awaiting_payment_since, sessions_expired_page};
pub use read::{Detail, at_step, by_cart, by_token, detail, get, lock, status};

use serde_json::Value;
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::ledger::{self, Entry, Kind};
use crate::domain::BillingAddress;
use crate::domain::order::{OrderStatus, Step};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Order {
    pub id: Uuid,
    pub order_token: String,
    pub user_id: Uuid,
    pub cart_token: String,
    pub status: String,
    pub currency: Option<String>,
    pub subtotal: Option<i64>,
    pub discount: Option<i64>,
    pub tax: Option<i64>,
    pub total: Option<i64>,
    pub price_snapshot: Option<Value>,
    pub billing_address: Json<BillingAddress>,
    pub coupon_code: Option<String>,
    pub gateway: Option<String>,
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
    pub failure_code: Option<i32>,
    pub failure_reason: Option<String>,
    pub last_payment_error: Option<String>,
    pub correlation_id: Option<String>,
    /// The buyer's GSTIN (B2B), also in `billing_address`.
    pub gstin: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl Order {
    /// The stored status; the check constraint keeps it parseable.
    pub fn status(&self) -> OrderStatus {
        self.status.parse().unwrap_or(OrderStatus::Failed)
    }
}

pub struct NewOrder<'a> {
    pub id: Uuid,
    pub order_token: &'a str,
    pub user_id: Uuid,
    pub cart_token: &'a str,
    pub billing_address: &'a BillingAddress,
    pub coupon_code: Option<&'a str>,
    pub gateway: Option<&'a str>,
    pub return_url: Option<&'a str>,
    pub cancel_url: Option<&'a str>,
    pub correlation_id: &'a str,
    /// The creating request's `traceparent`, when traces are exported.
    pub trace_context: Option<&'a str>,
}

/// What later work about an order continues: the `traceparent` of the request that
/// created it (if it was traced) and its correlation id.
pub struct Origin {
    pub trace_context: Option<String>,
    pub correlation_id: Option<String>,
}

pub async fn origin(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<Origin>> {
    sqlx::query_as!(
        Origin,
        "select trace_context, correlation_id from orders where id = $1",
        order_id
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Inserts an order and its saga row at `price`. Returns false when the cart already
/// has an order (the unique index decides, so concurrent requests make one order).
pub async fn insert(conn: &mut PgConnection, o: &NewOrder<'_>) -> sqlx::Result<bool> {
    let inserted = sqlx::query!(
        "insert into orders (id, order_token, user_id, cart_token, billing_address, coupon_code,
                             gateway, return_url, cancel_url, correlation_id, trace_context, gstin)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         on conflict (cart_token) do nothing",
        o.id,
        o.order_token,
        o.user_id,
        o.cart_token,
        Json(o.billing_address) as _,
        o.coupon_code,
        o.gateway,
        o.return_url,
        o.cancel_url,
        o.correlation_id,
        o.trace_context,
        o.billing_address.gstin.as_ref().map(|g| g.as_str()),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if inserted {
        sqlx::query!(
            "insert into sagas (order_id, step) values ($1, $2)",
            o.id,
            Step::Price.as_str(),
        )
        .execute(&mut *conn)
        .await?;
        let after = serde_json::json!({"status": OrderStatus::Pending, "user_id": o.user_id,
            "coupon_code": o.coupon_code, "gateway": o.gateway});
        ledger::append(conn, &Entry::order(o.id, Kind::OrderCreated).after(after)).await?;
    }
    Ok(inserted)
}

/// Freezes the immutable price snapshot and the amounts copied from it. Only once: a
/// second `price` run finds the snapshot and leaves it alone (and writes no ledger row).
pub async fn freeze_price(
    conn: &mut PgConnection,
    id: Uuid,
    breakdown: &crate::domain::PriceBreakdown,
) -> sqlx::Result<()> {
    let snapshot = serde_json::to_value(breakdown).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let t = &breakdown.totals;
    let frozen = sqlx::query!(
        "update orders set price_snapshot = $2, currency = $3, subtotal = $4, discount = $5,
                tax = $6, total = $7
         where id = $1 and price_snapshot is null",
        id,
        snapshot,
        breakdown.currency.code(),
        t.subtotal,
        t.discount,
        t.tax.unwrap_or(0),
        t.total,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if frozen {
        let currency = breakdown.currency.code();
        let after = serde_json::json!({"currency": currency, "subtotal": t.subtotal,
            "discount": t.discount, "tax": t.tax.unwrap_or(0), "total": t.total});
        let entry = Entry::order(id, Kind::PriceFrozen)
            .currency(Some(currency))
            .after(after);
        ledger::append(conn, &entry).await?;
    }
    Ok(())
}

/// Moves the order to `next` if the transition table allows it from its current
/// status. The caller holds the row lock. Returns whether it moved.
pub async fn transition(
    conn: &mut PgConnection,
    order: &Order,
    next: OrderStatus,
    failure: Option<(u32, &str)>,
) -> sqlx::Result<bool> {
    if !order.status().can_become(next) {
        return Ok(false);
    }
    let moved = sqlx::query!(
        "update orders set status = $2,
                failure_code = coalesce($3, failure_code),
                failure_reason = coalesce($4, failure_reason)
         where id = $1 and status = $5",
        order.id,
        next.as_str(),
        failure.map(|(c, _)| c as i32),
        failure.map(|(_, r)| r),
        &order.status,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if moved {
        let mut after = serde_json::json!({"status": next});
        if let Some((code, reason)) = failure {
            after["failure_code"] = code.into();
            after["failure_reason"] = reason.into();
        }
        let entry = Entry::order(order.id, Kind::OrderStatusChanged)
            .currency(order.currency.as_deref())
            .before(serde_json::json!({"status": order.status}))
            .after(after);
        ledger::append(conn, &entry).await?;
    }
    Ok(moved)
}

/// Why the last payment attempt failed, shown while the order can still be paid.
pub async fn set_last_payment_error(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update orders set last_payment_error = $2 where id = $1",
        id,
        error
    )
    .execute(conn)
    .await?;
    Ok(())
}
