//! Where the checkout meets the cart: claiming and freezing the cart for an order, and
//! pricing it with the same function and catalog the estimate uses.

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{FlowError, FlowResult};
use crate::carts::pricing::{CouponMode, PricingContext, parse_currency};
use crate::carts::{Access, CartError, load_cart};
use crate::config::Settings;
use crate::domain::{BillingAddress, PriceBreakdown};
use crate::store::carts::{self, CartRow};
use crate::store::orders::Order;

/// Locks the caller's cart for order creation; `None` when it was checked out already
/// (its order is returned instead). Ownership is `load_cart`'s rule (a cart bound to
/// someone else is not found). A guest cart is priced as the caller's from here on and
/// becomes theirs when the order freezes it (`carts::freeze`, same transaction).
pub async fn lock_cart_for_order(
    conn: &mut PgConnection,
    token: &str,
    user_id: Uuid,
) -> FlowResult<Option<CartRow>> {
    match load_cart(conn, token, Access::Write, Some(user_id)).await {
        Ok(mut cart) => {
            cart.user_id = Some(user_id);
            Ok(Some(cart))
        }
        Err(CartError::Converted) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Prices `cart` for `billing_address` exactly as the estimate does, except that a
/// coupon on the cart must still apply (strict): an order never silently loses the
/// discount the student saw. An empty cart is refused.
pub async fn price_cart(
    conn: &mut PgConnection,
    cart: &CartRow,
    billing_address: &BillingAddress,
    settings: &Settings,
) -> FlowResult<PriceBreakdown> {
    let items = carts::items(conn, cart.id).await?;
    if items.is_empty() {
        return Err(FlowError::CartEmpty);
    }
    let currency = parse_currency(&cart.currency)?;
    let ctx =
        PricingContext::load(conn, cart, &items, &settings.pricing, currency, Utc::now()).await?;
    let priced = ctx.price(Some(billing_address.clone()), CouponMode::Strict)?;
    Ok(priced.breakdown)
}

/// The price step's pricing: the frozen cart with the order's billing address.
pub async fn price_for_order(
    conn: &mut PgConnection,
    order: &Order,
    settings: &Settings,
) -> FlowResult<PriceBreakdown> {
    let cart = carts::load(conn, &order.cart_token, false)
        .await?
        .ok_or(FlowError::Cart(CartError::NotFound))?;
    price_cart(conn, &cart, &order.billing_address.0, settings).await
}
