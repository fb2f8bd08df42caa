//! `[sandbox]`: the local gateway's keys, webhook delivery and simulated behaviour.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{CaptureMethod, RazorpaySettings, StripeSettings, check_timeout, check_url, lenient};

/// The local gateway (`checkout sandbox`, and inside `checkout dev`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// Keys the sandbox's Razorpay API accepts; match `razorpay.*` of the
    /// clients that talk to it (see [`SandboxSettings::razorpay_client`]).
    #[serde(deserialize_with = "lenient::string")]
    pub razorpay_key_id: String,
    #[serde(deserialize_with = "lenient::secret_required")]
    pub razorpay_key_secret: SecretString,
    /// Signs Razorpay webhooks.
    #[serde(deserialize_with = "lenient::secret_required")]
    pub razorpay_webhook_secret: SecretString,
    /// Where Razorpay webhooks go, e.g. `http://127.0.0.1:8080/api/v1/webhooks/razorpay`.
    pub razorpay_webhook_url: Option<String>,
    #[serde(deserialize_with = "lenient::secret_required")]
    pub stripe_secret_key: SecretString,
    #[serde(deserialize_with = "lenient::secret_required")]
    pub stripe_webhook_secret: SecretString,
    pub stripe_webhook_url: Option<String>,
    /// The URL buyers' browsers reach the sandbox at (for hosted page links).
    /// Unset: derived from the address it listens on.
    pub public_url: Option<String>,
    /// Webhook delivery attempts per event (first included), like the real
    /// gateways' bounded retries.
    pub webhook_max_attempts: u32,
    /// Delay before the first redelivery; doubles per attempt up to `webhook_retry_max_ms`.
    pub webhook_retry_base_ms: u64,
    pub webhook_retry_max_ms: u64,
    /// Per-delivery timeout.
    pub webhook_timeout_ms: u64,
    /// How long an injected "timeout" fault holds a request before answering 504.
    pub fault_hang_ms: u64,
    /// Razorpay payments stop at `authorized` until captured, as on accounts set
    /// to manual capture (Stripe sessions do so with `capture_method=manual`).
    pub razorpay_manual_capture: bool,
    /// How long an uncaptured authorization lives before the sandbox's Razorpay
    /// refunds it and its Stripe cancels the PaymentIntent.
    pub authorization_ttl_ms: u64,
    /// How long a refund stays `pending` before it becomes processed (or failed,
    /// see the `refund_fail_rate` fault); 0: processed at once.
    pub refund_pending_ms: u64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            razorpay_key_id: "rzp_test_sandbox".into(),
            razorpay_key_secret: SecretString::from("sandbox_razorpay_key_secret"),
            razorpay_webhook_secret: SecretString::from("sandbox_razorpay_webhook_secret"),
            razorpay_webhook_url: None,
            stripe_secret_key: SecretString::from("sk_test_sandbox"),
            stripe_webhook_secret: SecretString::from("whsec_sandbox"),
            stripe_webhook_url: None,
            public_url: None,
            webhook_max_attempts: 6,
            webhook_retry_base_ms: 1_000,
            webhook_retry_max_ms: 60_000,
            webhook_timeout_ms: 5_000,
            fault_hang_ms: 30_000,
            razorpay_manual_capture: false,
            // Razorpay auto-refunds uncaptured payments after a few days.
            authorization_ttl_ms: 5 * 24 * 3600 * 1000,
            refund_pending_ms: 0,
        }
    }
}

impl SandboxSettings {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.razorpay_key_id.trim().is_empty() {
            problems.push("sandbox.razorpay_key_id: must not be empty".into());
        }
        for (key, secret) in [
            ("sandbox.razorpay_key_secret", &self.razorpay_key_secret),
            (
                "sandbox.razorpay_webhook_secret",
                &self.razorpay_webhook_secret,
            ),
            ("sandbox.stripe_secret_key", &self.stripe_secret_key),
            ("sandbox.stripe_webhook_secret", &self.stripe_webhook_secret),
        ] {
            if secret.expose_secret().trim().is_empty() {
                problems.push(format!("{key}: must not be empty"));
            }
        }
        for (key, url) in [
            ("sandbox.razorpay_webhook_url", &self.razorpay_webhook_url),
            ("sandbox.stripe_webhook_url", &self.stripe_webhook_url),
            ("sandbox.public_url", &self.public_url),
        ] {
            if let Some(url) = url {
                check_url(&mut problems, key, url);
            }
        }
        if self.authorization_ttl_ms == 0 {
            problems.push("sandbox.authorization_ttl_ms: must be > 0".into());
        }
        if self.webhook_max_attempts == 0 {
            problems.push("sandbox.webhook_max_attempts: must be >= 1".into());
        }
        if self.webhook_retry_base_ms > self.webhook_retry_max_ms {
            problems.push(
                "sandbox.webhook_retry_base_ms: must not exceed sandbox.webhook_retry_max_ms"
                    .into(),
            );
        }
        check_timeout(
            &mut problems,
            "sandbox.webhook_timeout_ms",
            self.webhook_timeout_ms,
        );
        problems
    }

    /// Client settings that talk to this sandbox at `sandbox_base`
    /// (e.g. `http://127.0.0.1:8080/sandbox`), with matching secrets.
    pub fn razorpay_client(&self, sandbox_base: &str) -> RazorpaySettings {
        let base = sandbox_base.trim_end_matches('/');
        RazorpaySettings {
            key_id: self.razorpay_key_id.clone(),
            key_secret: Some(self.razorpay_key_secret.clone()),
            webhook_secret: Some(self.razorpay_webhook_secret.clone()),
            base_url: format!("{base}/razorpay"),
            timeout_ms: 5_000,
            checkout_url_template: Some(format!("{base}/pay/{{order_id}}")),
        }
    }

    /// See [`SandboxSettings::razorpay_client`].
    pub fn stripe_client(&self, sandbox_base: &str) -> StripeSettings {
        let base = sandbox_base.trim_end_matches('/');
        StripeSettings {
            secret_key: Some(self.stripe_secret_key.clone()),
            webhook_secret: Some(self.stripe_webhook_secret.clone()),
            base_url: format!("{base}/stripe"),
            timeout_ms: 5_000,
            webhook_tolerance_secs: 300,
            capture_method: CaptureMethod::Automatic,
        }
    }
}
