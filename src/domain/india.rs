//! Indian states and union territories, for GST place of supply.
//!
//! Billing forms send "KA", "Karnataka", "karnataka", "29" (the GST state code)
//! or an old code such as "OR" for Odisha. All of them must land on one canonical
//! value, because "same state as the supplier" decides CGST+SGST versus IGST and a
//! spelling difference must never change the tax.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One row: canonical code (ISO 3166-2:IN suffix, 2023 revision), GST state code,
/// official name, and accepted aliases (older codes and names).
struct StateRow {
    code: &'static str,
    gst: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
}

const STATES: &[StateRow] = &[
    StateRow {
        code: "AN",
        gst: "35",
        name: "Andaman and Nicobar Islands",
        aliases: &[],
    },
    StateRow {
        code: "AP",
        gst: "37",
        name: "Andhra Pradesh",
        aliases: &["28"],
    },
    StateRow {
        code: "AR",
        gst: "12",
        name: "Arunachal Pradesh",
        aliases: &[],
    },
    StateRow {
        code: "AS",
        gst: "18",
        name: "Assam",
        aliases: &[],
    },
    StateRow {
        code: "BR",
        gst: "10",
        name: "Bihar",
        aliases: &[],
    },
    StateRow {
        code: "CH",
        gst: "04",
        name: "Chandigarh",
        aliases: &[],
    },
    StateRow {
        code: "CG",
        gst: "22",
        name: "Chhattisgarh",
        aliases: &["CT", "Chattisgarh"],
    },
    StateRow {
        code: "DH",
        gst: "26",
        name: "Dadra and Nagar Haveli and Daman and Diu",
        aliases: &["DN", "DD", "25", "Dadra and Nagar Haveli", "Daman and Diu"],
    },
    StateRow {
        code: "DL",
        gst: "07",
        name: "Delhi",
        aliases: &[
            "New Delhi",
            "NCT of Delhi",
            "National Capital Territory of Delhi",
        ],
    },
    StateRow {
        code: "GA",
        gst: "30",
        name: "Goa",
        aliases: &[],
    },
    StateRow {
        code: "GJ",
        gst: "24",
        name: "Gujarat",
        aliases: &[],
    },
    StateRow {
        code: "HP",
        gst: "02",
        name: "Himachal Pradesh",
        aliases: &[],
    },
    StateRow {
        code: "HR",
        gst: "06",
        name: "Haryana",
        aliases: &[],
    },
    StateRow {
        code: "JH",
        gst: "20",
        name: "Jharkhand",
        aliases: &[],
    },
    StateRow {
        code: "JK",
        gst: "01",
        name: "Jammu and Kashmir",
        aliases: &[],
    },
    StateRow {
        code: "KA",
        gst: "29",
        name: "Karnataka",
        aliases: &[],
    },
    StateRow {
        code: "KL",
        gst: "32",
        name: "Kerala",
        aliases: &[],
    },
    StateRow {
        code: "LA",
        gst: "38",
        name: "Ladakh",
        aliases: &[],
    },
    StateRow {
        code: "LD",
        gst: "31",
        name: "Lakshadweep",
        aliases: &[],
    },
    StateRow {
        code: "MH",
        gst: "27",
        name: "Maharashtra",
        aliases: &[],
    },
    StateRow {
        code: "ML",
        gst: "17",
        name: "Meghalaya",
        aliases: &[],
    },
    StateRow {
        code: "MN",
        gst: "14",
        name: "Manipur",
        aliases: &[],
    },
    StateRow {
        code: "MP",
        gst: "23",
        name: "Madhya Pradesh",
        aliases: &[],
    },
    StateRow {
        code: "MZ",
        gst: "15",
        name: "Mizoram",
        aliases: &[],
    },
    StateRow {
        code: "NL",
        gst: "13",
        name: "Nagaland",
        aliases: &[],
    },
    StateRow {
        code: "OD",
        gst: "21",
        name: "Odisha",
        aliases: &["OR", "Orissa"],
    },
    StateRow {
        code: "PB",
        gst: "03",
        name: "Punjab",
        aliases: &[],
    },
    StateRow {
        code: "PY",
        gst: "34",
        name: "Puducherry",
        aliases: &["Pondicherry"],
    },
    StateRow {
        code: "RJ",
        gst: "08",
        name: "Rajasthan",
        aliases: &[],
    },
    StateRow {
        code: "SK",
        gst: "11",
        name: "Sikkim",
        aliases: &[],
    },
    StateRow {
        code: "TN",
        gst: "33",
        name: "Tamil Nadu",
        aliases: &[],
    },
    StateRow {
        code: "TR",
        gst: "16",
        name: "Tripura",
        aliases: &[],
    },
    StateRow {
        code: "TS",
        gst: "36",
        name: "Telangana",
        aliases: &["TG"],
    },
    StateRow {
        code: "UK",
        gst: "05",
        name: "Uttarakhand",
        aliases: &["UT", "Uttaranchal"],
    },
    StateRow {
        code: "UP",
        gst: "09",
        name: "Uttar Pradesh",
        aliases: &[],
    },
    StateRow {
        code: "WB",
        gst: "19",
        name: "West Bengal",
        aliases: &[],
    },
];

/// A canonical Indian state or union territory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IndianState(&'static str);

/// The input matched no state, code or alias.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an Indian state or union territory")]
pub struct UnknownState(pub String);

/// Lowercase, `&` -> "and", punctuation and repeated spaces removed, so
/// "Jammu & Kashmir", "jammu and  kashmir" and "Jammu-and-Kashmir" compare equal.
fn normalise(input: &str) -> String {
    let replaced = input.trim().to_lowercase().replace('&', " and ");
    replaced
        .split(|c: char| c.is_whitespace() || c == '-' || c == '.' || c == ',' || c == '_')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl IndianState {
    /// Accepts the canonical 2-letter code, an old code, the GST numeric code
    /// (with or without the leading zero), the official name or a known alias,
    /// all case-insensitively.
    pub fn parse(input: &str) -> Result<IndianState, UnknownState> {
        let key = normalise(input);
        if key.is_empty() {
            return Err(UnknownState(input.to_string()));
        }
        let numeric = key
            .parse::<u8>()
            .ok()
            .filter(|_| key.chars().all(|c| c.is_ascii_digit()))
            .map(|n| format!("{n:02}"));
        STATES
            .iter()
            .find(|row| {
                normalise(row.code) == key
                    || normalise(row.name) == key
                    || numeric.as_deref() == Some(row.gst)
                    || row
                        .aliases
                        .iter()
                        .any(|a| normalise(a) == key || numeric.as_deref() == Some(*a))
            })
            .map(|row| IndianState(row.code))
            .ok_or_else(|| UnknownState(input.to_string()))
    }

    /// Canonical two-letter code, e.g. "KA".
    pub fn code(&self) -> &'static str {
        self.0
    }

    fn row(&self) -> Option<&'static StateRow> {
        STATES.iter().find(|r| r.code == self.0)
    }

    /// Official name, e.g. "Karnataka".
    pub fn name(&self) -> &'static str {
        self.row().map_or(self.0, |r| r.name)
    }

    /// Two-digit GST state code, e.g. "29" for Karnataka.
    pub fn gst_code(&self) -> &'static str {
        self.row().map_or("", |r| r.gst)
    }
}

impl fmt::Display for IndianState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::str::FromStr for IndianState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndianState::parse(s)
    }
}

impl Serialize for IndianState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for IndianState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        IndianState::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn accepts_codes_names_and_gst_numbers() {
        for input in ["KA", "ka", " Karnataka ", "KARNATAKA", "29"] {
            assert_eq!(IndianState::parse(input).unwrap().code(), "KA", "{input}");
        }
        assert_eq!(IndianState::parse("MH").unwrap().name(), "Maharashtra");
        assert_eq!(IndianState::parse("7").unwrap().code(), "DL");
        assert_eq!(IndianState::parse("new delhi").unwrap().code(), "DL");
        assert_eq!(IndianState::parse("Tamil Nadu").unwrap().gst_code(), "33");
    }

    #[test]
    fn accepts_old_codes_and_spellings() {
        assert_eq!(IndianState::parse("OR").unwrap().code(), "OD");
        assert_eq!(IndianState::parse("Orissa").unwrap().code(), "OD");
        assert_eq!(IndianState::parse("Jammu & Kashmir").unwrap().code(), "JK");
        assert_eq!(IndianState::parse("daman-and-diu").unwrap().code(), "DH");
        assert_eq!(IndianState::parse("TG").unwrap().code(), "TS");
        assert_eq!(IndianState::parse("uttaranchal").unwrap().code(), "UK");
    }

    #[test]
    fn rejects_unknown() {
        for input in ["", "  ", "XX", "Karnatak", "99", "California"] {
            assert_eq!(
                IndianState::parse(input),
                Err(UnknownState(input.to_string())),
                "{input}"
            );
        }
    }

    #[test]
    fn table_is_consistent() {
        // 28 states + 8 union territories; no code, GST code, name or alias may
        // resolve to two rows.
        assert_eq!(STATES.len(), 36);
        for row in STATES {
            assert_eq!(IndianState::parse(row.code).unwrap().code(), row.code);
            assert_eq!(IndianState::parse(row.gst).unwrap().code(), row.code);
            assert_eq!(IndianState::parse(row.name).unwrap().code(), row.code);
            for alias in row.aliases {
                assert_eq!(IndianState::parse(alias).unwrap().code(), row.code);
            }
        }
        let mut keys: Vec<String> = STATES
            .iter()
            .flat_map(|r| {
                [r.code, r.gst, r.name]
                    .into_iter()
                    .chain(r.aliases.iter().copied())
                    .map(normalise)
            })
            .collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate key in state table");
    }

    #[test]
    fn serde_uses_canonical_code() {
        let s: IndianState = serde_json::from_str(r#""karnataka""#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""KA""#);
    }
}
