//! Outside events that wake `confirm` or a refund's read: verified webhooks and the
//! client's signed callback. Each stores what arrived and enqueues the job in one
//! transaction.

use super::refunds::wake_refunds;
use super::runner::wake_confirm;
use super::trace::in_order;
use crate::gateways::{WebhookEvent, WebhookKind};
use crate::store::webhooks;

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Intake {
    /// Stored; `confirm` (or the refund's job) will ask the gateway.
    Processed,
    /// Seen before (same event id, or the same payment fact): no second effect.
    Duplicate,
    /// Stored, but not a payment event we act on.
    Ignored,
    /// Stored and reported: no order of ours matches.
    Unmatched,
}

/// Whether an event of this kind can move an order's payment: those wake `confirm`,
/// which asks the gateway itself. An authorization wakes it too: on a manual-capture
/// account nothing else follows until we capture. On automatic capture Razorpay sends
/// authorized, captured and order.paid back to back; they share one unstarted
/// `confirm` job ([`wake_confirm`]).
fn acts(kind: &WebhookKind) -> bool {
    matches!(
        kind,
        WebhookKind::PaymentAuthorized
            | WebhookKind::PaymentCaptured
            | WebhookKind::PaymentFailed
            | WebhookKind::OrderPaid
            | WebhookKind::CheckoutSessionCompleted
            | WebhookKind::CheckoutSessionExpired
    )
}

/// Whether an event is about a refund: those wake a read of the order's unsettled
/// refunds of that payment, which asks the gateway for the refund's status.
fn about_refund(kind: &WebhookKind) -> bool {
    matches!(
        kind,
        WebhookKind::RefundProcessed
            | WebhookKind::RefundFailed
            | WebhookKind::RefundUpdated
            | WebhookKind::ChargeRefunded
    )
}

/// Whether the intake of this kind enqueues a job (then it needs a transaction: store
/// and enqueue together); any other is one insert.
pub fn wakes(kind: &WebhookKind) -> bool {
    acts(kind) || about_refund(kind)
}

/// Stores a verified webhook event and wakes the order's `confirm` step or the reads of
/// its refunds.
pub async fn webhook(
    conn: &mut sqlx::PgConnection,
    event: &WebhookEvent,
) -> anyhow::Result<Intake> {
    let gateway = event.gateway.as_str();
    let refund = about_refund(&event.kind);
    let acts = wakes(&event.kind);
    // A payment's status is a fact several event ids repeat (payment.captured and
    // order.paid); a refund event's is not (two partial refunds of one payment).
    let payment_status = event
        .status
        .filter(|_| !refund)
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
        ("processed", Some(order_id)) if refund => {
            let scope = in_order(conn, order_id).await?;
            let (payment, refund_id) = (event.payment_id.as_deref(), event.refund_id.as_deref());
            scope
                .run(wake_refunds(
                    conn,
                    event.gateway,
                    payment,
                    refund_id,
                    stored.id,
                ))
                .await?;
            Ok(Intake::Processed)
        }
        ("processed", Some(order_id)) => {
            let suffix = crate::workflows::keys::webhook_suffix(stored.id);
            let scope = in_order(conn, order_id).await?;
            scope.run(wake_confirm(conn, order_id, &suffix)).await?;
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
