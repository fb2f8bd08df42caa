//! A document's lines in INR, split by tax: what the tax return and the e-invoice
//! report. An INR document's own amounts; a foreign-currency document's INR values
//! as frozen at issue (`TaxDocument::inr`, at the order's rate), with each line's INR
//! tax split over its components in proportion to the document's amounts by the
//! largest-remainder rule of `domain::allocation` (so CGST and SGST still add up to
//! the frozen INR tax to the paisa).

use rust_decimal::Decimal;

use super::DocumentError;
use crate::domain::allocation::allocate;
use crate::domain::invoice::{DocumentLine, DocumentTotals, TaxDocument};
use crate::domain::money::{Currency, checked_sum};
use crate::domain::tax::TaxKind;

/// One line in paise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InrLine {
    /// Taxable value.
    pub taxable_value: i64,
    /// Central GST.
    pub cgst: i64,
    /// State GST.
    pub sgst: i64,
    /// Integrated GST.
    pub igst: i64,
    /// taxable_value + the taxes.
    pub total: i64,
    /// The line's GST rate as a percentage (CGST + SGST, or IGST; 0 when zero-rated).
    pub rate: Decimal,
}

/// The line's whole GST rate in percent: 18 for CGST 9 % + SGST 9 % or IGST 18 %.
pub fn rate_percent(line: &DocumentLine) -> Decimal {
    let fraction: Decimal = line.components.iter().map(|c| c.rate).sum();
    (fraction * Decimal::ONE_HUNDRED).normalize()
}

fn inconsistent(doc: &TaxDocument, reason: &str) -> DocumentError {
    DocumentError::Inconsistent {
        number: doc.number.clone(),
        reason: reason.to_owned(),
    }
}

/// The document's totals in INR: its own for an INR document, else the frozen INR
/// values (refused when a foreign-currency document has none).
pub fn inr_totals(doc: &TaxDocument) -> Result<&DocumentTotals, DocumentError> {
    if doc.currency == Currency::INR {
        return Ok(&doc.totals);
    }
    doc.inr
        .as_ref()
        .map(|inr| &inr.totals)
        .ok_or_else(|| inconsistent(doc, "a foreign-currency document without INR values"))
}

/// Every line in INR, split by tax, in document order.
pub fn inr_lines(doc: &TaxDocument) -> Result<Vec<InrLine>, DocumentError> {
    if doc.currency == Currency::INR {
        return doc
            .lines
            .iter()
            .map(|line| {
                let amounts: Vec<i64> = line.components.iter().map(|c| c.amount).collect();
                split(line, line.taxable_value, &amounts, line.total)
            })
            .collect();
    }
    let inr = doc
        .inr
        .as_ref()
        .ok_or_else(|| inconsistent(doc, "a foreign-currency document without INR values"))?;
    if inr.lines.len() != doc.lines.len() {
        return Err(inconsistent(
            doc,
            "INR values for a different number of lines",
        ));
    }
    doc.lines
        .iter()
        .zip(&inr.lines)
        .map(|(line, values)| {
            let weights: Vec<i64> = line.components.iter().map(|c| c.amount).collect();
            let amounts = if values.tax == 0 {
                vec![0; weights.len()]
            } else {
                allocate(values.tax, &weights)?
            };
            split(line, values.taxable_value, &amounts, values.total)
        })
        .collect()
}

fn split(
    line: &DocumentLine,
    taxable_value: i64,
    amounts: &[i64],
    total: i64,
) -> Result<InrLine, DocumentError> {
    let mut out = InrLine {
        taxable_value,
        cgst: 0,
        sgst: 0,
        igst: 0,
        total,
        rate: rate_percent(line),
    };
    for (component, amount) in line.components.iter().zip(amounts) {
        let slot = match component.kind {
            TaxKind::Cgst => &mut out.cgst,
            TaxKind::Sgst => &mut out.sgst,
            TaxKind::Igst => &mut out.igst,
            TaxKind::ZeroRated => continue,
        };
        *slot = checked_sum([*slot, *amount])?;
    }
    Ok(out)
}
