//! The GSTR-1 summary of the documents issued in a period: the rows the finance team
//! files monthly, in INR (a foreign-currency document's frozen INR values). Sections,
//! as GSTR-1 has them:
//! - `B2B`: one row per invoice to a registered recipient and GST rate;
//! - `B2CL`: the same for an inter-state invoice to an unregistered recipient worth
//!   more than [`B2CL_LIMIT`];
//! - `B2CS`: every other B2C invoice, summed by place of supply, rate and
//!   intra-/inter-state, net of the credit notes against such invoices;
//! - `EXP`: exports (EXPWOP: zero-rated under LUT; EXPWP if IGST was paid), per
//!   invoice and rate;
//! - `CDNR`: credit notes to registered recipients, per note and rate;
//! - `CDNUR`: credit notes against B2CL invoices and exports.
//!
//! Credit notes count negatively: their value, taxable value and taxes carry a minus.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::DocumentError;
use super::inr::{inr_lines, inr_totals};
use crate::domain::invoice::{DocumentType, SupplyType, TaxDocument};
use crate::domain::money::checked_sum;

/// An inter-state B2C invoice worth more than this (paise, invoice value with tax) is
/// reported invoice by invoice (B2CL): ₹1,00,000 since 1 August 2024.
pub const B2CL_LIMIT: i64 = 10_000_000;

/// A GSTR-1 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    B2b,
    B2cl,
    B2cs,
    Exp,
    Cdnr,
    Cdnur,
}

impl Section {
    /// The table's name in GSTR-1.
    pub fn label(self) -> &'static str {
        match self {
            Section::B2b => "B2B",
            Section::B2cl => "B2CL",
            Section::B2cs => "B2CS",
            Section::Exp => "EXP",
            Section::Cdnr => "CDNR",
            Section::Cdnur => "CDNUR",
        }
    }
}

/// One issued document and the INR value (with tax) of the invoice it belongs to:
/// its own for an invoice, the corrected invoice's for a credit note (which decides
/// whether that was a B2CL invoice).
#[derive(Debug, Clone)]
pub struct Entry {
    pub document: TaxDocument,
    pub invoice_value: i64,
}

/// One row; amounts in paise, negative for credit notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub section: Section,
    pub recipient_gstin: Option<String>,
    /// Invoice or note number (none on a B2CS summary row).
    pub number: Option<String>,
    pub date: Option<NaiveDate>,
    /// "C" on credit notes.
    pub note_type: Option<&'static str>,
    pub original_number: Option<String>,
    pub original_date: Option<NaiveDate>,
    /// The document's value with tax (none on a B2CS summary row).
    pub value: Option<i64>,
    /// "27-Maharashtra", or the country of export.
    pub place_of_supply: String,
    /// INTRA or INTER (B2B, B2CS, CDNR); EXPWOP or EXPWP (exports); B2CL or EXPWOP/EXPWP
    /// (CDNUR, the kind of invoice noted).
    pub supply: &'static str,
    /// GST rate in percent.
    pub rate: Decimal,
    pub taxable_value: i64,
    pub igst: i64,
    pub cgst: i64,
    pub sgst: i64,
}

/// The CSV columns, in order.
pub const COLUMNS: [&str; 15] = [
    "section",
    "recipient_gstin",
    "number",
    "date",
    "note_type",
    "original_number",
    "original_date",
    "value",
    "place_of_supply",
    "supply",
    "rate",
    "taxable_value",
    "igst",
    "cgst",
    "sgst",
];

fn place(doc: &TaxDocument) -> String {
    match &doc.place_of_supply.state {
        Some(s) => format!("{}-{}", s.code, s.name),
        None => doc.place_of_supply.country.clone(),
    }
}

fn inter_state(doc: &TaxDocument) -> bool {
    doc.place_of_supply
        .state
        .as_ref()
        .is_none_or(|s| s.code != doc.supplier.state.code)
}

/// Per rate: (taxable, igst, cgst, sgst), in INR paise.
fn by_rate(doc: &TaxDocument) -> Result<BTreeMap<Decimal, [i64; 4]>, DocumentError> {
    let mut out: BTreeMap<Decimal, [i64; 4]> = BTreeMap::new();
    for line in inr_lines(doc)? {
        let slot = out.entry(line.rate).or_default();
        for (sum, add) in slot
            .iter_mut()
            .zip([line.taxable_value, line.igst, line.cgst, line.sgst])
        {
            *sum = checked_sum([*sum, add])?;
        }
    }
    Ok(out)
}

/// The GSTR-1 rows of `entries`, by section, then date and number; B2CS summed.
pub fn rows(entries: &[Entry]) -> Result<Vec<Row>, DocumentError> {
    let mut out = Vec::new();
    let mut b2cs: BTreeMap<(String, Decimal, &'static str), [i64; 4]> = BTreeMap::new();
    for entry in entries {
        let doc = &entry.document;
        let credit = doc.document_type == DocumentType::CreditNote;
        let sign = if credit { -1 } else { 1 };
        let inter = inter_state(doc);
        let b2cl = doc.supply_type == SupplyType::B2c && inter && entry.invoice_value > B2CL_LIMIT;
        let export_kind = if doc.totals.igst > 0 {
            "EXPWP"
        } else {
            "EXPWOP"
        };
        let intra_inter = if inter { "INTER" } else { "INTRA" };
        let (section, supply) = match (doc.supply_type, credit) {
            (SupplyType::B2b, false) => (Section::B2b, intra_inter),
            (SupplyType::B2b, true) => (Section::Cdnr, intra_inter),
            (SupplyType::Export, false) => (Section::Exp, export_kind),
            (SupplyType::Export, true) => (Section::Cdnur, export_kind),
            (SupplyType::B2c, false) if b2cl => (Section::B2cl, "INTER"),
            (SupplyType::B2c, true) if b2cl => (Section::Cdnur, "B2CL"),
            (SupplyType::B2c, _) => (Section::B2cs, intra_inter),
        };
        let rates = by_rate(doc)?;
        if section == Section::B2cs {
            for (rate, amounts) in rates {
                let slot = b2cs.entry((place(doc), rate, supply)).or_default();
                for (sum, add) in slot.iter_mut().zip(amounts) {
                    *sum = checked_sum([*sum, sign * add])?;
                }
            }
            continue;
        }
        let value = inr_totals(doc)?.total;
        for (rate, [taxable, igst, cgst, sgst]) in rates {
            out.push(Row {
                section,
                recipient_gstin: doc.recipient.gstin.clone(),
                number: Some(doc.number.clone()),
                date: Some(doc.issue_date),
                note_type: credit.then_some("C"),
                original_number: doc.reference.as_ref().map(|r| r.number.clone()),
                original_date: doc.reference.as_ref().map(|r| r.date),
                value: Some(sign * value),
                place_of_supply: place(doc),
                supply,
                rate,
                taxable_value: sign * taxable,
                igst: sign * igst,
                cgst: sign * cgst,
                sgst: sign * sgst,
            });
        }
    }
    for ((place_of_supply, rate, supply), [taxable, igst, cgst, sgst]) in b2cs {
        out.push(Row {
            section: Section::B2cs,
            recipient_gstin: None,
            number: None,
            date: None,
            note_type: None,
            original_number: None,
            original_date: None,
            value: None,
            place_of_supply,
            supply,
            rate,
            taxable_value: taxable,
            igst,
            cgst,
            sgst,
        });
    }
    out.sort_by(|a, b| {
        (a.section, a.date, &a.number, &a.place_of_supply, a.rate).cmp(&(
            b.section,
            b.date,
            &b.number,
            &b.place_of_supply,
            b.rate,
        ))
    });
    Ok(out)
}

/// Paise as rupees: "-1274.40".
fn rupees(paise: i64) -> String {
    Decimal::new(paise, 2).to_string()
}

/// A CSV field, quoted when it must be (RFC 4180).
fn field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// The rows as CSV with a header line ([`COLUMNS`]); dates ISO, amounts in rupees.
pub fn csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",");
    out.push('\n');
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    for r in rows {
        let cells = [
            r.section.label().to_owned(),
            r.recipient_gstin.clone().unwrap_or_default(),
            r.number.clone().unwrap_or_default(),
            date(r.date),
            r.note_type.unwrap_or_default().to_owned(),
            r.original_number.clone().unwrap_or_default(),
            date(r.original_date),
            r.value.map(rupees).unwrap_or_default(),
            r.place_of_supply.clone(),
            r.supply.to_owned(),
            r.rate.normalize().to_string(),
            rupees(r.taxable_value),
            rupees(r.igst),
            rupees(r.cgst),
            rupees(r.sgst),
        ];
        let line: Vec<String> = cells.iter().map(|c| field(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}
