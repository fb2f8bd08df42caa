//! Paying a session: the outcome logic the hosted page (`page`) and the control API
//! share. After the choice the buyer is sent back the way each gateway does it:
//! Razorpay posts signed fields to the callback URL, Stripe redirects to the success
//! or cancel URL; webhooks follow.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store::{RzpPayment, Store, StripeCharge, StripeIntent, new_id, now};
use super::webhooks::{self, BuiltEvent};
use super::{SandboxState, money, stripe_api};
use crate::gateways::GatewayKind;
use crate::gateways::signature::hmac_sha256_hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Captured,
    Failed,
    Cancelled,
}

/// How the buyer's browser returns to the merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Callback {
    /// POST these form fields to `url` (Razorpay's `callback_url` flow).
    FormPost {
        url: String,
        fields: BTreeMap<String, String>,
    },
    /// Redirect to `url` (Stripe success/cancel URLs).
    Redirect { url: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PayResult {
    pub gateway: GatewayKind,
    pub session_id: String,
    pub outcome: Outcome,
    pub payment_id: Option<String>,
    pub callback: Option<Callback>,
    /// Webhook event types raised.
    pub events: Vec<String>,
}

/// Why a session cannot be paid.
#[derive(Debug, Clone)]
pub struct PayError {
    pub status: StatusCode,
    pub message: String,
}

fn pay_error(status: StatusCode, message: impl Into<String>) -> PayError {
    PayError {
        status,
        message: message.into(),
    }
}

/// Applies `outcome` to the Razorpay order or Stripe session `id`.
/// `callback_url`/`cancel_url` stand in for what Razorpay checkout.js is given
/// in the browser (Stripe sessions carry their own URLs).
pub fn pay(
    state: &SandboxState,
    id: &str,
    outcome: Outcome,
    callback_url: Option<&str>,
    cancel_url: Option<&str>,
) -> Result<PayResult, PayError> {
    let (result, gateway, events) = {
        let mut store = state.store();
        if store.rzp_orders.contains_key(id) {
            let key_secret = state
                .settings()
                .razorpay_key_secret
                .expose_secret()
                .to_owned();
            let (result, events) = pay_razorpay(
                &mut store,
                &key_secret,
                id,
                outcome,
                callback_url,
                cancel_url,
            )?;
            (result, GatewayKind::Razorpay, events)
        } else {
            let mut expired = stripe_api::expire_due(&mut store);
            let paid = pay_stripe(&mut store, id, outcome);
            match paid {
                Ok((result, events)) => {
                    expired.extend(events);
                    (result, GatewayKind::Stripe, expired)
                }
                Err(e) => {
                    drop(store);
                    webhooks::emit(state, GatewayKind::Stripe, expired);
                    return Err(e);
                }
            }
        }
    };
    webhooks::emit(state, gateway, events);
    if let Some(payment_id) = &result.payment_id {
        let ttl = {
            let store = state.store();
            money::awaits_capture(&store, gateway, payment_id)
                .then_some(store.account.authorization_ttl_ms)
        };
        if let Some(ttl) = ttl {
            money::lapse_later(state, gateway, payment_id.clone(), ttl);
        }
    }
    Ok(result)
}

fn pay_razorpay(
    store: &mut Store,
    key_secret: &str,
    id: &str,
    outcome: Outcome,
    callback_url: Option<&str>,
    cancel_url: Option<&str>,
) -> Result<(PayResult, Vec<BuiltEvent>), PayError> {
    let seq = store.next_seq();
    let manual_capture = store.account.razorpay_manual_capture;
    let Some(order) = store.rzp_orders.get_mut(id) else {
        return Err(pay_error(StatusCode::NOT_FOUND, format!("no order `{id}`")));
    };
    if order.status == "paid" {
        return Err(pay_error(StatusCode::CONFLICT, "Order is already paid"));
    }
    if outcome == Outcome::Cancelled {
        let result = PayResult {
            gateway: GatewayKind::Razorpay,
            session_id: id.to_owned(),
            outcome,
            payment_id: None,
            callback: cancel_url.map(|u| Callback::Redirect { url: u.to_owned() }),
            events: Vec::new(),
        };
        return Ok((result, Vec::new()));
    }
    let paid = outcome == Outcome::Captured;
    // On a manual-capture account a paid payment stops at `authorized`.
    let captured = paid && !manual_capture;
    order.attempts += 1;
    if captured {
        order.status = "paid".into();
        order.amount_paid = order.amount;
        order.amount_due = 0;
    } else {
        order.status = "attempted".into();
    }
    let payment = RzpPayment {
        id: new_id("pay_"),
        entity: "payment",
        amount: order.amount,
        currency: order.currency.clone(),
        status: match (paid, captured) {
            (true, true) => "captured",
            (true, false) => "authorized",
            _ => "failed",
        }
        .into(),
        order_id: order.id.clone(),
        invoice_id: None,
        international: false,
        method: "card".into(),
        amount_refunded: 0,
        refund_status: None,
        captured,
        description: None,
        email: "buyer@example.com".into(),
        contact: "+919999999999".into(),
        notes: json!([]),
        fee: captured.then_some(order.amount * 2 / 100),
        tax: captured.then_some(order.amount * 2 / 100 * 18 / 100),
        error_code: (!paid).then(|| "BAD_REQUEST_ERROR".into()),
        error_description: (!paid).then(|| "Payment processing failed".into()),
        created_at: now(),
        seq,
    };
    let payment_id = payment.id.clone();
    let order_id = order.id.clone();
    store.rzp_payments.insert(payment_id.clone(), payment);
    let types: &[&str] = match (paid, captured) {
        (true, true) => &["payment.authorized", "payment.captured", "order.paid"],
        (true, false) => &["payment.authorized"],
        _ => &["payment.failed"],
    };
    let mut events = Vec::new();
    for t in types {
        if let Ok(e) = webhooks::build(store, GatewayKind::Razorpay, t, &payment_id) {
            events.push(e);
        }
    }
    let fields: BTreeMap<String, String> = if paid {
        let signature = hmac_sha256_hex(
            key_secret.as_bytes(),
            &[order_id.as_bytes(), b"|", payment_id.as_bytes()],
        );
        [
            ("razorpay_payment_id", payment_id.clone()),
            ("razorpay_order_id", order_id.clone()),
            ("razorpay_signature", signature),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    } else {
        [
            ("error[code]", "BAD_REQUEST_ERROR".to_owned()),
            ("error[description]", "Payment processing failed".into()),
            ("error[source]", "customer".into()),
            ("error[step]", "payment_authorization".into()),
            ("error[reason]", "payment_failed".into()),
            (
                "error[metadata]",
                json!({"payment_id": payment_id, "order_id": order_id}).to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    let result = PayResult {
        gateway: GatewayKind::Razorpay,
        session_id: order_id,
        outcome,
        payment_id: Some(payment_id),
        callback: callback_url.map(|u| Callback::FormPost {
            url: u.to_owned(),
            fields,
        }),
        events: types.iter().map(|t| (*t).to_owned()).collect(),
    };
    Ok((result, events))
}

fn pay_stripe(
    store: &mut Store,
    id: &str,
    outcome: Outcome,
) -> Result<(PayResult, Vec<BuiltEvent>), PayError> {
    let Some(session) = store.stripe_sessions.get(id).cloned() else {
        return Err(pay_error(
            StatusCode::NOT_FOUND,
            format!("no session `{id}`"),
        ));
    };
    if session.status != "open" {
        return Err(pay_error(
            StatusCode::CONFLICT,
            format!("Checkout Session is {}", session.status),
        ));
    }
    let mut result = PayResult {
        gateway: GatewayKind::Stripe,
        session_id: id.to_owned(),
        outcome,
        payment_id: None,
        callback: None,
        events: Vec::new(),
    };
    if outcome == Outcome::Cancelled {
        result.callback = session
            .cancel_url
            .clone()
            .map(|url| Callback::Redirect { url });
        return Ok((result, Vec::new()));
    }
    // One PaymentIntent per session, made at the first attempt.
    let pi_id = session
        .payment_intent
        .clone()
        .unwrap_or_else(|| new_id("pi_"));
    let intent = store
        .stripe_intents
        .entry(pi_id.clone())
        .or_insert_with(|| StripeIntent {
            id: pi_id.clone(),
            object: "payment_intent",
            amount: session.amount_total,
            amount_received: 0,
            amount_capturable: 0,
            capture_method: session.intent_capture_method.clone(),
            currency: session.currency.clone(),
            status: "requires_payment_method".into(),
            cancellation_reason: None,
            canceled_at: None,
            latest_charge: None,
            last_payment_error: None,
            metadata: session.intent_metadata.clone(),
            payment_method_types: vec!["card".into()],
            created: now(),
        });
    result.payment_id = Some(pi_id.clone());
    let mut events = Vec::new();
    if outcome == Outcome::Failed {
        intent.status = "requires_payment_method".into();
        intent.last_payment_error = Some(json!({
            "type": "card_error",
            "code": "card_declined",
            "message": "Your card was declined.",
        }));
    } else {
        let charge_id = new_id("ch_");
        // Manual capture: the card is authorized, the money not yet taken.
        let captured = intent.capture_method != "manual";
        if captured {
            intent.status = "succeeded".into();
            intent.amount_received = intent.amount;
        } else {
            intent.status = "requires_capture".into();
            intent.amount_capturable = intent.amount;
        }
        intent.last_payment_error = None;
        intent.latest_charge = Some(charge_id.clone());
        let charge = StripeCharge {
            id: charge_id.clone(),
            object: "charge",
            amount: intent.amount,
            amount_captured: if captured { intent.amount } else { 0 },
            amount_refunded: 0,
            refunded: false,
            captured,
            paid: true,
            currency: intent.currency.clone(),
            payment_intent: pi_id.clone(),
            status: "succeeded".into(),
            created: now(),
        };
        store.stripe_charges.insert(charge_id, charge);
        if let Some(s) = store.stripe_sessions.get_mut(id) {
            s.status = "complete".into();
            // Stripe: `unpaid` until the authorized payment is captured.
            s.payment_status = if captured { "paid" } else { "unpaid" }.into();
            s.url = None;
        }
        if let Ok(e) = webhooks::build(store, GatewayKind::Stripe, "checkout.session.completed", id)
        {
            events.push(e);
        }
        result.events.push("checkout.session.completed".into());
        result.callback = Some(Callback::Redirect {
            url: session.success_url.replace("{CHECKOUT_SESSION_ID}", id),
        });
    }
    if let Some(s) = store.stripe_sessions.get_mut(id) {
        s.payment_intent = Some(pi_id);
    }
    Ok((result, events))
}
