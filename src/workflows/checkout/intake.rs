//! Outside events that wake `confirm`: verified webhooks and the client's signed
//! callback. Each stores what arrived and enqueues `confirm` in one transaction.

use super::runner::wake_confirm;
use crate::gateways::{WebhookEvent, WebhookKind};
use crate::store::webhooks;

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Intake {
    /// Stored; `confirm` will look at the order.
    Processed,
    /// Seen before (same event id, or the same payment fact): no second effect.
    Duplicate,
    /// Stored, but not a payment event we act on.
    Ignored,
    /// Stored and reported: no order of ours matches.
    Unmatched,
}

/// Whether an event of this kind can move an order: only those wake `confirm`, and only
/// their intake needs a transaction (store + enqueue); any other is one insert.
///
/// An authorization is stored but wakes nothing: only a capture pays an order
/// (`confirm` accepts captured payments only, relying on the gateway's auto-capture),
/// and a capture sends its own event. Were it woken by `payment.authorized` too,
/// `confirm` would race the same payment's `payment.captured` (Razorpay sends
/// authorized, captured and order.paid back to back) into a second run that finds
/// nothing new, costing a job and a gateway call. A capture whose event is lost is
/// found by reconciliation and by the session's expiry check, as for any lost
/// webhook.
pub fn acts(kind: &WebhookKind) -> bool {
    matches!(
        kind,
        WebhookKind::PaymentCaptured
            | WebhookKind::PaymentFailed
            | WebhookKind::OrderPaid
            | WebhookKind::CheckoutSessionCompleted
            | WebhookKind::CheckoutSessionExpired
    )
}

/// Stores a verified webhook event and wakes the order's `confirm` step.
pub async fn webhook(
    conn: &mut sqlx::PgConnection,
    event: &WebhookEvent,
) -> anyhow::Result<Intake> {
    let gateway = event.gateway.as_str();
    let acts = acts(&event.kind);
    let payment_status = event
        .status
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_owned));
    let stored = webhooks::insert_verified(
        conn,
        &webhooks::VerifiedEvent {
            gateway,
            event_id: &event.event_id,
            event_type: &event.event_type,
            gateway_order_id: event.gateway_order_id.as_deref(),
            gateway_payment_id: event.payment_id.as_deref(),
            payment_status: payment_status.as_deref(),
            reference: event.reference.as_deref(),
            acts,
            payload: &event.payload,
        },
    )
    .await?;
    let Some(stored) = stored else {
        return Ok(Intake::Duplicate);
    };
    match (stored.status.as_str(), stored.order_id) {
        ("processed", Some(order_id)) => {
            wake_confirm(conn, order_id, &format!("wh:{}", stored.id)).await?;
            Ok(Intake::Processed)
        }
        ("unmatched", _) => {
            tracing::warn!(gateway, event_id = %event.event_id, "webhook for an unknown order");
            metrics::counter!("webhooks_unmatched_total", "gateway" => gateway).increment(1);
            Ok(Intake::Unmatched)
        }
        _ => Ok(Intake::Ignored),
    }
}
