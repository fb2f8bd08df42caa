//! `confirm`: the one place a payment turns into a paid order.
//!
//! Woken by a verified webhook, the client's signed callback, reconciliation, or the
//! session's expiry, it always asks the gateway itself (the authority) for each of the
//! order's sessions, then applies what it learnt under the order's row lock:
//! - a capture of the right amount and currency on an order still accepting payment
//!   -> `paid`, and the saga moves on to `enroll`;
//! - any other capture (the order already paid through another session or twice on one,
//!   the order expired or was cancelled, the amount or currency differs) -> recorded
//!   and refunded, never enrolled;
//! - no capture and every session expired -> the order expires and is compensated.
//!
//! All triggers converge here and the transition is forward-only, so a webhook and a
//! callback arriving together, duplicated or out of order make one transition.

use chrono::Utc;
use uuid::Uuid;

use super::prepare::skip;
use super::runner::{Failure, Outcome, StepError, StepResult};
use crate::api::error::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::gateways::{GatewayError, GatewayKind, Money, SessionReport};
use crate::store::{orders, outbox, payments, sagas};
use crate::workers::jobs::JobContext;
use crate::workers::{EnqueueOptions, Job, enqueue};

pub async fn confirm(ctx: &JobContext, order_id: Uuid) -> StepResult<'static> {
    let mut conn = ctx.pool.acquire().await?;
    let sessions = payments::for_order(&mut conn, order_id).await?;
    drop(conn);
    if sessions.is_empty() {
        return skip(ctx).await;
    }
    let mut reports = Vec::new();
    for p in &sessions {
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
            // The session itself no longer matches what we created: never trust its
            // payments; they are refunded by compensation.
            Err(GatewayError::Mismatch { .. }) => {
                let tx = ctx.pool.begin().await?;
                return Ok((
                    tx,
                    Outcome::Fail(Failure::new(
                        OrderStatus::Failed,
                        ErrorCode::PaymentMismatch.as_u32(),
                        "the gateway reported a different amount or currency",
                    )),
                ));
            }
            Err(e) => return Err(StepError::Gateway(e.to_string())),
        }
    }

    let mut tx = ctx.pool.begin().await?;
    let saga = sagas::lock(&mut tx, order_id).await?;
    let Some(mut order) = orders::lock(&mut tx, order_id).await? else {
        return Ok((tx, Outcome::Skip));
    };
    // Decide on the rows as they are now, under the order lock: the list read before the
    // gateway calls may be stale (a concurrent confirm may have recorded the capture).
    let current = payments::for_order(&mut tx, order_id).await?;
    let mut paid_now = false;
    let mut last_error = None;
    for (payment_row, report) in &reports {
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
                    &mut tx,
                    *payment_row,
                    &captured.payment_id,
                    captured.amount,
                    flag,
                )
                .await?;
            }
            let accept = right_amount && first_on_session && order.status().accepts_payment();
            if accept {
                orders::transition(&mut tx, &order, OrderStatus::Paid, None).await?;
                order.status = OrderStatus::Paid.as_str().to_owned();
                paid_now = true;
                outbox::record(
                    &mut tx,
                    order_id,
                    "payment.captured",
                    serde_json::json!({"gateway": report.gateway, "payment_id": captured.payment_id, "amount": captured.amount}),
                )
                .await?;
            } else {
                let reason = if !right_amount {
                    "captured amount or currency differs from the order".to_owned()
                } else {
                    format!("order is {} already", order.status)
                };
                refund_capture(
                    &mut tx,
                    order_id,
                    first_on_session.then_some(*payment_row),
                    report,
                    captured,
                    &reason,
                )
                .await?;
                if !right_amount && order.status().accepts_payment() {
                    return Ok((
                        tx,
                        Outcome::FailKeeping(Failure::new(
                            OrderStatus::Failed,
                            ErrorCode::PaymentMismatch.as_u32(),
                            reason,
                        )),
                    ));
                }
            }
        }
        if let Some(failed) = report
            .payments
            .iter()
            .rev()
            .find(|p| p.status == crate::gateways::PaymentStatus::Failed)
        {
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
        orders::set_last_payment_error(&mut tx, order_id, error).await?;
    }
    let at_confirm = saga.as_ref().is_some_and(|s| {
        s.step() == Some(Step::Confirm) && matches!(s.state.as_str(), "running" | "waiting")
    });
    if paid_now && at_confirm {
        return Ok((tx, Outcome::Next(None)));
    }
    let all_expired = sessions.iter().all(|s| s.expires_at <= Utc::now());
    if at_confirm && order.status().accepts_payment() && all_expired {
        payments::close_open(&mut tx, order_id, "expired").await?;
        return Ok((
            tx,
            Outcome::FailKeeping(Failure::new(
                OrderStatus::Expired,
                ErrorCode::PaymentExpired.as_u32(),
                "the payment session expired before a payment arrived",
            )),
        ));
    }
    Ok((
        tx,
        if at_confirm {
            Outcome::WaitAt(Step::Confirm, None)
        } else {
            Outcome::Skip
        },
    ))
}

/// Decides the refund of a capture the order cannot keep and enqueues its job.
async fn refund_capture(
    conn: &mut sqlx::PgConnection,
    order_id: Uuid,
    payment_row: Option<Uuid>,
    report: &SessionReport,
    captured: &crate::gateways::GatewayPayment,
    reason: &str,
) -> Result<(), StepError> {
    let amount = captured.amount - captured.amount_refunded;
    if amount <= 0 {
        return Ok(());
    }
    let key = format!("refund:{}:{}", report.gateway, captured.payment_id);
    let decided = payments::decide_refund(
        conn,
        &payments::NewRefund {
            order_id,
            payment_id: payment_row,
            gateway: report.gateway.as_str(),
            gateway_payment_id: &captured.payment_id,
            amount,
            currency: &captured.currency.to_ascii_uppercase(),
            reason,
            idempotency_key: &key,
        },
    )
    .await?;
    if let Some(refund_id) = decided {
        tracing::warn!(%order_id, payment = %captured.payment_id, reason, "refunding a payment the order cannot keep");
        enqueue(
            conn,
            &Job::Refund { refund_id },
            EnqueueOptions {
                idempotency_key: Some(format!("{refund_id}:refund")),
                ..Default::default()
            },
        )
        .await?;
    }
    Ok(())
}
