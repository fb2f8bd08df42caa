//! `checkout admin orders refund TOKEN [--amount MINOR | --retry] [--key ID]`.
//!
//! Decides a refund of captured money and enqueues its job
//! (`workflows::checkout::refunds::decide_refund`), with the audit row, in one transaction. The
//! refund's idempotency key is `admin-refund:{order}:{amount}:{key}`: the same command
//! run again finds the refund decided and changes nothing. Money only: the order's
//! status, seats and enrollments are left as they are.

use serde_json::json;

use super::output::emit;
use super::{Admin, audit};
use crate::store::refunds::{self, NewRefund};
use crate::store::{orders, payments};
use crate::workflows::checkout::refunds::{decide_refund, retry_failed};

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
        let refundable = refunds::refundable(&mut tx, &p).await?;
        if p.gateway_payment_id.is_some() && best.as_ref().is_none_or(|(_, r)| refundable > *r) {
            best = Some((p, refundable));
        }
    }
    let Some((payment, refundable)) = best else {
        anyhow::bail!("order {token} has no captured payment: there is nothing to refund");
    };
    let amount = amount.unwrap_or(refundable);
    let idempotency_key = format!("admin-refund:{}:{amount}:{key}", order.id);
    let existing = refunds::by_key(&mut tx, &idempotency_key).await?;
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
    let decided = decide_refund(
        &mut tx,
        &NewRefund {
            order_id: order.id,
            payment_id: Some(payment.id),
            gateway: &payment.gateway,
            gateway_payment_id: &gateway_payment_id,
            amount,
            currency: &payment.currency,
            reason: &reason,
            idempotency_key: &idempotency_key,
        },
        "admin",
    )
    .await?;
    let Some(refund_id) = decided else {
        anyhow::bail!("order {token}: a concurrent run decided this refund; run the command again");
    };
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

/// `orders refund TOKEN --retry [--key ID]`: each of the order's `failed` refunds is
/// refunded again (its next generation, a new gateway key), with the audit row.
pub async fn retry(admin: &Admin, token: &str, key: &str) -> anyhow::Result<()> {
    let order = admin.order(token).await?;
    let mut tx = admin.pool.begin().await?;
    orders::lock(&mut tx, order.id).await?;
    let failed: Vec<_> = refunds::for_order(&mut tx, order.id)
        .await?
        .into_iter()
        .filter(|r| r.status == "failed")
        .collect();
    if failed.is_empty() {
        anyhow::bail!("order {token} has no failed refund: there is nothing to retry");
    }
    let mut retried = Vec::new();
    for r in &failed {
        if retry_failed(&mut tx, r.id, key).await? {
            retried.push(
                json!({"refund_id": r.id, "amount": r.amount, "currency": r.currency,
                                "last_error": r.last_error}),
            );
        }
    }
    let before = json!({"failed": failed.iter().map(|r| r.id).collect::<Vec<_>>()});
    let after = json!({"retried": retried});
    let generations: Vec<String> = failed.iter().map(|r| r.generation.to_string()).collect();
    let request = format!("refund-retry:{}:{}:{key}", order.id, generations.join("-"));
    audit::write(
        &mut tx,
        admin,
        "orders.refund_retry",
        token,
        &request,
        Some(before),
        Some(after),
    )
    .await?;
    tx.commit().await?;
    let out = json!({"order": token, "retried": retried});
    emit(admin.json, &out, || {
        println!(
            "order {token}: {} failed refund(s) will be refunded again; the refund job asks the gateway",
            retried.len()
        )
    })
}
