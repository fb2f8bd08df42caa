//! Database access. One module per aggregate; functions take `&mut PgConnection` (a
//! transaction or a pooled connection) so a workflow can compose them in one transaction.
//!
//! Two migration sets live in the database: apalis-postgres's own (schema `apalis`,
//! tracked in `_sqlx_migrations`, run from its crate so the version we pin is the one we
//! get) and ours in `migrations/` (tracked in `_checkout_migrations`, so neither set sees
//! the other's versions as unknown).

pub mod audit;
pub mod authorizations;
pub mod bench;
pub mod cart_binding;
pub mod carts;
pub mod catalog;
pub mod coupons;
pub mod enrollments;
pub mod fx;
pub mod holds;
pub mod idempotency;
pub mod invoices;
pub mod jobs;
pub mod ledger;
pub mod listen;
pub mod login_attempts;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod pings;
pub mod pooled;
pub mod refunds;
pub mod replica;
pub mod sagas;
pub mod sales;
pub mod sessions;
pub mod subscriptions;
pub mod users;
pub mod webhooks;

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};

use crate::config::DatabaseSettings;

pub use pooled::{acquire, begin};
pub use replica::Reader;

/// Table that records our migrations.
const MIGRATIONS_TABLE: &str = "_checkout_migrations";

/// Our migrations, embedded in the binary.
pub fn migrator() -> Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.dangerous_set_table_name(MIGRATIONS_TABLE);
    m
}

/// Parses a URL into options with statement logging at debug level only (statements
/// can carry personal data; they must not flood info logs).
pub fn connect_options(url: &str) -> anyhow::Result<PgConnectOptions> {
    let options: PgConnectOptions = url.parse().context("database url is not valid")?;
    Ok(options
        .application_name("checkout")
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500)))
}

/// A connection idle in the pool for longer than this is pinged before it is handed
/// out; one used more recently is handed out as is.
///
/// sqlx pings every connection it takes back (a round trip on release, always) and, by
/// default, again on every acquire: two round trips around each query or transaction. A connection that passed its release ping moments ago is
/// alive unless the server went away since; that case (a Postgres restart) costs the
/// next statement on it an error, which requests answer with a retryable 503 (9008) and
/// jobs retry, while connections idle across the outage are caught by this ping.
pub const PING_IF_IDLE: Duration = Duration::from_secs(1);

/// A pool that is created without connecting, so a role can start (and report not
/// ready) while Postgres is down, and reconnects on its own when Postgres returns.
pub fn pool(url: &str, settings: &DatabaseSettings) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(connect_options(url)?))
}

/// Applies apalis-postgres's migrations, then ours. Both are idempotent and take
/// Postgres advisory locks, so several processes may run them at once.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    apalis_postgres::PostgresStorage::migrations()
        .run(pool)
        .await
        .context("applying apalis-postgres migrations")?;
    migrator()
        .run(pool)
        .await
        .context("applying checkout migrations")?;
    Ok(())
}

/// Whether every migration this binary knows has been applied (readiness). A database
/// that cannot be reached is an error, not "not migrated".
pub async fn migrations_current(pool: &PgPool) -> anyhow::Result<bool> {
    let applied: Vec<i64> = match sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select version from {MIGRATIONS_TABLE} where success"
    )))
    .fetch_all(pool)
    .await
    {
        Ok(applied) => applied,
        // undefined_table: never migrated
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(migrator()
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.contains(&m.version)))
}

/// The database could not be reached or went away mid-statement (no free connection in
/// time, connection refused or reset, the server shutting down or starting up), as
/// opposed to a statement it refused. Requests answer it with a retryable 503 (9008);
/// routed reads retry it on the primary ([`Reader::read`]).
pub fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        // SQLSTATE class 08: connection exception; 57P01-57P03: admin shutdown, crash
        // shutdown, cannot connect now
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")),
        _ => false,
    }
}
