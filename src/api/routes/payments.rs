//! The client-side callback after checkout, and gateway webhooks.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::AppState;
use crate::api::layers::envelope::{Envelope, Reply};
use crate::api::layers::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::api::layers::extract::{ApiJson, ApiPath};
use crate::domain::order::{OrderStatus, Step};
use crate::gateways::signature::verify_razorpay_payment;
use crate::gateways::{GatewayKind, WebhookError, webhook};
use crate::store::{payments, webhooks};
use crate::telemetry::catalog;
use crate::workflows::checkout::intake::{self, Intake};
use crate::workflows::checkout::orders as flow;
use crate::workflows::checkout::runner::enqueue_step;
use crate::workflows::keys;

/// The client's signed callback (API group `payments`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_payment))
}

/// The gateways' webhooks (API group `webhooks`): a pool of their own can take the
/// gateways' bursts without slowing the students' requests.
pub fn webhooks_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(razorpay_webhook))
        .routes(routes!(stripe_webhook))
}

/// What the gateway's checkout hands the frontend after a payment. Razorpay: the three
/// signed fields. Stripe: nothing is needed (the session id is ours already).
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VerifyPayment {
    pub razorpay_payment_id: Option<String>,
    pub razorpay_order_id: Option<String>,
    pub razorpay_signature: Option<String>,
    pub session_id: Option<String>,
}

/// The client's signed callback: checks the Razorpay signature against the order id
/// WE stored (never the one in the callback), then wakes `confirm`, which asks the
/// gateway itself. Answers the order as it stands after a short wait.
#[utoipa::path(post, path = "/api/v1/payments/{payment_token}/verify", tag = "payments",
    params(("payment_token" = String, Path)),
    request_body = VerifyPayment,
    responses(
        (status = 200, description = "callback accepted; the order as it stands", body = inline(Envelope<flow::OrderView>)),
        (status = 400, description = "signature does not match", body = ErrorEnvelope),
        (status = 404, description = "no such payment", body = ErrorEnvelope)))]
pub async fn verify_payment(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ApiJson(body): ApiJson<VerifyPayment>,
) -> ApiResult<Reply<flow::OrderView>> {
    let mut tx = crate::store::begin(&state.pool).await?;
    let payment = payments::by_token(&mut tx, &token)
        .await?
        .ok_or(ApiError::PaymentNotFound)?;
    let kind: GatewayKind = payment
        .gateway
        .parse()
        .map_err(|_| ApiError::PaymentNotFound)?;
    let wake_key = match kind {
        GatewayKind::Razorpay => {
            let (Some(payment_id), Some(signature)) =
                (&body.razorpay_payment_id, &body.razorpay_signature)
            else {
                return Err(ApiError::Validation(vec![
                    "razorpay_payment_id and razorpay_signature are required".into(),
                ]));
            };
            let secret = state
                .settings
                .razorpay
                .key_secret
                .as_ref()
                .ok_or(ApiError::InvalidPaymentSignature)?;
            if !verify_razorpay_payment(secret, &payment.gateway_order_id, payment_id, signature) {
                return Err(ApiError::InvalidPaymentSignature);
            }
            keys::callback_suffix(payment_id)
        }
        GatewayKind::Stripe => keys::callback_suffix(&payment.gateway_order_id),
    };
    enqueue_step(&mut tx, payment.order_id, Step::Confirm, Some(&wake_key)).await?;
    tx.commit().await?;
    let wait = Duration::from_millis(state.settings.checkout.order_wait_ms);
    let awaiting = OrderStatus::AwaitingPayment.as_str();
    let view = flow::wait_while(
        &state.pool,
        &state.order_changes,
        payment.order_id,
        awaiting,
        None,
        wait,
    )
    .await?;
    Ok(Reply::ok(view))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceipt {
    pub outcome: Intake,
}

/// Razorpay webhooks: `X-Razorpay-Signature` over the raw body, event id from
/// `x-razorpay-event-id`. Stored once; a payment event wakes `confirm` in the same
/// transaction; answered at once.
#[utoipa::path(post, path = "/api/v1/webhooks/razorpay", tag = "webhooks",
    request_body(content = String, description = "the raw event JSON as Razorpay signed it", content_type = "application/json"),
    responses(
        (status = 200, description = "accepted (also for duplicates, unknown types and unknown orders)", body = inline(Envelope<WebhookReceipt>)),
        (status = 400, description = "missing or bad signature; not processed", body = ErrorEnvelope)))]
pub async fn razorpay_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Reply<WebhookReceipt>> {
    let verified =
        webhook::verify_razorpay(&headers, &body, &state.settings.razorpay.webhook_secrets());
    accept(&state, GatewayKind::Razorpay, verified).await
}

/// Stripe webhooks: `Stripe-Signature` (t=…,v1=…) over `t.body`, within the timestamp
/// tolerance; any configured secret may match (rotation).
#[utoipa::path(post, path = "/api/v1/webhooks/stripe", tag = "webhooks",
    request_body(content = String, description = "the raw event JSON as Stripe signed it", content_type = "application/json"),
    responses(
        (status = 200, description = "accepted (also for duplicates, unknown types and unknown orders)", body = inline(Envelope<WebhookReceipt>)),
        (status = 400, description = "missing or bad signature, or stale timestamp; not processed", body = ErrorEnvelope)))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Reply<WebhookReceipt>> {
    let s = &state.settings.stripe;
    let verified = webhook::verify_stripe(
        &headers,
        &body,
        &s.webhook_secrets(),
        s.webhook_tolerance_secs,
        webhook::unix_now(),
    );
    accept(&state, GatewayKind::Stripe, verified).await
}

async fn accept(
    state: &AppState,
    gateway: GatewayKind,
    verified: Result<crate::gateways::WebhookEvent, WebhookError>,
) -> ApiResult<Reply<WebhookReceipt>> {
    let started = std::time::Instant::now();
    let kind = verified
        .as_ref()
        .map_or(catalog::UNKNOWN_KIND, |e| e.kind.label());
    let result = take_in(state, gateway, verified).await;
    let counter = if result.is_ok() {
        "webhooks_processed_total"
    } else {
        "webhooks_failed_total"
    };
    metrics::counter!(counter, "gateway" => gateway.as_str(), "kind" => kind).increment(1);
    metrics::histogram!("webhook_processing_seconds", "gateway" => gateway.as_str())
        .record(started.elapsed().as_secs_f64());
    result
}

async fn take_in(
    state: &AppState,
    gateway: GatewayKind,
    verified: Result<crate::gateways::WebhookEvent, WebhookError>,
) -> ApiResult<Reply<WebhookReceipt>> {
    let mut conn = crate::store::acquire(&state.pool).await?;
    let event = match verified {
        Ok(event) => event,
        Err(e) => {
            webhooks::insert_rejected(&mut conn, gateway.as_str(), &e.to_string()).await?;
            metrics::counter!("webhooks_rejected_total", "gateway" => gateway.as_str())
                .increment(1);
            return Err(ApiError::InvalidWebhook(e.to_string()));
        }
    };
    // An event that wakes a job stores itself and enqueues it atomically; any other is
    // a single insert, atomic on its own: no BEGIN/COMMIT round trips.
    let outcome = if intake::wakes(&event.kind) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let outcome = intake::webhook(&mut tx, &event).await?;
        tx.commit().await?;
        outcome
    } else {
        intake::webhook(&mut conn, &event).await?
    };
    metrics::counter!("webhooks_received_total", "gateway" => gateway.as_str()).increment(1);
    Ok(Reply::ok(WebhookReceipt { outcome }))
}
