//! The admin audit trail: who changed what, before and after, written in the same
//! transaction as the change.

use serde_json::Value;
use sqlx::PgConnection;

pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    /// Unique per action run; a second row with the same key is not written.
    pub request_key: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes the entry; false when its request key was recorded before.
pub async fn record(conn: &mut PgConnection, e: &Entry<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "insert into admin_audit (actor, action, target, request_key, before, after)
         values ($1, $2, $3, $4, $5, $6) on conflict (request_key) do nothing",
    )
    .bind(e.actor)
    .bind(e.action)
    .bind(e.target)
    .bind(e.request_key)
    .bind(&e.before)
    .bind(&e.after)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A recorded operator command.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Recorded {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The commands run on `target` (an order token, a coupon code, ...), oldest first.
pub async fn for_target(conn: &mut PgConnection, target: &str) -> sqlx::Result<Vec<Recorded>> {
    sqlx::query_as(
        "select id, actor, action, target, before, after, created_at
           from admin_audit where target = $1 order by id",
    )
    .bind(target)
    .fetch_all(conn)
    .await
}
