//! `checkout admin orders refund TOKEN [--amount MINOR] [--key ID]`.
//!
//! Decides a refund of captured money (`store::payments::decide_refund`) and enqueues
//! its job (`compensate::enqueue_refund`), with the audit row, in one transaction. The
//! refund's idempotency key is `admin-refund:{order}:{amount}:{key}`: the same command
//! run again finds the refund decided and changes nothing. Money only: the order's
//! status, seats and enrollments are left as they are.

use serde_json::json;

use super::output::emit;
use super::{Admin, audit};
use crate::store::{orders, payments};
use crate::workflows::checkout::compensate::enqueue_refund;

pub async fn refund(
    admin: &Admin,
    token: &str,
    amount: Option<i64>,
    key: &str,
) -> anyhow::Result<()> {
    let order = admin.order(token).await?;
    let mut tx = admin.pool.begin().await?;
    orders::lock(&mut tx, order.id).await?;
    // the payment with the most still refundable
    let mut best = None;
    for p in payments::for_order(&mut tx, order.id).await? {
        let refundable = payments::refundable(&mut tx, &p).await?;
        if p.gateway_payment_id.is_some() && best.as_ref().is_none_or(|(_, r)| refundable > *r) {
            best = Some((p, refundable));
        }
    }
    let Some((payment, refundable)) = best else {
        anyhow::bail!("order {token} has no captured payment: there is nothing to refund");
    };
    let amount = amount.unwrap_or(refundable);
    let idempotency_key = format!("admin-refund:{}:{amount}:{key}", order.id);
    let existing = payments::refund_by_key(&mut tx, &idempotency_key).await?;
    if let Some((id, status)) = existing {
        let out = json!({"order": token, "refund_id": id, "amount": amount, "status": status, "new": false});
        return emit(admin.json, &out, || {
            println!(
                "order {token}: refund {id} of {amount} was already decided ({status}); nothing done"
            )
        });
    }
    if amount <= 0 {
        anyhow::bail!("order {token}: the amount must be positive (refundable: {refundable})");
    }
    if amount > refundable {
        anyhow::bail!(
            "order {token}: {amount} is above the refundable amount {refundable} {} \
             (captured {}, refunds decided so far {})",
            payment.currency,
            payment.captured_amount,
            payment.captured_amount - refundable
        );
    }
    let gateway_payment_id = payment.gateway_payment_id.clone().unwrap_or_default();
    let reason = format!("refunded by operator {}", admin.actor);
    let decided = payments::decide_refund(
        &mut tx,
        &payments::NewRefund {
            order_id: order.id,
            payment_id: Some(payment.id),
            gateway: &payment.gateway,
            gateway_payment_id: &gateway_payment_id,
            amount,
            currency: &payment.currency,
            reason: &reason,
            idempotency_key: &idempotency_key,
        },
    )
    .await?;
    let Some(refund_id) = decided else {
        anyhow::bail!("order {token}: a concurrent run decided this refund; run the command again");
    };
    enqueue_refund(&mut tx, refund_id, None).await?;
    let before = json!({"captured": payment.captured_amount, "refundable": refundable});
    let after =
        json!({"refund_id": refund_id, "amount": amount, "refundable": refundable - amount});
    audit::write(
        &mut tx,
        admin,
        "orders.refund",
        token,
        &idempotency_key,
        Some(before),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"order": token, "refund_id": refund_id, "amount": amount,
                     "currency": payment.currency, "status": "requested", "new": true});
    emit(admin.json, &out, || {
        println!(
            "order {token}: refund {refund_id} of {amount} {} decided; the refund job asks {}",
            payment.currency, payment.gateway
        )
    })
}
