//! `[stripe]`: Stripe API credentials, endpoint, webhook tolerance and capture method.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::{check_timeout, check_url, lenient, present, split_secrets};

/// Stripe API credentials and endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StripeSettings {
    /// `sk_…`, sent as a bearer token.
    #[serde(deserialize_with = "lenient::secret")]
    pub secret_key: Option<SecretString>,
    /// `whsec_…`; several separated by commas during rotation.
    #[serde(deserialize_with = "lenient::secret")]
    pub webhook_secret: Option<SecretString>,
    pub base_url: String,
    pub timeout_ms: u64,
    /// Oldest (or furthest future) `Stripe-Signature` timestamp accepted, so a
    /// captured webhook cannot be replayed later. Stripe's libraries use 300 s.
    pub webhook_tolerance_secs: u64,
    /// `automatic`: Checkout captures at payment. `manual`: sessions only authorize,
    /// and the `confirm` step captures (our order's amount) when it can fulfil the
    /// order, or cancels the PaymentIntent when it cannot.
    pub capture_method: CaptureMethod,
}

/// When a Stripe Checkout payment is captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    #[default]
    Automatic,
    Manual,
}

impl Default for StripeSettings {
    fn default() -> Self {
        StripeSettings {
            secret_key: None,
            webhook_secret: None,
            base_url: "https://api.stripe.com".into(),
            timeout_ms: 10_000,
            webhook_tolerance_secs: 300,
            capture_method: CaptureMethod::Automatic,
        }
    }
}

impl StripeSettings {
    pub fn is_configured(&self) -> bool {
        present(&self.secret_key)
    }

    pub fn webhook_secrets(&self) -> Vec<SecretString> {
        split_secrets(&self.webhook_secret)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        check_url(&mut problems, "stripe.base_url", &self.base_url);
        check_timeout(&mut problems, "stripe.timeout_ms", self.timeout_ms);
        if self.webhook_tolerance_secs == 0 {
            problems.push("stripe.webhook_tolerance_secs: must be > 0".into());
        }
        if self.is_configured() && self.webhook_secrets().is_empty() {
            problems.push("stripe.webhook_secret: required when stripe is configured".into());
        }
        problems
    }
}
