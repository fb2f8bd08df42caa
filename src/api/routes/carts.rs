//! Cart endpoints. Each handler extracts, calls one function of [`crate::carts`] and
//! replies; the rules live there.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::layers::bearer::Caller;
use crate::api::layers::envelope::{Envelope, Reply};
use crate::api::layers::error::{ApiResult, ErrorEnvelope};
use crate::api::layers::extract::{ApiJson, ApiPath};
use crate::carts::discounts::{self, Discounts};
use crate::carts::input::{ApplyCoupon, CreateCart, EstimateRequest, ItemInput};
use crate::carts::ops;
use crate::carts::view::{CartView, Estimate};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(create_via_proxy_path))
        .routes(routes!(estimate))
        .routes(routes!(get))
        .routes(routes!(add_item))
        .routes(routes!(switch_plan))
        .routes(routes!(remove_item))
        .routes(routes!(apply_coupon, remove_coupon))
        .routes(routes!(discounts))
}

/// Creates a cart (also at `/api-proxy/api/cart`): items, optional sale, currency,
/// device id and analytics. Nothing is created if anything is wrong.
#[utoipa::path(post, path = "/api/v1/cart", tag = "cart", request_body = CreateCart,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "the new cart with its token", body = inline(Envelope<CartView>)),
        (status = 404, description = "1101 program, 1102 plan, 1103 cohort not found", body = ErrorEnvelope),
        (status = 422, description = "1005, 1006, 1104, 2001, 2002, 2051, 2052, 9002", body = ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiJson(body): ApiJson<CreateCart>,
) -> ApiResult<Reply<CartView>> {
    Ok(Reply::created(
        ops::create(&state.pool, &state.settings, body, viewer(&caller)).await?,
    ))
}

/// The PRD's path for `POST /api/v1/cart`: the same operation.
#[utoipa::path(post, path = "/api-proxy/api/cart", tag = "cart", request_body = CreateCart,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "the new cart with its token", body = inline(Envelope<CartView>)),
        (status = 404, description = "as POST /api/v1/cart", body = ErrorEnvelope),
        (status = 422, description = "as POST /api/v1/cart", body = ErrorEnvelope)))]
async fn create_via_proxy_path(
    state: State<AppState>,
    caller: Option<Caller>,
    body: ApiJson<CreateCart>,
) -> ApiResult<Reply<CartView>> {
    create(state, caller, body).await
}

/// The cart, priced now from the catalog.
#[utoipa::path(get, path = "/api/v1/cart/{token}", tag = "cart",
    security((), ("bearer" = [])),
    params(("token" = String, Path)),
    responses(
        (status = 200, description = "the cart", body = inline(Envelope<CartView>)),
        (status = 404, description = "1001 cart not found", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope)))]
async fn get(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Reply<CartView>> {
    Ok(Reply::ok(
        ops::get(&state.pool, &state.settings, &token, viewer(&caller)).await?,
    ))
}

/// Adds an item; the same program and plan again raises its quantity.
#[utoipa::path(post, path = "/api/v1/cart/{token}/items", tag = "cart", request_body = ItemInput,
    security((), ("bearer" = [])),
    params(("token" = String, Path)),
    responses(
        (status = 200, description = "the cart", body = inline(Envelope<CartView>)),
        (status = 404, description = "1001, 1101, 1102, 1103", body = ErrorEnvelope),
        (status = 409, description = "1003 cart converted", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope),
        (status = 422, description = "1005 too many items, 1006 invalid quantity, 1104", body = ErrorEnvelope)))]
async fn add_item(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath(token): ApiPath<String>,
    ApiJson(body): ApiJson<ItemInput>,
) -> ApiResult<Reply<CartView>> {
    Ok(Reply::ok(
        ops::add_item(&state.pool, &state.settings, &token, body, viewer(&caller)).await?,
    ))
}

/// Switches the cart's item of this plan's program to this plan.
#[utoipa::path(put, path = "/api/v1/cart/{token}/plan/{plan_id}", tag = "cart",
    security((), ("bearer" = [])),
    params(("token" = String, Path), ("plan_id" = Uuid, Path)),
    responses(
        (status = 200, description = "the cart", body = inline(Envelope<CartView>)),
        (status = 404, description = "1001, 1004 no item of that program, 1102", body = ErrorEnvelope),
        (status = 409, description = "1003 cart converted", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope),
        (status = 422, description = "1006 quantity, 1104 program archived", body = ErrorEnvelope)))]
async fn switch_plan(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath((token, plan_id)): ApiPath<(String, Uuid)>,
) -> ApiResult<Reply<CartView>> {
    Ok(Reply::ok(
        ops::switch_plan(
            &state.pool,
            &state.settings,
            &token,
            plan_id,
            viewer(&caller),
        )
        .await?,
    ))
}

/// Removes an item.
#[utoipa::path(delete, path = "/api/v1/cart/{token}/item/{item_id}", tag = "cart",
    security((), ("bearer" = [])),
    params(("token" = String, Path), ("item_id" = Uuid, Path)),
    responses(
        (status = 200, description = "the cart", body = inline(Envelope<CartView>)),
        (status = 404, description = "1001, 1004", body = ErrorEnvelope),
        (status = 409, description = "1003 cart converted", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope)))]
async fn remove_item(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath((token, item_id)): ApiPath<(String, Uuid)>,
) -> ApiResult<Reply<CartView>> {
    Ok(Reply::ok(
        ops::remove_item(
            &state.pool,
            &state.settings,
            &token,
            item_id,
            viewer(&caller),
        )
        .await?,
    ))
}

/// Applies a coupon (checked now, redeemed only by an order). One per cart.
#[utoipa::path(post, path = "/api/v1/cart/{token}/coupon", tag = "cart", request_body = ApplyCoupon,
    security((), ("bearer" = [])),
    params(("token" = String, Path)),
    responses(
        (status = 200, description = "the cart with the coupon", body = inline(Envelope<CartView>)),
        (status = 404, description = "1001 cart not found", body = ErrorEnvelope),
        (status = 409, description = "1003 cart converted", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope),
        (status = 422, description = "2004 unknown coupon, 2040-2050 refusals", body = ErrorEnvelope)))]
async fn apply_coupon(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath(token): ApiPath<String>,
    ApiJson(body): ApiJson<ApplyCoupon>,
) -> ApiResult<Reply<CartView>> {
    Ok(Reply::ok(
        ops::apply_coupon(&state.pool, &state.settings, &token, body, viewer(&caller)).await?,
    ))
}

/// Removes the coupon (idempotent).
#[utoipa::path(delete, path = "/api/v1/cart/{token}/coupon", tag = "cart",
    security((), ("bearer" = [])),
    params(("token" = String, Path)),
    responses(
        (status = 200, description = "the cart", body = inline(Envelope<CartView>)),
        (status = 404, description = "1001 cart not found", body = ErrorEnvelope),
        (status = 409, description = "1003 cart converted", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope)))]
async fn remove_coupon(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Reply<CartView>> {
    Ok(Reply::ok(
        ops::remove_coupon(&state.pool, &state.settings, &token, viewer(&caller)).await?,
    ))
}

/// The cart's sale and the coupons that would apply now, with what each saves.
#[utoipa::path(get, path = "/api/v1/cart/{token}/discounts", tag = "cart",
    security((), ("bearer" = [])),
    params(("token" = String, Path)),
    responses(
        (status = 200, description = "discounts", body = inline(Envelope<Discounts>)),
        (status = 404, description = "1001 cart not found", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope)))]
async fn discounts(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Reply<Discounts>> {
    Ok(Reply::ok(
        discounts::available(
            &state.pool,
            &state.reader,
            &state.settings,
            &token,
            viewer(&caller),
        )
        .await?,
    ))
}

/// The full breakdown for a billing address: GST place of supply, components, totals;
/// optionally in another currency.
#[utoipa::path(post, path = "/api/v1/cart/estimate", tag = "cart", request_body = EstimateRequest,
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "the breakdown", body = inline(Envelope<Estimate>)),
        (status = 404, description = "1001 cart not found", body = ErrorEnvelope),
        (status = 410, description = "1002 cart expired", body = ErrorEnvelope),
        (status = 422, description = "2001, 2002, 2061, 2062, 2063", body = ErrorEnvelope),
        (status = 503, description = "2003 stale FX rate", body = ErrorEnvelope)))]
async fn estimate(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiJson(body): ApiJson<EstimateRequest>,
) -> ApiResult<Reply<Estimate>> {
    Ok(Reply::ok(
        ops::estimate(&state.pool, &state.settings, body, viewer(&caller)).await?,
    ))
}

/// The caller's user id: carts bound to a user open only for them (`carts::load_cart`).
/// A request without `Authorization` is a guest; a bad token is refused (401) rather
/// than silently treated as a guest.
fn viewer(caller: &Option<Caller>) -> Option<Uuid> {
    caller.as_ref().map(Caller::user_id)
}
