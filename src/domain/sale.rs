//! Sales: a discount applied automatically to carts created with a sale slug.
//!
//! A sale applies to every line of the cart. Its amount is computed on the
//! cart subtotal (percent rounded half-up, fixed capped at the subtotal) and
//! allocated to the lines by largest remainder, exactly like a coupon, so
//! sale + coupon share one allocation rule. The coupon is evaluated afterwards,
//! on the line amounts left after the sale (see `super` module doc).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::allocation::allocate;
use super::discount::{DefinitionError, DiscountKind};
use super::money::checked_sum;

/// A sale as configured by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    /// URL-safe identifier carried by the cart.
    pub slug: String,
    /// Percent or fixed (INR paise).
    pub kind: DiscountKind,
    /// First instant the sale runs (inclusive).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// First instant it no longer runs (exclusive).
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    /// Switched off by an admin.
    pub active: bool,
}

/// Why a sale cannot be used; the cart is not created with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SaleRefusal {
    /// No sale has this slug (decided by the store lookup).
    Unknown {
        /// The slug as given.
        slug: String,
    },
    /// Switched off.
    Inactive {
        /// The sale.
        slug: String,
    },
    /// Has not started.
    NotStarted {
        /// The sale.
        slug: String,
        /// When it starts.
        from: DateTime<Utc>,
    },
    /// Is over.
    Ended {
        /// The sale.
        slug: String,
        /// When it ended.
        until: DateTime<Utc>,
    },
}

impl SaleRefusal {
    /// Stable snake_case key for the API's code table.
    pub fn reason(&self) -> &'static str {
        match self {
            SaleRefusal::Unknown { .. } => "unknown",
            SaleRefusal::Inactive { .. } => "inactive",
            SaleRefusal::NotStarted { .. } => "not_started",
            SaleRefusal::Ended { .. } => "ended",
        }
    }
}

impl fmt::Display for SaleRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = |t: &DateTime<Utc>| t.format("%-d %b %Y %H:%M UTC").to_string();
        match self {
            SaleRefusal::Unknown { slug } => write!(f, "there is no sale called {slug}"),
            SaleRefusal::Inactive { slug } => write!(f, "the sale {slug} is not running"),
            SaleRefusal::NotStarted { slug, from } => {
                write!(f, "the sale {slug} starts on {}", when(from))
            }
            SaleRefusal::Ended { slug, until } => {
                write!(f, "the sale {slug} ended on {}", when(until))
            }
        }
    }
}

impl std::error::Error for SaleRefusal {}

/// A sale that applies, split over the lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleDiscount {
    /// The sale's slug.
    pub slug: String,
    /// Total discount in INR paise.
    pub amount: i64,
    /// Discount per input line, in input order.
    pub per_line: Vec<i64>,
}

impl Sale {
    /// Checks the definition; run by the catalog import before storing.
    pub fn validate(&self) -> Result<(), DefinitionError> {
        if self.slug.trim().is_empty() {
            return Err(DefinitionError::Empty("slug"));
        }
        self.kind.validate()?;
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until <= from
        {
            return Err(DefinitionError::EmptyWindow);
        }
        Ok(())
    }

    /// Whether the sale is running at `now` (active, from inclusive, until
    /// exclusive). Used when a cart is created with a slug.
    pub fn check_running(&self, now: DateTime<Utc>) -> Result<(), SaleRefusal> {
        let slug = self.slug.clone();
        if !self.active {
            return Err(SaleRefusal::Inactive { slug });
        }
        if let Some(from) = self.valid_from
            && now < from
        {
            return Err(SaleRefusal::NotStarted { slug, from });
        }
        if let Some(until) = self.valid_until
            && now >= until
        {
            return Err(SaleRefusal::Ended { slug, until });
        }
        Ok(())
    }
}

/// The sale's discount on lines with the given INR amounts, or why it does not
/// run. A running sale on an empty or free cart gives a zero discount.
pub fn evaluate_sale(
    sale: &Sale,
    line_amounts: &[i64],
    now: DateTime<Utc>,
) -> Result<SaleDiscount, SaleRefusal> {
    sale.check_running(now)?;
    let weights: Vec<i64> = line_amounts.iter().map(|a| (*a).max(0)).collect();
    // A subtotal beyond i64 is refused by pricing before we get here; saturate
    // to "no discount" rather than panic.
    let subtotal = checked_sum(weights.iter().copied()).unwrap_or(0);
    let amount = sale.kind.amount_on(subtotal).unwrap_or(0);
    let per_line = allocate(amount, &weights).unwrap_or_else(|_| vec![0; weights.len()]);
    let amount = per_line.iter().sum();
    Ok(SaleDiscount {
        slug: sale.slug.clone(),
        amount,
        per_line,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::test_support::{at, d};
    use proptest::prelude::*;

    fn sale() -> Sale {
        Sale {
            slug: "monsoon".into(),
            kind: DiscountKind::Percent(d("20")),
            valid_from: Some(at("2026-06-01T00:00:00Z")),
            valid_until: Some(at("2026-07-01T00:00:00Z")),
            active: true,
        }
    }

    #[test]
    fn percent_sale_allocated() {
        // 20 % of (999.00 + 499.00) = 299.60; shares 199.80 and 99.80 exactly.
        let r = evaluate_sale(&sale(), &[99_900, 49_900], at("2026-06-15T00:00:00Z")).unwrap();
        assert_eq!(r.amount, 29_960);
        assert_eq!(r.per_line, vec![19_980, 9_980]);
    }

    #[test]
    fn fixed_sale_capped_and_split() {
        let mut s = sale();
        s.kind = DiscountKind::Fixed(100);
        // 1.00 INR off three lines worth 0.01 INR each: capped at the 0.03 subtotal.
        let r = evaluate_sale(&s, &[1, 1, 1], at("2026-06-15T00:00:00Z")).unwrap();
        assert_eq!(r.per_line, vec![1, 1, 1]);
        // 1.00 INR over [1.00, 2.00]: 33.33 and 66.67 -> 33 + 67 (larger remainder).
        let r = evaluate_sale(&s, &[100, 200], at("2026-06-15T00:00:00Z")).unwrap();
        assert_eq!(r.per_line, vec![33, 67]);
    }

    #[test]
    fn window_and_inactive() {
        let s = sale();
        assert_eq!(
            evaluate_sale(&s, &[100], at("2026-05-31T23:59:59Z")),
            Err(SaleRefusal::NotStarted {
                slug: "monsoon".into(),
                from: at("2026-06-01T00:00:00Z")
            })
        );
        assert!(evaluate_sale(&s, &[100], at("2026-06-01T00:00:00Z")).is_ok());
        let ended = evaluate_sale(&s, &[100], at("2026-07-01T00:00:00Z")).unwrap_err();
        assert_eq!(ended.reason(), "ended");
        assert_eq!(
            ended.to_string(),
            "the sale monsoon ended on 1 Jul 2026 00:00 UTC"
        );
        let mut s = sale();
        s.active = false;
        assert_eq!(
            s.check_running(at("2026-06-15T00:00:00Z")),
            Err(SaleRefusal::Inactive {
                slug: "monsoon".into()
            })
        );
        let unknown = SaleRefusal::Unknown { slug: "x".into() };
        assert_eq!(
            (unknown.reason(), unknown.to_string().as_str()),
            ("unknown", "there is no sale called x")
        );
    }

    #[test]
    fn validate_definition() {
        assert!(sale().validate().is_ok());
        let mut s = sale();
        s.valid_until = s.valid_from;
        assert_eq!(s.validate(), Err(DefinitionError::EmptyWindow));
        let mut s = sale();
        s.kind = DiscountKind::Percent(d("0"));
        assert!(s.validate().is_err());
    }

    proptest! {
        #[test]
        fn sale_never_exceeds_lines(amounts in proptest::collection::vec(0i64..100_000_000, 0..6), pct in 1u32..=100) {
            let mut s = sale();
            s.kind = DiscountKind::Percent(rust_decimal::Decimal::from(pct));
            let r = evaluate_sale(&s, &amounts, at("2026-06-15T00:00:00Z")).unwrap();
            prop_assert_eq!(r.per_line.iter().sum::<i64>(), r.amount);
            for (share, a) in r.per_line.iter().zip(&amounts) {
                prop_assert!(*share >= 0 && share <= a);
            }
        }
    }
}
