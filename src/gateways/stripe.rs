//! Stripe client (Checkout Sessions, PaymentIntents, Refunds; form-encoded,
//! bearer secret key).
//!
//! Every write carries an `Idempotency-Key`: Stripe stores the first answer
//! per key for 24 hours and replays it, so retries and re-run jobs get the same
//! session or refund back instead of a second one.

use serde::Deserialize;
use serde_json::json;

use super::breaker::Breaker;
use super::checks::{
    check_money, check_reference, check_refund_request, check_session_request, invalid,
};
use super::client::{ApiClient, Auth, Body, Call};
use super::error::GatewayError;
use super::transport::{Reply, Transport, urlencode};
use super::types::*;
use super::{Gateway, GatewayFuture};
use crate::config::{CaptureMethod, PaymentsSettings, StripeSettings};

const KIND: GatewayKind = GatewayKind::Stripe;
/// Stripe allows 50 metadata keys; we send few.
const MAX_METADATA: usize = 40;

#[derive(Debug, Clone)]
pub struct StripeClient {
    api: ApiClient,
    capture_method: CaptureMethod,
}

#[derive(Debug, Deserialize)]
struct Session {
    id: String,
    #[serde(default)]
    amount_total: Option<i64>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    client_reference_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    payment_status: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    expires_at: Option<i64>,
    /// An id, or an object when expanded.
    #[serde(default)]
    payment_intent: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<serde_json::Value>,
    #[serde(default)]
    payment_method_types: Vec<String>,
    /// Expanded with `expand[]=latest_charge` to read refunds.
    #[serde(default)]
    latest_charge: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RefundObject {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    payment_intent: Option<String>,
    #[serde(default)]
    charge: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    failure_reason: Option<String>,
}

impl StripeClient {
    /// `None` when Stripe has no secret key: it is then not offered.
    pub fn from_settings(
        settings: &StripeSettings,
        payments: &PaymentsSettings,
    ) -> Result<Option<Self>, GatewayError> {
        let Some(secret_key) = settings
            .secret_key
            .clone()
            .filter(|_| settings.is_configured())
        else {
            return Ok(None);
        };
        Ok(Some(StripeClient {
            api: ApiClient::new(
                settings.base_url.clone(),
                Auth::Bearer(secret_key),
                Transport::new(KIND, settings.timeout(), payments)?,
            ),
            capture_method: settings.capture_method,
        }))
    }

    /// Every write carries its `Idempotency-Key` (see the module doc).
    async fn post(
        &self,
        op: &'static str,
        path: &str,
        idempotency_key: &str,
        form: &[(String, String)],
    ) -> Result<Reply, GatewayError> {
        let call =
            Call::post(op, path, Body::Form(form)).idempotent("Idempotency-Key", idempotency_key);
        self.api.send(call).await
    }

    async fn fetch_session_object(&self, id: &str) -> Result<Session, GatewayError> {
        let path = format!("/v1/checkout/sessions/{}", urlencode(id));
        self.api.get("fetch_session", &path).await
    }

    async fn fetch_intent(&self, id: &str) -> Result<PaymentIntent, GatewayError> {
        let path = format!(
            "/v1/payment_intents/{}?expand[]=latest_charge",
            urlencode(id)
        );
        self.api.get("fetch_payment_intent", &path).await
    }
}

/// Stripe accepts a Checkout Session `expires_at` from 30 minutes to 24 hours after
/// creation, and refuses the whole request otherwise.
const STRIPE_MIN_EXPIRY: chrono::Duration = chrono::Duration::minutes(31);
const STRIPE_MAX_EXPIRY: chrono::Duration = chrono::Duration::hours(23);

/// The form body of `POST /v1/checkout/sessions`, as sent at `now`.
///
/// The requested expiry is moved into Stripe's window: with the default 30-minute
/// session TTL, a session created after a failover from Razorpay (seconds later) asked
/// for less than 30 minutes and was refused, so the fallback never worked (found by the
/// load harness's fault run). Our own expiry still governs: the order is expired at the
/// recorded time and a payment on a session that outlived its hold is refunded.
fn session_form(
    req: &CreateSession,
    capture: CaptureMethod,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String)> {
    let mut form: Vec<(String, String)> = vec![
        ("mode".into(), "payment".into()),
        (
            "line_items[0][price_data][currency]".into(),
            req.currency.to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][unit_amount]".into(),
            req.amount.to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]".into(),
            req.description.clone(),
        ),
        ("line_items[0][quantity]".into(), "1".into()),
        ("client_reference_id".into(), req.order_token.clone()),
        ("success_url".into(), req.return_url.clone()),
        ("cancel_url".into(), req.cancel_url.clone()),
        ("metadata[order_token]".into(), req.order_token.clone()),
        (
            "payment_intent_data[metadata][order_token]".into(),
            req.order_token.clone(),
        ),
    ];
    for (k, v) in &req.notes {
        form.push((format!("metadata[{k}]"), v.clone()));
    }
    if let Some(at) = req.expires_at {
        let at = at.clamp(now + STRIPE_MIN_EXPIRY, now + STRIPE_MAX_EXPIRY);
        form.push(("expires_at".into(), at.timestamp().to_string()));
    }
    if let Some(email) = &req.customer_email {
        form.push(("customer_email".into(), email.clone()));
    }
    if capture == CaptureMethod::Manual {
        form.push((
            "payment_intent_data[capture_method]".into(),
            "manual".into(),
        ));
    }
    form
}

fn validate_request(req: &CreateSession) -> Result<(), GatewayError> {
    check_session_request(KIND, req)?;
    if req.idempotency_key.is_empty() || req.order_token.is_empty() {
        return Err(invalid(
            KIND,
            "order token and idempotency key are required",
        ));
    }
    if req.notes.len() > MAX_METADATA {
        return Err(invalid(KIND, format!("at most {MAX_METADATA} notes")));
    }
    Ok(())
}

fn session_status(s: &Session) -> SessionStatus {
    match (s.status.as_deref(), s.payment_status.as_deref()) {
        (Some("expired"), _) => SessionStatus::Expired,
        (_, Some("paid")) => SessionStatus::Paid,
        (Some("complete"), _) => SessionStatus::Attempted,
        _ => SessionStatus::Open,
    }
}

fn intent_id(value: &Option<serde_json::Value>) -> Option<String> {
    match value {
        Some(serde_json::Value::String(id)) => Some(id.clone()),
        Some(obj) => obj.get("id").and_then(|v| v.as_str()).map(str::to_owned),
        None => None,
    }
}

fn refund_from(refund: RefundObject) -> Refund {
    Refund {
        gateway: KIND,
        status: RefundStatus::from_gateway(KIND, refund.status.as_deref().unwrap_or_default()),
        payment_id: refund.payment_intent.or(refund.charge).unwrap_or_default(),
        refund_id: refund.id,
        amount: refund.amount,
        currency: refund.currency.to_ascii_uppercase(),
        // A cancelled refund has no `failure_reason`; name it, so a retry is not tried.
        failure_reason: refund.failure_reason.or_else(|| {
            (refund.status.as_deref() == Some("canceled")).then(|| "canceled".to_owned())
        }),
    }
}

/// A PaymentIntent (of `session`, when read through it) held to the amount and
/// currency we expect.
fn checked_payment(
    intent: PaymentIntent,
    expected: &Money,
    session: Option<String>,
) -> Result<GatewayPayment, GatewayError> {
    check_money(
        KIND,
        &intent.id,
        expected,
        Some(intent.amount),
        Some(&intent.currency),
    )?;
    Ok(payment_from(intent, session))
}

fn payment_from(pi: PaymentIntent, session_id: Option<String>) -> GatewayPayment {
    let refunded = pi
        .latest_charge
        .as_ref()
        .and_then(|c| c.get("amount_refunded"))
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let status = match pi.status.as_str() {
        "succeeded" if refunded >= pi.amount => PaymentStatus::Refunded,
        "succeeded" if refunded > 0 => PaymentStatus::PartiallyRefunded,
        "succeeded" => PaymentStatus::Captured,
        "requires_capture" => PaymentStatus::Authorized,
        "canceled" => PaymentStatus::Failed,
        "requires_payment_method" if pi.last_payment_error.is_some() => PaymentStatus::Failed,
        _ => PaymentStatus::Pending,
    };
    let error = pi
        .last_payment_error
        .as_ref()
        .and_then(|e| e.get("message"))
        .and_then(|m| m.as_str())
        .map(str::to_owned);
    GatewayPayment {
        gateway: KIND,
        payment_id: pi.id,
        gateway_order_id: session_id,
        amount: pi.amount,
        currency: pi.currency.to_ascii_uppercase(),
        status,
        amount_refunded: refunded,
        method: pi.payment_method_types.into_iter().next(),
        error,
    }
}

impl Gateway for StripeClient {
    fn kind(&self) -> GatewayKind {
        KIND
    }

    fn breaker(&self) -> &Breaker {
        self.api.breaker()
    }

    fn create_session<'a>(&'a self, req: &'a CreateSession) -> GatewayFuture<'a, PaymentSession> {
        Box::pin(async move {
            validate_request(req)?;
            let session: Session = self
                .post(
                    "create_session",
                    "/v1/checkout/sessions",
                    &req.idempotency_key,
                    &session_form(req, self.capture_method, chrono::Utc::now()),
                )
                .await?
                .json(KIND)?;
            check_money(
                KIND,
                &session.id,
                &req.money(),
                session.amount_total,
                session.currency.as_deref(),
            )?;
            check_reference(
                KIND,
                &session.id,
                "client_reference_id",
                &req.order_token,
                session.client_reference_id.as_deref(),
            )?;
            let status = session_status(&session);
            Ok(PaymentSession {
                gateway: KIND,
                client_params: json!({"session_id": session.id, "url": session.url}),
                checkout_url: session.url,
                expires_at: session
                    .expires_at
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
                amount: req.amount,
                currency: req.currency.to_ascii_uppercase(),
                status,
                gateway_order_id: session.id,
            })
        })
    }

    fn fetch_session<'a>(
        &'a self,
        gateway_order_id: &'a str,
        expected: &'a Money,
    ) -> GatewayFuture<'a, SessionReport> {
        Box::pin(async move {
            let session = self.fetch_session_object(gateway_order_id).await?;
            check_money(
                KIND,
                &session.id,
                expected,
                session.amount_total,
                session.currency.as_deref(),
            )?;
            let mut payments = Vec::new();
            if let Some(pi) = intent_id(&session.payment_intent) {
                let intent = self.fetch_intent(&pi).await?;
                payments.push(checked_payment(intent, expected, Some(session.id.clone()))?);
            }
            Ok(SessionReport {
                gateway: KIND,
                status: session_status(&session),
                amount: expected.amount,
                currency: expected.currency.clone(),
                reference: session.client_reference_id,
                gateway_order_id: session.id,
                payments,
            })
        })
    }

    fn fetch_payment<'a>(
        &'a self,
        payment_id: &'a str,
        expected: &'a Money,
    ) -> GatewayFuture<'a, GatewayPayment> {
        Box::pin(async move {
            let intent = self.fetch_intent(payment_id).await?;
            checked_payment(intent, expected, None)
        })
    }

    fn refund<'a>(&'a self, req: &'a RefundRequest) -> GatewayFuture<'a, Refund> {
        Box::pin(async move {
            check_refund_request(KIND, req)?;
            let mut form = vec![
                ("payment_intent".to_owned(), req.payment_id.clone()),
                ("amount".to_owned(), req.amount.to_string()),
            ];
            for (k, v) in &req.notes {
                form.push((format!("metadata[{k}]"), v.clone()));
            }
            let refund: RefundObject = self
                .post("refund", "/v1/refunds", &req.idempotency_key, &form)
                .await?
                .json(KIND)?;
            check_money(
                KIND,
                &refund.id,
                &Money::new(req.amount, &req.currency),
                Some(refund.amount),
                Some(&refund.currency),
            )?;
            check_reference(
                KIND,
                &refund.id,
                "payment_intent",
                &req.payment_id,
                refund.payment_intent.as_deref(),
            )?;
            Ok(refund_from(refund))
        })
    }

    fn capture<'a>(
        &'a self,
        payment_id: &'a str,
        expected: &'a Money,
        idempotency_key: &'a str,
    ) -> GatewayFuture<'a, GatewayPayment> {
        Box::pin(async move {
            let path = format!("/v1/payment_intents/{}/capture", urlencode(payment_id));
            // Never more than our order's amount, whatever was authorized.
            let form = [("amount_to_capture".to_owned(), expected.amount.to_string())];
            let intent: PaymentIntent =
                match self.post("capture", &path, idempotency_key, &form).await {
                    Ok(reply) => reply.json(KIND)?,
                    // `payment_intent_unexpected_state`: captured already (a retried
                    // capture) or no longer capturable; the intent says which
                    Err(e) if e.is_bad_request() => {
                        let intent = self.fetch_intent(payment_id).await?;
                        if intent.status != "succeeded" {
                            return Err(e);
                        }
                        intent
                    }
                    Err(e) => return Err(e),
                };
            check_reference(KIND, &intent.id, "id", payment_id, Some(intent.id.as_str()))?;
            checked_payment(intent, expected, None)
        })
    }

    fn void<'a>(&'a self, payment_id: &'a str) -> GatewayFuture<'a, VoidOutcome> {
        Box::pin(async move {
            let path = format!("/v1/payment_intents/{}/cancel", urlencode(payment_id));
            let key = format!("cancel:{payment_id}");
            match self.post("cancel_payment_intent", &path, &key, &[]).await {
                Ok(_) => Ok(VoidOutcome::Voided),
                // cancelled already, or captured: the intent says which
                Err(e) if e.is_bad_request() => {
                    let intent = self.fetch_intent(payment_id).await?;
                    match intent.status.as_str() {
                        "canceled" => Ok(VoidOutcome::Voided),
                        // Captured (or still payable): nothing was released.
                        _ => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        })
    }

    fn fetch_refund<'a>(&'a self, refund_id: &'a str) -> GatewayFuture<'a, Refund> {
        Box::pin(async move {
            let path = format!("/v1/refunds/{}", urlencode(refund_id));
            let refund: RefundObject = self.api.get("fetch_refund", &path).await?;
            check_reference(KIND, &refund.id, "id", refund_id, Some(refund.id.as_str()))?;
            Ok(refund_from(refund))
        })
    }

    fn cancel_session<'a>(&'a self, gateway_order_id: &'a str) -> GatewayFuture<'a, CancelOutcome> {
        Box::pin(async move {
            let path = format!(
                "/v1/checkout/sessions/{}/expire",
                urlencode(gateway_order_id)
            );
            let key = format!("expire:{gateway_order_id}");
            match self.post("expire_session", &path, &key, &[]).await {
                Ok(_) => Ok(CancelOutcome::Cancelled),
                // Only open sessions can be expired: look at what it is instead.
                Err(e) if e.is_bad_request() => {
                    let session = self.fetch_session_object(gateway_order_id).await?;
                    Ok(match session_status(&session) {
                        SessionStatus::Expired => CancelOutcome::Cancelled,
                        SessionStatus::Paid => CancelOutcome::AlreadyPaid,
                        _ => CancelOutcome::Unsupported,
                    })
                }
                Err(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiry_sent(asked: chrono::Duration, now: chrono::DateTime<chrono::Utc>) -> i64 {
        let req = CreateSession {
            order_token: "tok".into(),
            amount: 10_000,
            currency: "INR".into(),
            idempotency_key: "k".into(),
            description: "d".into(),
            return_url: "https://shop.example/r".into(),
            cancel_url: "https://shop.example/c".into(),
            notes: Default::default(),
            expires_at: Some(now + asked),
            customer_email: None,
        };
        session_form(&req, CaptureMethod::Automatic, now)
            .into_iter()
            .find(|(k, _)| k == "expires_at")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or_default()
    }

    #[test]
    fn session_expiry_is_moved_into_stripes_window() {
        let now = chrono::Utc::now();
        let minutes = |m: i64| (now + chrono::Duration::minutes(m)).timestamp();
        // a 30-minute TTL that started seconds ago (a failover) would be refused
        assert_eq!(expiry_sent(chrono::Duration::minutes(29), now), minutes(31));
        assert_eq!(expiry_sent(chrono::Duration::minutes(45), now), minutes(45));
        assert_eq!(
            expiry_sent(chrono::Duration::days(3), now),
            minutes(23 * 60)
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "stripe_fixtures.rs"]
mod fixtures;
