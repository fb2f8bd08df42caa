//! Orders: create (starts the checkout saga), read, cancel; the caller's enrollments.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::AppState;
use crate::api::layers::bearer::Caller;
use crate::api::layers::envelope::{Envelope, Reply};
use crate::api::layers::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::api::layers::extract::{ApiJson, ApiPath, ApiQuery};
use crate::carts::input::BillingAddressInput;
use crate::domain::order::OrderStatus;
use crate::store::{enrollments, orders};
use crate::workflows::checkout::orders as flow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(list_enrollments))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    pub cart_token: String,
    pub billing_address: BillingAddressInput,
    /// `razorpay` or `stripe`: tried first; the others remain the fallback.
    pub gateway: Option<String>,
    /// Where the gateway sends the buyer back; its origin must be allowed.
    /// `{order_token}` in it is replaced by the new order's token.
    pub return_url: Option<String>,
    /// Like `return_url`, for a buyer who cancels on the gateway's page.
    pub cancel_url: Option<String>,
}

/// Starts the checkout of the caller's cart. Waits briefly for the payment session:
/// 201 with `payment` when it is ready (a free order, `payment_required: false`, has
/// none: 201 once it is paid), else 202 with a `Location` to poll. Repeating it
/// for a cart that already has an order answers that order (one order per cart).
#[utoipa::path(post, path = "/api/v1/order", tag = "orders", request_body = CreateOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Stripe-style idempotency key")),
    responses(
        (status = 201, description = "order created, payment session ready", body = inline(Envelope<flow::OrderView>)),
        (status = 202, description = "order created, payment session not ready yet; poll Location", body = inline(Envelope<flow::OrderView>)),
        (status = 200, description = "the cart's existing order", body = inline(Envelope<flow::OrderView>)),
        (status = 401, description = "not authenticated", body = ErrorEnvelope),
        (status = 404, description = "cart not found", body = ErrorEnvelope),
        (status = 422, description = "cart empty, expired, not priceable (2061 billing address, 2062 GSTIN, 2063 billing name or address lines), or a bad field", body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn create_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateOrder>,
) -> ApiResult<Response> {
    let request = flow::OrderRequest {
        cart_token: body.cart_token,
        billing_address: body.billing_address.try_into()?,
        gateway: body.gateway,
        return_url: body.return_url,
        cancel_url: body.cancel_url,
    };
    let (order_id, created) = flow::create(state.checkout(), caller.user_id(), request).await?;
    let wait = Duration::from_millis(state.settings.checkout.order_wait_ms);
    let wait = if created { wait } else { Duration::ZERO };
    // the payment session and `awaiting_payment` are committed together
    let pending = OrderStatus::Pending.as_str();
    // a new order is `pending` at the commit that just returned
    let known = created.then(|| pending.to_owned());
    let view = flow::wait_while(
        &state.pool,
        &state.order_changes,
        order_id,
        pending,
        known,
        wait,
    )
    .await?;
    // ready: a session to pay, an ended order, or a free order past `pending`
    let ready = view.payment.is_some()
        || view.is_terminal()
        || (!view.payment_required && view.status != pending);
    let status = match (created, ready) {
        (false, _) => StatusCode::OK,
        (true, true) => StatusCode::CREATED,
        (true, false) => StatusCode::ACCEPTED,
    };
    let location = format!("/api/v1/order/{}", view.order_token);
    let mut response = Reply(status, view).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// The longest `GET /order/{token}?wait_ms=` may hold a request.
pub const MAX_WAIT_MS: u64 = 10_000;

/// Long-polling instead of polling: the answer comes as soon as the order's status is no
/// longer `status`, or after `wait_ms` with the order as it is then. The wait is cut to
/// 80 % of `http.request_timeout_ms` (8 s by default), so the answer always comes before
/// the request would time out.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderWait {
    /// Wait up to this many milliseconds (0-10000) for the status to change.
    #[param(minimum = 0, maximum = 10_000)]
    pub wait_ms: Option<u64>,
    /// The status the client last saw (default: the status now, i.e. wait for the next
    /// change). An order already in another status is answered at once.
    pub status: Option<String>,
}

/// The order with its amounts, payments, enrollments and step timeline. Only its owner
/// sees it; anyone else gets 404. With `wait_ms`, a long poll (see [`OrderWait`]).
#[utoipa::path(get, path = "/api/v1/order/{order_token}", tag = "orders",
    params(("order_token" = String, Path), OrderWait),
    responses(
        (status = 200, description = "the order", body = inline(Envelope<flow::OrderView>)),
        (status = 401, description = "not authenticated", body = ErrorEnvelope),
        (status = 404, description = "no such order for this caller", body = ErrorEnvelope),
        (status = 422, description = "wait_ms above 10000", body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(token): ApiPath<String>,
    ApiQuery(wait): ApiQuery<OrderWait>,
) -> ApiResult<Reply<flow::OrderView>> {
    let wait_ms = wait.wait_ms.unwrap_or(0);
    if wait_ms > MAX_WAIT_MS {
        return Err(ApiError::Validation(vec![format!(
            "wait_ms: at most {MAX_WAIT_MS}"
        )]));
    }
    let order = owned(&state, &caller, &token).await?;
    let seen = wait.status.unwrap_or_else(|| order.status.clone());
    let wait_ms = wait_ms.min(state.settings.http.request_timeout_ms * 4 / 5);
    let wait = Duration::from_millis(wait_ms);
    let view = flow::wait_while(
        &state.pool,
        &state.order_changes,
        order.id,
        &seen,
        Some(order.status),
        wait,
    )
    .await?;
    Ok(Reply::ok(view))
}

/// Cancels an order that is not paid yet; seats, coupon and sessions are given back
/// and the cart reopens. A paid order cannot be cancelled (409).
#[utoipa::path(post, path = "/api/v1/order/{order_token}/cancel", tag = "orders",
    params(("order_token" = String, Path)),
    responses(
        (status = 200, description = "cancelled (compensation runs in the background)", body = inline(Envelope<flow::OrderView>)),
        (status = 404, description = "no such order for this caller", body = ErrorEnvelope),
        (status = 409, description = "the order is paid or already ended", body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn cancel_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Reply<flow::OrderView>> {
    let order = owned(&state, &caller, &token).await?;
    flow::cancel(&state.pool, order.id).await?;
    Ok(Reply::ok(flow::view(&state.pool, order.id).await?))
}

/// The caller's order by token: anyone else's, or none, is 404 (7001).
pub(super) async fn owned(
    state: &AppState,
    caller: &Caller,
    token: &str,
) -> ApiResult<orders::Order> {
    let mut conn = crate::store::acquire(&state.pool).await?;
    match orders::by_token(&mut conn, token).await? {
        Some(o) if o.user_id == caller.user_id() => Ok(o),
        _ => Err(ApiError::OrderNotFound),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentList {
    pub enrollments: Vec<enrollments::Enrollment>,
}

/// The caller's enrollments, newest first.
#[utoipa::path(get, path = "/api/v1/enrollments", tag = "orders",
    responses(
        (status = 200, description = "the caller's enrollments", body = inline(Envelope<EnrollmentList>)),
        (status = 401, description = "not authenticated", body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn list_enrollments(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Reply<EnrollmentList>> {
    let mut conn = crate::store::acquire(&state.pool).await?;
    let enrollments = enrollments::for_user(&mut conn, caller.user_id()).await?;
    Ok(Reply::ok(EnrollmentList { enrollments }))
}
