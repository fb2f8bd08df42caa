//! Outside events that wake `confirm`: verified webhooks and the client's signed
//! callback. Each stores what arrived and enqueues `confirm` in one transaction.

use uuid::Uuid;

use super::runner::wake_confirm;
use crate::gateways::{WebhookEvent, WebhookKind};
use crate::store::{orders, payments, webhooks};

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

/// Stores a verified webhook event and wakes the order's `confirm` step.
pub async fn webhook(
    conn: &mut sqlx::PgConnection,
    event: &WebhookEvent,
    payload: &serde_json::Value,
) -> anyhow::Result<Intake> {
    let gateway = event.gateway.as_str();
    let order_id = match_order(conn, event).await?;
    let acts = matches!(
        event.kind,
        WebhookKind::PaymentCaptured
            | WebhookKind::PaymentAuthorized
            | WebhookKind::PaymentFailed
            | WebhookKind::OrderPaid
            | WebhookKind::CheckoutSessionCompleted
            | WebhookKind::CheckoutSessionExpired
    );
    let status = match (acts, order_id) {
        (false, _) => "ignored",
        (true, None) => "unmatched",
        (true, Some(_)) => "processed",
    };
    let payment_status = event
        .status
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(str::to_owned));
    let stored = webhooks::insert(
        conn,
        &webhooks::NewEvent {
            gateway,
            event_id: Some(&event.event_id),
            event_type: Some(&event.event_type),
            gateway_order_id: event.gateway_order_id.as_deref(),
            gateway_payment_id: event.payment_id.as_deref(),
            payment_status: payment_status.as_deref(),
            order_id,
            status,
            error: None,
            payload: Some(payload),
        },
    )
    .await?;
    let Some(row) = stored else {
        return Ok(Intake::Duplicate);
    };
    match (status, order_id) {
        ("processed", Some(order_id)) => {
            wake_confirm(conn, order_id, &format!("wh:{row}")).await?;
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

/// Our order for an event: by the gateway session id we stored, else by the order token
/// the gateway echoes (receipt / client_reference_id), for a session whose creation
/// answer we never saw.
async fn match_order(
    conn: &mut sqlx::PgConnection,
    event: &WebhookEvent,
) -> sqlx::Result<Option<Uuid>> {
    if let Some(id) = &event.gateway_order_id
        && let Some(p) = payments::by_gateway_order(conn, event.gateway.as_str(), id).await?
    {
        return Ok(Some(p.order_id));
    }
    if let Some(reference) = &event.reference
        && let Some(o) = orders::by_token(conn, reference).await?
    {
        return Ok(Some(o.id));
    }
    Ok(None)
}

/// Records a rejected delivery (bad or missing signature) for audit; never processed.
pub async fn rejected(
    conn: &mut sqlx::PgConnection,
    gateway: &str,
    error: &str,
) -> sqlx::Result<()> {
    webhooks::insert(
        conn,
        &webhooks::NewEvent {
            gateway,
            event_id: None,
            event_type: None,
            gateway_order_id: None,
            gateway_payment_id: None,
            payment_status: None,
            order_id: None,
            status: "rejected",
            error: Some(error),
            payload: None,
        },
    )
    .await?;
    Ok(())
}
