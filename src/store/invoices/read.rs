//! Reading issued documents back: by India date range (what the admin list and the
//! GSTR-1 export read), by number, for an order. Invoices and credit notes come
//! together in issue order; a credit note carries its invoice's order, supply type,
//! recipient GSTIN and place of supply, and the invoice's INR total (GSTR-1 reports a
//! note by the invoice it corrects).
//!
//! Dates are India dates (UTC+05:30): `from` and `to` are inclusive, so `to` reaches
//! 23:59:59.999 India time of that day.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::invoice::TaxDocument;

/// An invoice or credit note with the summary columns kept beside it.
#[derive(Debug, Clone)]
pub struct IssuedDocument {
    /// `invoice` or `credit_note`.
    pub kind: String,
    pub number: String,
    pub issued_at: DateTime<Utc>,
    pub order_id: Uuid,
    /// `b2c`, `b2b` or `export` (a credit note: its invoice's).
    pub supply_type: String,
    pub recipient_gstin: Option<String>,
    /// GST state code, or the country of export.
    pub place_of_supply: String,
    pub currency: String,
    /// Minor units of `currency`.
    pub taxable_value: i64,
    pub tax: i64,
    pub total: i64,
    /// Paise.
    pub inr_total: i64,
    /// Paise: the invoice's own `inr_total`, or for a credit note its invoice's.
    pub invoice_inr_total: i64,
    pub document: Json<TaxDocument>,
}

/// Every filter optional; one query so the union is written once.
async fn select(
    conn: &mut PgConnection,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    number: Option<&str>,
    order_id: Option<Uuid>,
) -> sqlx::Result<Vec<IssuedDocument>> {
    sqlx::query_as!(
        IssuedDocument,
        r#"select d.kind as "kind!", d.number as "number!", d.issued_at as "issued_at!",
                  d.order_id as "order_id!", d.supply_type as "supply_type!",
                  d.recipient_gstin as "recipient_gstin?", d.place_of_supply as "place_of_supply!",
                  d.currency as "currency!", d.taxable_value as "taxable_value!",
                  d.tax as "tax!", d.total as "total!", d.inr_total as "inr_total!",
                  d.invoice_inr_total as "invoice_inr_total!",
                  d.document as "document!: Json<TaxDocument>"
           from (
               select 'invoice' as kind, i.number, i.issued_at, i.order_id, i.supply_type,
                      i.recipient_gstin, i.place_of_supply, i.currency, i.taxable_value, i.tax,
                      i.total, i.inr_total, i.inr_total as invoice_inr_total, i.document
               from invoices i
               union all
               select 'credit_note', c.number, c.issued_at, i.order_id, i.supply_type,
                      i.recipient_gstin, i.place_of_supply, c.currency, c.taxable_value, c.tax,
                      c.total, c.inr_total, i.inr_total, c.document
               from credit_notes c join invoices i on i.id = c.invoice_id
           ) d
           where ($1::date is null
                  or d.issued_at >= $1::date::timestamp at time zone 'Asia/Kolkata')
             and ($2::date is null
                  or d.issued_at < ($2::date + 1)::timestamp at time zone 'Asia/Kolkata')
             and ($3::text is null or d.number = $3)
             and ($4::uuid is null or d.order_id = $4)
           order by d.issued_at, d.number"#,
        from,
        to,
        number,
        order_id
    )
    .fetch_all(conn)
    .await
}

/// Documents issued from `from` to `to` (India dates, both inclusive; either open).
pub async fn issued_between(
    conn: &mut PgConnection,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> sqlx::Result<Vec<IssuedDocument>> {
    select(conn, from, to, None, None).await
}

/// The invoice or credit note with this number.
pub async fn by_number(
    conn: &mut PgConnection,
    number: &str,
) -> sqlx::Result<Option<IssuedDocument>> {
    Ok(select(conn, None, None, Some(number), None)
        .await?
        .into_iter()
        .next())
}

/// An order's invoice and its credit notes, in issue order.
pub async fn for_order(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> sqlx::Result<Vec<IssuedDocument>> {
    select(conn, None, None, None, Some(order_id)).await
}
