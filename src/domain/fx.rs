//! Foreign exchange: converting INR catalog prices into the cart's currency.
//!
//! A rate is "quote units per 1 INR" (e.g. USD 0.012). Converting an INR amount
//! of `m` paise gives `m / 10^2 x rate x 10^e` minor units of the quote currency
//! (`e` its exponent), rounded half-up once. Pricing converts per line, so the
//! invoice in the foreign currency is still the sum of its lines. The rate and
//! its `as_of` go into the price snapshot; a missing or stale rate is an error,
//! never a silently old price.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::money::{Currency, MoneyError, round_half_up};

/// One stored rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FxRate {
    /// Always INR: the catalog currency.
    pub base: Currency,
    /// The currency the rate converts into.
    pub quote: Currency,
    /// Quote units per one INR (major units), serialised as a string.
    pub rate: Decimal,
    /// When the rate was observed.
    pub as_of: DateTime<Utc>,
}

/// Why a price cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FxError {
    /// No rate for the currency.
    #[error("no exchange rate from INR to {quote} is available")]
    MissingRate {
        /// The currency asked for.
        quote: Currency,
    },
    /// The newest rate is older than allowed.
    #[error(
        "the INR to {quote} exchange rate from {as_of} is out of date; prices in {quote} are unavailable"
    )]
    StaleRate {
        /// The currency asked for.
        quote: Currency,
        /// Timestamp of the newest rate.
        as_of: DateTime<Utc>,
    },
    /// A rate that is zero, negative or not from INR.
    #[error("exchange rate INR to {quote} is invalid")]
    InvalidRate {
        /// The currency of the bad rate.
        quote: Currency,
    },
    /// The rate given is for another currency than the one asked for.
    #[error("exchange rate is for {got}, not {wanted}")]
    WrongCurrency {
        /// Currency asked for.
        wanted: Currency,
        /// Currency of the rate.
        got: Currency,
    },
    /// Arithmetic overflow.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl FxRate {
    /// Checks the rate is INR-based and positive.
    pub fn validate(&self) -> Result<(), FxError> {
        if self.base != Currency::INR || self.rate <= Decimal::ZERO {
            return Err(FxError::InvalidRate { quote: self.quote });
        }
        Ok(())
    }

    /// Refuses a rate older than `max_age` at `now`.
    pub fn check_fresh(&self, now: DateTime<Utc>, max_age: Duration) -> Result<(), FxError> {
        if now.signed_duration_since(self.as_of) > max_age {
            return Err(FxError::StaleRate {
                quote: self.quote,
                as_of: self.as_of,
            });
        }
        Ok(())
    }
}

/// The newest rate for `quote` that is already in effect at `now`, if it is no
/// older than `max_age`. Rates dated in the future are ignored (not yet valid).
pub fn latest_rate(
    rates: &[FxRate],
    quote: Currency,
    now: DateTime<Utc>,
    max_age: Duration,
) -> Result<&FxRate, FxError> {
    let newest = rates
        .iter()
        .filter(|r| r.base == Currency::INR && r.quote == quote && r.as_of <= now)
        .max_by_key(|r| r.as_of)
        .ok_or(FxError::MissingRate { quote })?;
    newest.validate()?;
    newest.check_fresh(now, max_age)?;
    Ok(newest)
}

/// Converts `inr_minor` paise with `rate` into minor units of `rate.quote`,
/// rounded half-up once.
pub fn convert_minor(inr_minor: i64, rate: &FxRate) -> Result<i64, FxError> {
    rate.validate()?;
    let overflow = || FxError::Money(MoneyError::Overflow);
    let from_scale = Decimal::from(10i64.pow(rate.base.exponent()));
    let to_scale = Decimal::from(10i64.pow(rate.quote.exponent()));
    let value = Decimal::from(inr_minor)
        .checked_mul(rate.rate)
        .and_then(|v| v.checked_mul(to_scale))
        .and_then(|v| v.checked_div(from_scale))
        .ok_or_else(overflow)?;
    Ok(round_half_up(value)?)
}

/// The inverse of [`convert_minor`]: `minor` units of `rate.quote` in INR paise at
/// the same rate (`minor / 10^e / rate x 10^2`), rounded half-up once. Invoices use it
/// for the INR values of a foreign-currency order at its frozen rate, one amount at a
/// time, so the INR totals are sums of converted lines, as the foreign ones are.
/// Converting back does not always give the original INR figure (both directions
/// round), which is why an invoice states the rate it used.
pub fn to_inr_minor(minor: i64, rate: &FxRate) -> Result<i64, FxError> {
    rate.validate()?;
    let overflow = || FxError::Money(MoneyError::Overflow);
    let inr_scale = Decimal::from(10i64.pow(rate.base.exponent()));
    let quote_scale = Decimal::from(10i64.pow(rate.quote.exponent()));
    let value = Decimal::from(minor)
        .checked_mul(inr_scale)
        .and_then(|v| v.checked_div(quote_scale))
        .and_then(|v| v.checked_div(rate.rate))
        .ok_or_else(overflow)?;
    Ok(round_half_up(value)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::test_support::{at, d};
    use proptest::prelude::*;

    fn rate(quote: &str, r: &str, as_of: &str) -> FxRate {
        FxRate {
            base: Currency::INR,
            quote: Currency::parse(quote).unwrap(),
            rate: d(r),
            as_of: at(as_of),
        }
    }

    #[test]
    fn converts_with_exponents() {
        // 4,999.00 INR x 0.012 USD/INR = 59.988 USD -> 59.99.
        assert_eq!(
            convert_minor(499_900, &rate("USD", "0.012", "2026-01-01T00:00:00Z")).unwrap(),
            5_999
        );
        // 4,999.00 INR x 1.78 JPY/INR = 8,898.22 -> 8,898 JPY (exponent 0).
        assert_eq!(
            convert_minor(499_900, &rate("JPY", "1.78", "2026-01-01T00:00:00Z")).unwrap(),
            8_898
        );
        // 4,999.00 INR x 0.00367 KWD/INR = 18.34633 -> 18.346 KWD (exponent 3).
        assert_eq!(
            convert_minor(499_900, &rate("KWD", "0.00367", "2026-01-01T00:00:00Z")).unwrap(),
            18_346
        );
        // Half-up: 0.50 INR x 1 JPY/INR = 0.5 JPY -> 1.
        assert_eq!(
            convert_minor(50, &rate("JPY", "1", "2026-01-01T00:00:00Z")).unwrap(),
            1
        );
    }

    #[test]
    fn picks_latest_effective_rate() {
        let rates = vec![
            rate("USD", "0.011", "2026-06-01T00:00:00Z"),
            rate("USD", "0.012", "2026-06-10T00:00:00Z"),
            rate("USD", "0.013", "2026-06-20T00:00:00Z"), // future
            rate("EUR", "0.010", "2026-06-14T00:00:00Z"),
        ];
        let now = at("2026-06-15T00:00:00Z");
        let r = latest_rate(
            &rates,
            Currency::parse("USD").unwrap(),
            now,
            Duration::days(7),
        )
        .unwrap();
        assert_eq!(r.rate, d("0.012"));
    }

    #[test]
    fn missing_and_stale_are_errors() {
        let rates = vec![rate("USD", "0.012", "2026-06-01T00:00:00Z")];
        let now = at("2026-06-15T00:00:00Z");
        let gbp = Currency::parse("GBP").unwrap();
        assert_eq!(
            latest_rate(&rates, gbp, now, Duration::days(30)),
            Err(FxError::MissingRate { quote: gbp })
        );
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(
            latest_rate(&rates, usd, now, Duration::days(7)),
            Err(FxError::StaleRate {
                quote: usd,
                as_of: at("2026-06-01T00:00:00Z")
            })
        );
        // Exactly max_age old is still fresh.
        assert!(latest_rate(&rates, usd, now, Duration::days(14)).is_ok());
    }

    #[test]
    fn invalid_rates_refused() {
        assert!(matches!(
            convert_minor(100, &rate("USD", "0", "2026-01-01T00:00:00Z")),
            Err(FxError::InvalidRate { .. })
        ));
        let mut r = rate("USD", "0.012", "2026-01-01T00:00:00Z");
        r.base = Currency::parse("USD").unwrap();
        assert!(matches!(
            convert_minor(100, &r),
            Err(FxError::InvalidRate { .. })
        ));
        assert!(matches!(
            convert_minor(i64::MAX, &rate("JPY", "1000", "2026-01-01T00:00:00Z")),
            Err(FxError::Money(MoneyError::Overflow))
        ));
    }

    #[test]
    fn converts_back_to_inr() {
        // 59.99 USD / 0.012 = 4,999.1666.. INR -> 4,999.17.
        let usd = rate("USD", "0.012", "2026-01-01T00:00:00Z");
        assert_eq!(to_inr_minor(5_999, &usd).unwrap(), 499_917);
        // 8,898 JPY / 1.78 = 4,998.876.. INR -> 4,998.88.
        let jpy = rate("JPY", "1.78", "2026-01-01T00:00:00Z");
        assert_eq!(to_inr_minor(8_898, &jpy).unwrap(), 499_888);
        // 18.346 KWD / 0.00367 = 4,998.91.. INR.
        let kwd = rate("KWD", "0.00367", "2026-01-01T00:00:00Z");
        assert_eq!(to_inr_minor(18_346, &kwd).unwrap(), 499_891);
        // Half-up: 0.01 USD / 0.08 = 0.125 INR -> 13 paise.
        let half = rate("USD", "0.08", "2026-01-01T00:00:00Z");
        assert_eq!(to_inr_minor(1, &half).unwrap(), 13);
        assert_eq!(to_inr_minor(0, &usd).unwrap(), 0);
        assert!(matches!(
            to_inr_minor(1, &rate("USD", "0", "2026-01-01T00:00:00Z")),
            Err(FxError::InvalidRate { .. })
        ));
    }

    proptest! {
        #[test]
        fn back_to_inr_is_within_a_rounding_of_the_original(a in 0i64..1_000_000_000_000, r in 1i64..10_000_000) {
            // INR -> quote -> INR lands within half a quote unit's worth of paise.
            let fx = FxRate { base: Currency::INR, quote: Currency::parse("USD").unwrap(), rate: Decimal::new(r, 6), as_of: at("2026-01-01T00:00:00Z") };
            let back = to_inr_minor(convert_minor(a, &fx).unwrap(), &fx).unwrap();
            let slack = (Decimal::ONE / fx.rate).ceil();
            prop_assert!(Decimal::from((back - a).abs()) <= slack, "{} -> {}", a, back);
        }

        #[test]
        fn conversion_is_monotonic_and_non_negative(a in 0i64..1_000_000_000_000, b in 0i64..1_000_000_000_000, r in 1i64..10_000_000) {
            for quote in ["USD", "JPY", "KWD"] {
                let fx = FxRate { base: Currency::INR, quote: Currency::parse(quote).unwrap(), rate: Decimal::new(r, 6), as_of: at("2026-01-01T00:00:00Z") };
                let (lo, hi) = (a.min(b), a.max(b));
                let (clo, chi) = (convert_minor(lo, &fx).unwrap(), convert_minor(hi, &fx).unwrap());
                prop_assert!(clo >= 0 && clo <= chi);
            }
        }
    }
}
