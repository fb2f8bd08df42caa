//! `/healthz` and `/readyz` (the readiness rule is [`crate::health::ready`]), served by the
//! API and, with `/metrics`, on the health port of the worker, scheduler and relay roles.

use axum::extract::State;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use crate::api::layers::envelope::Reply;
use crate::api::layers::error::{ApiError, ApiResult};
use crate::health::Dependency;
use crate::store::Reader;
use crate::store::replica::{Bypass, Status};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the check passed.
    pub status: &'static str,
    /// Where staleness-tolerant reads go, when a read replica is configured. A bypassed
    /// replica does not make the process unready: the primary serves those reads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplicaHealth {
    /// `serving` (routed reads go to the replica), `bypassed` (they go to the primary)
    /// or `starting` (not sampled yet; the primary serves).
    pub state: &'static str,
    /// `unreachable`, `not_standby` or `lagging`, when bypassed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// How far behind the replica was at the last sample (ms), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<u64>,
}

impl ReplicaHealth {
    fn of(status: Status) -> Option<Self> {
        let ms =
            |lag: std::time::Duration| Some(u64::try_from(lag.as_millis()).unwrap_or(u64::MAX));
        let (state, reason, lag_ms) = match status {
            Status::Off => return None,
            Status::Starting => ("starting", None, None),
            Status::Serving { lag } => ("serving", None, ms(lag)),
            Status::Bypassed(Bypass::Unreachable) => ("bypassed", Some("unreachable"), None),
            Status::Bypassed(Bypass::NotStandby) => ("bypassed", Some("not_standby"), None),
            Status::Bypassed(Bypass::Lagging { lag }) => {
                ("bypassed", Some("lagging"), lag.and_then(ms))
            }
        };
        Some(ReplicaHealth {
            state,
            reason,
            lag_ms,
        })
    }
}

/// The process is alive (no dependency is checked: restarting it would not help).
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "alive", body = inline(crate::api::layers::envelope::Envelope<Health>))))]
pub async fn healthz() -> Reply<Health> {
    Reply::ok(Health {
        status: "ok",
        replica: None,
    })
}

/// Ready for traffic: the database answers within 2 s and every migration this binary
/// knows is applied. With a read replica configured, says where staleness-tolerant reads
/// go; a bypassed replica leaves the process ready.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "ready", body = inline(crate::api::layers::envelope::Envelope<Health>)),
        (status = 503, description = "database unreachable or migrations pending", body = crate::api::layers::error::ErrorEnvelope)))]
pub async fn readyz(State(reader): State<Reader>) -> ApiResult<Reply<Health>> {
    crate::health::ready(reader.primary())
        .await
        .map_err(ApiError::Unavailable)?;
    Ok(Reply::ok(Health {
        status: "ok",
        replica: ReplicaHealth::of(reader.status()),
    }))
}

/// The health port of a worker, scheduler or relay process: liveness, readiness (the
/// database, and `dependency` when the role has one: the relay's broker) and the
/// process's metrics, in the same envelope as the API's answers.
pub fn port_router(pool: PgPool, dependency: Option<Dependency>) -> axum::Router {
    let metrics = crate::telemetry::metrics_handle();
    let ready = move |State(reader): State<Reader>| {
        let dependency = dependency.clone();
        async move {
            let answer = readyz(State(reader)).await?;
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
        // these roles read nothing through a replica
        .with_state(Reader::primary_only(pool))
}
