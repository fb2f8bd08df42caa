//! Tax documents: the GST tax invoice of an enrolled, charged order and a credit note
//! for each processed refund of an invoiced order (docs/architecture.md, "Tax invoices
//! and credit notes").
//!
//! One job kind ([`Job::Documents`], queue `checkout.documents`) issues whatever an
//! order is owed, so any run, a duplicate included, converges: it locks the order,
//! issues the invoice if the order is enrolled, was charged and has none, then a
//! credit note for each processed refund that reverses supply and has none, and
//! commits. It is enqueued in the transaction that enrolls the order (`enroll`) and in
//! the one that marks a refund processed, never inside the seat and coupon
//! transactions; the document numbers are taken in its own short transaction
//! ([`crate::store::invoices::take_number`]).
//!
//! A run that fails for a reason that may pass (the database) schedules a new job with
//! a later `run_at` (the checkout backoff), up to `invoices.max_attempts`; past them, or
//! when a document cannot be built (a snapshot without tax), the job ends `Failed`
//! with the reason logged, `admin check` reports the order and `admin jobs retry`
//! runs it again once the cause is fixed.
//! Nothing is compensated: a document is issued or not, never undone.

mod issue;

use std::time::SystemTime;

use sqlx::PgConnection;
use uuid::Uuid;

pub use issue::{DocumentFailure, Issued, issue};

use super::checkout::runner::retry_delay;
use super::jobs::{Job, JobContext};
use super::keys;
use crate::domain::invoice::TaxDocument;
use crate::store::invoices;
use crate::workers::{EnqueueOptions, enqueue};

/// Enqueues a run of the order's document job in the caller's transaction:
/// `suffix` none when the order is enrolled, `refund:{id}` when a refund is processed.
/// `fresh`: only the caller's transaction can write this key (see
/// [`EnqueueOptions::fresh_key`]).
pub async fn enqueue_documents(
    conn: &mut PgConnection,
    order_id: Uuid,
    suffix: Option<&str>,
    fresh: bool,
) -> anyhow::Result<bool> {
    enqueue_run(conn, order_id, 0, suffix, None, fresh).await
}

async fn enqueue_run(
    conn: &mut PgConnection,
    order_id: Uuid,
    attempt: u32,
    suffix: Option<&str>,
    run_at: Option<SystemTime>,
    fresh_key: bool,
) -> anyhow::Result<bool> {
    let options = EnqueueOptions {
        idempotency_key: Some(keys::documents(order_id, suffix)),
        run_at,
        fresh_key,
        ..Default::default()
    };
    enqueue(conn, &Job::Documents { order_id, attempt }, options).await
}

/// The order's tax invoice and its credit notes in issue order, if it has an invoice.
pub async fn of_order(
    pool: &sqlx::PgPool,
    order_id: Uuid,
) -> sqlx::Result<Option<(TaxDocument, Vec<TaxDocument>)>> {
    let mut conn = crate::store::acquire(pool).await?;
    let (invoices, notes): (Vec<_>, Vec<_>) = invoices::for_order(&mut conn, order_id)
        .await?
        .into_iter()
        .partition(|d| d.kind == "invoice");
    Ok(invoices.into_iter().next().map(|invoice| {
        let notes = notes.into_iter().map(|n| n.document.0).collect();
        (invoice.document.0, notes)
    }))
}

/// One run of the job: issue what the order is owed now, or schedule a retry.
pub async fn run(ctx: &JobContext, order_id: Uuid, attempt: u32) -> anyhow::Result<()> {
    match issue(&ctx.pool, &ctx.settings, order_id, chrono::Utc::now()).await {
        Ok(issued) => {
            if let Some(number) = &issued.invoice {
                tracing::info!(%order_id, number, "tax invoice issued");
            }
            for number in &issued.credit_notes {
                tracing::info!(%order_id, number, "credit note issued");
            }
            Ok(())
        }
        Err(DocumentFailure::Permanent(reason)) => {
            tracing::error!(%order_id, reason, "tax document cannot be issued; needs an operator (admin check reports it)");
            // failed, so `admin jobs retry` can run it again once the cause is fixed
            anyhow::bail!("tax document of order {order_id} cannot be issued: {reason}")
        }
        Err(DocumentFailure::Transient(error)) => retry(ctx, order_id, attempt, &error).await,
    }
}

/// Schedules the next run after the checkout backoff, unless the attempts are spent.
/// Concurrent runs of one order that fail together schedule one retry (same key).
async fn retry(
    ctx: &JobContext,
    order_id: Uuid,
    attempt: u32,
    error: &anyhow::Error,
) -> anyhow::Result<()> {
    let next = attempt + 1;
    if next > ctx.settings.invoices.max_attempts {
        tracing::error!(%order_id, attempts = next, %error, "tax documents still failing; giving up (admin check reports the order)");
        // failed, so `admin jobs retry` can run it again
        anyhow::bail!(
            "tax documents of order {order_id} still failing after {attempt} retries: {error}"
        );
    }
    let delay = retry_delay(&ctx.settings.checkout, next as i32);
    tracing::warn!(%order_id, attempt = next, ?delay, %error, "tax documents failed; retrying later");
    let mut tx = crate::store::begin(&ctx.pool).await?;
    let suffix = format!("retry:{next}");
    let at = SystemTime::now() + delay;
    enqueue_run(&mut tx, order_id, next, Some(&suffix), Some(at), false).await?;
    tx.commit().await?;
    Ok(())
}
