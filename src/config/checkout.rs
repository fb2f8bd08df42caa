//! `checkout`: the checkout workflow (session TTL, retries, redirect allow-list).

use serde::Deserialize;

/// The checkout workflow.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckoutSettings {
    /// How long a payment session stays payable (s); seat holds last this plus
    /// `hold_grace_secs`, so a payment at the last second still finds its seat.
    pub session_ttl_secs: u64,
    pub hold_grace_secs: u64,
    /// How long `POST /api/v1/order` waits for the payment session before answering
    /// 202 with a `Location` to poll (ms).
    pub order_wait_ms: u64,
    /// Runs of one step before the order fails and is compensated.
    pub step_max_attempts: u32,
    /// Backoff of delayed retries: first wait up to `retry_base_ms`, doubling, capped.
    pub retry_base_ms: u64,
    pub retry_cap_ms: u64,
    /// Upper bound for one step run (s); a hung gateway call is retried.
    pub step_timeout_secs: u64,
    /// Orders awaiting payment longer than this are reconciled with the gateway (s), on
    /// the `scheduler.reconcile` schedule.
    pub reconcile_after_secs: u64,
    /// Crash testing only (0 = off): a worker sleeps this long right after a step's
    /// side effect (the gateway call of `payment_session`, the commit of the others),
    /// before the job is acknowledged, so a test can SIGKILL it there.
    pub pause_after_side_effect_ms: u64,
    /// Origins `return_url`/`cancel_url` may point to (no open redirects).
    pub allowed_redirect_origins: Vec<String>,
    /// Base URL of the storefront, for default return and cancel URLs.
    pub public_base_url: String,
}

impl Default for CheckoutSettings {
    fn default() -> Self {
        Self {
            session_ttl_secs: 30 * 60,
            hold_grace_secs: 5 * 60,
            order_wait_ms: 3_000,
            step_max_attempts: 8,
            retry_base_ms: 500,
            retry_cap_ms: 60_000,
            step_timeout_secs: 30,
            reconcile_after_secs: 10 * 60,
            pause_after_side_effect_ms: 0,
            allowed_redirect_origins: vec![
                "http://127.0.0.1:8080".into(),
                "http://localhost:8080".into(),
            ],
            public_base_url: "http://127.0.0.1:8080".into(),
        }
    }
}
