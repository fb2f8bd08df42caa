//! Writing coupon definitions: upsert and switching on or off, each with its ledger row.

use sqlx::PgConnection;

use super::{StoredCoupon, discount_columns, find};
use crate::domain::coupon::normalize_code;
use crate::store::ledger::{self, Entry, Kind};

/// Inserts or updates a coupon definition by code; the usage counters are kept. A new
/// or changed definition is a `coupon_changed` ledger row (before and after).
pub async fn upsert(conn: &mut PgConnection, c: &StoredCoupon) -> sqlx::Result<()> {
    let before = find(conn, &c.coupon.code).await?;
    let (kind, percent, fixed) = discount_columns(&c.coupon.kind);
    let limit = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    sqlx::query!(
        "insert into coupons (code, description, kind, percent, fixed_minor, min_subtotal,
             max_discount, valid_from, valid_until, global_limit, per_user_limit, program_ids,
             plan_ids, first_order_only, active, listed)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         on conflict (code) do update set description = excluded.description,
             kind = excluded.kind, percent = excluded.percent,
             fixed_minor = excluded.fixed_minor, min_subtotal = excluded.min_subtotal,
             max_discount = excluded.max_discount, valid_from = excluded.valid_from,
             valid_until = excluded.valid_until, global_limit = excluded.global_limit,
             per_user_limit = excluded.per_user_limit, program_ids = excluded.program_ids,
             plan_ids = excluded.plan_ids, first_order_only = excluded.first_order_only,
             active = excluded.active, listed = excluded.listed",
        normalize_code(&c.coupon.code),
        c.description,
        kind,
        percent,
        fixed,
        c.coupon.min_subtotal,
        c.coupon.max_discount,
        c.coupon.valid_from,
        c.coupon.valid_until,
        limit(c.coupon.global_limit),
        limit(c.coupon.per_user_limit),
        &c.coupon.program_ids,
        &c.coupon.plan_ids,
        c.coupon.first_order_only,
        c.coupon.active,
        c.listed,
    )
    .execute(&mut *conn)
    .await?;
    let definition = |s: &StoredCoupon| {
        let mut v = serde_json::to_value(&s.coupon).unwrap_or_default();
        v["description"] = s.description.clone().into();
        v["listed"] = s.listed.into();
        v
    };
    // compared as stored (rates and times in the database's precision), not as given
    let after = find(conn, &c.coupon.code).await?.as_ref().map(definition);
    let before = before.as_ref().map(definition);
    if let Some(after) = after.filter(|a| before.as_ref() != Some(a)) {
        let code = normalize_code(&c.coupon.code);
        let mut entry = Entry::about("coupon", code, Kind::CouponChanged).after(after);
        entry.before = before;
        ledger::append(conn, &entry).await?;
    }
    Ok(())
}

/// Switches a coupon on or off (a `coupon_changed` ledger row when it changes); false
/// when no coupon has this (normalised) code.
pub async fn set_active(conn: &mut PgConnection, code: &str, active: bool) -> sqlx::Result<bool> {
    let code = normalize_code(code);
    let was = sqlx::query_scalar!(
        "update coupons c set active = $2
           from (select code, active from coupons where code = $1) old
          where c.code = old.code
          returning old.active",
        code,
        active
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(was) = was else {
        return Ok(false);
    };
    if was != active {
        let entry = Entry::about("coupon", code, Kind::CouponChanged)
            .before(serde_json::json!({"active": was}))
            .after(serde_json::json!({"active": active}));
        ledger::append(conn, &entry).await?;
    }
    Ok(true)
}
