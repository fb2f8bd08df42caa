//! Login attempts, shared by every API process through Postgres.

use std::net::IpAddr;

use sqlx::{FromRow, PgExecutor};

/// Records an attempt (before the password is checked, so concurrent attempts count
/// each other) and returns its id. Also drops this account's and address's rows that
/// left the window, which keeps the table small without a cron job.
pub async fn record(
    conn: &mut sqlx::PgConnection,
    account: &str,
    address: IpAddr,
    window_secs: u64,
) -> sqlx::Result<i64> {
    sqlx::query(
        "delete from login_attempts
         where (account = $1 or address = $2::inet)
           and attempted_at < clock_timestamp() - make_interval(secs => $3)",
    )
    .bind(account)
    .bind(address.to_string())
    .bind(window_secs as f64)
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

/// Attempts within the window, per account and per address, and the seconds until the
/// oldest of each leaves the window.
#[derive(Debug, FromRow)]
pub struct Counts {
    pub account: i64,
    pub address: i64,
    pub account_frees_in: Option<f64>,
    pub address_frees_in: Option<f64>,
}

pub async fn counts(
    conn: impl PgExecutor<'_>,
    account: &str,
    address: IpAddr,
    window_secs: u64,
    except_id: i64,
) -> sqlx::Result<Counts> {
    sqlx::query_as(
        "with w as (
            select account = $1 as by_account, address = $2::inet as by_address, attempted_at
            from login_attempts
            where (account = $1 or address = $2::inet)
              and attempted_at > clock_timestamp() - make_interval(secs => $3)
              and id <> $4
         )
         select
            count(*) filter (where by_account) + 1 as account,
            count(*) filter (where by_address) + 1 as address,
            extract(epoch from min(attempted_at) filter (where by_account)
                + make_interval(secs => $3) - clock_timestamp())::float8 as account_frees_in,
            extract(epoch from min(attempted_at) filter (where by_address)
                + make_interval(secs => $3) - clock_timestamp())::float8 as address_frees_in
         from w",
    )
    .bind(account)
    .bind(address.to_string())
    .bind(window_secs as f64)
    .bind(except_id)
    .fetch_one(conn)
    .await
}

/// Forgets one attempt (one refused by the limit, which must not extend the lockout).
pub async fn forget(conn: impl PgExecutor<'_>, id: i64) -> sqlx::Result<()> {
    sqlx::query("delete from login_attempts where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets the account's attempts after a successful login.
pub async fn clear_account(conn: impl PgExecutor<'_>, account: &str) -> sqlx::Result<()> {
    sqlx::query("delete from login_attempts where account = $1")
        .bind(account)
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
