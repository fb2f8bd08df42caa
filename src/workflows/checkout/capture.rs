//! Authorized payments, before `confirm` records what the gateways reported: captured
//! when the order can still be fulfilled, released when it cannot.
//!
//! An authorization holds the student's money without giving it to us; the gateway
//! returns it after a few days unless we capture. Razorpay accounts may be switched to
//! manual capture at any time, so this always runs for Razorpay; Stripe sessions
//! authorize only with `stripe.capture_method = manual`.
//!
//! - The order still accepts payment, nothing is captured on it yet, and the
//!   authorization is for exactly the order's total and currency: capture it, for the
//!   amount and currency of our order (never a webhook's), with an idempotency key per
//!   gateway payment. The gateway's answer replaces the authorization in the report, so
//!   `confirm` records the capture like any other (and refunds it if
//!   the order stopped accepting payment meanwhile).
//! - Otherwise (the order expired, was cancelled or failed, is paid already, a seat
//!   of it went to someone else, or the amount differs): release it; a lost seat fails
//!   the order (7004), as it would refund a capture. Stripe cancels the PaymentIntent; Razorpay has no
//!   void, so the authorization is left to lapse. Either is recorded once per payment
//!   (`authorization_releases`, shown by `checkout admin orders show`).
//!
//! Runs outside any transaction (gateway calls). A worker killed after the capture and
//! before its commit finds the payment captured on the re-run (the gateway is asked
//! again first), so a capture is made once.

use uuid::Uuid;

use super::runner::{StepError, crash_test_pause};
use crate::gateways::{
    Gateway, GatewayKind, GatewayPayment, Money, PaymentStatus, SessionReport, VoidOutcome,
};
use crate::store::authorizations::{self, NewRelease};
use crate::store::orders::Order;
use crate::store::payments::Payment;
use crate::store::{holds, orders, outbox};
use crate::workflows::jobs::JobContext;
use crate::workflows::keys;

/// What [`settle_authorizations`] found.
#[derive(Debug, Default)]
pub struct Settled {
    /// An authorization was released because a seat of the order is gone: the order
    /// cannot be fulfilled and fails (7004) unless a capture pays it.
    pub seat_lost: bool,
}

/// Captures or releases every authorized payment in `reports` (see the module);
/// a captured one is replaced by the gateway's answer.
pub async fn settle_authorizations(
    ctx: &JobContext,
    order_id: Uuid,
    sessions: &[Payment],
    reports: &mut [(Uuid, SessionReport)],
) -> Result<Settled, StepError> {
    let authorized = |r: &SessionReport| {
        r.payments
            .iter()
            .any(|p| p.status == PaymentStatus::Authorized)
    };
    let mut settled = Settled::default();
    if !reports.iter().any(|(_, r)| authorized(r)) {
        return Ok(settled);
    }
    let mut conn = crate::store::acquire(&ctx.pool).await?;
    let Some(order) = orders::get(&mut conn, order_id).await? else {
        return Ok(settled);
    };
    let seat_lost = holds::seat_lost(&mut conn, order_id).await?;
    drop(conn);
    let mut taken = sessions.iter().any(|p| p.gateway_payment_id.is_some())
        || reports.iter().any(|(_, r)| r.captured().next().is_some());
    for (row, report) in reports.iter_mut() {
        let Some(gateway) = ctx.gateways.get(report.gateway) else {
            return Err(StepError::Gateway(format!(
                "{} is not configured",
                report.gateway
            )));
        };
        for payment in report.payments.iter_mut() {
            if payment.status != PaymentStatus::Authorized {
                continue;
            }
            record_authorized(ctx, order_id, report.gateway, payment).await?;
            let right = Some(payment.amount) == order.total
                && Some(payment.currency.to_ascii_uppercase()) == order.currency;
            let reason = if !right {
                "the authorized amount or currency differs from the order".to_owned()
            } else if !order.status().accepts_payment() {
                format!("the order is {}", order.status)
            } else if seat_lost {
                settled.seat_lost = true;
                "a seat of the order went to someone else before the payment".to_owned()
            } else if taken {
                "the order is paid by another payment".to_owned()
            } else {
                *payment = capture(ctx, gateway.as_ref(), &order, &payment.payment_id).await?;
                taken = true;
                continue;
            };
            let release = Release {
                order_id,
                session: *row,
                gateway: report.gateway,
                payment_id: &payment.payment_id,
                money: Money::new(payment.amount, &payment.currency),
                reason: &reason,
            };
            release_authorization(ctx, gateway.as_ref(), &release).await?;
        }
    }
    Ok(settled)
}

/// Records `payment.authorized`, once per gateway payment, before anything is done
/// with the authorization (a run that dies after the capture still leaves it).
async fn record_authorized(
    ctx: &JobContext,
    order_id: Uuid,
    gateway: GatewayKind,
    payment: &GatewayPayment,
) -> Result<(), StepError> {
    let mut tx = crate::store::begin(&ctx.pool).await?;
    orders::lock(&mut tx, order_id).await?;
    let data = serde_json::json!({"gateway": gateway, "payment_id": payment.payment_id,
        "amount": payment.amount, "currency": payment.currency.to_ascii_uppercase()});
    let key = Some(payment.payment_id.as_str());
    outbox::record_once(&mut tx, order_id, "payment.authorized", data, key).await?;
    tx.commit().await?;
    Ok(())
}

/// Captures the order's total on `payment_id`.
async fn capture(
    ctx: &JobContext,
    gateway: &dyn Gateway,
    order: &Order,
    payment_id: &str,
) -> Result<GatewayPayment, StepError> {
    let (Some(total), Some(currency)) = (order.total, order.currency.as_deref()) else {
        return Err(StepError::Other(anyhow::anyhow!(
            "order {} has no price to capture",
            order.id
        )));
    };
    let expected = Money::new(total, currency);
    let key = keys::capture(gateway.kind().as_str(), payment_id);
    let captured = gateway
        .capture(payment_id, &expected, &key)
        .await
        .map_err(|e| StepError::Gateway(e.to_string()))?;
    tracing::info!(order_id = %order.id, payment = payment_id, amount = total, "captured an authorized payment");
    crash_test_pause(ctx).await;
    Ok(captured)
}

struct Release<'a> {
    order_id: Uuid,
    session: Uuid,
    gateway: GatewayKind,
    payment_id: &'a str,
    money: Money,
    reason: &'a str,
}

/// Releases an authorization we will not capture and records it (once).
async fn release_authorization(
    ctx: &JobContext,
    gateway: &dyn Gateway,
    r: &Release<'_>,
) -> Result<(), StepError> {
    let outcome = gateway
        .void(r.payment_id)
        .await
        .map_err(|e| StepError::Gateway(e.to_string()))?;
    let outcome = match outcome {
        VoidOutcome::Voided => "voided",
        VoidOutcome::LeftToLapse => "left_to_lapse",
    };
    let mut tx = crate::store::begin(&ctx.pool).await?;
    let release = NewRelease {
        order_id: r.order_id,
        payment_id: Some(r.session),
        gateway: r.gateway.as_str(),
        gateway_payment_id: r.payment_id,
        amount: r.money.amount,
        currency: &r.money.currency,
        outcome,
        reason: r.reason,
    };
    if authorizations::record(&mut tx, &release).await? {
        tracing::warn!(order_id = %r.order_id, payment = r.payment_id, outcome, reason = r.reason,
            "an authorization was not captured");
        outbox::record(
            &mut tx,
            r.order_id,
            "payment.voided",
            serde_json::json!({"gateway": r.gateway, "payment_id": r.payment_id,
                               "amount": r.money.amount, "currency": r.money.currency,
                               "outcome": outcome, "reason": r.reason}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
