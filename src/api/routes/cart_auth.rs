//! `/api/v1/cart/{token}/auth/*`: cart-level authentication. The rules live in
//! [`crate::carts::auth`].

use std::sync::Arc;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{LoginRequest, TokenResponse};
use crate::api::AppState;
use crate::api::layers::bearer::Caller;
use crate::api::layers::caller::ClientAddr;
use crate::api::layers::envelope::{Envelope, Reply};
use crate::api::layers::error::{ApiResult, ErrorEnvelope};
use crate::api::layers::extract::{ApiJson, ApiPath};
use crate::auth::Auth;
use crate::auth::login::Credentials;
use crate::carts::auth::{self as cart_auth, CartAuthCheck};
use crate::carts::view::CartView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(login))
}

/// Logged in and holding the cart.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartLoginResponse {
    pub auth: TokenResponse,
    /// The same cart (same token), now the student's, with any merged items.
    pub cart: CartView,
    /// How many of the student's other open carts were merged into this one (they
    /// are closed; their tokens answer 1001).
    pub merged_carts: usize,
}

/// Is the caller authenticated, do they own this cart, is it a guest cart. A cart of
/// another user answers 404 (1001), as an unknown token does.
#[utoipa::path(post, path = "/api/v1/cart/{token}/auth/check", tag = "cart",
    params(("token" = String, Path)), security((), ("bearer" = [])),
    responses(
        (status = 200, description = "the answer", body = inline(Envelope<CartAuthCheck>)),
        (status = 401, description = "a bearer token was sent but is bad: 5002, 5003, 5007", body = ErrorEnvelope),
        (status = 404, description = "1001 cart not found (or someone else's)", body = ErrorEnvelope)))]
async fn check(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Reply<CartAuthCheck>> {
    let viewer = caller.as_ref().map(Caller::user_id);
    Ok(Reply::ok(
        cart_auth::check(&state.pool, &token, viewer).await?,
    ))
}

/// Logs in with email and password and binds this guest cart to the student, merging
/// the student's other open cart(s) into it (docs/api.md, "Carts and accounts"). A cart the
/// student already owns is left as it is.
#[utoipa::path(post, path = "/api/v1/cart/{token}/auth/login", tag = "cart",
    params(("token" = String, Path)), request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in; the cart is the student's", body = inline(Envelope<CartLoginResponse>)),
        (status = 401, description = "5004 invalid email or password", body = ErrorEnvelope),
        (status = 404, description = "1001 cart not found (or someone else's)", body = ErrorEnvelope),
        (status = 429, description = "too many login attempts", body = ErrorEnvelope)))]
async fn login(
    State(state): State<AppState>,
    State(auth): State<Arc<Auth>>,
    ClientAddr(address): ClientAddr,
    ApiPath(token): ApiPath<String>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Reply<CartLoginResponse>> {
    let credentials = Credentials {
        email: body.email,
        password: body.password,
        device_id: body.device_id,
        address,
    };
    let done = cart_auth::login(&state.pool, &state.settings, &auth, &token, credentials).await?;
    Ok(Reply::ok(CartLoginResponse {
        auth: TokenResponse::new(done.user, done.issued),
        cart: done.cart,
        merged_carts: done.merged_carts,
    }))
}
