//! Liveness, readiness and metrics. [`ready`] is the one readiness rule (the API's
//! `/readyz` answers it too); [`router`] serves the three endpoints on the small port a
//! worker or scheduler process opens for its orchestrator and for Prometheus.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use sqlx::PgPool;

use crate::domain::codes::ErrorCode;
use crate::store;

/// Ready for work: the database answers within 2 s and every migration this binary
/// knows is applied. `Err` says which is not so.
pub async fn ready(pool: &PgPool) -> Result<(), String> {
    let check = async {
        sqlx::query("select 1").execute(pool).await?;
        store::migrations_current(pool).await
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err("migrations pending".into()),
        Ok(Err(e)) => Err(format!("database unreachable: {e}")),
        Err(_) => Err("database did not answer in 2 s".into()),
    }
}

/// The process's metrics in the Prometheus text format.
pub fn prometheus_text(handle: &PrometheusHandle) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
        .into_response()
}

/// `/healthz`, `/readyz` and `/metrics` of a worker or scheduler, answered in the same
/// envelope as the API's (`{status, success, data}` or `{..., error: {code, ...}}`).
pub fn router(pool: PgPool) -> Router {
    let metrics = crate::telemetry::metrics_handle();
    Router::new()
        .route("/healthz", get(|| async { ok() }))
        .route(
            "/readyz",
            get(
                |axum::extract::State(pool): axum::extract::State<PgPool>| async move {
                    match ready(&pool).await {
                        Ok(()) => ok(),
                        Err(why) => unavailable(&why),
                    }
                },
            ),
        )
        .route(
            "/metrics",
            get(move || async move { prometheus_text(&metrics) }),
        )
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                ErrorCode::RouteNotFound,
                "no such route on the health port",
                false,
            )
        })
        .with_state(pool)
}

fn ok() -> Response {
    let body = json!({"status": 200, "success": true, "data": {"status": "ok"}});
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn unavailable(why: &str) -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServiceUnavailable,
        why,
        true,
    )
}

fn error(status: StatusCode, code: ErrorCode, message: &str, retryable: bool) -> Response {
    let body = json!({
        "status": status.as_u16(),
        "success": false,
        "error": {
            "code": code.as_u32(),
            "message": message,
            "correlation_id": crate::telemetry::correlation_id(),
            "retryable": retryable,
        }
    });
    (status, axum::Json(body)).into_response()
}
