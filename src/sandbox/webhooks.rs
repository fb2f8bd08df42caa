//! Webhook events: built from the stored objects in each gateway's event
//! shape, signed like the real gateway signs them, and delivered with bounded
//! exponential retries (both gateways retry failed deliveries for hours; the
//! sandbox keeps the same behaviour on a shorter, configurable clock).

use std::time::Duration;

use axum::body::Bytes;
use serde_json::{Value, json};

use super::SandboxState;
use super::store::{Delivery, DeliveryAttempt, DeliveryState, EventRecord, Store, new_id, now};
use crate::gateways::GatewayKind;
use crate::gateways::webhook::{
    RAZORPAY_EVENT_ID_HEADER, RAZORPAY_SIGNATURE_HEADER, STRIPE_SIGNATURE_HEADER, sign_razorpay,
    sign_stripe, unix_now,
};

/// Event types the sandbox can raise.
pub const RAZORPAY_EVENTS: [&str; 6] = [
    "payment.authorized",
    "payment.captured",
    "order.paid",
    "payment.failed",
    "refund.processed",
    "refund.failed",
];
pub const STRIPE_EVENTS: [&str; 7] = [
    "checkout.session.completed",
    "checkout.session.expired",
    "charge.refunded",
    "refund.updated",
    "charge.refund.updated",
    "refund.failed",
    "payment_intent.canceled",
];

/// A built event: id and JSON body.
#[derive(Debug, Clone)]
pub struct BuiltEvent {
    pub event_type: String,
    pub event_id: String,
    pub body: Value,
}

/// Builds `event_type` about the object `object_id` names (an order, payment,
/// refund, session, payment intent or charge id, whichever fits), from the
/// current state.
pub fn build(
    store: &Store,
    gateway: GatewayKind,
    event_type: &str,
    object_id: &str,
) -> Result<BuiltEvent, String> {
    match gateway {
        GatewayKind::Razorpay => build_razorpay(store, event_type, object_id),
        GatewayKind::Stripe => build_stripe(store, event_type, object_id),
    }
}

fn build_razorpay(store: &Store, event_type: &str, id: &str) -> Result<BuiltEvent, String> {
    let payment_of = |id: &str| {
        store.rzp_payments.get(id).cloned().or_else(|| {
            let payments = store.rzp_order_payments(id);
            // Prefer the captured one for order-level events.
            payments
                .iter()
                .rev()
                .find(|p| p.captured)
                .cloned()
                .or_else(|| payments.last().cloned())
        })
    };
    let (contains, payload) = match event_type {
        "payment.authorized" | "payment.captured" | "payment.failed" => {
            let mut payment = payment_of(id).ok_or_else(|| format!("no payment for `{id}`"))?;
            if event_type == "payment.authorized" {
                // The authorised snapshot, as Razorpay sent it before capture.
                payment.status = "authorized".into();
                payment.captured = false;
            }
            (json!(["payment"]), json!({"payment": {"entity": payment}}))
        }
        "order.paid" => {
            let payment = payment_of(id).ok_or_else(|| format!("no payment for `{id}`"))?;
            let order = store
                .rzp_orders
                .get(&payment.order_id)
                .ok_or_else(|| format!("no order for `{id}`"))?;
            (
                json!(["payment", "order"]),
                json!({"payment": {"entity": payment}, "order": {"entity": order}}),
            )
        }
        "refund.processed" | "refund.failed" => {
            let refund = store
                .rzp_refunds
                .get(id)
                .cloned()
                .or_else(|| {
                    store
                        .rzp_refunds
                        .values()
                        .filter(|r| r.payment_id == id)
                        .max_by_key(|r| r.seq)
                        .cloned()
                })
                .ok_or_else(|| format!("no refund for `{id}`"))?;
            let payment = store
                .rzp_payments
                .get(&refund.payment_id)
                .ok_or_else(|| format!("no payment for refund `{id}`"))?;
            (
                json!(["refund", "payment"]),
                json!({"refund": {"entity": refund}, "payment": {"entity": payment}}),
            )
        }
        other => return Err(format!("unknown razorpay event `{other}`")),
    };
    Ok(BuiltEvent {
        event_type: event_type.to_owned(),
        event_id: new_id(""),
        body: json!({
            "entity": "event",
            "account_id": "acc_sandbox0000001",
            "event": event_type,
            "contains": contains,
            "payload": payload,
            "created_at": now(),
        }),
    })
}

fn build_stripe(store: &Store, event_type: &str, id: &str) -> Result<BuiltEvent, String> {
    let object = match event_type {
        "checkout.session.completed" | "checkout.session.expired" => {
            let session = store
                .stripe_sessions
                .get(id)
                .or_else(|| {
                    store
                        .stripe_sessions
                        .values()
                        .find(|s| s.payment_intent.as_deref() == Some(id))
                })
                .ok_or_else(|| format!("no checkout session for `{id}`"))?;
            json!(session)
        }
        "charge.refunded" => {
            let charge = store
                .stripe_charges
                .get(id)
                .or_else(|| {
                    let intent = store.stripe_intents.get(id)?;
                    store.stripe_charges.get(intent.latest_charge.as_deref()?)
                })
                .ok_or_else(|| format!("no charge for `{id}`"))?;
            json!(charge)
        }
        // Stripe sends the refund object for all three; `charge.refund.updated` is
        // the older name of `refund.updated`, still sent beside it.
        "refund.updated" | "charge.refund.updated" | "refund.failed" => {
            let refund = store
                .stripe_refunds
                .get(id)
                .or_else(|| {
                    store
                        .stripe_refunds
                        .values()
                        .filter(|r| r.payment_intent == id || r.charge == id)
                        .max_by_key(|r| r.seq)
                })
                .ok_or_else(|| format!("no refund for `{id}`"))?;
            json!(refund)
        }
        "payment_intent.canceled" => {
            let intent = store
                .stripe_intents
                .get(id)
                .ok_or_else(|| format!("no payment intent `{id}`"))?;
            json!(intent)
        }
        other => return Err(format!("unknown stripe event `{other}`")),
    };
    let event_id = new_id("evt_");
    Ok(BuiltEvent {
        event_type: event_type.to_owned(),
        body: json!({
            "id": event_id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": now(),
            "data": {"object": object},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": event_type,
        }),
        event_id,
    })
}

struct Item {
    delivery_id: u64,
    event_id: String,
    body: Bytes,
}

/// Records the events and delivers them in the background, applying the
/// gateway's webhook faults (drop, duplicate, reverse order, delay).
pub fn emit(state: &SandboxState, gateway: GatewayKind, mut events: Vec<BuiltEvent>) {
    if events.is_empty() {
        return;
    }
    let url = state.webhook_url(gateway);
    let mut items = Vec::new();
    let delay;
    {
        let mut store = state.store();
        let faults = store.faults(gateway);
        delay = Duration::from_millis(faults.webhook_delay_ms);
        if faults.webhook_out_of_order {
            events.reverse();
        }
        for event in events {
            store.events.push(EventRecord {
                gateway,
                event_id: event.event_id.clone(),
                event_type: event.event_type.clone(),
                body: event.body.clone(),
            });
            // Serialised once: every delivery of an event carries the same bytes.
            let body = Bytes::from(serde_json::to_vec(&event.body).unwrap_or_default());
            let copies = if faults.webhook_duplicate { 2 } else { 1 };
            for _ in 0..copies {
                let dropped = faults.webhook_drop_rate > 0.0
                    && rand::random_bool(faults.webhook_drop_rate.clamp(0.0, 1.0));
                let delivery_id = store.deliveries.len() as u64 + 1;
                let state_now = match (&url, dropped) {
                    (None, _) => DeliveryState::NoTarget,
                    (_, true) => DeliveryState::Dropped,
                    _ => DeliveryState::Pending,
                };
                store.deliveries.push(Delivery {
                    id: delivery_id,
                    gateway,
                    event_id: event.event_id.clone(),
                    event_type: event.event_type.clone(),
                    url: url.clone(),
                    state: state_now,
                    attempts: Vec::new(),
                });
                if state_now == DeliveryState::Pending {
                    items.push(Item {
                        delivery_id,
                        event_id: event.event_id.clone(),
                        body: body.clone(),
                    });
                }
            }
        }
    }
    let Some(url) = url else { return };
    if items.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // In order, one after another, so "out of order" means what it says.
        for item in items {
            deliver(&state, gateway, &url, item).await;
        }
    });
}

async fn deliver(state: &SandboxState, gateway: GatewayKind, url: &str, item: Item) {
    let settings = state.settings().clone();
    let max_attempts = settings.webhook_max_attempts.max(1);
    for attempt in 1..=max_attempts {
        let mut request = state
            .inner
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(item.body.clone());
        request = match gateway {
            GatewayKind::Razorpay => request
                .header(
                    RAZORPAY_SIGNATURE_HEADER,
                    sign_razorpay(&settings.razorpay_webhook_secret, &item.body),
                )
                .header(RAZORPAY_EVENT_ID_HEADER, &item.event_id),
            // Stripe signs each attempt afresh, with the time of sending.
            GatewayKind::Stripe => request.header(
                STRIPE_SIGNATURE_HEADER,
                sign_stripe(&settings.stripe_webhook_secret, unix_now(), &item.body),
            ),
        };
        let (status, error) = match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let delivered = status.is_some_and(|s| (200..300).contains(&s));
        {
            let mut store = state.store();
            if let Some(d) = store
                .deliveries
                .iter_mut()
                .find(|d| d.id == item.delivery_id)
            {
                d.attempts.push(DeliveryAttempt {
                    at_ms: chrono::Utc::now().timestamp_millis(),
                    status,
                    error,
                });
                if delivered {
                    d.state = DeliveryState::Delivered;
                } else if attempt == max_attempts {
                    d.state = DeliveryState::Failed;
                }
            }
        }
        if delivered {
            return;
        }
        if attempt < max_attempts {
            let exp = (attempt - 1).min(20);
            let delay = Duration::from_millis(settings.webhook_retry_base_ms)
                .saturating_mul(1u32 << exp)
                .min(Duration::from_millis(settings.webhook_retry_max_ms));
            tracing::debug!(%gateway, event = %item.event_id, attempt, ?delay, "webhook delivery failed, retrying");
            tokio::time::sleep(delay).await;
        }
    }
    tracing::warn!(%gateway, event = %item.event_id, "webhook delivery gave up");
}
