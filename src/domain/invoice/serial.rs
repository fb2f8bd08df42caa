//! Document numbers: `{prefix}/{kind}{year}/{sequence}`, e.g. `KA/I2627/000042`.
//!
//! Rule 46(b) of the CGST Rules: a consecutive serial number, unique for the
//! financial year, of at most 16 characters, using only letters, digits, '/' and
//! '-'. Each supplier registration has its own prefix (uppercase A-Z, 0-9, '/',
//! '-'; configuration); the kind letter keeps invoices (`I`) and credit notes
//! (`C`) in separate series; the year is the financial year's short form
//! ("2627"); the sequence starts at 1 each year and is zero-padded to the width
//! the prefix leaves, at most six digits, so every number of a series has the same
//! length and sorts in issue order. A prefix of 1 to 3 characters leaves six
//! digits (999,999 documents per kind and year), 4 characters leave five
//! (99,999); a longer prefix is refused.

use std::fmt;

use super::financial_year::FinancialYear;

/// The legal maximum length of a document number.
pub const MAX_LEN: usize = 16;
/// Characters around the prefix: '/', the kind letter, four year digits, '/'.
const FIXED_LEN: usize = 7;
/// Fewest sequence digits a series may have (99,999 documents a year).
const MIN_DIGITS: usize = 5;
/// Most sequence digits: more would only make numbers longer.
const MAX_DIGITS: usize = 6;
/// Longest prefix that still leaves five sequence digits.
pub const MAX_PREFIX_LEN: usize = MAX_LEN - FIXED_LEN - MIN_DIGITS;

/// Which series a number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Tax invoice.
    Invoice,
    /// Credit note.
    CreditNote,
}

impl DocumentKind {
    /// The letter in the number.
    pub fn letter(&self) -> char {
        match self {
            DocumentKind::Invoice => 'I',
            DocumentKind::CreditNote => 'C',
        }
    }

    fn from_letter(c: char) -> Option<DocumentKind> {
        match c {
            'I' => Some(DocumentKind::Invoice),
            'C' => Some(DocumentKind::CreditNote),
            _ => None,
        }
    }
}

/// Why a prefix, sequence or number is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SerialError {
    /// The prefix is empty.
    #[error("the document series prefix must not be empty")]
    EmptyPrefix,
    /// A character Rule 46 does not allow, or lowercase.
    #[error("the document series prefix '{0}' may only contain A-Z, 0-9, '/' and '-'")]
    InvalidPrefix(String),
    /// No room left for the sequence numbers of a year.
    #[error(
        "the document series prefix '{prefix}' is too long: at most {max} characters, so that numbers stay within 16 characters with room for 99,999 documents a year"
    )]
    PrefixTooLong {
        /// The refused prefix.
        prefix: String,
        /// The longest allowed.
        max: usize,
    },
    /// Zero, or beyond what the series can number this year.
    #[error("sequence {sequence} is outside 1..={max} for this series")]
    SequenceOutOfRange {
        /// The refused sequence.
        sequence: u64,
        /// The series' maximum.
        max: u64,
    },
    /// Text that is not a number of any series.
    #[error("'{0}' is not a document number")]
    Malformed(String),
}

/// A validated series: prefix and kind. Numbers are formatted only through it, so
/// they always fit in 16 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Series {
    prefix: String,
    kind: DocumentKind,
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '/' || c == '-'
}

impl Series {
    /// Checks the prefix: non-empty, only A-Z 0-9 '/' '-', at most
    /// [`MAX_PREFIX_LEN`] (4) characters.
    pub fn new(prefix: &str, kind: DocumentKind) -> Result<Series, SerialError> {
        if prefix.is_empty() {
            return Err(SerialError::EmptyPrefix);
        }
        if !prefix.chars().all(is_allowed) {
            return Err(SerialError::InvalidPrefix(prefix.to_string()));
        }
        if prefix.len() > MAX_PREFIX_LEN {
            return Err(SerialError::PrefixTooLong {
                prefix: prefix.to_string(),
                max: MAX_PREFIX_LEN,
            });
        }
        Ok(Series {
            prefix: prefix.to_string(),
            kind,
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Invoice or credit note.
    pub fn kind(&self) -> DocumentKind {
        self.kind
    }

    fn digits(&self) -> usize {
        (MAX_LEN - FIXED_LEN - self.prefix.len()).min(MAX_DIGITS)
    }

    /// The last sequence number a year can have: 999,999 or 99,999.
    pub fn max_sequence(&self) -> u64 {
        10u64.pow(self.digits() as u32) - 1
    }

    /// The number of the `sequence`-th document of `year` (1-based).
    pub fn number(
        &self,
        year: FinancialYear,
        sequence: u64,
    ) -> Result<DocumentNumber, SerialError> {
        let max = self.max_sequence();
        if sequence == 0 || sequence > max {
            return Err(SerialError::SequenceOutOfRange { sequence, max });
        }
        Ok(DocumentNumber {
            series: self.clone(),
            year,
            sequence,
        })
    }
}

/// A formatted document number and its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentNumber {
    series: Series,
    year: FinancialYear,
    sequence: u64,
}

impl DocumentNumber {
    /// The series (prefix and kind).
    pub fn series(&self) -> &Series {
        &self.series
    }

    /// The financial year.
    pub fn year(&self) -> FinancialYear {
        self.year
    }

    /// Position in the year's series, from 1.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Reads a number back into its parts. Only numbers [`Series::number`] can
    /// produce are accepted (same padding), so parse and format round-trip.
    pub fn parse(text: &str) -> Result<DocumentNumber, SerialError> {
        let malformed = || SerialError::Malformed(text.to_string());
        if text.len() > MAX_LEN || !text.is_ascii() {
            return Err(malformed());
        }
        let (rest, sequence_text) = text.rsplit_once('/').ok_or_else(malformed)?;
        let (prefix, middle) = rest.rsplit_once('/').ok_or_else(malformed)?;
        let mut middle_chars = middle.chars();
        let kind = middle_chars
            .next()
            .and_then(DocumentKind::from_letter)
            .ok_or_else(malformed)?;
        let year = FinancialYear::parse_short(middle_chars.as_str()).map_err(|_| malformed())?;
        let series = Series::new(prefix, kind).map_err(|_| malformed())?;
        if sequence_text.len() != series.digits()
            || !sequence_text.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(malformed());
        }
        let sequence = sequence_text.parse().map_err(|_| malformed())?;
        series.number(year, sequence).map_err(|_| malformed())
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}{}/{:0width$}",
            self.series.prefix,
            self.series.kind.letter(),
            self.year.short(),
            self.sequence,
            width = self.series.digits()
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    fn fy(start: i32) -> FinancialYear {
        FinancialYear::starting(start).unwrap()
    }

    #[test]
    fn formats_invoice_and_credit_note_numbers() {
        let inv = Series::new("KA", DocumentKind::Invoice).unwrap();
        let cn = Series::new("KA", DocumentKind::CreditNote).unwrap();
        assert_eq!(
            inv.number(fy(2026), 42).unwrap().to_string(),
            "KA/I2627/000042"
        );
        assert_eq!(
            cn.number(fy(2026), 1).unwrap().to_string(),
            "KA/C2627/000001"
        );
        let long = Series::new("AB-1", DocumentKind::Invoice).unwrap();
        let n = long.number(fy(2026), 99_999).unwrap().to_string();
        assert_eq!(n, "AB-1/I2627/99999");
        assert_eq!(n.len(), 16);
        assert_eq!(long.max_sequence(), 99_999);
        assert_eq!(inv.max_sequence(), 999_999);
        assert_eq!(
            Series::new("X", DocumentKind::Invoice)
                .unwrap()
                .max_sequence(),
            999_999
        );
    }

    #[test]
    fn refuses_bad_prefixes_with_the_reason() {
        assert_eq!(
            Series::new("", DocumentKind::Invoice),
            Err(SerialError::EmptyPrefix)
        );
        for bad in ["ka", "K A", "K_A", "K.A", "KÄ"] {
            assert_eq!(
                Series::new(bad, DocumentKind::Invoice),
                Err(SerialError::InvalidPrefix(bad.into())),
                "{bad}"
            );
        }
        let err = Series::new("ABCDE", DocumentKind::Invoice).unwrap_err();
        assert_eq!(
            err,
            SerialError::PrefixTooLong {
                prefix: "ABCDE".into(),
                max: 4
            }
        );
        assert!(err.to_string().contains("at most 4 characters"));
        assert!(err.to_string().contains("99,999"));
    }

    #[test]
    fn refuses_sequences_outside_the_series() {
        let s = Series::new("AB/C", DocumentKind::Invoice).unwrap();
        assert_eq!(
            s.number(fy(2026), 0),
            Err(SerialError::SequenceOutOfRange {
                sequence: 0,
                max: 99_999
            })
        );
        assert_eq!(
            s.number(fy(2026), 100_000),
            Err(SerialError::SequenceOutOfRange {
                sequence: 100_000,
                max: 99_999
            })
        );
    }

    #[test]
    fn parses_numbers_back() {
        let n = DocumentNumber::parse("A/B/C2627/000123").unwrap();
        assert_eq!(n.series().prefix(), "A/B");
        assert_eq!(n.series().kind(), DocumentKind::CreditNote);
        assert_eq!(n.year(), fy(2026));
        assert_eq!(n.sequence(), 123);
        let n = DocumentNumber::parse("KA-1/I0910/00007").unwrap();
        assert_eq!(
            (n.series().prefix(), n.year(), n.sequence()),
            ("KA-1", fy(2009), 7)
        );
    }

    #[test]
    fn parse_refuses_what_format_cannot_produce() {
        for bad in [
            "KA/I2627/42",      // not padded
            "KA/I2627/0000042", // too wide
            "KA/I2627/000000",  // sequence 0
            "KA/X2627/000042",  // unknown kind
            "KA/I2628/000042",  // not a financial year
            "ka/I2627/000042",  // lowercase prefix
            "/I2627/000042",    // empty prefix
            "I2627/000042",     // no prefix part
            "ABCDE/I2627/0042", // prefix too long
            "KA/I2627/00004a",
            "KA/I2627/+00042",
            "AB-12/I2627/00001", // 17 characters
        ] {
            assert!(DocumentNumber::parse(bad).is_err(), "{bad}");
        }
    }

    fn prefix() -> impl Strategy<Value = String> {
        "[A-Z0-9/-]{1,4}"
    }

    proptest! {
        #[test]
        fn numbers_fit_and_round_trip(p in prefix(), credit: bool, start in 2000i32..=2098, seq in 1u64..=999_999) {
            let kind = if credit { DocumentKind::CreditNote } else { DocumentKind::Invoice };
            let series = Series::new(&p, kind).unwrap();
            let seq = seq.min(series.max_sequence());
            let number = series.number(fy(start), seq).unwrap();
            let text = number.to_string();
            prop_assert!(text.len() <= MAX_LEN);
            prop_assert!(text.chars().all(is_allowed));
            prop_assert_eq!(DocumentNumber::parse(&text).unwrap(), number);
        }

        #[test]
        fn later_sequences_sort_later(p in prefix(), a in 1u64..=99_999, b in 1u64..=99_999) {
            let series = Series::new(&p, DocumentKind::Invoice).unwrap();
            let (na, nb) = (series.number(fy(2026), a).unwrap(), series.number(fy(2026), b).unwrap());
            prop_assert_eq!(a.cmp(&b), na.to_string().cmp(&nb.to_string()));
        }
    }
}
