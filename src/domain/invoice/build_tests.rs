//! Tax invoices built from order snapshots; credit notes are in
//! `credit_document_tests.rs`, which shares these fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::domain::coupon::{Coupon, CouponUsage};
use crate::domain::discount::DiscountKind;
use crate::domain::gstin::Gstin;
use crate::domain::india::IndianState;
use crate::domain::invoice::document::StateRef;
use crate::domain::invoice::financial_year::FinancialYear;
use crate::domain::invoice::recipient::recipient;
use crate::domain::invoice::serial::Series;
use crate::domain::pricing::{CouponInput, LineInput, PricingInput, price};
use crate::domain::tax::BillingAddress;
use crate::domain::test_support::{at, d};

const GSTIN_KA: &str = "29AAKCT4821M1ZR";

fn supplier() -> Supplier {
    Supplier {
        legal_name: "Internships Pvt Ltd".into(),
        address: vec!["1 MG Road".into(), "Bengaluru 560001".into()],
        gstin: GSTIN_KA.into(),
        state: StateRef {
            name: "Karnataka".into(),
            code: "29".into(),
        },
    }
}

fn sac() -> SacCodes {
    SacCodes {
        default: "999293".into(),
        by_program: [(Uuid::from_u128(102), "999294".to_owned())].into(),
    }
}

fn address(country: &str, state: Option<&str>, gstin: Option<&str>) -> BillingAddress {
    BillingAddress {
        country: country.into(),
        state: state.map(Into::into),
        postal_code: None,
        gstin: gstin.map(|g| Gstin::parse(g).unwrap()),
        name: None,
        address_lines: Vec::new(),
    }
}

/// Line n: program 100+n, price `prices[n-1]`, tax-inclusive when `inclusive[n-1]`.
fn input(prices: &[(i64, u32, bool)], billing: BillingAddress) -> PricingInput {
    PricingInput {
        lines: prices
            .iter()
            .enumerate()
            .map(|(i, (price, quantity, inclusive))| LineInput {
                line_id: Uuid::from_u128(i as u128 + 1),
                program_id: Uuid::from_u128(101 + i as u128),
                plan_id: Uuid::from_u128(201 + i as u128),
                title: format!("Program {}", i + 1),
                unit_price_inr: *price,
                quantity: *quantity,
                tax_inclusive: *inclusive,
            })
            .collect(),
        sale: None,
        coupon: None,
        billing_address: Some(billing),
        currency: Currency::INR,
        fx_rate: None,
        max_rate_age: chrono::Duration::hours(24),
        supplier_state: IndianState::parse("KA").unwrap(),
        now: at("2026-06-15T12:00:00Z"),
    }
}

fn number(kind: DocumentKind, seq: u64) -> DocumentNumber {
    let year = FinancialYear::starting(2026).unwrap();
    Series::new("KA", kind).unwrap().number(year, seq).unwrap()
}

fn invoice_of(snapshot: &PriceBreakdown, billing: &BillingAddress) -> TaxDocument {
    let (supplier, sac, n) = (supplier(), sac(), number(DocumentKind::Invoice, 42));
    tax_invoice(&InvoiceInput {
        order_id: Uuid::from_u128(7),
        snapshot,
        supplier: &supplier,
        recipient: recipient(billing, "Student Name"),
        sac: &sac,
        export_note: "Export of services, zero-rated",
        number: &n,
        // 15 June 2026 23:50 in India
        issued_at: at("2026-06-15T18:20:00Z"),
    })
    .unwrap()
}

/// Every line of the document is the snapshot's line, figure by figure.
fn assert_lines_are_the_snapshots(doc: &TaxDocument, snapshot: &PriceBreakdown) {
    assert_eq!(doc.lines.len(), snapshot.lines.len());
    for (line, priced) in doc.lines.iter().zip(&snapshot.lines) {
        assert_eq!(line.description, priced.title);
        assert_eq!(line.quantity, Some(priced.quantity));
        assert_eq!(line.amount, Some(priced.amount));
        assert_eq!(line.discount, Some(priced.discount));
        assert_eq!(line.tax_inclusive, priced.tax_inclusive);
        assert_eq!(Some(line.taxable_value), priced.taxable_value);
        assert_eq!(line.components, priced.tax_components);
        assert_eq!(Some(line.tax), priced.tax);
        assert_eq!(line.total, priced.total);
    }
    let t = &snapshot.totals;
    assert_eq!(doc.totals.amount, t.subtotal);
    assert_eq!(doc.totals.discount, t.discount);
    assert_eq!(Some(doc.totals.taxable_value), t.taxable_value);
    assert_eq!(Some(doc.totals.tax), t.tax);
    assert_eq!(doc.totals.total, t.total);
    let summary = snapshot.tax.as_ref().unwrap();
    for c in &summary.components {
        let mine = match c.kind {
            TaxKind::Cgst => doc.totals.cgst,
            TaxKind::Sgst => doc.totals.sgst,
            TaxKind::Igst => doc.totals.igst,
            TaxKind::ZeroRated => 0,
        };
        assert_eq!(mine, c.amount, "{:?}", c.kind);
    }
}

#[test]
fn intra_state_invoice_is_the_snapshot_with_cgst_and_sgst() {
    let billing = address("IN", Some("KA"), None);
    let snapshot = price(&input(
        &[(499_900, 1, false), (599_900, 1, false)],
        billing.clone(),
    ))
    .unwrap();
    let doc = invoice_of(&snapshot, &billing);
    assert_lines_are_the_snapshots(&doc, &snapshot);
    assert_eq!(doc.document_type, DocumentType::TaxInvoice);
    assert_eq!(doc.number, "KA/I2627/000042");
    assert_eq!(doc.issue_date.to_string(), "2026-06-15");
    assert_eq!(doc.financial_year, "2026-27");
    assert_eq!(doc.supply_type, SupplyType::B2c);
    assert_eq!(doc.place_of_supply.state.as_ref().unwrap().code, "29");
    assert_eq!(
        doc.place_of_supply.state.as_ref().unwrap().name,
        "Karnataka"
    );
    // 4,999 + 5,999 = 10,998.00 + 18 % = 12,977.64
    assert_eq!(doc.totals.total, 1_297_764);
    assert_eq!(
        (doc.totals.cgst, doc.totals.sgst, doc.totals.igst),
        (98_982, 98_982, 0)
    );
    assert_eq!(
        doc.totals.total_in_words,
        "Rupees Twelve Thousand Nine Hundred Seventy-Seven and Sixty-Four Paise Only"
    );
    assert_eq!(
        (doc.lines[0].sac.as_str(), doc.lines[1].sac.as_str()),
        ("999293", "999294")
    );
    assert_eq!(doc.recipient.name, "Student Name");
    assert!(doc.inr.is_none() && doc.notes.is_empty() && !doc.reverse_charge);
}

#[test]
fn sac_comes_from_the_program() {
    let billing = address("IN", Some("KA"), None);
    let snapshot = price(&input(
        &[(100_000, 1, false), (100_000, 1, false)],
        billing.clone(),
    ))
    .unwrap();
    let doc = invoice_of(&snapshot, &billing);
    // line 1 is program 101 (default), line 2 program 102 (override)
    assert_eq!(doc.lines[0].sac, "999293");
    assert_eq!(doc.lines[1].sac, "999294");
    assert!(is_service_sac("999293"));
    for bad in ["99929", "9992933", "899293", "99A293", ""] {
        assert!(!is_service_sac(bad), "{bad}");
    }
}

#[test]
fn inter_state_invoice_is_igst() {
    let billing = address("IN", Some("MH"), None);
    let snapshot = price(&input(&[(499_900, 2, false)], billing.clone())).unwrap();
    let doc = invoice_of(&snapshot, &billing);
    assert_lines_are_the_snapshots(&doc, &snapshot);
    assert_eq!(doc.lines[0].unit_price, Some(499_900));
    assert_eq!(doc.lines[0].amount, Some(999_800));
    assert_eq!((doc.totals.cgst, doc.totals.igst), (0, 179_964));
    assert_eq!(doc.place_of_supply.state.as_ref().unwrap().code, "27");
}

#[test]
fn tax_inclusive_lines_back_the_tax_out_of_the_price() {
    let billing = address("IN", Some("KA"), None);
    let snapshot = price(&input(&[(118_000, 1, true)], billing.clone())).unwrap();
    let doc = invoice_of(&snapshot, &billing);
    assert_lines_are_the_snapshots(&doc, &snapshot);
    let line = &doc.lines[0];
    assert!(line.tax_inclusive);
    assert_eq!(
        (line.unit_price, line.taxable_value, line.tax, line.total),
        (Some(118_000), 100_000, 18_000, 118_000)
    );
}

#[test]
fn export_invoice_is_zero_rated_with_its_note() {
    let billing = address("SG", None, None);
    let snapshot = price(&input(&[(499_900, 1, false)], billing.clone())).unwrap();
    let doc = invoice_of(&snapshot, &billing);
    assert_lines_are_the_snapshots(&doc, &snapshot);
    assert_eq!(doc.supply_type, SupplyType::Export);
    assert_eq!(doc.place_of_supply.state, None);
    assert_eq!(doc.place_of_supply.country, "SG");
    assert_eq!(doc.totals.tax, 0);
    assert_eq!(doc.notes, ["Export of services, zero-rated"]);
}

#[test]
fn b2b_invoice_is_placed_in_the_gstins_state() {
    // address in Karnataka, GSTIN of Maharashtra: IGST, place of supply 27
    let billing = address("IN", Some("KA"), Some("27AAKCT4821M1ZV"));
    let snapshot = price(&input(&[(499_900, 1, false)], billing.clone())).unwrap();
    let doc = invoice_of(&snapshot, &billing);
    assert_lines_are_the_snapshots(&doc, &snapshot);
    assert_eq!(doc.supply_type, SupplyType::B2b);
    assert_eq!(doc.place_of_supply.state.as_ref().unwrap().code, "27");
    assert_eq!(doc.recipient.state.as_ref().unwrap().code, "29");
    assert_eq!(doc.recipient.gstin.as_deref(), Some("27AAKCT4821M1ZV"));
    assert!(doc.totals.igst > 0 && doc.totals.cgst == 0);
}

#[test]
fn a_coupon_is_the_lines_discount() {
    let billing = address("IN", Some("KA"), None);
    let mut pricing = input(&[(499_900, 1, false), (118_000, 1, true)], billing.clone());
    pricing.coupon = Some(CouponInput {
        coupon: Coupon::unrestricted("SAVE10", DiscountKind::Percent(d("10"))),
        usage: CouponUsage {
            global_used: 0,
            user_used: Some(0),
            user_has_prior_orders: Some(false),
        },
    });
    let snapshot = price(&pricing).unwrap();
    let doc = invoice_of(&snapshot, &billing);
    assert_lines_are_the_snapshots(&doc, &snapshot);
    assert_eq!(doc.totals.discount, 61_790);
    assert_eq!(
        doc.lines[0].amount.unwrap() - doc.lines[0].discount.unwrap(),
        doc.lines[0].taxable_value
    );
}

#[test]
fn foreign_currency_invoice_carries_inr_values_line_by_line() {
    let billing = address("IN", Some("KA"), None);
    let mut pricing = input(&[(499_900, 1, false), (118_000, 1, true)], billing.clone());
    pricing.currency = Currency::parse("USD").unwrap();
    pricing.fx_rate = Some(FxRate {
        base: Currency::INR,
        quote: pricing.currency,
        rate: d("0.012"),
        as_of: at("2026-06-15T06:00:00Z"),
    });
    let snapshot = price(&pricing).unwrap();
    let doc = invoice_of(&snapshot, &billing);
    assert_lines_are_the_snapshots(&doc, &snapshot);
    assert_eq!(doc.currency.code(), "USD");
    assert!(doc.totals.total_in_words.starts_with("US Dollars"));
    let inr = doc.inr.as_ref().unwrap();
    assert_eq!(inr.rate, d("0.012"));
    let rate = snapshot.fx.as_ref().unwrap();
    for (line, inr_line) in doc.lines.iter().zip(&inr.lines) {
        assert_eq!(
            inr_line.taxable_value,
            to_inr_minor(line.taxable_value, rate).unwrap()
        );
        let tax: i64 = line
            .components
            .iter()
            .map(|c| to_inr_minor(c.amount, rate).unwrap())
            .sum();
        assert_eq!(inr_line.tax, tax);
        assert_eq!(inr_line.total, inr_line.taxable_value + inr_line.tax);
    }
    // line 1: 59.99 USD taxable -> 4,999.17 INR
    assert_eq!(inr.lines[0].taxable_value, 499_917);
    assert_eq!(
        inr.totals.total,
        inr.lines.iter().map(|l| l.total).sum::<i64>()
    );
    assert_eq!(
        inr.totals.tax,
        inr.totals.cgst + inr.totals.sgst + inr.totals.igst
    );
    assert!(inr.totals.total_in_words.starts_with("Rupees"));
    assert!(
        doc.notes[0].contains("1 INR = 0.012 USD"),
        "{:?}",
        doc.notes
    );
}

#[test]
fn refuses_what_is_not_an_invoice() {
    let billing = address("IN", Some("KA"), None);
    let mut pricing = input(&[(100_000, 1, false)], billing.clone());
    let snapshot = price(&pricing).unwrap();
    let (supplier, sac) = (supplier(), sac());
    let credit_number = number(DocumentKind::CreditNote, 1);
    let mut input = InvoiceInput {
        order_id: Uuid::nil(),
        snapshot: &snapshot,
        supplier: &supplier,
        recipient: recipient(&billing, "x"),
        sac: &sac,
        export_note: "",
        number: &credit_number,
        issued_at: at("2026-06-15T12:00:00Z"),
    };
    assert!(matches!(
        tax_invoice(&input),
        Err(DocumentError::WrongSeries(..))
    ));
    pricing.billing_address = None;
    let untaxed = price(&pricing).unwrap();
    let invoice_number = number(DocumentKind::Invoice, 1);
    input.number = &invoice_number;
    input.snapshot = &untaxed;
    assert_eq!(tax_invoice(&input), Err(DocumentError::Untaxed));
}

#[path = "credit_document_tests.rs"]
mod credit_notes;
