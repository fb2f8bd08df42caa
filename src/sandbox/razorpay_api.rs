//! Razorpay API subset: Orders, Payments, Refunds, with basic auth
//! `key_id:key_secret` and Razorpay's error shape
//! `{"error": {"code": "BAD_REQUEST_ERROR", "description": …, "field": …}}`.

use std::collections::HashMap;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::errors::rzp_error;
use super::store::{RzpOrder, RzpRefund, new_id, now};
use super::{SandboxState, faults, money, webhooks};
use crate::gateways::GatewayKind;

fn bad_request(description: &str, field: Option<&str>) -> Response {
    rzp_error(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST_ERROR",
        description,
        field,
    )
}

fn not_found() -> Response {
    bad_request("The id provided does not exist", None)
}

pub fn routes(state: SandboxState) -> Router {
    Router::new()
        .route("/v1/orders", post(create_order).get(list_orders))
        .route("/v1/orders/{id}", get(fetch_order))
        .route("/v1/orders/{id}/payments", get(order_payments))
        .route("/v1/payments/{id}", get(fetch_payment))
        .route("/v1/payments/{id}/refund", post(refund))
        .route("/v1/payments/{id}/refunds", get(payment_refunds))
        .route("/v1/payments/{id}/capture", post(capture))
        .route("/v1/refunds/{id}", get(fetch_refund))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            (state.clone(), GatewayKind::Razorpay),
            faults::inject,
        ))
        .with_state(state)
}

async fn authenticate(State(state): State<SandboxState>, request: Request, next: Next) -> Response {
    let expected = format!(
        "{}:{}",
        state.settings().razorpay_key_id,
        state.settings().razorpay_key_secret.expose_secret()
    );
    let given = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        });
    if given.as_deref() != Some(expected.as_bytes()) {
        return rzp_error(
            StatusCode::UNAUTHORIZED,
            "BAD_REQUEST_ERROR",
            "Authentication failed",
            None,
        );
    }
    next.run(request).await
}

async fn create_order(State(state): State<SandboxState>, body: axum::body::Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("The request body is not valid JSON", None);
    };
    let Some(amount) = body.get("amount").and_then(Value::as_i64) else {
        return bad_request("The amount field is required.", Some("amount"));
    };
    if amount < 100 {
        return bad_request("The amount must be atleast INR 1.00", Some("amount"));
    }
    let currency = body
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return bad_request("The currency field is required.", Some("currency"));
    }
    let receipt = body
        .get("receipt")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if receipt.as_ref().is_some_and(|r| r.chars().count() > 40) {
        return bad_request(
            "The receipt may not be greater than 40 characters.",
            Some("receipt"),
        );
    }
    let notes = body.get("notes").cloned().unwrap_or_else(|| json!([]));
    if notes.as_object().is_some_and(|n| n.len() > 15) {
        return bad_request("Number of notes cannot be more than 15", Some("notes"));
    }
    let order = RzpOrder {
        id: new_id("order_"),
        entity: "order",
        amount,
        amount_paid: 0,
        amount_due: amount,
        currency: currency.to_owned(),
        receipt,
        offer_id: None,
        status: "created".into(),
        attempts: 0,
        notes,
        created_at: now(),
    };
    state
        .store()
        .rzp_orders
        .insert(order.id.clone(), order.clone());
    Json(order).into_response()
}

async fn list_orders(
    State(state): State<SandboxState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let count = query
        .get("count")
        .and_then(|c| c.parse::<usize>().ok())
        .unwrap_or(10)
        .min(100);
    let receipt = query.get("receipt");
    let mut items: Vec<RzpOrder> = state
        .store()
        .rzp_orders
        .values()
        .filter(|o| receipt.is_none() || o.receipt.as_ref() == receipt)
        .cloned()
        .collect();
    items.sort_by_key(|o| std::cmp::Reverse(o.created_at));
    items.truncate(count);
    Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response()
}

async fn fetch_order(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    match state.store().rzp_orders.get(&id) {
        Some(order) => Json(order.clone()).into_response(),
        None => not_found(),
    }
}

async fn order_payments(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    let store = state.store();
    if !store.rzp_orders.contains_key(&id) {
        return not_found();
    }
    let items = store.rzp_order_payments(&id);
    Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response()
}

async fn fetch_payment(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    match state.store().rzp_payments.get(&id) {
        Some(p) => Json(p.clone()).into_response(),
        None => not_found(),
    }
}

/// `POST /v1/payments/{id}/refund`. With `X-Refund-Idempotency`, a repeated
/// key returns the refund made the first time instead of refunding again.
async fn refund(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return bad_request("The request body is not valid JSON", None),
        }
    };
    let key = headers
        .get("x-refund-idempotency")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (refund, event, settle, delay_ms) = {
        let mut store = state.store();
        if let Some(existing) = key
            .as_ref()
            .and_then(|k| store.rzp_refund_keys.get(k))
            .and_then(|rid| store.rzp_refunds.get(rid))
        {
            if existing.payment_id != id {
                return bad_request(
                    "The idempotency key was already used for another payment",
                    None,
                );
            }
            return Json(existing.clone()).into_response();
        }
        let seq = store.next_seq();
        let Some(payment) = store.rzp_payments.get_mut(&id) else {
            return not_found();
        };
        if !payment.captured {
            return bad_request("Only captured payments can be refunded", None);
        }
        let remaining = payment.amount - payment.amount_refunded;
        if remaining <= 0 {
            return bad_request("The payment has been fully refunded already", None);
        }
        let amount = match body.get("amount") {
            None | Some(Value::Null) => remaining,
            Some(v) => match v.as_i64() {
                Some(a) => a,
                None => return bad_request("The amount must be an integer.", Some("amount")),
            },
        };
        if amount < 100 {
            return bad_request("The amount must be atleast INR 1.00", Some("amount"));
        }
        if amount > remaining {
            return bad_request(
                "The total refund amount is greater than the refund payment amount",
                Some("amount"),
            );
        }
        let currency = payment.currency.clone();
        let (status, settle) = money::refund_start(&mut store, GatewayKind::Razorpay);
        let Some(payment) = store.rzp_payments.get_mut(&id) else {
            return not_found();
        };
        payment.amount_refunded += amount;
        let full = payment.amount_refunded == payment.amount;
        payment.refund_status = Some(if full { "full" } else { "partial" }.into());
        if full {
            payment.status = "refunded".into();
        }
        let refund = RzpRefund {
            id: new_id("rfnd_"),
            entity: "refund",
            amount,
            currency,
            payment_id: id.clone(),
            notes: body.get("notes").cloned().unwrap_or_else(|| json!([])),
            receipt: body
                .get("receipt")
                .and_then(Value::as_str)
                .map(str::to_owned),
            status: status.into(),
            speed_requested: "normal".into(),
            speed_processed: "normal".into(),
            created_at: now(),
            seq,
        };
        store.rzp_refunds.insert(refund.id.clone(), refund.clone());
        if let Some(k) = key {
            store.rzp_refund_keys.insert(k, refund.id.clone());
        }
        // A pending refund's webhook comes when it settles.
        let event = settle.is_none().then(|| {
            webhooks::build(
                &store,
                GatewayKind::Razorpay,
                "refund.processed",
                &refund.id,
            )
        });
        (refund, event, settle, store.account.refund_pending_ms)
    };
    match event {
        Some(Ok(e)) => webhooks::emit(&state, GatewayKind::Razorpay, vec![e]),
        Some(Err(e)) => tracing::warn!(error = %e, "sandbox could not build refund.processed"),
        None => {}
    }
    if let Some(fails) = settle {
        money::settle_later(
            &state,
            GatewayKind::Razorpay,
            refund.id.clone(),
            fails,
            delay_ms,
        );
    }
    Json(refund).into_response()
}

async fn fetch_refund(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    match state.store().rzp_refunds.get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => not_found(),
    }
}

async fn payment_refunds(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    let store = state.store();
    if !store.rzp_payments.contains_key(&id) {
        return not_found();
    }
    let mut items: Vec<&RzpRefund> = store
        .rzp_refunds
        .values()
        .filter(|r| r.payment_id == id)
        .collect();
    items.sort_by_key(|r| std::cmp::Reverse(r.seq));
    Json(json!({"entity": "collection", "count": items.len(), "items": items})).into_response()
}

/// `POST /v1/payments/{id}/capture` with `amount` (all of it: Razorpay captures
/// no less than was authorized) and `currency`. Raises `payment.captured` and
/// `order.paid`, as the automatic capture does.
async fn capture(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("The request body is not valid JSON", None);
    };
    let (payment, events) = {
        let mut store = state.store();
        let Some(payment) = store.rzp_payments.get_mut(&id) else {
            return not_found();
        };
        match payment.status.as_str() {
            "authorized" => {}
            "captured" => return bad_request("This payment has already been captured", None),
            _ => {
                return bad_request(
                    "Only payments which have been authorized and not yet captured can be captured",
                    None,
                );
            }
        }
        let Some(amount) = body.get("amount").and_then(Value::as_i64) else {
            return bad_request("The amount field is required.", Some("amount"));
        };
        if amount != payment.amount {
            return bad_request(
                "Capture amount must be equal to the amount authorized",
                Some("amount"),
            );
        }
        let Some(currency) = body.get("currency").and_then(Value::as_str) else {
            return bad_request("The currency field is required.", Some("currency"));
        };
        if currency != payment.currency {
            return bad_request(
                "Currency should be same as that of the payment",
                Some("currency"),
            );
        }
        payment.status = "captured".into();
        payment.captured = true;
        payment.fee = Some(amount * 2 / 100);
        payment.tax = Some(amount * 2 / 100 * 18 / 100);
        let payment = payment.clone();
        if let Some(order) = store.rzp_orders.get_mut(&payment.order_id) {
            order.status = "paid".into();
            order.amount_paid = order.amount;
            order.amount_due = 0;
        }
        let events: Vec<_> = ["payment.captured", "order.paid"]
            .into_iter()
            .filter_map(|t| webhooks::build(&store, GatewayKind::Razorpay, t, &id).ok())
            .collect();
        (payment, events)
    };
    webhooks::emit(&state, GatewayKind::Razorpay, events);
    Json(payment).into_response()
}
