#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::domain::india::IndianState;
use crate::domain::tax::{PlaceOfSupply, TaxKind, tax_line};

fn state(s: &str) -> IndianState {
    IndianState::parse(s).unwrap()
}

fn place(which: u8) -> PlaceOfSupply {
    match which {
        0 => PlaceOfSupply::IntraState { state: state("KA") },
        _ => PlaceOfSupply::InterState {
            supplier_state: state("KA"),
            state: state("MH"),
        },
    }
}

/// An invoice line as pricing computes it.
fn line(net: i64, inclusive: bool, which: u8) -> InvoiceLine {
    let t = tax_line(net, inclusive, &place(which)).unwrap();
    InvoiceLine {
        taxable_value: t.taxable_value,
        components: t.components,
    }
}

fn amounts(l: &InvoiceLine) -> Vec<i64> {
    l.amounts().collect()
}

#[test]
fn partial_refund_reverses_tax_pro_rata() {
    // 1,000.00 + CGST 90.00 + SGST 90.00 = 1,180.00; refund half.
    let invoice = [line(100_000, false, 0)];
    let note = credit_note(&invoice, &[], &Refund::Amount(59_000)).unwrap();
    assert_eq!(amounts(&note.lines[0]), vec![50_000, 4_500, 4_500]);
    assert_eq!(note.lines[0].components[0].kind, TaxKind::Cgst);
    assert_eq!(
        (note.taxable_value, note.tax, note.total),
        (50_000, 9_000, 59_000)
    );
}

#[test]
fn leftover_paise_go_to_the_largest_remainder() {
    // 100 paise over 1,000.00 / 90.00 / 90.00: exact 84.75, 7.63, 7.63 -> floors
    // 84, 7, 7; the two left go to the taxable value (largest fraction), then to
    // CGST, which wins the tie with SGST by coming first.
    let invoice = [line(100_000, false, 0)];
    let note = credit_note(&invoice, &[], &Refund::Amount(100)).unwrap();
    assert_eq!(amounts(&note.lines[0]), vec![85, 8, 7]);
}

#[test]
fn refund_is_split_over_lines_by_what_they_hold() {
    // Lines 1,180.00 (intra) and 590.00 (inter): a 354.00 refund is 2:1.
    let invoice = [line(100_000, false, 0), line(50_000, false, 1)];
    let note = credit_note(&invoice, &[], &Refund::Amount(35_400)).unwrap();
    assert_eq!(amounts(&note.lines[0]), vec![20_000, 1_800, 1_800]);
    assert_eq!(amounts(&note.lines[1]), vec![10_000, 1_800]);
    assert_eq!(note.lines[1].components[0].kind, TaxKind::Igst);
    assert_eq!(note.total, 35_400);
}

#[test]
fn full_refund_reverses_every_amount_exactly() {
    let invoice = [line(99_900, true, 0), line(1, false, 1), line(0, false, 0)];
    let total: i64 = invoice.iter().map(|l| l.total().unwrap()).sum();
    let note = credit_note(&invoice, &[], &Refund::Amount(total)).unwrap();
    assert_eq!(note.lines, invoice.to_vec());
}

#[test]
fn whole_lines_reverse_what_remains_of_them() {
    let invoice = [line(100_000, false, 0), line(50_000, false, 1)];
    let note = credit_note(&invoice, &[], &Refund::Lines(vec![1])).unwrap();
    assert_eq!(note.lines[1], invoice[1]);
    assert_eq!(amounts(&note.lines[0]), vec![0, 0, 0]);
    assert_eq!(note.total, 59_000);
    // After a partial credit, naming line 0 reverses only what is left.
    let first = credit_note(&invoice, &[], &Refund::Amount(11_800)).unwrap();
    let already = add_credit(&invoice, &[], &first).unwrap();
    let rest = credit_note(&invoice, &already, &Refund::Lines(vec![0])).unwrap();
    assert_eq!(rest.total + first.lines[0].total().unwrap(), 118_000);
}

#[test]
fn refuses_what_cannot_be_credited() {
    let invoice = [line(100_000, false, 0)];
    assert_eq!(
        credit_note(&invoice, &[], &Refund::Amount(0)),
        Err(CreditError::NotPositive)
    );
    assert_eq!(
        credit_note(&invoice, &[], &Refund::Amount(118_001)),
        Err(CreditError::ExceedsRemaining {
            refund: 118_001,
            remaining: 118_000
        })
    );
    assert_eq!(
        credit_note(&invoice, &[], &Refund::Lines(vec![1])),
        Err(CreditError::UnknownLine(1))
    );
    assert_eq!(
        credit_note(&invoice, &[], &Refund::Lines(vec![0, 0])),
        Err(CreditError::UnknownLine(0))
    );
    let all = credit_note(&invoice, &[], &Refund::Lines(vec![0])).unwrap();
    let already = add_credit(&invoice, &[], &all).unwrap();
    assert_eq!(
        credit_note(&invoice, &already, &Refund::Amount(1)),
        Err(CreditError::ExceedsRemaining {
            refund: 1,
            remaining: 0
        })
    );
    assert_eq!(
        credit_note(&invoice, &already, &Refund::Lines(vec![0])),
        Err(CreditError::NotPositive)
    );
    let other_shape = [line(100_000, false, 1)];
    assert_eq!(
        credit_note(&invoice, &other_shape, &Refund::Amount(1)),
        Err(CreditError::ShapeMismatch)
    );
    let too_much = [line(200_000, false, 0)];
    assert_eq!(
        credit_note(&invoice, &too_much, &Refund::Amount(1)),
        Err(CreditError::OutOfRange)
    );
}

#[test]
fn invoice_lines_come_from_the_price_snapshot() {
    use crate::domain::money::Currency;
    use crate::domain::pricing::{LineInput, PricingInput, price};
    use crate::domain::tax::BillingAddress;
    use crate::domain::test_support::at;

    let mut input = PricingInput {
        lines: (1..=2u128)
            .map(|n| LineInput {
                line_id: uuid::Uuid::from_u128(n),
                program_id: uuid::Uuid::from_u128(100 + n),
                plan_id: uuid::Uuid::from_u128(200 + n),
                title: format!("Program {n}"),
                unit_price_inr: 99_900 * i64::try_from(n).unwrap(),
                quantity: 1,
                tax_inclusive: n == 2,
            })
            .collect(),
        sale: None,
        coupon: None,
        billing_address: Some(BillingAddress {
            country: "IN".into(),
            state: Some("KA".into()),
            postal_code: None,
            gstin: None,
            name: None,
            address_lines: Vec::new(),
        }),
        currency: Currency::INR,
        fx_rate: None,
        max_rate_age: chrono::Duration::hours(1),
        supplier_state: state("KA"),
        now: at("2026-06-15T12:00:00Z"),
    };
    let snapshot = price(&input).unwrap();
    let invoice: Vec<InvoiceLine> = snapshot
        .lines
        .iter()
        .map(|l| InvoiceLine::from_priced(l).unwrap())
        .collect();
    for (l, priced) in invoice.iter().zip(&snapshot.lines) {
        assert_eq!(l.total().unwrap(), priced.total);
        assert_eq!(Some(l.tax().unwrap()), priced.tax);
    }
    let note = credit_note(&invoice, &[], &Refund::Amount(snapshot.totals.total)).unwrap();
    assert_eq!(note.tax, snapshot.totals.tax.unwrap());
    assert_eq!(note.lines, invoice);

    input.billing_address = None;
    let untaxed = price(&input).unwrap();
    assert_eq!(
        InvoiceLine::from_priced(&untaxed.lines[0]),
        Err(CreditError::Untaxed)
    );
}

fn invoice_strategy() -> impl Strategy<Value = Vec<InvoiceLine>> {
    proptest::collection::vec((0i64..50_000_000, any::<bool>(), 0u8..2), 1..5)
        .prop_map(|v| v.into_iter().map(|(n, inc, w)| line(n, inc, w)).collect())
}

fn invoice_total(invoice: &[InvoiceLine]) -> i64 {
    invoice.iter().map(|l| l.total().unwrap()).sum()
}

proptest! {
    #[test]
    fn parts_sum_to_the_refund(invoice in invoice_strategy(), frac in 1u32..=1000) {
        let total = invoice_total(&invoice);
        let refund = (total * i64::from(frac) / 1000).max(1);
        prop_assume!(total > 0);
        let note = credit_note(&invoice, &[], &Refund::Amount(refund)).unwrap();
        let parts: i64 = note.lines.iter().flat_map(amounts).sum();
        prop_assert_eq!(parts, refund);
        prop_assert_eq!(note.total, refund);
        prop_assert_eq!(note.taxable_value + note.tax, refund);
        for (credit, original) in note.lines.iter().zip(&invoice) {
            for (c, o) in amounts(credit).iter().zip(amounts(original)) {
                prop_assert!(*c >= 0 && *c <= o);
            }
        }
    }

    #[test]
    fn full_refund_equals_the_invoice(invoice in invoice_strategy()) {
        let total = invoice_total(&invoice);
        prop_assume!(total > 0);
        let note = credit_note(&invoice, &[], &Refund::Amount(total)).unwrap();
        prop_assert_eq!(&note.lines, &invoice);
    }

    #[test]
    fn credits_in_sequence_never_exceed_the_invoice(
        invoice in invoice_strategy(),
        fracs in proptest::collection::vec(1u32..=1000, 1..6),
    ) {
        let total = invoice_total(&invoice);
        prop_assume!(total > 0);
        let mut already: Vec<LineCredit> = Vec::new();
        let mut credited = 0i64;
        for frac in fracs {
            let left = total - credited;
            if left == 0 {
                break;
            }
            let refund = (left * i64::from(frac) / 1000).max(1);
            let note = credit_note(&invoice, &already, &Refund::Amount(refund)).unwrap();
            prop_assert_eq!(note.total, refund);
            already = add_credit(&invoice, &already, &note).unwrap();
            credited += refund;
            for (sum, original) in already.iter().zip(&invoice) {
                for (c, o) in amounts(sum).iter().zip(amounts(original)) {
                    prop_assert!(*c <= o);
                }
            }
        }
        // What is left can always be credited, and then the invoice is fully reversed.
        let left = total - credited;
        if left > 0 {
            let note = credit_note(&invoice, &already, &Refund::Amount(left)).unwrap();
            already = add_credit(&invoice, &already, &note).unwrap();
        }
        prop_assert_eq!(&already, &invoice);
        prop_assert_eq!(
            credit_note(&invoice, &already, &Refund::Amount(1)),
            Err(CreditError::ExceedsRemaining { refund: 1, remaining: 0 })
        );
    }
}
