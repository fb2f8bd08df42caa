//! Liveness and readiness, served by every role (the worker and scheduler on a small
//! port of their own).

use std::time::Duration;

use axum::extract::State;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::envelope::Reply;
use super::error::{ApiError, ApiResult};
use crate::store;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    pub status: &'static str,
}

/// The process is alive (no dependency is checked: restarting it would not help).
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "alive", body = inline(super::envelope::Envelope<Health>))))]
pub async fn healthz() -> Reply<Health> {
    Reply::ok(Health { status: "ok" })
}

/// Ready for traffic: the database answers within 2 s and every migration this binary
/// knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "ready", body = inline(super::envelope::Envelope<Health>)),
        (status = 503, description = "database unreachable or migrations pending", body = super::error::ErrorEnvelope)))]
pub async fn readyz(State(pool): State<PgPool>) -> ApiResult<Reply<Health>> {
    let check = async {
        sqlx::query("select 1").execute(&pool).await?;
        store::migrations_current(&pool).await
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(true)) => Ok(Reply::ok(Health { status: "ok" })),
        Ok(Ok(false)) => Err(ApiError::Unavailable("migrations pending".into())),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!("database unreachable: {e}"))),
        Err(_) => Err(ApiError::Unavailable(
            "database did not answer in 2 s".into(),
        )),
    }
}

/// The router a worker or scheduler process serves on its health port: liveness,
/// readiness and the process's Prometheus metrics (queue fetches, worker restarts,
/// cron ticks).
pub fn router(pool: PgPool) -> axum::Router {
    let metrics = crate::telemetry::metrics_handle();
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .route(
            "/metrics",
            axum::routing::get(move || async move { super::prometheus_text(&metrics) }),
        )
        .fallback(super::middleware::not_found)
        .with_state(pool)
}
