//! Webhook deliveries (docs/events.md, "Webhook subscriptions"): one attempt per job,
//! its record, and the retry schedule. The relay creates a delivery and its first job
//! ([`crate::webhooks_out`]); a failed attempt enqueues the next as a new job with a
//! later `run_at` (apalis' own retries are instant), until the schedule is spent and
//! the delivery is `dead`. Operators replay with `admin subscriptions redeliver`.
//!
//! A job can run twice (at-least-once), and a replay can meet a scheduled retry: every
//! run acts only if the delivery still has the attempt count the job was made for, is
//! not done and is not leased by a run already attempting it, so one attempt is made per
//! count (a run whose worker died leaves a lease that expires after the timeout).

use std::time::{Duration, SystemTime};

use chrono::Utc;
use sqlx::PgConnection;
use uuid::Uuid;

use super::jobs::{Job, JobContext};
use super::keys;
use crate::store::subscriptions::{self, Attempt, Delivery};
use crate::webhooks_out::send::{self, Message};
use crate::workers::{EnqueueOptions, enqueue};

/// One attempt of delivery `delivery_id`, if it is still due at attempt count `attempt`:
/// taken under a short lease (no transaction or connection is held while the endpoint
/// answers), then recorded if nothing else recorded that attempt meanwhile.
pub async fn deliver(ctx: &JobContext, delivery_id: Uuid, attempt: i32) -> anyhow::Result<()> {
    let settings = &ctx.settings.subscriptions;
    let timeout = Duration::from_millis(settings.timeout_ms);
    let mut tx = crate::store::begin(&ctx.pool).await?;
    let Some(delivery) = subscriptions::lock_delivery(&mut tx, delivery_id).await? else {
        return Ok(());
    };
    if !due(&delivery, attempt) {
        tracing::debug!(%delivery_id, attempt, status = %delivery.status, "delivery: nothing to do");
        return Ok(());
    }
    let Some(subscription) = subscriptions::get(&mut tx, delivery.subscription_id).await? else {
        anyhow::bail!("delivery {delivery_id}: its subscription is gone");
    };
    if subscription.status != "active" {
        subscriptions::mark_dead(&mut tx, delivery_id, "subscription disabled").await?;
        tx.commit().await?;
        return Ok(());
    }
    // the lease outlasts the attempt (its timeout) with a margin for the record
    let lease_secs = timeout.as_secs_f64() + 5.0;
    if !subscriptions::lease(&mut tx, delivery_id, lease_secs).await? {
        tracing::debug!(%delivery_id, attempt, "delivery: another run is attempting it");
        return Ok(());
    }
    tx.commit().await?;

    let body = serde_json::to_vec(&delivery.payload)?;
    let message = Message {
        url: &subscription.url,
        id: delivery.event_id,
        body: &body,
        secrets: &subscription.signing_secrets(Utc::now()),
    };
    let outcome = send::attempt(&message, timeout, settings.allow_loopback).await;
    let record = Attempt {
        status_code: outcome.status_code.map(i32::from),
        latency_ms: i32::try_from(outcome.latency_ms).unwrap_or(i32::MAX),
        error: outcome.error.clone(),
        response: outcome.response.clone(),
    };

    let mut tx = crate::store::begin(&ctx.pool).await?;
    let Some(now) = subscriptions::lock_delivery(&mut tx, delivery_id).await? else {
        return Ok(());
    };
    if !due(&now, attempt) {
        // recorded meanwhile (the lease ran out, or an operator acted): ours is late
        return Ok(());
    }
    let made = attempt + 1;
    let result = if outcome.succeeded() {
        subscriptions::record_attempt(&mut tx, delivery_id, &record, "succeeded", None).await?;
        subscriptions::note_success(&mut tx, subscription.id).await?;
        "succeeded"
    } else {
        let threshold = i32::try_from(settings.disable_after_failures).unwrap_or(i32::MAX);
        let disabled = subscriptions::note_failure(&mut tx, subscription.id, threshold).await?;
        if let Some(reason) = &disabled {
            tracing::warn!(subscription = %subscription.id, reason, "webhook endpoint disabled");
        }
        let retry = settings.retry_delay(made.unsigned_abs());
        match retry.filter(|_| disabled.is_none()) {
            Some(delay) => {
                let at = Utc::now() + jitter(delay);
                subscriptions::record_attempt(&mut tx, delivery_id, &record, "failed", Some(at))
                    .await?;
                enqueue_attempt(&mut tx, delivery_id, made, Some(at.into()), None).await?;
                "failed"
            }
            None => {
                subscriptions::record_attempt(&mut tx, delivery_id, &record, "dead", None).await?;
                "dead"
            }
        }
    };
    tx.commit().await?;
    metrics::counter!("webhook_deliveries_total", "result" => result).increment(1);
    tracing::info!(
        %delivery_id, attempt = made, result, status = ?outcome.status_code,
        error = outcome.error.as_deref().unwrap_or(""), "webhook delivery attempt"
    );
    Ok(())
}

/// Whether the run made for `attempt` still has its attempt to make.
fn due(delivery: &Delivery, attempt: i32) -> bool {
    matches!(delivery.status.as_str(), "pending" | "failed") && delivery.attempts == attempt
}

/// +-20%, so endpoints that failed together are not retried together.
fn jitter(delay: Duration) -> chrono::Duration {
    let factor = 0.8 + 0.4 * rand::random::<f64>();
    chrono::Duration::milliseconds((delay.as_millis() as f64 * factor) as i64)
}

/// Enqueues the attempt of `delivery_id` that expects `attempt` earlier attempts
/// ([`keys::delivery`]; `suffix` for an operator's replay).
pub async fn enqueue_attempt(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    attempt: i32,
    run_at: Option<SystemTime>,
    suffix: Option<&str>,
) -> anyhow::Result<()> {
    let options = EnqueueOptions {
        idempotency_key: Some(keys::delivery(delivery_id, attempt, suffix)),
        run_at,
        ..Default::default()
    };
    enqueue(
        conn,
        &Job::Deliver {
            delivery_id,
            attempt,
        },
        options,
    )
    .await?;
    Ok(())
}

/// Replays deliveries now (`admin subscriptions redeliver`): `ids` whatever their
/// status, or those since `since` (of one subscription) that did not succeed. Returns
/// the deliveries replayed.
pub async fn redeliver(
    conn: &mut PgConnection,
    ids: Option<&[Uuid]>,
    since: Option<chrono::DateTime<Utc>>,
    subscription_id: Option<Uuid>,
) -> anyhow::Result<Vec<Uuid>> {
    let reset = subscriptions::reset_for_redelivery(conn, ids, since, subscription_id).await?;
    let replay = format!("redeliver:{}", Uuid::new_v4().simple());
    for (id, attempts) in &reset {
        enqueue_attempt(conn, *id, *attempts, None, Some(&replay)).await?;
    }
    Ok(reset.into_iter().map(|(id, _)| id).collect())
}
