//! Pure rules: money, GST, coupons, sales, FX and the price breakdown; account rules
//! (email, password policy) in [`account`]; the guest-cart merge rule in [`cart_merge`];
//! GST invoice and credit-note rules (financial year, numbering, amounts in words,
//! credit-note split) in [`invoice`].
//!
//! Nothing here does I/O. Callers load the catalog lines, the sale, the coupon
//! and its usage counters, the FX rate and the supplier state, call
//! [`pricing::price`], and store the [`pricing::PriceBreakdown`] it returns as
//! the order's immutable snapshot (it is `Serialize`/`Deserialize`).
//!
//! # Money
//! Amounts are `i64` minor units of their currency (paise for INR); the
//! currency's exponent (INR 2, JPY 0, KWD 3, ...) lives in [`money::Currency`].
//! `rust_decimal` is used only for rates (percentages, GST, FX). Every place a
//! rate meets an amount rounds once, with [`money::round_half_up`]: to the minor
//! unit, half away from zero.
//!
//! # Order of operations in [`pricing::price`]
//! 1. Line amount = unit price (INR paise) x quantity, checked (overflow is an
//!    error; quantity >= 1, price >= 0).
//! 2. Sale: its discount is computed on the cart subtotal (percent rounded
//!    half-up; fixed capped at the subtotal) and allocated to all lines.
//! 3. Coupon: evaluated on the line amounts *after* the sale; the minimum
//!    and the percentage apply to the eligible lines' after-sale amount; the
//!    discount is capped by `max_discount` and allocated to eligible lines. So a
//!    sale and a coupon stack, the coupon on the remainder, and the combined
//!    discount on a line can never exceed the line.
//! 4. Currency: when the cart is not in INR, each line's amount, after-sale
//!    amount and net amount are converted separately with the one rate
//!    (`as_of` recorded), each rounded half-up to the target exponent. The
//!    converted discounts are the differences (amount - after-sale,
//!    after-sale - net), so they sum exactly and stay non-negative because
//!    conversion is monotonic. The rate must exist, be for the currency, and be
//!    no older than the staleness limit passed in; otherwise an error.
//! 5. Tax per line on the converted net amount ([`tax`]): 18 % GST; CGST+SGST
//!    for the supplier's state, IGST for another Indian state, zero-rated for
//!    export; with a GSTIN (B2B) the GSTIN's state is the place of supply.
//!    Tax-exclusive: tax = round(net x 18 %), added on top.
//!    Tax-inclusive: tax = round(net x 18/118) is backed out; the total stays the
//!    net price. CGST = round(tax / 2), SGST = tax - CGST, so components always
//!    sum to the line's tax. Without a billing address no tax is computed:
//!    `tax`, `taxable_value` are `null` and the total is the net price.
//! 6. Totals are sums of the line figures (subtotal, discounts, net, taxable
//!    value, tax, total, and each tax component); nothing is computed on the
//!    total and then spread.
//!
//! # Allocation
//! Cart-level discounts are split over lines in proportion to their amounts by
//! the largest-remainder method ([`allocation::allocate`]): floors first, the
//! leftover minor units to the largest fractional parts, ties to the earlier
//! line. Line discounts therefore sum exactly to the cart discount and never
//! exceed a line.
//!
//! # Refusals
//! Coupon refusals ([`coupon::CouponRefusal`]) and sale refusals
//! ([`sale::SaleRefusal`]) are enums with one variant per reason, a stable
//! snake_case `reason()` and a student-readable `Display`. Numeric API codes are
//! assigned by the API layer, not here. `price` returns them as errors instead of
//! silently dropping a discount. Usage counters are atomic in the store; the
//! rule they implement is [`coupon::usage_allows_one_more`].

pub mod account;
pub mod allocation;
pub mod cart_merge;
pub mod codes;
pub mod coupon;
pub mod discount;
pub mod fx;
pub mod gateway;
pub mod gstin;
pub mod india;
pub mod invoice;
pub mod money;
pub mod order;
pub mod pricing;
pub mod sale;
pub mod tax;

#[cfg(test)]
mod worked_examples;

pub use coupon::{
    Coupon, CouponDiscount, CouponRefusal, CouponUsage, evaluate, usage_allows_one_more,
};
pub use discount::DiscountKind;
pub use fx::{FxError, FxRate, latest_rate};
pub use gateway::GatewayKind;
pub use gstin::{Gstin, GstinError};
pub use india::IndianState;
pub use money::{Currency, Money, MoneyError};
pub use pricing::{
    CouponInput, LineInput, PriceBreakdown, PricedLine, PricingError, PricingInput, Totals, price,
};
pub use sale::{Sale, SaleDiscount, SaleRefusal, evaluate_sale};
pub use tax::{BillingAddress, PlaceOfSupply, TaxComponent, TaxKind};

/// Helpers shared by the test modules.
#[cfg(test)]
pub(crate) mod test_support {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use chrono::{DateTime, Utc};
    use rust_decimal::Decimal;

    /// A decimal from a literal string.
    pub(crate) fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    /// A UTC instant from RFC 3339.
    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
}
