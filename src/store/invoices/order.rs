//! One order's documents, and what its credit notes are computed from.

use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::invoice::TaxDocument;

/// A document as stored, with its row id.
#[derive(Debug, Clone)]
pub struct Issued {
    pub id: Uuid,
    pub document: TaxDocument,
}

/// The order's tax invoice, if issued.
pub async fn invoice_of(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<Option<Issued>> {
    let row = sqlx::query!(
        r#"select id, document as "document: Json<TaxDocument>" from invoices where order_id = $1"#,
        order_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Issued {
        id: r.id,
        document: r.document.0,
    }))
}

/// A processed refund of the order, and whether a credit note names it.
#[derive(Debug, Clone)]
pub struct ProcessedRefund {
    pub id: Uuid,
    pub amount: i64,
    pub reason: String,
    pub credited: bool,
}

/// The order's processed refunds in `currency`, in the order they settled.
pub async fn processed_refunds(
    conn: &mut PgConnection,
    order_id: Uuid,
    currency: &str,
) -> sqlx::Result<Vec<ProcessedRefund>> {
    sqlx::query_as!(
        ProcessedRefund,
        r#"select r.id, r.amount, r.reason,
                  exists (select 1 from credit_notes c where c.refund_id = r.id) as "credited!"
             from refunds r
            where r.order_id = $1 and r.status = 'processed' and r.currency = $2
            order by r.settled_at, r.id"#,
        order_id,
        currency,
    )
    .fetch_all(conn)
    .await
}

/// What the gateways captured for the order in `currency`, as the consistency check
/// counts it: the payments' captures plus captures only a refund recorded.
pub async fn captured(
    conn: &mut PgConnection,
    order_id: Uuid,
    currency: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select (coalesce((select sum(captured_amount) from payments
                              where order_id = $1 and currency = $2), 0)
                 + coalesce((select sum(amount) from refunds
                              where order_id = $1 and payment_id is null and currency = $2), 0)
                  )::bigint as "captured!""#,
        order_id,
        currency,
    )
    .fetch_one(conn)
    .await
}
