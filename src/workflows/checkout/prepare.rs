//! `price` and `reserve`: freeze what the student pays, then hold what they buy.

use chrono::Utc;
use uuid::Uuid;

use super::runner::{Failure, Outcome, StepResult, begin};
use crate::domain::codes::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::store::outbox::Event;
use crate::store::{carts, coupons, holds, orders};
use crate::workflows::jobs::JobContext;

/// Freezes the immutable price snapshot (lines, tax, discounts, FX rate) from the cart
/// as it is now, priced by the same function as the estimate the student saw.
pub async fn price(ctx: &JobContext, order_id: Uuid) -> StepResult<'static> {
    let Some((mut tx, order)) = begin(ctx, order_id, Step::Price).await? else {
        return skip(ctx).await;
    };
    if order.price_snapshot.is_some() {
        return Ok((tx, Outcome::Next(None)));
    }
    let breakdown =
        match crate::workflows::cart_pricing::price_for_order(&mut tx, &order, &ctx.settings).await
        {
            Ok(b) => b,
            Err(refusal) => {
                return Ok((
                    tx,
                    Outcome::Fail(Failure::new(
                        OrderStatus::Failed,
                        refusal.code().as_u32(),
                        refusal.to_string(),
                    )),
                ));
            }
        };
    orders::freeze_price(&mut tx, order_id, &breakdown).await?;
    let priced = Event::new(
        "order.priced",
        serde_json::json!({"currency": breakdown.currency.code(), "total": breakdown.totals.total}),
    );
    Ok((tx, Outcome::Next(Some(priced))))
}

/// Holds one seat per program in the cohort the student picked (else the earliest
/// upcoming one with a free seat) and uses the coupon. All in one transaction: when
/// any seat or the coupon cannot be had, the step rolls back and the order fails, so
/// nothing stays held.
pub async fn reserve(ctx: &JobContext, order_id: Uuid) -> StepResult<'static> {
    let Some((mut tx, order)) = begin(ctx, order_id, Step::Reserve).await? else {
        return skip(ctx).await;
    };
    let expires_at = Utc::now()
        + chrono::Duration::seconds(
            (ctx.settings.checkout.session_ttl_secs + ctx.settings.checkout.hold_grace_secs) as i64,
        );
    let wanted = carts::programs(&mut tx, &order.cart_token).await?;
    // The coupon before the seats: both are rows every checkout of a popular coupon or
    // cohort updates and keeps locked until the commit, and the cohort's is the hotter
    // (its seat is held here and converted at `enroll`), so it is taken last.
    if let Some(code) = &order.coupon_code {
        match coupons::redeem_for_order(&mut tx, order_id, code, order.user_id).await {
            Ok(()) => {}
            Err(coupons::UseError::Refused(refusal)) => {
                return Ok((
                    tx,
                    Outcome::Fail(Failure::new(
                        OrderStatus::Failed,
                        ErrorCode::CouponUnavailable.as_u32(),
                        format!("coupon {code} can no longer be used: {refusal}"),
                    )),
                ));
            }
            Err(coupons::UseError::Database(e)) => return Err(e.into()),
        }
    }
    for (program_id, title, cohort) in wanted {
        let cohort = match cohort {
            Some(c) => Some(c),
            None => holds::pick_cohort(&mut tx, program_id).await?,
        };
        let held = match cohort {
            Some(c) => holds::hold(&mut tx, order_id, c, program_id, expires_at).await?,
            None => false,
        };
        if !held {
            return Ok((
                tx,
                Outcome::Fail(Failure::new(
                    OrderStatus::Failed,
                    ErrorCode::CohortFull.as_u32(),
                    format!("no seats left in {title}"),
                )),
            ));
        }
    }
    // written with the timeline line, after the seat and coupon counters: nothing
    // between their updates and the commit but that statement and the next step's job
    let reserved = Event::new(
        "order.reserved",
        serde_json::json!({"hold_expires_at": expires_at}),
    );
    Ok((tx, Outcome::Next(Some(reserved))))
}

/// A no-op outcome for a stale job, with a transaction the runner can commit.
pub async fn skip(ctx: &JobContext) -> StepResult<'static> {
    Ok((crate::store::begin(&ctx.pool).await?, Outcome::Skip))
}
