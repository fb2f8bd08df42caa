//! The discount amount shared by sales and coupons.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::{MoneyError, apply_rate};

/// How much a sale or coupon takes off. Fixed amounts are INR paise, because the
/// catalog is priced in INR and discounts are computed before currency
/// conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum DiscountKind {
    /// Percentage points: `10` means 10 %. Serialised as a string ("10").
    Percent(Decimal),
    /// A fixed amount in INR paise.
    Fixed(i64),
}

/// A sale or coupon definition that can never apply sensibly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// Percent outside (0, 100].
    #[error("percent must be more than 0 and at most 100, got {0}")]
    PercentOutOfRange(Decimal),
    /// Fixed amount of zero or less.
    #[error("fixed discount must be positive, got {0}")]
    FixedNotPositive(i64),
    /// A limit or threshold below zero.
    #[error("{0} must not be negative")]
    Negative(&'static str),
    /// valid_until not after valid_from.
    #[error("valid_until must be after valid_from")]
    EmptyWindow,
    /// Empty code or slug.
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

impl DiscountKind {
    /// Checks the definition; run by the catalog import before anything is stored.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        match *self {
            DiscountKind::Percent(p) if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED => {
                Err(DefinitionError::PercentOutOfRange(p))
            }
            DiscountKind::Fixed(f) if f <= 0 => Err(DefinitionError::FixedNotPositive(f)),
            _ => Ok(()),
        }
    }

    /// Discount on `base` paise: percent rounded half-up, fixed capped at the
    /// base. Always in `0..=base`, even for a definition that failed
    /// [`DiscountKind::validate`], so a bad row can never make a price negative.
    pub fn amount_on(&self, base: i64) -> Result<i64, MoneyError> {
        let base = base.max(0);
        let raw = match *self {
            DiscountKind::Percent(p) => {
                let fraction = p
                    .checked_div(Decimal::ONE_HUNDRED)
                    .ok_or(MoneyError::Overflow)?;
                apply_rate(base, fraction)?
            }
            DiscountKind::Fixed(f) => f,
        };
        Ok(raw.clamp(0, base))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::test_support::d;
    use proptest::prelude::*;

    #[test]
    fn percent_rounds_half_up() {
        // 10 % of 6,498.50 INR = 649.85 exactly.
        assert_eq!(
            DiscountKind::Percent(d("10")).amount_on(649_850).unwrap(),
            64_985
        );
        // 12.5 % of 0.99 INR = 12.375 paise -> 12.
        assert_eq!(DiscountKind::Percent(d("12.5")).amount_on(99).unwrap(), 12);
        // 50 % of 0.01 INR = 0.5 paise -> 1.
        assert_eq!(DiscountKind::Percent(d("50")).amount_on(1).unwrap(), 1);
    }

    #[test]
    fn fixed_is_capped_at_base() {
        assert_eq!(
            DiscountKind::Fixed(50_000).amount_on(30_000).unwrap(),
            30_000
        );
        assert_eq!(
            DiscountKind::Fixed(50_000).amount_on(80_000).unwrap(),
            50_000
        );
    }

    #[test]
    fn invalid_definitions_never_go_negative_or_over() {
        assert_eq!(DiscountKind::Percent(d("-5")).amount_on(1_000).unwrap(), 0);
        assert_eq!(
            DiscountKind::Percent(d("150")).amount_on(1_000).unwrap(),
            1_000
        );
        assert_eq!(DiscountKind::Fixed(-10).amount_on(1_000).unwrap(), 0);
    }

    #[test]
    fn validate_rejects_nonsense() {
        assert!(DiscountKind::Percent(d("100")).validate().is_ok());
        assert_eq!(
            DiscountKind::Percent(d("0")).validate(),
            Err(DefinitionError::PercentOutOfRange(d("0")))
        );
        assert!(DiscountKind::Percent(d("100.01")).validate().is_err());
        assert_eq!(
            DiscountKind::Fixed(0).validate(),
            Err(DefinitionError::FixedNotPositive(0))
        );
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_string(&DiscountKind::Percent(d("10"))).unwrap();
        assert_eq!(json, r#"{"type":"percent","value":"10"}"#);
        let back: DiscountKind = serde_json::from_str(r#"{"type":"fixed","value":50000}"#).unwrap();
        assert_eq!(back, DiscountKind::Fixed(50_000));
    }

    proptest! {
        #[test]
        fn discount_within_base(base in 0i64..10_000_000_000, pct in 0u32..=10_000, fixed in -1_000i64..10_000_000_000, percent: bool) {
            let kind = if percent { DiscountKind::Percent(Decimal::new(i64::from(pct), 2)) } else { DiscountKind::Fixed(fixed) };
            let a = kind.amount_on(base).unwrap();
            prop_assert!(a >= 0 && a <= base);
        }
    }
}
