//! Carts and cart items. Every cart read goes through [`load`], called only by
//! `carts::load_cart`, where access rules (expiry, read-only, ownership) live.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct CartRow {
    pub id: Uuid,
    pub token: String,
    pub user_id: Option<Uuid>,
    /// draft | active | expired | converted
    pub status: String,
    pub currency: String,
    pub sale_id: Option<Uuid>,
    pub coupon_code: Option<String>,
    pub device_id: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The columns of a [`CartRow`], for the statements built elsewhere
/// ([`crate::store::cart_binding`]); the checked statements here spell them out.
pub(crate) const CART_COLS: &str = "id, token, user_id, status, currency, sale_id, coupon_code, device_id, \
    expires_at, created_at, updated_at, version";

/// An item with the catalog facts pricing needs.
#[derive(Debug, Clone, FromRow)]
pub struct ItemRow {
    pub id: Uuid,
    pub program_id: Uuid,
    pub program_slug: String,
    pub program_title: String,
    pub plan_id: Uuid,
    pub period_value: i32,
    pub period_unit: String,
    pub price_minor: i64,
    pub tax_inclusive: bool,
    pub cohort_id: Option<Uuid>,
    pub quantity: i32,
}

/// What a new cart starts with.
pub struct NewCart<'a> {
    pub token: &'a str,
    pub currency: &'a str,
    pub sale_id: Option<Uuid>,
    pub device_id: Option<&'a str>,
    /// The owner when created by a logged-in student.
    pub user_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

pub async fn create(conn: &mut PgConnection, new: &NewCart<'_>) -> sqlx::Result<CartRow> {
    sqlx::query_as!(
        CartRow,
        "insert into carts (id, token, currency, sale_id, device_id, expires_at, user_id)
         values ($1, $2, $3, $4, $5, $6, $7)
         returning id, token, user_id, status, currency, sale_id, coupon_code, device_id, expires_at,
                created_at, updated_at, version",
        Uuid::now_v7(),
        new.token,
        new.currency,
        new.sale_id,
        new.device_id,
        new.expires_at,
        new.user_id,
    )
    .fetch_one(conn)
    .await
}

/// The cart with this token; `for_update` locks its row until the transaction ends,
/// which serialises every write to one cart (no lost items).
pub async fn load(
    conn: &mut PgConnection,
    token: &str,
    for_update: bool,
) -> sqlx::Result<Option<CartRow>> {
    if for_update {
        sqlx::query_as!(
            CartRow,
            "select id, token, user_id, status, currency, sale_id, coupon_code, device_id, expires_at,
                created_at, updated_at, version
             from carts where token = $1 for update",
            token
        )
        .fetch_optional(conn)
        .await
    } else {
        sqlx::query_as!(
            CartRow,
            "select id, token, user_id, status, currency, sale_id, coupon_code, device_id, expires_at,
                created_at, updated_at, version
             from carts where token = $1",
            token
        )
        .fetch_optional(conn)
        .await
    }
}

/// Items in the order they were added.
pub async fn items(conn: &mut PgConnection, cart_id: Uuid) -> sqlx::Result<Vec<ItemRow>> {
    sqlx::query_as!(
        ItemRow,
        "select i.id, i.program_id, p.slug as program_slug, p.title as program_title,
             i.plan_id, pl.period_value, pl.period_unit, pl.price_minor, pl.tax_inclusive,
             i.cohort_id, i.quantity
         from cart_items i
         join programs p on p.id = i.program_id
         join plans pl on pl.id = i.plan_id
         where i.cart_id = $1
         order by i.id",
        cart_id
    )
    .fetch_all(conn)
    .await
}

/// Adds `quantity` of a program's plan: a new item, or more of the existing one (one
/// row per program and plan; a cohort given now replaces the earlier choice). Returns
/// the item's quantity afterwards.
pub async fn add_item(
    conn: &mut PgConnection,
    cart_id: Uuid,
    program_id: Uuid,
    plan_id: Uuid,
    cohort_id: Option<Uuid>,
    quantity: i32,
) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "insert into cart_items as i (id, cart_id, program_id, plan_id, cohort_id, quantity)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (cart_id, program_id, plan_id) do update
             set quantity = i.quantity + excluded.quantity,
                 cohort_id = coalesce(excluded.cohort_id, i.cohort_id)
         returning quantity",
        Uuid::now_v7(),
        cart_id,
        program_id,
        plan_id,
        cohort_id,
        quantity,
    )
    .fetch_one(conn)
    .await
}

/// Removes one item; false when the cart has no such item.
pub async fn remove_item(
    conn: &mut PgConnection,
    cart_id: Uuid,
    item_id: Uuid,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "delete from cart_items where cart_id = $1 and id = $2",
        cart_id,
        item_id
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Moves the cart's items of `program_id` to `plan_id`, merging them into the earliest
/// one (quantities add up). Returns the merged quantity, or None when the cart has no
/// item of that program.
pub async fn switch_plan(
    conn: &mut PgConnection,
    cart_id: Uuid,
    program_id: Uuid,
    plan_id: Uuid,
) -> sqlx::Result<Option<i32>> {
    let rows = sqlx::query!(
        "select id, quantity from cart_items where cart_id = $1 and program_id = $2 order by id",
        cart_id,
        program_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let Some(keep) = rows.first().map(|r| r.id) else {
        return Ok(None);
    };
    let total: i32 = rows.iter().map(|r| r.quantity).fold(0, i32::saturating_add);
    sqlx::query!(
        "delete from cart_items where cart_id = $1 and program_id = $2 and id <> $3",
        cart_id,
        program_id,
        keep
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "update cart_items set plan_id = $2, quantity = $3 where id = $1",
        keep,
        plan_id,
        total
    )
    .execute(&mut *conn)
    .await?;
    Ok(Some(total))
}

/// Appends analytics events, keeping the newest `keep`.
pub async fn append_analytics(
    conn: &mut PgConnection,
    cart_id: Uuid,
    events: &[Value],
    keep: u32,
) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update carts set analytics_data = (
             select coalesce(jsonb_agg(e order by n), '[]'::jsonb) from (
                 select e, n from jsonb_array_elements(analytics_data || $2::jsonb)
                     with ordinality as t(e, n)
                 order by n desc limit $3
             ) newest)
         where id = $1",
        cart_id,
        Value::Array(events.to_vec()),
        i64::from(keep),
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_coupon(
    conn: &mut PgConnection,
    cart_id: Uuid,
    code: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update carts set coupon_code = $2 where id = $1",
        cart_id,
        code
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends a write: status from the items, the fresh pricing, a renewed expiry and the
/// next version.
pub async fn save(
    conn: &mut PgConnection,
    cart_id: Uuid,
    status: &str,
    pricing: &Value,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<CartRow> {
    sqlx::query_as!(
        CartRow,
        "update carts set status = $2, pricing = $3, expires_at = $4, version = version + 1
         where id = $1
         returning id, token, user_id, status, currency, sale_id, coupon_code, device_id, expires_at,
                created_at, updated_at, version",
        cart_id,
        status,
        pricing,
        expires_at,
    )
    .fetch_one(conn)
    .await
}

/// Marks up to `limit` draft or active carts past `expires_at` as expired; returns how
/// many. Rows another transaction holds are skipped (picked up by the next batch). A
/// cart left with items (`active`) gets `cart.abandoned`, for reminder mails: the cart's
/// id (never its token, a bearer capability), its student if signed in, and what was in
/// it. Run it in a transaction, so a cart expires with its event.
pub async fn expire_batch(conn: &mut PgConnection, limit: i64) -> sqlx::Result<u64> {
    let expired = sqlx::query!(
        "with picked as (
             select id, status from carts
              where status in ('draft', 'active') and expires_at <= now()
              order by expires_at limit $1 for update skip locked
         )
         update carts c set status = 'expired' from picked p where c.id = p.id
         returning c.id, p.status = 'active' as abandoned",
        limit
    )
    .fetch_all(&mut *conn)
    .await?;
    let abandoned: Vec<Uuid> = expired
        .iter()
        .filter(|c| c.abandoned == Some(true))
        .map(|c| c.id)
        .collect();
    if !abandoned.is_empty() {
        sqlx::query!(
            "insert into outbox_events (aggregate_type, aggregate_id, event_type, payload)
             select 'cart', c.id, 'cart.abandoned',
                    jsonb_build_object(
                        'cart_id', c.id, 'user_id', c.user_id, 'currency', c.currency,
                        'expired_at', c.expires_at,
                        'items', coalesce((select jsonb_agg(jsonb_build_object(
                                               'program_id', i.program_id,
                                               'plan_id', i.plan_id, 'quantity', i.quantity))
                                             from cart_items i where i.cart_id = c.id), '[]'))
               from carts c where c.id = any($1)",
            &abandoned
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(expired.len() as u64)
}

/// Deletes up to `limit` expired or merged carts unchanged for `retention_secs` (their
/// items cascade). Converted carts stay: orders name them by token. A cart that another
/// (newer) merged cart points to waits until that one is deleted.
pub async fn delete_finished_batch(
    conn: impl PgExecutor<'_>,
    retention_secs: u64,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from carts
         where id in (select c.id from carts c
                      where c.status in ('expired', 'merged')
                        and c.updated_at < now() - make_interval(secs => $2)
                        and not exists (select 1 from carts m where m.merged_into = c.id)
                      limit $1 for update skip locked)",
        limit,
        retention_secs as f64,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Checks the cart out: read-only from now on, owned by the buyer.
pub async fn freeze(conn: &mut PgConnection, token: &str, user: Uuid) -> sqlx::Result<()> {
    sqlx::query!(
        "update carts set status = 'converted', user_id = coalesce(user_id, $2) where token = $1",
        token,
        user
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Opens a checked-out cart again after its order failed, unless it has expired.
pub async fn reopen(conn: &mut PgConnection, token: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update carts set status = 'active'
         where token = $1 and status = 'converted' and expires_at > now()",
        token
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One line per program of the cart: (program, title, the cohort the student picked).
pub async fn programs(
    conn: &mut PgConnection,
    token: &str,
) -> sqlx::Result<Vec<(Uuid, String, Option<Uuid>)>> {
    let rows = sqlx::query!(
        "select distinct on (i.program_id) i.program_id, p.title, i.cohort_id
         from carts c join cart_items i on i.cart_id = c.id join programs p on p.id = i.program_id
         where c.token = $1 order by i.program_id, i.cohort_id nulls last",
        token
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.program_id, r.title, r.cohort_id))
        .collect())
}
