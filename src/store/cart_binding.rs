//! Binding carts to accounts and merging them (`carts::auth`): the student's other
//! open carts, the owner, merged status, and rewriting a cart's items.

use sqlx::PgConnection;
use uuid::Uuid;

use super::carts::{CART_COLS, CartRow};
use crate::domain::cart_merge::MergeLine;

/// The user's open (draft or active, unexpired) carts other than `except`, newest
/// first, locked for the transaction.
pub async fn open_carts_of(
    conn: &mut PgConnection,
    user_id: Uuid,
    except: Uuid,
) -> sqlx::Result<Vec<CartRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {CART_COLS} from carts
         where user_id = $1 and id <> $2 and status in ('draft', 'active')
           and expires_at > now()
         order by updated_at desc, id
         for update"
    )))
    .bind(user_id)
    .bind(except)
    .fetch_all(conn)
    .await
}

pub async fn set_owner(conn: &mut PgConnection, cart_id: Uuid, user_id: Uuid) -> sqlx::Result<()> {
    sqlx::query("update carts set user_id = $2 where id = $1")
        .bind(cart_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Closes a cart whose items moved to `into`; its token opens nothing any more.
pub async fn mark_merged(conn: &mut PgConnection, cart_id: Uuid, into: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "update carts set status = 'merged', merged_into = $2, version = version + 1
         where id = $1",
    )
    .bind(cart_id)
    .bind(into)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the cart's items with `lines`, in order (ids are time-ordered, and items
/// are listed by id).
pub async fn replace_items(
    conn: &mut PgConnection,
    cart_id: Uuid,
    lines: &[MergeLine],
) -> sqlx::Result<()> {
    sqlx::query("delete from cart_items where cart_id = $1")
        .bind(cart_id)
        .execute(&mut *conn)
        .await?;
    for line in lines {
        sqlx::query(
            "insert into cart_items (id, cart_id, program_id, plan_id, cohort_id, quantity)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(cart_id)
        .bind(line.program_id)
        .bind(line.plan_id)
        .bind(line.cohort_id)
        .bind(line.quantity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
