//! Stripe API subset: Checkout Sessions here; PaymentIntents and Refunds in
//! `stripe_money`.
//! Form-encoded bodies, bearer secret key, `Idempotency-Key` on every POST
//! (same key and body: the stored answer; same key, other body: an
//! `idempotency_error`), and Stripe's error shape
//! `{"error": {"type", "code", "message", "param"}}`.

// Handlers' helpers return a ready error `Response` as `Err`; it is built once
// per failed request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::errors::stripe_error;
use super::store::{IdempotentReply, Store, StripeSession, new_id, now};
use super::webhooks::{self, BuiltEvent};
use super::{SandboxState, faults, stripe_money};
use crate::gateways::GatewayKind;

pub type Params = Vec<(String, String)>;

pub fn invalid(message: &str, param: Option<&str>) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
        param,
    )
}

pub fn missing(kind: &str, id: &str, param: &str) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
        Some(param),
    )
}

pub fn routes(state: SandboxState) -> Router {
    Router::new()
        .route(
            "/v1/checkout/sessions",
            post(create_session).get(list_sessions),
        )
        .route("/v1/checkout/sessions/{id}", get(fetch_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .merge(stripe_money::routes())
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            (state.clone(), GatewayKind::Stripe),
            faults::inject,
        ))
        .with_state(state)
}

async fn authenticate(State(state): State<SandboxState>, request: Request, next: Next) -> Response {
    let secret = state
        .settings()
        .stripe_secret_key
        .expose_secret()
        .to_owned();
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // Stripe takes the key as a bearer token or as the basic-auth user name.
    let key = if let Some(token) = header.strip_prefix("Bearer ") {
        Some(token.trim().to_owned())
    } else {
        header
            .strip_prefix("Basic ")
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|raw| String::from_utf8(raw).ok())
            .map(|user| user.trim_end_matches(':').to_owned())
    };
    if key.as_deref() != Some(secret.as_str()) {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided",
            None,
        );
    }
    next.run(request).await
}

pub fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `prefix[key]=value` pairs as a map (metadata).
pub fn nested(params: &Params, prefix: &str) -> BTreeMap<String, String> {
    params
        .iter()
        .filter_map(|(k, v)| {
            let inner = k
                .strip_prefix(prefix)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            (!inner.contains('[')).then(|| (inner.to_owned(), v.clone()))
        })
        .collect()
}

/// Runs a POST under Stripe's idempotency rules: a key seen before with the
/// same parameters returns the stored answer without acting again.
pub fn idempotent(
    state: &SandboxState,
    headers: &HeaderMap,
    path: &str,
    params: &Params,
    act: impl FnOnce(&mut Store) -> Result<(Value, Vec<BuiltEvent>), Response>,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut sorted = params.clone();
    sorted.sort();
    let fingerprint = format!("{path}?{sorted:?}");
    let (body, events) = {
        let mut store = state.store();
        if let Some(stored) = key.as_ref().and_then(|k| store.stripe_idempotency.get(k)) {
            if stored.fingerprint != fingerprint {
                return stripe_error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                    None,
                );
            }
            return ([("idempotent-replayed", "true")], Json(stored.body.clone())).into_response();
        }
        let (body, events) = match act(&mut store) {
            Ok(done) => done,
            Err(response) => return response,
        };
        if let Some(k) = key {
            store.stripe_idempotency.insert(
                k,
                IdempotentReply {
                    fingerprint,
                    body: body.clone(),
                },
            );
        }
        (body, events)
    };
    webhooks::emit(state, GatewayKind::Stripe, events);
    Json(body).into_response()
}

async fn create_session(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let pay_base = format!("{}/pay", state.base_url());
    idempotent(
        &state,
        &headers,
        "/v1/checkout/sessions",
        &params,
        |store| {
            let mut session = new_session(&params, &pay_base)?;
            session.seq = store.next_seq();
            let body = json!(session);
            store.stripe_sessions.insert(session.id.clone(), session);
            Ok((body, Vec::new()))
        },
    )
}

fn new_session(params: &Params, pay_base: &str) -> Result<StripeSession, Response> {
    if param(params, "mode") != Some("payment") {
        return Err(invalid("Missing required param: mode.", Some("mode")));
    }
    let Some(success_url) = param(params, "success_url") else {
        return Err(invalid(
            "Missing required param: success_url.",
            Some("success_url"),
        ));
    };
    let mut total = 0i64;
    let mut currency: Option<String> = None;
    let mut product_name = String::new();
    let mut i = 0;
    while let Some(quantity) = param(params, &format!("line_items[{i}][quantity]")) {
        let field = |f: &str| param(params, &format!("line_items[{i}][price_data][{f}]"));
        let (Some(item_currency), Some(unit)) = (field("currency"), field("unit_amount")) else {
            return Err(invalid(
                "Missing required param: line_items[0][price_data].",
                Some("line_items"),
            ));
        };
        let (Ok(quantity), Ok(unit)) = (quantity.parse::<i64>(), unit.parse::<i64>()) else {
            return Err(invalid("Invalid integer", Some("line_items")));
        };
        if quantity < 1 || unit < 1 {
            return Err(invalid("Invalid integer", Some("line_items")));
        }
        if currency.as_deref().is_some_and(|c| c != item_currency) {
            return Err(invalid(
                "All line items must use the same currency.",
                Some("line_items"),
            ));
        }
        currency = Some(item_currency.to_owned());
        total += unit * quantity;
        if product_name.is_empty() {
            product_name = param(
                params,
                &format!("line_items[{i}][price_data][product_data][name]"),
            )
            .unwrap_or("Item")
            .to_owned();
        }
        i += 1;
    }
    let Some(currency) = currency else {
        return Err(invalid(
            "Missing required param: line_items.",
            Some("line_items"),
        ));
    };
    let created = now();
    if let Some(method) = param(params, "payment_intent_data[capture_method]")
        && !matches!(method, "automatic" | "automatic_async" | "manual")
    {
        return Err(invalid(
            "Invalid payment_intent_data[capture_method]: must be one of automatic, automatic_async, or manual",
            Some("payment_intent_data[capture_method]"),
        ));
    }
    let expires_at = match param(params, "expires_at") {
        None => created + 24 * 3600,
        Some(raw) => {
            let Ok(at) = raw.parse::<i64>() else {
                return Err(invalid("Invalid integer: expires_at", Some("expires_at")));
            };
            if at < created + 30 * 60 - 5 || at > created + 24 * 3600 + 5 {
                return Err(invalid(
                    "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
                    Some("expires_at"),
                ));
            }
            at
        }
    };
    let id = new_id("cs_test_");
    Ok(StripeSession {
        url: Some(format!("{pay_base}/{id}")),
        id,
        object: "checkout.session",
        amount_subtotal: total,
        amount_total: total,
        currency: currency.to_ascii_lowercase(),
        client_reference_id: param(params, "client_reference_id").map(str::to_owned),
        customer_email: param(params, "customer_email").map(str::to_owned),
        expires_at,
        livemode: false,
        metadata: nested(params, "metadata"),
        mode: "payment".into(),
        payment_intent: None,
        payment_status: "unpaid".into(),
        status: "open".into(),
        success_url: success_url.to_owned(),
        cancel_url: param(params, "cancel_url").map(str::to_owned),
        created,
        product_name,
        intent_metadata: nested(params, "payment_intent_data[metadata]"),
        intent_capture_method: param(params, "payment_intent_data[capture_method]")
            .unwrap_or("automatic")
            .to_owned(),
        seq: 0,
    })
}

/// Open sessions past `expires_at` expire, as Stripe does in the background.
pub fn expire_due(store: &mut Store) -> Vec<BuiltEvent> {
    let t = now();
    let due: Vec<String> = store
        .stripe_sessions
        .values()
        .filter(|s| s.status == "open" && s.expires_at <= t)
        .map(|s| s.id.clone())
        .collect();
    due.iter().filter_map(|id| expire(store, id).ok()).collect()
}

/// Marks an open session expired; returns its `checkout.session.expired` event.
pub fn expire(store: &mut Store, id: &str) -> Result<BuiltEvent, Response> {
    let Some(session) = store.stripe_sessions.get_mut(id) else {
        return Err(missing("checkout.session", id, "session"));
    };
    if session.status != "open" {
        return Err(invalid(
            "Only Checkout Sessions with a status of `open` can be expired.",
            None,
        ));
    }
    session.status = "expired".into();
    session.url = None;
    if let Some(pi) = session.payment_intent.clone()
        && let Some(intent) = store.stripe_intents.get_mut(&pi)
    {
        intent.status = "canceled".into();
    }
    webhooks::build(store, GatewayKind::Stripe, "checkout.session.expired", id)
        .map_err(|e| invalid(&e, None))
}

async fn fetch_session(State(state): State<SandboxState>, Path(id): Path<String>) -> Response {
    let (found, events) = {
        let mut store = state.store();
        let events = expire_due(&mut store);
        (store.stripe_sessions.get(&id).cloned(), events)
    };
    webhooks::emit(&state, GatewayKind::Stripe, events);
    match found {
        Some(s) => Json(s).into_response(),
        None => missing("checkout.session", &id, "session"),
    }
}

async fn expire_session(
    State(state): State<SandboxState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(params): Form<Params>,
) -> Response {
    let path = format!("/v1/checkout/sessions/{id}/expire");
    idempotent(&state, &headers, &path, &params, |store| {
        let event = expire(store, &id)?;
        let body = json!(store.stripe_sessions.get(&id));
        Ok((body, vec![event]))
    })
}

/// `GET /v1/checkout/sessions`: newest first, filtered by `payment_intent` and
/// `status`, paged by `limit` (1..=100, default 10) and `starting_after`.
async fn list_sessions(
    State(state): State<SandboxState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => {
            return invalid(
                "Invalid integer: limit must be between 1 and 100",
                Some("limit"),
            );
        }
    };
    let (found, events) = {
        let mut store = state.store();
        let events = expire_due(&mut store);
        let mut all: Vec<StripeSession> = store
            .stripe_sessions
            .values()
            .filter(|s| {
                query
                    .get("payment_intent")
                    .is_none_or(|pi| s.payment_intent.as_ref() == Some(pi))
                    && query.get("status").is_none_or(|st| &s.status == st)
            })
            .cloned()
            .collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.seq));
        (all, events)
    };
    webhooks::emit(&state, GatewayKind::Stripe, events);
    let start = match query.get("starting_after") {
        None => 0,
        Some(after) => match found.iter().position(|s| &s.id == after) {
            Some(i) => i + 1,
            None => return missing("checkout.session", after, "starting_after"),
        },
    };
    let page: Vec<&StripeSession> = found.iter().skip(start).take(limit).collect();
    let has_more = found.len() > start + page.len();
    Json(json!({
        "object": "list",
        "data": page,
        "has_more": has_more,
        "url": "/v1/checkout/sessions",
    }))
    .into_response()
}
