//! Issuing an order's documents in one short transaction.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::PriceBreakdown;
use crate::domain::invoice::recipient::{recipient, state_ref};
use crate::domain::invoice::{
    CreditInput, DocumentKind, InvoiceInput, Refund, Supplier, TaxDocument, credit_note,
    credit_note_document, credited, document_lines, refund_to_credit, tax_invoice,
};
use crate::domain::order::OrderStatus;
use crate::store::invoices::{self, IssueError};
use crate::store::{orders, users};
use crate::telemetry::on_commit;

/// The numbers a run issued.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Issued {
    pub invoice: Option<String>,
    pub credit_notes: Vec<String>,
}

/// Why a run issued nothing.
#[derive(Debug, thiserror::Error)]
pub enum DocumentFailure {
    /// May pass on a later run (the database).
    #[error(transparent)]
    Transient(#[from] anyhow::Error),
    /// Will not pass by itself (a snapshot that cannot be invoiced, a bad setting).
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for DocumentFailure {
    fn from(e: sqlx::Error) -> Self {
        DocumentFailure::Transient(e.into())
    }
}

impl From<IssueError> for DocumentFailure {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Database(e) => e.into(),
            other => DocumentFailure::Permanent(other.to_string()),
        }
    }
}

fn permanent(e: impl std::fmt::Display) -> DocumentFailure {
    DocumentFailure::Permanent(e.to_string())
}

/// Issues what `order_id` is owed at instant `at` (the issue date and financial year):
/// its invoice if it is enrolled, was charged and has none, then its missing credit
/// notes. Idempotent: a second run finds them issued and does nothing.
pub async fn issue(
    pool: &PgPool,
    settings: &Settings,
    order_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Issued, DocumentFailure> {
    let mut tx = crate::store::begin(pool).await?;
    // the order first, as every path that changes it does; it also makes concurrent
    // runs for one order take turns
    let Some(order) = orders::lock(&mut tx, order_id).await? else {
        return Ok(Issued::default());
    };
    let mut issued = Issued::default();
    let invoice = match invoices::invoice_of(&mut tx, order_id).await? {
        Some(invoice) => invoice,
        None if owes_invoice(&order) => {
            let invoice = issue_invoice(&mut tx, settings, &order, at).await?;
            issued.invoice = Some(invoice.document.number.clone());
            invoice
        }
        None => return Ok(issued),
    };
    issued.credit_notes = issue_credit_notes(&mut tx, settings, &invoice, at).await?;
    if issued != Issued::default() {
        crash_test_pause(settings).await;
    }
    tx.commit().await?;
    on_commit::committed();
    Ok(issued)
}

/// An invoice is owed for a supply that was made (enrolled) and charged (a positive
/// total); a free order or one refunded before enrollment gets none.
fn owes_invoice(order: &orders::Order) -> bool {
    order.status() == OrderStatus::Enrolled
        && order.total.unwrap_or(0) > 0
        && order.price_snapshot.is_some()
}

fn supplier(settings: &Settings) -> Result<Supplier, DocumentFailure> {
    let s = &settings.invoices;
    let gstin = s.gstin().map_err(permanent)?;
    Ok(Supplier {
        legal_name: s.supplier_name.clone(),
        address: s.supplier_address.clone(),
        gstin: gstin.as_str().to_owned(),
        state: state_ref(gstin.state()),
    })
}

async fn issue_invoice(
    tx: &mut PgConnection,
    settings: &Settings,
    order: &orders::Order,
    at: DateTime<Utc>,
) -> Result<invoices::Issued, DocumentFailure> {
    let snapshot: PriceBreakdown =
        serde_json::from_value(order.price_snapshot.clone().unwrap_or_default())
            .map_err(|e| permanent(format!("price snapshot unreadable: {e}")))?;
    let account_name = users::name_of(tx, order.user_id).await?.unwrap_or_default();
    let supplier = supplier(settings)?;
    let series = settings
        .invoices
        .series(DocumentKind::Invoice)
        .map_err(permanent)?;
    let sac = settings.invoices.sac_codes();
    // every read done: the number last, so its lock is held for the insert only
    let number = invoices::take_number(tx, &series, at).await?;
    let document = tax_invoice(&InvoiceInput {
        order_id: order.id,
        snapshot: &snapshot,
        supplier: &supplier,
        recipient: recipient(&order.billing_address.0, &account_name),
        sac: &sac,
        export_note: &settings.invoices.export_note,
        number: &number,
        issued_at: at,
    })
    .map_err(permanent)?;
    let id = Uuid::now_v7();
    invoices::insert_invoice(tx, id, &number, &document).await?;
    let supply = document.supply_type.as_str();
    on_commit::count(move || {
        metrics::counter!("invoices_issued_total", "supply_type" => supply).increment(1)
    });
    Ok(invoices::Issued { id, document })
}

/// A credit note for each processed refund of the invoiced order without one, for the
/// part of it that reverses supply ([`refund_to_credit`]), in the order the refunds
/// settled.
async fn issue_credit_notes(
    tx: &mut PgConnection,
    settings: &Settings,
    invoice: &invoices::Issued,
    at: DateTime<Utc>,
) -> Result<Vec<String>, DocumentFailure> {
    let doc = &invoice.document;
    let currency = doc.currency.code();
    let refunds = invoices::processed_refunds(tx, doc.order_id, currency).await?;
    if refunds.iter().all(|r| r.credited) {
        return Ok(Vec::new());
    }
    let captured = invoices::captured(tx, doc.order_id, currency).await?;
    let mut notes: Vec<TaxDocument> = invoices::for_order(tx, doc.order_id)
        .await?
        .into_iter()
        .filter(|d| d.kind == "credit_note")
        .map(|d| d.document.0)
        .collect();
    let mut credited_total: i64 = notes.iter().map(|n| n.totals.total).sum();
    let series = settings
        .invoices
        .series(DocumentKind::CreditNote)
        .map_err(permanent)?;
    let lines = document_lines(doc);
    let mut numbers = Vec::new();
    let mut processed = 0i64;
    for refund in refunds {
        processed += refund.amount;
        if refund.credited {
            continue;
        }
        let kept = captured - processed;
        let amount = refund_to_credit(doc.totals.total, credited_total, kept, refund.amount);
        if amount == 0 {
            continue;
        }
        let already = credited(doc, &notes).map_err(permanent)?;
        let amounts = credit_note(&lines, &already, &Refund::Amount(amount)).map_err(permanent)?;
        let number = invoices::take_number(tx, &series, at).await?;
        let note = credit_note_document(&CreditInput {
            invoice: doc,
            amounts: &amounts,
            number: &number,
            issued_at: at,
            reason: &refund.reason,
        })
        .map_err(permanent)?;
        invoices::insert_credit_note(tx, Uuid::now_v7(), invoice.id, refund.id, &number, &note)
            .await?;
        let supply = note.supply_type.as_str();
        on_commit::count(move || {
            metrics::counter!("credit_notes_issued_total", "supply_type" => supply).increment(1)
        });
        credited_total += amount;
        numbers.push(note.number.clone());
        notes.push(note);
    }
    Ok(numbers)
}

/// See `invoices.pause_before_commit_ms`: a window for crash tests to SIGKILL a worker
/// that holds a number it has not committed.
async fn crash_test_pause(settings: &Settings) {
    let ms = settings.invoices.pause_before_commit_ms;
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}
