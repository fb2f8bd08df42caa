//! Building a credit note from the invoice it corrects and the amounts it reverses,
//! and deciding how much of a processed refund reverses supply.

use chrono::{DateTime, Utc};

use super::build::{DocumentError, check_series, inr_values, totals};
use super::credit::{CreditNoteAmounts, InvoiceLine, LineCredit, add_credit};
use super::document::{DocumentLine, DocumentType, InvoiceReference, TaxDocument};
use super::financial_year::india_date;
use super::serial::{DocumentKind, DocumentNumber};
use crate::domain::fx::FxRate;
use crate::domain::money::Currency;

/// Everything a credit note is built from.
#[derive(Debug, Clone)]
pub struct CreditInput<'a> {
    /// The invoice it corrects, as issued.
    pub invoice: &'a TaxDocument,
    /// What it reverses ([`super::credit::credit_note`]).
    pub amounts: &'a CreditNoteAmounts,
    /// The number taken for it (a credit-note series').
    pub number: &'a DocumentNumber,
    /// The issue instant.
    pub issued_at: DateTime<Utc>,
    /// Why (the refund's reason).
    pub reason: &'a str,
}
/// An issued document's lines as the credit-note split sees them (taxable value and
/// tax components per line).
pub fn document_lines(document: &TaxDocument) -> Vec<InvoiceLine> {
    document
        .lines
        .iter()
        .map(|l| InvoiceLine {
            taxable_value: l.taxable_value,
            components: l.components.clone(),
        })
        .collect()
}

/// What the given credit notes of `invoice` reversed so far, per line: the `already`
/// of the next one.
pub fn credited(
    invoice: &TaxDocument,
    notes: &[TaxDocument],
) -> Result<Vec<LineCredit>, DocumentError> {
    let lines = document_lines(invoice);
    let mut already: Vec<LineCredit> = Vec::new();
    for note in notes {
        let reversed = document_lines(note);
        if reversed.len() != lines.len() {
            return Err(DocumentError::ShapeMismatch);
        }
        let amounts = CreditNoteAmounts {
            taxable_value: note.totals.taxable_value,
            tax: note.totals.tax,
            total: note.totals.total,
            lines: reversed,
        };
        already = add_credit(&lines, &already, &amounts)?;
    }
    Ok(already)
}

/// How much of a processed refund a credit note reverses: what brings the money kept
/// on the order (`kept`: captured less processed refunds, this one included) below the
/// invoice total and is not credited yet (`credited`). A refund of money the order
/// never needed (a second payment, a capture of the wrong amount) reverses no supply
/// and gets 0; the rest of a refund never exceeds it.
pub fn refund_to_credit(invoice_total: i64, credited: i64, kept: i64, refund: i64) -> i64 {
    let reversed = invoice_total.saturating_sub(kept).clamp(0, invoice_total);
    reversed.saturating_sub(credited).clamp(0, refund.max(0))
}

/// A credit note: one line per invoice line, in invoice order (zero where it reverses
/// nothing), with the amounts reversed; quantity, unit price, amount and discount
/// are left out (it reverses a value, not units). It names the invoice (number and
/// date) and the reason, and copies its parties, place of supply and currency.
pub fn credit_note_document(input: &CreditInput<'_>) -> Result<TaxDocument, DocumentError> {
    check_series(input.number, DocumentKind::CreditNote)?;
    let invoice = input.invoice;
    if input.amounts.lines.len() != invoice.lines.len() {
        return Err(DocumentError::ShapeMismatch);
    }
    let mut lines = Vec::with_capacity(invoice.lines.len());
    for (original, reversed) in invoice.lines.iter().zip(&input.amounts.lines) {
        lines.push(DocumentLine {
            description: original.description.clone(),
            sac: original.sac.clone(),
            quantity: None,
            unit_price: None,
            amount: None,
            discount: None,
            tax_inclusive: original.tax_inclusive,
            taxable_value: reversed.taxable_value,
            components: reversed.components.clone(),
            tax: reversed.tax()?,
            total: reversed.total()?,
        });
    }
    let totals = totals(&lines, invoice.currency)?;
    let inr = match &invoice.inr {
        Some(values) => {
            let rate = FxRate {
                base: Currency::INR,
                quote: invoice.currency,
                rate: values.rate,
                as_of: values.rate_as_of,
            };
            Some(inr_values(&lines, &rate)?)
        }
        None => None,
    };
    Ok(TaxDocument {
        document_type: DocumentType::CreditNote,
        number: input.number.to_string(),
        issue_date: india_date(input.issued_at),
        issued_at: input.issued_at,
        financial_year: input.number.year().label(),
        order_id: invoice.order_id,
        supply_type: invoice.supply_type,
        reverse_charge: invoice.reverse_charge,
        supplier: invoice.supplier.clone(),
        recipient: invoice.recipient.clone(),
        place_of_supply: invoice.place_of_supply.clone(),
        currency: invoice.currency,
        lines,
        totals,
        inr,
        reference: Some(InvoiceReference {
            number: invoice.number.clone(),
            date: invoice.issue_date,
        }),
        reason: Some(input.reason.to_owned()),
        notes: invoice.notes.clone(),
    })
}
