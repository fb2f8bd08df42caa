//! Building a tax invoice from the order's frozen price snapshot (the credit note is
//! built from the invoice in [`super::credit_document`]).
//!
//! Nothing is recomputed from the catalog: every line amount, discount, taxable value
//! and tax component is the snapshot's, and the totals are sums of the lines (they
//! equal the snapshot's totals, which are sums of the same lines). What the builder
//! adds is presentation: the SAC per program, the supply type, the place of supply as a
//! state name and code (or the country of export), the totals in words and the notes.
//!
//! # INR values of a foreign-currency order
//! The snapshot froze the rate it priced with (units of the currency per 1 INR). Each
//! line's taxable value and each of its tax components is converted back to paise once
//! with [`to_inr_minor`] (half-up); a line's INR tax is the sum of its converted
//! components and its INR total the taxable value plus that tax, and the INR totals are
//! sums of the INR lines. So the INR figures add up the way the foreign ones do, and
//! may differ by a paisa per line from converting a total.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::credit::CreditError;
use super::document::{
    DocumentLine, DocumentTotals, DocumentType, InrLine, InrValues, PlaceOfSupply, Recipient,
    Supplier, SupplyType, TaxDocument,
};
use super::financial_year::india_date;
use super::recipient::state_ref;
use super::serial::{DocumentKind, DocumentNumber};
use super::words::amount_in_words;
use crate::domain::fx::{FxError, FxRate, to_inr_minor};
use crate::domain::money::{Currency, Money, MoneyError, checked_sum, round_half_up};
use crate::domain::pricing::{PriceBreakdown, PricedLine};
use crate::domain::tax::{self, TaxComponent, TaxKind};

/// SAC (Services Accounting Code) per program: a default and overrides by program id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SacCodes {
    /// For programs without an override ("999293": commercial training and coaching).
    pub default: String,
    /// Program id -> SAC.
    pub by_program: BTreeMap<Uuid, String>,
}

impl SacCodes {
    /// The SAC of a program.
    pub fn of(&self, program_id: Uuid) -> &str {
        self.by_program
            .get(&program_id)
            .map_or(self.default.as_str(), String::as_str)
    }
}

impl SupplyType {
    /// As stored (`invoices.supply_type`) and labelled in metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            SupplyType::B2c => "b2c",
            SupplyType::B2b => "b2b",
            SupplyType::Export => "export",
        }
    }

    /// Every supply type.
    pub const ALL: [SupplyType; 3] = [SupplyType::B2c, SupplyType::B2b, SupplyType::Export];
}

/// Whether `code` is a SAC for services: six digits starting "99".
pub fn is_service_sac(code: &str) -> bool {
    code.len() == 6 && code.starts_with("99") && code.bytes().all(|b| b.is_ascii_digit())
}

/// Everything a tax invoice is built from.
#[derive(Debug, Clone)]
pub struct InvoiceInput<'a> {
    /// The order it is for.
    pub order_id: Uuid,
    /// The order's frozen price.
    pub snapshot: &'a PriceBreakdown,
    /// The supplier registration (configuration).
    pub supplier: &'a Supplier,
    /// From the order's billing address ([`super::recipient::recipient`]).
    pub recipient: Recipient,
    /// SAC per program (configuration).
    pub sac: &'a SacCodes,
    /// Printed on an export invoice (configuration).
    pub export_note: &'a str,
    /// The number taken for it (an invoice series').
    pub number: &'a DocumentNumber,
    /// The issue instant.
    pub issued_at: DateTime<Utc>,
}

/// Why a document cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// Priced without a billing address: there is no tax to invoice.
    #[error("the price snapshot has no tax (it was priced without a billing address)")]
    Untaxed,
    /// The lines do not add up to the snapshot's totals.
    #[error("the price snapshot's lines add up to {lines}, its total says {total}")]
    Inconsistent {
        /// Sum of the line totals.
        lines: i64,
        /// The snapshot's total.
        total: i64,
    },
    /// A number of the other kind of series.
    #[error("{0} is not a number of the {1:?} series")]
    WrongSeries(String, DocumentKind),
    /// The amounts of a credit note do not match the invoice's lines.
    #[error("the credit note's amounts do not match the invoice's lines")]
    ShapeMismatch,
    /// A foreign-currency snapshot without its rate.
    #[error("a {0} price snapshot without its exchange rate")]
    MissingRate(Currency),
    /// Converting to INR failed.
    #[error(transparent)]
    Fx(#[from] FxError),
    /// Arithmetic left the integer range.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The credit-note split failed.
    #[error(transparent)]
    Credit(#[from] CreditError),
}

pub(super) fn check_series(
    number: &DocumentNumber,
    kind: DocumentKind,
) -> Result<(), DocumentError> {
    if number.series().kind() == kind {
        Ok(())
    } else {
        Err(DocumentError::WrongSeries(number.to_string(), kind))
    }
}

fn place(snapshot_place: &tax::PlaceOfSupply) -> PlaceOfSupply {
    match snapshot_place {
        tax::PlaceOfSupply::IntraState { state } | tax::PlaceOfSupply::InterState { state, .. } => {
            PlaceOfSupply {
                state: Some(state_ref(*state)),
                country: "IN".into(),
            }
        }
        tax::PlaceOfSupply::Export { country } => PlaceOfSupply {
            state: None,
            country: country.as_str().to_owned(),
        },
    }
}

/// `unit price x quantity = amount`; a converted amount that does not divide by the
/// quantity gives the unit price rounded half-up (the amount stays the snapshot's).
fn unit_price(line: &PricedLine) -> Result<i64, MoneyError> {
    let quantity = i64::from(line.quantity.max(1));
    if line.amount % quantity == 0 {
        return Ok(line.amount / quantity);
    }
    round_half_up(rust_decimal::Decimal::from(line.amount) / rust_decimal::Decimal::from(quantity))
}

fn invoice_line(line: &PricedLine, sac: &SacCodes) -> Result<DocumentLine, DocumentError> {
    let taxable_value = line.taxable_value.ok_or(DocumentError::Untaxed)?;
    let tax = line.tax.ok_or(DocumentError::Untaxed)?;
    Ok(DocumentLine {
        description: line.title.clone(),
        sac: sac.of(line.program_id).to_owned(),
        quantity: Some(line.quantity),
        unit_price: Some(unit_price(line)?),
        amount: Some(line.amount),
        discount: Some(line.discount),
        tax_inclusive: line.tax_inclusive,
        taxable_value,
        components: line.tax_components.clone(),
        tax,
        total: line.total,
    })
}

fn component_sum(lines: &[&[TaxComponent]], kind: TaxKind) -> Result<i64, MoneyError> {
    checked_sum(
        lines
            .iter()
            .flat_map(|c| c.iter())
            .filter(|c| c.kind == kind)
            .map(|c| c.amount),
    )
}

/// Sums of the lines per tax, and the total in words in `currency`.
pub(super) fn totals(
    lines: &[DocumentLine],
    currency: Currency,
) -> Result<DocumentTotals, DocumentError> {
    let components: Vec<&[TaxComponent]> = lines.iter().map(|l| l.components.as_slice()).collect();
    let total = checked_sum(lines.iter().map(|l| l.total))?;
    Ok(DocumentTotals {
        amount: checked_sum(lines.iter().map(|l| l.amount.unwrap_or(0)))?,
        discount: checked_sum(lines.iter().map(|l| l.discount.unwrap_or(0)))?,
        taxable_value: checked_sum(lines.iter().map(|l| l.taxable_value))?,
        cgst: component_sum(&components, TaxKind::Cgst)?,
        sgst: component_sum(&components, TaxKind::Sgst)?,
        igst: component_sum(&components, TaxKind::Igst)?,
        tax: checked_sum(lines.iter().map(|l| l.tax))?,
        total,
        total_in_words: amount_in_words(Money::new(total, currency)),
    })
}

/// The INR values of `lines` at `rate` (see the module doc).
pub(super) fn inr_values(
    lines: &[DocumentLine],
    rate: &FxRate,
) -> Result<InrValues, DocumentError> {
    let inr = |minor: i64| to_inr_minor(minor, rate);
    let mut converted = Vec::with_capacity(lines.len());
    for line in lines {
        let components = line
            .components
            .iter()
            .map(|c| {
                Ok(TaxComponent {
                    kind: c.kind,
                    rate: c.rate,
                    amount: inr(c.amount)?,
                })
            })
            .collect::<Result<Vec<_>, FxError>>()?;
        let taxable_value = inr(line.taxable_value)?;
        let tax = checked_sum(components.iter().map(|c| c.amount))?;
        converted.push(DocumentLine {
            amount: line.amount.map(inr).transpose()?,
            discount: line.discount.map(inr).transpose()?,
            unit_price: None,
            taxable_value,
            tax,
            total: taxable_value.checked_add(tax).ok_or(MoneyError::Overflow)?,
            components,
            ..line.clone()
        });
    }
    Ok(InrValues {
        rate: rate.rate,
        rate_as_of: rate.as_of,
        lines: converted
            .iter()
            .map(|l| InrLine {
                taxable_value: l.taxable_value,
                tax: l.tax,
                total: l.total,
            })
            .collect(),
        totals: totals(&converted, Currency::INR)?,
    })
}

fn supply_type(snapshot: &PriceBreakdown) -> Result<SupplyType, DocumentError> {
    let summary = snapshot.tax.as_ref().ok_or(DocumentError::Untaxed)?;
    Ok(match summary.place_of_supply {
        tax::PlaceOfSupply::Export { .. } => SupplyType::Export,
        _ if summary.gstin.is_some() => SupplyType::B2b,
        _ => SupplyType::B2c,
    })
}

/// The tax invoice of an order, from its frozen price snapshot.
pub fn tax_invoice(input: &InvoiceInput<'_>) -> Result<TaxDocument, DocumentError> {
    check_series(input.number, DocumentKind::Invoice)?;
    let snapshot = input.snapshot;
    let summary = snapshot.tax.as_ref().ok_or(DocumentError::Untaxed)?;
    let lines = snapshot
        .lines
        .iter()
        .map(|l| invoice_line(l, input.sac))
        .collect::<Result<Vec<_>, _>>()?;
    let totals = totals(&lines, snapshot.currency)?;
    if totals.total != snapshot.totals.total {
        return Err(DocumentError::Inconsistent {
            lines: totals.total,
            total: snapshot.totals.total,
        });
    }
    let inr = foreign_rate(snapshot)?
        .map(|rate| inr_values(&lines, rate))
        .transpose()?;
    let supply_type = supply_type(snapshot)?;
    let mut notes = Vec::new();
    if supply_type == SupplyType::Export {
        notes.push(input.export_note.to_owned());
    }
    if let Some(fx) = &snapshot.fx {
        notes.push(format!(
            "Amounts in {}; INR values at 1 INR = {} {} (rate of {})",
            snapshot.currency,
            fx.rate,
            fx.quote,
            fx.as_of.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    Ok(TaxDocument {
        document_type: DocumentType::TaxInvoice,
        number: input.number.to_string(),
        issue_date: india_date(input.issued_at),
        issued_at: input.issued_at,
        financial_year: input.number.year().label(),
        order_id: input.order_id,
        supply_type,
        reverse_charge: false,
        supplier: input.supplier.clone(),
        recipient: input.recipient.clone(),
        place_of_supply: place(&summary.place_of_supply),
        currency: snapshot.currency,
        lines,
        totals,
        inr,
        reference: None,
        reason: None,
        notes,
    })
}

fn foreign_rate(snapshot: &PriceBreakdown) -> Result<Option<&FxRate>, DocumentError> {
    if snapshot.currency == Currency::INR {
        return Ok(None);
    }
    snapshot
        .fx
        .as_ref()
        .map(Some)
        .ok_or(DocumentError::MissingRate(snapshot.currency))
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
