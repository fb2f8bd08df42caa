//! The e-invoice JSON of the IRN schema INV-01, version 1.1 (GSTN/NIC): what a
//! registered supplier submits to an invoice registration portal for a B2B invoice,
//! an export or their credit notes. No network call: the JSON only. B2C documents
//! are refused (they are not e-invoiced).
//!
//! Field rules (tests/fixtures/einvoice/ holds the schema the tests validate against):
//! - amounts in rupees with two decimals, from the INR values ([`super::inr`]): a
//!   foreign-currency document's frozen INR values, its own total in `TotInvValFc`;
//! - `SupTyp` B2B, or EXPWOP for an export (zero-rated under LUT, no IGST paid; EXPWP
//!   if IGST was charged); `IsServc` Y and `HsnCd` the SAC on every line;
//! - an INR line priced without GST carries its own unit price, gross amount and
//!   discount (the portal checks AssAmt = TotAmt - Discount). A tax-inclusive or
//!   foreign-currency line is reported at its taxable value (Discount 0, UnitPrice the
//!   taxable value over the quantity to three decimals), since its printed prices do
//!   not split into ex-tax rupees without recomputing;
//! - an export's buyer is GSTIN "URP", place of supply and state code "96", PIN
//!   999999, as the schema's notes require; a credit note names the invoice it
//!   corrects in `RefDtls.PrecDocDtls`; credit-note lines that reverse nothing are left
//!   out;
//! - text fields lose the characters the schema forbids (`"` and `\`) and are cut to
//!   their maximum length; the supplier's PIN is the 6-digit number in its address.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use super::DocumentError;
use super::inr::{InrLine, inr_lines, inr_totals};
use crate::domain::invoice::{DocumentType, SupplyType, TaxDocument};
use crate::domain::money::{Currency, checked_sum};

/// The schema version written in `Version`.
pub const VERSION: &str = "1.1";

/// The place-of-supply and state code the schema gives a buyer outside India.
const OUTSIDE_INDIA: &str = "96";

fn number(value: Decimal) -> Value {
    value
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// Paise as rupees with two decimals.
fn rupees(paise: i64) -> Value {
    number(Decimal::new(paise, 2))
}

/// Schema-safe text: no `"` or `\`, at most `max` characters.
fn text(value: &str, max: usize) -> String {
    value
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c => c,
        })
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

fn einvoice_error(message: &str) -> DocumentError {
    DocumentError::Einvoice(message.to_owned())
}

/// The last 6-digit number in `lines` and the line it stands on without it.
fn pin_in(lines: &[String]) -> Option<(u32, String)> {
    lines.iter().rev().find_map(|line| {
        line.split(|c: char| !c.is_ascii_digit())
            .rfind(|w| w.len() == 6)
            .and_then(|pin| {
                let rest = line.replacen(pin, "", 1);
                let rest = rest.trim_matches(|c: char| c.is_whitespace() || c == ',' || c == '-');
                pin.parse().ok().map(|n| (n, rest.to_owned()))
            })
    })
}

fn seller(doc: &TaxDocument) -> Result<Value, DocumentError> {
    let s = &doc.supplier;
    let (pin, place) = pin_in(&s.address)
        .ok_or_else(|| einvoice_error("the supplier address has no 6-digit PIN code"))?;
    let addr1 = s
        .address
        .first()
        .ok_or_else(|| einvoice_error("the supplier has no address"))?;
    let location = if place.chars().count() >= 3 {
        place
    } else {
        s.state.name.clone()
    };
    let mut out = json!({
        "Gstin": s.gstin,
        "LglNm": text(&s.legal_name, 100),
        "Addr1": text(addr1, 100),
        "Loc": text(&location, 50),
        "Pin": pin,
        "Stcd": s.state.code,
    });
    if let Some(addr2) = s.address.get(1).filter(|a| a.chars().count() >= 3) {
        out["Addr2"] = Value::String(text(addr2, 100));
    }
    Ok(out)
}

fn buyer(doc: &TaxDocument) -> Result<Value, DocumentError> {
    let r = &doc.recipient;
    if r.name.trim().chars().count() < 3 {
        return Err(einvoice_error(
            "the recipient's name needs 3 characters or more",
        ));
    }
    let region = r
        .state
        .as_ref()
        .map_or_else(|| r.country.clone(), |s| s.name.clone());
    let addr1 = r.address.first().cloned().unwrap_or_else(|| region.clone());
    let location = r
        .address
        .last()
        .filter(|l| r.address.len() > 1 && l.chars().count() >= 3)
        .cloned()
        .unwrap_or_else(|| region.clone());
    let mut out = json!({
        "LglNm": text(&r.name, 100),
        "Addr1": text(&addr1, 100),
        "Loc": text(&location, 100),
    });
    if doc.supply_type == SupplyType::Export {
        out["Gstin"] = json!("URP");
        out["Pos"] = json!(OUTSIDE_INDIA);
        out["Stcd"] = json!(OUTSIDE_INDIA);
        out["Pin"] = json!(999_999);
        return Ok(out);
    }
    let gstin = r
        .gstin
        .as_ref()
        .ok_or_else(|| einvoice_error("a B2B document without the recipient's GSTIN"))?;
    let pos = doc
        .place_of_supply
        .state
        .as_ref()
        .ok_or_else(|| einvoice_error("a B2B document without a state of supply"))?;
    // The buyer's state is its registration's: the GSTIN's first two digits.
    let stcd = gstin.get(..2).unwrap_or(&pos.code).to_owned();
    out["Gstin"] = json!(gstin);
    out["Pos"] = json!(pos.code);
    out["Stcd"] = json!(stcd);
    if let Some(pin) = r
        .postal_code
        .as_deref()
        .filter(|p| p.len() == 6)
        .and_then(|p| p.parse::<u32>().ok())
    {
        out["Pin"] = json!(pin);
    }
    Ok(out)
}

fn item(
    doc: &TaxDocument,
    serial: usize,
    index: usize,
    inr: &InrLine,
) -> Result<Value, DocumentError> {
    let line = &doc.lines[index];
    let quantity = line.quantity.unwrap_or(1).max(1);
    let own_prices = doc.currency == Currency::INR && !line.tax_inclusive;
    let (unit_price, gross, discount) = match (own_prices, line.unit_price, line.amount) {
        (true, Some(unit), Some(amount)) => {
            (Decimal::new(unit, 2), amount, line.discount.unwrap_or(0))
        }
        _ => (
            (Decimal::new(inr.taxable_value, 2) / Decimal::from(quantity)).round_dp(3),
            inr.taxable_value,
            0,
        ),
    };
    Ok(json!({
        "SlNo": serial.to_string(),
        "PrdDesc": text(&line.description, 300),
        "IsServc": "Y",
        "HsnCd": line.sac,
        "Qty": quantity,
        "UnitPrice": number(unit_price),
        "TotAmt": rupees(gross),
        "Discount": rupees(discount),
        "AssAmt": rupees(inr.taxable_value),
        "GstRt": number(inr.rate),
        "IgstAmt": rupees(inr.igst),
        "CgstAmt": rupees(inr.cgst),
        "SgstAmt": rupees(inr.sgst),
        "TotItemVal": rupees(inr.total),
    }))
}

/// The e-invoice JSON (INV-01 v1.1) of a B2B or export document.
pub fn einvoice(doc: &TaxDocument) -> Result<Value, DocumentError> {
    if doc.supply_type == SupplyType::B2c {
        return Err(DocumentError::NotEinvoiceable(doc.number.clone()));
    }
    let lines = inr_lines(doc)?;
    let totals = inr_totals(doc)?;
    let sum = |f: fn(&InrLine) -> i64| checked_sum(lines.iter().map(f));
    let (taxable, cgst, sgst, igst, total) = (
        sum(|l| l.taxable_value)?,
        sum(|l| l.cgst)?,
        sum(|l| l.sgst)?,
        sum(|l| l.igst)?,
        sum(|l| l.total)?,
    );
    if total != totals.total || taxable != totals.taxable_value {
        return Err(DocumentError::Inconsistent {
            number: doc.number.clone(),
            reason: "the lines do not add up to the totals".to_owned(),
        });
    }
    let credit = doc.document_type == DocumentType::CreditNote;
    let mut items = Vec::new();
    for (index, inr) in lines.iter().enumerate() {
        if credit && inr.total == 0 {
            continue;
        }
        items.push(item(doc, items.len() + 1, index, inr)?);
    }
    let sup_typ = match doc.supply_type {
        SupplyType::Export if igst > 0 => "EXPWP",
        SupplyType::Export => "EXPWOP",
        _ => "B2B",
    };
    let mut values = Map::new();
    values.insert("AssVal".into(), rupees(taxable));
    values.insert("CgstVal".into(), rupees(cgst));
    values.insert("SgstVal".into(), rupees(sgst));
    values.insert("IgstVal".into(), rupees(igst));
    values.insert("TotInvVal".into(), rupees(total));
    if doc.currency != Currency::INR {
        let exponent = doc.currency.exponent();
        values.insert(
            "TotInvValFc".into(),
            number(Decimal::new(doc.totals.total, exponent)),
        );
    }
    let mut out = json!({
        "Version": VERSION,
        "TranDtls": {
            "TaxSch": "GST",
            "SupTyp": sup_typ,
            "RegRev": if doc.reverse_charge { "Y" } else { "N" },
            "IgstOnIntra": "N",
        },
        "DocDtls": {
            "Typ": if credit { "CRN" } else { "INV" },
            "No": doc.number,
            "Dt": doc.issue_date.format("%d/%m/%Y").to_string(),
        },
        "SellerDtls": seller(doc)?,
        "BuyerDtls": buyer(doc)?,
        "ItemList": items,
        "ValDtls": values,
    });
    if let Some(reference) = &doc.reference {
        out["RefDtls"] = json!({
            "PrecDocDtls": [{
                "InvNo": reference.number,
                "InvDt": reference.date.format("%d/%m/%Y").to_string(),
            }],
        });
    }
    if doc.supply_type == SupplyType::Export {
        let mut export = json!({ "CntCode": doc.place_of_supply.country });
        if doc.currency != Currency::INR {
            export["ForCur"] = json!(doc.currency.code());
        }
        out["ExpDtls"] = export;
    }
    Ok(out)
}
