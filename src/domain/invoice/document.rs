//! What an issued tax invoice or credit note says: the one shape the store keeps
//! (as JSON, frozen at issue), the API returns and the HTML, PDF, e-invoice and
//! GSTR-1 outputs read. Built once from the order's frozen price snapshot, the
//! supplier configuration and the order's billing details; never recomputed.
//!
//! Amounts are minor units of `currency`. A line's `components` are CGST and SGST,
//! IGST, or one zero-rated entry (export of services), as the snapshot froze them.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::money::Currency;
use crate::domain::tax::TaxComponent;

/// Tax invoice or credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// Issued when the student is enrolled (the supply).
    TaxInvoice,
    /// Issued when a refund of an invoiced order is processed.
    CreditNote,
}

/// Who the supply is to, for the tax return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SupplyType {
    /// To a consumer in India (no GSTIN).
    B2c,
    /// To a GST-registered business (the recipient's GSTIN is on the document).
    B2b,
    /// Export of services: zero-rated.
    Export,
}

/// An Indian state as documents print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRef {
    /// "Karnataka".
    pub name: String,
    /// The two-digit GST state code, "29".
    pub code: String,
}

/// The supplier: one GST registration (configuration `invoices.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supplier {
    /// Legal name as registered.
    pub legal_name: String,
    /// Postal address, one entry per printed line.
    pub address: Vec<String>,
    /// Its GSTIN.
    pub gstin: String,
    /// State of registration (the GSTIN's state).
    pub state: StateRef,
}

/// The recipient as the order recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    /// Name to bill.
    pub name: String,
    /// Billing address lines as given (may be empty: only country and state are required
    /// at checkout).
    pub address: Vec<String>,
    /// ISO 3166-1 alpha-2 country, uppercase.
    pub country: String,
    /// State, for an Indian address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateRef>,
    /// Postal code, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// GSTIN given at checkout (B2B).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gstin: Option<String>,
}

/// Place of supply: a state inside India, else the country of export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOfSupply {
    /// The state (with its code) for a supply in India.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateRef>,
    /// ISO country code: "IN", or the country of export.
    pub country: String,
}

/// One line. On a tax invoice every field is set from the snapshot's line; on a credit
/// note `quantity`, `unit_price`, `amount` and `discount` are absent (what it reverses
/// is a value, not units) and the rest are the amounts reversed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentLine {
    /// Program and plan title.
    pub description: String,
    /// Services Accounting Code (configuration per program).
    pub sac: String,
    /// Units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// Price of one unit as charged before discounts (tax-inclusive when the plan is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<i64>,
    /// unit_price x quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// Sale and coupon discount on the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<i64>,
    /// Whether `unit_price` includes GST.
    pub tax_inclusive: bool,
    /// Value GST is charged on (ex-tax, after discount).
    pub taxable_value: i64,
    /// CGST and SGST, IGST, or zero-rated, each with its rate.
    pub components: Vec<TaxComponent>,
    /// Sum of the components.
    pub tax: i64,
    /// taxable_value + tax.
    pub total: i64,
}

/// Sums over the lines, per tax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentTotals {
    /// Sum of `amount` (invoices; 0 on credit notes).
    pub amount: i64,
    /// Sum of `discount` (invoices; 0 on credit notes).
    pub discount: i64,
    /// Sum of `taxable_value`.
    pub taxable_value: i64,
    /// Sum of CGST.
    pub cgst: i64,
    /// Sum of SGST.
    pub sgst: i64,
    /// Sum of IGST.
    pub igst: i64,
    /// cgst + sgst + igst.
    pub tax: i64,
    /// taxable_value + tax: what was charged (or, on a credit note, refunded).
    pub total: i64,
    /// `total` in words, in the document's currency.
    pub total_in_words: String,
}

/// A foreign-currency document's values in INR at the order's frozen rate (the rate
/// the price snapshot used), for the tax return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InrValues {
    /// Units of `currency` per 1 INR, as frozen.
    pub rate: Decimal,
    /// When that rate was observed.
    pub rate_as_of: DateTime<Utc>,
    /// Per line, in line order: (taxable value, tax, total) in paise.
    pub lines: Vec<InrLine>,
    /// Sums of the lines, per tax, in paise; `total_in_words` in rupees.
    pub totals: DocumentTotals,
}

/// One line's INR values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InrLine {
    /// Taxable value in paise.
    pub taxable_value: i64,
    /// Tax in paise.
    pub tax: i64,
    /// Total in paise.
    pub total: i64,
}

/// The invoice a credit note corrects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceReference {
    /// Its number.
    pub number: String,
    /// Its issue date (India).
    pub date: NaiveDate,
}

/// An issued document, as frozen at issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxDocument {
    /// Invoice or credit note.
    pub document_type: DocumentType,
    /// The serial number, e.g. `KA/I2627/000042`.
    pub number: String,
    /// Date of issue in India.
    pub issue_date: NaiveDate,
    /// Instant of issue.
    pub issued_at: DateTime<Utc>,
    /// Financial year label, "2026-27".
    pub financial_year: String,
    /// The order it is for (its id, never its bearer token).
    pub order_id: Uuid,
    /// B2C, B2B or export.
    pub supply_type: SupplyType,
    /// Always false for these services; printed because the law asks for it.
    pub reverse_charge: bool,
    /// Who supplies.
    pub supplier: Supplier,
    /// Who receives.
    pub recipient: Recipient,
    /// Where the supply is taxed.
    pub place_of_supply: PlaceOfSupply,
    /// Currency of every amount except `inr`.
    pub currency: Currency,
    /// Lines in the snapshot's order.
    pub lines: Vec<DocumentLine>,
    /// Sums.
    pub totals: DocumentTotals,
    /// For a foreign-currency order: the INR values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inr: Option<InrValues>,
    /// For a credit note: the invoice it corrects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<InvoiceReference>,
    /// For a credit note: why (the refund's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Printed notes, e.g. "Export of services, zero-rated (LUT)".
    pub notes: Vec<String>,
}
