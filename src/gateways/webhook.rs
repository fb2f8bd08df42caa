//! Webhook verification and parsing, on the raw body bytes.
//!
//! Signatures are over the exact bytes the gateway sent; parsing JSON and
//! serialising it again changes them (key order, spacing, number forms), so
//! handlers must pass the body through untouched. Both gateways allow several
//! secrets during rotation: a signature matching any configured secret passes.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::signature::{verify_hex, verify_hex_any};
use super::types::{GatewayKind, PaymentStatus, RefundStatus};

pub const RAZORPAY_SIGNATURE_HEADER: &str = "x-razorpay-signature";
pub const RAZORPAY_EVENT_ID_HEADER: &str = "x-razorpay-event-id";
pub const STRIPE_SIGNATURE_HEADER: &str = "stripe-signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("signature does not match")]
    BadSignature,
    #[error("signature timestamp {age_secs}s away from now, beyond the tolerance")]
    StaleTimestamp { age_secs: i64 },
    #[error("malformed webhook: {0}")]
    Malformed(String),
    #[error("no webhook secret configured")]
    NotConfigured,
}

/// What happened, in our vocabulary. Unknown types are kept by name so they can
/// be stored and ignored rather than rejected (a gateway adding an event type
/// must not make it retry forever).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookKind {
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    OrderPaid,
    RefundProcessed,
    /// Razorpay `refund.failed`, Stripe `refund.failed`: the money did not go back.
    RefundFailed,
    /// Stripe `refund.updated` and `charge.refund.updated`: read `refund_status`.
    RefundUpdated,
    CheckoutSessionCompleted,
    CheckoutSessionExpired,
    ChargeRefunded,
    Other(String),
}

impl WebhookKind {
    pub fn parse(gateway: GatewayKind, event_type: &str) -> Self {
        match (gateway, event_type) {
            (GatewayKind::Razorpay, "payment.authorized") => WebhookKind::PaymentAuthorized,
            (GatewayKind::Razorpay, "payment.captured") => WebhookKind::PaymentCaptured,
            (GatewayKind::Razorpay, "payment.failed") => WebhookKind::PaymentFailed,
            (GatewayKind::Razorpay, "order.paid") => WebhookKind::OrderPaid,
            (GatewayKind::Razorpay, "refund.processed") => WebhookKind::RefundProcessed,
            (_, "refund.failed") => WebhookKind::RefundFailed,
            (GatewayKind::Stripe, "refund.updated" | "charge.refund.updated") => {
                WebhookKind::RefundUpdated
            }
            (GatewayKind::Stripe, "checkout.session.completed") => {
                WebhookKind::CheckoutSessionCompleted
            }
            (GatewayKind::Stripe, "checkout.session.expired") => {
                WebhookKind::CheckoutSessionExpired
            }
            (GatewayKind::Stripe, "charge.refunded") => WebhookKind::ChargeRefunded,
            (_, other) => WebhookKind::Other(other.to_owned()),
        }
    }

    /// Every [`WebhookKind::label`]: the closed set of the webhook metrics' `kind`.
    pub const LABELS: [&'static str; 11] = [
        "payment_authorized",
        "payment_captured",
        "payment_failed",
        "order_paid",
        "refund_processed",
        "refund_failed",
        "refund_updated",
        "checkout_session_completed",
        "checkout_session_expired",
        "charge_refunded",
        "other",
    ];

    /// The kind as a metric label: its snake_case name; every type we do not act on is
    /// `other` (a type name from outside must not open new series).
    pub fn label(&self) -> &'static str {
        match self {
            WebhookKind::PaymentAuthorized => "payment_authorized",
            WebhookKind::PaymentCaptured => "payment_captured",
            WebhookKind::PaymentFailed => "payment_failed",
            WebhookKind::OrderPaid => "order_paid",
            WebhookKind::RefundProcessed => "refund_processed",
            WebhookKind::RefundFailed => "refund_failed",
            WebhookKind::RefundUpdated => "refund_updated",
            WebhookKind::CheckoutSessionCompleted => "checkout_session_completed",
            WebhookKind::CheckoutSessionExpired => "checkout_session_expired",
            WebhookKind::ChargeRefunded => "charge_refunded",
            WebhookKind::Other(_) => "other",
        }
    }
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEvent {
    pub gateway: GatewayKind,
    /// Razorpay `x-razorpay-event-id`, Stripe `evt_…`: the deduplication key,
    /// since both gateways deliver at least once.
    pub event_id: String,
    /// The gateway's name for it, e.g. `payment.captured`.
    pub event_type: String,
    pub kind: WebhookKind,
    /// Razorpay order id or Stripe checkout session id, when the event names one.
    pub gateway_order_id: Option<String>,
    /// Razorpay `pay_…` or Stripe `pi_…`.
    pub payment_id: Option<String>,
    pub refund_id: Option<String>,
    /// Of the payment (or of the refund, for refund events), minor units.
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<PaymentStatus>,
    /// The refund's status, for events about a refund.
    #[serde(default)]
    pub refund_status: Option<RefundStatus>,
    /// Our order token as echoed (Razorpay order receipt / Stripe client_reference_id).
    pub reference: Option<String>,
    /// Unix seconds the gateway created the event (orders out-of-order deliveries).
    pub created_at: Option<i64>,
    /// The whole event as parsed, stored beside the fields above for operators.
    pub payload: serde_json::Value,
}

fn header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, WebhookError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::MissingHeader(name))
}

/// Razorpay: `X-Razorpay-Signature` = hex HMAC-SHA256(webhook secret, body).
pub fn verify_razorpay(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[SecretString],
) -> Result<WebhookEvent, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NotConfigured);
    }
    let signature = header(headers, RAZORPAY_SIGNATURE_HEADER)?;
    if !verify_hex_any(secrets, &[body], signature) {
        return Err(WebhookError::BadSignature);
    }
    let event_id = header(headers, RAZORPAY_EVENT_ID_HEADER)?.to_owned();
    parse_razorpay(event_id, body)
}

fn parse_razorpay(event_id: String, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let event_type = v["event"]
        .as_str()
        .ok_or_else(|| WebhookError::Malformed("no `event`".into()))?
        .to_owned();
    let payment = &v["payload"]["payment"]["entity"];
    let order = &v["payload"]["order"]["entity"];
    let refund = &v["payload"]["refund"]["entity"];
    let s = |x: &serde_json::Value| x.as_str().map(str::to_owned);
    let kind = WebhookKind::parse(GatewayKind::Razorpay, &event_type);
    let main = if refund.is_object() {
        refund
    } else if payment.is_object() {
        payment
    } else {
        order
    };
    let status = payment["status"].as_str().map(|st| match st {
        "authorized" => PaymentStatus::Authorized,
        "captured" if payment["amount_refunded"].as_i64().unwrap_or(0) > 0 => {
            PaymentStatus::PartiallyRefunded
        }
        "captured" => PaymentStatus::Captured,
        "refunded" => PaymentStatus::Refunded,
        "failed" => PaymentStatus::Failed,
        _ => PaymentStatus::Pending,
    });
    Ok(WebhookEvent {
        gateway: GatewayKind::Razorpay,
        event_id,
        kind,
        gateway_order_id: s(&payment["order_id"]).or_else(|| s(&order["id"])),
        payment_id: s(&payment["id"]).or_else(|| s(&refund["payment_id"])),
        refund_id: s(&refund["id"]),
        amount: main["amount"].as_i64(),
        currency: s(&main["currency"]).map(|c| c.to_ascii_uppercase()),
        status,
        refund_status: refund["status"]
            .as_str()
            .map(|st| RefundStatus::from_gateway(GatewayKind::Razorpay, st)),
        reference: s(&order["receipt"]),
        created_at: v["created_at"].as_i64(),
        payload: v,
        event_type,
    })
}

/// The parts of a `Stripe-Signature` header.
#[derive(Debug, PartialEq, Eq)]
pub struct StripeSignatureHeader<'a> {
    pub timestamp: i64,
    pub v1: Vec<&'a str>,
}

/// `t=1492774577,v1=5257…,v1=…,v0=…`: one timestamp, any number of v1
/// signatures (Stripe sends one per active secret while a secret is rolled);
/// other schemes are ignored.
pub fn parse_stripe_header(value: &str) -> Result<StripeSignatureHeader<'_>, WebhookError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in value.split(',') {
        let Some((key, val)) = item.trim().split_once('=') else {
            continue;
        };
        match key {
            "t" => timestamp = val.parse::<i64>().ok(),
            "v1" => v1.push(val),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| {
        WebhookError::Malformed("unable to extract timestamp from Stripe-Signature".into())
    })?;
    if v1.is_empty() {
        return Err(WebhookError::Malformed(
            "no v1 signatures in Stripe-Signature".into(),
        ));
    }
    Ok(StripeSignatureHeader { timestamp, v1 })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Stripe: HMAC-SHA256(secret, "{t}.{body}") must equal one of the v1
/// signatures, and `t` must be within `tolerance_secs` of `now` (either side),
/// so a recorded webhook cannot be replayed later. Then parses the event.
pub fn verify_stripe(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[SecretString],
    tolerance_secs: u64,
    now: i64,
) -> Result<WebhookEvent, WebhookError> {
    verify_stripe_signature(headers, body, secrets, tolerance_secs, now)?;
    parse_stripe(body)
}

/// The signature and timestamp check of [`verify_stripe`], without parsing.
pub fn verify_stripe_signature(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[SecretString],
    tolerance_secs: u64,
    now: i64,
) -> Result<(), WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::NotConfigured);
    }
    let parsed = parse_stripe_header(header(headers, STRIPE_SIGNATURE_HEADER)?)?;
    let t = parsed.timestamp.to_string();
    let mut ok = false;
    for secret in secrets {
        for sig in &parsed.v1 {
            ok |= verify_hex(
                secret.expose_secret().as_bytes(),
                &[t.as_bytes(), b".", body],
                sig,
            );
        }
    }
    if !ok {
        return Err(WebhookError::BadSignature);
    }
    let age = now - parsed.timestamp;
    if age.unsigned_abs() > tolerance_secs {
        return Err(WebhookError::StaleTimestamp { age_secs: age });
    }
    Ok(())
}

fn parse_stripe(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    let s = |x: &serde_json::Value| x.as_str().map(str::to_owned);
    let event_id = s(&v["id"]).ok_or_else(|| WebhookError::Malformed("no `id`".into()))?;
    let event_type = s(&v["type"]).ok_or_else(|| WebhookError::Malformed("no `type`".into()))?;
    let obj = &v["data"]["object"];
    let kind = WebhookKind::parse(GatewayKind::Stripe, &event_type);
    let object_type = obj["object"].as_str().unwrap_or_default();
    let id_of = |x: &serde_json::Value| match x {
        serde_json::Value::String(id) => Some(id.clone()),
        other => s(&other["id"]),
    };
    let mut refund_id = None;
    let mut refund_status = None;
    let (gateway_order_id, payment_id, amount, status, reference) = match object_type {
        "checkout.session" => (
            s(&obj["id"]),
            id_of(&obj["payment_intent"]),
            obj["amount_total"].as_i64(),
            match (obj["status"].as_str(), obj["payment_status"].as_str()) {
                (_, Some("paid")) => Some(PaymentStatus::Captured),
                (Some("expired"), _) => Some(PaymentStatus::Failed),
                _ => Some(PaymentStatus::Pending),
            },
            s(&obj["client_reference_id"]),
        ),
        "charge" => {
            let amount = obj["amount"].as_i64();
            let refunded = obj["amount_refunded"].as_i64().unwrap_or(0);
            let status = if obj["refunded"].as_bool() == Some(true) {
                PaymentStatus::Refunded
            } else if refunded > 0 {
                PaymentStatus::PartiallyRefunded
            } else if obj["status"].as_str() == Some("succeeded") {
                PaymentStatus::Captured
            } else {
                PaymentStatus::Failed
            };
            (
                None,
                id_of(&obj["payment_intent"]),
                amount,
                Some(status),
                None,
            )
        }
        "payment_intent" => {
            let status = match obj["status"].as_str() {
                Some("succeeded") => PaymentStatus::Captured,
                Some("requires_capture") => PaymentStatus::Authorized,
                Some("canceled") => PaymentStatus::Failed,
                Some("requires_payment_method") if obj["last_payment_error"].is_object() => {
                    PaymentStatus::Failed
                }
                _ => PaymentStatus::Pending,
            };
            (
                None,
                s(&obj["id"]),
                obj["amount"].as_i64(),
                Some(status),
                None,
            )
        }
        "refund" => {
            refund_id = s(&obj["id"]);
            refund_status = obj["status"]
                .as_str()
                .map(|st| RefundStatus::from_gateway(GatewayKind::Stripe, st));
            (
                None,
                id_of(&obj["payment_intent"]),
                obj["amount"].as_i64(),
                None,
                None,
            )
        }
        _ => (None, None, obj["amount"].as_i64(), None, None),
    };
    Ok(WebhookEvent {
        gateway: GatewayKind::Stripe,
        event_id,
        event_type,
        kind,
        gateway_order_id,
        payment_id,
        refund_id,
        amount,
        currency: s(&obj["currency"]).map(|c| c.to_ascii_uppercase()),
        status,
        refund_status,
        reference,
        created_at: v["created"].as_i64(),
        payload: v,
    })
}

/// Builds a `Stripe-Signature` header value (for the sandbox and tests).
pub fn sign_stripe(secret: &SecretString, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let sig = super::signature::hmac_sha256_hex(
        secret.expose_secret().as_bytes(),
        &[t.as_bytes(), b".", body],
    );
    format!("t={t},v1={sig}")
}

/// Hex signature for `X-Razorpay-Signature` (for the sandbox and tests).
pub fn sign_razorpay(secret: &SecretString, body: &[u8]) -> String {
    super::signature::hmac_sha256_hex(secret.expose_secret().as_bytes(), &[body])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "webhook_tests.rs"]
mod tests;
