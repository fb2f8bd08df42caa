//! The storefront catalog: `GET /api/v1/internships` and `/api/v1/internships/{id}`.
//! Read through the [`Reader`] (the replica while it is healthy): a page that is a
//! second behind a catalog change is fine, and the order prices from the primary.

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
use crate::store::Reader;
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
async fn list(State(reader): State<Reader>) -> ApiResult<Reply<Vec<ProgramView>>> {
    let programs = reader
        .read(|conn| {
            Box::pin(async move {
                let programs = catalog::programs(conn, false).await?;
                views(conn, programs).await
            })
        })
        .await?;
    Ok(Reply::ok(programs))
}

/// One program by id or slug (archived ones too, marked so).
#[utoipa::path(get, path = "/api/v1/internships/{id}", tag = "catalog",
    params(("id" = String, Path, description = "program id or slug")),
    responses(
        (status = 200, description = "the program", body = inline(Envelope<ProgramView>)),
        (status = 404, description = "1101 program not found", body = ErrorEnvelope)))]
async fn show(
    State(reader): State<Reader>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Reply<ProgramView>> {
    let view = reader
        .read(|conn| {
            let id = id.clone();
            Box::pin(async move {
                match catalog::find_program(conn, &id).await? {
                    Some(program) => Ok(views(conn, vec![program]).await?.pop()),
                    None => Ok(None),
                }
            })
        })
        .await?
        .ok_or(CartError::ProgramNotFound(id))?;
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
