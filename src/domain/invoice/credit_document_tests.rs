//! Credit notes against the invoices `build_tests.rs` builds (its fixtures), and the
//! property that any snapshot's invoice adds up and is reversed exactly by its notes.

use proptest::prelude::*;

use super::*;
use crate::domain::invoice::credit::{Refund, credit_note};
use crate::domain::invoice::credit_document::{
    CreditInput, credit_note_document, credited, document_lines, refund_to_credit,
};

fn credit(invoice: &TaxDocument, earlier: &[TaxDocument], refund: i64, seq: u64) -> TaxDocument {
    let already = credited(invoice, earlier).unwrap();
    let amounts = credit_note(&document_lines(invoice), &already, &Refund::Amount(refund)).unwrap();
    let n = number(DocumentKind::CreditNote, seq);
    credit_note_document(&CreditInput {
        invoice,
        amounts: &amounts,
        number: &n,
        issued_at: at("2027-04-02T10:00:00Z"),
        reason: "refunded by operator",
    })
    .unwrap()
}

#[test]
fn credit_notes_reference_the_invoice_and_reverse_exactly_the_refund() {
    let billing = address("IN", Some("KA"), None);
    let snapshot = price(&input(
        &[(499_900, 1, false), (118_000, 1, true)],
        billing.clone(),
    ))
    .unwrap();
    let invoice = invoice_of(&snapshot, &billing);
    let first = credit(&invoice, &[], 100_000, 1);
    assert_eq!(first.document_type, DocumentType::CreditNote);
    assert_eq!(first.number, "KA/C2627/000001");
    let reference = first.reference.as_ref().unwrap();
    assert_eq!(
        (reference.number.as_str(), reference.date),
        (invoice.number.as_str(), invoice.issue_date)
    );
    assert_eq!(first.reason.as_deref(), Some("refunded by operator"));
    assert_eq!(first.issue_date.to_string(), "2027-04-02");
    assert_eq!(first.totals.total, 100_000);
    assert_eq!(first.totals.taxable_value + first.totals.tax, 100_000);
    assert_eq!(first.lines.len(), invoice.lines.len());
    assert!(
        first
            .lines
            .iter()
            .all(|l| l.quantity.is_none() && l.amount.is_none())
    );
    // the rest: the two notes together are the invoice, per component
    let rest = invoice.totals.total - 100_000;
    let second = credit(&invoice, std::slice::from_ref(&first), rest, 2);
    assert_eq!(second.totals.total, rest);
    for field in [
        |t: &DocumentTotals| t.taxable_value,
        |t: &DocumentTotals| t.cgst,
        |t: &DocumentTotals| t.sgst,
        |t: &DocumentTotals| t.igst,
        |t: &DocumentTotals| t.tax,
    ] {
        assert_eq!(
            field(&first.totals) + field(&second.totals),
            field(&invoice.totals)
        );
    }
    let all = credited(&invoice, &[first, second]).unwrap();
    assert_eq!(all, document_lines(&invoice));
}

#[test]
fn a_refund_credits_only_what_brings_the_money_kept_below_the_invoice() {
    // invoice 1,000: a duplicate payment of 1,000 refunded reverses nothing
    assert_eq!(refund_to_credit(1_000, 0, 1_000, 1_000), 0);
    // the duplicate refunded while it is still held: nothing either
    assert_eq!(refund_to_credit(1_000, 0, 1_900, 100), 0);
    // a partial refund of 300: 300
    assert_eq!(refund_to_credit(1_000, 0, 700, 300), 300);
    // then the rest: 700, never more than the refund or the invoice
    assert_eq!(refund_to_credit(1_000, 300, 0, 700), 700);
    assert_eq!(refund_to_credit(1_000, 1_000, 0, 50), 0);
    assert_eq!(refund_to_credit(1_000, 0, -500, 1_500), 1_000);
}

proptest! {
    #[test]
    fn any_snapshot_becomes_an_invoice_that_adds_up(
        lines in proptest::collection::vec((0i64..5_000_000, 1u32..4, any::<bool>()), 1..5),
        place in 0u8..4,
        usd in any::<bool>(),
    ) {
        let billing = match place {
            0 => address("IN", Some("KA"), None),
            1 => address("IN", Some("TN"), None),
            2 => address("US", None, None),
            _ => address("IN", Some("KA"), Some("27AAKCT4821M1ZV")),
        };
        let mut pricing = input(&lines, billing.clone());
        if usd {
            pricing.currency = Currency::parse("USD").unwrap();
            pricing.fx_rate = Some(FxRate { base: Currency::INR, quote: pricing.currency, rate: d("0.0119"), as_of: at("2026-06-15T06:00:00Z") });
        }
        let snapshot = price(&pricing).unwrap();
        let doc = invoice_of(&snapshot, &billing);
        assert_lines_are_the_snapshots(&doc, &snapshot);
        prop_assert_eq!(doc.totals.tax, doc.totals.cgst + doc.totals.sgst + doc.totals.igst);
        if let Some(inr) = &doc.inr {
            prop_assert_eq!(inr.totals.total, inr.lines.iter().map(|l| l.total).sum::<i64>());
            prop_assert_eq!(inr.totals.taxable_value + inr.totals.tax, inr.totals.total);
        }
        // credit notes in sequence reverse exactly the invoice
        prop_assume!(doc.totals.total > 0);
        let half = doc.totals.total / 2;
        let mut notes = Vec::new();
        if half > 0 {
            notes.push(credit(&doc, &notes, half, 1));
        }
        let rest = doc.totals.total - half;
        notes.push(credit(&doc, &notes, rest, 2));
        let reversed: i64 = notes.iter().map(|n| n.totals.total).sum();
        prop_assert_eq!(reversed, doc.totals.total);
        prop_assert_eq!(notes.iter().map(|n| n.totals.igst).sum::<i64>(), doc.totals.igst);
        prop_assert_eq!(notes.iter().map(|n| n.totals.cgst).sum::<i64>(), doc.totals.cgst);
        if let (Some(inr), true) = (&doc.inr, notes.len() == 1) {
            prop_assert_eq!(notes[0].inr.as_ref().unwrap().totals.total, inr.totals.total);
        }
    }
}
