//! Coupons and their usage counters.
//!
//! Applying a coupon to a cart only reads; orders redeem with [`use_one`] and give a
//! redemption back with [`give_back`]. Each counter changes in one guarded `update`
//! (the rule of [`crate::domain::usage_allows_one_more`] in SQL), so a limit of 1 under
//! any number of concurrent redemptions is used exactly once.

mod define;
mod redeem;

pub use define::{set_active, upsert};
pub use redeem::{UseError, give_back, give_back_for_order, redeem_for_order, use_one};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::coupon::normalize_code;
use crate::domain::{Coupon, CouponInput, CouponUsage, DiscountKind};

/// A stored coupon: the domain definition plus what only the store knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCoupon {
    pub coupon: Coupon,
    pub description: String,
    pub listed: bool,
    pub used_count: u32,
}

struct Row {
    code: String,
    description: String,
    kind: String,
    percent: Option<Decimal>,
    fixed_minor: Option<i64>,
    min_subtotal: Option<i64>,
    max_discount: Option<i64>,
    valid_from: Option<DateTime<Utc>>,
    valid_until: Option<DateTime<Utc>>,
    global_limit: Option<i32>,
    per_user_limit: Option<i32>,
    program_ids: Vec<Uuid>,
    plan_ids: Vec<Uuid>,
    first_order_only: bool,
    active: bool,
    listed: bool,
    used_count: i32,
}

fn count(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Splits a discount into the (kind, percent, fixed_minor) columns.
pub fn discount_columns(kind: &DiscountKind) -> (&'static str, Option<Decimal>, Option<i64>) {
    match *kind {
        DiscountKind::Percent(p) => ("percent", Some(p), None),
        DiscountKind::Fixed(f) => ("fixed", None, Some(f)),
    }
}

/// The discount from its columns (the table's checks guarantee one is set).
pub fn discount_from_columns(
    kind: &str,
    percent: Option<Decimal>,
    fixed: Option<i64>,
) -> DiscountKind {
    match (kind, percent) {
        ("percent", Some(p)) => DiscountKind::Percent(p),
        _ => DiscountKind::Fixed(fixed.unwrap_or(0)),
    }
}

impl From<Row> for StoredCoupon {
    fn from(r: Row) -> Self {
        StoredCoupon {
            coupon: Coupon {
                code: r.code,
                kind: discount_from_columns(&r.kind, r.percent, r.fixed_minor),
                min_subtotal: r.min_subtotal,
                max_discount: r.max_discount,
                valid_from: r.valid_from,
                valid_until: r.valid_until,
                global_limit: r.global_limit.map(count),
                per_user_limit: r.per_user_limit.map(count),
                program_ids: r.program_ids,
                plan_ids: r.plan_ids,
                first_order_only: r.first_order_only,
                active: r.active,
            },
            description: r.description,
            listed: r.listed,
            used_count: count(r.used_count),
        }
    }
}

/// A coupon by code as typed (case and surrounding spaces ignored).
pub async fn find(conn: &mut PgConnection, code: &str) -> sqlx::Result<Option<StoredCoupon>> {
    let row = sqlx::query_as!(
        Row,
        "select code, description, kind, percent, fixed_minor, min_subtotal, max_discount,
                valid_from, valid_until, global_limit, per_user_limit, program_ids, plan_ids,
                first_order_only, active, listed, used_count
         from coupons where code = $1",
        normalize_code(code)
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

/// Listed coupons that are active and inside their window at `now`.
pub async fn listed_now(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> sqlx::Result<Vec<StoredCoupon>> {
    let rows = sqlx::query_as!(
        Row,
        "select code, description, kind, percent, fixed_minor, min_subtotal, max_discount,
                valid_from, valid_until, global_limit, per_user_limit, program_ids, plan_ids,
                first_order_only, active, listed, used_count
         from coupons
         where listed and active and (valid_from is null or valid_from <= $1)
             and (valid_until is null or valid_until > $1)
         order by code",
        now
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn all(conn: &mut PgConnection) -> sqlx::Result<Vec<StoredCoupon>> {
    let rows = sqlx::query_as!(
        Row,
        "select code, description, kind, percent, fixed_minor, min_subtotal, max_discount,
                valid_from, valid_until, global_limit, per_user_limit, program_ids, plan_ids,
                first_order_only, active, listed, used_count
         from coupons order by code"
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// A coupon by code as typed, with the counters pricing checks it against for `user`
/// (see [`usage`]): what pricing takes, in one round trip.
pub async fn find_input(
    conn: &mut PgConnection,
    code: &str,
    user: Option<Uuid>,
) -> sqlx::Result<Option<CouponInput>> {
    let found = sqlx::query!(
        "select code, description, kind, percent, fixed_minor, min_subtotal, max_discount,
                valid_from, valid_until, global_limit, per_user_limit, program_ids, plan_ids,
                first_order_only, active, listed, used_count,
                (select u.used_count from coupon_user_uses u
                 where u.code = coupons.code and u.user_id = $2) as user_used
         from coupons where code = $1",
        normalize_code(code),
        user
    )
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|f| {
        let stored = StoredCoupon::from(Row {
            code: f.code,
            description: f.description,
            kind: f.kind,
            percent: f.percent,
            fixed_minor: f.fixed_minor,
            min_subtotal: f.min_subtotal,
            max_discount: f.max_discount,
            valid_from: f.valid_from,
            valid_until: f.valid_until,
            global_limit: f.global_limit,
            per_user_limit: f.per_user_limit,
            program_ids: f.program_ids,
            plan_ids: f.plan_ids,
            first_order_only: f.first_order_only,
            active: f.active,
            listed: f.listed,
            used_count: f.used_count,
        });
        CouponInput {
            usage: usage_of(&stored, user, f.user_used),
            coupon: stored.coupon,
        }
    }))
}

/// The counters pricing needs. A guest (`user` None) has no per-user figures, so
/// coupons limited per user or to first orders ask the student to log in.
/// `user_has_prior_orders` is `Some(false)` for a user until orders exist (a later
/// change reads it from the orders table).
pub async fn usage(
    conn: &mut PgConnection,
    stored: &StoredCoupon,
    user: Option<Uuid>,
) -> sqlx::Result<CouponUsage> {
    let user_used = match user {
        Some(user) => {
            sqlx::query_scalar!(
                "select used_count from coupon_user_uses where code = $1 and user_id = $2",
                stored.coupon.code,
                user
            )
            .fetch_optional(&mut *conn)
            .await?
        }
        None => None,
    };
    Ok(usage_of(stored, user, user_used))
}

/// [`usage`] from the user's stored counter (`None`: no row, never used).
fn usage_of(stored: &StoredCoupon, user: Option<Uuid>, user_used: Option<i32>) -> CouponUsage {
    CouponUsage {
        global_used: stored.used_count,
        user_used: user.map(|_| count(user_used.unwrap_or(0))),
        user_has_prior_orders: user.map(|_| false),
    }
}
