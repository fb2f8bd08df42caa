//! The sandbox's in-memory state. Objects serialise in the shape the real APIs
//! return them, so handlers answer with the stored object as is.

use std::collections::{BTreeMap, HashMap};

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

use crate::config::SandboxSettings;
use crate::gateways::GatewayKind;

/// Gateway-style id: `prefix` + 14 random alphanumerics (`order_…`, `cs_test_…`).
pub fn new_id(prefix: &str) -> String {
    let tail: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(14)
        .map(char::from)
        .collect();
    format!("{prefix}{tail}")
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Debug, Clone, Serialize)]
pub struct RzpOrder {
    pub id: String,
    pub entity: &'static str,
    pub amount: i64,
    pub amount_paid: i64,
    pub amount_due: i64,
    pub currency: String,
    pub receipt: Option<String>,
    pub offer_id: Option<String>,
    /// created | attempted | paid
    pub status: String,
    pub attempts: u32,
    pub notes: serde_json::Value,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RzpPayment {
    pub id: String,
    pub entity: &'static str,
    pub amount: i64,
    pub currency: String,
    /// created | authorized | captured | refunded | failed
    pub status: String,
    pub order_id: String,
    pub invoice_id: Option<String>,
    pub international: bool,
    pub method: String,
    pub amount_refunded: i64,
    /// null | partial | full
    pub refund_status: Option<String>,
    pub captured: bool,
    pub description: Option<String>,
    pub email: String,
    pub contact: String,
    pub notes: serde_json::Value,
    pub fee: Option<i64>,
    pub tax: Option<i64>,
    pub error_code: Option<String>,
    pub error_description: Option<String>,
    pub created_at: i64,
    /// Creation order (ids are random, timestamps coarse).
    #[serde(skip)]
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RzpRefund {
    pub id: String,
    pub entity: &'static str,
    pub amount: i64,
    pub currency: String,
    pub payment_id: String,
    pub notes: serde_json::Value,
    pub receipt: Option<String>,
    /// pending | processed | failed
    pub status: String,
    pub speed_requested: String,
    pub speed_processed: String,
    pub created_at: i64,
    #[serde(skip)]
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StripeSession {
    pub id: String,
    pub object: &'static str,
    pub amount_subtotal: i64,
    pub amount_total: i64,
    pub currency: String,
    pub client_reference_id: Option<String>,
    pub customer_email: Option<String>,
    pub expires_at: i64,
    pub livemode: bool,
    pub metadata: BTreeMap<String, String>,
    pub mode: String,
    pub payment_intent: Option<String>,
    /// paid | unpaid
    pub payment_status: String,
    /// open | complete | expired
    pub status: String,
    pub success_url: String,
    pub cancel_url: Option<String>,
    pub url: Option<String>,
    pub created: i64,
    /// Not part of Stripe's object: the line item name, shown on the pay page.
    #[serde(skip)]
    pub product_name: String,
    #[serde(skip)]
    pub intent_metadata: BTreeMap<String, String>,
    /// `payment_intent_data[capture_method]`: `manual` makes payments authorize only.
    #[serde(skip)]
    pub intent_capture_method: String,
    #[serde(skip)]
    pub seq: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StripeIntent {
    pub id: String,
    pub object: &'static str,
    pub amount: i64,
    pub amount_received: i64,
    /// Authorized and not yet captured (manual capture).
    pub amount_capturable: i64,
    /// automatic | manual
    pub capture_method: String,
    pub currency: String,
    /// requires_payment_method | requires_capture | succeeded | canceled
    pub status: String,
    /// requested_by_customer | abandoned | duplicate | fraudulent | automatic (lapsed)
    pub cancellation_reason: Option<String>,
    pub canceled_at: Option<i64>,
    pub latest_charge: Option<String>,
    pub last_payment_error: Option<serde_json::Value>,
    pub metadata: BTreeMap<String, String>,
    pub payment_method_types: Vec<String>,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StripeCharge {
    pub id: String,
    pub object: &'static str,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub refunded: bool,
    pub captured: bool,
    pub paid: bool,
    pub currency: String,
    pub payment_intent: String,
    pub status: String,
    pub created: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StripeRefund {
    pub id: String,
    pub object: &'static str,
    pub amount: i64,
    pub currency: String,
    pub payment_intent: String,
    pub charge: String,
    pub metadata: BTreeMap<String, String>,
    /// pending | succeeded | failed
    pub status: String,
    pub failure_reason: Option<String>,
    pub created: i64,
    #[serde(skip)]
    pub seq: u64,
}

/// How the sandbox's merchant accounts behave (`sandbox.*` settings, changed at run
/// time with `PUT /sandbox/control/account`). The defaults are the simplest world:
/// automatic capture, refunds processed at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Account {
    /// Razorpay payments stop at `authorized` until `POST /v1/payments/{id}/capture`
    /// (Stripe sessions do so when created with `capture_method=manual`).
    pub razorpay_manual_capture: bool,
    /// How long an uncaptured authorization lives before Razorpay refunds it on
    /// its own and Stripe cancels the PaymentIntent.
    pub authorization_ttl_ms: u64,
    /// How long a refund stays `pending` before it settles; 0: processed at once
    /// (unless `refund_fail_rate` makes it fail, which happens after this delay).
    pub refund_pending_ms: u64,
}

impl Default for Account {
    fn default() -> Self {
        Account::from_settings(&SandboxSettings::default())
    }
}

impl Account {
    pub fn from_settings(settings: &SandboxSettings) -> Self {
        Account {
            razorpay_manual_capture: settings.razorpay_manual_capture,
            authorization_ttl_ms: settings.authorization_ttl_ms,
            refund_pending_ms: settings.refund_pending_ms,
        }
    }
}

/// A stored answer for a Stripe `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct IdempotentReply {
    pub fingerprint: String,
    pub body: serde_json::Value,
}

/// Fault injection for one gateway. All zero/false by default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Every API call answers 503.
    pub down: bool,
    /// Added before every API answer.
    pub latency_ms: u64,
    /// Share (0..=1) of API calls answered 500.
    pub error_rate: f64,
    /// The next N API calls answer 500 (deterministic, for tests).
    pub error_next: u32,
    /// Injected 500s and hangs happen after the request was processed, the
    /// case an idempotency key exists for.
    pub errors_after_processing: bool,
    /// Share (0..=1) of API calls that hang for `fault_hang_ms`, then 504.
    pub timeout_rate: f64,
    /// The next N API calls hang (deterministic).
    pub timeout_next: u32,
    /// Share (0..=1) of refunds that end `failed` instead of processed.
    pub refund_fail_rate: f64,
    /// The next N refunds fail (deterministic).
    pub refund_fail_next: u32,
    /// Share (0..=1) of webhook events never delivered.
    pub webhook_drop_rate: f64,
    /// Every webhook event is delivered twice.
    pub webhook_duplicate: bool,
    /// Events raised together (e.g. payment.authorized, payment.captured,
    /// order.paid) are delivered in reverse order.
    pub webhook_out_of_order: bool,
    /// Wait before the first delivery attempt.
    pub webhook_delay_ms: u64,
    /// When not empty, API faults hit only these HTTP methods (e.g. `["POST"]`:
    /// writes fail, reads work).
    pub only_methods: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Gave up after the last attempt.
    Failed,
    /// Dropped by fault injection.
    Dropped,
    /// No webhook URL configured for the gateway.
    NoTarget,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryAttempt {
    pub at_ms: i64,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// One delivery of one event (a duplicated event has two).
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: u64,
    pub gateway: GatewayKind,
    pub event_id: String,
    pub event_type: String,
    pub url: Option<String>,
    pub state: DeliveryState,
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventRecord {
    pub gateway: GatewayKind,
    pub event_id: String,
    pub event_type: String,
    pub body: serde_json::Value,
}

#[derive(Debug, Default)]
pub struct Store {
    pub rzp_orders: BTreeMap<String, RzpOrder>,
    pub rzp_payments: BTreeMap<String, RzpPayment>,
    pub rzp_refunds: BTreeMap<String, RzpRefund>,
    /// `X-Refund-Idempotency` -> refund id.
    pub rzp_refund_keys: HashMap<String, String>,
    pub stripe_sessions: BTreeMap<String, StripeSession>,
    pub stripe_intents: BTreeMap<String, StripeIntent>,
    pub stripe_charges: BTreeMap<String, StripeCharge>,
    pub stripe_refunds: BTreeMap<String, StripeRefund>,
    pub stripe_idempotency: HashMap<String, IdempotentReply>,
    pub events: Vec<EventRecord>,
    pub deliveries: Vec<Delivery>,
    pub faults: BTreeMap<GatewayKind, Faults>,
    /// Overrides of the configured webhook URLs, set through the control API.
    pub webhook_urls: BTreeMap<GatewayKind, String>,
    /// API requests seen per gateway (faulted ones included).
    pub requests: BTreeMap<GatewayKind, u64>,
    pub account: Account,
    pub seq: u64,
}

impl Store {
    /// An empty store whose accounts behave as `settings` say.
    pub fn new(settings: &SandboxSettings) -> Self {
        Store {
            account: Account::from_settings(settings),
            ..Default::default()
        }
    }

    pub fn faults(&self, gateway: GatewayKind) -> Faults {
        self.faults.get(&gateway).cloned().unwrap_or_default()
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Whether the next refund of `gateway` is to fail (a `refund_fail_*` fault).
    pub fn refund_fails(&mut self, gateway: GatewayKind) -> bool {
        let faults = self.faults.entry(gateway).or_default();
        if faults.refund_fail_next > 0 {
            faults.refund_fail_next -= 1;
            return true;
        }
        let rate = faults.refund_fail_rate.clamp(0.0, 1.0);
        rate > 0.0 && rand::rng().random_bool(rate)
    }

    /// Payments of a Razorpay order, oldest first.
    pub fn rzp_order_payments(&self, order_id: &str) -> Vec<RzpPayment> {
        let mut out: Vec<RzpPayment> = self
            .rzp_payments
            .values()
            .filter(|p| p.order_id == order_id)
            .cloned()
            .collect();
        out.sort_by_key(|p| p.seq);
        out
    }
}
