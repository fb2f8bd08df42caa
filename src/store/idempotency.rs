//! Idempotency-Key records: claim, complete, release, replay lookup and pruning.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// What a request is, for comparing a retry with the first use of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub method: String,
    pub path: String,
    pub body_sha256: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct Record {
    pub method: String,
    pub path: String,
    pub body_sha256: String,
    pub state: String,
    pub lock_id: Uuid,
    pub locked_at: DateTime<Utc>,
    pub response_status: Option<i16>,
    pub response_type: Option<String>,
    pub response_body: Option<Vec<u8>>,
    pub expires_at: DateTime<Utc>,
}

impl Record {
    pub fn matches(&self, f: &Fingerprint) -> bool {
        self.method == f.method && self.path == f.path && self.body_sha256 == f.body_sha256
    }
}

/// Inserts the key `in_progress` under `lock_id`; false if a row exists already.
pub async fn claim(
    conn: impl PgExecutor<'_>,
    scope: &str,
    key: &str,
    f: &Fingerprint,
    lock_id: Uuid,
    ttl_secs: i64,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "insert into idempotency_keys
             (scope, key, method, path, body_sha256, state, lock_id, locked_at, expires_at)
         values ($1, $2, $3, $4, $5, 'in_progress', $6, now(),
                 now() + make_interval(secs => $7))
         on conflict (scope, key) do nothing",
    )
    .bind(scope)
    .bind(key)
    .bind(&f.method)
    .bind(&f.path)
    .bind(&f.body_sha256)
    .bind(lock_id)
    .bind(ttl_secs as f64)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

pub async fn find(
    conn: impl PgExecutor<'_>,
    scope: &str,
    key: &str,
) -> sqlx::Result<Option<Record>> {
    sqlx::query_as(
        "select method, path, body_sha256, state, lock_id, locked_at, response_status,
                response_type, response_body, expires_at
         from idempotency_keys where scope = $1 and key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// Takes over a claim older than `lock_timeout_secs` (its request presumably crashed);
/// true if this caller now holds it under `new_lock`.
pub async fn take_over(
    conn: impl PgExecutor<'_>,
    scope: &str,
    key: &str,
    old_lock: Uuid,
    new_lock: Uuid,
    lock_timeout_secs: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update idempotency_keys set lock_id = $4, locked_at = now()
         where scope = $1 and key = $2 and lock_id = $3 and state = 'in_progress'
           and locked_at < now() - make_interval(secs => $5)",
    )
    .bind(scope)
    .bind(key)
    .bind(old_lock)
    .bind(new_lock)
    .bind(lock_timeout_secs as f64)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores the response; false if the claim was taken over meanwhile.
pub async fn complete(
    conn: impl PgExecutor<'_>,
    scope: &str,
    key: &str,
    lock_id: Uuid,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "update idempotency_keys
         set state = 'completed', response_status = $4, response_type = $5, response_body = $6
         where scope = $1 and key = $2 and lock_id = $3 and state = 'in_progress'",
    )
    .bind(scope)
    .bind(key)
    .bind(lock_id)
    .bind(status as i16)
    .bind(content_type)
    .bind(body)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes this claim (answer not stored: a retry with the key runs again).
pub async fn release(
    conn: impl PgExecutor<'_>,
    scope: &str,
    key: &str,
    lock_id: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "delete from idempotency_keys
         where scope = $1 and key = $2 and lock_id = $3 and state = 'in_progress'",
    )
    .bind(scope)
    .bind(key)
    .bind(lock_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes one expired row so its key can be claimed afresh.
pub async fn delete_expired(conn: impl PgExecutor<'_>, scope: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query(
        "delete from idempotency_keys where scope = $1 and key = $2 and expires_at <= now()",
    )
    .bind(scope)
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes every record expired at `now`; returns how many. For the scheduler.
pub async fn prune_expired(conn: impl PgExecutor<'_>, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let done = sqlx::query("delete from idempotency_keys where expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Deletes up to `limit` records expired at `now`; returns how many. The scheduler
/// loops on it so a large backlog never becomes one long delete.
pub async fn prune_expired_batch(
    conn: impl PgExecutor<'_>,
    now: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "delete from idempotency_keys where (scope, key) in
             (select scope, key from idempotency_keys where expires_at <= $1 limit $2)",
    )
    .bind(now)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
