//! Starting a checkout from a cart, and the order as the API shows it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::changes::{Heard, OrderChanges};
use super::runner::enqueue_fresh_step;
use crate::carts::CartError;
use crate::config::Settings;
use crate::domain::BillingAddress;
use crate::domain::codes::ErrorCode;
use crate::domain::order::{OrderStatus, Step};
use crate::gateways::{GatewayKind, Gateways};
use crate::store::{enrollments, holds, orders, sagas};
use crate::telemetry::on_commit;
use crate::workflows::cart_pricing;
use crate::workflows::{FlowError, FlowResult};

/// What starting a checkout needs besides the request.
pub struct Checkout<'a> {
    pub pool: &'a PgPool,
    pub settings: &'a Settings,
    pub gateways: &'a Gateways,
}

pub struct OrderRequest {
    pub cart_token: String,
    pub billing_address: BillingAddress,
    pub gateway: Option<String>,
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
}

/// Creates the order for the caller's cart in one short transaction: lock the cart,
/// check it is active and priceable, insert the order and its saga, freeze the cart,
/// enqueue `price`. Returns the order id and whether it was created now (false: the
/// cart already had an order, which is returned instead of a second one).
pub async fn create(
    state: Checkout<'_>,
    user_id: Uuid,
    req: OrderRequest,
) -> FlowResult<(Uuid, bool)> {
    let mut problems = Vec::new();
    if let Some(g) = &req.gateway
        && (g.parse::<GatewayKind>().is_err()
            || !state.gateways.offered().iter().any(|k| k.as_str() == g))
    {
        problems.push(format!(
            "gateway: `{g}` is not offered (offered: {:?})",
            state.gateways.offered()
        ));
    }
    for (field, url) in [
        ("return_url", &req.return_url),
        ("cancel_url", &req.cancel_url),
    ] {
        if let Some(url) = url
            && !redirect_allowed(url, &state.settings.checkout.allowed_redirect_origins)
        {
            problems.push(format!("{field}: origin is not in the allowed list"));
        }
    }
    if !problems.is_empty() {
        return Err(FlowError::Validation(problems));
    }

    let mut tx = crate::store::begin(state.pool).await?;
    let Some(cart) = cart_pricing::lock_cart_for_order(&mut tx, &req.cart_token, user_id).await?
    else {
        let existing = orders::by_cart(&mut tx, &req.cart_token).await?;
        return match existing {
            Some(o) if o.user_id == user_id => Ok((o.id, false)),
            _ => Err(CartError::Converted.into()),
        };
    };
    // Price now so a cart that cannot be priced (empty, coupon no longer valid, FX rate
    // missing, unknown state) is refused here with its own code, not as a failed order.
    cart_pricing::price_cart(&mut tx, &cart, &req.billing_address, state.settings).await?;
    let order_id = Uuid::now_v7();
    // 192 bits in 32 characters: Razorpay's `receipt` holds at most 40
    let order_token = crate::carts::random_token(24);
    let correlation_id = crate::telemetry::correlation_id();
    let trace_context = crate::telemetry::traces::current_traceparent();
    // A frontend cannot know the order token before this call; `{order_token}` in its
    // URLs stands for it (as Stripe's `{CHECKOUT_SESSION_ID}` does for sessions).
    let return_url = req
        .return_url
        .map(|u| u.replace(ORDER_TOKEN_PLACEHOLDER, &order_token));
    let cancel_url = req
        .cancel_url
        .map(|u| u.replace(ORDER_TOKEN_PLACEHOLDER, &order_token));
    let inserted = orders::insert(
        &mut tx,
        &orders::NewOrder {
            id: order_id,
            order_token: &order_token,
            user_id,
            cart_token: &req.cart_token,
            billing_address: &req.billing_address,
            coupon_code: cart.coupon_code.as_deref(),
            gateway: req.gateway.as_deref(),
            return_url: return_url.as_deref(),
            cancel_url: cancel_url.as_deref(),
            correlation_id: &correlation_id,
            trace_context: trace_context.as_deref(),
        },
    )
    .await?;
    if !inserted {
        let existing = orders::by_cart(&mut tx, &req.cart_token).await?;
        return match existing {
            Some(o) if o.user_id == user_id => Ok((o.id, false)),
            _ => Err(CartError::Converted.into()),
        };
    }
    crate::store::carts::freeze(&mut tx, &req.cart_token, user_id).await?;
    enqueue_fresh_step(&mut tx, order_id, Step::Price, None, None).await?;
    crate::store::outbox::record(
        &mut tx,
        order_id,
        "order.created",
        serde_json::json!({"user_id": user_id}),
    )
    .await?;
    tx.commit().await?;
    // the cart froze and the order was inserted in that one transaction
    metrics::counter!("orders_created_total").increment(1);
    metrics::counter!("carts_converted_total").increment(1);
    tracing::info!(%order_id, "order created");
    Ok((order_id, true))
}

/// Cancels an order that is not paid yet: it fails as `cancelled` and its compensation
/// gives back seats, coupon and sessions and reopens the cart.
pub async fn cancel(pool: &PgPool, order_id: Uuid) -> FlowResult<()> {
    on_commit::scope(cancel_counted(pool, order_id)).await
}

async fn cancel_counted(pool: &PgPool, order_id: Uuid) -> FlowResult<()> {
    let mut tx = crate::store::begin(pool).await?;
    let Some(locked) = orders::lock(&mut tx, order_id).await? else {
        return Err(FlowError::OrderNotFound);
    };
    if !locked.status().accepts_payment() {
        return Err(FlowError::OrderNotCancellable(locked.status));
    }
    super::runner::fail(
        &mut tx,
        order_id,
        &super::Failure::new(
            OrderStatus::Cancelled,
            ErrorCode::OrderCancelled.as_u32(),
            "cancelled by the student",
        ),
    )
    .await?;
    tx.commit().await?;
    on_commit::committed();
    Ok(())
}

/// Replaced by the new order's token in `return_url` and `cancel_url`.
pub const ORDER_TOKEN_PLACEHOLDER: &str = "{order_token}";

/// `scheme://host[:port]` of `url` must equal one of the allowed origins.
fn redirect_allowed(url: &str, allowed: &[String]) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') || host.contains('\\') {
        return false;
    }
    let origin = format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    );
    allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(&origin))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    /// Bearer capability for `POST /api/v1/payments/{payment_token}/verify`.
    pub payment_token: String,
    pub gateway: String,
    pub gateway_order_id: String,
    /// The hosted page to send the buyer to (Stripe; the sandbox for both).
    pub checkout_url: Option<String>,
    /// What the frontend needs to open the gateway's checkout (e.g. Razorpay key and
    /// order id). Never secrets.
    pub client_params: Value,
    pub amount: i64,
    pub currency: String,
    /// created, captured, failed, expired, cancelled, refunded, partially_refunded
    pub status: String,
    pub refunded_amount: i64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailureView {
    pub code: i32,
    pub reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub order_token: String,
    /// pending, awaiting_payment, paid, enrolled, failed, expired, cancelled, refunded
    pub status: String,
    pub currency: Option<String>,
    pub subtotal: Option<i64>,
    pub discount: Option<i64>,
    pub tax: Option<i64>,
    pub total: Option<i64>,
    /// False for a free order (its total is zero): no payment session is created and it
    /// is enrolled without one.
    pub payment_required: bool,
    /// The buyer's GSTIN for a B2B order (its state is the place of supply), else null.
    #[schema(pattern = "^[0-9]{2}[A-Z]{5}[0-9]{4}[A-Z][1-9A-Z][0-9A-Z]{2}$")]
    pub gstin: Option<String>,
    /// The frozen price breakdown (lines, tax components, discounts, FX rate).
    pub price: Option<Value>,
    /// The session to pay now (the newest payable one), if any.
    pub payment: Option<PaymentView>,
    /// Every session created for the order.
    pub payments: Vec<PaymentView>,
    pub holds: Vec<holds::Hold>,
    pub enrollments: Vec<enrollments::Enrollment>,
    pub failure: Option<FailureView>,
    /// Why the last payment attempt failed (the order can still be paid).
    pub last_payment_error: Option<String>,
    /// Where the saga stands: its step and state.
    pub step: Option<String>,
    pub step_state: Option<String>,
    pub timeline: Vec<sagas::StepRecord>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OrderView {
    pub fn is_terminal(&self) -> bool {
        self.status
            .parse::<OrderStatus>()
            .map(|s| s.is_terminal())
            .unwrap_or(true)
    }
}

pub async fn view(pool: &PgPool, order_id: Uuid) -> FlowResult<OrderView> {
    let orders::Detail {
        order,
        saga_step,
        saga_state,
        payments,
        holds,
        enrollments,
        timeline,
    } = orders::detail(&mut *crate::store::acquire(pool).await?, order_id)
        .await?
        .ok_or(FlowError::OrderNotFound)?;
    let payments: Vec<PaymentView> = payments
        .0
        .into_iter()
        .map(|p| PaymentView {
            payment_token: p.payment_token,
            gateway: p.gateway,
            gateway_order_id: p.gateway_order_id,
            checkout_url: p.checkout_url,
            client_params: p.client_params,
            amount: p.amount,
            currency: p.currency,
            status: p.status,
            refunded_amount: p.refunded_amount,
            expires_at: p.expires_at,
        })
        .collect();
    let payment = payments
        .iter()
        .rev()
        .find(|p| p.status == "created" || p.status == "captured")
        .cloned();
    Ok(OrderView {
        failure: order.failure_code.map(|code| FailureView {
            code,
            reason: order.failure_reason.clone().unwrap_or_default(),
        }),
        last_payment_error: order.last_payment_error,
        holds: holds.0,
        enrollments: enrollments.0,
        timeline: timeline.0,
        step: saga_step,
        step_state: saga_state,
        order_token: order.order_token,
        status: order.status,
        currency: order.currency,
        subtotal: order.subtotal,
        discount: order.discount,
        tax: order.tax,
        payment_required: order
            .total
            .is_none_or(crate::domain::order::payment_required),
        total: order.total,
        gstin: order.gstin,
        price: order.price_snapshot,
        payment,
        payments,
        created_at: order.created_at,
        updated_at: order.updated_at,
    })
}

/// Waits while the order's status is `from`, at most `wait`, and returns the order then.
/// Between checks it sleeps until the order changes ([`super::changes`]). The status is
/// read once at the start, then taken from the notifications of the order's changes;
/// it is read again only after a change that does not say it (a payment's) or a quiet
/// [`super::changes::FALLBACK`]. The full view (one query) is read once, at the end.
///
/// `known`: the status the caller read or wrote just before (nothing awaited since), used
/// instead of the first read. A change committed between that read and the start of the
/// wait is then noticed by a re-read after [`super::changes::FALLBACK_UNWATCHED`].
pub async fn wait_while(
    pool: &PgPool,
    changes: &OrderChanges,
    order_id: Uuid,
    from: &str,
    known: Option<String>,
    wait: std::time::Duration,
) -> FlowResult<OrderView> {
    if !wait.is_zero() {
        let deadline = std::time::Instant::now() + wait;
        let mut watch = changes.watch(order_id);
        let mut quiet = if known.is_some() {
            super::changes::FALLBACK_UNWATCHED
        } else {
            super::changes::FALLBACK
        };
        let mut status = known;
        loop {
            if status.is_none() {
                watch.seen();
                status = orders::status(&mut *crate::store::acquire(pool).await?, order_id).await?;
                if status.is_none() {
                    break;
                }
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if status.as_deref() != Some(from) || left.is_zero() {
                break;
            }
            status = match watch.changed(left.min(quiet)).await {
                Some(Heard::Status(s)) => Some(s),
                Some(Heard::Changed) | None => None,
            };
            quiet = super::changes::FALLBACK;
        }
    }
    view(pool, order_id).await
}

#[cfg(test)]
mod tests {
    use super::redirect_allowed;

    #[test]
    fn redirects_only_to_allowed_origins() {
        let allowed = vec![
            "https://shop.example.com".to_owned(),
            "http://127.0.0.1:8080".to_owned(),
        ];
        assert!(redirect_allowed(
            "https://shop.example.com/order/x?y=1",
            &allowed
        ));
        assert!(redirect_allowed("http://127.0.0.1:8080/", &allowed));
        assert!(!redirect_allowed(
            "https://shop.example.com.evil.io/",
            &allowed
        ));
        assert!(!redirect_allowed(
            "https://evil.io@shop.example.com/",
            &allowed
        ));
        assert!(!redirect_allowed("//evil.io/", &allowed));
        assert!(!redirect_allowed("javascript:alert(1)", &allowed));
        assert!(
            !redirect_allowed("http://shop.example.com/", &allowed),
            "scheme matters"
        );
    }
}
