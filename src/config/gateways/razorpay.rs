//! `[razorpay]`: Razorpay API credentials, endpoint and hosted checkout page.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::{check_timeout, check_url, lenient, present, split_secrets};

/// Razorpay API credentials and endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RazorpaySettings {
    /// Public key id (`rzp_test_…`); also sent to the frontend to open checkout.
    #[serde(deserialize_with = "lenient::string")]
    pub key_id: String,
    /// Signs API calls (basic auth) and the checkout callback signature.
    #[serde(deserialize_with = "lenient::secret")]
    pub key_secret: Option<SecretString>,
    /// Webhook secret(s). Several may be given separated by commas while a
    /// secret is rotated; a signature matching any of them is accepted.
    #[serde(deserialize_with = "lenient::secret")]
    pub webhook_secret: Option<SecretString>,
    /// `https://api.razorpay.com`, or the sandbox's `…/sandbox/razorpay`.
    pub base_url: String,
    /// Per-request timeout; a slow gateway must not hold a worker.
    pub timeout_ms: u64,
    /// A hosted checkout page, with `{order_id}` replaced. Real Razorpay has none
    /// (checkout.js opens from `client_params`); the sandbox serves one at
    /// `…/sandbox/pay/{order_id}`, which `dev` sets here.
    pub checkout_url_template: Option<String>,
}

impl Default for RazorpaySettings {
    fn default() -> Self {
        RazorpaySettings {
            key_id: String::new(),
            key_secret: None,
            webhook_secret: None,
            base_url: "https://api.razorpay.com".into(),
            timeout_ms: 10_000,
            checkout_url_template: None,
        }
    }
}

impl RazorpaySettings {
    /// Offered only with both halves of the key.
    pub fn is_configured(&self) -> bool {
        !self.key_id.trim().is_empty() && present(&self.key_secret)
    }

    pub fn webhook_secrets(&self) -> Vec<SecretString> {
        split_secrets(&self.webhook_secret)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        check_url(&mut problems, "razorpay.base_url", &self.base_url);
        check_timeout(&mut problems, "razorpay.timeout_ms", self.timeout_ms);
        if !self.key_id.trim().is_empty() && !present(&self.key_secret) {
            problems.push("razorpay.key_secret: required when razorpay.key_id is set".into());
        }
        if self.key_id.trim().is_empty() && present(&self.key_secret) {
            problems.push("razorpay.key_id: required when razorpay.key_secret is set".into());
        }
        if self.is_configured() && self.webhook_secrets().is_empty() {
            problems.push("razorpay.webhook_secret: required when razorpay is configured".into());
        }
        if let Some(t) = &self.checkout_url_template
            && !t.contains("{order_id}")
        {
            problems.push("razorpay.checkout_url_template: must contain {order_id}".into());
        }
        problems
    }
}
