//! The gateway-neutral vocabulary the rest of checkout speaks.
//!
//! Razorpay and Stripe name the same ideas differently (order vs. checkout
//! session, `captured` vs. `paid`, `INR` vs. `inr`). The workflow should not care
//! which gateway served a checkout, so every client translates into these types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::GatewayKind;

/// An amount in the currency's minor unit (paise for INR) with its ISO code,
/// upper case. Both gateways take integers in minor units, and so do we.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: String,
}

impl Money {
    pub fn new(amount: i64, currency: &str) -> Self {
        Money {
            amount,
            currency: currency.to_ascii_uppercase(),
        }
    }
}

/// What we ask a gateway for when a checkout reaches the `payment_session` step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSession {
    /// Our order token. Razorpay gets it as `receipt` (at most 40 characters),
    /// Stripe as `client_reference_id`; it ties a gateway object back to our order.
    pub order_token: String,
    /// Minor units, > 0.
    pub amount: i64,
    /// ISO 4217, any case; normalised to upper case.
    pub currency: String,
    /// Derived from order and step by the caller, so a re-run job reuses it and
    /// the gateway answers with the object it already made.
    pub idempotency_key: String,
    /// Shown on the hosted page / line item.
    pub description: String,
    /// Where the gateway sends the buyer after paying (Stripe `success_url`,
    /// Razorpay checkout `callback_url`).
    pub return_url: String,
    /// Where the buyer lands after giving up.
    pub cancel_url: String,
    /// Free-form notes (Razorpay `notes`, Stripe `metadata`); at most 10 are sent.
    pub notes: BTreeMap<String, String>,
    /// When the session should stop accepting payment, where the gateway supports
    /// it (Stripe: 30 minutes to 24 hours ahead).
    pub expires_at: Option<DateTime<Utc>>,
    pub customer_email: Option<String>,
}

impl CreateSession {
    pub fn money(&self) -> Money {
        Money::new(self.amount, &self.currency)
    }
}

/// Where a gateway session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Payable, nothing paid yet.
    Open,
    /// A payment was tried and did not succeed; still payable (Razorpay `attempted`).
    Attempted,
    /// Paid in full.
    Paid,
    /// No longer payable (Stripe `expired`).
    Expired,
}

/// A payment session created at a gateway. Everything a caller must persist to
/// track, cancel or refund it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentSession {
    pub gateway: GatewayKind,
    /// Razorpay `order_…` id or Stripe `cs_…` id.
    pub gateway_order_id: String,
    /// A page the buyer can be sent to. Stripe always has one; real Razorpay has
    /// none (its checkout.js opens from `client_params`), the sandbox has one.
    pub checkout_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub amount: i64,
    pub currency: String,
    pub status: SessionStatus,
    /// What a frontend needs to open checkout (Razorpay: `key`, `order_id`,
    /// `amount`, `currency`, `callback_url`; Stripe: `session_id`, `url`).
    /// Never contains secrets.
    pub client_params: serde_json::Value,
}

/// Status of one payment attempt, in one vocabulary for both gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Created, buyer has not finished.
    Pending,
    /// Authorised, not yet captured: money is held but not ours.
    Authorized,
    /// Captured: money is ours.
    Captured,
    Failed,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    /// True when money was taken and (some of) it is still with us.
    pub fn is_captured(self) -> bool {
        matches!(
            self,
            PaymentStatus::Captured | PaymentStatus::PartiallyRefunded
        )
    }
}

/// One payment as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayPayment {
    pub gateway: GatewayKind,
    /// Razorpay `pay_…`; Stripe `pi_…` (the PaymentIntent, which refunds take).
    pub payment_id: String,
    pub gateway_order_id: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub status: PaymentStatus,
    pub amount_refunded: i64,
    pub method: Option<String>,
    /// The gateway's reason for a failure, for support.
    pub error: Option<String>,
}

/// A session re-read from the gateway, with its payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReport {
    pub gateway: GatewayKind,
    pub gateway_order_id: String,
    pub status: SessionStatus,
    pub amount: i64,
    pub currency: String,
    /// Our order token as the gateway echoes it (receipt / client_reference_id).
    pub reference: Option<String>,
    pub payments: Vec<GatewayPayment>,
}

impl SessionReport {
    /// The captured payment, if any. More than one captured payment for one
    /// session means the buyer paid twice and the extra must be refunded.
    pub fn captured(&self) -> impl Iterator<Item = &GatewayPayment> {
        self.payments.iter().filter(|p| p.status.is_captured())
    }
}

/// A refund request. The amount is always explicit (a full refund passes the
/// captured amount) so the gateway's answer can be checked against it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    /// Same key, same refund: a retried compensation must not refund twice.
    pub idempotency_key: String,
    pub notes: BTreeMap<String, String>,
}

/// Where a refund stands, in one vocabulary for both gateways. Only `Processed`
/// means the money went back; a refund starts `Pending` at both gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Processed,
    Failed,
}

impl RefundStatus {
    /// The gateway's refund `status`. Razorpay: `pending`, `processed`, `failed`.
    /// Stripe: `pending`, `requires_action`, `succeeded`, `failed`, `canceled`.
    /// Anything else is `Pending`: not known to be settled, so it is read again later.
    pub fn from_gateway(gateway: GatewayKind, status: &str) -> Self {
        match (gateway, status) {
            (GatewayKind::Razorpay, "processed") | (GatewayKind::Stripe, "succeeded") => {
                RefundStatus::Processed
            }
            (GatewayKind::Razorpay, "failed")
            | (GatewayKind::Stripe, "failed")
            | (GatewayKind::Stripe, "canceled") => RefundStatus::Failed,
            _ => RefundStatus::Pending,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub gateway: GatewayKind,
    /// Razorpay `rfnd_…`, Stripe `re_…`.
    pub refund_id: String,
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: RefundStatus,
    /// The gateway's reason when the refund failed (Stripe `failure_reason`).
    pub failure_reason: Option<String>,
}

impl Refund {
    /// Whether a new refund can succeed where this one failed. Razorpay gives no reason
    /// (its failures are bank-side and usually pass). Stripe names it: a lost, stolen,
    /// expired or closed card, a disputed charge, or a refund someone cancelled fails
    /// again or was meant to stop; `declined`, `insufficient_funds` (our balance) and
    /// `unknown` may pass.
    pub fn can_retry(&self) -> bool {
        match self.gateway {
            GatewayKind::Razorpay => true,
            GatewayKind::Stripe => matches!(
                self.failure_reason.as_deref(),
                None | Some("declined" | "insufficient_funds" | "unknown")
            ),
        }
    }
}

/// What releasing an authorization we will not capture achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidOutcome {
    /// The authorization is released (Stripe cancelled the PaymentIntent).
    Voided,
    /// The gateway has no void (Razorpay): the authorization lapses and the
    /// gateway returns the money to the buyer on its own.
    LeftToLapse,
}

/// What cancelling a session achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// The session can no longer be paid.
    Cancelled,
    /// It was already paid: the caller must refund instead.
    AlreadyPaid,
    /// The gateway has no way to cancel (Razorpay orders): a payment that still
    /// arrives must be refunded when it is seen.
    Unsupported,
}
