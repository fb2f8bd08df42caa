//! What happens to money after a payment, beside the API calls that start it:
//! refunds that stay `pending` and later settle (processed or failed, with the
//! refund webhooks), and authorizations nobody captured, which lapse (Razorpay
//! refunds them on its own, Stripe cancels the PaymentIntent).

use std::time::Duration;

use serde_json::json;

use super::SandboxState;
use super::store::{RzpRefund, Store, StripeIntent, new_id, now};
use super::webhooks::{self, BuiltEvent};
use crate::gateways::GatewayKind;

/// Stripe's reason on a refund that failed; the one a closed card gives.
const STRIPE_REFUND_FAILURE: &str = "expired_or_canceled_card";

/// Runs `act` on the store after `delay`, then sends the events it returns.
fn later(
    state: &SandboxState,
    gateway: GatewayKind,
    delay: Duration,
    act: impl FnOnce(&mut Store) -> Vec<BuiltEvent> + Send + 'static,
) {
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let events = act(&mut state.store());
        webhooks::emit(&state, gateway, events);
    });
}

/// How a refund just created starts: `pending` when refunds take time on this
/// account or when this one is to fail, else settled at once. Returns the
/// initial status and, for a pending refund, whether it will fail.
pub fn refund_start(store: &mut Store, gateway: GatewayKind) -> (&'static str, Option<bool>) {
    let fails = store.refund_fails(gateway);
    if !fails && store.account.refund_pending_ms == 0 {
        let done = match gateway {
            GatewayKind::Razorpay => "processed",
            GatewayKind::Stripe => "succeeded",
        };
        return (done, None);
    }
    ("pending", Some(fails))
}

/// Settles the pending refund `refund_id` after `delay_ms` (the account's
/// `refund_pending_ms`, read by the caller, which may hold the store).
pub fn settle_later(
    state: &SandboxState,
    gateway: GatewayKind,
    refund_id: String,
    fails: bool,
    delay_ms: u64,
) {
    let delay = Duration::from_millis(delay_ms);
    later(state, gateway, delay, move |store| match gateway {
        GatewayKind::Razorpay => settle_razorpay(store, &refund_id, fails),
        GatewayKind::Stripe => settle_stripe(store, &refund_id, fails),
    });
}

fn built(store: &Store, gateway: GatewayKind, types: &[&str], id: &str) -> Vec<BuiltEvent> {
    types
        .iter()
        .filter_map(|t| match webhooks::build(store, gateway, t, id) {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(error = %e, "sandbox could not build {t}");
                None
            }
        })
        .collect()
}

fn settle_razorpay(store: &mut Store, refund_id: &str, fails: bool) -> Vec<BuiltEvent> {
    let Some(refund) = store.rzp_refunds.get_mut(refund_id) else {
        return Vec::new();
    };
    if refund.status != "pending" {
        return Vec::new();
    }
    refund.status = if fails { "failed" } else { "processed" }.into();
    let (payment_id, amount) = (refund.payment_id.clone(), refund.amount);
    if fails && let Some(payment) = store.rzp_payments.get_mut(&payment_id) {
        // A failed refund gives the amount back to the payment.
        payment.amount_refunded -= amount;
        payment.refund_status = match payment.amount_refunded {
            0 => None,
            _ => Some("partial".into()),
        };
        if payment.status == "refunded" {
            payment.status = "captured".into();
        }
    }
    let event = if fails {
        "refund.failed"
    } else {
        "refund.processed"
    };
    built(store, GatewayKind::Razorpay, &[event], refund_id)
}

fn settle_stripe(store: &mut Store, refund_id: &str, fails: bool) -> Vec<BuiltEvent> {
    let Some(refund) = store.stripe_refunds.get_mut(refund_id) else {
        return Vec::new();
    };
    if refund.status != "pending" {
        return Vec::new();
    }
    if fails {
        refund.status = "failed".into();
        refund.failure_reason = Some(STRIPE_REFUND_FAILURE.into());
    } else {
        refund.status = "succeeded".into();
    }
    let (charge_id, amount) = (refund.charge.clone(), refund.amount);
    if fails && let Some(charge) = store.stripe_charges.get_mut(&charge_id) {
        charge.amount_refunded -= amount;
        charge.refunded = false;
    }
    let types: &[&str] = if fails {
        &["refund.updated", "charge.refund.updated", "refund.failed"]
    } else {
        &["refund.updated", "charge.refund.updated"]
    };
    built(store, GatewayKind::Stripe, types, refund_id)
}

/// Whether `payment_id` is authorized and waiting for a capture.
pub fn awaits_capture(store: &Store, gateway: GatewayKind, payment_id: &str) -> bool {
    match gateway {
        GatewayKind::Razorpay => store
            .rzp_payments
            .get(payment_id)
            .is_some_and(|p| p.status == "authorized"),
        GatewayKind::Stripe => store
            .stripe_intents
            .get(payment_id)
            .is_some_and(|i| i.status == "requires_capture"),
    }
}

/// Lets the authorization of `payment_id` lapse after `delay_ms` (the account's
/// `authorization_ttl_ms`), unless it was captured or voided by then.
pub fn lapse_later(state: &SandboxState, gateway: GatewayKind, payment_id: String, delay_ms: u64) {
    let delay = Duration::from_millis(delay_ms);
    later(state, gateway, delay, move |store| {
        if !awaits_capture(store, gateway, &payment_id) {
            return Vec::new();
        }
        match gateway {
            GatewayKind::Razorpay => auto_refund(store, &payment_id),
            GatewayKind::Stripe => match cancel_intent(store, &payment_id, Some("automatic")) {
                Ok(_) => built(
                    store,
                    GatewayKind::Stripe,
                    &["payment_intent.canceled"],
                    &payment_id,
                ),
                Err(_) => Vec::new(),
            },
        }
    });
}

/// Razorpay's auto-refund of a payment never captured: the payment becomes
/// `refunded` (with `captured: false`) and a processed refund says so.
fn auto_refund(store: &mut Store, payment_id: &str) -> Vec<BuiltEvent> {
    let seq = store.next_seq();
    let Some(payment) = store.rzp_payments.get_mut(payment_id) else {
        return Vec::new();
    };
    payment.status = "refunded".into();
    payment.amount_refunded = payment.amount;
    payment.refund_status = Some("full".into());
    let refund = RzpRefund {
        id: new_id("rfnd_"),
        entity: "refund",
        amount: payment.amount,
        currency: payment.currency.clone(),
        payment_id: payment_id.to_owned(),
        notes: json!([]),
        receipt: None,
        status: "processed".into(),
        speed_requested: "normal".into(),
        speed_processed: "normal".into(),
        created_at: now(),
        seq,
    };
    let id = refund.id.clone();
    store.rzp_refunds.insert(id.clone(), refund);
    built(store, GatewayKind::Razorpay, &["refund.processed"], &id)
}

/// Why a PaymentIntent was not cancelled.
pub enum CancelRefused {
    Missing,
    /// Its status (`succeeded`, `canceled`) allows no cancel.
    Status(String),
}

/// Stripe's cancel of a PaymentIntent that was not captured: an authorized
/// charge is released (refunded in full, never captured).
pub fn cancel_intent(
    store: &mut Store,
    payment_id: &str,
    reason: Option<&str>,
) -> Result<StripeIntent, CancelRefused> {
    let Some(intent) = store.stripe_intents.get_mut(payment_id) else {
        return Err(CancelRefused::Missing);
    };
    if matches!(intent.status.as_str(), "succeeded" | "canceled") {
        return Err(CancelRefused::Status(intent.status.clone()));
    }
    intent.status = "canceled".into();
    intent.cancellation_reason = reason.map(str::to_owned);
    intent.canceled_at = Some(now());
    intent.amount_capturable = 0;
    let intent = intent.clone();
    if let Some(charge) = intent
        .latest_charge
        .as_ref()
        .and_then(|c| store.stripe_charges.get_mut(c))
    {
        charge.amount_refunded = charge.amount;
        charge.refunded = true;
    }
    Ok(intent)
}
