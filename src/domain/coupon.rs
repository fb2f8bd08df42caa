//! Coupons: the pure rules deciding whether a code applies and for how much.
//!
//! Evaluation never changes anything: applying a coupon to a cart only checks it;
//! an order redeems it later, and the counters live in the store. The store's
//! atomic increment must use the same rule as [`usage_allows_one_more`]
//! (`UPDATE .. SET used = used + 1 WHERE limit IS NULL OR used < limit`), so a
//! limit of 1 under 100 concurrent redemptions gives exactly one.
//!
//! Rules, checked in this order so the student hears the most fundamental reason
//! first: active -> validity window (from inclusive, until exclusive) -> global
//! limit -> login needed (per-user limit or first-order-only with a guest) ->
//! per-user limit -> first order -> eligible lines -> minimum -> amount.
//!
//! - Eligible lines: with no restriction every line; otherwise a line whose
//!   program is listed *or* whose plan is listed.
//! - The minimum and the percentage apply to the eligible lines' amount after any
//!   sale discount (what the coupon actually discounts).
//! - The discount is capped by `max_discount` and by that amount, then allocated
//!   to the eligible lines by largest remainder ([`super::allocation`]).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::allocation::allocate;
use super::discount::{DefinitionError, DiscountKind};
use super::money::{Money, checked_sum};

/// A coupon as configured by an admin. Money fields are INR paise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// Code as stored (see [`normalize_code`]).
    pub code: String,
    /// Percent or fixed.
    pub kind: DiscountKind,
    /// Minimum eligible amount (after sale) for the coupon to apply.
    #[serde(default)]
    pub min_subtotal: Option<i64>,
    /// Upper bound on the discount.
    #[serde(default)]
    pub max_discount: Option<i64>,
    /// First instant the coupon works (inclusive).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// First instant it no longer works (exclusive).
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// Redemptions allowed in total; `None` is unlimited.
    #[serde(default)]
    pub global_limit: Option<u32>,
    /// Redemptions allowed per user; `None` is unlimited.
    #[serde(default)]
    pub per_user_limit: Option<u32>,
    /// Programs it is restricted to (empty with empty `plan_ids`: any line).
    #[serde(default)]
    pub program_ids: Vec<Uuid>,
    /// Plans it is restricted to.
    #[serde(default)]
    pub plan_ids: Vec<Uuid>,
    /// Only for a user's first paid order.
    #[serde(default)]
    pub first_order_only: bool,
    /// Switched off by an admin.
    pub active: bool,
}

/// Canonical form of a code as typed: trimmed, uppercase. Lookups and storage
/// use it so "save10 " and "SAVE10" are the same coupon.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_uppercase()
}

/// The single rule for a usage counter: one more use is allowed while the
/// number of uses so far is below the limit; no limit allows any number.
pub fn usage_allows_one_more(limit: Option<u32>, used: u32) -> bool {
    limit.is_none_or(|l| used < l)
}

/// Counters read from the store at evaluation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CouponUsage {
    /// Redemptions by anyone so far.
    pub global_used: u32,
    /// Redemptions by this user; `None` for a guest cart.
    pub user_used: Option<u32>,
    /// Whether this user has a paid order already; `None` for a guest cart.
    pub user_has_prior_orders: Option<bool>,
}

/// What the coupon looks at in a cart line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CouponLine {
    /// Program of the line.
    pub program_id: Uuid,
    /// Plan of the line.
    pub plan_id: Uuid,
    /// Line amount in INR paise after the sale discount.
    pub amount: i64,
}

/// A coupon that applies, with its discount split over the lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CouponDiscount {
    /// The coupon code.
    pub code: String,
    /// Total discount in INR paise.
    pub amount: i64,
    /// Discount per input line, in input order; ineligible lines get 0.
    pub per_line: Vec<i64>,
}

/// Why a coupon does not apply. One variant per reason; the API maps each to its
/// own error code in one table, using [`CouponRefusal::reason`] as the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum CouponRefusal {
    /// No coupon has this code (decided by the store lookup).
    NotFound {
        /// The code as typed.
        code: String,
    },
    /// Switched off.
    Inactive,
    /// Before its validity window.
    NotYetValid {
        /// When it starts.
        from: DateTime<Utc>,
    },
    /// After its validity window.
    Expired {
        /// When it ended.
        until: DateTime<Utc>,
    },
    /// Every global use is taken.
    UsageLimitReached,
    /// A guest cart; the coupon needs to know who the student is.
    RequiresLogin,
    /// This user used up their uses.
    PerUserLimitReached {
        /// Uses allowed per user.
        limit: u32,
    },
    /// The user already has an order.
    FirstOrderOnly,
    /// No line is in the programs or plans it is restricted to.
    NotApplicableToItems,
    /// The eligible amount is below the minimum.
    MinimumNotMet {
        /// The minimum, in INR.
        minimum: Money,
    },
    /// The eligible lines are already free (e.g. after a sale).
    NothingToDiscount,
    /// The cart already carries another coupon (one coupon per cart).
    OneCouponPerCart {
        /// The coupon already applied.
        applied: String,
    },
}

impl CouponRefusal {
    /// Stable snake_case key for logs, metrics and the API's code table.
    pub fn reason(&self) -> &'static str {
        match self {
            CouponRefusal::NotFound { .. } => "not_found",
            CouponRefusal::Inactive => "inactive",
            CouponRefusal::NotYetValid { .. } => "not_yet_valid",
            CouponRefusal::Expired { .. } => "expired",
            CouponRefusal::UsageLimitReached => "usage_limit_reached",
            CouponRefusal::RequiresLogin => "requires_login",
            CouponRefusal::PerUserLimitReached { .. } => "per_user_limit_reached",
            CouponRefusal::FirstOrderOnly => "first_order_only",
            CouponRefusal::NotApplicableToItems => "not_applicable_to_items",
            CouponRefusal::MinimumNotMet { .. } => "minimum_not_met",
            CouponRefusal::NothingToDiscount => "nothing_to_discount",
            CouponRefusal::OneCouponPerCart { .. } => "one_coupon_per_cart",
        }
    }
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%-d %b %Y %H:%M UTC").to_string()
}

/// Messages for students: what is wrong and, where possible, what to do.
impl fmt::Display for CouponRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CouponRefusal::NotFound { code } => write!(f, "coupon code {code} does not exist"),
            CouponRefusal::Inactive => f.write_str("this coupon is no longer available"),
            CouponRefusal::NotYetValid { from } => {
                write!(f, "this coupon can be used from {}", when(from))
            }
            CouponRefusal::Expired { until } => write!(f, "this coupon expired on {}", when(until)),
            CouponRefusal::UsageLimitReached => {
                f.write_str("this coupon has reached its usage limit")
            }
            CouponRefusal::RequiresLogin => f.write_str("please log in to use this coupon"),
            CouponRefusal::PerUserLimitReached { limit } => write!(
                f,
                "you have already used this coupon the maximum number of times ({limit})"
            ),
            CouponRefusal::FirstOrderOnly => {
                f.write_str("this coupon is only valid on your first order")
            }
            CouponRefusal::NotApplicableToItems => {
                f.write_str("this coupon does not apply to the internships in your cart")
            }
            CouponRefusal::MinimumNotMet { minimum } => {
                write!(f, "minimum order is {minimum} for this coupon")
            }
            CouponRefusal::NothingToDiscount => {
                f.write_str("there is nothing left in your cart for this coupon to discount")
            }
            CouponRefusal::OneCouponPerCart { applied } => write!(
                f,
                "only one coupon per cart: remove {applied} to use another one"
            ),
        }
    }
}

impl std::error::Error for CouponRefusal {}

impl Coupon {
    /// Whether a line is one the coupon may discount.
    pub fn applies_to(&self, program_id: Uuid, plan_id: Uuid) -> bool {
        (self.program_ids.is_empty() && self.plan_ids.is_empty())
            || self.program_ids.contains(&program_id)
            || self.plan_ids.contains(&plan_id)
    }

    /// Checks the definition; run by the catalog import before storing.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if normalize_code(&self.code).is_empty() {
            return Err(DefinitionError::Empty("code"));
        }
        self.kind.validate()?;
        if self.min_subtotal.is_some_and(|m| m < 0) {
            return Err(DefinitionError::Negative("min_subtotal"));
        }
        if self.max_discount.is_some_and(|m| m < 0) {
            return Err(DefinitionError::Negative("max_discount"));
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            return Err(DefinitionError::EmptyWindow);
        }
        Ok(())
    }

    /// The validity-window and active checks alone (also used by "discounts that
    /// would apply now").
    pub fn check_window(&self, now: DateTime<Utc>) -> Result<(), CouponRefusal> {
        if !self.active {
            return Err(CouponRefusal::Inactive);
        }
        if let Some(from) = self.valid_from
            && now < from
        {
            return Err(CouponRefusal::NotYetValid { from });
        }
        if let Some(until) = self.valid_until
            && now >= until
        {
            return Err(CouponRefusal::Expired { until });
        }
        Ok(())
    }
}

/// Decides whether `coupon` applies to `lines` at `now` and for how much. See
/// the module doc for the order of checks.
pub fn evaluate(
    coupon: &Coupon,
    lines: &[CouponLine],
    now: DateTime<Utc>,
    usage: &CouponUsage,
) -> Result<CouponDiscount, CouponRefusal> {
    coupon.check_window(now)?;
    if !usage_allows_one_more(coupon.global_limit, usage.global_used) {
        return Err(CouponRefusal::UsageLimitReached);
    }
    if let Some(limit) = coupon.per_user_limit {
        let used = usage.user_used.ok_or(CouponRefusal::RequiresLogin)?;
        if !usage_allows_one_more(Some(limit), used) {
            return Err(CouponRefusal::PerUserLimitReached { limit });
        }
    }
    if coupon.first_order_only {
        let prior = usage
            .user_has_prior_orders
            .ok_or(CouponRefusal::RequiresLogin)?;
        if prior {
            return Err(CouponRefusal::FirstOrderOnly);
        }
    }
    let weights: Vec<i64> = lines
        .iter()
        .map(|l| {
            if coupon.applies_to(l.program_id, l.plan_id) {
                l.amount.max(0)
            } else {
                0
            }
        })
        .collect();
    if !lines
        .iter()
        .any(|l| coupon.applies_to(l.program_id, l.plan_id))
    {
        return Err(CouponRefusal::NotApplicableToItems);
    }
    // Overflow here would need a cart worth more than i64 paise; treat as no room
    // to discount rather than panic (pricing has already refused such carts).
    let base =
        checked_sum(weights.iter().copied()).map_err(|_| CouponRefusal::NothingToDiscount)?;
    if let Some(min) = coupon.min_subtotal
        && base < min
    {
        return Err(CouponRefusal::MinimumNotMet {
            minimum: Money::inr(min),
        });
    }
    let mut amount = coupon
        .kind
        .amount_on(base)
        .map_err(|_| CouponRefusal::NothingToDiscount)?;
    if let Some(cap) = coupon.max_discount {
        amount = amount.min(cap.max(0));
    }
    if amount == 0 {
        return Err(CouponRefusal::NothingToDiscount);
    }
    let per_line = allocate(amount, &weights).map_err(|_| CouponRefusal::NothingToDiscount)?;
    Ok(CouponDiscount {
        code: coupon.code.clone(),
        amount,
        per_line,
    })
}

/// An active coupon of `kind` with no minimum, cap, window, limit or scope: where
/// tests start from.
#[cfg(test)]
impl Coupon {
    pub(crate) fn unrestricted(code: &str, kind: DiscountKind) -> Self {
        Coupon {
            code: code.into(),
            kind,
            min_subtotal: None,
            max_discount: None,
            valid_from: None,
            valid_until: None,
            global_limit: None,
            per_user_limit: None,
            program_ids: vec![],
            plan_ids: vec![],
            first_order_only: false,
            active: true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::test_support::{at, d};
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn pid(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn base_coupon() -> Coupon {
        Coupon::unrestricted("SAVE10", DiscountKind::Percent(d("10")))
    }

    fn lines() -> Vec<CouponLine> {
        vec![
            CouponLine {
                program_id: pid(1),
                plan_id: pid(11),
                amount: 499_900,
            },
            CouponLine {
                program_id: pid(2),
                plan_id: pid(21),
                amount: 149_950,
            },
        ]
    }

    fn guest() -> CouponUsage {
        CouponUsage::default()
    }

    fn user(used: u32, prior: bool) -> CouponUsage {
        CouponUsage {
            global_used: 0,
            user_used: Some(used),
            user_has_prior_orders: Some(prior),
        }
    }

    fn now() -> DateTime<Utc> {
        at("2026-06-15T12:00:00Z")
    }

    #[test]
    fn percent_coupon_allocates_over_lines() {
        // 10 % of 6,498.50 = 649.85; 4,999.00 share = 649.85 x 4999/6498.5 =
        // 499.90 exactly, the other line 149.95.
        let r = evaluate(&base_coupon(), &lines(), now(), &guest()).unwrap();
        assert_eq!(r.amount, 64_985);
        assert_eq!(r.per_line, vec![49_990, 14_995]);
    }

    #[test]
    fn usage_rule() {
        assert!(usage_allows_one_more(None, u32::MAX));
        assert!(usage_allows_one_more(Some(1), 0));
        assert!(!usage_allows_one_more(Some(1), 1));
        assert!(!usage_allows_one_more(Some(0), 0));
        assert!(!usage_allows_one_more(Some(3), 7));
    }

    #[test]
    fn inactive_and_window() {
        let mut c = base_coupon();
        c.active = false;
        assert_eq!(
            evaluate(&c, &lines(), now(), &guest()),
            Err(CouponRefusal::Inactive)
        );
        let mut c = base_coupon();
        c.valid_from = Some(at("2026-07-01T00:00:00Z"));
        assert_eq!(
            evaluate(&c, &lines(), now(), &guest()),
            Err(CouponRefusal::NotYetValid {
                from: at("2026-07-01T00:00:00Z")
            })
        );
        // from is inclusive
        assert!(evaluate(&c, &lines(), at("2026-07-01T00:00:00Z"), &guest()).is_ok());
        let mut c = base_coupon();
        c.valid_until = Some(now());
        // until is exclusive
        assert_eq!(
            evaluate(&c, &lines(), now(), &guest()),
            Err(CouponRefusal::Expired { until: now() })
        );
        assert!(evaluate(&c, &lines(), at("2026-06-15T11:59:59Z"), &guest()).is_ok());
    }

    #[test]
    fn global_limit() {
        let mut c = base_coupon();
        c.global_limit = Some(100);
        let mut u = guest();
        u.global_used = 99;
        assert!(evaluate(&c, &lines(), now(), &u).is_ok());
        u.global_used = 100;
        assert_eq!(
            evaluate(&c, &lines(), now(), &u),
            Err(CouponRefusal::UsageLimitReached)
        );
    }

    #[test]
    fn per_user_limit_and_login() {
        let mut c = base_coupon();
        c.per_user_limit = Some(1);
        assert_eq!(
            evaluate(&c, &lines(), now(), &guest()),
            Err(CouponRefusal::RequiresLogin)
        );
        assert!(evaluate(&c, &lines(), now(), &user(0, true)).is_ok());
        assert_eq!(
            evaluate(&c, &lines(), now(), &user(1, true)),
            Err(CouponRefusal::PerUserLimitReached { limit: 1 })
        );
    }

    #[test]
    fn first_order_only() {
        let mut c = base_coupon();
        c.first_order_only = true;
        assert_eq!(
            evaluate(&c, &lines(), now(), &guest()),
            Err(CouponRefusal::RequiresLogin)
        );
        assert_eq!(
            evaluate(&c, &lines(), now(), &user(0, true)),
            Err(CouponRefusal::FirstOrderOnly)
        );
        assert!(evaluate(&c, &lines(), now(), &user(0, false)).is_ok());
    }

    #[test]
    fn restrictions_by_program_or_plan() {
        let mut c = base_coupon();
        c.program_ids = vec![pid(2)];
        let r = evaluate(&c, &lines(), now(), &guest()).unwrap();
        // 10 % of 1,499.50 = 149.95, all on line 2.
        assert_eq!(r.per_line, vec![0, 14_995]);
        let mut c = base_coupon();
        c.plan_ids = vec![pid(11)];
        assert_eq!(
            evaluate(&c, &lines(), now(), &guest()).unwrap().per_line,
            vec![49_990, 0]
        );
        let mut c = base_coupon();
        c.program_ids = vec![pid(9)];
        c.plan_ids = vec![pid(99)];
        assert_eq!(
            evaluate(&c, &lines(), now(), &guest()),
            Err(CouponRefusal::NotApplicableToItems)
        );
    }

    #[test]
    fn minimum_uses_eligible_amount_and_message() {
        let mut c = base_coupon();
        c.program_ids = vec![pid(2)];
        c.min_subtotal = Some(150_000);
        let err = evaluate(&c, &lines(), now(), &guest()).unwrap_err();
        assert_eq!(
            err,
            CouponRefusal::MinimumNotMet {
                minimum: Money::inr(150_000)
            }
        );
        assert_eq!(
            err.to_string(),
            "minimum order is 1,500.00 INR for this coupon"
        );
        c.min_subtotal = Some(149_950); // exactly the minimum is enough
        assert!(evaluate(&c, &lines(), now(), &guest()).is_ok());
    }

    #[test]
    fn max_discount_caps() {
        let mut c = base_coupon();
        c.max_discount = Some(50_000);
        let r = evaluate(&c, &lines(), now(), &guest()).unwrap();
        assert_eq!(r.amount, 50_000);
        assert_eq!(r.per_line.iter().sum::<i64>(), 50_000);
    }

    #[test]
    fn fixed_capped_at_eligible_and_zero_refused() {
        let mut c = base_coupon();
        c.kind = DiscountKind::Fixed(10_000_000);
        let r = evaluate(&c, &lines(), now(), &guest()).unwrap();
        assert_eq!(r.per_line, vec![499_900, 149_950]);
        let free = vec![CouponLine {
            program_id: pid(1),
            plan_id: pid(11),
            amount: 0,
        }];
        assert_eq!(
            evaluate(&c, &free, now(), &guest()),
            Err(CouponRefusal::NothingToDiscount)
        );
    }

    #[test]
    fn reasons_are_stable_and_messages_readable() {
        let cases = [
            (
                CouponRefusal::NotFound { code: "X".into() },
                "not_found",
                "coupon code X does not exist",
            ),
            (
                CouponRefusal::Inactive,
                "inactive",
                "this coupon is no longer available",
            ),
            (
                CouponRefusal::Expired {
                    until: at("2026-01-05T00:00:00Z"),
                },
                "expired",
                "this coupon expired on 5 Jan 2026 00:00 UTC",
            ),
            (
                CouponRefusal::NotYetValid {
                    from: at("2026-12-25T09:30:00Z"),
                },
                "not_yet_valid",
                "this coupon can be used from 25 Dec 2026 09:30 UTC",
            ),
            (
                CouponRefusal::UsageLimitReached,
                "usage_limit_reached",
                "this coupon has reached its usage limit",
            ),
            (
                CouponRefusal::RequiresLogin,
                "requires_login",
                "please log in to use this coupon",
            ),
            (
                CouponRefusal::PerUserLimitReached { limit: 2 },
                "per_user_limit_reached",
                "you have already used this coupon the maximum number of times (2)",
            ),
            (
                CouponRefusal::FirstOrderOnly,
                "first_order_only",
                "this coupon is only valid on your first order",
            ),
            (
                CouponRefusal::NotApplicableToItems,
                "not_applicable_to_items",
                "this coupon does not apply to the internships in your cart",
            ),
            (
                CouponRefusal::NothingToDiscount,
                "nothing_to_discount",
                "there is nothing left in your cart for this coupon to discount",
            ),
            (
                CouponRefusal::OneCouponPerCart {
                    applied: "A".into(),
                },
                "one_coupon_per_cart",
                "only one coupon per cart: remove A to use another one",
            ),
        ];
        for (refusal, reason, message) in cases {
            assert_eq!(refusal.reason(), reason);
            assert_eq!(refusal.to_string(), message);
            // serde tag equals reason()
            let v = serde_json::to_value(&refusal).unwrap();
            assert_eq!(v["reason"], reason);
        }
    }

    #[test]
    fn validate_definition() {
        assert!(base_coupon().validate().is_ok());
        let mut c = base_coupon();
        c.code = "  ".into();
        assert_eq!(c.validate(), Err(DefinitionError::Empty("code")));
        let mut c = base_coupon();
        c.valid_from = Some(now());
        c.valid_until = Some(now());
        assert_eq!(c.validate(), Err(DefinitionError::EmptyWindow));
        let mut c = base_coupon();
        c.max_discount = Some(-1);
        assert_eq!(c.validate(), Err(DefinitionError::Negative("max_discount")));
        assert_eq!(normalize_code(" save10 "), "SAVE10");
    }

    proptest! {
        #[test]
        fn discount_never_exceeds_eligible_amounts(
            amounts in proptest::collection::vec(0i64..100_000_000, 1..6),
            pct in 1u32..=100,
            cap in proptest::option::of(0i64..10_000_000),
        ) {
            let ls: Vec<CouponLine> = amounts.iter().enumerate()
                .map(|(i, a)| CouponLine { program_id: pid(i as u128), plan_id: pid(100 + i as u128), amount: *a })
                .collect();
            let mut c = base_coupon();
            c.kind = DiscountKind::Percent(Decimal::from(pct));
            c.max_discount = cap;
            match evaluate(&c, &ls, now(), &guest()) {
                Ok(r) => {
                    prop_assert_eq!(r.per_line.iter().sum::<i64>(), r.amount);
                    prop_assert!(r.amount > 0);
                    prop_assert!(cap.is_none_or(|c| r.amount <= c));
                    for (share, line) in r.per_line.iter().zip(&ls) {
                        prop_assert!(*share >= 0 && *share <= line.amount);
                    }
                }
                Err(e) => prop_assert_eq!(e, CouponRefusal::NothingToDiscount),
            }
        }
    }
}
