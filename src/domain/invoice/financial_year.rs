//! The Indian financial year: 1 April to 31 March, in India time.
//!
//! India has one time zone, UTC+05:30 all year (no daylight saving), so a fixed
//! offset is exact and no tz database is needed. An instant belongs to the
//! financial year of its date in India: 31 March 18:29:59 UTC is still 23:59:59
//! on 31 March in India, 18:30:00 UTC is already 1 April.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

/// India Standard Time in seconds east of UTC.
const IST_OFFSET_SECONDS: i32 = 5 * 3600 + 30 * 60;

/// Start years we can number. The short form carries two digits per year, so it
/// is only unambiguous within one century.
const FIRST_START_YEAR: i32 = 2000;
const LAST_START_YEAR: i32 = 2098;

/// The date of an instant in India (an issue date).
pub fn india_date(at: DateTime<Utc>) -> NaiveDate {
    match FixedOffset::east_opt(IST_OFFSET_SECONDS) {
        Some(ist) => at.with_timezone(&ist).date_naive(),
        None => at.date_naive(),
    }
}

/// A financial year, identified by the calendar year of its 1 April.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FinancialYear {
    start_year: i32,
}

/// A year outside the range the short form can express.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FinancialYearError {
    /// The year is before 2000-01 or after 2098-99.
    #[error("financial year starting {0} is outside 2000-01..=2098-99")]
    OutOfRange(i32),
    /// Text that is not a short form such as "2627".
    #[error("'{0}' is not a financial year short form (four digits such as 2627)")]
    Malformed(String),
}

impl FinancialYear {
    /// The financial year starting on 1 April of `start_year`.
    pub fn starting(start_year: i32) -> Result<FinancialYear, FinancialYearError> {
        if (FIRST_START_YEAR..=LAST_START_YEAR).contains(&start_year) {
            Ok(FinancialYear { start_year })
        } else {
            Err(FinancialYearError::OutOfRange(start_year))
        }
    }

    /// The financial year an instant falls in, by its date in India.
    pub fn of(at: DateTime<Utc>) -> Result<FinancialYear, FinancialYearError> {
        let ist = FixedOffset::east_opt(IST_OFFSET_SECONDS)
            .ok_or(FinancialYearError::OutOfRange(at.year()))?;
        let local = at.with_timezone(&ist);
        let start = if local.month() >= 4 {
            local.year()
        } else {
            local.year() - 1
        };
        FinancialYear::starting(start)
    }

    /// Calendar year of the 1 April that starts it.
    pub fn start_year(&self) -> i32 {
        self.start_year
    }

    /// "2026-27", as printed on documents.
    pub fn label(&self) -> String {
        format!("{}-{:02}", self.start_year, (self.start_year + 1) % 100)
    }

    /// "2627": four characters, for document numbers.
    pub fn short(&self) -> String {
        format!(
            "{:02}{:02}",
            self.start_year % 100,
            (self.start_year + 1) % 100
        )
    }

    /// Reads a short form back; the two halves must be consecutive years.
    pub fn parse_short(s: &str) -> Result<FinancialYear, FinancialYearError> {
        let malformed = || FinancialYearError::Malformed(s.to_string());
        if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let first: i32 = s[..2].parse().map_err(|_| malformed())?;
        let second: i32 = s[2..].parse().map_err(|_| malformed())?;
        if (first + 1) % 100 != second {
            return Err(malformed());
        }
        FinancialYear::starting(2000 + first)
    }
}

impl fmt::Display for FinancialYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::test_support::at;
    use proptest::prelude::*;

    fn fy(s: &str) -> FinancialYear {
        FinancialYear::of(at(s)).unwrap()
    }

    #[test]
    fn year_turns_at_midnight_india_time_on_1_april() {
        assert_eq!(fy("2027-03-31T18:29:59Z").label(), "2026-27");
        assert_eq!(fy("2027-03-31T18:30:00Z").label(), "2027-28");
        assert_eq!(fy("2026-03-31T18:29:59.999Z").label(), "2025-26");
        assert_eq!(fy("2026-03-31T18:30:00Z").label(), "2026-27");
    }

    #[test]
    fn issue_dates_are_india_dates() {
        use chrono::NaiveDate;
        let date = |s: &str| india_date(at(s));
        assert_eq!(
            date("2027-03-31T18:29:59Z"),
            NaiveDate::from_ymd_opt(2027, 3, 31).unwrap()
        );
        assert_eq!(
            date("2027-03-31T18:30:00Z"),
            NaiveDate::from_ymd_opt(2027, 4, 1).unwrap()
        );
    }

    #[test]
    fn dates_inside_the_year() {
        assert_eq!(fy("2026-04-01T00:00:00Z").start_year(), 2026);
        assert_eq!(fy("2026-12-31T23:59:59Z").start_year(), 2026);
        // 1 January 00:00 UTC is 05:30 in India, same financial year as December.
        assert_eq!(fy("2027-01-01T00:00:00Z").start_year(), 2026);
        // 31 December 18:30 UTC is already 1 January in India: no change of year.
        assert_eq!(fy("2026-12-31T18:30:00Z").start_year(), 2026);
    }

    #[test]
    fn label_and_short_form() {
        let y = FinancialYear::starting(2026).unwrap();
        assert_eq!((y.label(), y.short()), ("2026-27".into(), "2627".into()));
        assert_eq!(y.to_string(), "2026-27");
        let y = FinancialYear::starting(2009).unwrap();
        assert_eq!((y.label(), y.short()), ("2009-10".into(), "0910".into()));
        let y = FinancialYear::starting(2098).unwrap();
        assert_eq!((y.label(), y.short()), ("2098-99".into(), "9899".into()));
    }

    #[test]
    fn short_form_parses_back_and_refuses_nonsense() {
        assert_eq!(
            FinancialYear::parse_short("2627").unwrap(),
            FinancialYear::starting(2026).unwrap()
        );
        for bad in ["2628", "262", "26270", "ab27", "9900", "+627"] {
            assert!(FinancialYear::parse_short(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_years_the_short_form_cannot_hold() {
        assert_eq!(
            FinancialYear::starting(1999),
            Err(FinancialYearError::OutOfRange(1999))
        );
        assert_eq!(
            FinancialYear::starting(2099),
            Err(FinancialYearError::OutOfRange(2099))
        );
        assert!(FinancialYear::of(at("1999-06-01T00:00:00Z")).is_err());
    }

    proptest! {
        #[test]
        fn short_form_round_trips(start in 2000i32..=2098) {
            let y = FinancialYear::starting(start).unwrap();
            prop_assert_eq!(FinancialYear::parse_short(&y.short()).unwrap(), y);
            prop_assert_eq!(y.short().len(), 4);
        }

        #[test]
        fn year_is_monotonic_and_contains_its_instant(secs in 954_527_400i64..4_000_000_000, step in 0i64..40_000_000) {
            let a = DateTime::from_timestamp(secs, 0).unwrap();
            let b = DateTime::from_timestamp(secs + step, 0).unwrap();
            let (ya, yb) = (FinancialYear::of(a).unwrap(), FinancialYear::of(b).unwrap());
            prop_assert!(ya <= yb);
            // 1 April 00:00 India time of the start year is 31 March 18:30 UTC.
            let start = at(&format!("{}-03-31T18:30:00Z", ya.start_year()));
            let end = at(&format!("{}-03-31T18:30:00Z", ya.start_year() + 1));
            prop_assert!(start <= a && a < end);
        }
    }
}
