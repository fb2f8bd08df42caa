//! The HTTP API: one `router()` per resource module, the envelope, the error enum and
//! the layers every request goes through. Handlers stay thin: extract, authorize, call
//! the workflow or domain, reply.

pub mod auth;
pub mod caller;
pub mod correlation;
pub mod docs;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod health;
pub mod middleware;

use std::net::SocketAddr;
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
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ApiResult};

use crate::auth::Auth;
use crate::config::Settings;

/// What handlers can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub metrics: PrometheusHandle,
    /// Parsed signing and verification keys, built once at start-up.
    pub auth: Arc<Auth>,
}

impl AppState {
    /// Fails when the auth settings cannot produce keys (no `auth.jwt_secret`).
    pub fn new(
        pool: PgPool,
        settings: Settings,
        metrics: PrometheusHandle,
    ) -> anyhow::Result<Self> {
        Ok(AppState {
            auth: Arc::new(Auth::from_settings(&settings.auth)?),
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

/// The OpenAPI document of every route [`router`] serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().split_for_parts().1
}

fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(docs::page))
        .merge(auth::router())
}

/// The whole API with its layers, ready to serve.
pub fn router(state: AppState) -> Router {
    let (routes, _) = api_routes().split_for_parts();
    let http = state.settings.http.clone();
    with_layers(routes.with_state(state), &http)
}

/// Wraps `routes` in the layers every request goes through, outermost first: the
/// correlation id (it must exist before anything logs), metrics, panic -> 500, the
/// request timeout, the body limit; plus the envelope fallbacks for unknown routes and
/// methods. Public so tests can put probe routes behind the same layers.
pub fn with_layers(routes: Router, http: &crate::config::HttpSettings) -> Router {
    routes
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(correlation::middleware))
                .layer(axum::middleware::from_fn(middleware::metrics))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(HandleErrorLayer::new(middleware::timeout_error))
                .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(
                    http.request_timeout_ms,
                )))
                .layer(DefaultBodyLimit::max(http.body_limit_bytes)),
        )
}

/// Prometheus metrics of this process (HTTP requests by route and status, jobs,
/// gateway breakers).
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
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
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    tokio::select! {
        result = server => Ok(result?),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("in-flight requests did not finish within the grace period");
            Ok(())
        }
    }
}
