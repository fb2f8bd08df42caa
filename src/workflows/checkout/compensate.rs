//! Compensation of a failed, expired, cancelled or refunded order.
//!
//! Runs backwards from wherever the order stopped; every part is guarded by a status
//! so a re-run does nothing twice: release seat holds (and, for a refunded enrolled
//! order, the taken seats and enrollments), give back the coupon use, decide refunds of
//! captured money (each executed by its own job, [`super::refunds`]), reopen the cart if it has
//! not expired, then cancel open gateway sessions. A gateway error schedules the job
//! again with backoff.

use std::time::SystemTime;

use uuid::Uuid;

use super::refunds::decide_refund;
use super::runner::{enqueue_compensation, enqueue_step, retry_delay};
use crate::domain::codes::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::gateways::{CancelOutcome, GatewayKind};
use crate::store::refunds::{self, NewRefund};
use crate::store::{carts, coupons, enrollments, holds, orders, outbox, payments, sagas};
use crate::telemetry::on_commit;
use crate::workflows::jobs::JobContext;
use crate::workflows::keys;

pub async fn compensate(ctx: &JobContext, order_id: Uuid) -> anyhow::Result<()> {
    let mut tx = crate::store::begin(&ctx.pool).await?;
    let Some(order) = orders::lock(&mut tx, order_id).await? else {
        return Ok(());
    };
    let status = order.status();
    release_holds(&mut tx, order_id).await?;
    if status == OrderStatus::Refunded {
        holds::give_back_converted(&mut tx, order_id).await?;
        enrollments::remove_for_order(&mut tx, order_id).await?;
    }
    coupons::give_back_for_order(&mut tx, order_id).await?;
    for p in payments::for_order(&mut tx, order_id).await? {
        let amount = refunds::refundable(&mut tx, &p).await?;
        let (Some(gateway_payment_id), true) = (&p.gateway_payment_id, amount > 0) else {
            continue;
        };
        let key = keys::gateway_refund(&p.gateway, gateway_payment_id);
        decide_refund(
            &mut tx,
            &NewRefund {
                order_id,
                payment_id: Some(p.id),
                gateway: &p.gateway,
                gateway_payment_id,
                amount,
                currency: &p.currency,
                reason: &format!("order {status}"),
                idempotency_key: &key,
            },
            refund_reason(status, order.failure_code),
        )
        .await?;
    }
    carts::reopen(&mut tx, &order.cart_token).await?;
    tx.commit().await?;
    on_commit::committed();

    // Outside the transaction: make open sessions unpayable where the gateway can.
    let mut conn = crate::store::acquire(&ctx.pool).await?;
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
            // a cancelled order's open session is a payment that will not come
            Ok(CancelOutcome::Cancelled | CancelOutcome::Unsupported)
                if status == OrderStatus::Cancelled =>
            {
                on_commit::count(move || {
                    metrics::counter!("payments_failed_total", "gateway" => kind.as_str(),
                        "reason" => "cancelled")
                    .increment(1)
                });
            }
            Ok(CancelOutcome::Cancelled | CancelOutcome::Unsupported) => {}
            // Paid after all: confirm records it and refunds it (the order has ended).
            Ok(CancelOutcome::AlreadyPaid) => {
                let mut tx = crate::store::begin(&ctx.pool).await?;
                enqueue_step(&mut tx, order_id, Step::Confirm, Some("late-capture")).await?;
                tx.commit().await?;
            }
            Err(e) => return retry_compensation(ctx, order_id, &e.to_string()).await,
        }
    }
    let mut tx = crate::store::begin(&ctx.pool).await?;
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
    on_commit::committed();
    tracing::info!(%order_id, %status, "order compensated");
    Ok(())
}

/// Why compensation refunds a capture, as `refunds_requested_total{reason}`.
fn refund_reason(status: OrderStatus, failure_code: Option<i32>) -> &'static str {
    let code = failure_code.and_then(|c| u32::try_from(c).ok());
    match status {
        OrderStatus::Refunded if code == Some(ErrorCode::NoSeatAfterPayment.as_u32()) => {
            "cohort_full"
        }
        OrderStatus::Refunded if code == Some(ErrorCode::AlreadyEnrolled.as_u32()) => {
            "already_enrolled"
        }
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Failed | OrderStatus::Expired => "order_ended",
        _ => "other",
    }
}

async fn retry_compensation(ctx: &JobContext, order_id: Uuid, error: &str) -> anyhow::Result<()> {
    let mut tx = crate::store::begin(&ctx.pool).await?;
    let attempts = sagas::record_failure(&mut tx, order_id, error).await?;
    let delay = retry_delay(&ctx.settings.checkout, attempts);
    tracing::warn!(%order_id, attempts, ?delay, error, "compensation will be retried");
    let suffix = format!("retry:{attempts}");
    let run_at = SystemTime::now() + delay;
    enqueue_compensation(&mut tx, order_id, Some(&suffix), Some(run_at)).await?;
    tx.commit().await?;
    Ok(())
}

/// Releases the order's held seats (under its lock), each with its event:
/// `seat_hold.expired` for a hold past its expiry, else `seat_hold.released`. Returns
/// how many were released.
pub async fn release_holds(conn: &mut sqlx::PgConnection, order_id: Uuid) -> anyhow::Result<u64> {
    let released = holds::release_all(conn, order_id).await?;
    for hold in &released {
        let event = if hold.expired {
            "seat_hold.expired"
        } else {
            "seat_hold.released"
        };
        let data = serde_json::json!({"cohort_id": hold.cohort_id, "expires_at": hold.expires_at});
        outbox::record(conn, order_id, event, data).await?;
    }
    Ok(released.len() as u64)
}
