//! What a printed document shows, in order and in words: the one description the HTML
//! page and the PDF both render, so they cannot disagree. Plain strings; each renderer
//! escapes or encodes them itself.
//!
//! Amounts are printed by `domain::money::Money`'s format (thousands separators, the
//! currency's exponent) without the code, which the heading of the table names. A
//! credit note has no quantity, unit price or discount columns: it reverses values.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::invoice::{DocumentType, SupplyType, TaxDocument};
use crate::domain::money::{Currency, Money};
use crate::domain::tax::TaxKind;

/// A labelled block of lines (supplier, recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    /// "Supplier", "Recipient".
    pub heading: &'static str,
    /// Name first, then address lines and registrations.
    pub lines: Vec<String>,
}

/// A table column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Header text.
    pub title: String,
    /// Right-aligned (amounts, quantities, rates).
    pub numeric: bool,
}

/// The INR block of a foreign-currency document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InrBlock {
    /// Which rate, as of when.
    pub heading: String,
    /// (label, value) pairs.
    pub rows: Vec<(String, String)>,
    /// The INR total in words.
    pub words: String,
}

/// Everything a printed document shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// "TAX INVOICE" or "CREDIT NOTE".
    pub title: &'static str,
    /// Number, date, place of supply, ... as (label, value).
    pub facts: Vec<(String, String)>,
    /// Who supplies.
    pub supplier: Party,
    /// Who receives.
    pub recipient: Party,
    /// "Amounts in INR".
    pub table_caption: String,
    /// The line table's columns.
    pub columns: Vec<Column>,
    /// One row of cells per line.
    pub rows: Vec<Vec<String>>,
    /// (label, value), the last one the total.
    pub totals: Vec<(String, String)>,
    /// The total in words.
    pub words: String,
    /// INR values of a foreign-currency document.
    pub inr: Option<InrBlock>,
    /// Printed notes, in order.
    pub notes: Vec<String>,
}

/// An amount without its currency code: "1,234.50".
pub fn amount(minor: i64, currency: Currency) -> String {
    let shown = Money::new(minor, currency).to_string();
    match shown.rsplit_once(' ') {
        Some((number, _code)) => number.to_owned(),
        None => shown,
    }
}

/// An amount with its code: "1,234.50 INR".
pub fn money(minor: i64, currency: Currency) -> String {
    Money::new(minor, currency).to_string()
}

/// "10 Dec 2026".
pub fn date(day: NaiveDate) -> String {
    day.format("%d %b %Y").to_string()
}

/// A rate given as a fraction, in percent: 0.09 -> "9%".
pub fn percent(fraction: Decimal) -> String {
    format!("{}%", (fraction * Decimal::ONE_HUNDRED).normalize())
}

fn supply_label(kind: SupplyType) -> &'static str {
    match kind {
        SupplyType::B2c => "B2C (unregistered recipient)",
        SupplyType::B2b => "B2B (registered recipient)",
        SupplyType::Export => "Export of services, zero-rated",
    }
}

/// "Maharashtra (27)", or "Export: US".
pub fn place_of_supply(doc: &TaxDocument) -> String {
    match &doc.place_of_supply.state {
        Some(state) => format!("{} ({})", state.name, state.code),
        None => format!("Outside India: {}", doc.place_of_supply.country),
    }
}

fn facts(doc: &TaxDocument) -> Vec<(String, String)> {
    let mut facts = vec![
        ("Number".to_owned(), doc.number.clone()),
        ("Date".to_owned(), date(doc.issue_date)),
        ("Financial year".to_owned(), doc.financial_year.clone()),
        ("Place of supply".to_owned(), place_of_supply(doc)),
        (
            "Supply".to_owned(),
            supply_label(doc.supply_type).to_owned(),
        ),
        (
            "Reverse charge".to_owned(),
            if doc.reverse_charge { "Yes" } else { "No" }.to_owned(),
        ),
        ("Currency".to_owned(), doc.currency.code().to_owned()),
    ];
    if let Some(reference) = &doc.reference {
        facts.push((
            "Against invoice".to_owned(),
            format!("{} of {}", reference.number, date(reference.date)),
        ));
    }
    if let Some(reason) = &doc.reason {
        facts.push(("Reason".to_owned(), reason.clone()));
    }
    facts
}

fn supplier(doc: &TaxDocument) -> Party {
    let s = &doc.supplier;
    let mut lines = vec![s.legal_name.clone()];
    lines.extend(s.address.iter().cloned());
    lines.push(format!("GSTIN: {}", s.gstin));
    lines.push(format!("State: {} ({})", s.state.name, s.state.code));
    Party {
        heading: "Supplier",
        lines,
    }
}

fn recipient(doc: &TaxDocument) -> Party {
    let r = &doc.recipient;
    let mut lines = vec![r.name.clone()];
    lines.extend(r.address.iter().cloned());
    let mut place = Vec::new();
    if let Some(state) = &r.state {
        place.push(format!("{} ({})", state.name, state.code));
    }
    if let Some(pin) = &r.postal_code {
        place.push(pin.clone());
    }
    place.push(r.country.clone());
    lines.push(place.join(", "));
    if let Some(gstin) = &r.gstin {
        lines.push(format!("GSTIN: {gstin}"));
    }
    Party {
        heading: "Recipient",
        lines,
    }
}

/// Which tax columns the document needs: (kind, header).
fn tax_columns(doc: &TaxDocument) -> Vec<(TaxKind, &'static str)> {
    let has = |kind: TaxKind| {
        doc.lines
            .iter()
            .any(|l| l.components.iter().any(|c| c.kind == kind))
    };
    let mut out = Vec::new();
    if has(TaxKind::Cgst) || has(TaxKind::Sgst) {
        out.push((TaxKind::Cgst, "CGST"));
        out.push((TaxKind::Sgst, "SGST"));
    }
    if has(TaxKind::Igst) {
        out.push((TaxKind::Igst, "IGST"));
    }
    if has(TaxKind::ZeroRated) {
        out.push((TaxKind::ZeroRated, "GST (zero-rated)"));
    }
    out
}

/// The printable description of `doc`.
pub fn view(doc: &TaxDocument) -> View {
    let invoice = doc.document_type == DocumentType::TaxInvoice;
    let cur = doc.currency;
    let taxes = tax_columns(doc);
    let col = |title: &str, numeric: bool| Column {
        title: title.to_owned(),
        numeric,
    };
    let mut columns = vec![col("#", true), col("Description", false), col("SAC", false)];
    if invoice {
        columns.extend([
            col("Qty", true),
            col("Unit price", true),
            col("Discount", true),
        ]);
    }
    columns.push(col("Taxable value", true));
    for (_, name) in &taxes {
        columns.push(col(&format!("{name} rate"), true));
        columns.push(col(name, true));
    }
    columns.push(col("Total", true));

    let mut any_inclusive = false;
    let rows = doc
        .lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let opt = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |m| amount(m, cur));
            let mut cells = vec![
                (i + 1).to_string(),
                line.description.clone(),
                line.sac.clone(),
            ];
            if invoice {
                let mut unit = opt(line.unit_price);
                if line.tax_inclusive {
                    any_inclusive = true;
                    unit.push_str(" *");
                }
                cells.push(
                    line.quantity
                        .map_or_else(|| "-".to_owned(), |q| q.to_string()),
                );
                cells.push(unit);
                cells.push(opt(line.discount));
            }
            cells.push(amount(line.taxable_value, cur));
            for (kind, _) in &taxes {
                let found = line.components.iter().find(|c| c.kind == *kind);
                cells.push(found.map_or_else(|| "-".to_owned(), |c| percent(c.rate)));
                cells.push(found.map_or_else(|| "-".to_owned(), |c| amount(c.amount, cur)));
            }
            cells.push(amount(line.total, cur));
            cells
        })
        .collect();

    let t = &doc.totals;
    let mut totals = Vec::new();
    if invoice {
        totals.push(("Gross amount".to_owned(), amount(t.amount, cur)));
        totals.push(("Discount".to_owned(), amount(t.discount, cur)));
    }
    totals.push(("Taxable value".to_owned(), amount(t.taxable_value, cur)));
    for (kind, name) in &taxes {
        let value = match kind {
            TaxKind::Cgst => t.cgst,
            TaxKind::Sgst => t.sgst,
            TaxKind::Igst => t.igst,
            TaxKind::ZeroRated => 0,
        };
        totals.push(((*name).to_owned(), amount(value, cur)));
    }
    totals.push(("Total tax".to_owned(), amount(t.tax, cur)));
    let total_label = if invoice { "Total" } else { "Total credited" };
    totals.push((total_label.to_owned(), money(t.total, cur)));

    let inr = doc.inr.as_ref().map(|inr| {
        let it = &inr.totals;
        InrBlock {
            heading: format!(
                "Values in INR at the order's rate: 1 INR = {} {} (rate of {})",
                inr.rate.normalize(),
                cur.code(),
                inr.rate_as_of.format("%d %b %Y %H:%M UTC")
            ),
            rows: vec![
                (
                    "Taxable value".to_owned(),
                    money(it.taxable_value, Currency::INR),
                ),
                ("CGST".to_owned(), money(it.cgst, Currency::INR)),
                ("SGST".to_owned(), money(it.sgst, Currency::INR)),
                ("IGST".to_owned(), money(it.igst, Currency::INR)),
                ("Total tax".to_owned(), money(it.tax, Currency::INR)),
                ("Total".to_owned(), money(it.total, Currency::INR)),
            ],
            words: it.total_in_words.clone(),
        }
    });

    let mut notes = Vec::new();
    if any_inclusive {
        notes.push("* Unit price includes GST.".to_owned());
    }
    notes.extend(doc.notes.iter().cloned());

    View {
        title: if invoice {
            "TAX INVOICE"
        } else {
            "CREDIT NOTE"
        },
        facts: facts(doc),
        supplier: supplier(doc),
        recipient: recipient(doc),
        table_caption: format!("Amounts in {}", cur.code()),
        columns,
        rows,
        totals,
        words: t.total_in_words.clone(),
        inr,
        notes,
    }
}
