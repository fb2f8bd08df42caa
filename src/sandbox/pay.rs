//! Paying a session: the hosted page a buyer sees (`/sandbox/pay/{id}`) and the
//! outcome logic it shares with the control API. After the choice the buyer is
//! sent back the way each gateway does it: Razorpay posts signed fields to the
//! callback URL, Stripe redirects to the success or cancel URL; webhooks follow.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header::LOCATION};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::store::{RzpPayment, Store, StripeCharge, StripeIntent, new_id, now};
use super::webhooks::{self, BuiltEvent};
use super::{SandboxState, stripe_api};
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
    let captured = outcome == Outcome::Captured;
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
        status: if captured { "captured" } else { "failed" }.into(),
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
        error_code: (!captured).then(|| "BAD_REQUEST_ERROR".into()),
        error_description: (!captured).then(|| "Payment processing failed".into()),
        created_at: now(),
        seq,
    };
    let payment_id = payment.id.clone();
    let order_id = order.id.clone();
    store.rzp_payments.insert(payment_id.clone(), payment);
    let types: &[&str] = if captured {
        &["payment.authorized", "payment.captured", "order.paid"]
    } else {
        &["payment.failed"]
    };
    let mut events = Vec::new();
    for t in types {
        if let Ok(e) = webhooks::build(store, GatewayKind::Razorpay, t, &payment_id) {
            events.push(e);
        }
    }
    let fields: BTreeMap<String, String> = if captured {
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
            currency: session.currency.clone(),
            status: "requires_payment_method".into(),
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
        intent.status = "succeeded".into();
        intent.amount_received = intent.amount;
        intent.last_payment_error = None;
        intent.latest_charge = Some(charge_id.clone());
        let charge = StripeCharge {
            id: charge_id.clone(),
            object: "charge",
            amount: intent.amount,
            amount_captured: intent.amount,
            amount_refunded: 0,
            refunded: false,
            captured: true,
            paid: true,
            currency: intent.currency.clone(),
            payment_intent: pi_id.clone(),
            status: "succeeded".into(),
            created: now(),
        };
        store.stripe_charges.insert(charge_id, charge);
        if let Some(s) = store.stripe_sessions.get_mut(id) {
            s.status = "complete".into();
            s.payment_status = "paid".into();
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

pub fn routes(state: SandboxState) -> Router {
    Router::new()
        .route("/pay/{id}", get(page).post(submit))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    callback_url: Option<String>,
    cancel_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PageForm {
    outcome: Outcome,
    callback_url: Option<String>,
    cancel_url: Option<String>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn describe(store: &Store, id: &str) -> Option<(GatewayKind, String, i64, String, String)> {
    if let Some(o) = store.rzp_orders.get(id) {
        return Some((
            GatewayKind::Razorpay,
            o.receipt.clone().unwrap_or_default(),
            o.amount,
            o.currency.clone(),
            o.status.clone(),
        ));
    }
    store.stripe_sessions.get(id).map(|s| {
        (
            GatewayKind::Stripe,
            s.product_name.clone(),
            s.amount_total,
            s.currency.to_ascii_uppercase(),
            s.status.clone(),
        )
    })
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:32rem;margin:3rem auto}}\
         button{{font-size:1rem;margin:.3rem;padding:.5rem 1rem}}</style></head>\
         <body>{body}</body></html>",
        esc(title)
    )
}

async fn page(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some((gateway, label, amount, currency, status)) = describe(&state.store(), &id) else {
        return (
            StatusCode::NOT_FOUND,
            Html(shell("Not found", "<h1>No such payment session</h1>")),
        )
            .into_response();
    };
    let hidden = |name: &str, value: &Option<String>| {
        value
            .as_ref()
            .map(|v| {
                format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    esc(v)
                )
            })
            .unwrap_or_default()
    };
    let button = |outcome: &str, text: &str| {
        format!(
            "<form method=\"post\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"outcome\" value=\"{outcome}\">{}{}\
             <button type=\"submit\" id=\"{outcome}\">{text}</button></form>",
            hidden("callback_url", &q.callback_url),
            hidden("cancel_url", &q.cancel_url),
        )
    };
    let body = format!(
        "<h1>Sandbox {gateway} checkout</h1><p>{}</p>\
         <p><strong>{}.{:02} {}</strong> &middot; session <code>{}</code> &middot; {}</p>{}{}{}",
        esc(&label),
        amount / 100,
        amount % 100,
        esc(&currency),
        esc(&id),
        esc(&status),
        button("captured", "Pay"),
        button("failed", "Fail"),
        button("cancelled", "Cancel"),
    );
    Html(shell("Sandbox checkout", &body)).into_response()
}

async fn submit(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    Form(form): Form<PageForm>,
) -> Response {
    let result = match pay(
        &state,
        &id,
        form.outcome,
        form.callback_url.as_deref(),
        form.cancel_url.as_deref(),
    ) {
        Ok(r) => r,
        Err(e) => {
            let body = format!("<h1>Cannot pay</h1><p>{}</p>", esc(&e.message));
            return (e.status, Html(shell("Cannot pay", &body))).into_response();
        }
    };
    match result.callback {
        // Razorpay returns the buyer with a form POST carrying the signed fields.
        Some(Callback::FormPost { url, fields }) => {
            let inputs: String = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                        esc(k),
                        esc(v)
                    )
                })
                .collect();
            let body = format!(
                "<form id=\"back\" method=\"post\" action=\"{}\">{inputs}\
                 <button type=\"submit\">Continue</button></form>\
                 <script>document.getElementById('back').submit()</script>",
                esc(&url)
            );
            Html(shell("Returning to merchant", &body)).into_response()
        }
        Some(Callback::Redirect { url }) => {
            (StatusCode::SEE_OTHER, [(LOCATION, url)]).into_response()
        }
        None => {
            let body = format!(
                "<h1>{:?}</h1><p>Session <code>{}</code>. <a href=\"\">Back</a></p>",
                result.outcome,
                esc(&result.session_id)
            );
            Html(shell("Sandbox checkout", &body)).into_response()
        }
    }
}
