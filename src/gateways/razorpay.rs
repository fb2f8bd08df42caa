//! Razorpay client (Orders, Payments and Refunds APIs, basic auth).
//!
//! Razorpay has no idempotency key for creating orders, so creating one is made
//! idempotent here: the order carries our idempotency key in its notes and our
//! order token as `receipt`, and every attempt first looks for an order with
//! that receipt and key (`GET /v1/orders?receipt=`). A job that re-runs, or a
//! retry after a timeout, finds the order the first attempt made.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::breaker::Breaker;
use super::checks::{
    check_money, check_reference, check_refund_request, check_session_request, invalid,
};
use super::client::{ApiClient, Auth, Body, Call};
use super::error::GatewayError;
use super::signature::verify_razorpay_payment;
use super::transport::{Transport, urlencode};
use super::types::*;
use super::{Gateway, GatewayFuture};
use crate::config::{PaymentsSettings, RazorpaySettings};

const KIND: GatewayKind = GatewayKind::Razorpay;
/// Razorpay limits `receipt` to 40 characters.
pub const MAX_RECEIPT_LEN: usize = 40;
/// Razorpay allows 15 notes; one carries our idempotency key.
const MAX_NOTES: usize = 14;
/// Note key holding the idempotency key of the request that made an order.
pub const IDEMPOTENCY_NOTE: &str = "checkout_idempotency_key";

#[derive(Debug, Clone)]
pub struct RazorpayClient {
    key_id: String,
    key_secret: SecretString,
    checkout_url_template: Option<String>,
    api: ApiClient,
}

#[derive(Debug, Deserialize)]
struct Order {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    receipt: Option<String>,
    status: String,
    /// `{}` or, when empty, `[]`.
    #[serde(default)]
    notes: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Payment {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    #[serde(default)]
    order_id: Option<String>,
    #[serde(default)]
    amount_refunded: i64,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    /// Whether it was ever captured: a payment Razorpay refunded on its own
    /// because nobody captured it is `refunded` and `captured: false`.
    #[serde(default)]
    captured: bool,
}

#[derive(Debug, Deserialize)]
struct Collection<T> {
    items: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct RefundEntity {
    id: String,
    amount: i64,
    currency: String,
    payment_id: String,
    status: String,
}

impl RazorpayClient {
    /// `None` when Razorpay has no keys configured: it is then not offered.
    pub fn from_settings(
        settings: &RazorpaySettings,
        payments: &PaymentsSettings,
    ) -> Result<Option<Self>, GatewayError> {
        let Some(key_secret) = settings
            .key_secret
            .clone()
            .filter(|_| settings.is_configured())
        else {
            return Ok(None);
        };
        let key_id = settings.key_id.trim().to_owned();
        let auth = Auth::Basic {
            user: key_id.clone(),
            password: key_secret.clone(),
        };
        Ok(Some(RazorpayClient {
            key_id,
            key_secret,
            checkout_url_template: settings.checkout_url_template.clone(),
            api: ApiClient::new(
                settings.base_url.clone(),
                auth,
                Transport::new(KIND, settings.timeout(), payments)?,
            ),
        }))
    }

    /// Checks the signed fields Razorpay Checkout hands the browser after a
    /// payment, against the order id we stored for this checkout.
    pub fn verify_checkout_callback(
        &self,
        stored_order_id: &str,
        razorpay_payment_id: &str,
        razorpay_signature: &str,
    ) -> bool {
        verify_razorpay_payment(
            &self.key_secret,
            stored_order_id,
            razorpay_payment_id,
            razorpay_signature,
        )
    }

    async fn fetch_payment_object(&self, payment_id: &str) -> Result<Payment, GatewayError> {
        let path = format!("/v1/payments/{}", urlencode(payment_id));
        self.api.get("fetch_payment", &path).await
    }

    async fn find_order(&self, req: &CreateSession) -> Result<Option<Order>, GatewayError> {
        let path = format!(
            "/v1/orders?receipt={}&count=100",
            urlencode(&req.order_token)
        );
        let orders: Collection<Order> = self.api.get("find_order", &path).await?;
        Ok(orders.items.into_iter().find(|o| {
            o.receipt.as_deref() == Some(req.order_token.as_str())
                && o.notes.get(IDEMPOTENCY_NOTE).and_then(|v| v.as_str())
                    == Some(req.idempotency_key.as_str())
        }))
    }

    async fn create_order(&self, req: &CreateSession) -> Result<Order, GatewayError> {
        let mut notes: BTreeMap<&str, &str> = req
            .notes
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        notes.insert(IDEMPOTENCY_NOTE, &req.idempotency_key);
        let body = json!({
            "amount": req.amount,
            "currency": req.currency.to_ascii_uppercase(),
            "receipt": req.order_token,
            "notes": notes,
            "partial_payment": false,
        });
        let retry = self.api.retry();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(existing) = self.find_order(req).await? {
                return Ok(existing);
            }
            // Without an idempotency key the transport makes one attempt: the retry
            // must go through the lookup above.
            let create = Call::post("create_order", "/v1/orders", Body::Json(&body));
            match self.api.send(create).await {
                Ok(reply) => return reply.json(KIND),
                Err(e) if e.is_retryable() && attempt < retry.max_attempts => {
                    tracing::warn!(error = %e, attempt, "razorpay order create failed; looking up before retrying");
                    tokio::time::sleep(retry.delay(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn session_from(&self, order: Order, req: &CreateSession) -> PaymentSession {
        let checkout_url = self.checkout_url_template.as_ref().and_then(|t| {
            let page = t.replace("{order_id}", &order.id);
            reqwest::Url::parse_with_params(
                &page,
                &[
                    ("callback_url", req.return_url.as_str()),
                    ("cancel_url", req.cancel_url.as_str()),
                ],
            )
            .ok()
            .map(String::from)
        });
        let client_params = json!({
            "key": self.key_id,
            "order_id": order.id,
            "amount": order.amount,
            "currency": order.currency,
            "description": req.description,
            "callback_url": req.return_url,
            "redirect": true,
            "prefill": {"email": req.customer_email},
        });
        PaymentSession {
            gateway: KIND,
            status: order_status(&order.status),
            gateway_order_id: order.id,
            checkout_url,
            expires_at: None,
            amount: order.amount,
            currency: order.currency.to_ascii_uppercase(),
            client_params,
        }
    }
}

fn validate_request(req: &CreateSession) -> Result<(), GatewayError> {
    check_session_request(KIND, req)?;
    if req.order_token.is_empty() || req.order_token.chars().count() > MAX_RECEIPT_LEN {
        return Err(invalid(
            KIND,
            format!("order token must be 1..={MAX_RECEIPT_LEN} characters to serve as receipt"),
        ));
    }
    if req.notes.len() > MAX_NOTES {
        return Err(invalid(KIND, format!("at most {MAX_NOTES} notes")));
    }
    if req.idempotency_key.is_empty() {
        return Err(invalid(KIND, "idempotency key is required"));
    }
    Ok(())
}

/// Razorpay always answers an amount and a currency.
fn check_amount(
    object_id: &str,
    expected: &Money,
    amount: i64,
    currency: &str,
) -> Result<(), GatewayError> {
    check_money(KIND, object_id, expected, Some(amount), Some(currency))
}

fn order_status(status: &str) -> SessionStatus {
    match status {
        "paid" => SessionStatus::Paid,
        "attempted" => SessionStatus::Attempted,
        _ => SessionStatus::Open,
    }
}

fn payment_from(p: Payment) -> GatewayPayment {
    let status = match p.status.as_str() {
        "authorized" => PaymentStatus::Authorized,
        "captured" if p.amount_refunded > 0 => PaymentStatus::PartiallyRefunded,
        "captured" => PaymentStatus::Captured,
        "refunded" if p.amount_refunded < p.amount => PaymentStatus::PartiallyRefunded,
        "refunded" => PaymentStatus::Refunded,
        "failed" => PaymentStatus::Failed,
        _ => PaymentStatus::Pending,
    };
    GatewayPayment {
        gateway: KIND,
        payment_id: p.id,
        gateway_order_id: p.order_id,
        amount: p.amount,
        currency: p.currency.to_ascii_uppercase(),
        status,
        amount_refunded: p.amount_refunded,
        method: p.method,
        error: p.error_description,
    }
}

/// Razorpay's refund entity names no failure reason.
fn refund_from(refund: RefundEntity) -> Refund {
    Refund {
        gateway: KIND,
        status: RefundStatus::from_gateway(KIND, &refund.status),
        refund_id: refund.id,
        payment_id: refund.payment_id,
        amount: refund.amount,
        currency: refund.currency.to_ascii_uppercase(),
        failure_reason: None,
    }
}

impl Gateway for RazorpayClient {
    fn kind(&self) -> GatewayKind {
        KIND
    }

    fn breaker(&self) -> &Breaker {
        self.api.breaker()
    }

    fn create_session<'a>(&'a self, req: &'a CreateSession) -> GatewayFuture<'a, PaymentSession> {
        Box::pin(async move {
            validate_request(req)?;
            let order = self.create_order(req).await?;
            let expected = req.money();
            check_amount(&order.id, &expected, order.amount, &order.currency)?;
            check_reference(
                KIND,
                &order.id,
                "receipt",
                &req.order_token,
                order.receipt.as_deref(),
            )?;
            Ok(self.session_from(order, req))
        })
    }

    fn fetch_session<'a>(
        &'a self,
        gateway_order_id: &'a str,
        expected: &'a Money,
    ) -> GatewayFuture<'a, SessionReport> {
        Box::pin(async move {
            let id = urlencode(gateway_order_id);
            let order: Order = self
                .api
                .get("fetch_order", &format!("/v1/orders/{id}"))
                .await?;
            check_amount(&order.id, expected, order.amount, &order.currency)?;
            let payments: Collection<Payment> = self
                .api
                .get("fetch_order_payments", &format!("/v1/orders/{id}/payments"))
                .await?;
            let mut out = Vec::new();
            for p in payments.items {
                check_amount(&p.id, expected, p.amount, &p.currency)?;
                out.push(payment_from(p));
            }
            Ok(SessionReport {
                gateway: KIND,
                status: order_status(&order.status),
                gateway_order_id: order.id,
                amount: order.amount,
                currency: order.currency.to_ascii_uppercase(),
                reference: order.receipt,
                payments: out,
            })
        })
    }

    fn fetch_payment<'a>(
        &'a self,
        payment_id: &'a str,
        expected: &'a Money,
    ) -> GatewayFuture<'a, GatewayPayment> {
        Box::pin(async move {
            let p = self.fetch_payment_object(payment_id).await?;
            check_amount(&p.id, expected, p.amount, &p.currency)?;
            Ok(payment_from(p))
        })
    }

    fn refund<'a>(&'a self, req: &'a RefundRequest) -> GatewayFuture<'a, Refund> {
        Box::pin(async move {
            check_refund_request(KIND, req)?;
            let path = format!("/v1/payments/{}/refund", urlencode(&req.payment_id));
            let body = json!({"amount": req.amount, "notes": req.notes, "speed": "normal"});
            // X-Refund-Idempotency makes a repeat return the first refund.
            let call = Call::post("refund", &path, Body::Json(&body))
                .idempotent("X-Refund-Idempotency", &req.idempotency_key);
            let refund: RefundEntity = self.api.call(call).await?;
            check_amount(
                &refund.id,
                &Money::new(req.amount, &req.currency),
                refund.amount,
                &refund.currency,
            )?;
            check_reference(
                KIND,
                &refund.id,
                "payment_id",
                &req.payment_id,
                Some(&refund.payment_id),
            )?;
            Ok(refund_from(refund))
        })
    }

    fn capture<'a>(
        &'a self,
        payment_id: &'a str,
        expected: &'a Money,
        _idempotency_key: &'a str,
    ) -> GatewayFuture<'a, GatewayPayment> {
        Box::pin(async move {
            let path = format!("/v1/payments/{}/capture", urlencode(payment_id));
            let body = json!({"amount": expected.amount, "currency": expected.currency});
            // Razorpay takes no idempotency key here: one attempt, and a repeat is
            // recognised by the payment already being captured for `expected`.
            let captured: Result<Payment, GatewayError> = self
                .api
                .call(Call::post("capture", &path, Body::Json(&body)))
                .await;
            let payment = match captured {
                Ok(p) => p,
                Err(e) if e.is_bad_request() => {
                    let p = self.fetch_payment_object(payment_id).await?;
                    if !p.captured {
                        return Err(e);
                    }
                    p
                }
                Err(e) => return Err(e),
            };
            check_reference(
                KIND,
                &payment.id,
                "id",
                payment_id,
                Some(payment.id.as_str()),
            )?;
            check_amount(&payment.id, expected, payment.amount, &payment.currency)?;
            Ok(payment_from(payment))
        })
    }

    fn void<'a>(&'a self, _payment_id: &'a str) -> GatewayFuture<'a, VoidOutcome> {
        // Razorpay cannot void an authorization; it refunds it on its own when the
        // capture window closes.
        Box::pin(async { Ok(VoidOutcome::LeftToLapse) })
    }

    fn fetch_refund<'a>(&'a self, refund_id: &'a str) -> GatewayFuture<'a, Refund> {
        Box::pin(async move {
            let path = format!("/v1/refunds/{}", urlencode(refund_id));
            let refund: RefundEntity = self.api.get("fetch_refund", &path).await?;
            check_reference(KIND, &refund.id, "id", refund_id, Some(refund.id.as_str()))?;
            Ok(refund_from(refund))
        })
    }

    fn cancel_session<'a>(&'a self, gateway_order_id: &'a str) -> GatewayFuture<'a, CancelOutcome> {
        Box::pin(async move {
            // Razorpay orders cannot be cancelled; report whether it was paid.
            let order: Order = self
                .api
                .get(
                    "fetch_order",
                    &format!("/v1/orders/{}", urlencode(gateway_order_id)),
                )
                .await?;
            Ok(match order_status(&order.status) {
                SessionStatus::Paid => CancelOutcome::AlreadyPaid,
                _ => CancelOutcome::Unsupported,
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "razorpay_fixtures.rs"]
mod fixtures;
