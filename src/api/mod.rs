//! The HTTP API: one `router()` per resource module, the envelope, the error enum and
//! the layers every request goes through. Handlers stay thin: extract, authorize, call
//! the workflow or domain, reply.

pub mod auth;
pub mod bearer;
pub mod caller;
pub mod card;
pub mod cart_auth;
pub mod carts;
pub mod catalog;
pub mod correlation;
pub mod docs;
pub mod domain_errors;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod groups;
pub mod guard;
pub mod health;
pub mod idempotency;
pub mod middleware;
pub mod orders;
pub mod payments;
pub mod ratelimit;
pub mod security;
pub mod settings;
pub mod spec;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};

use crate::auth::Auth;
use crate::config::Settings;
use crate::gateways::Gateways;
use crate::workflows::checkout::changes::OrderChanges;

/// What handlers can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Parsed signing and verification keys, built once at start-up.
    pub auth: Arc<Auth>,
    /// The payment gateways in failover order (only those with keys).
    pub gateways: Arc<Gateways>,
    /// Wakes requests waiting on an order when it changes (one LISTEN per process).
    pub order_changes: OrderChanges,
}

impl AppState {
    /// Fails when the auth settings cannot produce keys (no `auth.jwt_secret`).
    pub fn new(
        pool: PgPool,
        settings: Settings,
        metrics: PrometheusHandle,
    ) -> anyhow::Result<Self> {
        let gateways =
            Gateways::from_settings(&settings.razorpay, &settings.stripe, &settings.payments)?;
        let auth = Auth::from_settings(&settings.auth)?;
        auth.sessions.listen(&pool);
        Ok(AppState {
            auth: Arc::new(auth),
            gateways: Arc::new(gateways),
            order_changes: OrderChanges::start(&pool),
            pool,
            settings: Arc::new(settings),
            metrics,
        })
    }
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Arc<Auth> {
        state.auth.clone()
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
    components(schemas(error::ErrorEnvelope, error::ErrorBody, error::ErrorCode)),
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
    let mut doc = api_routes().split_for_parts().1;
    utoipa::Modify::modify(&spec::GenericErrors, &mut doc);
    doc
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(docs::page))
        .route("/docs/{file}", axum::routing::get(docs::asset))
        .merge(catalog::router())
        .merge(carts::router())
        .merge(auth::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(cart_auth::router())
}

/// The whole API with its layers, ready to serve.
pub fn router(state: AppState) -> anyhow::Result<Router> {
    let (routes, _) = api_routes().split_for_parts();
    let layered = with_layers(routes.with_state(state.clone()), &state)?;
    Ok(layered)
}

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

/// Prometheus metrics of this process (HTTP requests by route and status, jobs,
/// gateway breakers).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    prometheus_text(&state.metrics)
}

/// A recorder's metrics as a Prometheus text response.
fn prometheus_text(handle: &PrometheusHandle) -> impl IntoResponse + use<> {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> impl IntoResponse {
    static SPEC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    axum::Json(SPEC.get_or_init(openapi).clone())
}

/// Serves `router` on `listener` until `shutdown`, then lets in-flight requests finish
/// for at most `grace`.
///
/// Our own accept loop on hyper-util rather than `axum::serve`, because `axum::serve`
/// gives hyper no timer: hyper's header read timeout then never fires, and a slow
/// client could hold a connection forever by trickling its headers. Here a client
/// must send its headers within `header_timeout`; after that the request timeout
/// layer bounds the body and the handler.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    serve_with(listener, router, shutdown, grace, Duration::from_secs(10)).await
}

/// [`serve`] with an explicit header read timeout (`http.header_read_timeout_ms`).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
    header_timeout: Duration,
) -> anyhow::Result<()> {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceExt;

    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // out of file descriptors and the like: back off instead of spinning
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Small JSON answers should leave at once, not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let service = router
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)))
            .map_request(|r: axum::http::Request<hyper::body::Incoming>| {
                r.map(axum::body::Body::new)
            });
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            tracing::warn!("in-flight requests did not finish within the grace period");
        }
    }
    Ok(())
}
