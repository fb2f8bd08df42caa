//! Compensation of a failed, expired, cancelled or refunded order, and refunds.
//!
//! Runs backwards from wherever the order stopped; every part is guarded by a status
//! so a re-run does nothing twice: release seat holds (and, for a refunded enrolled
//! order, the taken seats and enrollments), give back the coupon use, decide refunds of
//! captured money (each executed by its own [`refund`] job), reopen the cart if it has
//! not expired, then cancel open gateway sessions. A gateway error schedules the job
//! again with backoff.

use std::time::SystemTime;

use uuid::Uuid;

use sqlx::PgConnection;

use super::runner::{enqueue_compensation, enqueue_step, retry_delay};
use crate::domain::order::{OrderStatus, Step};
use crate::gateways::{CancelOutcome, GatewayKind, RefundRequest};
use crate::store::{carts, coupons, enrollments, holds, orders, outbox, payments, sagas};
use crate::workers::{EnqueueOptions, enqueue};
use crate::workflows::jobs::{Job, JobContext};
use crate::workflows::keys;

pub async fn compensate(ctx: &JobContext, order_id: Uuid) -> anyhow::Result<()> {
    let mut tx = ctx.pool.begin().await?;
    let Some(order) = orders::lock(&mut tx, order_id).await? else {
        return Ok(());
    };
    let status = order.status();
    holds::release_all(&mut tx, order_id).await?;
    if status == OrderStatus::Refunded {
        holds::give_back_converted(&mut tx, order_id).await?;
        enrollments::remove_for_order(&mut tx, order_id).await?;
    }
    coupons::give_back_for_order(&mut tx, order_id).await?;
    for p in payments::for_order(&mut tx, order_id).await? {
        let amount = payments::refundable(&mut tx, &p).await?;
        let (Some(gateway_payment_id), true) = (&p.gateway_payment_id, amount > 0) else {
            continue;
        };
        let key = keys::gateway_refund(&p.gateway, gateway_payment_id);
        decide_refund(
            &mut tx,
            &payments::NewRefund {
                order_id,
                payment_id: Some(p.id),
                gateway: &p.gateway,
                gateway_payment_id,
                amount,
                currency: &p.currency,
                reason: &format!("order {status}"),
                idempotency_key: &key,
            },
        )
        .await?;
    }
    carts::reopen(&mut tx, &order.cart_token).await?;
    tx.commit().await?;

    // Outside the transaction: make open sessions unpayable where the gateway can.
    let mut conn = ctx.pool.acquire().await?;
    let open: Vec<_> = payments::for_order(&mut conn, order_id)
        .await?
        .into_iter()
        .filter(|p| p.status == "created")
        .collect();
    drop(conn);
    for p in open {
        let Ok(kind) = p.gateway.parse::<GatewayKind>() else {
            continue;
        };
        let Some(gateway) = ctx.gateways.get(kind) else {
            continue;
        };
        match gateway.cancel_session(&p.gateway_order_id).await {
            Ok(CancelOutcome::Cancelled | CancelOutcome::Unsupported) => {}
            // Paid after all: confirm records it and refunds it (the order has ended).
            Ok(CancelOutcome::AlreadyPaid) => {
                let mut tx = ctx.pool.begin().await?;
                enqueue_step(&mut tx, order_id, Step::Confirm, Some("late-capture")).await?;
                tx.commit().await?;
            }
            Err(e) => return retry_compensation(ctx, order_id, &e.to_string()).await,
        }
    }
    let mut tx = ctx.pool.begin().await?;
    payments::close_open(&mut tx, order_id, "cancelled").await?;
    sagas::set_state(&mut tx, order_id, "compensated").await?;
    outbox::record(
        &mut tx,
        order_id,
        "order.compensated",
        serde_json::json!({"status": status}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%order_id, %status, "order compensated");
    Ok(())
}

async fn retry_compensation(ctx: &JobContext, order_id: Uuid, error: &str) -> anyhow::Result<()> {
    let mut tx = ctx.pool.begin().await?;
    let attempts = sagas::record_failure(&mut tx, order_id, error).await?;
    let delay = retry_delay(&ctx.settings.checkout, attempts);
    tracing::warn!(%order_id, attempts, ?delay, error, "compensation will be retried");
    let suffix = format!("retry:{attempts}");
    let run_at = SystemTime::now() + delay;
    enqueue_compensation(&mut tx, order_id, Some(&suffix), Some(run_at)).await?;
    tx.commit().await?;
    Ok(())
}

/// Decides a refund (one per captured gateway payment: its key) and enqueues the job
/// that executes it, in the caller's transaction. Returns the refund's id when it is
/// new.
pub async fn decide_refund(
    conn: &mut PgConnection,
    refund: &payments::NewRefund<'_>,
) -> anyhow::Result<Option<Uuid>> {
    let decided = payments::decide_refund(conn, refund).await?;
    if let Some(refund_id) = decided {
        enqueue_refund(conn, refund_id, None).await?;
    }
    Ok(decided)
}

/// Enqueues the job that executes a decided refund; `retry`: its attempt number and
/// when to run it again.
pub async fn enqueue_refund(
    conn: &mut PgConnection,
    refund_id: Uuid,
    retry: Option<(i32, SystemTime)>,
) -> anyhow::Result<()> {
    let options = EnqueueOptions {
        idempotency_key: Some(keys::refund_job(refund_id, retry.map(|(n, _)| n))),
        run_at: retry.map(|(_, at)| at),
        ..Default::default()
    };
    enqueue(conn, &Job::Refund { refund_id }, options).await?;
    Ok(())
}

/// Executes a decided refund at its gateway with the row's idempotency key, so a
/// re-run refunds once. Retryable gateway errors schedule it again with backoff.
pub async fn refund(ctx: &JobContext, refund_id: Uuid) -> anyhow::Result<()> {
    let mut conn = ctx.pool.acquire().await?;
    let Some(row) = payments::lock_refund(&mut conn, refund_id).await? else {
        return Ok(());
    };
    drop(conn);
    if row.status != "requested" {
        return Ok(());
    }
    let kind: GatewayKind = row
        .gateway
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let Some(gateway) = ctx.gateways.get(kind) else {
        anyhow::bail!("{kind} is not configured; refund {refund_id} cannot run");
    };
    let request = RefundRequest {
        payment_id: row.gateway_payment_id.clone(),
        amount: row.amount,
        currency: row.currency.clone(),
        idempotency_key: row.idempotency_key.clone(),
        notes: [("order_id".to_owned(), row.order_id.to_string())].into(),
    };
    let result = gateway.refund(&request).await;
    let mut tx = ctx.pool.begin().await?;
    let Some(row) = payments::lock_refund(&mut tx, refund_id).await? else {
        return Ok(());
    };
    match result {
        Ok(done) => {
            payments::refund_processed(&mut tx, &row, &done.refund_id).await?;
            outbox::record(
                &mut tx,
                row.order_id,
                "payment.refunded",
                serde_json::json!({"refund_id": done.refund_id, "amount": row.amount, "reason": row.reason}),
            )
            .await?;
        }
        Err(e) => {
            let permanent = !e.is_retryable();
            let attempts =
                payments::refund_failed(&mut tx, refund_id, &e.to_string(), permanent).await?;
            if permanent {
                tracing::error!(%refund_id, error = %e, "refund refused by the gateway; needs an operator");
            } else {
                let delay = retry_delay(&ctx.settings.checkout, attempts);
                let retry = (attempts, SystemTime::now() + delay);
                enqueue_refund(&mut tx, refund_id, Some(retry)).await?;
            }
        }
    }
    tx.commit().await?;
    Ok(())
}
