//! Issuing: a number from the document's series, then the document, in the caller's
//! transaction.
//!
//! [`take_number`] increments the series' counter with one upsert that returns the new
//! value. The counter row stays locked until the caller's transaction ends, so
//! documents of one series are numbered one at a time, and a number exists only if the
//! document that took it commits: a rollback (an error, a crashed worker, a lost
//! connection) gives it back with the increment. Callers do every read and computation
//! first and take the number last, just before the insert, so the lock is held for the
//! shortest time.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::invoice::{
    DocumentKind, DocumentNumber, FinancialYear, FinancialYearError, SerialError, Series,
    TaxDocument,
};

/// Why a number could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The issue instant is outside the years numbers can carry.
    #[error(transparent)]
    Year(#[from] FinancialYearError),
    /// The series is full for the year.
    #[error(transparent)]
    Serial(#[from] SerialError),
}

fn kind_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Invoice => "invoice",
        DocumentKind::CreditNote => "credit_note",
    }
}

/// The next number of `series` in the financial year of `at` (India time), held by
/// the caller's transaction until it ends.
pub async fn take_number(
    conn: &mut PgConnection,
    series: &Series,
    at: DateTime<Utc>,
) -> Result<DocumentNumber, IssueError> {
    let year = FinancialYear::of(at)?;
    let sequence = sqlx::query_scalar!(
        "insert into document_series (prefix, kind, financial_year, last_sequence)
         values ($1, $2, $3, 1)
         on conflict (prefix, kind, financial_year)
         do update set last_sequence = document_series.last_sequence + 1
         returning last_sequence",
        series.prefix(),
        kind_name(series.kind()),
        year.start_year(),
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(series.number(year, sequence.unsigned_abs())?)
}

/// The columns beside the JSON: INR amounts (the document's own for an INR order).
struct Inr {
    taxable_value: i64,
    cgst: i64,
    sgst: i64,
    igst: i64,
    total: i64,
}

fn inr(doc: &TaxDocument) -> Inr {
    let t = doc.inr.as_ref().map_or(&doc.totals, |v| &v.totals);
    Inr {
        taxable_value: t.taxable_value,
        cgst: t.cgst,
        sgst: t.sgst,
        igst: t.igst,
        total: t.total,
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Inserts an issued tax invoice (its number taken with [`take_number`] in this
/// transaction).
pub async fn insert_invoice(
    conn: &mut PgConnection,
    id: Uuid,
    number: &DocumentNumber,
    doc: &TaxDocument,
) -> sqlx::Result<()> {
    let inr = inr(doc);
    let place = doc
        .place_of_supply
        .state
        .as_ref()
        .map_or(doc.place_of_supply.country.as_str(), |s| s.code.as_str());
    sqlx::query!(
        "insert into invoices (id, order_id, number, prefix, financial_year, sequence, issued_at,
                               supply_type, recipient_gstin, place_of_supply, currency,
                               taxable_value, tax, total, inr_taxable_value, inr_cgst, inr_sgst,
                               inr_igst, inr_total, document)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20)",
        id,
        doc.order_id,
        doc.number,
        number.series().prefix(),
        number.year().start_year(),
        to_i64(number.sequence()),
        doc.issued_at,
        doc.supply_type.as_str(),
        doc.recipient.gstin,
        place,
        doc.currency.code(),
        doc.totals.taxable_value,
        doc.totals.tax,
        doc.totals.total,
        inr.taxable_value,
        inr.cgst,
        inr.sgst,
        inr.igst,
        inr.total,
        Json(doc) as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts an issued credit note of `invoice_id` for the processed refund `refund_id`.
pub async fn insert_credit_note(
    conn: &mut PgConnection,
    id: Uuid,
    invoice_id: Uuid,
    refund_id: Uuid,
    number: &DocumentNumber,
    doc: &TaxDocument,
) -> sqlx::Result<()> {
    let inr = inr(doc);
    sqlx::query!(
        "insert into credit_notes (id, invoice_id, refund_id, number, prefix, financial_year,
                                   sequence, issued_at, currency, taxable_value, tax, total,
                                   inr_taxable_value, inr_cgst, inr_sgst, inr_igst, inr_total,
                                   document)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        id,
        invoice_id,
        refund_id,
        doc.number,
        number.series().prefix(),
        number.year().start_year(),
        to_i64(number.sequence()),
        doc.issued_at,
        doc.currency.code(),
        doc.totals.taxable_value,
        doc.totals.tax,
        doc.totals.total,
        inr.taxable_value,
        inr.cgst,
        inr.sgst,
        inr.igst,
        inr.total,
        Json(doc) as _,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
