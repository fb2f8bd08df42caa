//! Control API for tests and demos: pay or fail a session without a browser,
//! raise any webhook, inject faults, and read everything back (tests assert
//! "exactly one capture" against `/payments`).

#![allow(clippy::result_large_err)]

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::pay::{Outcome, pay};
use super::store::{Account, Faults, Store};
use super::{SandboxState, stripe_api, webhooks};
use crate::gateways::GatewayKind;

pub fn routes(state: SandboxState) -> Router {
    Router::new()
        .route("/sessions", get(sessions))
        .route("/sessions/{id}/pay", post(pay_session))
        .route("/sessions/{id}/expire", post(expire_session))
        .route("/payments", get(payments))
        .route("/refunds", get(refunds))
        .route("/webhooks", get(deliveries))
        .route("/webhooks/trigger", post(trigger))
        .route("/webhooks/targets", put(targets))
        .route("/events", get(events))
        .route("/faults/{gateway}", get(get_faults).put(put_faults))
        .route("/account", get(get_account).put(put_account))
        .route("/state", get(snapshot))
        .route("/reset", post(reset))
        .with_state(state)
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

fn gateway(name: &str) -> Result<GatewayKind, Response> {
    name.parse::<GatewayKind>()
        .map_err(|e| error(StatusCode::NOT_FOUND, e))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBody {
    outcome: Outcome,
    /// Razorpay: where checkout.js would post the signed fields.
    callback_url: Option<String>,
    cancel_url: Option<String>,
}

async fn pay_session(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    Json(body): Json<PayBody>,
) -> Response {
    match pay(
        &state,
        &id,
        body.outcome,
        body.callback_url.as_deref(),
        body.cancel_url.as_deref(),
    ) {
        Ok(result) => Json(result).into_response(),
        Err(e) => error(e.status, e.message),
    }
}

async fn expire_session(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    let result = {
        let mut store = state.store();
        stripe_api::expire(&mut store, &id)
            .map(|event| (store.stripe_sessions.get(&id).cloned(), event))
    };
    match result {
        Ok((session, event)) => {
            webhooks::emit(&state, GatewayKind::Stripe, vec![event]);
            Json(session).into_response()
        }
        Err(response) => response,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    gateway: GatewayKind,
    event: String,
    /// Order, payment, refund, session, payment intent or charge id.
    object_id: String,
}

/// Raises one event about an existing object, e.g. to replay a
/// `payment.captured` or to send an `order.paid` before its payment events.
async fn trigger(State(state): State<SandboxState>, Json(body): Json<TriggerBody>) -> Response {
    let built = webhooks::build(&state.store(), body.gateway, &body.event, &body.object_id);
    match built {
        Ok(event) => {
            let out = json!({"event_id": event.event_id, "event": event.event_type});
            webhooks::emit(&state, body.gateway, vec![event]);
            Json(out).into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Targets {
    razorpay: Option<String>,
    stripe: Option<String>,
}

async fn targets(State(state): State<SandboxState>, Json(body): Json<Targets>) -> Response {
    if let Some(url) = &body.razorpay {
        state.set_webhook_url(GatewayKind::Razorpay, url);
    }
    if let Some(url) = &body.stripe {
        state.set_webhook_url(GatewayKind::Stripe, url);
    }
    Json(json!({
        "razorpay": state.webhook_url(GatewayKind::Razorpay),
        "stripe": state.webhook_url(GatewayKind::Stripe),
    }))
    .into_response()
}

async fn get_faults(State(state): State<SandboxState>, Path(name): Path<String>) -> Response {
    match gateway(&name) {
        Ok(g) => Json(state.store().faults(g)).into_response(),
        Err(r) => r,
    }
}

async fn put_faults(
    State(state): State<SandboxState>,
    Path(name): Path<String>,
    Json(faults): Json<Faults>,
) -> Response {
    let g = match gateway(&name) {
        Ok(g) => g,
        Err(r) => return r,
    };
    for (key, rate) in [
        ("error_rate", faults.error_rate),
        ("timeout_rate", faults.timeout_rate),
        ("webhook_drop_rate", faults.webhook_drop_rate),
        ("refund_fail_rate", faults.refund_fail_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{key} must be within 0..=1"),
            );
        }
    }
    state.set_faults(g, faults.clone());
    Json(faults).into_response()
}

async fn get_account(State(state): State<SandboxState>) -> Response {
    Json(state.store().account.clone()).into_response()
}

/// Replaces the account settings; they apply to payments and refunds made from
/// now on (an authorization or refund already waiting keeps its clock).
async fn put_account(State(state): State<SandboxState>, Json(account): Json<Account>) -> Response {
    if account.authorization_ttl_ms == 0 {
        return error(StatusCode::BAD_REQUEST, "authorization_ttl_ms must be > 0");
    }
    state.store().account = account.clone();
    Json(account).into_response()
}

async fn sessions(State(state): State<SandboxState>) -> Response {
    let store = state.store();
    Json(json!({
        "razorpay": store.rzp_orders.values().collect::<Vec<_>>(),
        "stripe": store.stripe_sessions.values().collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn payments(State(state): State<SandboxState>) -> Response {
    let store = state.store();
    let mut rzp: Vec<_> = store.rzp_payments.values().collect();
    rzp.sort_by_key(|p| p.seq);
    Json(json!({
        "razorpay": rzp,
        "stripe": store.stripe_intents.values().collect::<Vec<_>>(),
        "stripe_charges": store.stripe_charges.values().collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn refunds(State(state): State<SandboxState>) -> Response {
    let store = state.store();
    Json(json!({
        "razorpay": store.rzp_refunds.values().collect::<Vec<_>>(),
        "stripe": store.stripe_refunds.values().collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn deliveries(State(state): State<SandboxState>) -> Response {
    Json(state.deliveries()).into_response()
}

async fn events(State(state): State<SandboxState>) -> Response {
    Json(state.store().events.clone()).into_response()
}

async fn snapshot(State(state): State<SandboxState>) -> Response {
    let store = state.store();
    Json(json!({
        "razorpay": {
            "orders": store.rzp_orders.values().collect::<Vec<_>>(),
            "payments": store.rzp_payments.values().collect::<Vec<_>>(),
            "refunds": store.rzp_refunds.values().collect::<Vec<_>>(),
        },
        "stripe": {
            "sessions": store.stripe_sessions.values().collect::<Vec<_>>(),
            "payment_intents": store.stripe_intents.values().collect::<Vec<_>>(),
            "charges": store.stripe_charges.values().collect::<Vec<_>>(),
            "refunds": store.stripe_refunds.values().collect::<Vec<_>>(),
        },
        "events": store.events,
        "deliveries": store.deliveries,
        "faults": store.faults,
        "requests": store.requests,
    }))
    .into_response()
}

/// Forgets every object, event, fault and override (the account settings return
/// to the configured ones).
async fn reset(State(state): State<SandboxState>) -> Response {
    *state.store() = Store::new(state.settings());
    StatusCode::NO_CONTENT.into_response()
}
