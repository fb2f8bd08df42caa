//! The storefront catalog: `GET /api/v1/internships` and `/api/v1/internships/{id}`.

use axum::extract::State;
use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::layers::envelope::{Envelope, Reply};
use crate::api::layers::error::{ApiResult, ErrorEnvelope};
use crate::api::layers::extract::ApiPath;
use crate::carts::CartError;
use crate::store::catalog::{self, Period, ProgramRow};

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub id: Uuid,
    pub period: Period,
    /// INR paise.
    pub price_minor: i64,
    pub currency: String,
    pub tax_inclusive: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CohortView {
    pub id: Uuid,
    pub starts_on: NaiveDate,
    pub capacity: i32,
    /// Capacity minus seats held by orders in flight and seats taken.
    pub seats_left: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramView {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub description: String,
    /// active | archived
    pub status: String,
    /// Shortest period first.
    pub plans: Vec<PlanView>,
    /// Upcoming cohorts (starting today or later), earliest first.
    pub cohorts: Vec<CohortView>,
    /// Seats left over all upcoming cohorts.
    pub seats_left: i64,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
}

/// Active internship programs with their plans, upcoming cohorts and seats left.
#[utoipa::path(get, path = "/api/v1/internships", tag = "catalog",
    responses((status = 200, description = "active programs", body = inline(Envelope<Vec<ProgramView>>))))]
async fn list(State(state): State<AppState>) -> ApiResult<Reply<Vec<ProgramView>>> {
    let mut conn = crate::store::acquire(&state.pool).await?;
    let programs = catalog::programs(&mut conn, false).await?;
    Ok(Reply::ok(views(&mut conn, programs).await?))
}

/// One program by id or slug (archived ones too, marked so).
#[utoipa::path(get, path = "/api/v1/internships/{id}", tag = "catalog",
    params(("id" = String, Path, description = "program id or slug")),
    responses(
        (status = 200, description = "the program", body = inline(Envelope<ProgramView>)),
        (status = 404, description = "1101 program not found", body = ErrorEnvelope)))]
async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<ProgramView>> {
    let mut conn = crate::store::acquire(&state.pool).await?;
    let program = catalog::find_program(&mut conn, &id)
        .await?
        .ok_or(CartError::ProgramNotFound(id))?;
    let mut views = views(&mut conn, vec![program]).await?;
    let view = views
        .pop()
        .ok_or_else(|| anyhow::anyhow!("program view missing"))?;
    Ok(Reply::ok(view))
}

/// Programs with their plans and upcoming cohorts, in two queries.
async fn views(
    conn: &mut PgConnection,
    programs: Vec<ProgramRow>,
) -> sqlx::Result<Vec<ProgramView>> {
    let ids: Vec<Uuid> = programs.iter().map(|p| p.id).collect();
    let plans = catalog::plans_of(conn, &ids).await?;
    let cohorts = catalog::cohorts_of(conn, &ids, Some(Utc::now().date_naive())).await?;
    Ok(programs
        .into_iter()
        .map(|p| {
            let cohorts: Vec<CohortView> = cohorts
                .iter()
                .filter(|c| c.program_id == p.id)
                .map(|c| CohortView {
                    id: c.id,
                    starts_on: c.starts_on,
                    capacity: c.capacity,
                    seats_left: c.seats_left(),
                })
                .collect();
            ProgramView {
                plans: plans
                    .iter()
                    .filter(|pl| pl.program_id == p.id)
                    .map(|pl| PlanView {
                        id: pl.id,
                        period: pl.period(),
                        price_minor: pl.price_minor,
                        currency: pl.currency.clone(),
                        tax_inclusive: pl.tax_inclusive,
                    })
                    .collect(),
                seats_left: cohorts.iter().map(|c| i64::from(c.seats_left)).sum(),
                cohorts,
                id: p.id,
                slug: p.slug,
                title: p.title,
                description: p.description,
                status: p.status,
            }
        })
        .collect())
}
