//! Seat holds and the cohort seat counters they move.
//!
//! A cohort's `seats_held + seats_taken <= capacity` is a check constraint; every
//! counter change is a single conditional UPDATE in the same transaction as the hold's
//! status change, so 100 buyers for 10 seats get exactly 10 holds, and a hold is
//! released or converted exactly once (the status guards the counter).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Hold {
    pub id: Uuid,
    pub cohort_id: Uuid,
    pub program_id: Uuid,
    /// held, converted or released
    pub status: String,
    pub expires_at: DateTime<Utc>,
}

/// The cohort a program's seat is held in: the one asked for, else the earliest
/// upcoming cohort with a free seat.
pub async fn pick_cohort(conn: &mut PgConnection, program_id: Uuid) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar!(
        "select id from cohorts
         where program_id = $1 and starts_on >= current_date
           and seats_held + seats_taken < capacity
         order by starts_on, id limit 1",
        program_id
    )
    .fetch_optional(conn)
    .await
}

/// Takes one held seat in `cohort_id` and records the hold. False when the cohort is
/// full (nothing written).
pub async fn hold(
    conn: &mut PgConnection,
    order_id: Uuid,
    cohort_id: Uuid,
    program_id: Uuid,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    // one statement: the cohort row stays locked from here to the commit, and every
    // checkout of a popular cohort queues on it
    sqlx::query!(
        "with took as (
             update cohorts set seats_held = seats_held + 1
             where id = $3 and seats_held + seats_taken < capacity
             returning id
         )
         insert into seat_holds (id, order_id, cohort_id, program_id, expires_at)
         select $1, $2, id, $4, $5 from took",
        Uuid::now_v7(),
        order_id,
        cohort_id,
        program_id,
        expires_at,
    )
    .execute(conn)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// The columns of a [`Hold`], for the statements built at run time
/// ([`crate::store::orders::detail`]); the checked statements spell them out.
pub(crate) const COLUMNS: &str = "id, cohort_id, program_id, status, expires_at";

pub async fn for_order(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Vec<Hold>> {
    sqlx::query_as!(
        Hold,
        "select id, cohort_id, program_id, status, expires_at
         from seat_holds where order_id = $1 order by created_at, id",
        order_id
    )
    .fetch_all(conn)
    .await
}

/// A seat hold [`release_all`] released.
#[derive(Debug, Clone)]
pub struct Released {
    pub cohort_id: Uuid,
    pub expires_at: DateTime<Utc>,
    /// It had expired when it was released (else the order ended first).
    pub expired: bool,
}

/// Releases every held seat of the order; returns the holds released.
pub async fn release_all(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Vec<Released>> {
    let released = sqlx::query_as!(
        Released,
        r#"update seat_holds set status = 'released'
         where order_id = $1 and status = 'held'
         returning cohort_id, expires_at, expires_at <= now() as "expired!""#,
        order_id
    )
    .fetch_all(&mut *conn)
    .await?;
    for hold in &released {
        sqlx::query!(
            "update cohorts set seats_held = seats_held - 1 where id = $1",
            hold.cohort_id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(released)
}

/// Turns a held seat into a taken one. For a hold that was released meanwhile (it
/// expired before the payment arrived) a free seat is taken afresh if there is one.
/// False when no seat can be had: the payment must be refunded.
pub async fn convert(conn: &mut PgConnection, hold: &Hold) -> sqlx::Result<bool> {
    let converted = sqlx::query!(
        "update seat_holds set status = 'converted' where id = $1 and status = 'held'",
        hold.id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if converted {
        sqlx::query!(
            "update cohorts set seats_held = seats_held - 1, seats_taken = seats_taken + 1
             where id = $1",
            hold.cohort_id
        )
        .execute(&mut *conn)
        .await?;
        return Ok(true);
    }
    let status: String =
        sqlx::query_scalar!("select status from seat_holds where id = $1", hold.id)
            .fetch_one(&mut *conn)
            .await?;
    if status == "converted" {
        return Ok(true);
    }
    let took = sqlx::query!(
        "update cohorts set seats_taken = seats_taken + 1
         where id = $1 and seats_held + seats_taken < capacity",
        hold.cohort_id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if took {
        sqlx::query!(
            "update seat_holds set status = 'converted' where id = $1",
            hold.id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(took)
}

/// Gives back the seats of converted holds (an enrolled order refunded by an operator).
pub async fn give_back_converted(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<u64> {
    let cohorts: Vec<Uuid> = sqlx::query_scalar!(
        "update seat_holds set status = 'released'
         where order_id = $1 and status = 'converted' returning cohort_id",
        order_id
    )
    .fetch_all(&mut *conn)
    .await?;
    for cohort in &cohorts {
        sqlx::query!(
            "update cohorts set seats_taken = seats_taken - 1 where id = $1",
            cohort
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(cohorts.len() as u64)
}

/// Orders (after `after`, by id, at most `limit`) that still hold a seat past its
/// expiry although they ended without it (failed, expired, cancelled, refunded):
/// compensation should have released them. Paid orders are left to `enroll`, which
/// converts their holds.
pub async fn orphaned_orders(
    conn: &mut PgConnection,
    after: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar!(
        "select distinct h.order_id from seat_holds h join orders o on o.id = h.order_id
         where h.status = 'held' and h.expires_at <= now() and h.order_id > $1
           and o.status in ('failed', 'expired', 'cancelled', 'refunded')
         order by h.order_id limit $2",
        after,
        limit,
    )
    .fetch_all(conn)
    .await
}

/// Whether a seat of the order is gone: a hold released (it expired) in a cohort now
/// full, so `enroll` could not take it again. A read without locks, for deciding not to
/// capture; `enroll` decides under its locks.
pub async fn seat_lost(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (
             select 1 from seat_holds h join cohorts c on c.id = h.cohort_id
              where h.order_id = $1 and h.status = 'released'
                and c.seats_held + c.seats_taken >= c.capacity) as "lost!""#,
        order_id
    )
    .fetch_one(conn)
    .await
}
