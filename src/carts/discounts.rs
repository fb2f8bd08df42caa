//! `GET /cart/{token}/discounts`: the cart's sale and the coupons that would apply
//! now (listed ones, plus the one on the cart whether or not it applies), each with
//! what it saves on this cart, in the cart's currency. The cart, its coupon and the
//! student's own use of each coupon are read on the primary; the list of listed coupons
//! through the [`Reader`] (the replica while it is healthy): an offer a second stale is
//! re-checked on the primary when the coupon is applied and when the order is priced.

use chrono::Utc;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;

use super::pricing::{CouponMode, Notice, PricingContext, coupon_input, parse_currency};
use super::{Access, CartError, load_cart};
use crate::config::Settings;
use crate::store::{Reader, carts, coupons};

#[derive(Debug, Serialize, ToSchema)]
pub struct SaleOffer {
    pub slug: String,
    pub applies: bool,
    /// Minor units of the cart's currency.
    pub saves: i64,
    pub refusal: Option<Notice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CouponOffer {
    pub code: String,
    pub description: String,
    pub listed: bool,
    /// Whether it is the cart's coupon.
    pub applied: bool,
    pub applies: bool,
    /// Minor units of the cart's currency, on top of the sale.
    pub saves: i64,
    pub refusal: Option<Notice>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Discounts {
    pub currency: String,
    pub sale: Option<SaleOffer>,
    pub coupons: Vec<CouponOffer>,
}

pub async fn available(
    pool: &PgPool,
    reader: &Reader,
    settings: &Settings,
    token: &str,
    viewer: Option<uuid::Uuid>,
) -> Result<Discounts, CartError> {
    let now = Utc::now();
    // before taking a primary connection: a bypassed replica sends this read to the
    // primary too, and one request must not hold two of its connections at once
    let listed = reader
        .read(|conn| Box::pin(coupons::listed_now(conn, now)))
        .await?;
    let mut conn = pool.acquire().await?;
    let cart = load_cart(&mut conn, token, Access::Read, viewer).await?;
    let items = carts::items(&mut conn, cart.id).await?;
    let currency = parse_currency(&cart.currency)?;
    let ctx = PricingContext::load(&mut conn, &cart, &items, &settings.pricing, currency, now)
        .await?
        .with_coupon(None);

    let sale = match &ctx.sale {
        Some(sale) => {
            let priced = ctx.price(None, CouponMode::Strict)?;
            let refusal = priced.notices.into_iter().find(|n| n.subject == "sale");
            Some(SaleOffer {
                slug: sale.slug.clone(),
                applies: refusal.is_none(),
                saves: priced.breakdown.totals.sale_discount,
                refusal,
            })
        }
        None => None,
    };

    let mut candidates = listed;
    if let Some(code) = &cart.coupon_code
        && !candidates.iter().any(|c| &c.coupon.code == code)
        && let Some(stored) = coupons::find(&mut conn, code).await?
    {
        candidates.push(stored);
    }
    let mut offers = Vec::new();
    for stored in candidates {
        let applied = cart.coupon_code.as_deref() == Some(stored.coupon.code.as_str());
        let input = coupon_input(&mut conn, &stored, cart.user_id).await?;
        let (saves, refusal) = match ctx.with_coupon(Some(input)).price(None, CouponMode::Strict) {
            Ok(priced) => (priced.breakdown.totals.coupon_discount, None),
            Err(CartError::Coupon(r)) => (
                0,
                Some(Notice {
                    subject: "coupon",
                    code: stored.coupon.code.clone(),
                    reason: r.reason(),
                    message: r.to_string(),
                }),
            ),
            Err(e) => return Err(e),
        };
        if refusal.is_none() || applied {
            offers.push(CouponOffer {
                code: stored.coupon.code,
                description: stored.description,
                listed: stored.listed,
                applied,
                applies: refusal.is_none(),
                saves,
                refusal,
            });
        }
    }
    Ok(Discounts {
        currency: currency.code().to_owned(),
        sale,
        coupons: offers,
    })
}
