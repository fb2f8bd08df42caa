//! `confirm`: the one place a payment turns into a paid order.
//!
//! Woken by a verified webhook, the client's signed callback, reconciliation, or the
//! session's expiry, it always asks the gateway itself (the authority) for each of the
//! order's sessions, captures or releases authorized payments ([`super::capture`]), then
//! applies what it learnt under the order's row lock:
//! - a capture of the right amount and currency on an order still accepting payment
//!   -> `paid`, and the saga moves on to `enroll`;
//! - any other capture (the order already paid through another session or twice on one,
//!   the order expired or was cancelled, the amount or currency differs) -> recorded
//!   and refunded, never enrolled;
//! - no capture and every session expired -> the order expires and is compensated at
//!   once; a session counts as expired when its recorded expiry passed or when its
//!   gateway says so (Stripe expires sessions early, from the dashboard or its API).
//!
//! In three parts: [`ask_gateways`] (outside any transaction), [`apply`] (records what
//! was learnt under the order lock) and [`decide`] (where the saga goes from there).
//!
//! All triggers converge here and the transition is forward-only, so a webhook and a
//! callback arriving together, duplicated or out of order make one transition.

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::capture::{Settled, settle_authorizations};
use super::prepare::skip;
use super::refunds::decide_refund;
use super::runner::{Failure, Outcome, StepError, StepResult};
use crate::domain::codes::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::gateways::{
    GatewayError, GatewayKind, GatewayPayment, Money, SessionReport, SessionStatus,
};
use crate::store::orders::Order;
use crate::store::payments::Payment;
use crate::store::sagas::Saga;
use crate::store::{orders, outbox, payments, sagas, webhooks};
use crate::telemetry::on_commit::count;
use crate::workflows::jobs::JobContext;
use crate::workflows::keys;

/// `reconciling`: reconciliation woke this run; a payment it finds that no webhook
/// reported counts in `reconciliation_recovered_total`.
pub async fn confirm(ctx: &JobContext, order_id: Uuid, reconciling: bool) -> StepResult<'static> {
    let mut conn = crate::store::acquire(&ctx.pool).await?;
    let sessions = payments::for_order(&mut conn, order_id).await?;
    drop(conn);
    if sessions.is_empty() {
        return skip(ctx).await;
    }
    let Some(mut reports) = ask_gateways(ctx, &sessions).await? else {
        // The session itself no longer matches what we created: never trust its
        // payments; they are refunded by compensation.
        let tx = crate::store::begin(&ctx.pool).await?;
        return Ok((
            tx,
            Outcome::Fail(Failure::new(
                OrderStatus::Failed,
                ErrorCode::PaymentMismatch.as_u32(),
                "the gateway reported a different amount or currency",
            )),
        ));
    };

    let settled = settle_authorizations(ctx, order_id, &sessions, &mut reports).await?;

    let mut tx = crate::store::begin(&ctx.pool).await?;
    let saga = sagas::lock(&mut tx, order_id).await?;
    let Some(mut order) = orders::lock(&mut tx, order_id).await? else {
        return Ok((tx, Outcome::Skip));
    };
    let applied = apply(&mut tx, &mut order, &reports, reconciling).await?;
    let outcome = decide(
        &mut tx,
        &order,
        saga.as_ref(),
        &sessions,
        &reports,
        applied,
        &settled,
    )
    .await?;
    Ok((tx, outcome))
}

/// Asks each session's gateway what became of it (the amount and currency we expect
/// travel along, so a session that no longer matches is caught). `None`: a session
/// does not match what we created.
async fn ask_gateways(
    ctx: &JobContext,
    sessions: &[Payment],
) -> Result<Option<Vec<(Uuid, SessionReport)>>, StepError> {
    let mut reports = Vec::new();
    for p in sessions {
        if matches!(p.status.as_str(), "refunded") {
            continue;
        }
        let kind: GatewayKind = p.gateway.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        let Some(gateway) = ctx.gateways.get(kind) else {
            return Err(StepError::Gateway(format!("{kind} is not configured")));
        };
        let expected = Money::new(p.amount, &p.currency);
        match gateway.fetch_session(&p.gateway_order_id, &expected).await {
            Ok(report) => reports.push((p.id, report)),
            Err(GatewayError::Mismatch { .. }) => return Ok(None),
            Err(e) => return Err(StepError::Gateway(e.to_string())),
        }
    }
    Ok(Some(reports))
}

/// What [`apply`] did.
struct Applied {
    /// The order became `paid` now.
    paid_now: bool,
    /// A capture of another amount or currency on an order that still accepted payment:
    /// the order fails (its capture is recorded and refunded).
    mismatch: Option<String>,
}

/// Records every capture the gateways reported, under the order lock, deciding on the
/// payment rows as they are now (the list read before the gateway calls may be stale:
/// a concurrent confirm may have recorded the capture). The first right capture on an
/// order that accepts payment makes it `paid`; every other capture is refunded.
async fn apply(
    tx: &mut PgConnection,
    order: &mut Order,
    reports: &[(Uuid, SessionReport)],
    reconciling: bool,
) -> Result<Applied, StepError> {
    let order_id = order.id;
    let current = payments::for_order(tx, order_id).await?;
    let mut paid_now = false;
    let mut last_error = None;
    for (payment_row, report) in reports {
        let row = current.iter().find(|s| s.id == *payment_row);
        for captured in report.captured() {
            let known = row.is_some_and(|r| {
                r.gateway_payment_id.as_deref() == Some(captured.payment_id.as_str())
            });
            if known {
                continue;
            }
            let right_amount = Some(captured.amount) == order.total
                && Some(captured.currency.to_ascii_uppercase()) == order.currency;
            let first_on_session = row.is_some_and(|r| r.gateway_payment_id.is_none());
            if first_on_session {
                let flag = (!right_amount).then_some("amount or currency differs from the order");
                payments::mark_captured(
                    tx,
                    *payment_row,
                    &captured.payment_id,
                    captured.amount,
                    flag,
                )
                .await?;
            }
            if right_amount && first_on_session && order.status().accepts_payment() {
                orders::transition(tx, order, OrderStatus::Paid, None).await?;
                order.status = OrderStatus::Paid.as_str().to_owned();
                paid_now = true;
                let paid = serde_json::json!({"gateway": report.gateway,
                    "payment_id": captured.payment_id, "amount": captured.amount,
                    "currency": order.currency});
                outbox::record(tx, order_id, "payment.captured", paid.clone()).await?;
                outbox::record(tx, order_id, "order.paid", paid).await?;
                let gateway = report.gateway.as_str();
                count(move || {
                    metrics::counter!("payments_succeeded_total", "gateway" => gateway).increment(1)
                });
                if reconciling
                    && !webhooks::heard_of_payment(tx, gateway, &captured.payment_id).await?
                {
                    count(move || {
                        metrics::counter!("reconciliation_recovered_total", "gateway" => gateway)
                            .increment(1)
                    });
                }
                continue;
            }
            let reason = if !right_amount {
                "captured amount or currency differs from the order".to_owned()
            } else {
                format!("order is {} already", order.status)
            };
            let why = match order.status() {
                _ if !right_amount => "amount_mismatch",
                OrderStatus::Paid | OrderStatus::Enrolled => "duplicate_payment",
                OrderStatus::Cancelled => "cancelled",
                _ => "order_ended",
            };
            let payment_row = first_on_session.then_some(*payment_row);
            refund_capture(tx, order_id, payment_row, report, captured, &reason, why).await?;
            if !right_amount && order.status().accepts_payment() {
                payment_failed(report.gateway, "amount_mismatch");
                return Ok(Applied {
                    paid_now,
                    mismatch: Some(reason),
                });
            }
        }
        for failed in report
            .payments
            .iter()
            .filter(|p| p.status == crate::gateways::PaymentStatus::Failed)
        {
            let data = serde_json::json!({"gateway": report.gateway,
                "payment_id": failed.payment_id, "amount": failed.amount,
                "currency": failed.currency.to_ascii_uppercase(), "error": failed.error});
            let key = Some(failed.payment_id.as_str());
            if outbox::record_once(tx, order_id, "payment.failed", data, key).await? {
                payment_failed(report.gateway, "declined");
            }
            last_error = Some(
                failed
                    .error
                    .clone()
                    .unwrap_or_else(|| "the payment was declined".into()),
            );
        }
    }
    if let Some(error) = &last_error
        && order.status().accepts_payment()
    {
        orders::set_last_payment_error(tx, order_id, error).await?;
    }
    Ok(Applied {
        paid_now,
        mismatch: None,
    })
}

/// Where the saga goes after [`apply`]: on to `enroll` when paid now; the order fails
/// on a mismatched capture or a lost seat, or expires when no capture came and every session expired;
/// otherwise it waits at `confirm` (or, moved on already, this run is skipped).
async fn decide(
    tx: &mut PgConnection,
    order: &Order,
    saga: Option<&Saga>,
    sessions: &[Payment],
    reports: &[(Uuid, SessionReport)],
    applied: Applied,
    settled: &Settled,
) -> Result<Outcome, StepError> {
    if let Some(reason) = applied.mismatch {
        return Ok(Outcome::FailKeeping(Failure::new(
            OrderStatus::Failed,
            ErrorCode::PaymentMismatch.as_u32(),
            reason,
        )));
    }
    let at_confirm = saga.is_some_and(|s| {
        s.step() == Some(Step::Confirm) && matches!(s.state.as_str(), "running" | "waiting")
    });
    // an authorization released because a seat is gone, and nothing paid the order
    if settled.seat_lost && at_confirm && order.status().accepts_payment() {
        return Ok(Outcome::FailKeeping(Failure::new(
            OrderStatus::Failed,
            ErrorCode::NoSeatAfterPayment.as_u32(),
            "a seat of the order went to someone else before the payment; its \
             authorization was released, not captured",
        )));
    }
    if applied.paid_now && at_confirm {
        return Ok(Outcome::Next(None));
    }
    let expired_at_gateway = |id: Uuid| {
        reports
            .iter()
            .any(|(row, r)| *row == id && r.status == SessionStatus::Expired)
    };
    let all_expired = sessions
        .iter()
        .all(|s| s.expires_at <= Utc::now() || expired_at_gateway(s.id));
    if at_confirm && order.status().accepts_payment() && all_expired {
        payments::close_open(tx, order.id, "expired").await?;
        if let Some(gateway) = sessions.last().and_then(|s| s.gateway.parse().ok()) {
            payment_failed(gateway, "expired");
        }
        return Ok(Outcome::FailKeeping(Failure::new(
            OrderStatus::Expired,
            ErrorCode::PaymentExpired.as_u32(),
            "the payment session expired before a payment arrived",
        )));
    }
    Ok(if at_confirm {
        Outcome::WaitAt(Step::Confirm, None)
    } else {
        Outcome::Skip
    })
}

/// Counts a failed payment when the step's transaction commits (`reason`: one of
/// [`crate::telemetry::catalog::PAYMENT_FAILURES`]).
fn payment_failed(gateway: GatewayKind, reason: &'static str) {
    count(move || {
        metrics::counter!("payments_failed_total", "gateway" => gateway.as_str(), "reason" => reason)
            .increment(1)
    });
}

/// Decides the refund of a capture the order cannot keep and enqueues its job.
async fn refund_capture(
    conn: &mut PgConnection,
    order_id: Uuid,
    payment_row: Option<Uuid>,
    report: &SessionReport,
    captured: &GatewayPayment,
    reason: &str,
    why: &'static str,
) -> Result<(), StepError> {
    let amount = captured.amount - captured.amount_refunded;
    if amount <= 0 {
        return Ok(());
    }
    let key = keys::gateway_refund(report.gateway.as_str(), &captured.payment_id);
    let refund = crate::store::refunds::NewRefund {
        order_id,
        payment_id: payment_row,
        gateway: report.gateway.as_str(),
        gateway_payment_id: &captured.payment_id,
        amount,
        currency: &captured.currency.to_ascii_uppercase(),
        reason,
        idempotency_key: &key,
    };
    if decide_refund(conn, &refund, why).await?.is_some() {
        tracing::warn!(%order_id, payment = %captured.payment_id, reason, "refunding a payment the order cannot keep");
    }
    Ok(())
}
