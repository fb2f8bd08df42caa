//! `/healthz` and `/readyz` (the readiness rule is [`crate::health::ready`]), served by the
//! API and, with `/metrics`, on the health port of the worker, scheduler and relay roles.

use axum::extract::State;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::api::layers::envelope::Reply;
use crate::api::layers::error::{ApiError, ApiResult};
use crate::health::Dependency;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    pub status: &'static str,
}

/// The process is alive (no dependency is checked: restarting it would not help).
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "alive", body = inline(crate::api::layers::envelope::Envelope<Health>))))]
pub async fn healthz() -> Reply<Health> {
    Reply::ok(Health { status: "ok" })
}

/// Ready for traffic: the database answers within 2 s and every migration this binary
/// knows is applied.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "ready", body = inline(crate::api::layers::envelope::Envelope<Health>)),
        (status = 503, description = "database unreachable or migrations pending", body = crate::api::layers::error::ErrorEnvelope)))]
pub async fn readyz(State(pool): State<PgPool>) -> ApiResult<Reply<Health>> {
    crate::health::ready(&pool)
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(Reply::ok(Health { status: "ok" }))
}

/// The health port of a worker, scheduler or relay process: liveness, readiness (the
/// database, and `dependency` when the role has one: the relay's broker) and the
/// process's metrics, in the same envelope as the API's answers.
pub fn port_router(pool: PgPool, dependency: Option<Dependency>) -> axum::Router {
    let metrics = crate::telemetry::metrics_handle();
    let ready = move |State(pool): State<PgPool>| {
        let dependency = dependency.clone();
        async move {
            let answer = readyz(State(pool)).await?;
            if let Some(d) = &dependency {
                d.check().map_err(ApiError::Unavailable)?;
            }
            Ok::<_, ApiError>(answer)
        }
    };
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(ready))
        .route(
            "/metrics",
            axum::routing::get(move || async move { crate::health::prometheus_text(&metrics) }),
        )
        .fallback(crate::api::layers::middleware::not_found)
        .with_state(pool)
}
