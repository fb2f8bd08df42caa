//! Currencies, integer money and the one rounding rule.
//!
//! Amounts are `i64` counts of the currency's minor unit (paise for INR, yen for
//! JPY, fils for KWD), exactly as Razorpay and Stripe take them. Decimals only
//! appear for *rates* (tax rates, percentages, FX rates); every place a rate is
//! applied to an amount goes through [`round_half_up`] so there is a single
//! rounding rule in the whole engine.

use std::fmt;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Errors about currencies and amount arithmetic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The code is not three ASCII letters.
    #[error("'{0}' is not a currency code (expected three letters such as INR)")]
    Malformed(String),
    /// A well-formed ISO code that we do not support (no exponent on file).
    #[error("currency {0} is not supported")]
    Unsupported(String),
    /// An amount left the `i64` range (or a decimal intermediate overflowed).
    #[error("amount overflow")]
    Overflow,
}

/// The currencies we can price in and their minor-unit exponents (ISO 4217).
///
/// The exponent is what makes "100" mean 1.00 INR but 100 JPY and 0.100 KWD, so
/// it lives next to the code and nowhere else.
const EXPONENTS: &[(&str, u32)] = &[
    ("INR", 2),
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("SGD", 2),
    ("AED", 2),
    ("JPY", 0),
    ("KWD", 3),
    ("BHD", 3),
];

/// An ISO 4217 currency we support. Only constructible through [`Currency::parse`]
/// (or the constants), so an exponent always exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Indian rupee: the catalog currency.
    pub const INR: Currency = Currency(*b"INR");

    /// Parses a code. Surrounding whitespace is ignored and lowercase is accepted
    /// (Stripe writes `inr`); the stored form is always uppercase.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let trimmed = code.trim();
        let bytes = trimmed.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::Malformed(code.to_string()));
        }
        let upper = [
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ];
        let candidate = Currency(upper);
        if EXPONENTS.iter().any(|(c, _)| *c == candidate.code()) {
            Ok(candidate)
        } else {
            Err(MoneyError::Unsupported(candidate.code().to_string()))
        }
    }

    /// The three-letter uppercase code.
    pub fn code(&self) -> &str {
        // The bytes are ASCII letters by construction; the fallback is unreachable.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Number of decimal digits in one major unit (INR 2, JPY 0, KWD 3).
    pub fn exponent(&self) -> u32 {
        EXPONENTS
            .iter()
            .find(|(c, _)| *c == self.code())
            .map_or(2, |(_, e)| *e)
    }

    /// All supported currencies, in table order.
    pub fn all() -> impl Iterator<Item = Currency> {
        EXPONENTS
            .iter()
            .filter_map(|(c, _)| Currency::parse(c).ok())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Currency::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// An amount in minor units together with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Count of minor units (paise for INR).
    pub minor: i64,
    /// The currency the minor units belong to.
    pub currency: Currency,
}

impl Money {
    /// Builds a money value.
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Shorthand for an INR amount in paise.
    pub fn inr(paise: i64) -> Money {
        Money::new(paise, Currency::INR)
    }
}

/// Formats as `1,000.00 INR`: thousands separators every three digits and exactly
/// `exponent` fraction digits, so messages never show "1000.5 INR" or "100 KWD"
/// for 0.100 KWD.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        let abs = self.minor.unsigned_abs();
        let scale = 10u64.pow(exp);
        let (major, frac) = (abs / scale, abs % scale);
        let digits = major.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        let sign = if self.minor < 0 { "-" } else { "" };
        if exp == 0 {
            write!(f, "{sign}{grouped} {}", self.currency)
        } else {
            write!(
                f,
                "{sign}{grouped}.{frac:0width$} {}",
                self.currency,
                width = exp as usize
            )
        }
    }
}

/// The one rounding rule: to a whole number of minor units, half away from zero
/// (2.5 -> 3, -2.5 -> -3; "half-up" as invoices and GST practice expect).
/// Values outside `i64` are an error, never a wrap.
pub fn round_half_up(value: Decimal) -> Result<i64, MoneyError> {
    value
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        .to_i64()
        .ok_or(MoneyError::Overflow)
}

/// `minor x rate`, rounded by [`round_half_up`]. Used for percentages and tax.
pub fn apply_rate(minor: i64, rate: Decimal) -> Result<i64, MoneyError> {
    let product = Decimal::from(minor)
        .checked_mul(rate)
        .ok_or(MoneyError::Overflow)?;
    round_half_up(product)
}

/// Sums amounts with overflow checking.
pub fn checked_sum<I: IntoIterator<Item = i64>>(items: I) -> Result<i64, MoneyError> {
    items.into_iter().try_fold(0i64, |acc, x| {
        acc.checked_add(x).ok_or(MoneyError::Overflow)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::test_support::d;
    use proptest::prelude::*;

    #[test]
    fn parses_known_codes_case_insensitively() {
        assert_eq!(Currency::parse("INR").unwrap(), Currency::INR);
        assert_eq!(Currency::parse(" usd ").unwrap().code(), "USD");
        assert_eq!(Currency::parse("jpy").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("BHD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("EUR").unwrap().exponent(), 2);
    }

    #[test]
    fn rejects_malformed_and_unknown_codes() {
        assert_eq!(
            Currency::parse("IN"),
            Err(MoneyError::Malformed("IN".into()))
        );
        assert_eq!(
            Currency::parse("I1R"),
            Err(MoneyError::Malformed("I1R".into()))
        );
        assert_eq!(
            Currency::parse("xyz"),
            Err(MoneyError::Unsupported("XYZ".into()))
        );
    }

    #[test]
    fn every_table_entry_parses() {
        assert_eq!(Currency::all().count(), EXPONENTS.len());
    }

    #[test]
    fn serde_round_trip_uses_the_code() {
        let m = Money::inr(100_000);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"minor":100000,"currency":"INR"}"#);
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert!(serde_json::from_str::<Currency>(r#""ZZZ""#).is_err());
    }

    #[test]
    fn formats_with_grouping_and_exponent() {
        assert_eq!(Money::inr(100_000).to_string(), "1,000.00 INR");
        assert_eq!(Money::inr(5).to_string(), "0.05 INR");
        assert_eq!(Money::inr(-123_456_789).to_string(), "-1,234,567.89 INR");
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::new(1_000, jpy).to_string(), "1,000 JPY");
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::new(100, kwd).to_string(), "0.100 KWD");
        assert_eq!(Money::new(1_234_567, kwd).to_string(), "1,234.567 KWD");
        assert_eq!(
            Money::inr(i64::MIN).to_string(),
            "-92,233,720,368,547,758.08 INR"
        );
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_half_up(d("2.5")).unwrap(), 3);
        assert_eq!(round_half_up(d("2.4999")).unwrap(), 2);
        assert_eq!(round_half_up(d("-2.5")).unwrap(), -3);
        assert_eq!(round_half_up(d("0.5")).unwrap(), 1);
        assert_eq!(
            round_half_up(Decimal::from_i128_with_scale(10i128.pow(20), 0)),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn apply_rate_rounds_once() {
        // 18 % of 1,499.50 INR = 269.91 INR exactly.
        assert_eq!(apply_rate(149_950, d("0.18")).unwrap(), 26_991);
        // 18 % of 0.25 INR = 4.5 paise -> 5.
        assert_eq!(apply_rate(25, d("0.18")).unwrap(), 5);
        assert_eq!(apply_rate(i64::MAX, d("2")), Err(MoneyError::Overflow));
    }

    #[test]
    fn checked_sum_detects_overflow() {
        assert_eq!(checked_sum([1, 2, 3]).unwrap(), 6);
        assert_eq!(checked_sum([i64::MAX, 1]), Err(MoneyError::Overflow));
    }

    proptest! {
        #[test]
        fn rounding_is_within_half_a_unit(minor in -1_000_000_000i64..1_000_000_000, bp in 0u32..100_000) {
            let rate = Decimal::new(i64::from(bp), 4);
            let exact = Decimal::from(minor) * rate;
            let rounded = apply_rate(minor, rate).unwrap();
            let diff = (Decimal::from(rounded) - exact).abs();
            prop_assert!(diff <= Decimal::new(5, 1));
        }

        #[test]
        fn display_reparses_to_the_same_minor_units(minor in 0i64..1_000_000_000_000) {
            for cur in Currency::all() {
                let shown = Money::new(minor, cur).to_string();
                let number: String = shown.split(' ').next().unwrap().replace(',', "");
                let parsed: Decimal = number.parse().unwrap();
                let back = parsed * Decimal::from(10i64.pow(cur.exponent()));
                prop_assert_eq!(back, Decimal::from(minor));
            }
        }
    }
}
