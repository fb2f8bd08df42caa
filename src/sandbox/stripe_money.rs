//! Stripe API subset, the money side: PaymentIntents (read, capture, cancel) and
//! Refunds (create, read). Same auth, idempotency and error shape as `stripe_api`.

#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;

use super::SandboxState;
use super::errors::stripe_error;
use super::money::{self, CancelRefused};
use super::store::{StripeRefund, new_id, now};
use super::stripe_api::{Params, idempotent, invalid, missing, nested, param};
use super::webhooks;
use crate::gateways::GatewayKind;

pub fn routes() -> Router<SandboxState> {
    Router::new()
        .route("/v1/payment_intents/{id}", get(fetch_intent))
        .route("/v1/payment_intents/{id}/capture", post(capture))
        .route("/v1/payment_intents/{id}/cancel", post(cancel))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/refunds/{id}", get(fetch_refund))
}

/// Stripe's answer to an action the PaymentIntent's status does not allow.
fn unexpected_state(message: String) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        Some("payment_intent_unexpected_state"),
        &message,
        None,
    )
}

async fn fetch_intent(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let store = state.store();
    let Some(intent) = store.stripe_intents.get(&id) else {
        return missing("payment_intent", &id, "intent");
    };
    let mut body = json!(intent);
    // Our client sends `expand[]=`, Stripe's own libraries `expand[0]=`.
    let expand = query
        .iter()
        .any(|(k, v)| k.starts_with("expand[") && v == "latest_charge");
    if expand
        && let Some(charge) = intent
            .latest_charge
            .as_ref()
            .and_then(|c| store.stripe_charges.get(c))
    {
        body["latest_charge"] = json!(charge);
    }
    Json(body).into_response()
}

async fn create_refund(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    idempotent(&state, &headers, "/v1/refunds", &params, |store| {
        let intent_id = match (param(&params, "payment_intent"), param(&params, "charge")) {
            (Some(pi), _) => pi.to_owned(),
            (None, Some(ch)) => match store.stripe_charges.get(ch) {
                Some(c) => c.payment_intent.clone(),
                None => return Err(missing("charge", ch, "charge")),
            },
            (None, None) => {
                return Err(invalid(
                    "One of the following params should be provided for this request: payment_intent or charge.",
                    None,
                ));
            }
        };
        let Some(intent) = store.stripe_intents.get(&intent_id) else {
            return Err(missing("payment_intent", &intent_id, "payment_intent"));
        };
        let charge_id = match (&intent.status[..], &intent.latest_charge) {
            ("succeeded", Some(c)) => c.clone(),
            _ => {
                return Err(invalid(
                    "This PaymentIntent does not have a successful charge to refund.",
                    Some("payment_intent"),
                ));
            }
        };
        let Some(charge) = store.stripe_charges.get_mut(&charge_id) else {
            return Err(missing("charge", &charge_id, "charge"));
        };
        let remaining = charge.amount - charge.amount_refunded;
        if remaining <= 0 {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_already_refunded"),
                &format!("Charge {charge_id} has already been refunded."),
                None,
            ));
        }
        let amount = match param(&params, "amount") {
            None => remaining,
            Some(raw) => match raw.parse::<i64>() {
                Ok(a) if a > 0 => a,
                _ => return Err(invalid("Invalid positive integer", Some("amount"))),
            },
        };
        if amount > remaining {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_large"),
                &format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
                ),
                Some("amount"),
            ));
        }
        charge.amount_refunded += amount;
        charge.refunded = charge.amount_refunded == charge.amount;
        let currency = charge.currency.clone();
        let (status, settle) = money::refund_start(store, GatewayKind::Stripe);
        let refund = StripeRefund {
            id: new_id("re_"),
            object: "refund",
            amount,
            currency,
            payment_intent: intent_id,
            charge: charge_id.clone(),
            metadata: nested(&params, "metadata"),
            status: status.into(),
            failure_reason: None,
            created: now(),
            seq: store.next_seq(),
        };
        let body = json!(refund);
        if let Some(fails) = settle {
            let delay_ms = store.account.refund_pending_ms;
            money::settle_later(
                &state,
                GatewayKind::Stripe,
                refund.id.clone(),
                fails,
                delay_ms,
            );
        }
        store.stripe_refunds.insert(refund.id.clone(), refund);
        let event = webhooks::build(store, GatewayKind::Stripe, "charge.refunded", &charge_id)
            .map_err(|e| invalid(&e, None))?;
        Ok((body, vec![event]))
    })
}

async fn fetch_refund(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    match state.store().stripe_refunds.get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => missing("refund", &id, "id"),
    }
}

/// `POST /v1/payment_intents/{id}/capture`, optionally `amount_to_capture` (at
/// most what was authorized; the rest is released).
async fn capture(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let path = format!("/v1/payment_intents/{id}/capture");
    idempotent(&state, &headers, &path, &params, |store| {
        let Some(intent) = store.stripe_intents.get_mut(&id) else {
            return Err(missing("payment_intent", &id, "intent"));
        };
        if intent.status != "requires_capture" {
            return Err(unexpected_state(format!(
                "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
                intent.status
            )));
        }
        let amount = match param(&params, "amount_to_capture") {
            None => intent.amount_capturable,
            Some(raw) => match raw.parse::<i64>() {
                Ok(a) if a > 0 && a <= intent.amount_capturable => a,
                Ok(_) => {
                    return Err(invalid(
                        "The amount_to_capture must be positive and no more than the amount capturable.",
                        Some("amount_to_capture"),
                    ));
                }
                Err(_) => return Err(invalid("Invalid integer", Some("amount_to_capture"))),
            },
        };
        intent.status = "succeeded".into();
        intent.amount_received = amount;
        intent.amount_capturable = 0;
        let intent = intent.clone();
        if let Some(charge) = intent
            .latest_charge
            .as_ref()
            .and_then(|c| store.stripe_charges.get_mut(c))
        {
            charge.captured = true;
            charge.amount_captured = amount;
            // What was authorized and not captured goes back to the buyer.
            charge.amount_refunded = charge.amount - amount;
        }
        for session in store.stripe_sessions.values_mut() {
            if session.payment_intent.as_deref() == Some(id.as_str()) {
                session.payment_status = "paid".into();
            }
        }
        Ok((json!(intent), Vec::new()))
    })
}

/// `POST /v1/payment_intents/{id}/cancel`, optionally `cancellation_reason`.
async fn cancel(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let path = format!("/v1/payment_intents/{id}/cancel");
    idempotent(&state, &headers, &path, &params, |store| {
        let reason = param(&params, "cancellation_reason");
        match money::cancel_intent(store, &id, reason) {
            Ok(intent) => {
                let events =
                    webhooks::build(store, GatewayKind::Stripe, "payment_intent.canceled", &id)
                        .into_iter()
                        .collect();
                Ok((json!(intent), events))
            }
            Err(CancelRefused::Missing) => Err(missing("payment_intent", &id, "intent")),
            Err(CancelRefused::Status(status)) => Err(unexpected_state(format!(
                "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
            ))),
        }
    })
}
