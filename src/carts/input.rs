//! Request bodies. Every struct denies unknown fields, so a client can never slip in a
//! price, total, tax, discount or status.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::CartError;
use crate::domain::invoice::BillingDetails;
use crate::domain::{BillingAddress, Gstin};
use crate::store::catalog::Period;

fn one() -> i64 {
    1
}

/// An internship and either a plan or a billing period of it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemInput {
    /// Program id or slug.
    pub internship_id: String,
    /// A plan of that program; or give `period`.
    #[serde(default)]
    pub plan_id: Option<Uuid>,
    /// The billing period, e.g. `{"value": 3, "unit": "month"}`; or give `plan_id`.
    #[serde(default)]
    pub period: Option<Period>,
    /// The cohort (start date) chosen, if any.
    #[serde(default)]
    pub cohort_id: Option<Uuid>,
    /// 1 by default, at most `cart.max_quantity`.
    #[serde(default = "one")]
    pub quantity: i64,
    /// Analytics event(s) appended to the cart's analytics data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub analytics: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCart {
    #[serde(default)]
    pub items: Vec<ItemInput>,
    /// A running sale applied to the whole cart; unknown or not running -> 2051/2052.
    #[serde(default)]
    pub sale_slug: Option<String>,
    /// Currency to price in (`pricing.default_currency` if absent).
    #[serde(default)]
    pub currency: Option<String>,
    /// The storefront's device id, for guest tracking.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Analytics event(s) appended to the cart's analytics data.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub analytics: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCoupon {
    pub code: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingAddressInput {
    /// ISO 3166-1 alpha-2 ("IN").
    pub country: String,
    /// Required for India: code ("KA"), GST code ("29") or name.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    /// The buyer's GSTIN, to buy as a registered business (B2B): the place of supply is
    /// then the GSTIN's state (its first two digits), whatever `state` says. Checked in
    /// full (state code, PAN, check character); a bad one is 2062.
    #[serde(default)]
    #[schema(
        min_length = 15,
        max_length = 15,
        pattern = "^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z][0-9A-Z]{2}$",
        examples("29AAKCT4821M1ZR")
    )]
    pub gstin: Option<String>,
    /// Who the tax invoice is made out to (a person or, with a GSTIN, the business);
    /// the account holder's name when absent. 1-100 characters, no line breaks; a bad
    /// one is 2063.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100, examples("Asha Rao"))]
    pub name: Option<String>,
    /// Postal address printed on the invoice, one entry per line: at most 4 lines of
    /// 1-100 characters, no line breaks inside a line; a bad one is 2063.
    #[serde(default)]
    #[schema(max_items = 4, examples(json!(["12 MG Road", "Bengaluru"])))]
    pub address_lines: Vec<String>,
}

/// The GSTIN, name and address lines are checked here, so a bad one is refused before
/// anything is read or written.
impl TryFrom<BillingAddressInput> for BillingAddress {
    type Error = CartError;
    fn try_from(a: BillingAddressInput) -> Result<Self, CartError> {
        let gstin = a
            .gstin
            .as_deref()
            .map(Gstin::parse)
            .transpose()
            .map_err(CartError::Gstin)?;
        let details = BillingDetails::parse(a.name.as_deref(), &a.address_lines)
            .map_err(CartError::Recipient)?;
        Ok(BillingAddress {
            country: a.country,
            state: a.state,
            postal_code: a.postal_code,
            gstin,
            name: details.name,
            address_lines: details.address_lines,
        })
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateRequest {
    pub cart_token: String,
    pub billing_address: BillingAddressInput,
    /// Price in this currency instead of the cart's.
    #[serde(default)]
    pub currency: Option<String>,
}
