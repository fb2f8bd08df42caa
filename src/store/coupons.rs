//! Coupons and their usage counters.
//!
//! Applying a coupon to a cart only reads; orders redeem with [`use_one`] and give a
//! redemption back with [`give_back`]. Each counter changes in one guarded `update`
//! (the rule of [`crate::domain::usage_allows_one_more`] in SQL), so a limit of 1 under
//! any number of concurrent redemptions is used exactly once.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::ledger::{self, Entry, Kind};
use crate::domain::coupon::normalize_code;
use crate::domain::{Coupon, CouponInput, CouponRefusal, CouponUsage, DiscountKind};

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

/// Redeems one use of `code` (for `user` when given): the user's counter, then the
/// global one, each in one guarded statement. Run it in the order's transaction. The
/// global counter comes last because every checkout with the code updates that one row,
/// which then stays locked until the commit: the less runs after it, the shorter the
/// queue on a popular coupon. When the global limit refuses, the user's use just taken
/// is given back before returning, so a refusal leaves both counters as they were even
/// if the caller commits.
pub async fn use_one(
    conn: &mut PgConnection,
    code: &str,
    user: Option<Uuid>,
) -> Result<(), UseError> {
    let code = normalize_code(code);
    if let Some(user) = user {
        // Insert the first use, or add one while below the limit; a zero limit never
        // inserts. No row back = the user's limit is reached, or no such coupon.
        let user_taken: Option<i32> = sqlx::query_scalar!(
            "insert into coupon_user_uses as u (code, user_id, used_count)
             select c.code, $2, 1 from coupons c
             where c.code = $1 and (c.per_user_limit is null or c.per_user_limit > 0)
             on conflict (code, user_id) do update set used_count = u.used_count + 1
             where (select c.per_user_limit from coupons c where c.code = u.code) is null
                 or u.used_count < (select c.per_user_limit from coupons c where c.code = u.code)
             returning used_count",
            code,
            user
        )
        .fetch_optional(&mut *conn)
        .await?;
        if user_taken.is_none() {
            let limit: Option<Option<i32>> =
                sqlx::query_scalar!("select per_user_limit from coupons where code = $1", code)
                    .fetch_optional(&mut *conn)
                    .await?;
            return Err(UseError::Refused(match limit {
                None => CouponRefusal::NotFound { code },
                Some(limit) => CouponRefusal::PerUserLimitReached {
                    limit: limit.map_or(0, count),
                },
            }));
        }
    }
    let taken: Option<i32> = sqlx::query_scalar!(
        "update coupons set used_count = used_count + 1
         where code = $1 and (global_limit is null or used_count < global_limit)
         returning used_count",
        code
    )
    .fetch_optional(&mut *conn)
    .await?;
    if taken.is_none() {
        if let Some(user) = user {
            give_back_user(conn, &code, user).await?;
        }
        let exists: bool = sqlx::query_scalar!(
            r#"select exists(select 1 from coupons where code = $1) as "exists!""#,
            code
        )
        .fetch_one(&mut *conn)
        .await?;
        return Err(if exists {
            UseError::Refused(CouponRefusal::UsageLimitReached)
        } else {
            UseError::Refused(CouponRefusal::NotFound { code })
        });
    }
    Ok(())
}

/// Gives back one use taken by [`use_one`] (compensation of a failed order). Counters
/// never go below zero. Not idempotent by itself: the caller (a saga step that runs at
/// least once) records that it gave the use back in the same transaction.
pub async fn give_back(
    conn: &mut PgConnection,
    code: &str,
    user: Option<Uuid>,
) -> sqlx::Result<()> {
    let code = normalize_code(code);
    give_back_global(conn, &code).await?;
    if let Some(user) = user {
        give_back_user(conn, &code, user).await?;
    }
    Ok(())
}

async fn give_back_user(conn: &mut PgConnection, code: &str, user: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update coupon_user_uses set used_count = used_count - 1
         where code = $1 and user_id = $2 and used_count > 0",
        code,
        user
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn give_back_global(conn: &mut PgConnection, code: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update coupons set used_count = used_count - 1 where code = $1 and used_count > 0",
        code
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Why [`use_one`] did not redeem.
#[derive(Debug, thiserror::Error)]
pub enum UseError {
    #[error(transparent)]
    Refused(CouponRefusal),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

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

/// Uses one `code` for `order_id` (see [`use_one`]) and records that the order holds
/// it, in the caller's transaction, so giving it back later happens exactly once. The
/// record is written first: on a refusal the caller rolls back (the `reserve` step
/// fails, which discards its transaction).
pub async fn redeem_for_order(
    conn: &mut PgConnection,
    order_id: Uuid,
    code: &str,
    user: Uuid,
) -> Result<(), UseError> {
    // the order's own row first, the shared counters last (see `use_one`)
    let redeemed = sqlx::query!(
        "insert into coupon_redemptions (order_id, code, user_id) values ($1, $2, $3)
         on conflict (order_id) do nothing",
        order_id,
        code,
        user
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if redeemed {
        let entry = Entry::about("coupon", code, Kind::CouponRedeemed)
            .for_order(order_id)
            .after(serde_json::json!({"status": "used", "user_id": user}));
        ledger::append(conn, &entry).await?;
    }
    use_one(conn, code, Some(user)).await
}

/// Gives back the use `order_id` holds, if it still holds one (compensation). The
/// redemption's status guards the counters, so a re-run gives nothing back twice.
pub async fn give_back_for_order(conn: &mut PgConnection, order_id: Uuid) -> sqlx::Result<()> {
    let returned = sqlx::query!(
        "update coupon_redemptions set status = 'returned'
         where order_id = $1 and status = 'used' returning code, user_id",
        order_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(r) = returned {
        let entry = Entry::about("coupon", r.code.as_str(), Kind::CouponGivenBack)
            .for_order(order_id)
            .before(serde_json::json!({"status": "used"}))
            .after(serde_json::json!({"status": "returned", "user_id": r.user_id}));
        ledger::append(conn, &entry).await?;
        give_back(conn, &r.code, Some(r.user_id)).await?;
    }
    Ok(())
}
