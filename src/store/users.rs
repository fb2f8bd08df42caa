//! Accounts (`users`) and their external identities. Emails are passed in already
//! normalised ([`crate::domain::account::Email`]).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// A live account as handlers see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: Option<String>,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, email, name, created_at";

/// Creates an account; `None` if a live account already has this email.
pub async fn insert(
    conn: impl PgExecutor<'_>,
    email: Option<&str>,
    name: &str,
    password_hash: Option<&str>,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as(
        "insert into users (id, email, name, password_hash) values ($1, $2, $3, $4)
         on conflict ((lower(email))) where deleted_at is null do nothing
         returning id, email, name, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(email)
    .bind(name)
    .bind(password_hash)
    .fetch_optional(conn)
    .await
}

/// The live account with this email and its password hash (null for accounts that
/// only log in through an external provider).
pub async fn find_for_login(
    conn: impl PgExecutor<'_>,
    email: &str,
) -> sqlx::Result<Option<(User, Option<String>)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: Option<String>,
    }
    let row: Option<Row> = sqlx::query_as(
        "select id, email, name, created_at, password_hash from users
         where lower(email) = lower($1) and deleted_at is null",
    )
    .bind(email)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

pub async fn find_live(conn: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<User>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLUMNS} from users where id = $1 and deleted_at is null"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The account holder's name, deleted or not (an invoice for an order is still made
/// out to whoever placed it).
pub async fn name_of(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select name from users where id = $1", id)
        .fetch_optional(conn)
        .await
}

/// The live user of an access token and, when the token names a session, that
/// session's expiry if it is still usable (not revoked, not expired, the user's own;
/// `None` when it is not); one round trip per request.
pub async fn find_live_with_session(
    conn: impl PgExecutor<'_>,
    id: Uuid,
    session_id: Option<Uuid>,
) -> sqlx::Result<Option<(User, Option<DateTime<Utc>>)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        session_expires_at: Option<DateTime<Utc>>,
    }
    let row: Option<Row> = sqlx::query_as(
        "select u.id, u.email, u.name, u.created_at,
                (select s.expires_at from auth_sessions s
                 where s.id = $2 and s.user_id = u.id
                   and s.revoked_at is null and s.expires_at > now()) as session_expires_at
         from users u where u.id = $1 and u.deleted_at is null",
    )
    .bind(id)
    .bind(session_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.user, r.session_expires_at)))
}

/// Soft-deletes an account and revokes its sessions (its tokens then get 5007).
pub async fn soft_delete(conn: &mut PgConnection, id: Uuid) -> sqlx::Result<bool> {
    let done =
        sqlx::query("update users set deleted_at = now() where id = $1 and deleted_at is null")
            .bind(id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1;
    sqlx::query(
        "update auth_sessions set revoked_at = now(), revoked_reason = 'user_deleted'
         where user_id = $1 and revoked_at is null",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done)
}

/// The user an external subject maps to: `Some((user_id, live))`.
pub async fn find_external(
    conn: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<Option<(Uuid, bool)>> {
    sqlx::query_as(
        "select u.id, u.deleted_at is null from external_identities x
         join users u on u.id = x.user_id
         where x.issuer = $1 and x.subject = $2",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(conn)
    .await
}

/// Links an external subject to a user; false if another request linked it first.
pub async fn link_external(
    conn: impl PgExecutor<'_>,
    issuer: &str,
    subject: &str,
    user_id: Uuid,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "insert into external_identities (issuer, subject, user_id) values ($1, $2, $3)
         on conflict do nothing",
    )
    .bind(issuer)
    .bind(subject)
    .bind(user_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// An account as operators see it (`checkout admin users`), deleted ones included.
#[derive(Debug, Clone, serde::Serialize, FromRow)]
pub struct AdminUser {
    pub id: Uuid,
    pub email: Option<String>,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Newest first; `email` filters by substring.
pub async fn list(
    conn: &mut PgConnection,
    email: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<AdminUser>> {
    sqlx::query_as(
        "select id, email, name, created_at, deleted_at from users
         where $1::text is null or email like '%' || lower($1) || '%'
         order by created_at desc limit $2",
    )
    .bind(email)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// By id or email (a live account before deleted ones).
pub async fn find_any(
    conn: &mut PgConnection,
    id_or_email: &str,
) -> sqlx::Result<Option<AdminUser>> {
    sqlx::query_as(
        "select id, email, name, created_at, deleted_at from users
         where id::text = $1 or email = lower(btrim($1))
         order by deleted_at nulls first limit 1",
    )
    .bind(id_or_email)
    .fetch_optional(conn)
    .await
}

/// The user's orders, newest first: (token, status, total, currency, created).
#[derive(Debug, Clone, serde::Serialize, FromRow)]
pub struct OrderLine {
    pub order_token: String,
    pub status: String,
    pub total: Option<i64>,
    pub currency: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn orders_of(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<Vec<OrderLine>> {
    sqlx::query_as(
        "select order_token, status, total, currency, created_at from orders
         where user_id = $1 order by created_at desc",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await
}

pub async fn live_sessions(conn: &mut PgConnection, user_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from auth_sessions
         where user_id = $1 and revoked_at is null and expires_at > now()",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await
}
