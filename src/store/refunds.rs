//! Refunds: decided once per idempotency key, then moved by what the gateway says
//! (`requested -> pending -> processed | failed`; a retryable failure goes back to
//! `requested` with the next generation). Only `processed` moves the payment's
//! refunded amount.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::ledger::{self, Entry, Kind};
use super::payments::Payment;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RefundRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub gateway: String,
    pub gateway_payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub idempotency_key: String,
    pub gateway_refund_id: Option<String>,
    pub status: String,
    /// Gateway calls that failed (network, 5xx, refusals).
    pub attempts: i32,
    /// Refunds made at the gateway for this decision, minus one.
    pub generation: i32,
    pub polls: i32,
    pub next_check_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl RefundRow {
    /// The key the gateway gets: the decision's own for the first refund, a new one per
    /// retry after a failure (the same key would replay the failed refund).
    pub fn gateway_key(&self) -> String {
        match self.generation {
            0 => self.idempotency_key.clone(),
            n => format!("{}:retry:{n}", self.idempotency_key),
        }
    }

    pub fn is_settled(&self) -> bool {
        matches!(self.status.as_str(), "processed" | "failed")
    }
}

pub struct NewRefund<'a> {
    pub order_id: Uuid,
    pub payment_id: Option<Uuid>,
    pub gateway: &'a str,
    pub gateway_payment_id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub reason: &'a str,
    pub idempotency_key: &'a str,
}

/// Decides a refund: writes its row (once per idempotency key) in the caller's
/// transaction. Returns the row id when it is new (the caller enqueues its job).
///
/// A refund of a capture no session row holds (`payment_id` none: a second capture on
/// one session) is where the ledger first learns of that money: the capture is
/// appended before the request, so the order's ledger sum stays captured - refunded.
pub async fn decide(conn: &mut PgConnection, r: &NewRefund<'_>) -> sqlx::Result<Option<Uuid>> {
    let decided = sqlx::query_scalar!(
        "insert into refunds (id, order_id, payment_id, gateway, gateway_payment_id, amount,
                              currency, reason, idempotency_key)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (idempotency_key) do nothing returning id",
        Uuid::now_v7(),
        r.order_id,
        r.payment_id,
        r.gateway,
        r.gateway_payment_id,
        r.amount,
        r.currency,
        r.reason,
        r.idempotency_key,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = decided else {
        return Ok(None);
    };
    if r.payment_id.is_none() {
        let after = serde_json::json!({"status": "captured", "gateway": r.gateway,
            "gateway_payment_id": r.gateway_payment_id, "captured_amount": r.amount,
            "session": null});
        let entry = Entry::about("payment", r.gateway_payment_id, Kind::PaymentCaptured)
            .for_order(r.order_id)
            .money(r.amount, Some(r.currency))
            .after(after);
        ledger::append(conn, &entry).await?;
    }
    let after = serde_json::json!({"status": "requested", "amount": r.amount,
        "gateway": r.gateway, "gateway_payment_id": r.gateway_payment_id,
        "payment_id": r.payment_id, "reason": r.reason});
    let entry = Entry::refund(id, r.order_id, Kind::RefundRequested, r.currency).after(after);
    ledger::append(conn, &entry).await?;
    Ok(Some(id))
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RefundRow>> {
    sqlx::query_as!(
        RefundRow,
        "select id, order_id, payment_id, gateway, gateway_payment_id, amount, currency, reason,
                idempotency_key, gateway_refund_id, status, attempts, generation, polls,
                next_check_at, last_error, failure_reason, created_at, settled_at
         from refunds where id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn lock(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<RefundRow>> {
    sqlx::query_as!(
        RefundRow,
        "select id, order_id, payment_id, gateway, gateway_payment_id, amount, currency, reason,
                idempotency_key, gateway_refund_id, status, attempts, generation, polls,
                next_check_at, last_error, failure_reason, created_at, settled_at
         from refunds where id = $1 for update",
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn for_order(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Vec<RefundRow>> {
    sqlx::query_as!(
        RefundRow,
        "select id, order_id, payment_id, gateway, gateway_payment_id, amount, currency, reason,
                idempotency_key, gateway_refund_id, status, attempts, generation, polls,
                next_check_at, last_error, failure_reason, created_at, settled_at
         from refunds where order_id = $1 order by created_at",
        order_id
    )
    .fetch_all(conn)
    .await
}

/// Unsettled refunds of one gateway payment, or the one the gateway knows by
/// `gateway_refund_id`: what a refund webhook wakes.
pub async fn unsettled_for(
    conn: &mut PgConnection,
    gateway: &str,
    gateway_payment_id: Option<&str>,
    gateway_refund_id: Option<&str>,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select id from refunds
          where gateway = $1 and status in ('requested', 'pending')
            and (gateway_payment_id = $2 or gateway_refund_id = $3)",
        gateway,
        gateway_payment_id,
        gateway_refund_id,
    )
    .fetch_all(conn)
    .await
}

/// The gateway accepted the refund and has not settled it (the ledger row is written
/// when it was `requested`: a read that finds it pending still changes nothing).
pub async fn mark_pending(
    conn: &mut PgConnection,
    id: Uuid,
    gateway_refund_id: &str,
) -> sqlx::Result<()> {
    let moved = sqlx::query!(
        "update refunds r set status = 'pending', gateway_refund_id = $2
           from (select id, status from refunds where id = $1) old
          where r.id = old.id and r.status in ('requested', 'pending')
          returning r.order_id, r.amount, r.currency, old.status as before_status",
        id,
        gateway_refund_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(m) = moved.filter(|m| m.before_status == "requested") {
        let entry = Entry::refund(id, m.order_id, Kind::RefundPending, &m.currency)
            .before(serde_json::json!({"status": "requested"}))
            .after(serde_json::json!({"status": "pending", "amount": m.amount,
                "gateway_refund_id": gateway_refund_id}));
        ledger::append(conn, &entry).await?;
    }
    Ok(())
}

/// Records that the money went back and moves the payment's refunded amount, once.
/// Returns whether it moved now.
pub async fn mark_processed(
    conn: &mut PgConnection,
    refund: &RefundRow,
    gateway_refund_id: &str,
) -> sqlx::Result<bool> {
    let moved = sqlx::query!(
        "update refunds set status = 'processed', gateway_refund_id = $2, settled_at = now(),
                next_check_at = null
         where id = $1 and status in ('requested', 'pending')",
        refund.id,
        gateway_refund_id,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if moved && let Some(payment_id) = refund.payment_id {
        sqlx::query!(
            "update payments set refunded_amount = least(captured_amount, refunded_amount + $2),
                    status = case when refunded_amount + $2 >= captured_amount
                                  then 'refunded' else 'partially_refunded' end
             where id = $1",
            payment_id,
            refund.amount,
        )
        .execute(&mut *conn)
        .await?;
    }
    if moved {
        let entry = Entry::refund(
            refund.id,
            refund.order_id,
            Kind::RefundProcessed,
            &refund.currency,
        )
        .money(-refund.amount, Some(&refund.currency))
        .before(serde_json::json!({"status": refund.status}))
        .after(
            serde_json::json!({"status": "processed", "amount": refund.amount,
                "gateway_refund_id": gateway_refund_id, "payment_id": refund.payment_id}),
        );
        ledger::append(conn, &entry).await?;
    }
    Ok(moved)
}

/// The gateway's refund failed. `retry`: start the next generation (status back to
/// `requested`, a new gateway key); else the refund is `failed`, for an operator.
/// Returns whether the row moved (false: settled or retried already).
pub async fn mark_failed(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
    retry: bool,
) -> sqlx::Result<bool> {
    let moved = sqlx::query!(
        "update refunds r
            set status = case when $3 then 'requested' else 'failed' end,
                generation = r.generation + case when $3 then 1 else 0 end,
                gateway_refund_id = case when $3 then null else r.gateway_refund_id end,
                failure_reason = $2, last_error = $2, next_check_at = null,
                polls = case when $3 then 0 else r.polls end,
                settled_at = case when $3 then null else now() end
           from (select id, status from refunds where id = $1) old
          where r.id = old.id and r.status in ('requested', 'pending')
          returning r.order_id, r.amount, r.currency, r.status, r.generation,
                    old.status as before_status",
        id,
        reason,
        retry,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(m) = moved else {
        return Ok(false);
    };
    let entry = Entry::refund(id, m.order_id, Kind::RefundFailed, &m.currency)
        .before(serde_json::json!({"status": m.before_status}))
        .after(serde_json::json!({"status": m.status, "amount": m.amount,
            "generation": m.generation, "reason": reason}));
    ledger::append(conn, &entry).await?;
    Ok(true)
}

/// A gateway call for the refund failed (network, 5xx or a refusal); `permanent`: the
/// gateway refused it, an operator must look (the refund becomes `failed`, with its
/// ledger row). Returns the attempts so far.
pub async fn call_failed(
    conn: &mut PgConnection,
    id: Uuid,
    error: &str,
    permanent: bool,
) -> sqlx::Result<i32> {
    let row = sqlx::query!(
        "update refunds r set attempts = r.attempts + 1, last_error = $2,
                status = case when $3 then 'failed' else r.status end,
                settled_at = case when $3 then now() else r.settled_at end
           from (select id, status from refunds where id = $1) old
          where r.id = old.id
          returning r.attempts, r.order_id, r.amount, r.currency, r.generation,
                    old.status as before_status",
        id,
        error,
        permanent,
    )
    .fetch_one(&mut *conn)
    .await?;
    if permanent && row.before_status != "failed" {
        let entry = Entry::refund(id, row.order_id, Kind::RefundFailed, &row.currency)
            .before(serde_json::json!({"status": row.before_status}))
            .after(serde_json::json!({"status": "failed", "amount": row.amount,
                "generation": row.generation, "reason": error}));
        ledger::append(conn, &entry).await?;
    }
    Ok(row.attempts)
}

/// A scheduled read of an unsettled refund.
pub struct Check {
    pub generation: i32,
    /// The read's number within its generation.
    pub poll: i32,
    pub at: DateTime<Utc>,
}

/// Schedules the next read of an unsettled refund `delay` from now, unless one is
/// already scheduled later (a read woken sooner, by a webhook, leaves the schedule
/// alone, so reads never multiply; the scheduled one runs when the database's clock
/// reaches `next_check_at`).
pub async fn schedule_check(
    conn: &mut PgConnection,
    id: Uuid,
    delay: Duration,
) -> sqlx::Result<Option<Check>> {
    let row = sqlx::query!(
        // whole seconds: the job's `run_at` keeps no fraction, so it runs once the
        // clock passes exactly this time
        r#"update refunds set polls = polls + 1,
                next_check_at = to_timestamp(ceil(extract(epoch from now() + make_interval(secs => $2))))
          where id = $1 and status in ('requested', 'pending')
            and (next_check_at is null or next_check_at <= now())
          returning generation, polls, next_check_at as "next_check_at!""#,
        id,
        delay.as_secs_f64(),
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Check {
        generation: r.generation,
        poll: r.polls,
        at: r.next_check_at,
    }))
}

/// An operator retries a failed refund: the next generation, asked anew. Returns that
/// generation, or `None` when the refund is not `failed`.
pub async fn reopen_failed(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<i32>> {
    let reopened = sqlx::query!(
        "update refunds set status = 'requested', generation = generation + 1,
                gateway_refund_id = null, next_check_at = null, polls = 0, attempts = 0,
                settled_at = null
          where id = $1 and status = 'failed'
          returning generation, order_id, amount, currency",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = reopened else {
        return Ok(None);
    };
    let entry = Entry::refund(id, r.order_id, Kind::RefundRetried, &r.currency)
        .before(serde_json::json!({"status": "failed"}))
        .after(
            serde_json::json!({"status": "requested", "amount": r.amount,
            "generation": r.generation}),
        );
    ledger::append(conn, &entry).await?;
    Ok(Some(r.generation))
}

/// What is still refundable on a payment: captured minus refunds decided so far
/// (a failed refund gives its amount back).
pub async fn refundable(conn: &mut PgConnection, payment: &Payment) -> sqlx::Result<i64> {
    let decided: i64 = sqlx::query_scalar!(
        r#"select coalesce(sum(amount), 0)::bigint as "decided!"
           from refunds where payment_id = $1 and status <> 'failed'"#,
        payment.id
    )
    .fetch_one(conn)
    .await?;
    Ok((payment.captured_amount - decided).max(0))
}

/// The refund decided under `idempotency_key`, if any: (id, status).
pub async fn by_key(
    conn: &mut PgConnection,
    idempotency_key: &str,
) -> sqlx::Result<Option<(Uuid, String)>> {
    let found = sqlx::query!(
        "select id, status from refunds where idempotency_key = $1",
        idempotency_key
    )
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|r| (r.id, r.status)))
}
