//! `payment_session`: create the gateway session (failing over between gateways),
//! record every session created, and wait for the payment.

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::Utc;
use uuid::Uuid;

use super::prepare::skip;
use super::runner::{Failure, Outcome, StepError, StepResult, begin, enqueue_fresh_step};
use crate::domain::codes::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::gateways::{CreateSession, GatewayError, GatewayKind, Gateways, PaymentSession};
use crate::store::outbox::Event;
use crate::store::{orders, payments};
use crate::workflows::jobs::JobContext;

/// A free order (a coupon covers the whole total) is paid as it stands: no session, no
/// gateway call; the saga goes straight on to `enroll`.
async fn free(ctx: &JobContext, order_id: Uuid) -> StepResult<'static> {
    let Some((mut tx, order)) = begin(ctx, order_id, Step::PaymentSession).await? else {
        return skip(ctx).await;
    };
    orders::transition(&mut tx, &order, OrderStatus::Paid, None).await?;
    let paid = Event::new(
        "order.paid",
        serde_json::json!({"amount": 0, "currency": order.currency, "payment_required": false}),
    );
    Ok((tx, Outcome::Then(Step::Enroll, Some(paid))))
}

pub async fn create(ctx: &JobContext, order_id: Uuid) -> StepResult<'static> {
    // Read without locks: the gateway call must not run inside a transaction.
    let mut conn = crate::store::acquire(&ctx.pool).await?;
    let Some(order) = orders::at_step(&mut conn, order_id, Step::PaymentSession, false).await?
    else {
        return skip(ctx).await;
    };
    drop(conn);
    let (Some(total), Some(currency)) = (order.total, order.currency.clone()) else {
        return Err(StepError::Other(anyhow::anyhow!(
            "order has no frozen price"
        )));
    };
    if !crate::domain::order::payment_required(total) {
        return free(ctx, order_id).await;
    }
    let settings = &ctx.settings.checkout;
    let expires_at = Utc::now() + chrono::Duration::seconds(settings.session_ttl_secs as i64);
    let request =
        CreateSession {
            order_token: order.order_token.clone(),
            amount: total,
            currency,
            // same key on every run of this step: the gateway hands back the same session
            idempotency_key: crate::workflows::keys::payment_session(order_id),
            description: "Internship program enrollment".into(),
            return_url: order.return_url.clone().unwrap_or_else(|| {
                format!("{}/order/{}", settings.public_base_url, order.order_token)
            }),
            cancel_url: order.cancel_url.clone().unwrap_or_else(|| {
                format!("{}/order/{}", settings.public_base_url, order.order_token)
            }),
            notes: BTreeMap::from([("order_id".to_owned(), order_id.to_string())]),
            expires_at: Some(expires_at),
            customer_email: None,
        };
    let gateways = preferred_first(&ctx.gateways, order.gateway.as_deref());
    let report = gateways.create_session(&request).await;
    super::runner::crash_test_pause(ctx).await;

    // Record every session created, even if another run of this step got there first
    // (then only record): a payment on any of them must be seen. When the saga is still
    // here, recording and advancing share one transaction.
    let Some((mut tx, order)) = begin(ctx, order_id, Step::PaymentSession).await? else {
        let mut tx = crate::store::begin(&ctx.pool).await?;
        orders::lock(&mut tx, order_id).await?;
        for session in report.created() {
            record(&mut tx, order_id, session, expires_at).await?;
        }
        return Ok((tx, Outcome::Skip));
    };
    for session in report.created() {
        record(&mut tx, order_id, session, expires_at).await?;
    }
    for (gateway, id) in report.possibly_orphaned() {
        tracing::warn!(%order_id, %gateway, ?id, "a session may exist at the gateway without our record; a payment on it is matched by receipt and refunded");
    }
    let Some(session) = report.session().cloned() else {
        tx.commit().await?;
        let last_gateway = report.attempts.last().map(|a| a.gateway);
        return match report.into_result() {
            // an outage (timeouts, 5xx, open breakers): retry later with backoff
            Err(e) if e.is_retryable() || matches!(e, GatewayError::CircuitOpen { .. }) => {
                Err(StepError::Gateway(e.to_string()))
            }
            // refused for good (bad request, auth, no gateway): retrying cannot help
            Err(e) => {
                // a payment that could not even start; counted after the commit above
                // (the order's failure is written in a transaction of the runner's)
                if let Some(gateway) = last_gateway {
                    metrics::counter!("payments_failed_total",
                        "gateway" => gateway.as_str(), "reason" => "error")
                    .increment(1);
                }
                Ok((
                    crate::store::begin(&ctx.pool).await?,
                    Outcome::Fail(Failure::new(
                        OrderStatus::Failed,
                        ErrorCode::GatewayRefused.as_u32(),
                        format!("the payment gateway refused the session: {e}"),
                    )),
                ))
            }
            Ok(_) => Err(StepError::Gateway("no session created".into())),
        };
    };
    orders::transition(&mut tx, &order, OrderStatus::AwaitingPayment, None).await?;
    // At expiry, `confirm` reconciles once more and expires the order if unpaid.
    let expiry_check = session
        .expires_at
        .unwrap_or(expires_at)
        .checked_add_signed(chrono::Duration::seconds(2))
        .unwrap_or(expires_at);
    // Fresh: only this step writes `{order}:confirm:expiry`, and it runs once per order
    // (the saga leaves payment_session for good at this commit, under its lock).
    enqueue_fresh_step(
        &mut tx,
        order_id,
        Step::Confirm,
        Some("expiry"),
        Some(SystemTime::from(expiry_check)),
    )
    .await?;
    let created = Event::new(
        "payment.session_created",
        serde_json::json!({"gateway": session.gateway, "gateway_order_id": session.gateway_order_id}),
    );
    Ok((tx, Outcome::WaitAt(Step::Confirm, Some(created))))
}

/// Records a session; `ttl_end` is our own session deadline, used when the gateway's
/// session has none (Razorpay orders do not expire by themselves).
async fn record(
    conn: &mut sqlx::PgConnection,
    order_id: Uuid,
    session: &PaymentSession,
    ttl_end: chrono::DateTime<Utc>,
) -> Result<(), StepError> {
    let token = crate::carts::random_token(24);
    let expires_at = session.expires_at.unwrap_or(ttl_end);
    payments::record_session(
        conn,
        &payments::NewPayment {
            order_id,
            payment_token: &token,
            gateway: session.gateway.as_str(),
            gateway_order_id: &session.gateway_order_id,
            checkout_url: session.checkout_url.as_deref(),
            client_params: &session.client_params,
            amount: session.amount,
            currency: &session.currency,
            expires_at,
        },
    )
    .await?;
    Ok(())
}

/// The configured failover order, with the buyer's preferred gateway first.
fn preferred_first(gateways: &Gateways, preferred: Option<&str>) -> Gateways {
    let Some(kind) = preferred.and_then(|p| p.parse::<GatewayKind>().ok()) else {
        return gateways.clone();
    };
    let mut order = Vec::new();
    if let Some(g) = gateways.get(kind) {
        order.push(g.clone());
    }
    for other in gateways.offered() {
        if other != kind
            && let Some(g) = gateways.get(other)
        {
            order.push(g.clone());
        }
    }
    Gateways::new(order)
}
