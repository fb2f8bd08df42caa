//! Worked examples, computed by hand (arithmetic in the comments), checked
//! against `price`. If a rule changes, these are the numbers a finance reviewer
//! re-derives, so each step is written out.
//!
//! Common setup: supplier registered in Karnataka (KA); now = 2026-06-15 12:00
//! UTC; all catalog prices in INR paise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use uuid::Uuid;

use super::coupon::{Coupon, CouponUsage};
use super::discount::DiscountKind;
use super::fx::FxRate;
use super::gstin::Gstin;
use super::india::IndianState;
use super::money::Currency;
use super::pricing::{CouponInput, LineInput, PricingInput, price};
use super::sale::Sale;
use super::tax::{BillingAddress, TaxKind};
use super::test_support::{at, d};

/// Expected figures of one line: amount, sale, coupon, net, taxable, tax, total.
type LineFigures = (i64, i64, i64, i64, Option<i64>, Option<i64>, i64);

struct Example {
    name: &'static str,
    input: PricingInput,
    lines: Vec<LineFigures>,
    /// Invoice components (kind, amount); empty when there is no address.
    components: Vec<(TaxKind, i64)>,
    /// subtotal, discount, taxable, tax, total.
    totals: (i64, i64, Option<i64>, Option<i64>, i64),
}

fn line(n: u128, unit: i64, inclusive: bool) -> LineInput {
    LineInput {
        line_id: Uuid::from_u128(n),
        program_id: Uuid::from_u128(100 + n),
        plan_id: Uuid::from_u128(200 + n),
        title: format!("Program {n}"),
        unit_price_inr: unit,
        quantity: 1,
        tax_inclusive: inclusive,
    }
}

fn base(lines: Vec<LineInput>, state: Option<&str>, country: &str) -> PricingInput {
    PricingInput {
        lines,
        sale: None,
        coupon: None,
        billing_address: Some(BillingAddress {
            country: country.into(),
            state: state.map(Into::into),
            postal_code: None,
            gstin: None,
            name: None,
            address_lines: Vec::new(),
        }),
        currency: Currency::INR,
        fx_rate: None,
        max_rate_age: Duration::hours(24),
        supplier_state: IndianState::parse("KA").unwrap(),
        now: at("2026-06-15T12:00:00Z"),
    }
}

fn coupon(kind: DiscountKind) -> Option<CouponInput> {
    Some(CouponInput {
        coupon: Coupon::unrestricted("HAND", kind),
        usage: CouponUsage::default(),
    })
}

fn sale(kind: DiscountKind) -> Option<Sale> {
    Some(Sale {
        slug: "hand-sale".into(),
        kind,
        valid_from: None,
        valid_until: None,
        active: true,
    })
}

fn with_rate(mut input: PricingInput, code: &str, rate: &str) -> PricingInput {
    input.currency = Currency::parse(code).unwrap();
    input.fx_rate = Some(FxRate {
        base: Currency::INR,
        quote: input.currency,
        rate: d(rate),
        as_of: at("2026-06-15T06:00:00Z"),
    });
    input
}

fn examples() -> Vec<Example> {
    vec![
        // 1. 4,999.00 + 1,499.50 INR, tax-exclusive, 10 % coupon, billed in
        //    Maharashtra (supplier KA) -> IGST 18 %.
        //    subtotal 6,498.50; coupon 10 % = 649.85. Allocation: 649.85 x
        //    4999.00/6498.50 = 499.90 exactly, the rest 149.95.
        //    nets 4,499.10 and 1,349.55.
        //    IGST: 4,499.10 x 0.18 = 809.838 -> 809.84; 1,349.55 x 0.18 = 242.919
        //    -> 242.92. tax 1,052.76; totals 5,308.94 + 1,592.47 = 6,901.41.
        Example {
            name: "two lines, 10% coupon, inter-state IGST",
            input: PricingInput {
                coupon: coupon(DiscountKind::Percent(d("10"))),
                ..base(
                    vec![line(1, 499_900, false), line(2, 149_950, false)],
                    Some("Maharashtra"),
                    "IN",
                )
            },
            lines: vec![
                (
                    499_900,
                    0,
                    49_990,
                    449_910,
                    Some(449_910),
                    Some(80_984),
                    530_894,
                ),
                (
                    149_950,
                    0,
                    14_995,
                    134_955,
                    Some(134_955),
                    Some(24_292),
                    159_247,
                ),
            ],
            components: vec![(TaxKind::Igst, 105_276)],
            totals: (649_850, 64_985, Some(584_865), Some(105_276), 690_141),
        },
        // 2. Same lines, no coupon, billed in Karnataka -> CGST + SGST.
        //    line 1: 4,999.00 x 0.18 = 899.82; CGST = round(449.91) = 449.91,
        //    SGST = 899.82 - 449.91 = 449.91.
        //    line 2: 1,499.50 x 0.18 = 269.91; CGST = round(134.955) = 134.96
        //    (half-up), SGST = 269.91 - 134.96 = 134.95.
        //    CGST 584.87, SGST 584.86, tax 1,169.73; total 6,498.50 + 1,169.73 =
        //    7,668.23.
        Example {
            name: "two lines, intra-state CGST+SGST with an odd paisa",
            input: base(
                vec![line(1, 499_900, false), line(2, 149_950, false)],
                Some("ka"),
                "IN",
            ),
            lines: vec![
                (499_900, 0, 0, 499_900, Some(499_900), Some(89_982), 589_882),
                (149_950, 0, 0, 149_950, Some(149_950), Some(26_991), 176_941),
            ],
            components: vec![(TaxKind::Cgst, 58_487), (TaxKind::Sgst, 58_486)],
            totals: (649_850, 0, Some(649_850), Some(116_973), 766_823),
        },
        // 3. Tax-inclusive plan 11,800.00, fixed 500.00 coupon, billed in Delhi.
        //    net 11,300.00 (the price the student pays, tax included).
        //    tax = 11,300.00 x 18/118 = 1,723.7288.. -> 1,723.73 (IGST);
        //    taxable 11,300.00 - 1,723.73 = 9,576.27. Total stays 11,300.00.
        Example {
            name: "tax-inclusive, fixed coupon, tax backed out",
            input: PricingInput {
                coupon: coupon(DiscountKind::Fixed(50_000)),
                ..base(vec![line(1, 1_180_000, true)], Some("DL"), "IN")
            },
            lines: vec![(
                1_180_000,
                0,
                50_000,
                1_130_000,
                Some(957_627),
                Some(172_373),
                1_130_000,
            )],
            components: vec![(TaxKind::Igst, 172_373)],
            totals: (1_180_000, 50_000, Some(957_627), Some(172_373), 1_130_000),
        },
        // 4. Export to the US, priced in USD at 0.012 USD/INR, 20 % sale.
        //    INR: 999.00 (inclusive) + 4,999.00 = 5,998.00; sale 20 % = 1,199.60,
        //    allocated exactly 199.80 and 999.80; after-sale 799.20 and 3,999.20.
        //    USD per line (cents): amount 999.00 x 0.012 = 11.988 -> 11.99;
        //    after-sale 799.20 x 0.012 = 9.5904 -> 9.59; sale = 11.99 - 9.59 =
        //    2.40. Line 2: 4,999.00 x 0.012 = 59.988 -> 59.99; 3,999.20 x 0.012 =
        //    47.9904 -> 47.99; sale 12.00.
        //    Export: zero-rated, so totals 9.59 + 47.99 = 57.58 USD.
        Example {
            name: "export in USD with a sale, zero-rated",
            input: with_rate(
                PricingInput {
                    sale: sale(DiscountKind::Percent(d("20"))),
                    ..base(
                        vec![line(1, 99_900, true), line(2, 499_900, false)],
                        None,
                        "US",
                    )
                },
                "USD",
                "0.012",
            ),
            lines: vec![
                (1_199, 240, 0, 959, Some(959), Some(0), 959),
                (5_999, 1_200, 0, 4_799, Some(4_799), Some(0), 4_799),
            ],
            components: vec![(TaxKind::ZeroRated, 0)],
            totals: (7_198, 1_440, Some(5_758), Some(0), 5_758),
        },
        // 5. Exponent 0: 1,499.50 INR in JPY at 1.78, billed in Tamil Nadu.
        //    149,950 paise x 1.78 / 100 = 2,669.111 -> 2,669 JPY.
        //    IGST 2,669 x 0.18 = 480.42 -> 480 JPY. Total 3,149 JPY.
        Example {
            name: "JPY (exponent 0), inter-state",
            input: with_rate(
                base(vec![line(1, 149_950, false)], Some("Tamil Nadu"), "IN"),
                "JPY",
                "1.78",
            ),
            lines: vec![(2_669, 0, 0, 2_669, Some(2_669), Some(480), 3_149)],
            components: vec![(TaxKind::Igst, 480)],
            totals: (2_669, 0, Some(2_669), Some(480), 3_149),
        },
        // 6. Exponent 3: 4,999.50 INR in KWD at 0.00367, billed in Karnataka.
        //    499,950 paise x 0.00367 x 1000 / 100 = 18.348165 KWD -> 18.348
        //    (18,348 fils). Tax 18,348 x 0.18 = 3,302.64 -> 3,303 fils (odd):
        //    CGST round(1,651.5) = 1,652, SGST 1,651. Total 21,651 fils =
        //    21.651 KWD.
        Example {
            name: "KWD (exponent 3), intra-state odd split",
            input: with_rate(
                base(vec![line(1, 499_950, false)], Some("Karnataka"), "IN"),
                "KWD",
                "0.00367",
            ),
            lines: vec![(18_348, 0, 0, 18_348, Some(18_348), Some(3_303), 21_651)],
            components: vec![(TaxKind::Cgst, 1_652), (TaxKind::Sgst, 1_651)],
            totals: (18_348, 0, Some(18_348), Some(3_303), 21_651),
        },
        // 7. Sale then coupon, with a tie: three lines of 1,000.00, 10 % sale,
        //    then a fixed 100.00 coupon, billed in Karnataka.
        //    sale 300.00 -> 100.00 per line exactly; after-sale 900.00 each.
        //    coupon 100.00 over three equal lines: 33.33 each (floors 99.99), one
        //    paisa left, equal remainders -> first line: 33.34, 33.33, 33.33.
        //    nets 866.66, 866.67, 866.67.
        //    tax: 866.66 x 0.18 = 155.9988 -> 156.00; 866.67 x 0.18 = 156.0006 ->
        //    156.00. Each CGST 78.00, SGST 78.00. tax 468.00.
        //    total 2,600.00 + 468.00 = 3,068.00.
        Example {
            name: "sale then coupon, tie goes to the first line",
            input: PricingInput {
                sale: sale(DiscountKind::Percent(d("10"))),
                coupon: coupon(DiscountKind::Fixed(10_000)),
                ..base(
                    vec![
                        line(1, 100_000, false),
                        line(2, 100_000, false),
                        line(3, 100_000, false),
                    ],
                    Some("KA"),
                    "IN",
                )
            },
            lines: vec![
                (
                    100_000,
                    10_000,
                    3_334,
                    86_666,
                    Some(86_666),
                    Some(15_600),
                    102_266,
                ),
                (
                    100_000,
                    10_000,
                    3_333,
                    86_667,
                    Some(86_667),
                    Some(15_600),
                    102_267,
                ),
                (
                    100_000,
                    10_000,
                    3_333,
                    86_667,
                    Some(86_667),
                    Some(15_600),
                    102_267,
                ),
            ],
            components: vec![(TaxKind::Cgst, 23_400), (TaxKind::Sgst, 23_400)],
            totals: (300_000, 40_000, Some(260_000), Some(46_800), 306_800),
        },
        // 8. Estimate without an address: 4,999.00 exclusive + 1,180.00
        //    inclusive. No tax computed yet (null); total is the sum of the nets,
        //    6,179.00 (tax on the exclusive line comes when the address is known).
        Example {
            name: "no billing address: tax not computed",
            input: PricingInput {
                billing_address: None,
                ..base(
                    vec![line(1, 499_900, false), line(2, 118_000, true)],
                    None,
                    "IN",
                )
            },
            lines: vec![
                (499_900, 0, 0, 499_900, None, None, 499_900),
                (118_000, 0, 0, 118_000, None, None, 118_000),
            ],
            components: vec![],
            totals: (617_900, 0, None, None, 617_900),
        },
        // 9. B2B: example 2's lines bought with a Karnataka GSTIN, the address in
        //    Maharashtra. The GSTIN's state (29, KA) is the place of supply, the
        //    supplier's: CGST + SGST, exactly example 2's figures.
        Example {
            name: "B2B, GSTIN of the supplier's state beats the address",
            input: b2b(
                base(
                    vec![line(1, 499_900, false), line(2, 149_950, false)],
                    Some("MH"),
                    "IN",
                ),
                "29AAKCT4821M1ZR",
            ),
            lines: vec![
                (499_900, 0, 0, 499_900, Some(499_900), Some(89_982), 589_882),
                (149_950, 0, 0, 149_950, Some(149_950), Some(26_991), 176_941),
            ],
            components: vec![(TaxKind::Cgst, 58_487), (TaxKind::Sgst, 58_486)],
            totals: (649_850, 0, Some(649_850), Some(116_973), 766_823),
        },
        // 10. B2B the other way: a Maharashtra GSTIN (27) with a Karnataka address.
        //     Inter-state: IGST 899.82 + 269.91 = 1,169.73, same tax as example 2.
        Example {
            name: "B2B, GSTIN of another state is IGST even billed in the supplier's",
            input: b2b(
                base(
                    vec![line(1, 499_900, false), line(2, 149_950, false)],
                    Some("KA"),
                    "IN",
                ),
                "27BQWPS7305K1ZY",
            ),
            lines: vec![
                (499_900, 0, 0, 499_900, Some(499_900), Some(89_982), 589_882),
                (149_950, 0, 0, 149_950, Some(149_950), Some(26_991), 176_941),
            ],
            components: vec![(TaxKind::Igst, 116_973)],
            totals: (649_850, 0, Some(649_850), Some(116_973), 766_823),
        },
    ]
}

fn b2b(mut input: PricingInput, gstin: &str) -> PricingInput {
    if let Some(address) = input.billing_address.as_mut() {
        address.gstin = Some(Gstin::parse(gstin).unwrap());
    }
    input
}

#[test]
fn the_gstin_is_frozen_with_the_tax() {
    let ex = examples().into_iter().nth(8).unwrap();
    let b = price(&ex.input).unwrap();
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["tax"]["gstin"], "29AAKCT4821M1ZR");
    assert_eq!(json["tax"]["place_of_supply"]["kind"], "intra_state");
    // a consumer's breakdown has no `gstin` key at all
    let ex = examples().into_iter().nth(1).unwrap();
    let json = serde_json::to_value(price(&ex.input).unwrap()).unwrap();
    assert!(json["tax"].get("gstin").is_none());
}

#[test]
fn worked_examples_match_hand_computation() {
    for ex in examples() {
        let b = price(&ex.input).unwrap_or_else(|e| panic!("{}: {e}", ex.name));
        let got: Vec<LineFigures> = b
            .lines
            .iter()
            .map(|l| {
                (
                    l.amount,
                    l.sale_discount,
                    l.coupon_discount,
                    l.net,
                    l.taxable_value,
                    l.tax,
                    l.total,
                )
            })
            .collect();
        assert_eq!(got, ex.lines, "{}: lines", ex.name);
        let components: Vec<(TaxKind, i64)> = b
            .tax
            .as_ref()
            .map(|t| t.components.iter().map(|c| (c.kind, c.amount)).collect())
            .unwrap_or_default();
        assert_eq!(components, ex.components, "{}: components", ex.name);
        let t = &b.totals;
        assert_eq!(
            (t.subtotal, t.discount, t.taxable_value, t.tax, t.total),
            ex.totals,
            "{}: totals",
            ex.name
        );
    }
}

#[test]
fn worked_example_amounts_read_well() {
    // The first example's total as a student sees it.
    let ex = examples().into_iter().next().unwrap();
    let b = price(&ex.input).unwrap();
    let total = super::money::Money::new(b.totals.total, b.currency);
    assert_eq!(total.to_string(), "6,901.41 INR");
}
