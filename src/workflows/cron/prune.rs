//! Pruning what nothing else deletes: done apalis jobs (apalis never prunes), old
//! webhook events, expired idempotency records, old login attempts, used refresh
//! tokens, published outbox events and settled webhook deliveries, each past its
//! retention setting, in bounded batches.

use sqlx::PgPool;

use super::batch::{Stats, repeat};
use crate::config::SchedulerSettings;
use crate::store::{idempotency, jobs, login_attempts, outbox, sessions, subscriptions, webhooks};

pub async fn prune(pool: &PgPool, s: &SchedulerSettings) -> sqlx::Result<Stats> {
    let n = s.batch_size;
    let done_jobs = repeat(n, || jobs::prune_done_batch(pool, s.job_retention_secs, n)).await?;
    let events = repeat(n, || {
        webhooks::prune_batch(pool, s.webhook_retention_secs, n)
    })
    .await?;
    let keys = repeat(n, || {
        idempotency::prune_expired_batch(pool, chrono::Utc::now(), n)
    })
    .await?;
    let attempts = repeat(n, || {
        login_attempts::prune_batch(pool, s.login_attempt_retention_secs, n)
    })
    .await?;
    let tokens = repeat(n, || {
        sessions::prune_used_tokens_batch(pool, s.refresh_token_retention_secs, n)
    })
    .await?;
    // a delivery keeps its own copy of the event, so the outbox row may go before it
    let published = repeat(n, || {
        outbox::prune_published_batch(pool, s.outbox_retention_secs, n)
    })
    .await?;
    let deliveries = repeat(n, || {
        subscriptions::prune_settled_batch(pool, s.delivery_retention_secs, n)
    })
    .await?;
    tracing::info!(
        done_jobs = done_jobs.rows,
        webhook_events = events.rows,
        idempotency_keys = keys.rows,
        login_attempts = attempts.rows,
        refresh_tokens = tokens.rows,
        outbox_events = published.rows,
        webhook_deliveries = deliveries.rows,
        "pruned"
    );
    Ok(done_jobs
        .merge(events)
        .merge(keys)
        .merge(attempts)
        .merge(tokens)
        .merge(published)
        .merge(deliveries))
}
