//! `/healthz` and `/readyz` of the API (the readiness rule is [`crate::health::ready`]).

use axum::extract::State;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::api::layers::envelope::Reply;
use crate::api::layers::error::{ApiError, ApiResult};

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
