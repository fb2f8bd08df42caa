//! What the API answers about a cart.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::pricing::{Notice, Priced, line_title};
use crate::domain::PriceBreakdown;
use crate::store::carts::{CartRow, ItemRow};
use crate::store::catalog::{Period, PeriodUnit};

#[derive(Debug, Serialize, ToSchema)]
pub struct CartItemView {
    pub id: Uuid,
    pub internship_id: Uuid,
    pub internship_slug: String,
    pub title: String,
    pub plan_id: Uuid,
    pub period: Period,
    pub cohort_id: Option<Uuid>,
    pub quantity: i32,
    /// Catalog price of one unit, INR paise.
    pub unit_price_inr: i64,
    pub tax_inclusive: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartView {
    /// The cart's bearer token.
    pub token: String,
    /// draft | active | expired | converted
    pub status: String,
    pub user_id: Option<Uuid>,
    pub currency: String,
    pub items: Vec<CartItemView>,
    pub sale_slug: Option<String>,
    pub coupon_code: Option<String>,
    pub device_id: Option<String>,
    /// The breakdown from the pricing engine, computed now from the catalog (no tax
    /// until an estimate gives a billing address).
    #[schema(value_type = Object)]
    pub pricing: PriceBreakdown,
    /// Discounts on the cart that were not applied, and why.
    pub notices: Vec<Notice>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Increases with every change.
    pub version: i64,
}

pub fn item_view(i: &ItemRow) -> CartItemView {
    CartItemView {
        id: i.id,
        internship_id: i.program_id,
        internship_slug: i.program_slug.clone(),
        title: line_title(i),
        plan_id: i.plan_id,
        period: Period {
            value: i.period_value,
            unit: PeriodUnit::from_db(&i.period_unit),
        },
        cohort_id: i.cohort_id,
        quantity: i.quantity,
        unit_price_inr: i.price_minor,
        tax_inclusive: i.tax_inclusive,
    }
}

pub fn cart_view(
    cart: CartRow,
    items: &[ItemRow],
    sale_slug: Option<String>,
    priced: Priced,
) -> CartView {
    CartView {
        token: cart.token,
        status: cart.status,
        user_id: cart.user_id,
        currency: cart.currency,
        items: items.iter().map(item_view).collect(),
        sale_slug,
        coupon_code: cart.coupon_code,
        device_id: cart.device_id,
        pricing: priced.breakdown,
        notices: priced.notices,
        expires_at: cart.expires_at,
        created_at: cart.created_at,
        updated_at: cart.updated_at,
        version: cart.version,
    }
}

/// `POST /cart/estimate`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Estimate {
    pub cart_token: String,
    pub status: String,
    pub currency: String,
    /// The full breakdown: lines, discounts, place of supply, tax components, totals.
    #[schema(value_type = Object)]
    pub pricing: PriceBreakdown,
    pub notices: Vec<Notice>,
    /// False when the total is zero (a coupon covers it all): the order completes
    /// without a payment session and no gateway is involved.
    pub payment_required: bool,
}
