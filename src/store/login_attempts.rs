//! Login attempts, shared by every API process through Postgres.

use std::net::IpAddr;

use sqlx::{FromRow, PgExecutor};

/// Records an attempt (before the password is checked, so concurrent attempts count
/// each other; a success deletes it again) and returns its id. Also drops this
/// account's rows older than `keep_secs`, which keeps the table small without a cron job.
pub async fn record(
    conn: &mut sqlx::PgConnection,
    account: &str,
    address: IpAddr,
    keep_secs: u64,
) -> sqlx::Result<i64> {
    sqlx::query(
        "delete from login_attempts
         where account = $1 and attempted_at < clock_timestamp() - make_interval(secs => $2)",
    )
    .bind(account)
    .bind(keep_secs as f64)
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar(
        "insert into login_attempts (account, address) values ($1, $2::inet) returning id",
    )
    .bind(account)
    .bind(address.to_string())
    .fetch_one(&mut *conn)
    .await
}

/// Earlier failed (or still running) attempts on an account, besides one attempt.
#[derive(Debug, FromRow)]
pub struct Counts {
    /// On the account from any address, within the account window.
    pub account: i64,
    /// On the account from this address, within the pair memory.
    pub pair: i64,
    /// Seconds since the latest of `pair`.
    pub pair_last_secs_ago: Option<f64>,
}

pub async fn counts(
    conn: impl PgExecutor<'_>,
    account: &str,
    address: IpAddr,
    account_window_secs: u64,
    pair_memory_secs: u64,
    except_id: i64,
) -> sqlx::Result<Counts> {
    sqlx::query_as(
        "with w as (
            select address = $2::inet as by_pair, attempted_at,
                   attempted_at > clock_timestamp() - make_interval(secs => $3) as recent
            from login_attempts
            where account = $1
              and attempted_at > clock_timestamp() - make_interval(secs => greatest($3, $4))
              and id <> $5
         )
         select
            count(*) filter (where recent) as account,
            count(*) filter (where by_pair and attempted_at
                > clock_timestamp() - make_interval(secs => $4)) as pair,
            extract(epoch from clock_timestamp()
                - max(attempted_at) filter (where by_pair))::float8 as pair_last_secs_ago
         from w",
    )
    .bind(account)
    .bind(address.to_string())
    .bind(account_window_secs as f64)
    .bind(pair_memory_secs as f64)
    .bind(except_id)
    .fetch_one(conn)
    .await
}

/// Forgets one attempt (one refused by the backoff, which must not extend it).
pub async fn forget(conn: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("delete from login_attempts where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets the failures of an account from one address after a successful login there.
/// Only that pair's: the owner signing in must not reset what other addresses tried.
pub async fn clear_pair(
    conn: impl PgExecutor<'_>,
    account: &str,
    address: IpAddr,
) -> sqlx::Result<()> {
    sqlx::query("delete from login_attempts where account = $1 and address = $2::inet")
        .bind(account)
        .bind(address.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes up to `limit` attempts older than `age_secs` (those of accounts and
/// addresses that never tried again); returns how many.
pub async fn prune_batch(
    conn: impl PgExecutor<'_>,
    age_secs: u64,
    limit: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "delete from login_attempts where id in
             (select id from login_attempts
              where attempted_at < now() - make_interval(secs => $1) limit $2)",
    )
    .bind(age_secs as f64)
    .bind(limit)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
