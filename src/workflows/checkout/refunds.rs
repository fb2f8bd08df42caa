//! Refunds, from the decision to the money back.
//!
//! A refund is decided (its row written, its job enqueued) in the transaction that
//! finds it owed: compensation, a capture the order cannot keep, an operator. Its job
//! ([`refund`]) asks the gateway with the row's key, so a re-run refunds once, and
//! records what the gateway says, never what a webhook says:
//! - `processed` (Razorpay `processed`, Stripe `succeeded`): the payment's refunded
//!   amount moves, `refund.processed` is recorded and the order's document job is
//!   enqueued (a credit note, if the order was invoiced);
//! - `pending` (both gateways start there; Stripe `requires_action` too): read again
//!   with backoff (`refunds.poll_*`) until it settles; a refund webhook wakes a read at
//!   once;
//! - `failed`: a new refund (the next generation, a new gateway key) when the gateway
//!   says one can pass and fewer than `refunds.max_attempts` were made; else the row is
//!   `failed`, logged, shown by `checkout admin orders show` and `admin check`, and
//!   `admin orders refund --retry` starts the next generation.
//!
//! A gateway call that fails (network, 5xx) is retried with the step backoff; one the
//! gateway refuses (4xx) is raised at once.

use std::time::SystemTime;

use sqlx::PgConnection;
use uuid::Uuid;

use super::runner::retry_delay;
use crate::gateways::{GatewayError, GatewayKind, Refund, RefundRequest, RefundStatus};
use crate::store::refunds::{self, NewRefund, RefundRow};
use crate::store::{orders, outbox};
use crate::telemetry::on_commit;
use crate::workers::{EnqueueOptions, enqueue};
use crate::workflows::documents::enqueue_documents;
use crate::workflows::jobs::{Job, JobContext};
use crate::workflows::keys;

/// Decides a refund (once per key) and enqueues the job that executes it, in the
/// caller's transaction. Returns the refund's id when it is new. `why` is the
/// decision's metric label (one of [`crate::telemetry::catalog::REFUND_REASONS`]).
pub async fn decide_refund(
    conn: &mut PgConnection,
    refund: &NewRefund<'_>,
    why: &'static str,
) -> anyhow::Result<Option<Uuid>> {
    let decided = refunds::decide(conn, refund).await?;
    if let Some(refund_id) = decided {
        let gateway = refund.gateway.to_owned();
        on_commit::count(move || {
            metrics::counter!("refunds_requested_total", "gateway" => gateway, "reason" => why)
                .increment(1)
        });
        enqueue_refund(conn, refund_id, None, None).await?;
        outbox::record(
            conn,
            refund.order_id,
            "refund.requested",
            serde_json::json!({"refund_id": refund_id, "gateway": refund.gateway,
                               "payment_id": refund.gateway_payment_id, "amount": refund.amount,
                               "currency": refund.currency, "reason": refund.reason}),
        )
        .await?;
    }
    Ok(decided)
}

/// Enqueues a run of a refund's job ([`keys::refund_job`] with `suffix`), at `run_at`.
pub async fn enqueue_refund(
    conn: &mut PgConnection,
    refund_id: Uuid,
    suffix: Option<&str>,
    run_at: Option<SystemTime>,
) -> anyhow::Result<()> {
    let options = EnqueueOptions {
        idempotency_key: Some(keys::refund_job(refund_id, suffix)),
        run_at,
        ..Default::default()
    };
    enqueue(conn, &Job::Refund { refund_id }, options).await?;
    Ok(())
}

/// Wakes a read of every unsettled refund a refund webhook may concern (by the
/// gateway's refund id or its payment), in the intake's transaction.
pub async fn wake_refunds(
    conn: &mut PgConnection,
    gateway: GatewayKind,
    gateway_payment_id: Option<&str>,
    gateway_refund_id: Option<&str>,
    webhook_row: Uuid,
) -> anyhow::Result<usize> {
    let ids = refunds::unsettled_for(
        conn,
        gateway.as_str(),
        gateway_payment_id,
        gateway_refund_id,
    )
    .await?;
    for id in &ids {
        let suffix = keys::webhook_suffix(webhook_row);
        enqueue_refund(conn, *id, Some(&suffix), None).await?;
    }
    Ok(ids.len())
}

/// An operator retries a refund that failed: the next generation, asked at once.
/// Returns false when the refund is not `failed`.
pub async fn retry_failed(
    conn: &mut PgConnection,
    refund_id: Uuid,
    request: &str,
) -> anyhow::Result<bool> {
    let Some(generation) = refunds::reopen_failed(conn, refund_id).await? else {
        return Ok(false);
    };
    let suffix = format!("op:{generation}:{request}");
    enqueue_refund(conn, refund_id, Some(&suffix), None).await?;
    Ok(true)
}

/// One run of a refund's job: asks the gateway (a new refund while `requested`, a read
/// while `pending`) and records the answer under the row lock.
pub async fn refund(ctx: &JobContext, refund_id: Uuid) -> anyhow::Result<()> {
    let mut conn = crate::store::acquire(&ctx.pool).await?;
    let Some(row) = refunds::get(&mut conn, refund_id).await? else {
        return Ok(());
    };
    drop(conn);
    if row.is_settled() {
        return Ok(());
    }
    let kind: GatewayKind = row
        .gateway
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let Some(gateway) = ctx.gateways.get(kind) else {
        anyhow::bail!("{kind} is not configured; refund {refund_id} cannot run");
    };
    let answer = match (row.status.as_str(), &row.gateway_refund_id) {
        ("pending", Some(gateway_refund_id)) => gateway.fetch_refund(gateway_refund_id).await,
        _ => {
            let request = RefundRequest {
                payment_id: row.gateway_payment_id.clone(),
                amount: row.amount,
                currency: row.currency.clone(),
                idempotency_key: row.gateway_key(),
                notes: [("order_id".to_owned(), row.order_id.to_string())].into(),
            };
            gateway.refund(&request).await
        }
    };

    let mut tx = crate::store::begin(&ctx.pool).await?;
    // the order first, as every other path takes them (its event counter is written)
    orders::lock(&mut tx, row.order_id).await?;
    let Some(now) = refunds::lock(&mut tx, refund_id).await? else {
        return Ok(());
    };
    // Settled or retried meanwhile (a concurrent run): the answer is about the past.
    if now.is_settled() || now.generation != row.generation {
        return Ok(());
    }
    match answer {
        Ok(refund) => record(ctx, &mut tx, &now, &refund).await?,
        Err(e) => call_failed(ctx, &mut tx, &now, &e).await?,
    }
    tx.commit().await?;
    on_commit::committed();
    Ok(())
}

/// Records the gateway's refund: processed, still pending (read again later), or failed
/// (retried as a new refund, or raised).
async fn record(
    ctx: &JobContext,
    tx: &mut PgConnection,
    row: &RefundRow,
    refund: &Refund,
) -> anyhow::Result<()> {
    let matches = refund.amount == row.amount
        && refund.currency.eq_ignore_ascii_case(&row.currency)
        && (refund.payment_id.is_empty() || refund.payment_id == row.gateway_payment_id);
    if !matches {
        let reason = format!(
            "the gateway's refund {} is {} {} of {}, not {} {} of {}",
            refund.refund_id,
            refund.amount,
            refund.currency,
            refund.payment_id,
            row.amount,
            row.currency,
            row.gateway_payment_id
        );
        return raise(tx, row, &reason).await;
    }
    match refund.status {
        RefundStatus::Processed => {
            if refunds::mark_processed(tx, row, &refund.refund_id).await? {
                let gateway = row.gateway.clone();
                on_commit::count(move || {
                    metrics::counter!("refunds_processed_total", "gateway" => gateway).increment(1)
                });
                outbox::record(
                    tx,
                    row.order_id,
                    "refund.processed",
                    serde_json::json!({"refund_id": row.id, "gateway": row.gateway,
                                       "gateway_refund_id": refund.refund_id,
                                       "payment_id": row.gateway_payment_id, "amount": row.amount,
                                       "currency": row.currency, "reason": row.reason}),
                )
                .await?;
                // its credit note, if the order was invoiced (only this transaction
                // marks the refund processed, so the key is fresh)
                let suffix = format!("refund:{}", row.id);
                enqueue_documents(tx, row.order_id, Some(&suffix), true).await?;
                tracing::info!(refund_id = %row.id, gateway_refund = %refund.refund_id, "refund processed");
            }
        }
        RefundStatus::Pending => {
            refunds::mark_pending(tx, row.id, &refund.refund_id).await?;
            let delay = ctx.settings.refunds.poll_delay(row.polls + 1);
            schedule_check(tx, row.id, delay).await?;
        }
        RefundStatus::Failed => {
            let reason = refund
                .failure_reason
                .clone()
                .unwrap_or_else(|| "the gateway reported the refund failed".into());
            let made = row.generation + 1;
            if refund.can_retry() && made < ctx.settings.refunds.max_attempts as i32 {
                if refunds::mark_failed(tx, row.id, &reason, true).await? {
                    tracing::warn!(refund_id = %row.id, reason, made, "refund failed at the gateway; refunding again");
                    let suffix = format!("retry:{made}");
                    enqueue_refund(tx, row.id, Some(&suffix), None).await?;
                }
            } else {
                raise(tx, row, &reason).await?;
            }
        }
    }
    Ok(())
}

/// The refund is `failed` for good: an operator must act (`admin orders refund --retry`).
async fn raise(tx: &mut PgConnection, row: &RefundRow, reason: &str) -> anyhow::Result<()> {
    if refunds::mark_failed(tx, row.id, reason, false).await? {
        tracing::error!(refund_id = %row.id, order_id = %row.order_id, reason,
            "refund failed and will not be retried by itself; needs an operator");
        let gateway = row.gateway.clone();
        on_commit::count(move || {
            metrics::counter!("refunds_failed_total", "gateway" => gateway).increment(1)
        });
        outbox::record(
            tx,
            row.order_id,
            "refund.failed",
            serde_json::json!({"refund_id": row.id, "gateway": row.gateway,
                               "payment_id": row.gateway_payment_id, "amount": row.amount,
                               "currency": row.currency, "reason": reason}),
        )
        .await?;
    }
    Ok(())
}

/// A gateway call for the refund failed: retried with backoff when it may pass, raised
/// when the gateway refused it.
async fn call_failed(
    ctx: &JobContext,
    tx: &mut PgConnection,
    row: &RefundRow,
    error: &GatewayError,
) -> anyhow::Result<()> {
    let permanent = !error.is_retryable();
    let attempts = refunds::call_failed(tx, row.id, &error.to_string(), permanent).await?;
    if permanent {
        tracing::error!(refund_id = %row.id, %error, "refund refused by the gateway; needs an operator");
        let gateway = row.gateway.clone();
        on_commit::count(move || {
            metrics::counter!("refunds_failed_total", "gateway" => gateway).increment(1)
        });
    } else {
        schedule_check(tx, row.id, retry_delay(&ctx.settings.checkout, attempts)).await?;
    }
    Ok(())
}

/// The next run of the refund's job `delay` from now, unless one is scheduled already.
async fn schedule_check(
    tx: &mut PgConnection,
    refund_id: Uuid,
    delay: std::time::Duration,
) -> anyhow::Result<()> {
    if let Some(check) = refunds::schedule_check(tx, refund_id, delay).await? {
        let suffix = format!("check:{}:{}", check.generation, check.poll);
        enqueue_refund(
            tx,
            refund_id,
            Some(&suffix),
            Some(SystemTime::from(check.at)),
        )
        .await?;
    }
    Ok(())
}
