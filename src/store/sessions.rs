//! Login sessions (`auth_sessions`) and their refresh tokens (`refresh_tokens`, by
//! sha256 digest). A session is one refresh-token family on one device.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub device_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why a session ended (the `revoked_reason` check constraint lists the same words).
#[derive(Debug, Clone, Copy)]
pub enum RevokeReason {
    Logout,
    Revoked,
    Reuse,
    UserDeleted,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::Revoked => "revoked",
            RevokeReason::Reuse => "reuse",
            RevokeReason::UserDeleted => "user_deleted",
        }
    }
}

pub async fn create(
    conn: impl PgExecutor<'_>,
    user_id: Uuid,
    device_id: Option<&str>,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<Uuid> {
    let id = Uuid::new_v4();
    sqlx::query(
        "insert into auth_sessions (id, user_id, device_id, expires_at) values ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(user_id)
    .bind(device_id)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(id)
}

pub async fn add_token(
    conn: impl PgExecutor<'_>,
    session_id: Uuid,
    token_hash: &[u8; 32],
) -> sqlx::Result<()> {
    sqlx::query("insert into refresh_tokens (token_hash, session_id) values ($1, $2)")
        .bind(&token_hash[..])
        .bind(session_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A presented refresh token with its session, locked (token and session rows) so
/// concurrent uses of one token are serialised: exactly one rotates, the others see it
/// used.
#[derive(Debug, FromRow)]
pub struct LockedToken {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
}

pub async fn lock_token(
    conn: impl PgExecutor<'_>,
    token_hash: &[u8; 32],
) -> sqlx::Result<Option<LockedToken>> {
    sqlx::query_as(
        "select s.id as session_id, s.user_id, t.used_at, s.revoked_at, s.expires_at
         from refresh_tokens t join auth_sessions s on s.id = t.session_id
         where t.token_hash = $1
         for update of t, s",
    )
    .bind(&token_hash[..])
    .fetch_optional(conn)
    .await
}

pub async fn mark_used(conn: impl PgExecutor<'_>, token_hash: &[u8; 32]) -> sqlx::Result<()> {
    sqlx::query("update refresh_tokens set used_at = now() where token_hash = $1")
        .bind(&token_hash[..])
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a rotation: last use now, expiry pushed to `expires_at`.
pub async fn touch(
    conn: impl PgExecutor<'_>,
    session_id: Uuid,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("update auth_sessions set last_used_at = now(), expires_at = $2 where id = $1")
        .bind(session_id)
        .bind(expires_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a session if it is live (and, with `user_id`, only if it is theirs).
/// Returns whether a live session was revoked.
pub async fn revoke(
    conn: impl PgExecutor<'_>,
    session_id: Uuid,
    user_id: Option<Uuid>,
    reason: RevokeReason,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "update auth_sessions set revoked_at = now(), revoked_reason = $3
         where id = $1 and ($2::uuid is null or user_id = $2) and revoked_at is null",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(reason.as_str())
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// The session a refresh token belongs to, whatever its state.
pub async fn session_of_token(
    conn: impl PgExecutor<'_>,
    token_hash: &[u8; 32],
) -> sqlx::Result<Option<Uuid>> {
    sqlx::query_scalar("select session_id from refresh_tokens where token_hash = $1")
        .bind(&token_hash[..])
        .fetch_optional(conn)
        .await
}

/// The user's usable sessions, most recently used first.
pub async fn list_live(conn: impl PgExecutor<'_>, user_id: Uuid) -> sqlx::Result<Vec<Session>> {
    sqlx::query_as(
        "select id, user_id, device_id, created_at, last_used_at, expires_at
         from auth_sessions
         where user_id = $1 and revoked_at is null and expires_at > now()
         order by last_used_at desc, id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

/// Deletes up to `limit` refresh tokens used more than `age_secs` ago; returns how many.
pub async fn prune_used_tokens_batch(
    conn: impl PgExecutor<'_>,
    age_secs: u64,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "delete from refresh_tokens where token_hash in
             (select token_hash from refresh_tokens
              where used_at < now() - make_interval(secs => $1) limit $2)",
    )
    .bind(age_secs as f64)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
