//! Who an invoice is addressed to: the optional name and address lines a buyer gives
//! with the billing address, checked before anything is priced or stored, and the
//! recipient block an invoice prints from them.
//!
//! Bounds: a name of 1 to [`MAX_NAME_CHARS`] characters, at most [`MAX_ADDRESS_LINES`]
//! address lines of 1 to [`MAX_LINE_CHARS`] characters each; surrounding white space
//! is trimmed, and control characters (line breaks included: one entry is one printed
//! line) are refused. Without a name the invoice names the account holder.

use super::document::{Recipient, StateRef};
use crate::domain::india::IndianState;
use crate::domain::tax::BillingAddress;

/// Longest recipient name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Most address lines.
pub const MAX_ADDRESS_LINES: usize = 4;
/// Longest address line, in characters.
pub const MAX_LINE_CHARS: usize = 100;

/// Why a name or address line is refused; each message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    #[error("billing_address.name: must not be empty when given")]
    EmptyName,
    #[error("billing_address.name: at most {MAX_NAME_CHARS} characters (got {0})")]
    NameTooLong(usize),
    #[error("billing_address.address_lines: at most {MAX_ADDRESS_LINES} lines (got {0})")]
    TooManyLines(usize),
    #[error("billing_address.address_lines[{0}]: must not be empty")]
    EmptyLine(usize),
    #[error(
        "billing_address.address_lines[{index}]: at most {MAX_LINE_CHARS} characters (got {chars})"
    )]
    LineTooLong {
        /// Position of the line, from 0.
        index: usize,
        /// Its length.
        chars: usize,
    },
    #[error("{0}: control characters (such as line breaks) are not allowed")]
    ControlCharacter(String),
}

/// A checked name and address lines, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BillingDetails {
    /// The name to bill, if given.
    pub name: Option<String>,
    /// Address lines, possibly none.
    pub address_lines: Vec<String>,
}

fn clean(text: &str, field: impl Fn() -> String) -> Result<String, RecipientError> {
    let trimmed = text.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(RecipientError::ControlCharacter(field()));
    }
    Ok(trimmed.to_owned())
}

impl BillingDetails {
    /// Checks what the buyer typed (see the module doc for the bounds).
    pub fn parse(name: Option<&str>, lines: &[String]) -> Result<BillingDetails, RecipientError> {
        let name = match name {
            None => None,
            Some(n) => {
                let n = clean(n, || "billing_address.name".into())?;
                let chars = n.chars().count();
                if chars == 0 {
                    return Err(RecipientError::EmptyName);
                }
                if chars > MAX_NAME_CHARS {
                    return Err(RecipientError::NameTooLong(chars));
                }
                Some(n)
            }
        };
        if lines.len() > MAX_ADDRESS_LINES {
            return Err(RecipientError::TooManyLines(lines.len()));
        }
        let mut address_lines = Vec::with_capacity(lines.len());
        for (index, line) in lines.iter().enumerate() {
            let line = clean(line, || format!("billing_address.address_lines[{index}]"))?;
            let chars = line.chars().count();
            if chars == 0 {
                return Err(RecipientError::EmptyLine(index));
            }
            if chars > MAX_LINE_CHARS {
                return Err(RecipientError::LineTooLong { index, chars });
            }
            address_lines.push(line);
        }
        Ok(BillingDetails {
            name,
            address_lines,
        })
    }
}

/// An Indian state as documents print it.
pub fn state_ref(state: IndianState) -> StateRef {
    StateRef {
        name: state.name().to_owned(),
        code: state.gst_code().to_owned(),
    }
}

fn is_india(country: &str) -> bool {
    matches!(
        country.trim().to_ascii_uppercase().as_str(),
        "IN" | "IND" | "INDIA"
    )
}

/// The recipient block of an invoice from the order's billing address; `account_name`
/// (the user's) when the address names no one. The country is printed as its
/// two-letter code, the state (for India) with its GST code.
pub fn recipient(address: &BillingAddress, account_name: &str) -> Recipient {
    let india = is_india(&address.country);
    let country = if india {
        "IN".to_owned()
    } else {
        address.country.trim().to_ascii_uppercase()
    };
    let state = address
        .state
        .as_deref()
        .filter(|_| india)
        .and_then(|s| IndianState::parse(s).ok())
        .map(state_ref);
    Recipient {
        name: address
            .name
            .clone()
            .unwrap_or_else(|| account_name.trim().to_owned()),
        address: address.address_lines.clone(),
        country,
        state,
        postal_code: address.postal_code.clone().filter(|p| !p.trim().is_empty()),
        gstin: address.gstin.as_ref().map(|g| g.as_str().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::domain::Gstin;
    use proptest::prelude::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn trims_and_keeps_what_is_given() {
        let d = BillingDetails::parse(Some("  Asha Rao "), &lines(&[" 12 MG Road ", "Bengaluru"]))
            .unwrap();
        assert_eq!(d.name.as_deref(), Some("Asha Rao"));
        assert_eq!(d.address_lines, ["12 MG Road", "Bengaluru"]);
        assert_eq!(
            BillingDetails::parse(None, &[]).unwrap(),
            BillingDetails::default()
        );
    }

    #[test]
    fn refuses_what_cannot_be_printed() {
        let long = "x".repeat(101);
        let cases: Vec<(Option<&str>, Vec<String>, RecipientError)> = vec![
            (Some("  "), vec![], RecipientError::EmptyName),
            (Some(&long), vec![], RecipientError::NameTooLong(101)),
            (
                None,
                lines(&["a", "b", "c", "d", "e"]),
                RecipientError::TooManyLines(5),
            ),
            (None, lines(&["a", " "]), RecipientError::EmptyLine(1)),
            (
                None,
                vec!["y".repeat(101)],
                RecipientError::LineTooLong {
                    index: 0,
                    chars: 101,
                },
            ),
            (
                Some("Asha\nRao"),
                vec![],
                RecipientError::ControlCharacter("billing_address.name".into()),
            ),
            (
                None,
                lines(&["ok", "a\u{7}b"]),
                RecipientError::ControlCharacter("billing_address.address_lines[1]".into()),
            ),
        ];
        for (name, l, want) in cases {
            assert_eq!(BillingDetails::parse(name, &l), Err(want.clone()), "{want}");
            assert!(want.to_string().starts_with("billing_address."), "{want}");
        }
        // characters, not bytes: 100 Devanagari letters fit
        let hindi = "क".repeat(100);
        assert!(BillingDetails::parse(Some(&hindi), &[]).is_ok());
    }

    fn address(country: &str, state: Option<&str>) -> BillingAddress {
        BillingAddress {
            country: country.into(),
            state: state.map(Into::into),
            postal_code: Some("560001".into()),
            gstin: None,
            name: None,
            address_lines: vec![],
        }
    }

    #[test]
    fn recipient_names_the_account_holder_unless_the_address_names_someone() {
        let r = recipient(&address("india", Some("Karnataka")), " Student ");
        assert_eq!(r.name, "Student");
        assert_eq!(r.country, "IN");
        assert_eq!(
            r.state,
            Some(StateRef {
                name: "Karnataka".into(),
                code: "29".into()
            })
        );
        let mut named = address("IN", Some("MH"));
        named.name = Some("Acme Training LLP".into());
        named.address_lines = lines(&["1 Marine Drive"]);
        named.gstin = Some(Gstin::parse("29AAKCT4821M1ZR").unwrap());
        let r = recipient(&named, "Student");
        assert_eq!(r.name, "Acme Training LLP");
        assert_eq!(r.address, ["1 Marine Drive"]);
        assert_eq!(r.state.unwrap().code, "27");
        assert_eq!(r.gstin.as_deref(), Some("29AAKCT4821M1ZR"));
        let abroad = recipient(&address("sg", Some("Central")), "Student");
        assert_eq!((abroad.country.as_str(), abroad.state), ("SG", None));
    }

    proptest! {
        #[test]
        fn accepted_details_stay_within_their_bounds(name in "\\PC{0,120}", l in proptest::collection::vec("\\PC{0,110}", 0..6)) {
            if let Ok(d) = BillingDetails::parse(Some(&name), &l) {
                let n = d.name.unwrap();
                prop_assert!((1..=MAX_NAME_CHARS).contains(&n.chars().count()));
                prop_assert!(d.address_lines.len() <= MAX_ADDRESS_LINES);
                for line in &d.address_lines {
                    prop_assert!((1..=MAX_LINE_CHARS).contains(&line.chars().count()));
                    prop_assert!(!line.chars().any(char::is_control));
                }
            }
        }
    }
}
