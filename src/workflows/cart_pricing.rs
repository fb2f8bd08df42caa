//! Where the checkout meets the cart: claiming and freezing the cart for an order, and
//! pricing it with the same function and catalog the estimate uses.

use chrono::Utc;
use serde_json::Value;
use sqlx::PgConnection;

use crate::api::bearer::Caller;
use crate::api::error::{ApiError, ApiResult};
use crate::carts::input::BillingAddressInput;
use crate::carts::pricing::{CouponMode, PricingContext, parse_currency};
use crate::carts::{Access, CartError, load_cart};
use crate::config::Settings;
use crate::domain::PriceBreakdown;
use crate::store::carts;
use crate::store::orders::Order;

/// What order creation needs to know about the locked cart.
pub struct CartForOrder {
    /// The cart was checked out already (its order is returned instead).
    pub converted: bool,
    pub coupon_code: Option<String>,
}

/// Locks the caller's cart for order creation. Ownership is `load_cart`'s rule (a cart
/// bound to someone else is not found); a guest cart is claimed by the caller.
pub async fn lock_cart_for_order(
    conn: &mut PgConnection,
    token: &str,
    caller: &Caller,
) -> ApiResult<CartForOrder> {
    let cart = match load_cart(conn, token, Access::Write, Some(caller.user_id())).await {
        Ok(cart) => cart,
        Err(CartError::Converted) => {
            return Ok(CartForOrder {
                converted: true,
                coupon_code: None,
            });
        }
        Err(e) => return Err(e.into()),
    };
    if carts::count_items(conn, cart.id).await? == 0 {
        return Err(ApiError::CartEmpty);
    }
    carts::claim(conn, cart.id, caller.user_id()).await?;
    Ok(CartForOrder {
        converted: false,
        coupon_code: cart.coupon_code,
    })
}

/// Prices the cart for `billing_address` exactly as the estimate does, except that a
/// coupon on the cart must still apply (strict): an order never silently loses the
/// discount the student saw.
pub async fn price_cart(
    conn: &mut PgConnection,
    token: &str,
    billing_address: &Value,
    settings: &Settings,
) -> ApiResult<PriceBreakdown> {
    let address: BillingAddressInput = serde_json::from_value(billing_address.clone())
        .map_err(|e| ApiError::Validation(vec![format!("billing_address: {e}")]))?;
    let cart = carts::load(conn, token, false)
        .await?
        .ok_or(ApiError::from(CartError::NotFound))?;
    let currency = parse_currency(&cart.currency)?;
    let items = carts::items(conn, cart.id).await?;
    let ctx =
        PricingContext::load(conn, &cart, &items, &settings.pricing, currency, Utc::now()).await?;
    let priced = ctx.price(Some(address.into()), CouponMode::Strict)?;
    Ok(priced.breakdown)
}

/// The price step's pricing: the frozen cart with the order's billing address.
pub async fn price_for_order(
    conn: &mut PgConnection,
    order: &Order,
    settings: &Settings,
) -> ApiResult<PriceBreakdown> {
    price_cart(conn, &order.cart_token, &order.billing_address, settings).await
}
