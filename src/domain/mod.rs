//! Pure pricing rules (work in progress: see later commits for the full doc).

pub mod allocation;
pub mod coupon;
pub mod discount;
pub mod fx;
pub mod india;
pub mod money;
pub mod sale;
pub mod tax;

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
