//! Redeeming a coupon use and giving it back, per call and per order.

use sqlx::PgConnection;
use uuid::Uuid;

use super::count;
use crate::domain::CouponRefusal;
use crate::domain::coupon::normalize_code;
use crate::store::ledger::{self, Entry, Kind};

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
