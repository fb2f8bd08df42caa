//! Enrollments: unique per user and cohort, so enrolling is an upsert.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Enrollment {
    pub id: Uuid,
    pub cohort_id: Uuid,
    pub program_id: Uuid,
    pub order_id: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Enrolls the user; returns the order that owns the enrollment (this one, or an
/// earlier order that already enrolled the user in that cohort).
pub async fn upsert(
    conn: &mut PgConnection,
    user_id: Uuid,
    cohort_id: Uuid,
    program_id: Uuid,
    order_id: Uuid,
) -> sqlx::Result<Uuid> {
    sqlx::query!(
        "insert into enrollments (id, user_id, cohort_id, program_id, order_id)
         values ($1, $2, $3, $4, $5) on conflict (user_id, cohort_id) do nothing",
        Uuid::now_v7(),
        user_id,
        cohort_id,
        program_id,
        order_id,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar!(
        "select order_id from enrollments where user_id = $1 and cohort_id = $2",
        user_id,
        cohort_id
    )
    .fetch_one(conn)
    .await
}

/// The columns of an [`Enrollment`], for the statements built at run time
/// ([`crate::store::orders::detail`]); the checked statements spell them out.
pub(crate) const COLUMNS: &str = "id, cohort_id, program_id, order_id, created_at";

pub async fn for_user(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Vec<Enrollment>> {
    sqlx::query_as!(
        Enrollment,
        "select id, cohort_id, program_id, order_id, created_at
         from enrollments where user_id = $1 order by created_at desc",
        user_id
    )
    .fetch_all(conn)
    .await
}

pub async fn remove_for_order(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<u64> {
    Ok(
        sqlx::query!("delete from enrollments where order_id = $1", order_id)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
