//! The HTTP API. [`routes`] are the doors: one file per resource, each with its
//! `router()`. [`layers`] are the wiring every request goes through: authentication,
//! idempotency, rate limits, security headers, correlation ids, the envelope and the one
//! error enum. Handlers stay thin: extract, authorize, call
//! the workflow or domain, reply.

pub mod layers;
pub mod mount;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::response::IntoResponse;
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use layers::error::{ApiError, ApiResult};

use layers::{
    bearer, caller, correlation, error, groups, guard, idempotency, middleware, ratelimit, security,
};
pub use mount::{ApiGroup, ApiGroups};
use routes::{docs, health, spec};

use crate::auth::Auth;
use crate::config::Settings;
use crate::gateways::Gateways;
use crate::store::Reader;
use crate::workflows::checkout::changes::OrderChanges;

/// What handlers can reach.
#[derive(Clone)]
pub struct AppState {
    /// The primary: writes, and every read of the caller's own data.
    pub pool: PgPool,
    /// Reads that tolerate a little staleness: the replica while it is healthy
    /// (`store::replica`).
    pub reader: Reader,
    pub settings: Arc<Settings>,
    /// Parsed signing and verification keys, built once at start-up.
    pub auth: Arc<Auth>,
    /// The payment gateways in failover order (only those with keys).
    pub gateways: Arc<Gateways>,
    /// Wakes requests waiting on an order when it changes (one LISTEN per process).
    pub order_changes: OrderChanges,
}

impl AppState {
    /// What the checkout workflow needs to start an order.
    pub fn checkout(&self) -> crate::workflows::checkout::orders::Checkout<'_> {
        crate::workflows::checkout::orders::Checkout {
            pool: &self.pool,
            settings: &self.settings,
            gateways: &self.gateways,
        }
    }

    /// Fails when the auth settings cannot produce keys (no `auth.jwt_secret`).
    pub fn new(pool: PgPool, settings: Settings) -> anyhow::Result<Self> {
        let gateways =
            Gateways::from_settings(&settings.razorpay, &settings.stripe, &settings.payments)?;
        let auth = Auth::from_settings(&settings.auth)?;
        auth.sessions.listen(&pool);
        let reader = Reader::new(pool.clone(), &settings.database)?;
        // ends when the last clone of the reader is dropped
        reader.spawn_sampler(tokio_util::sync::CancellationToken::new());
        Ok(AppState {
            reader,
            auth: Arc::new(auth),
            gateways: Arc::new(gateways),
            order_changes: OrderChanges::start(&pool),
            pool,
            settings: Arc::new(settings),
        })
    }
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Arc<Auth> {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Reader {
    fn from_ref(state: &AppState) -> Reader {
        state.reader.clone()
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> PgPool {
        state.pool.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "checkout",
        description = "Checkout and enrollment API. Every response is an envelope: \
            `{status, success, data}` or `{status, success: false, error: {code, message, \
            validation_messages, correlation_id, retryable, suggested_action}}`."
    ),
    components(schemas(error::ErrorEnvelope, error::ErrorBody)),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the auth routes refer to.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document of every route [`router`] serves, with the layers' error
/// answers added to every operation (`spec::GenericErrors` runs after the routes are
/// merged: `ApiDoc`'s own modifiers see no paths yet).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi_for(&ApiGroups::default())
}

/// [`openapi`] of a process that mounts only `groups`.
pub fn openapi_for(groups: &ApiGroups) -> utoipa::openapi::OpenApi {
    let mut doc = api_routes(groups).split_for_parts().1;
    utoipa::Modify::modify(&spec::GenericErrors, &mut doc);
    doc
}

/// The operational routes every process serves, and the resource routers of `groups`.
fn api_routes(groups: &ApiGroups) -> OpenApiRouter<AppState> {
    let ops = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(docs::page))
        .route("/docs/{file}", axum::routing::get(docs::asset));
    groups.mount(ops)
}

/// The whole API with its layers, ready to serve.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    router_for(state, &ApiGroups::default())
}

/// The API of a process that mounts only `groups` (`checkout serve --groups`), with
/// its layers; its `/openapi.json` lists only what it serves.
pub fn router_for(state: AppState, groups: &ApiGroups) -> anyhow::Result<Router> {
    let (routes, _) = api_routes(groups).split_for_parts();
    let spec = Spec(Arc::new(openapi_for(groups)));
    let routes = routes
        .with_state(state.clone())
        .layer(axum::Extension(spec));
    let layered = with_layers(routes, &state)?;
    Ok(layered)
}

/// The document `/openapi.json` answers: built once per process, for its groups.
#[derive(Clone)]
struct Spec(Arc<utoipa::openapi::OpenApi>);

/// Wraps `routes` in the layers every request goes through, outermost first:
///
/// 1. sensitive-header marking (`Authorization`, `Cookie`, ... print as `Sensitive`);
/// 2. the correlation id (it must exist before anything logs), then metrics;
/// 3. security headers and CORS (so every answer below, errors included, carries them);
/// 4. the request's route group and client address (`groups::context`);
/// 5. header count/size (431);
/// 6. bearer token -> `caller::CallerScope` (`bearer::scope`, signature only);
/// 7. rate limits per group (429);
/// 8. body: size (413), read under the request timeout, JSON depth (422), card data
///    (422, 6101);
/// 9. `Idempotency-Key` on POST (outside the timeout, so a timed-out request's key is
///    released rather than left locked);
/// 10. panic -> 500, request timeout -> 503;
///
/// plus the envelope fallbacks for unknown routes and methods. Route groups come from
/// the path (`groups::classify`), so resource routers need no per-handler code. Public
/// so tests can put probe routes behind the same stack. Fails only for an unusable
/// `ratelimit.redis_url`.
pub fn with_layers(routes: Router, state: &AppState) -> anyhow::Result<Router> {
    let s = &state.settings;
    let http = &s.http;
    let timeout = Duration::from_millis(http.request_timeout_ms);
    let limits = guard::Limits {
        max_headers: http.max_headers,
        max_header_bytes: http.max_header_bytes,
        json_max_depth: http.json_max_depth,
        body_timeout: timeout,
    };
    let trusted: Arc<Vec<caller::IpNet>> = Arc::new(
        s.ratelimit
            .trusted_proxies
            .iter()
            .filter_map(|p| caller::IpNet::parse(p))
            .collect(),
    );
    let limiter = Arc::new(ratelimit::RateLimiter::new(&s.ratelimit)?);
    let idem = idempotency::Idempotency::new(state.pool.clone(), &s.idempotency);
    use axum::middleware::{from_fn, from_fn_with_state};
    Ok(routes
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new(
                    security::SENSITIVE_REQUEST_HEADERS,
                ))
                .layer(SetSensitiveResponseHeadersLayer::new(
                    security::SENSITIVE_RESPONSE_HEADERS,
                ))
                .layer(from_fn(correlation::middleware))
                .layer(from_fn(middleware::metrics))
                .layer(from_fn_with_state(s.security.clone(), security::headers))
                .layer(security::cors(&s.cors))
                .layer(from_fn_with_state(trusted, groups::context))
                .layer(from_fn_with_state(limits, guard::headers))
                .layer(from_fn_with_state(state.auth.clone(), bearer::scope))
                .layer(from_fn_with_state(limiter, ratelimit::middleware))
                .layer(DefaultBodyLimit::max(http.body_limit_bytes))
                .layer(from_fn_with_state(limits, guard::body))
                .layer(from_fn_with_state(idem, idempotency::middleware))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(HandleErrorLayer::new(middleware::timeout_error))
                .layer(tower::timeout::TimeoutLayer::new(timeout)),
        ))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(axum::Extension(Spec(spec)): axum::Extension<Spec>) -> impl IntoResponse {
    axum::Json(spec.as_ref().clone())
}

pub use crate::server::{serve, serve_with};
