//! GST: place of supply and per-line tax.
//!
//! Rules (CGST Act / IGST Act as they apply to online education services sold to
//! individuals):
//! - The rate is 18 % of the taxable value, which is the price after discounts.
//! - Place of supply is the billing address. Same state as the supplier ->
//!   intra-state, CGST 9 % + SGST 9 %. Another Indian state or union territory ->
//!   inter-state, IGST 18 %. Outside India -> export of services, zero-rated (0 %).
//! - A buyer who gives a GSTIN is a registered business (B2B): the place of supply is
//!   the state of its registration, the GSTIN's first two digits (IGST Act s. 12(2)(a)),
//!   whatever state or country the address gives. The address is still checked as
//!   above: it stays the recipient's address on the invoice.
//! - Tax-exclusive price: tax = round(net x 18 %), total = net + tax.
//! - Tax-inclusive price: the total is the price. tax = round(net x 18 / 118),
//!   taxable value = net - tax. Backing out with one rounding keeps
//!   taxable + tax == price exactly.
//! - Intra-state split: the line's tax is computed once at 18 %, then
//!   CGST = round_half_up(tax / 2) and SGST = tax - CGST. So the components always
//!   sum to the line's tax, and when the tax is an odd number of minor units CGST
//!   carries the extra one. (Computing each at 9 % separately could make
//!   CGST + SGST differ by one from 18 % of the same value.)

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::gstin::Gstin;
use super::india::{IndianState, UnknownState};
use super::money::{MoneyError, apply_rate, round_half_up};

/// The GST rate on our services, 18 %.
pub fn gst_rate() -> Decimal {
    Decimal::new(18, 2)
}

/// Half the GST rate, 9 %, the nominal rate of each of CGST and SGST.
pub fn half_gst_rate() -> Decimal {
    Decimal::new(9, 2)
}

/// The billing address as the student typed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingAddress {
    /// ISO 3166-1 alpha-2 country code ("IN"); "IND" and "India" are also accepted.
    pub country: String,
    /// Indian state: code ("KA"), GST code ("29") or name ("Karnataka"). Required
    /// when the country is India, ignored otherwise.
    #[serde(default)]
    pub state: Option<String>,
    /// Postal code; for India, a 6-digit PIN if given.
    #[serde(default)]
    pub postal_code: Option<String>,
    /// The buyer's GSTIN, for a B2B purchase: it decides the place of supply.
    /// Left out of the JSON when absent, so addresses without one read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gstin: Option<Gstin>,
    /// Who to bill, for the invoice (checked by `invoice::recipient::BillingDetails`);
    /// the account holder's name when absent. No part of the tax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Postal address lines for the invoice, as given (possibly none). No part of the tax.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_lines: Vec<String>,
}

/// Why an address cannot decide the tax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxError {
    /// The country is not a two-letter ISO code.
    #[error("'{0}' is not a country code (expected two letters such as IN)")]
    InvalidCountry(String),
    /// An Indian address without a state.
    #[error("a state is required for an Indian billing address")]
    MissingState,
    /// An Indian state we do not recognise.
    #[error(transparent)]
    UnknownState(#[from] UnknownState),
    /// An Indian PIN that is not 6 digits.
    #[error("'{0}' is not an Indian PIN code (6 digits)")]
    InvalidPostalCode(String),
    /// Arithmetic left the integer range.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A negative taxable amount was passed in (a bug upstream).
    #[error("negative taxable amount")]
    NegativeAmount,
}

/// Where the supply is taxed, with the states involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlaceOfSupply {
    /// Buyer in the supplier's state: CGST + SGST.
    IntraState {
        /// Both the supplier's and the buyer's state.
        state: IndianState,
    },
    /// Buyer in another Indian state: IGST.
    InterState {
        /// Supplier's state.
        supplier_state: IndianState,
        /// Buyer's state (the place of supply).
        state: IndianState,
    },
    /// Buyer outside India: export, zero-rated.
    Export {
        /// Buyer's ISO 3166-1 alpha-2 country, uppercase.
        country: CountryCode,
    },
}

/// An uppercase ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// The code as text, e.g. "SG".
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl TryFrom<String> for CountryCode {
    type Error = TaxError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let b = s.trim().as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(CountryCode([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
            ]))
        } else {
            Err(TaxError::InvalidCountry(s))
        }
    }
}

impl From<CountryCode> for String {
    fn from(c: CountryCode) -> String {
        c.as_str().to_string()
    }
}

fn is_india(country: &str) -> bool {
    matches!(
        country.trim().to_ascii_uppercase().as_str(),
        "IN" | "IND" | "INDIA"
    )
}

/// Decides the place of supply for a billing address, given the supplier's state
/// (from configuration): the GSTIN's state when the address has one, else the
/// address's state or country. The address is checked either way.
pub fn place_of_supply(
    address: &BillingAddress,
    supplier_state: IndianState,
) -> Result<PlaceOfSupply, TaxError> {
    let by_address = address_place(address, supplier_state)?;
    Ok(match &address.gstin {
        Some(gstin) => within_india(gstin.state(), supplier_state),
        None => by_address,
    })
}

fn within_india(state: IndianState, supplier_state: IndianState) -> PlaceOfSupply {
    if state == supplier_state {
        PlaceOfSupply::IntraState { state }
    } else {
        PlaceOfSupply::InterState {
            supplier_state,
            state,
        }
    }
}

fn address_place(
    address: &BillingAddress,
    supplier_state: IndianState,
) -> Result<PlaceOfSupply, TaxError> {
    if !is_india(&address.country) {
        let country = CountryCode::try_from(address.country.clone())?;
        return Ok(PlaceOfSupply::Export { country });
    }
    if let Some(pin) = address.postal_code.as_deref() {
        let pin = pin.trim().replace(' ', "");
        let valid =
            pin.len() == 6 && pin.chars().all(|c| c.is_ascii_digit()) && !pin.starts_with('0');
        if !valid {
            return Err(TaxError::InvalidPostalCode(pin));
        }
    }
    let raw_state = address
        .state
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or(TaxError::MissingState)?;
    let state = IndianState::parse(raw_state)?;
    Ok(within_india(state, supplier_state))
}

/// The kind of a tax component on an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxKind {
    /// Central GST (intra-state).
    Cgst,
    /// State GST (intra-state).
    Sgst,
    /// Integrated GST (inter-state).
    Igst,
    /// Export of services: zero-rated, shown so the invoice says why tax is 0.
    ZeroRated,
}

impl TaxKind {
    /// Label for invoices and messages.
    pub fn label(&self) -> &'static str {
        match self {
            TaxKind::Cgst => "CGST",
            TaxKind::Sgst => "SGST",
            TaxKind::Igst => "IGST",
            TaxKind::ZeroRated => "GST (zero-rated export)",
        }
    }
}

/// One named tax on a line or on the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxComponent {
    /// Which tax.
    pub kind: TaxKind,
    /// Nominal rate as a fraction (0.09 for 9 %), serialised as a string.
    pub rate: Decimal,
    /// Amount in minor units of the breakdown's currency.
    pub amount: i64,
}

/// Tax of one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineTax {
    /// Value the tax is charged on (ex-tax, after discount).
    pub taxable_value: i64,
    /// Sum of the components.
    pub tax: i64,
    /// What the student pays for the line.
    pub total: i64,
    /// Named components; their amounts sum to `tax`.
    pub components: Vec<TaxComponent>,
}

/// Taxes one line whose discounted price is `net` (minor units, >= 0).
///
/// `tax_inclusive` says whether `net` already contains the tax (see the module doc
/// for both formulas).
pub fn tax_line(net: i64, tax_inclusive: bool, place: &PlaceOfSupply) -> Result<LineTax, TaxError> {
    if net < 0 {
        return Err(TaxError::NegativeAmount);
    }
    let rate = match place {
        PlaceOfSupply::Export { .. } => Decimal::ZERO,
        _ => gst_rate(),
    };
    let (taxable_value, tax, total) = if tax_inclusive {
        let backed_out = Decimal::from(net)
            .checked_mul(rate)
            .and_then(|x| x.checked_div(Decimal::ONE + rate))
            .ok_or(MoneyError::Overflow)?;
        let tax = round_half_up(backed_out)?;
        (net - tax, tax, net)
    } else {
        let tax = apply_rate(net, rate)?;
        let total = net.checked_add(tax).ok_or(MoneyError::Overflow)?;
        (net, tax, total)
    };
    let components = match place {
        PlaceOfSupply::IntraState { .. } => {
            let cgst = round_half_up(Decimal::from(tax) / Decimal::TWO)?;
            vec![
                TaxComponent {
                    kind: TaxKind::Cgst,
                    rate: half_gst_rate(),
                    amount: cgst,
                },
                TaxComponent {
                    kind: TaxKind::Sgst,
                    rate: half_gst_rate(),
                    amount: tax - cgst,
                },
            ]
        }
        PlaceOfSupply::InterState { .. } => {
            vec![TaxComponent {
                kind: TaxKind::Igst,
                rate: gst_rate(),
                amount: tax,
            }]
        }
        PlaceOfSupply::Export { .. } => {
            vec![TaxComponent {
                kind: TaxKind::ZeroRated,
                rate: Decimal::ZERO,
                amount: 0,
            }]
        }
    };
    Ok(LineTax {
        taxable_value,
        tax,
        total,
        components,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    fn ka() -> IndianState {
        IndianState::parse("KA").unwrap()
    }

    fn addr(country: &str, state: Option<&str>, pin: Option<&str>) -> BillingAddress {
        BillingAddress {
            country: country.into(),
            state: state.map(Into::into),
            postal_code: pin.map(Into::into),
            gstin: None,
            name: None,
            address_lines: Vec::new(),
        }
    }

    fn b2b(address: BillingAddress, gstin: &str) -> BillingAddress {
        BillingAddress {
            gstin: Some(Gstin::parse(gstin).unwrap()),
            ..address
        }
    }

    fn intra() -> PlaceOfSupply {
        PlaceOfSupply::IntraState { state: ka() }
    }
    fn inter() -> PlaceOfSupply {
        PlaceOfSupply::InterState {
            supplier_state: ka(),
            state: IndianState::parse("MH").unwrap(),
        }
    }
    fn export() -> PlaceOfSupply {
        PlaceOfSupply::Export {
            country: CountryCode::try_from("SG".to_string()).unwrap(),
        }
    }

    #[test]
    fn same_state_is_intra_state() {
        let p = place_of_supply(&addr("IN", Some("karnataka"), Some("560001")), ka()).unwrap();
        assert_eq!(p, intra());
    }

    #[test]
    fn other_state_is_inter_state() {
        let p = place_of_supply(&addr("in", Some("MH"), None), ka()).unwrap();
        assert_eq!(p, inter());
    }

    #[test]
    fn foreign_is_export_even_without_state() {
        let p = place_of_supply(&addr("sg", None, Some("018956")), ka()).unwrap();
        assert_eq!(p, export());
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"kind":"export","country":"SG"}"#
        );
    }

    #[test]
    fn a_gstin_decides_the_place_of_supply_whatever_the_address_says() {
        // a Karnataka GSTIN with a Maharashtra address: intra-state for a KA supplier
        let p = place_of_supply(&b2b(addr("IN", Some("MH"), None), "29AAKCT4821M1ZR"), ka());
        assert_eq!(p.unwrap(), intra());
        // a Maharashtra GSTIN with a Karnataka address: inter-state
        let p = place_of_supply(&b2b(addr("IN", Some("KA"), None), "27BQWPS7305K1ZY"), ka());
        assert_eq!(p.unwrap(), inter());
        // an address abroad does not make a registered Indian buyer an export
        let p = place_of_supply(&b2b(addr("SG", None, None), "27BQWPS7305K1ZY"), ka());
        assert_eq!(p.unwrap(), inter());
        // the address is still checked
        let p = place_of_supply(&b2b(addr("IN", None, None), "27BQWPS7305K1ZY"), ka());
        assert_eq!(p, Err(TaxError::MissingState));
    }

    #[test]
    fn gstin_is_left_out_of_the_json_without_one() {
        let plain = serde_json::to_value(addr("IN", Some("KA"), None)).unwrap();
        assert!(plain.get("gstin").is_none());
        let with = b2b(addr("IN", Some("KA"), None), "29AAKCT4821M1ZR");
        let json = serde_json::to_value(&with).unwrap();
        assert_eq!(json["gstin"], "29AAKCT4821M1ZR");
        assert_eq!(
            serde_json::from_value::<BillingAddress>(json).unwrap(),
            with
        );
    }

    #[test]
    fn bad_addresses_are_errors() {
        assert_eq!(
            place_of_supply(&addr("IN", Some("Atlantis"), None), ka()),
            Err(TaxError::UnknownState(UnknownState("Atlantis".into())))
        );
        assert_eq!(
            place_of_supply(&addr("IN", None, None), ka()),
            Err(TaxError::MissingState)
        );
        assert_eq!(
            place_of_supply(&addr("India", Some(" "), None), ka()),
            Err(TaxError::MissingState)
        );
        assert_eq!(
            place_of_supply(&addr("IN", Some("KA"), Some("56001")), ka()),
            Err(TaxError::InvalidPostalCode("56001".into()))
        );
        assert_eq!(
            place_of_supply(&addr("USA", None, None), ka()),
            Err(TaxError::InvalidCountry("USA".into()))
        );
    }

    #[test]
    fn exclusive_intra_state_splits_odd_paisa_to_cgst() {
        // 18 % of 1,499.50 = 269.91; CGST = round(134.955) = 134.96, SGST = 134.95.
        let t = tax_line(149_950, false, &intra()).unwrap();
        assert_eq!(
            (t.taxable_value, t.tax, t.total),
            (149_950, 26_991, 176_941)
        );
        assert_eq!(
            t.components[0],
            TaxComponent {
                kind: TaxKind::Cgst,
                rate: half_gst_rate(),
                amount: 13_496
            }
        );
        assert_eq!(
            t.components[1],
            TaxComponent {
                kind: TaxKind::Sgst,
                rate: half_gst_rate(),
                amount: 13_495
            }
        );
    }

    #[test]
    fn exclusive_inter_state_is_igst() {
        // 18 % of 4,499.10 = 809.838 -> 809.84.
        let t = tax_line(449_910, false, &inter()).unwrap();
        assert_eq!(
            (t.taxable_value, t.tax, t.total),
            (449_910, 80_984, 530_894)
        );
        assert_eq!(
            t.components,
            vec![TaxComponent {
                kind: TaxKind::Igst,
                rate: gst_rate(),
                amount: 80_984
            }]
        );
    }

    #[test]
    fn inclusive_backs_tax_out() {
        // 1,180.00 inclusive: tax = 1180 x 18/118 = 180.00, taxable 1,000.00.
        let t = tax_line(118_000, true, &inter()).unwrap();
        assert_eq!(
            (t.taxable_value, t.tax, t.total),
            (100_000, 18_000, 118_000)
        );
        // 999.00 inclusive: 999 x 18/118 = 152.3898.. -> 152.39; taxable 846.61.
        let t = tax_line(99_900, true, &intra()).unwrap();
        assert_eq!((t.taxable_value, t.tax, t.total), (84_661, 15_239, 99_900));
        // 152.39 split: CGST round(76.195) = 76.20, SGST 76.19.
        assert_eq!(t.components[0].amount, 7_620);
        assert_eq!(t.components[1].amount, 7_619);
    }

    #[test]
    fn export_is_zero_rated() {
        for inclusive in [false, true] {
            let t = tax_line(99_900, inclusive, &export()).unwrap();
            assert_eq!((t.taxable_value, t.tax, t.total), (99_900, 0, 99_900));
            assert_eq!(t.components[0].kind, TaxKind::ZeroRated);
        }
    }

    #[test]
    fn refuses_negative_and_overflow() {
        assert_eq!(tax_line(-1, false, &inter()), Err(TaxError::NegativeAmount));
        assert_eq!(
            tax_line(i64::MAX, false, &inter()),
            Err(TaxError::Money(MoneyError::Overflow))
        );
    }

    proptest! {
        #[test]
        fn components_sum_to_tax_and_totals_hold(net in 0i64..10_000_000_000, inclusive: bool, which in 0u8..3) {
            let place = match which { 0 => intra(), 1 => inter(), _ => export() };
            let t = tax_line(net, inclusive, &place).unwrap();
            prop_assert_eq!(t.components.iter().map(|c| c.amount).sum::<i64>(), t.tax);
            prop_assert_eq!(t.taxable_value + t.tax, t.total);
            prop_assert!(t.tax >= 0 && t.taxable_value >= 0);
            if inclusive {
                prop_assert_eq!(t.total, net);
            } else {
                prop_assert_eq!(t.taxable_value, net);
            }
            if let PlaceOfSupply::IntraState { .. } = place {
                let diff = t.components[0].amount - t.components[1].amount;
                prop_assert!(diff == 0 || diff == 1);
            }
        }

        #[test]
        fn intra_and_inter_state_charge_the_same_tax(net in 0i64..10_000_000_000, inclusive: bool) {
            let a = tax_line(net, inclusive, &intra()).unwrap();
            let b = tax_line(net, inclusive, &inter()).unwrap();
            prop_assert_eq!(a.tax, b.tax);
        }
    }
}
