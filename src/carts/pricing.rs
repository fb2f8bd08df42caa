//! Gathers what `domain::price` needs for a cart (catalog lines, sale, coupon and its
//! counters, FX rate, supplier state) and prices it. Nothing from a request is
//! trusted: lines come from the catalog every time.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::CartError;
use crate::config::PricingSettings;
use crate::domain::{
    BillingAddress, CouponInput, Currency, FxRate, IndianState, LineInput, PriceBreakdown,
    PricingError, PricingInput, Sale, price,
};
use crate::store::carts::{CartRow, ItemRow};
use crate::store::catalog::{Period, PeriodUnit};
use crate::store::coupons::{self, StoredCoupon};
use crate::store::{fx, sales};

/// How a coupon that no longer applies is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponMode {
    /// Refuse with the coupon's reason (applying a coupon, order creation).
    Strict,
    /// Price without it and say why in a notice (showing a cart whose coupon stopped
    /// applying, e.g. after an item was removed). The code stays on the cart.
    Lenient,
}

/// A discount that is on the cart but was not applied, and why.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notice {
    /// `sale` or `coupon`.
    pub subject: &'static str,
    /// The sale slug or coupon code.
    pub code: String,
    /// Stable snake_case reason (`minimum_not_met`, `ended`, ...).
    pub reason: &'static str,
    /// For the student.
    pub message: String,
}

/// A breakdown and the notices explaining discounts left out.
#[derive(Debug, Clone)]
pub struct Priced {
    pub breakdown: PriceBreakdown,
    pub notices: Vec<Notice>,
}

/// Everything pricing a cart needs, loaded once, priceable many times.
#[derive(Debug, Clone)]
pub struct PricingContext {
    pub lines: Vec<LineInput>,
    pub sale: Option<Sale>,
    pub coupon: Option<CouponInput>,
    pub currency: Currency,
    pub fx_rate: Option<FxRate>,
    pub settings_max_age: chrono::Duration,
    pub supplier_state: IndianState,
    pub now: DateTime<Utc>,
}

/// The invoice line title: "Data Science (3 months)".
pub fn line_title(item: &ItemRow) -> String {
    let period = Period {
        value: item.period_value,
        unit: PeriodUnit::from_db(&item.period_unit),
    };
    format!("{} ({period})", item.program_title)
}

/// Parses a currency code from a request or a row.
pub fn parse_currency(code: &str) -> Result<Currency, CartError> {
    Currency::parse(code).map_err(|_| CartError::UnsupportedCurrency(code.trim().to_owned()))
}

impl PricingContext {
    /// Loads the context for `cart` with `items`, priced in `currency`.
    pub async fn load(
        conn: &mut PgConnection,
        cart: &CartRow,
        items: &[ItemRow],
        settings: &PricingSettings,
        currency: Currency,
        now: DateTime<Utc>,
    ) -> Result<Self, CartError> {
        let lines = items
            .iter()
            .map(|i| LineInput {
                line_id: i.id,
                program_id: i.program_id,
                plan_id: i.plan_id,
                title: line_title(i),
                unit_price_inr: i.price_minor,
                quantity: u32::try_from(i.quantity).unwrap_or(0),
                tax_inclusive: i.tax_inclusive,
            })
            .collect();
        let sale = match cart.sale_id {
            Some(id) => sales::find(conn, id).await?.map(|s| s.sale),
            None => None,
        };
        let coupon = match &cart.coupon_code {
            Some(code) => coupons::find_input(conn, code, cart.user_id).await?,
            None => None,
        };
        let fx_rate = if currency == Currency::INR {
            None
        } else {
            fx::latest(conn, currency, now).await?
        };
        let supplier_state = settings
            .supplier_state()
            .map_err(|e| anyhow::anyhow!("pricing.supplier_state: {e}"))?;
        Ok(PricingContext {
            lines,
            sale,
            coupon,
            currency,
            fx_rate,
            settings_max_age: settings.fx_max_age(),
            supplier_state,
            now,
        })
    }

    /// The same context with another coupon (or none).
    pub fn with_coupon(&self, coupon: Option<CouponInput>) -> Self {
        PricingContext {
            coupon,
            ..self.clone()
        }
    }

    /// The same context without the sale.
    pub fn without_sale(&self) -> Self {
        PricingContext {
            sale: None,
            ..self.clone()
        }
    }

    /// Prices the cart. A sale that stopped running since the cart was made is left
    /// out with a notice; a coupon that does not apply is refused or left out per
    /// `mode`. Any other problem (FX rate, address) is an error.
    pub fn price(
        &self,
        billing_address: Option<BillingAddress>,
        mode: CouponMode,
    ) -> Result<Priced, CartError> {
        let mut input = PricingInput {
            lines: self.lines.clone(),
            sale: self.sale.clone(),
            coupon: self.coupon.clone(),
            billing_address,
            currency: self.currency,
            fx_rate: self.fx_rate.clone(),
            max_rate_age: self.settings_max_age,
            supplier_state: self.supplier_state,
            now: self.now,
        };
        let mut notices = Vec::new();
        loop {
            match price(&input) {
                Ok(breakdown) => return Ok(Priced { breakdown, notices }),
                Err(PricingError::Sale(refusal)) if input.sale.is_some() => {
                    let code = input.sale.take().map(|s| s.slug).unwrap_or_default();
                    notices.push(Notice {
                        subject: "sale",
                        code,
                        reason: refusal.reason(),
                        message: refusal.to_string(),
                    });
                }
                Err(PricingError::Coupon(refusal))
                    if mode == CouponMode::Lenient && input.coupon.is_some() =>
                {
                    let code = input
                        .coupon
                        .take()
                        .map(|c| c.coupon.code)
                        .unwrap_or_default();
                    notices.push(Notice {
                        subject: "coupon",
                        code,
                        reason: refusal.reason(),
                        message: refusal.to_string(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A coupon with the counters pricing checks it against.
pub async fn coupon_input(
    conn: &mut PgConnection,
    stored: &StoredCoupon,
    user: Option<Uuid>,
) -> Result<CouponInput, CartError> {
    Ok(CouponInput {
        coupon: stored.coupon.clone(),
        usage: coupons::usage(conn, stored, user).await?,
    })
}
