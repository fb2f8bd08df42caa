//! Cart-level authentication: "who am I to this cart" and "log in and take this cart".
//!
//! Logging in to a cart (`POST /cart/{token}/auth/login`) checks the credentials (with
//! the login limits), then in one transaction binds the cart to the student and, if the
//! student already has open carts, merges them into it by the rule of
//! [`crate::domain::cart_merge`]: the cart in hand survives (its token keeps working),
//! the others are closed as `merged`. A cart the student already owns is left as it is.
//! Two logins of one student to two different guest carts at the same moment can leave
//! two open carts (each transaction only sees carts bound before it started).

use chrono::Utc;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::pricing::{CouponMode, PricingContext, parse_currency};
use super::view::CartView;
use super::{Access, CartError, load_cart, ops};
use crate::auth::login::{Credentials, open_session, verify_credentials};
use crate::auth::{Auth, AuthError, Issued};
use crate::config::Settings;
use crate::domain::cart_merge::{MergeLine, MergeSide, merge};
use crate::store::carts::{self, CartRow};
use crate::store::users::User;
use crate::store::{cart_binding, coupons};

/// Either half can fail: the credentials or the cart.
#[derive(Debug, thiserror::Error)]
pub enum CartLoginError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Cart(#[from] CartError),
}

impl From<sqlx::Error> for CartLoginError {
    fn from(e: sqlx::Error) -> Self {
        CartLoginError::Cart(CartError::Database(e))
    }
}

/// What `POST /cart/{token}/auth/check` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartAuthCheck {
    /// A valid bearer token came with the request.
    pub authenticated: bool,
    /// The cart is bound to the caller.
    pub owns_cart: bool,
    /// The cart is bound to nobody yet (logging in will bind it).
    pub guest_cart: bool,
    pub user_id: Option<Uuid>,
}

/// A cart bound to someone else is 1001, like an unknown token.
pub async fn check(
    pool: &PgPool,
    token: &str,
    viewer: Option<Uuid>,
) -> Result<CartAuthCheck, CartError> {
    let mut conn = pool.acquire().await?;
    let cart = load_cart(&mut conn, token, Access::Read, viewer).await?;
    Ok(CartAuthCheck {
        authenticated: viewer.is_some(),
        owns_cart: viewer.is_some() && cart.user_id == viewer,
        guest_cart: cart.user_id.is_none(),
        user_id: viewer,
    })
}

pub struct CartLogin {
    pub user: User,
    pub issued: Issued,
    pub cart: CartView,
    /// How many of the student's other carts were merged into this one.
    pub merged_carts: usize,
}

pub async fn login(
    pool: &PgPool,
    settings: &Settings,
    auth: &Auth,
    token: &str,
    credentials: Credentials,
) -> Result<CartLogin, CartLoginError> {
    let user = verify_credentials(
        auth,
        pool,
        &credentials.email,
        credentials.password,
        credentials.address,
    )
    .await?;
    let device_id = credentials
        .device_id
        .map(|d| crate::domain::account::parse_device_id(&d))
        .transpose()
        .map_err(|e| AuthError::Invalid(vec![e]))?;
    let now = Utc::now();
    let (session_device, merged_carts) =
        ops::locked(pool, token, Some(user.id), async |tx, mut cart| {
            let session_device = device_id.or_else(|| cart.device_id.clone());
            if cart.user_id.is_some() {
                return Ok((session_device, 0));
            }
            let others = cart_binding::open_carts_of(tx, user.id, cart.id).await?;
            if !others.is_empty() {
                cart.coupon_code = merge_into(tx, &cart, &others, user.id, settings).await?;
            }
            cart_binding::set_owner(tx, cart.id, user.id).await?;
            cart.user_id = Some(user.id);
            ops::finish_write(tx, cart, settings, now).await?;
            let merged_carts = others.len();
            tracing::info!(user_id = %user.id, merged_carts, "cart bound at login");
            Ok((session_device, merged_carts))
        })
        .await?;
    let issued = open_session(auth, pool, &user, session_device.as_deref()).await?;
    let cart = ops::get(pool, settings, token, Some(user.id)).await?;
    Ok(CartLogin {
        user,
        issued,
        cart,
        merged_carts,
    })
}

/// Folds `others` (newest first) into `cart`, rewrites its items, closes the others
/// and returns the coupon the merged cart keeps (re-validated; dropped if refused).
async fn merge_into(
    tx: &mut PgConnection,
    cart: &CartRow,
    others: &[CartRow],
    user_id: Uuid,
    settings: &Settings,
) -> Result<Option<String>, CartError> {
    let mut merged = side(tx, cart).await?;
    for other in others {
        let result = merge(&merged, &side(tx, other).await?);
        merged.lines = result.lines;
        merged.coupon_code = result.coupon_code;
        cart_binding::mark_merged(tx, other.id, cart.id).await?;
    }
    cart_binding::replace_items(tx, cart.id, &merged.lines).await?;
    let coupon = match merged.coupon_code {
        Some(code) if coupon_applies(tx, cart, &code, user_id, settings).await? => Some(code),
        _ => None,
    };
    carts::set_coupon(tx, cart.id, coupon.as_deref()).await?;
    Ok(coupon)
}

async fn side(tx: &mut PgConnection, cart: &CartRow) -> Result<MergeSide, CartError> {
    let lines = carts::items(tx, cart.id)
        .await?
        .into_iter()
        .map(|i| MergeLine {
            program_id: i.program_id,
            plan_id: i.plan_id,
            cohort_id: i.cohort_id,
            quantity: i.quantity,
        })
        .collect();
    Ok(MergeSide {
        lines,
        updated_at: cart.updated_at,
        coupon_code: cart.coupon_code.clone(),
    })
}

/// Whether `code` still applies to the (already rewritten) cart for this student,
/// judged as strictly as applying it anew.
async fn coupon_applies(
    tx: &mut PgConnection,
    cart: &CartRow,
    code: &str,
    user_id: Uuid,
    settings: &Settings,
) -> Result<bool, CartError> {
    let Some(input) = coupons::find_input(tx, code, Some(user_id)).await? else {
        return Ok(false);
    };
    let items = carts::items(tx, cart.id).await?;
    let currency = parse_currency(&cart.currency)?;
    let ctx =
        PricingContext::load(tx, cart, &items, &settings.pricing, currency, Utc::now()).await?;
    match ctx.with_coupon(Some(input)).price(None, CouponMode::Strict) {
        Ok(_) => Ok(true),
        Err(CartError::Coupon(_)) => Ok(false),
        Err(other) => Err(other),
    }
}
