//! FX rates, INR -> quote, one row per quote and date.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use crate::domain::{Currency, FxRate};

struct Row {
    quote: String,
    rate: Decimal,
    as_of: DateTime<Utc>,
}

impl Row {
    fn into_rate(self) -> Option<FxRate> {
        Some(FxRate {
            base: Currency::INR,
            quote: Currency::parse(&self.quote).ok()?,
            rate: self.rate,
            as_of: self.as_of,
        })
    }
}

/// The newest rate for `quote` already in effect at `now` (the same choice as
/// [`crate::domain::latest_rate`]); pricing then checks its age.
pub async fn latest(
    conn: &mut PgConnection,
    quote: Currency,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<FxRate>> {
    let row = sqlx::query_as!(
        Row,
        "select quote, rate, as_of from fx_rates where quote = $1 and as_of <= $2
         order by as_of desc limit 1",
        quote.code(),
        now
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(Row::into_rate))
}

pub async fn all(conn: &mut PgConnection) -> sqlx::Result<Vec<FxRate>> {
    let rows = sqlx::query_as!(
        Row,
        "select quote, rate, as_of from fx_rates order by quote, as_of"
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().filter_map(Row::into_rate).collect())
}

/// Inserts a rate, or corrects the rate of the same quote and date.
pub async fn upsert(conn: &mut PgConnection, rate: &FxRate) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into fx_rates (quote, rate, as_of) values ($1, $2, $3)
         on conflict (quote, as_of) do update set rate = excluded.rate",
        rate.quote.code(),
        rate.rate,
        rate.as_of
    )
    .execute(conn)
    .await?;
    Ok(())
}
