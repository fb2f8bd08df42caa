//! `price`: from cart lines to an immutable, explainable price breakdown.
//!
//! The order of operations is documented in the `domain` module doc; this file
//! follows it step by step.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::allocation::AllocationError;
use super::coupon::{Coupon, CouponLine, CouponRefusal, CouponUsage, evaluate};
use super::fx::{FxError, FxRate, convert_minor};
use super::gstin::Gstin;
use super::india::IndianState;
use super::money::{Currency, MoneyError, checked_sum};
use super::sale::{Sale, SaleRefusal, evaluate_sale};
use super::tax::{
    BillingAddress, LineTax, PlaceOfSupply, TaxComponent, TaxError, place_of_supply, tax_line,
};

/// One cart line as the catalog prices it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineInput {
    /// Cart item id.
    pub line_id: Uuid,
    /// Internship program.
    pub program_id: Uuid,
    /// Plan of the program.
    pub plan_id: Uuid,
    /// Title shown on the invoice.
    pub title: String,
    /// Plan price in INR paise (tax-inclusive or not, see `tax_inclusive`).
    pub unit_price_inr: i64,
    /// At least 1.
    pub quantity: u32,
    /// Whether `unit_price_inr` already contains GST.
    pub tax_inclusive: bool,
}

/// A coupon to apply with the usage counters read from the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponInput {
    /// The coupon definition.
    pub coupon: Coupon,
    /// Counters at evaluation time.
    pub usage: CouponUsage,
}

/// Everything `price` needs; gathering it (store reads, config) is the caller's
/// job, which keeps this pure and repeatable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingInput {
    /// Cart lines, in cart order (the order breaks allocation ties).
    pub lines: Vec<LineInput>,
    /// The cart's sale, already looked up by slug.
    pub sale: Option<Sale>,
    /// The cart's coupon (one per cart).
    pub coupon: Option<CouponInput>,
    /// Billing address; `None` prices without tax (`tax: null`).
    pub billing_address: Option<BillingAddress>,
    /// Currency to price in.
    pub currency: Currency,
    /// Newest INR -> `currency` rate; required unless `currency` is INR.
    pub fx_rate: Option<FxRate>,
    /// Oldest acceptable rate age.
    pub max_rate_age: Duration,
    /// The supplier's GST registration state (configuration).
    pub supplier_state: IndianState,
    /// The pricing instant (validity windows, rate age).
    pub now: DateTime<Utc>,
}

/// Why a cart cannot be priced. Coupon and sale refusals are errors rather than
/// silently dropped discounts, so a snapshot never differs from what was shown;
/// the caller removes the coupon and prices again if it wants to go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// Quantity below 1.
    #[error("quantity must be at least 1 (line {line_id})")]
    InvalidQuantity {
        /// Offending line.
        line_id: Uuid,
    },
    /// Negative catalog price.
    #[error("price must not be negative (line {line_id})")]
    NegativePrice {
        /// Offending line.
        line_id: Uuid,
    },
    /// An amount does not fit in 64 bits.
    #[error("amount overflow")]
    Overflow,
    /// The sale does not run.
    #[error(transparent)]
    Sale(#[from] SaleRefusal),
    /// The coupon does not apply.
    #[error(transparent)]
    Coupon(#[from] CouponRefusal),
    /// Currency conversion impossible.
    #[error(transparent)]
    Fx(#[from] FxError),
    /// The billing address cannot decide the tax.
    #[error(transparent)]
    Tax(#[from] TaxError),
    /// A discount could not be split (an internal inconsistency).
    #[error(transparent)]
    Allocation(#[from] AllocationError),
}

impl From<MoneyError> for PricingError {
    fn from(_: MoneyError) -> Self {
        PricingError::Overflow
    }
}

/// One priced line. Amounts are minor units of the breakdown's currency except
/// the `_inr` fields, which keep the catalog figures they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    /// Cart item id.
    pub line_id: Uuid,
    /// Program.
    pub program_id: Uuid,
    /// Plan.
    pub plan_id: Uuid,
    /// Title.
    pub title: String,
    /// Quantity.
    pub quantity: u32,
    /// Whether the price includes GST.
    pub tax_inclusive: bool,
    /// Catalog unit price, INR paise.
    pub unit_price_inr: i64,
    /// unit price x quantity, INR paise.
    pub amount_inr: i64,
    /// Line amount before discounts, converted.
    pub amount: i64,
    /// Share of the sale discount.
    pub sale_discount: i64,
    /// Share of the coupon discount.
    pub coupon_discount: i64,
    /// sale_discount + coupon_discount.
    pub discount: i64,
    /// amount - discount: the discounted price (tax-inclusive if the plan is).
    pub net: i64,
    /// Ex-tax value after discount; `None` until an address is given.
    pub taxable_value: Option<i64>,
    /// Tax on the line; `None` until an address is given.
    pub tax: Option<i64>,
    /// Named tax components (empty until an address is given).
    pub tax_components: Vec<TaxComponent>,
    /// What the student pays for the line.
    pub total: i64,
}

/// Invoice totals: each is the sum of the same field over the lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Sum of `amount`.
    pub subtotal: i64,
    /// Sum of `sale_discount`.
    pub sale_discount: i64,
    /// Sum of `coupon_discount`.
    pub coupon_discount: i64,
    /// Sum of `discount`.
    pub discount: i64,
    /// Sum of `net`.
    pub net: i64,
    /// Sum of `taxable_value`, or `None` without an address.
    pub taxable_value: Option<i64>,
    /// Sum of `tax`, or `None` without an address.
    pub tax: Option<i64>,
    /// Sum of `total`: the amount to charge.
    pub total: i64,
}

/// Invoice-level tax: the place of supply and each component summed over lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxSummary {
    /// Intra-state, inter-state or export.
    pub place_of_supply: PlaceOfSupply,
    /// The buyer's GSTIN when it bought as a registered business (B2B); its state is
    /// the place of supply. Frozen here so an invoice never looks it up again; absent
    /// from the JSON for a sale to a consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gstin: Option<Gstin>,
    /// Sum of line taxable values.
    pub taxable_value: i64,
    /// Sum of line taxes (= sum of the components).
    pub tax: i64,
    /// Per kind, in the order CGST, SGST, IGST, zero-rated.
    pub components: Vec<TaxComponent>,
}

/// A discount that was applied, in both currencies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedDiscount {
    /// Sale slug or coupon code.
    pub code: String,
    /// Amount in the breakdown's currency (sum over lines).
    pub amount: i64,
    /// Amount in INR paise as computed before conversion.
    pub amount_inr: i64,
}

/// The full price: stored as the order's immutable snapshot and returned by the
/// API as is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBreakdown {
    /// Currency of every non-`_inr` amount.
    pub currency: Currency,
    /// Lines in cart order.
    pub lines: Vec<PricedLine>,
    /// Sums of the lines.
    pub totals: Totals,
    /// `None` (JSON `null`) until a billing address is given.
    pub tax: Option<TaxSummary>,
    /// The sale applied, if any.
    pub sale: Option<AppliedDiscount>,
    /// The coupon applied, if any.
    pub coupon: Option<AppliedDiscount>,
    /// The rate used (with its `as_of`); `None` for INR.
    pub fx: Option<FxRate>,
    /// The instant the price was computed for.
    pub priced_at: DateTime<Utc>,
}

/// Converts INR paise to the target currency; the identity for INR.
struct Converter<'a>(Option<&'a FxRate>);

impl Converter<'_> {
    fn convert(&self, inr_minor: i64) -> Result<i64, PricingError> {
        match self.0 {
            None => Ok(inr_minor),
            Some(rate) => Ok(convert_minor(inr_minor, rate)?),
        }
    }
}

/// Picks the rate to use: none for INR; otherwise the given one, which must be
/// for the right currency, valid and fresh.
fn choose_rate(input: &PricingInput) -> Result<Option<&FxRate>, PricingError> {
    if input.currency == Currency::INR {
        return Ok(None);
    }
    let rate = input.fx_rate.as_ref().ok_or(FxError::MissingRate {
        quote: input.currency,
    })?;
    if rate.quote != input.currency {
        return Err(FxError::WrongCurrency {
            wanted: input.currency,
            got: rate.quote,
        }
        .into());
    }
    rate.validate()?;
    rate.check_fresh(input.now, input.max_rate_age)?;
    Ok(Some(rate))
}

/// Prices a cart. Pure: the same input always gives the same breakdown.
pub fn price(input: &PricingInput) -> Result<PriceBreakdown, PricingError> {
    // 1. Line amounts in INR, checked.
    let mut amounts_inr = Vec::with_capacity(input.lines.len());
    for line in &input.lines {
        if line.quantity < 1 {
            return Err(PricingError::InvalidQuantity {
                line_id: line.line_id,
            });
        }
        if line.unit_price_inr < 0 {
            return Err(PricingError::NegativePrice {
                line_id: line.line_id,
            });
        }
        let amount = line
            .unit_price_inr
            .checked_mul(i64::from(line.quantity))
            .ok_or(PricingError::Overflow)?;
        amounts_inr.push(amount);
    }
    checked_sum(amounts_inr.iter().copied())?;

    // 2. Sale on line amounts, 3. coupon on what the sale left.
    let sale = match &input.sale {
        Some(sale) => Some(evaluate_sale(sale, &amounts_inr, input.now)?),
        None => None,
    };
    let sale_inr = |i: usize| {
        sale.as_ref()
            .and_then(|s| s.per_line.get(i).copied())
            .unwrap_or(0)
    };
    let after_sale_inr: Vec<i64> = amounts_inr
        .iter()
        .enumerate()
        .map(|(i, a)| a - sale_inr(i))
        .collect();
    let coupon = match &input.coupon {
        Some(c) => {
            let lines: Vec<CouponLine> = input
                .lines
                .iter()
                .zip(&after_sale_inr)
                .map(|(l, amount)| CouponLine {
                    program_id: l.program_id,
                    plan_id: l.plan_id,
                    amount: *amount,
                })
                .collect();
            Some(evaluate(&c.coupon, &lines, input.now, &c.usage)?)
        }
        None => None,
    };
    let coupon_inr = |i: usize| {
        coupon
            .as_ref()
            .and_then(|c| c.per_line.get(i).copied())
            .unwrap_or(0)
    };

    // 4. Currency, 5. place of supply.
    let converter = Converter(choose_rate(input)?);
    let place = match &input.billing_address {
        Some(address) => Some(place_of_supply(address, input.supplier_state)?),
        None => None,
    };

    // 6. Per line: convert amount, after-sale and net; discounts are the
    //    differences, so they telescope exactly; then tax.
    let mut lines = Vec::with_capacity(input.lines.len());
    for (i, line) in input.lines.iter().enumerate() {
        let amount_inr = amounts_inr.get(i).copied().unwrap_or(0);
        let after_sale = after_sale_inr.get(i).copied().unwrap_or(0);
        let net_inr = after_sale - coupon_inr(i);
        let amount = converter.convert(amount_inr)?;
        let after_sale_conv = converter.convert(after_sale)?;
        let net = converter.convert(net_inr)?;
        let sale_discount = amount - after_sale_conv;
        let coupon_discount = after_sale_conv - net;
        let tax = match &place {
            Some(p) => Some(tax_line(net, line.tax_inclusive, p)?),
            None => None,
        };
        lines.push(priced_line(
            line,
            amount_inr,
            amount,
            sale_discount,
            coupon_discount,
            net,
            tax,
        ));
    }

    // 7. Totals are sums of lines.
    let totals = sum_totals(&lines, place.is_some())?;
    let tax = match place {
        Some(place_of_supply) => Some(TaxSummary {
            place_of_supply,
            gstin: input.billing_address.as_ref().and_then(|a| a.gstin.clone()),
            taxable_value: totals.taxable_value.unwrap_or(0),
            tax: totals.tax.unwrap_or(0),
            components: sum_components(&lines)?,
        }),
        None => None,
    };
    Ok(PriceBreakdown {
        currency: input.currency,
        sale: sale.map(|s| AppliedDiscount {
            code: s.slug,
            amount: totals.sale_discount,
            amount_inr: s.amount,
        }),
        coupon: coupon.map(|c| AppliedDiscount {
            code: c.code,
            amount: totals.coupon_discount,
            amount_inr: c.amount,
        }),
        fx: converter.0.cloned(),
        lines,
        totals,
        tax,
        priced_at: input.now,
    })
}

fn priced_line(
    line: &LineInput,
    amount_inr: i64,
    amount: i64,
    sale_discount: i64,
    coupon_discount: i64,
    net: i64,
    tax: Option<LineTax>,
) -> PricedLine {
    let (taxable_value, tax_amount, components, total) = match tax {
        Some(t) => (Some(t.taxable_value), Some(t.tax), t.components, t.total),
        None => (None, None, Vec::new(), net),
    };
    PricedLine {
        line_id: line.line_id,
        program_id: line.program_id,
        plan_id: line.plan_id,
        title: line.title.clone(),
        quantity: line.quantity,
        tax_inclusive: line.tax_inclusive,
        unit_price_inr: line.unit_price_inr,
        amount_inr,
        amount,
        sale_discount,
        coupon_discount,
        discount: sale_discount + coupon_discount,
        net,
        taxable_value,
        tax: tax_amount,
        tax_components: components,
        total,
    }
}

fn sum_totals(lines: &[PricedLine], taxed: bool) -> Result<Totals, PricingError> {
    let sum = |f: fn(&PricedLine) -> i64| checked_sum(lines.iter().map(f));
    let optional = |f: fn(&PricedLine) -> Option<i64>| -> Result<Option<i64>, PricingError> {
        if taxed {
            Ok(Some(checked_sum(lines.iter().map(|l| f(l).unwrap_or(0)))?))
        } else {
            Ok(None)
        }
    };
    Ok(Totals {
        subtotal: sum(|l| l.amount)?,
        sale_discount: sum(|l| l.sale_discount)?,
        coupon_discount: sum(|l| l.coupon_discount)?,
        discount: sum(|l| l.discount)?,
        net: sum(|l| l.net)?,
        taxable_value: optional(|l| l.taxable_value)?,
        tax: optional(|l| l.tax)?,
        total: sum(|l| l.total)?,
    })
}

/// Sums components of the same kind across lines, in kind order.
fn sum_components(lines: &[PricedLine]) -> Result<Vec<TaxComponent>, PricingError> {
    let mut out: Vec<TaxComponent> = Vec::new();
    for component in lines.iter().flat_map(|l| &l.tax_components) {
        match out.iter_mut().find(|c| c.kind == component.kind) {
            Some(existing) => {
                existing.amount = existing
                    .amount
                    .checked_add(component.amount)
                    .ok_or(PricingError::Overflow)?;
            }
            None => out.push(component.clone()),
        }
    }
    out.sort_by_key(|c| c.kind);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::discount::DiscountKind;
    use crate::domain::tax::TaxKind;
    use crate::domain::test_support::{at, d};
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn line(n: u128, unit: i64, qty: u32, inclusive: bool) -> LineInput {
        LineInput {
            line_id: Uuid::from_u128(n),
            program_id: Uuid::from_u128(100 + n),
            plan_id: Uuid::from_u128(200 + n),
            title: format!("Internship {n}"),
            unit_price_inr: unit,
            quantity: qty,
            tax_inclusive: inclusive,
        }
    }

    fn address(country: &str, state: Option<&str>) -> BillingAddress {
        BillingAddress {
            country: country.into(),
            state: state.map(Into::into),
            postal_code: None,
            gstin: None,
            name: None,
            address_lines: Vec::new(),
        }
    }

    fn input(lines: Vec<LineInput>) -> PricingInput {
        PricingInput {
            lines,
            sale: None,
            coupon: None,
            billing_address: Some(address("IN", Some("MH"))),
            currency: Currency::INR,
            fx_rate: None,
            max_rate_age: Duration::hours(24),
            supplier_state: IndianState::parse("KA").unwrap(),
            now: at("2026-06-15T12:00:00Z"),
        }
    }

    fn coupon(kind: DiscountKind) -> CouponInput {
        CouponInput {
            coupon: Coupon::unrestricted("SAVE", kind),
            usage: CouponUsage::default(),
        }
    }

    fn usd(rate: &str, as_of: &str) -> FxRate {
        FxRate {
            base: Currency::INR,
            quote: Currency::parse("USD").unwrap(),
            rate: d(rate),
            as_of: at(as_of),
        }
    }

    #[test]
    fn quantity_multiplies_and_tax_is_added() {
        // 2 x 1,000.00 = 2,000.00; IGST 360.00; total 2,360.00.
        let b = price(&input(vec![line(1, 100_000, 2, false)])).unwrap();
        assert_eq!(b.lines[0].amount_inr, 200_000);
        assert_eq!(b.totals.tax, Some(36_000));
        assert_eq!(b.totals.total, 236_000);
    }

    #[test]
    fn empty_cart_prices_to_zero() {
        let b = price(&input(vec![])).unwrap();
        assert_eq!(b.totals.total, 0);
        assert_eq!(b.totals.tax, Some(0));
        assert!(b.lines.is_empty());
    }

    #[test]
    fn bad_lines_are_refused() {
        let zero = line(1, 100, 0, false);
        assert_eq!(
            price(&input(vec![zero])),
            Err(PricingError::InvalidQuantity {
                line_id: Uuid::from_u128(1)
            })
        );
        let negative = line(2, -1, 1, false);
        assert_eq!(
            price(&input(vec![negative])),
            Err(PricingError::NegativePrice {
                line_id: Uuid::from_u128(2)
            })
        );
        assert_eq!(
            price(&input(vec![line(3, i64::MAX, 2, false)])),
            Err(PricingError::Overflow)
        );
        // Each line fits but the cart total does not.
        assert_eq!(
            price(&input(vec![
                line(3, i64::MAX / 2 + 1, 1, false),
                line(4, i64::MAX / 2 + 1, 1, false)
            ])),
            Err(PricingError::Overflow)
        );
    }

    #[test]
    fn no_address_means_no_tax_yet() {
        let mut i = input(vec![line(1, 499_900, 1, false), line(2, 118_000, 1, true)]);
        i.billing_address = None;
        let b = price(&i).unwrap();
        assert_eq!(b.tax, None);
        assert_eq!(b.totals.tax, None);
        assert_eq!(b.totals.taxable_value, None);
        assert_eq!(b.lines[0].tax_components, vec![]);
        assert_eq!(b.totals.total, 617_900);
        let json = serde_json::to_value(&b).unwrap();
        assert!(json["tax"].is_null());
        assert!(json["totals"]["tax"].is_null());
    }

    #[test]
    fn refusals_propagate() {
        let mut i = input(vec![line(1, 100_000, 1, false)]);
        let mut c = coupon(DiscountKind::Percent(d("10")));
        c.coupon.min_subtotal = Some(500_000);
        i.coupon = Some(c);
        let err = price(&i).unwrap_err();
        assert_eq!(
            err.to_string(),
            "minimum order is 5,000.00 INR for this coupon"
        );

        let mut i = input(vec![line(1, 100_000, 1, false)]);
        i.sale = Some(Sale {
            slug: "old".into(),
            kind: DiscountKind::Percent(d("10")),
            valid_from: None,
            valid_until: Some(at("2026-01-01T00:00:00Z")),
            active: true,
        });
        assert!(matches!(
            price(&i),
            Err(PricingError::Sale(SaleRefusal::Ended { .. }))
        ));

        let mut i = input(vec![line(1, 100_000, 1, false)]);
        i.billing_address = Some(address("IN", Some("Narnia")));
        assert!(matches!(
            price(&i),
            Err(PricingError::Tax(TaxError::UnknownState(_)))
        ));
    }

    #[test]
    fn foreign_currency_needs_a_fresh_matching_rate() {
        let usd_cur = Currency::parse("USD").unwrap();
        let mut i = input(vec![line(1, 100_000, 1, false)]);
        i.currency = usd_cur;
        assert_eq!(
            price(&i),
            Err(PricingError::Fx(FxError::MissingRate { quote: usd_cur }))
        );
        i.fx_rate = Some(FxRate {
            quote: Currency::parse("EUR").unwrap(),
            ..usd("0.012", "2026-06-15T00:00:00Z")
        });
        assert!(matches!(
            price(&i),
            Err(PricingError::Fx(FxError::WrongCurrency { .. }))
        ));
        i.fx_rate = Some(usd("0.012", "2026-06-14T11:59:59Z"));
        assert!(matches!(
            price(&i),
            Err(PricingError::Fx(FxError::StaleRate { .. }))
        ));
        i.fx_rate = Some(usd("0.012", "2026-06-14T12:00:00Z"));
        let b = price(&i).unwrap();
        // 1,000.00 INR x 0.012 = 12.00 USD; IGST 2.16; total 14.16 USD.
        assert_eq!(
            (b.totals.subtotal, b.totals.tax, b.totals.total),
            (1_200, Some(216), 1_416)
        );
        assert_eq!(b.fx.as_ref().unwrap().as_of, at("2026-06-14T12:00:00Z"));
        assert_eq!(b.currency, usd_cur);
    }

    #[test]
    fn inr_ignores_any_rate() {
        let mut i = input(vec![line(1, 100_000, 1, false)]);
        i.fx_rate = Some(usd("0.012", "2020-01-01T00:00:00Z"));
        let b = price(&i).unwrap();
        assert_eq!(b.fx, None);
        assert_eq!(b.totals.subtotal, 100_000);
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let mut i = input(vec![line(1, 499_900, 1, false), line(2, 149_950, 1, true)]);
        i.coupon = Some(coupon(DiscountKind::Percent(d("10"))));
        i.billing_address = Some(address("IN", Some("KA")));
        let b = price(&i).unwrap();
        let json = serde_json::to_string(&b).unwrap();
        let back: PriceBreakdown = serde_json::from_str(&json).unwrap();
        assert_eq!(back, b);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["tax"]["components"][0]["kind"], "cgst");
        assert_eq!(v["tax"]["components"][0]["rate"], "0.09");
        assert_eq!(v["tax"]["place_of_supply"]["kind"], "intra_state");
        assert_eq!(v["coupon"]["code"], "SAVE");
    }

    /// Strategy for a random but valid cart.
    fn arb_lines() -> impl Strategy<Value = Vec<LineInput>> {
        proptest::collection::vec((0i64..5_000_000, 1u32..4, any::<bool>()), 1..6).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(n, (unit, qty, inc))| line(n as u128, unit, qty, inc))
                .collect()
        })
    }

    fn arb_input() -> impl Strategy<Value = PricingInput> {
        (
            arb_lines(),
            proptest::option::of(1u32..=100),
            proptest::option::of((
                any::<bool>(),
                1i64..2_000_000,
                proptest::option::of(1i64..1_000_000),
            )),
            0u8..4,
            0usize..4,
            1i64..3_000_000,
        )
            .prop_map(|(lines, sale_pct, coupon_spec, addr, cur, rate_micro)| {
                let mut i = input(lines);
                i.sale = sale_pct.map(|p| Sale {
                    slug: "s".into(),
                    kind: DiscountKind::Percent(Decimal::from(p)),
                    valid_from: None,
                    valid_until: None,
                    active: true,
                });
                i.coupon = coupon_spec.map(|(percent, v, cap)| {
                    let kind = if percent {
                        DiscountKind::Percent(Decimal::from(v % 100 + 1))
                    } else {
                        DiscountKind::Fixed(v)
                    };
                    let mut c = coupon(kind);
                    c.coupon.max_discount = cap;
                    c
                });
                i.billing_address = match addr {
                    0 => None,
                    1 => Some(address("IN", Some("Karnataka"))),
                    2 => Some(address("IN", Some("DL"))),
                    _ => Some(address("US", None)),
                };
                let code = ["INR", "USD", "JPY", "KWD"][cur];
                i.currency = Currency::parse(code).unwrap();
                i.fx_rate = Some(FxRate {
                    base: Currency::INR,
                    quote: i.currency,
                    rate: Decimal::new(rate_micro, 6),
                    as_of: i.now,
                });
                i
            })
    }

    /// Prices, skipping the one legitimate refusal random carts hit (a coupon on
    /// lines the sale already made free).
    fn price_ok(i: &PricingInput) -> Option<PriceBreakdown> {
        match price(i) {
            Ok(b) => Some(b),
            Err(PricingError::Coupon(CouponRefusal::NothingToDiscount)) => None,
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    proptest! {
        #[test]
        fn totals_are_sums_of_lines(i in arb_input()) {
            let Some(b) = price_ok(&i) else { return Ok(()); };
            let sum = |f: fn(&PricedLine) -> i64| b.lines.iter().map(f).sum::<i64>();
            prop_assert_eq!(b.totals.subtotal, sum(|l| l.amount));
            prop_assert_eq!(b.totals.sale_discount, sum(|l| l.sale_discount));
            prop_assert_eq!(b.totals.coupon_discount, sum(|l| l.coupon_discount));
            prop_assert_eq!(b.totals.discount, sum(|l| l.discount));
            prop_assert_eq!(b.totals.net, sum(|l| l.net));
            prop_assert_eq!(b.totals.total, sum(|l| l.total));
            if let Some(tax) = &b.tax {
                prop_assert_eq!(b.totals.tax, Some(sum(|l| l.tax.unwrap())));
                prop_assert_eq!(b.totals.taxable_value, Some(sum(|l| l.taxable_value.unwrap())));
                prop_assert_eq!(Some(tax.tax), b.totals.tax);
            } else {
                prop_assert!(b.lines.iter().all(|l| l.tax.is_none() && l.total == l.net));
            }
            if let Some(s) = &b.sale { prop_assert_eq!(s.amount, b.totals.sale_discount); }
            if let Some(c) = &b.coupon { prop_assert_eq!(c.amount, b.totals.coupon_discount); }
        }

        #[test]
        fn tax_components_sum_to_tax(i in arb_input()) {
            let Some(b) = price_ok(&i) else { return Ok(()); };
            for l in &b.lines {
                if let Some(t) = l.tax {
                    prop_assert_eq!(l.tax_components.iter().map(|c| c.amount).sum::<i64>(), t);
                }
            }
            if let Some(tax) = &b.tax {
                prop_assert_eq!(tax.components.iter().map(|c| c.amount).sum::<i64>(), tax.tax);
            }
        }

        #[test]
        fn discounts_bounded_and_nothing_negative(i in arb_input()) {
            let Some(b) = price_ok(&i) else { return Ok(()); };
            for l in &b.lines {
                prop_assert!(l.discount <= l.amount);
                prop_assert_eq!(l.discount, l.sale_discount + l.coupon_discount);
                prop_assert_eq!(l.net, l.amount - l.discount);
                for v in [l.amount, l.sale_discount, l.coupon_discount, l.net, l.total] {
                    prop_assert!(v >= 0);
                }
                prop_assert!(l.tax.unwrap_or(0) >= 0 && l.taxable_value.unwrap_or(0) >= 0);
            }
            prop_assert!(b.totals.discount <= b.totals.subtotal);
        }

        #[test]
        fn inclusive_total_is_unchanged_by_tax(i in arb_input()) {
            let Some(b) = price_ok(&i) else { return Ok(()); };
            for l in &b.lines {
                match (l.tax_inclusive, l.taxable_value, l.tax) {
                    (true, Some(taxable), Some(tax)) => {
                        prop_assert_eq!(l.total, l.net);
                        prop_assert_eq!(taxable + tax, l.net);
                    }
                    (false, Some(taxable), Some(tax)) => {
                        prop_assert_eq!(taxable, l.net);
                        prop_assert_eq!(l.total, l.net + tax);
                    }
                    _ => prop_assert_eq!(l.total, l.net),
                }
            }
        }

        #[test]
        fn place_of_supply_decides_components_not_amount(i in arb_input()) {
            let mut intra = i.clone();
            intra.billing_address = Some(address("IN", Some("KA")));
            let mut inter = i.clone();
            inter.billing_address = Some(address("IN", Some("TN")));
            let mut export = i;
            export.billing_address = Some(address("SG", None));
            let (Some(a), Some(b), Some(c)) = (price_ok(&intra), price_ok(&inter), price_ok(&export)) else { return Ok(()); };
            prop_assert_eq!(a.totals.tax, b.totals.tax);
            let kinds = |x: &PriceBreakdown| x.tax.as_ref().unwrap().components.iter().map(|c| c.kind).collect::<Vec<_>>();
            prop_assert_eq!(kinds(&a), vec![TaxKind::Cgst, TaxKind::Sgst]);
            prop_assert_eq!(kinds(&b), vec![TaxKind::Igst]);
            prop_assert_eq!(kinds(&c), vec![TaxKind::ZeroRated]);
            prop_assert_eq!(c.totals.tax, Some(0));
            prop_assert_eq!(c.totals.total, c.totals.net);
            // CGST and SGST differ by at most one minor unit per line.
            let comps = &a.tax.as_ref().unwrap().components;
            let lines = i64::try_from(a.lines.len()).unwrap();
            prop_assert!((0..=lines).contains(&(comps[0].amount - comps[1].amount)));
        }

        #[test]
        fn conversion_respects_the_exponent(i in arb_input()) {
            let Some(b) = price_ok(&i) else { return Ok(()); };
            let scale = Decimal::from(10i64.pow(b.currency.exponent()));
            for l in &b.lines {
                let exact = match &b.fx {
                    Some(fx) => Decimal::from(l.amount_inr) * fx.rate * scale / Decimal::from(100),
                    None => Decimal::from(l.amount_inr),
                };
                prop_assert!((Decimal::from(l.amount) - exact).abs() <= d("0.5"));
            }
        }

        #[test]
        fn pricing_is_deterministic(i in arb_input()) {
            prop_assert_eq!(price(&i), price(&i));
        }
    }
}
