//! Orders and their saga row.

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

/// The columns of an [`Order`], for the statements built at run time ([`detail`]); the
/// checked statements spell them out.
const COLUMNS: &str =
    "id, order_token, user_id, cart_token, status, currency, subtotal, discount, tax, total,
    price_snapshot, billing_address, coupon_code, gateway, return_url, cancel_url, failure_code,
    failure_reason, last_payment_error, correlation_id, gstin, created_at, updated_at";

/// Locks the order row for the rest of the transaction: every state change of an
/// order happens under this lock, so concurrent steps and events serialise here.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Order>> {
    sqlx::query_as!(
        Order,
        r#"select id, order_token, user_id, cart_token, status, currency, subtotal, discount, tax, total,
                price_snapshot, billing_address as "billing_address: Json<BillingAddress>", coupon_code, gateway, return_url, cancel_url,
                failure_code, failure_reason, last_payment_error, correlation_id, gstin, created_at,
                updated_at from orders where id = $1 for update"#,
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Order>> {
    sqlx::query_as!(Order, r#"select id, order_token, user_id, cart_token, status, currency, subtotal, discount, tax, total,
                price_snapshot, billing_address as "billing_address: Json<BillingAddress>", coupon_code, gateway, return_url, cancel_url,
                failure_code, failure_reason, last_payment_error, correlation_id, gstin, created_at,
                updated_at from orders where id = $1"#, id)
        .fetch_optional(conn)
    .await
}

/// The order, if its saga is at `step` and still `running` or `waiting`: what a step
/// job checks before it acts, in one statement. With `lock`, the saga row and then the
/// order row are locked (the order every other path takes them in); a stale job
/// matches nothing and locks nothing.
pub async fn at_step(
    conn: &mut PgConnection,
    id: Uuid,
    step: Step,
    lock: bool,
) -> sqlx::Result<Option<Order>> {
    if lock {
        sqlx::query_as!(
            Order,
            r#"select o.id, o.order_token, o.user_id, o.cart_token, o.status, o.currency, o.subtotal,
                    o.discount, o.tax, o.total, o.price_snapshot, o.billing_address as "billing_address: Json<BillingAddress>",
                    o.coupon_code, o.gateway, o.return_url, o.cancel_url, o.failure_code,
                    o.failure_reason, o.last_payment_error, o.correlation_id, o.gstin, o.created_at,
                    o.updated_at
             from sagas s join orders o on o.id = s.order_id
             where s.order_id = $1 and s.step = $2 and s.state in ('running', 'waiting')
             for update of s, o"#,
            id,
            step.as_str()
        )
        .fetch_optional(conn)
        .await
    } else {
        sqlx::query_as!(
            Order,
            r#"select o.id, o.order_token, o.user_id, o.cart_token, o.status, o.currency, o.subtotal,
                    o.discount, o.tax, o.total, o.price_snapshot, o.billing_address as "billing_address: Json<BillingAddress>",
                    o.coupon_code, o.gateway, o.return_url, o.cancel_url, o.failure_code,
                    o.failure_reason, o.last_payment_error, o.correlation_id, o.gstin, o.created_at,
                    o.updated_at
             from sagas s join orders o on o.id = s.order_id
             where s.order_id = $1 and s.step = $2 and s.state in ('running', 'waiting')"#,
            id,
            step.as_str()
        )
        .fetch_optional(conn)
        .await
    }
}

/// An order with everything its API view shows, read in one statement.
#[derive(Debug, sqlx::FromRow)]
pub struct Detail {
    #[sqlx(flatten)]
    pub order: Order,
    pub saga_step: Option<String>,
    pub saga_state: Option<String>,
    pub payments: Json<Vec<crate::store::payments::Payment>>,
    pub holds: Json<Vec<crate::store::holds::Hold>>,
    pub enrollments: Json<Vec<crate::store::enrollments::Enrollment>>,
    pub timeline: Json<Vec<crate::store::sagas::StepRecord>>,
}

/// The order, its saga's position, payments, holds, enrollments and step timeline, in
/// one statement (a client waiting on an order reads this on every change).
pub async fn detail(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Detail>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use crate::store::{enrollments, holds, payments, sagas};
        // each list in its store's columns, sorted by keys selected beside them
        // (`sort_0`, ...; extra JSON keys the row types ignore)
        let list = |columns: &str, table: &str, sort: &[&str]| {
            let keys: Vec<_> = (0..sort.len()).map(|i| format!("r.sort_{i}")).collect();
            let sort: Vec<_> = sort
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c} as sort_{i}"))
                .collect();
            format!(
                "coalesce((select json_agg(r order by {}) from
                   (select {columns}, {} from {table} where order_id = o.id) r), '[]')",
                keys.join(", "),
                sort.join(", ")
            )
        };
        format!(
            "select {}, s.step as saga_step, s.state as saga_state,
                    {} as payments, {} as holds, {} as enrollments, {} as timeline
             from orders o left join sagas s on s.order_id = o.id
             where o.id = $1",
            qualified(COLUMNS, "o"),
            list(payments::COLUMNS, "payments", &["created_at", "id"]),
            list(holds::COLUMNS, "seat_holds", &["created_at", "id"]),
            list(enrollments::COLUMNS, "enrollments", &["created_at"]),
            list(sagas::STEP_COLUMNS, "saga_steps", &["id"]),
        )
    });
    sqlx::query_as(sqlx::AssertSqlSafe(SQL.as_str()))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// `columns` (a comma-separated list) prefixed with `alias.`.
fn qualified(columns: &str, alias: &str) -> String {
    let list: Vec<_> = columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect();
    list.join(", ")
}

/// The status alone: what a request waiting on the order checks each time it changes.
pub async fn status(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select status from orders where id = $1", id)
        .fetch_optional(conn)
        .await
}

pub async fn by_token(conn: &mut PgConnection, token: &str) -> sqlx::Result<Option<Order>> {
    sqlx::query_as!(
        Order,
        r#"select id, order_token, user_id, cart_token, status, currency, subtotal, discount, tax, total,
                price_snapshot, billing_address as "billing_address: Json<BillingAddress>", coupon_code, gateway, return_url, cancel_url,
                failure_code, failure_reason, last_payment_error, correlation_id, gstin, created_at,
                updated_at from orders where order_token = $1"#,
        token
    )
    .fetch_optional(conn)
    .await
}

pub async fn by_cart(conn: &mut PgConnection, cart_token: &str) -> sqlx::Result<Option<Order>> {
    sqlx::query_as!(
        Order,
        r#"select id, order_token, user_id, cart_token, status, currency, subtotal, discount, tax, total,
                price_snapshot, billing_address as "billing_address: Json<BillingAddress>", coupon_code, gateway, return_url, cancel_url,
                failure_code, failure_reason, last_payment_error, correlation_id, gstin, created_at,
                updated_at from orders where cart_token = $1"#,
        cart_token
    )
    .fetch_optional(conn)
    .await
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

/// Orders waiting for payment longer than `older_than_secs` (reconciliation).
pub async fn awaiting_payment_since(
    conn: &mut PgConnection,
    older_than_secs: i64,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from orders where status = 'awaiting_payment'
           and updated_at < now() - make_interval(secs => $1)
         order by updated_at limit $2",
        older_than_secs as f64,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// A page (ids after `after`, at most `limit`) of orders awaiting payment for longer
/// than `older_than_secs`: reconciliation wakes each one's `confirm`.
pub async fn awaiting_payment_page(
    conn: &mut PgConnection,
    older_than_secs: i64,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from orders where status = 'awaiting_payment'
           and updated_at < now() - make_interval(secs => $1) and id > $2
         order by id limit $3",
        older_than_secs as f64,
        after,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// A page of orders awaiting payment whose every session has expired (and none was
/// captured): `confirm` asks the gateway a last time and expires them.
pub async fn sessions_expired_page(
    conn: &mut PgConnection,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select o.id from orders o
         where o.status = 'awaiting_payment' and o.id > $1
           and exists (select 1 from payments p where p.order_id = o.id)
           and not exists (select 1 from payments p where p.order_id = o.id
                           and (p.status = 'captured'
                                or (p.status = 'created' and p.expires_at > now())))
         order by o.id limit $2",
        after,
        limit,
    )
    .fetch_all(conn)
    .await
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
