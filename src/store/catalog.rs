//! Programs, plans and cohorts: reads for the storefront and cart pricing, upserts for
//! the catalog import.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sqlx::{FromRow, PgConnection};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ledger::{self, Entry, Kind};

#[derive(Debug, Clone, FromRow)]
pub struct ProgramRow {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub description: String,
    /// `active` or `archived`.
    pub status: String,
}

impl ProgramRow {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// A billing period unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeriodUnit {
    Month,
    Year,
}

impl PeriodUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodUnit::Month => "month",
            PeriodUnit::Year => "year",
        }
    }

    /// Reads the stored text (the column's check allows only these two).
    pub fn from_db(s: &str) -> PeriodUnit {
        if s == "year" {
            PeriodUnit::Year
        } else {
            PeriodUnit::Month
        }
    }
}

/// A billing period: 3 months, 1 year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub value: i32,
    pub unit: PeriodUnit,
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = self.unit.as_str();
        if self.value == 1 {
            write!(f, "1 {unit}")
        } else {
            write!(f, "{} {unit}s", self.value)
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct PlanRow {
    pub id: Uuid,
    pub program_id: Uuid,
    pub period_value: i32,
    pub period_unit: String,
    pub price_minor: i64,
    pub currency: String,
    pub tax_inclusive: bool,
}

impl PlanRow {
    pub fn period(&self) -> Period {
        Period {
            value: self.period_value,
            unit: PeriodUnit::from_db(&self.period_unit),
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct CohortRow {
    pub id: Uuid,
    pub program_id: Uuid,
    pub starts_on: NaiveDate,
    pub capacity: i32,
    pub seats_held: i32,
    pub seats_taken: i32,
}

impl CohortRow {
    pub fn seats_left(&self) -> i32 {
        (self.capacity - self.seats_held - self.seats_taken).max(0)
    }
}

/// Programs, active ones only unless `include_archived`, by title.
pub async fn programs(
    conn: &mut PgConnection,
    include_archived: bool,
) -> sqlx::Result<Vec<ProgramRow>> {
    sqlx::query_as!(
        ProgramRow,
        "select id, slug, title, description, status
         from programs where $1 or status = 'active' order by title, id",
        include_archived
    )
    .fetch_all(conn)
    .await
}

/// A program by id or, when `key` is not a uuid, by slug.
pub async fn find_program(conn: &mut PgConnection, key: &str) -> sqlx::Result<Option<ProgramRow>> {
    let id = Uuid::parse_str(key).ok();
    sqlx::query_as!(
        ProgramRow,
        "select id, slug, title, description, status
         from programs where id = $1 or ($1 is null and slug = $2)",
        id,
        key.trim().to_lowercase()
    )
    .fetch_optional(conn)
    .await
}

/// The plans of the given programs, in display order.
pub async fn plans_of(conn: &mut PgConnection, program_ids: &[Uuid]) -> sqlx::Result<Vec<PlanRow>> {
    // display order: shortest period first
    sqlx::query_as!(
        PlanRow,
        "select id, program_id, period_value, period_unit, price_minor, currency, tax_inclusive
         from plans where program_id = any($1)
         order by program_id, period_value * case period_unit when 'year' then 12 else 1 end, id",
        program_ids
    )
    .fetch_all(conn)
    .await
}

pub async fn find_plan(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<PlanRow>> {
    sqlx::query_as!(
        PlanRow,
        "select id, program_id, period_value, period_unit, price_minor, currency, tax_inclusive
         from plans where id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

/// The plan of `program_id` for a period ("internship + period" cart items).
pub async fn find_plan_by_period(
    conn: &mut PgConnection,
    program_id: Uuid,
    period: Period,
) -> sqlx::Result<Option<PlanRow>> {
    sqlx::query_as!(
        PlanRow,
        "select id, program_id, period_value, period_unit, price_minor, currency, tax_inclusive
         from plans where program_id = $1 and period_value = $2 and period_unit = $3",
        program_id,
        period.value,
        period.unit.as_str()
    )
    .fetch_optional(conn)
    .await
}

/// Cohorts of the given programs by start date; only those starting on or after
/// `from` when given (the storefront shows upcoming cohorts only).
pub async fn cohorts_of(
    conn: &mut PgConnection,
    program_ids: &[Uuid],
    from: Option<NaiveDate>,
) -> sqlx::Result<Vec<CohortRow>> {
    sqlx::query_as!(
        CohortRow,
        "select id, program_id, starts_on, capacity, seats_held, seats_taken
         from cohorts where program_id = any($1) and ($2::date is null or starts_on >= $2)
         order by program_id, starts_on, id",
        program_ids,
        from
    )
    .fetch_all(conn)
    .await
}

pub async fn find_cohort(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<CohortRow>> {
    sqlx::query_as!(
        CohortRow,
        "select id, program_id, starts_on, capacity, seats_held, seats_taken
         from cohorts where id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn upsert_program(conn: &mut PgConnection, p: &ProgramRow) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into programs (id, slug, title, description, status) values ($1, $2, $3, $4, $5)
         on conflict (id) do update set slug = excluded.slug, title = excluded.title,
             description = excluded.description, status = excluded.status",
        p.id,
        p.slug,
        p.title,
        p.description,
        p.status,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts or updates a plan; a new price (a new plan, or a changed amount, currency or
/// tax treatment) is a `price_changed` ledger row.
pub async fn upsert_plan(conn: &mut PgConnection, p: &PlanRow) -> sqlx::Result<()> {
    // the CTE reads the row as it was before this statement
    let old = sqlx::query!(
        "with old as (select price_minor, currency, tax_inclusive from plans where id = $1)
         insert into plans (id, program_id, period_value, period_unit, price_minor, currency,
             tax_inclusive)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (id) do update set period_value = excluded.period_value,
             period_unit = excluded.period_unit, price_minor = excluded.price_minor,
             currency = excluded.currency, tax_inclusive = excluded.tax_inclusive
         returning (select price_minor from old) as old_price,
                   (select currency from old) as old_currency,
                   (select tax_inclusive from old) as old_tax_inclusive",
        p.id,
        p.program_id,
        p.period_value,
        p.period_unit,
        p.price_minor,
        p.currency,
        p.tax_inclusive,
    )
    .fetch_one(&mut *conn)
    .await?;
    let price = |amount: Option<i64>, currency: Option<&str>, tax_inclusive: Option<bool>| {
        serde_json::json!({"price_minor": amount, "currency": currency,
                           "tax_inclusive": tax_inclusive})
    };
    let before = price(
        old.old_price,
        old.old_currency.as_deref(),
        old.old_tax_inclusive,
    );
    let after = price(
        Some(p.price_minor),
        Some(&p.currency),
        Some(p.tax_inclusive),
    );
    if before != after {
        let entry = Entry::about("plan", p.id.to_string(), Kind::PriceChanged)
            .currency(Some(&p.currency))
            .before(before)
            .after(after);
        ledger::append(conn, &entry).await?;
    }
    Ok(())
}

/// Inserts or updates a cohort's date and capacity; the seat counters are never
/// touched by the import.
pub async fn upsert_cohort(conn: &mut PgConnection, c: &CohortRow) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into cohorts (id, program_id, starts_on, capacity) values ($1, $2, $3, $4)
         on conflict (id) do update set starts_on = excluded.starts_on,
             capacity = excluded.capacity",
        c.id,
        c.program_id,
        c.starts_on,
        c.capacity,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every plan and cohort (the import resolves natural keys and checks ownership
/// against them).
pub async fn all_plans(conn: &mut PgConnection) -> sqlx::Result<Vec<PlanRow>> {
    sqlx::query_as!(
        PlanRow,
        "select id, program_id, period_value, period_unit, price_minor, currency, tax_inclusive
         from plans order by program_id, period_value * case period_unit when 'year' then 12 else 1 end, id"
    )
    .fetch_all(conn)
    .await
}

pub async fn all_cohorts(conn: &mut PgConnection) -> sqlx::Result<Vec<CohortRow>> {
    sqlx::query_as!(
        CohortRow,
        "select id, program_id, starts_on, capacity, seats_held, seats_taken
         from cohorts order by program_id, starts_on, id"
    )
    .fetch_all(conn)
    .await
}
