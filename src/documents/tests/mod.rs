//! Unit tests of the outputs on hand-built documents (tests/fixtures/invoices/): an
//! intra-state B2C invoice with a tax-inclusive line, an inter-state B2B invoice, an
//! export in USD with its INR values, and a credit note against the B2B invoice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod einvoice;
mod gstr1;
mod html;
mod pdf;

use crate::domain::invoice::TaxDocument;

pub(super) fn doc(name: &str) -> TaxDocument {
    let text = match name {
        "intra_b2c" => include_str!("../../../tests/fixtures/invoices/intra_b2c.json"),
        "inter_b2b" => include_str!("../../../tests/fixtures/invoices/inter_b2b.json"),
        "export_usd" => include_str!("../../../tests/fixtures/invoices/export_usd.json"),
        "credit_note" => include_str!("../../../tests/fixtures/invoices/credit_note.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub(super) const ALL: [&str; 4] = ["intra_b2c", "inter_b2b", "export_usd", "credit_note"];

#[test]
fn fixtures_add_up() {
    // The hand-built documents are consistent, so the tests below check the outputs
    // against real sums, not against typos.
    for name in ALL {
        let d = doc(name);
        let sum = |f: fn(&crate::domain::invoice::DocumentLine) -> i64| -> i64 {
            d.lines.iter().map(f).sum()
        };
        assert_eq!(sum(|l| l.taxable_value), d.totals.taxable_value, "{name}");
        assert_eq!(sum(|l| l.tax), d.totals.tax, "{name}");
        assert_eq!(sum(|l| l.total), d.totals.total, "{name}");
        assert_eq!(
            d.totals.cgst + d.totals.sgst + d.totals.igst,
            d.totals.tax,
            "{name}"
        );
        for l in &d.lines {
            assert_eq!(l.components.iter().map(|c| c.amount).sum::<i64>(), l.tax);
            assert_eq!(l.taxable_value + l.tax, l.total);
        }
        let words = crate::domain::invoice::amount_in_words(crate::domain::Money::new(
            d.totals.total,
            d.currency,
        ));
        assert_eq!(words, d.totals.total_in_words, "{name}");
    }
}
