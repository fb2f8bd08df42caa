//! Enqueueing jobs inside the caller's transaction.

use std::time::SystemTime;

use apalis::prelude::TaskBuilder;
use sqlx::PgConnection;

use super::JobKind;
use super::origin::Origin;

#[derive(Debug, Default, Clone)]
pub struct EnqueueOptions {
    /// Unique per queue. A second enqueue with the same key is a no-op (returns false):
    /// that is how "advance the saga and enqueue its next step" stays exactly-once.
    pub idempotency_key: Option<String>,
    /// Run no earlier than this (apalis stores whole seconds). Delayed retries are new
    /// jobs with a later `run_at`, because apalis ignores retry delays on Postgres.
    pub run_at: Option<SystemTime>,
    /// apalis' own attempt budget for a job that returns `Err` (instant refetch).
    pub max_attempts: Option<usize>,
    /// The key names something only this transaction can have made: a row it inserted,
    /// or a saga step it moves the saga into under the saga's lock. No other job can
    /// hold the key, so the insert skips the savepoint and its two round trips;
    /// a duplicate would be a bug, and fails the transaction instead of being skipped.
    pub fresh_key: bool,
}

/// Inserts `job` on its queue within `conn`'s transaction. Returns false when a job with
/// the same idempotency key already exists on that queue. The job carries the current
/// trace and correlation id ([`Origin`]), so its runs continue them.
///
/// A duplicate key is a unique violation, which would abort the caller's whole
/// transaction; the insert runs under a savepoint so only it is rolled back. A job
/// without a key cannot collide (the unique index is on queue and key, and keys may be
/// null), so it is inserted without one.
pub async fn enqueue<J: JobKind>(
    conn: &mut PgConnection,
    job: &J,
    options: EnqueueOptions,
) -> anyhow::Result<bool> {
    let bytes = serde_json::to_vec(job)?;
    let mut builder = TaskBuilder::new(bytes).with_metadata(Origin::current().to_metadata());
    if let Some(key) = &options.idempotency_key {
        builder = builder.idempotency_key(key);
    }
    if let Some(at) = options.run_at {
        builder = builder.run_at_time(at);
    }
    builder = builder.max_attempts(options.max_attempts.unwrap_or(5));
    let task = builder.build();

    if options.fresh_key || options.idempotency_key.is_none() {
        apalis_postgres::queries::push_tasks(&mut *conn, job.queue(), vec![task]).await?;
        return Ok(true);
    }
    sqlx::query("savepoint enqueue").execute(&mut *conn).await?;
    match apalis_postgres::queries::push_tasks(&mut *conn, job.queue(), vec![task]).await {
        Ok(()) => {
            sqlx::query("release savepoint enqueue")
                .execute(&mut *conn)
                .await?;
            Ok(true)
        }
        Err(apalis_postgres::Error::Database(sqlx::Error::Database(e)))
            if e.code().as_deref() == Some("23505") =>
        {
            sqlx::query("rollback to savepoint enqueue")
                .execute(&mut *conn)
                .await?;
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
