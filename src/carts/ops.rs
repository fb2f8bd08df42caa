//! Cart operations, one per endpoint. Writes run in one transaction holding the cart
//! row lock (see the module doc of `carts`): `locked` and `write` are that skeleton,
//! so each write below states only its change.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::input::{ApplyCoupon, CreateCart, EstimateRequest, ItemInput};
use super::pricing::{CouponMode, PricingContext, parse_currency};
use super::view::{CartView, Estimate, cart_view};
use super::{Access, CartError, load_cart, new_token};
use crate::config::Settings;
use crate::domain::coupon::normalize_code;
use crate::domain::{BillingAddress, CouponRefusal, SaleRefusal};
use crate::store::carts::{self, CartRow, ItemRow, NewCart};
use crate::store::{catalog, coupons, sales};

/// `POST /cart`: validates everything, then creates the cart with its items in one
/// transaction, so a bad item, sale or currency leaves no cart behind. A cart created
/// with a valid bearer token belongs to that user (`owner`) from the start.
pub async fn create(
    pool: &PgPool,
    settings: &Settings,
    req: CreateCart,
    owner: Option<Uuid>,
) -> Result<CartView, CartError> {
    let now = Utc::now();
    let currency = match &req.currency {
        Some(code) => parse_currency(code)?,
        None => settings
            .pricing
            .default_currency()
            .map_err(|e| anyhow::anyhow!("pricing.default_currency: {e}"))?,
    };
    check_device_id(req.device_id.as_deref())?;
    let mut tx = crate::store::begin(pool).await?;
    let sale_id = match &req.sale_slug {
        Some(slug) => {
            let stored =
                sales::find_by_slug(&mut tx, slug)
                    .await?
                    .ok_or_else(|| SaleRefusal::Unknown {
                        slug: slug.trim().to_owned(),
                    })?;
            stored.sale.check_running(now)?;
            Some(stored.id)
        }
        None => None,
    };
    let token = new_token();
    let cart = carts::create(
        &mut tx,
        &NewCart {
            token: &token,
            currency: currency.code(),
            sale_id,
            device_id: req.device_id.as_deref(),
            user_id: owner,
            expires_at: now + settings.cart.ttl(),
        },
    )
    .await?;
    append_analytics(&mut tx, &cart, settings, req.analytics.as_ref(), now).await?;
    let done = if req.items.is_empty() {
        // a new cart without items: nothing to read back
        let ctx =
            PricingContext::load(&mut tx, &cart, &[], &settings.pricing, currency, now).await?;
        Done::Priced(Vec::new(), Box::new(ctx))
    } else {
        add(&mut tx, &cart, settings, &req.items).await?;
        Done::ItemsAdded
    };
    let view = finish(&mut tx, cart, done, settings, now).await?;
    tx.commit().await?;
    metrics::counter!("carts_created_total").increment(1);
    Ok(view)
}

/// `GET /cart/{token}`: the cart priced now.
pub async fn get(
    pool: &PgPool,
    settings: &Settings,
    token: &str,
    viewer: Option<Uuid>,
) -> Result<CartView, CartError> {
    let mut conn = crate::store::acquire(pool).await?;
    let cart = load_cart(&mut conn, token, Access::Read, viewer).await?;
    let items = carts::items(&mut conn, cart.id).await?;
    let currency = parse_currency(&cart.currency)?;
    let ctx = PricingContext::load(
        &mut conn,
        &cart,
        &items,
        &settings.pricing,
        currency,
        Utc::now(),
    )
    .await?;
    let priced = ctx.price(None, CouponMode::Lenient)?;
    let sale_slug = ctx.sale.as_ref().map(|s| s.slug.clone());
    Ok(cart_view(cart, &items, sale_slug, priced))
}

/// `POST /cart/{token}/items`.
pub async fn add_item(
    pool: &PgPool,
    settings: &Settings,
    token: &str,
    item: ItemInput,
    viewer: Option<Uuid>,
) -> Result<CartView, CartError> {
    write(pool, settings, token, viewer, async |tx, cart, now| {
        append_analytics(tx, cart, settings, item.analytics.as_ref(), now).await?;
        add(tx, cart, settings, std::slice::from_ref(&item)).await?;
        Ok(Done::ItemsAdded)
    })
    .await
}

/// `PUT /cart/{token}/plan/{plan_id}`: moves the item of that plan's program to it.
pub async fn switch_plan(
    pool: &PgPool,
    settings: &Settings,
    token: &str,
    plan_id: Uuid,
    viewer: Option<Uuid>,
) -> Result<CartView, CartError> {
    write(pool, settings, token, viewer, async |tx, cart, _| {
        let plan = catalog::find_plan(tx, plan_id)
            .await?
            .ok_or_else(|| CartError::PlanNotFound(plan_id.to_string()))?;
        let program = catalog::find_program(tx, &plan.program_id.to_string())
            .await?
            .ok_or_else(|| CartError::ProgramNotFound(plan.program_id.to_string()))?;
        if !program.is_active() {
            return Err(CartError::ProgramArchived(program.slug));
        }
        let quantity = carts::switch_plan(tx, cart.id, program.id, plan.id)
            .await?
            .ok_or_else(|| CartError::ItemNotFound(format!("for internship {}", program.slug)))?;
        check_quantity(i64::from(quantity), settings)?;
        Ok(Done::Changed)
    })
    .await
}

/// `DELETE /cart/{token}/item/{item_id}`.
pub async fn remove_item(
    pool: &PgPool,
    settings: &Settings,
    token: &str,
    item_id: Uuid,
    viewer: Option<Uuid>,
) -> Result<CartView, CartError> {
    write(pool, settings, token, viewer, async |tx, cart, _| {
        if !carts::remove_item(tx, cart.id, item_id).await? {
            return Err(CartError::ItemNotFound(item_id.to_string()));
        }
        Ok(Done::Changed)
    })
    .await
}

/// `POST /cart/{token}/coupon`: checks the coupon against the cart now (every refusal
/// is an error with its own code) and records it. It is not redeemed: orders do that.
/// One coupon per cart: another code must be removed first (2040); the same code again
/// is accepted.
pub async fn apply_coupon(
    pool: &PgPool,
    settings: &Settings,
    token: &str,
    req: ApplyCoupon,
    viewer: Option<Uuid>,
) -> Result<CartView, CartError> {
    write(pool, settings, token, viewer, async |tx, cart, now| {
        let input = coupons::find_input(tx, &req.code, cart.user_id)
            .await?
            .ok_or_else(|| CouponRefusal::NotFound {
                code: normalize_code(&req.code),
            })?;
        if let Some(applied) = &cart.coupon_code
            && *applied != input.coupon.code
        {
            return Err(CouponRefusal::OneCouponPerCart {
                applied: applied.clone(),
            }
            .into());
        }
        let items = carts::items(tx, cart.id).await?;
        let currency = parse_currency(&cart.currency)?;
        let code = input.coupon.code.clone();
        let ctx = PricingContext::load(tx, cart, &items, &settings.pricing, currency, now)
            .await?
            .with_coupon(Some(input));
        ctx.price(None, CouponMode::Strict)?;
        carts::set_coupon(tx, cart.id, Some(&code)).await?;
        cart.coupon_code = Some(code);
        // the items and the context with this coupon are what `finish_write` would read again
        Ok(Done::Priced(items, Box::new(ctx)))
    })
    .await
}

/// `DELETE /cart/{token}/coupon`: idempotent.
pub async fn remove_coupon(
    pool: &PgPool,
    settings: &Settings,
    token: &str,
    viewer: Option<Uuid>,
) -> Result<CartView, CartError> {
    write(pool, settings, token, viewer, async |tx, cart, _| {
        carts::set_coupon(tx, cart.id, None).await?;
        cart.coupon_code = None;
        Ok(Done::Changed)
    })
    .await
}

/// `POST /cart/estimate`: the full breakdown for a billing address, optionally in
/// another currency. Reads only.
pub async fn estimate(
    pool: &PgPool,
    settings: &Settings,
    req: EstimateRequest,
    viewer: Option<Uuid>,
) -> Result<Estimate, CartError> {
    let address = BillingAddress::try_from(req.billing_address)?;
    let mut conn = crate::store::acquire(pool).await?;
    let cart = load_cart(&mut conn, &req.cart_token, Access::Read, viewer).await?;
    let currency = parse_currency(req.currency.as_deref().unwrap_or(&cart.currency))?;
    let items = carts::items(&mut conn, cart.id).await?;
    let ctx = PricingContext::load(
        &mut conn,
        &cart,
        &items,
        &settings.pricing,
        currency,
        Utc::now(),
    )
    .await?;
    let priced = ctx.price(Some(address), CouponMode::Lenient)?;
    Ok(Estimate {
        cart_token: cart.token,
        status: cart.status,
        currency: currency.code().to_owned(),
        payment_required: crate::domain::order::payment_required(priced.breakdown.totals.total),
        pricing: priced.breakdown,
        notices: priced.notices,
    })
}

/// Adds items to a locked cart, enforcing the quantity limit. The item-count limit is
/// checked on the view the write ends with ([`check_item_count`]), which reads the
/// items anyway.
pub(super) async fn add(
    conn: &mut PgConnection,
    cart: &CartRow,
    settings: &Settings,
    items: &[ItemInput],
) -> Result<(), CartError> {
    for item in items {
        check_quantity(item.quantity, settings)?;
        let (program_id, plan_id, cohort_id) = resolve(conn, item).await?;
        let quantity = i32::try_from(item.quantity).unwrap_or(i32::MAX);
        let total =
            carts::add_item(conn, cart.id, program_id, plan_id, cohort_id, quantity).await?;
        check_quantity(i64::from(total), settings)?;
    }
    Ok(())
}

/// After adding: refuses a cart with more items than allowed (the caller's transaction
/// is then dropped, so nothing was added). Not checked on other writes: removing from a
/// cart left over the limit by a lowered setting must still work.
pub(super) fn check_item_count(view: &CartView, settings: &Settings) -> Result<(), CartError> {
    let max = settings.cart.max_items;
    if view.items.len() > max as usize {
        return Err(CartError::TooManyItems { max });
    }
    Ok(())
}

fn check_quantity(quantity: i64, settings: &Settings) -> Result<(), CartError> {
    let max = settings.cart.max_quantity;
    if quantity < 1 || quantity > i64::from(max) {
        return Err(CartError::InvalidQuantity { quantity, max });
    }
    Ok(())
}

fn check_device_id(device_id: Option<&str>) -> Result<(), CartError> {
    if device_id.is_some_and(|d| d.chars().count() > 255) {
        return Err(CartError::Invalid(vec![
            "device_id: at most 255 characters".into(),
        ]));
    }
    Ok(())
}

/// Program, plan and cohort of an item, from the catalog.
async fn resolve(
    conn: &mut PgConnection,
    item: &ItemInput,
) -> Result<(Uuid, Uuid, Option<Uuid>), CartError> {
    let program = catalog::find_program(conn, &item.internship_id)
        .await?
        .ok_or_else(|| CartError::ProgramNotFound(item.internship_id.clone()))?;
    if !program.is_active() {
        return Err(CartError::ProgramArchived(program.slug));
    }
    let plan = match (item.plan_id, item.period) {
        (Some(id), None) => catalog::find_plan(conn, id)
            .await?
            .filter(|p| p.program_id == program.id)
            .ok_or_else(|| CartError::PlanNotFound(id.to_string()))?,
        (None, Some(period)) => catalog::find_plan_by_period(conn, program.id, period)
            .await?
            .ok_or_else(|| CartError::PlanNotFound(format!("{period} of {}", program.slug)))?,
        _ => {
            return Err(CartError::Invalid(vec![
                "items: give either plan_id or period".into(),
            ]));
        }
    };
    let cohort_id = match item.cohort_id {
        Some(id) => Some(
            catalog::find_cohort(conn, id)
                .await?
                .filter(|c| c.program_id == program.id)
                .ok_or_else(|| CartError::CohortNotFound(id.to_string()))?
                .id,
        ),
        None => None,
    };
    Ok((program.id, plan.id, cohort_id))
}

/// Appends the request's analytics event(s), stamped with the time received.
async fn append_analytics(
    conn: &mut PgConnection,
    cart: &CartRow,
    settings: &Settings,
    analytics: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<(), CartError> {
    let events: Vec<Value> = match analytics {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(events)) => events.clone(),
        Some(event) => vec![event.clone()],
    };
    let stamped: Vec<Value> = events
        .into_iter()
        .map(|data| json!({"received_at": now, "data": data}))
        .collect();
    carts::append_analytics(conn, cart.id, &stamped, settings.cart.max_analytics_events).await?;
    Ok(())
}

/// One transaction holding the cart's row lock: begins, loads the cart for a write
/// ([`load_cart`], which locks the row and refuses carts that may not change), runs
/// `change`, commits. Writes to an existing cart go through here, so the lock is taken
/// before anything else and held to the commit.
pub(super) async fn locked<T>(
    pool: &PgPool,
    token: &str,
    viewer: Option<Uuid>,
    change: impl AsyncFnOnce(&mut PgConnection, CartRow) -> Result<T, CartError>,
) -> Result<T, CartError> {
    let mut tx = crate::store::begin(pool).await?;
    let cart = load_cart(&mut tx, token, Access::Write, viewer).await?;
    let out = change(&mut tx, cart).await?;
    tx.commit().await?;
    Ok(out)
}

/// What a write's change leaves for [`finish`].
enum Done {
    /// The items or the coupon changed: read them again and price the cart.
    Changed,
    /// As `Changed`, then refuse a cart with too many items ([`check_item_count`]).
    ItemsAdded,
    /// The change already holds the items and the pricing context as they are now.
    Priced(Vec<ItemRow>, Box<PricingContext>),
}

/// [`locked`] for an endpoint that answers with the cart: `change` gets the cart and
/// the time of the request, and the write ends in [`finish`].
async fn write<F>(
    pool: &PgPool,
    settings: &Settings,
    token: &str,
    viewer: Option<Uuid>,
    change: F,
) -> Result<CartView, CartError>
where
    F: AsyncFnOnce(&mut PgConnection, &mut CartRow, DateTime<Utc>) -> Result<Done, CartError>,
{
    let now = Utc::now();
    locked(pool, token, viewer, async |tx, mut cart| {
        let done = change(tx, &mut cart, now).await?;
        finish(tx, cart, done, settings, now).await
    })
    .await
}

/// Ends a write as its change asks (see [`Done`]).
async fn finish(
    conn: &mut PgConnection,
    cart: CartRow,
    done: Done,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<CartView, CartError> {
    match done {
        Done::Changed => finish_write(conn, cart, settings, now).await,
        Done::ItemsAdded => {
            let view = finish_write(conn, cart, settings, now).await?;
            check_item_count(&view, settings)?;
            Ok(view)
        }
        Done::Priced(items, ctx) => finish_priced(conn, cart, items, &ctx, settings, now).await,
    }
}

/// Ends every write: prices the cart from the catalog (a coupon that stopped applying
/// is kept on the cart and reported in `notices`), stores status, pricing, a renewed
/// expiry and the next version, and returns the view.
pub async fn finish_write(
    conn: &mut PgConnection,
    cart: CartRow,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<CartView, CartError> {
    let items = carts::items(conn, cart.id).await?;
    let currency = parse_currency(&cart.currency)?;
    let ctx = PricingContext::load(conn, &cart, &items, &settings.pricing, currency, now).await?;
    finish_priced(conn, cart, items, &ctx, settings, now).await
}

/// [`finish_write`] for a caller that holds the cart's items and pricing context as
/// they are after its change (so neither is read again).
async fn finish_priced(
    conn: &mut PgConnection,
    cart: CartRow,
    items: Vec<ItemRow>,
    ctx: &PricingContext,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<CartView, CartError> {
    let priced = ctx.price(None, CouponMode::Lenient)?;
    let status = if items.is_empty() { "draft" } else { "active" };
    let pricing = serde_json::to_value(&priced.breakdown).map_err(anyhow::Error::from)?;
    let saved = carts::save(conn, cart.id, status, &pricing, now + settings.cart.ttl()).await?;
    let sale_slug = ctx.sale.as_ref().map(|s| s.slug.clone());
    Ok(cart_view(saved, &items, sale_slug, priced))
}
