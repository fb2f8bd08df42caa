//! Sales: slug, discount, window.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::coupons::{discount_columns, discount_from_columns};
use crate::domain::Sale;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSale {
    pub id: Uuid,
    pub title: String,
    pub sale: Sale,
}

struct Row {
    id: Uuid,
    slug: String,
    title: String,
    kind: String,
    percent: Option<Decimal>,
    fixed_minor: Option<i64>,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    active: bool,
}

impl From<Row> for StoredSale {
    fn from(r: Row) -> Self {
        StoredSale {
            id: r.id,
            title: r.title,
            sale: Sale {
                slug: r.slug,
                kind: discount_from_columns(&r.kind, r.percent, r.fixed_minor),
                valid_from: r.valid_from,
                valid_until: r.valid_until,
                active: r.active,
            },
        }
    }
}

pub async fn find_by_slug(conn: &mut PgConnection, slug: &str) -> sqlx::Result<Option<StoredSale>> {
    let row = sqlx::query_as!(
        Row,
        "select id, slug, title, kind, percent, fixed_minor, valid_from, valid_until, active
         from sales where slug = $1",
        slug.trim().to_lowercase()
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<StoredSale>> {
    let row = sqlx::query_as!(
        Row,
        "select id, slug, title, kind, percent, fixed_minor, valid_from, valid_until, active
         from sales where id = $1",
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

pub async fn all(conn: &mut PgConnection) -> sqlx::Result<Vec<StoredSale>> {
    let rows = sqlx::query_as!(
        Row,
        "select id, slug, title, kind, percent, fixed_minor, valid_from, valid_until, active
         from sales order by slug"
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Inserts or updates a sale by slug (its id is kept).
pub async fn upsert(conn: &mut PgConnection, title: &str, sale: &Sale) -> sqlx::Result<()> {
    let (kind, percent, fixed) = discount_columns(&sale.kind);
    sqlx::query!(
        "insert into sales (slug, title, kind, percent, fixed_minor, valid_from, valid_until, active)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (slug) do update set title = excluded.title, kind = excluded.kind,
             percent = excluded.percent, fixed_minor = excluded.fixed_minor,
             valid_from = excluded.valid_from, valid_until = excluded.valid_until,
             active = excluded.active",
        sale.slug,
        title,
        kind,
        percent,
        fixed,
        sale.valid_from,
        sale.valid_until,
        sale.active,
    )
    .execute(conn)
    .await?;
    Ok(())
}
