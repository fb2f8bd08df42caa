//! The money ledger: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE), one
//! row per money movement and per state change of an order, a payment, a refund, a
//! coupon or a price, appended by the store function that makes the change, in its
//! transaction, only when the change happened (so a job run twice writes one row).
//!
//! Each row names its actor ([`crate::telemetry::actor`]: the job, webhook, operator or
//! API caller the task works for) and, for a row about an order, the order's own
//! correlation id.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// What a row records: a closed vocabulary, mirrored by the table's check constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OrderCreated,
    PriceFrozen,
    OrderStatusChanged,
    CouponRedeemed,
    CouponGivenBack,
    PaymentSessionCreated,
    PaymentSessionClosed,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    PaymentVoided,
    RefundRequested,
    RefundPending,
    RefundProcessed,
    RefundFailed,
    RefundRetried,
    PriceChanged,
    CouponChanged,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderCreated => "order_created",
            Kind::PriceFrozen => "price_frozen",
            Kind::OrderStatusChanged => "order_status_changed",
            Kind::CouponRedeemed => "coupon_redeemed",
            Kind::CouponGivenBack => "coupon_given_back",
            Kind::PaymentSessionCreated => "payment_session_created",
            Kind::PaymentSessionClosed => "payment_session_closed",
            Kind::PaymentAuthorized => "payment_authorized",
            Kind::PaymentCaptured => "payment_captured",
            Kind::PaymentFailed => "payment_failed",
            Kind::PaymentVoided => "payment_voided",
            Kind::RefundRequested => "refund_requested",
            Kind::RefundPending => "refund_pending",
            Kind::RefundProcessed => "refund_processed",
            Kind::RefundFailed => "refund_failed",
            Kind::RefundRetried => "refund_retried",
            Kind::PriceChanged => "price_changed",
            Kind::CouponChanged => "coupon_changed",
        }
    }
}

/// One row to append; built with [`Entry::order`] or [`Entry::about`] and the setters.
#[derive(Debug, Clone)]
pub struct Entry {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub order_id: Option<Uuid>,
    pub kind: Kind,
    /// The money moved, in minor units: + captured, - refunded, 0 for a state change.
    pub amount_minor: i64,
    pub currency: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Entry {
    /// A row about the order itself.
    pub fn order(order_id: Uuid, kind: Kind) -> Self {
        Entry::about("order", order_id.to_string(), kind).for_order(order_id)
    }

    /// A row about another aggregate (`payment`, `refund`, `coupon`, `plan`).
    pub fn about(
        aggregate_type: &'static str,
        aggregate_id: impl Into<String>,
        kind: Kind,
    ) -> Self {
        Entry {
            aggregate_type,
            aggregate_id: aggregate_id.into(),
            order_id: None,
            kind,
            amount_minor: 0,
            currency: None,
            before: None,
            after: None,
        }
    }

    /// A row about a refund of the order, in its currency.
    pub fn refund(refund_id: Uuid, order_id: Uuid, kind: Kind, currency: &str) -> Self {
        Entry::about("refund", refund_id.to_string(), kind)
            .for_order(order_id)
            .currency(Some(currency))
    }

    pub fn for_order(mut self, order_id: Uuid) -> Self {
        self.order_id = Some(order_id);
        self
    }

    pub fn money(mut self, amount_minor: i64, currency: Option<&str>) -> Self {
        self.amount_minor = amount_minor;
        self.currency = currency.map(str::to_owned);
        self
    }

    pub fn currency(mut self, currency: Option<&str>) -> Self {
        self.currency = currency.map(str::to_owned);
        self
    }

    pub fn before(mut self, before: Value) -> Self {
        self.before = Some(before);
        self
    }

    pub fn after(mut self, after: Value) -> Self {
        self.after = Some(after);
        self
    }
}

/// Appends `entry` in the caller's transaction, as the task's actor. A row about an
/// order carries the order's correlation id (the request that created it), else the
/// task's.
pub async fn append(conn: &mut PgConnection, entry: &Entry) -> sqlx::Result<()> {
    let actor = crate::telemetry::actor();
    sqlx::query!(
        "insert into ledger (aggregate_type, aggregate_id, order_id, kind, amount_minor, currency,
                             before, after, actor_type, actor, correlation_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                 coalesce((select correlation_id from orders where id = $3), $11))",
        entry.aggregate_type,
        entry.aggregate_id,
        entry.order_id,
        entry.kind.as_str(),
        entry.amount_minor,
        entry.currency,
        entry.before,
        entry.after,
        actor.kind,
        actor.name,
        crate::telemetry::correlation_id(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub order_id: Option<Uuid>,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub actor_type: String,
    pub actor: String,
    pub correlation_id: Option<String>,
}

/// The order's rows, in the order they were written.
pub async fn for_order(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Vec<Row>> {
    sqlx::query_as!(
        Row,
        "select id, at, aggregate_type, aggregate_id, order_id, kind, amount_minor, currency,
                before, after, actor_type, actor, correlation_id
           from ledger where order_id = $1 order by id",
        order_id
    )
    .fetch_all(conn)
    .await
}
