//! GSTIN: the GST identification number a registered business gives to buy B2B.
//!
//! Fifteen characters, issued by the GST Network:
//!
//! | chars | what | checked |
//! |---|---|---|
//! | 1-2 | GST state code of the registration | one of [`super::india`]'s codes |
//! | 3-12 | the holder's PAN | shape: 5 letters, 4 digits, 1 letter |
//! | 13 | registration number under that PAN in the state | 1-9, then A-Z |
//! | 14 | reserved, `Z` by default | any letter or digit (see below) |
//! | 15 | check character | the mod-36 checksum below |
//!
//! Character 14 is `Z` on every GSTIN issued so far, but GSTN documents it as a default
//! that carries no meaning, not as a rule; the check character covers it anyway, so a
//! typo there is still caught, and a future non-`Z` GSTIN is not refused.
//!
//! The check character (GSTN's published algorithm): each of the first 14 characters
//! is a base-36 value (0-9, then A-Z as 10-35), multiplied by 1 at odd positions and 2
//! at even ones (1-based); each product adds its quotient and remainder by 36 to a sum;
//! the check value is (36 - sum mod 36) mod 36. Doubling is a permutation of the 36
//! values, so every single-character typo changes the check.
//!
//! Only upper-case input is accepted, exactly as the API schema's pattern says; a
//! storefront upper-cases what the buyer types.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::india::IndianState;

/// The alphabet of the checksum, in value order.
const BASE36: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A valid GSTIN, with the state it is registered in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gstin {
    text: String,
    state: IndianState,
}

/// Why a GSTIN is refused; each message names the rule broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GstinError {
    #[error("a GSTIN has 15 characters (got {0})")]
    Length(usize),
    #[error("a GSTIN has only capital letters A-Z and digits")]
    Characters,
    #[error("'{0}' is not a GST state code (the first two characters of a GSTIN)")]
    StateCode(String),
    #[error("characters 3-12 of a GSTIN are a PAN: 5 letters, 4 digits, 1 letter")]
    PanShape,
    #[error("character 13 of a GSTIN (the registration number under the PAN) is 1-9 or A-Z, not 0")]
    EntityNumber,
    #[error("the GSTIN's check character (the last one) does not match: check it for a typo")]
    CheckDigit,
}

/// The check character for the first 14 characters (upper-case alphanumerics).
fn check_character(body: &[u8]) -> Option<u8> {
    let mut sum = 0usize;
    for (i, c) in body.iter().enumerate() {
        let value = BASE36.iter().position(|b| b == c)?;
        let product = value * if i % 2 == 0 { 1 } else { 2 };
        sum += product / 36 + product % 36;
    }
    BASE36.get((36 - sum % 36) % 36).copied()
}

impl Gstin {
    /// Checks every rule of the format, in the order of the table in the module doc.
    pub fn parse(input: &str) -> Result<Gstin, GstinError> {
        let count = input.chars().count();
        if count != 15 {
            return Err(GstinError::Length(count));
        }
        let b = input.as_bytes();
        if !b
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(GstinError::Characters);
        }
        let code = &input[..2];
        let state = b[..2]
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| IndianState::parse(code).ok())
            .flatten()
            .ok_or_else(|| GstinError::StateCode(code.to_owned()))?;
        let pan = &b[2..12];
        let pan_shape = pan[..5].iter().all(u8::is_ascii_uppercase)
            && pan[5..9].iter().all(u8::is_ascii_digit)
            && pan[9].is_ascii_uppercase();
        if !pan_shape {
            return Err(GstinError::PanShape);
        }
        if b[12] == b'0' {
            return Err(GstinError::EntityNumber);
        }
        if check_character(&b[..14]) != Some(b[14]) {
            return Err(GstinError::CheckDigit);
        }
        Ok(Gstin {
            text: input.to_owned(),
            state,
        })
    }

    /// The GSTIN as issued.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The state of the registration: the place of supply of a B2B sale.
    pub fn state(&self) -> IndianState {
        self.state
    }
}

impl fmt::Display for Gstin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Gstin {
    type Err = GstinError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gstin::parse(s)
    }
}

impl Serialize for Gstin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Gstin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Gstin::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    /// Made-up PANs with their check characters computed (by the algorithm in the
    /// module doc, in a separate script), with the state each must give.
    const GOOD: &[(&str, &str)] = &[
        ("29AAKCT4821M1ZR", "KA"),
        ("29AAKCT4821M2ZQ", "KA"),
        ("29AAKCT4821MAZI", "KA"),
        ("27BQWPS7305K1ZY", "MH"),
        ("07CJHPR6619D1Z1", "DL"),
        ("33AHXFM2094Q1ZZ", "TN"),
        ("37AACCV5503L1Z5", "AP"),
        ("24DGNPK1187B9ZB", "GJ"),
    ];

    fn with_check(body: &str) -> String {
        let c = check_character(body.as_bytes()).unwrap();
        format!("{body}{}", c as char)
    }

    #[test]
    fn known_good_gstins_parse_with_their_state() {
        for (text, state) in GOOD {
            let g = Gstin::parse(text).unwrap();
            assert_eq!(g.as_str(), *text);
            assert_eq!(g.state().code(), *state, "{text}");
            assert_eq!(with_check(&text[..14]), *text);
        }
    }

    #[test]
    fn each_rule_has_its_refusal() {
        let cases = [
            ("29AAKCT4821M1Z", GstinError::Length(14)),
            ("29AAKCT4821M1ZRR", GstinError::Length(16)),
            ("", GstinError::Length(0)),
            ("29aakct4821m1zr", GstinError::Characters),
            ("29AAKCT4821M1Z ", GstinError::Characters),
            ("29AAKCT-821M1ZR", GstinError::Characters),
            // 15 characters, 16 bytes
            ("29AAKCT4821M1Zé", GstinError::Characters),
            ("99AAKCT4821M1ZR", GstinError::StateCode("99".into())),
            ("00AAKCT4821M1ZR", GstinError::StateCode("00".into())),
            ("KAAAKCT4821M1ZR", GstinError::StateCode("KA".into())),
            ("2AAAKCT4821M1ZR", GstinError::StateCode("2A".into())),
            ("291AKCT4821M1ZR", GstinError::PanShape),
            ("29AAKCTA821M1ZR", GstinError::PanShape),
            ("29AAKCT482155ZR", GstinError::PanShape),
            ("29AAKCT4821M0ZR", GstinError::EntityNumber),
            ("29AAKCT4821M1ZQ", GstinError::CheckDigit),
            ("27AAKCT4821M1ZR", GstinError::CheckDigit),
        ];
        for (input, want) in cases {
            assert_eq!(Gstin::parse(input), Err(want), "{input:?}");
        }
    }

    #[test]
    fn character_14_is_not_required_to_be_z() {
        let g = with_check("29AAKCT4821M1A");
        assert_eq!(Gstin::parse(&g).unwrap().state().code(), "KA");
    }

    #[test]
    fn serde_is_the_text_and_refuses_bad_ones() {
        let g: Gstin = serde_json::from_str(r#""27BQWPS7305K1ZY""#).unwrap();
        assert_eq!(serde_json::to_string(&g).unwrap(), r#""27BQWPS7305K1ZY""#);
        assert!(serde_json::from_str::<Gstin>(r#""27BQWPS7305K1ZX""#).is_err());
    }

    /// A GST state code of the state table (with its canonical state).
    fn arb_state() -> impl Strategy<Value = (String, String)> {
        (1u8..=38).prop_filter_map("a state code", |n| {
            let code = format!("{n:02}");
            IndianState::parse(&code)
                .ok()
                .map(|s| (code, s.code().to_owned()))
        })
    }

    fn arb_valid() -> impl Strategy<Value = (String, String)> {
        (arb_state(), "[A-Z]{5}[0-9]{4}[A-Z]", "[1-9A-Z]", "[0-9A-Z]").prop_map(
            |((code, state), pan, entity, reserved)| {
                (with_check(&format!("{code}{pan}{entity}{reserved}")), state)
            },
        )
    }

    proptest! {
        #[test]
        fn well_formed_gstins_parse_to_their_state((text, state) in arb_valid()) {
            let g = Gstin::parse(&text).unwrap();
            prop_assert_eq!(g.state().code(), state);
            prop_assert_eq!(g.to_string(), text);
        }

        #[test]
        fn every_single_character_change_is_refused(
            (text, _) in arb_valid(),
            at in 0usize..15,
            replacement in "[0-9A-Z]",
        ) {
            let mut bytes = text.clone().into_bytes();
            let new = replacement.as_bytes()[0];
            prop_assume!(bytes[at] != new);
            bytes[at] = new;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(Gstin::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn anything_else_is_refused_without_panicking(input in "\\PC{0,20}") {
            if let Ok(g) = Gstin::parse(&input) {
                prop_assert_eq!(g.as_str(), input.as_str());
                prop_assert_eq!(input.len(), 15);
            }
        }
    }
}
