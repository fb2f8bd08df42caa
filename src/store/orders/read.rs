//! Reading orders: by id (locked or not, or at a saga step), token or cart, and the API detail.

use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::Order;
use crate::domain::BillingAddress;
use crate::domain::order::Step;

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
