//! Settings for the gateway clients, failover and the sandbox.
//!
//! The config loader nests these as the sections `razorpay`, `stripe`,
//! `payments` and `sandbox`, so operators set e.g. `CHECKOUT__RAZORPAY__KEY_ID`.
//! Every struct has defaults so an empty section is valid, and rejects unknown
//! keys so a typo fails at start instead of silently using a default.
//! A gateway without keys is simply not offered.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use crate::domain::GatewayKind;

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

/// Failover order, retries and circuit breaker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsSettings {
    /// Gateways in the order they are tried: a list, or a comma-separated
    /// string (`CHECKOUT__PAYMENTS__GATEWAYS=razorpay,stripe`). Names without
    /// keys are skipped.
    #[serde(deserialize_with = "lenient::list")]
    pub gateways: Vec<String>,
    /// Attempts per call, first included. Only idempotent calls get more than one.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter, up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Consecutive outage-type failures that open a gateway's breaker.
    pub breaker_failures: u32,
    /// How long an opened breaker rejects calls before letting one probe through;
    /// doubles on each re-open, up to `breaker_max_open_ms`.
    pub breaker_open_ms: u64,
    pub breaker_max_open_ms: u64,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        PaymentsSettings {
            gateways: vec!["razorpay".into(), "stripe".into()],
            max_attempts: 3,
            retry_base_ms: 200,
            retry_max_ms: 2_000,
            breaker_failures: 5,
            breaker_open_ms: 30_000,
            breaker_max_open_ms: 300_000,
        }
    }
}

impl PaymentsSettings {
    /// The configured order, parsed. Unknown names are reported by `validate`.
    pub fn gateway_order(&self) -> Vec<GatewayKind> {
        let mut out = Vec::new();
        for name in &self.gateways {
            if let Ok(kind) = name.parse::<GatewayKind>()
                && !out.contains(&kind)
            {
                out.push(kind);
            }
        }
        out
    }

    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.gateways.is_empty() {
            problems.push("payments.gateways: at least one gateway is required".into());
        }
        let mut seen = Vec::new();
        for name in &self.gateways {
            match name.parse::<GatewayKind>() {
                Ok(kind) if seen.contains(&kind) => {
                    problems.push(format!("payments.gateways: `{kind}` listed twice"));
                }
                Ok(kind) => seen.push(kind),
                Err(e) => problems.push(format!("payments.gateways: {e}")),
            }
        }
        if self.max_attempts == 0 {
            problems.push("payments.max_attempts: must be >= 1".into());
        }
        if self.retry_base_ms > self.retry_max_ms {
            problems.push("payments.retry_base_ms: must not exceed payments.retry_max_ms".into());
        }
        if self.breaker_failures == 0 {
            problems.push("payments.breaker_failures: must be >= 1".into());
        }
        if self.breaker_open_ms == 0 {
            problems.push("payments.breaker_open_ms: must be > 0".into());
        }
        if self.breaker_open_ms > self.breaker_max_open_ms {
            problems.push(
                "payments.breaker_open_ms: must not exceed payments.breaker_max_open_ms".into(),
            );
        }
        problems
    }
}

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

fn present(secret: &Option<SecretString>) -> bool {
    secret
        .as_ref()
        .is_some_and(|s| !s.expose_secret().trim().is_empty())
}

/// `a, b` -> [`a`, `b`]; empty parts are dropped.
pub fn split_secrets(secret: &Option<SecretString>) -> Vec<SecretString> {
    match secret {
        None => Vec::new(),
        Some(s) => s
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(SecretString::from)
            .collect(),
    }
}

fn check_url(problems: &mut Vec<String>, key: &str, url: &str) {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && reqwest::Url::parse(url).is_ok();
    if !ok {
        problems.push(format!("{key}: `{url}` is not an http(s) URL"));
    }
}

fn check_timeout(problems: &mut Vec<String>, key: &str, ms: u64) {
    if ms == 0 || ms > 120_000 {
        problems.push(format!("{key}: must be between 1 and 120000"));
    }
}

/// Deserializers that accept what layered config produces: env values arrive
/// as numbers or booleans when they look like one (`…KEY_SECRET=123456`), and
/// lists arrive as a comma-separated string.
mod lenient {
    use super::*;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        U(u64),
        F(f64),
        B(bool),
    }

    impl Scalar {
        fn into_string(self) -> String {
            match self {
                Scalar::S(s) => s,
                Scalar::I(i) => i.to_string(),
                Scalar::U(u) => u.to_string(),
                Scalar::F(f) => f.to_string(),
                Scalar::B(b) => b.to_string(),
            }
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(Scalar::deserialize(d)?.into_string())
    }

    pub fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        Ok(Option::<Scalar>::deserialize(d)?
            .map(Scalar::into_string)
            .filter(|s| !s.trim().is_empty())
            .map(SecretString::from))
    }

    pub fn secret_required<'de, D: Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
        Ok(SecretString::from(Scalar::deserialize(d)?.into_string()))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Many(Vec<String>),
        One(String),
    }

    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let items = match List::deserialize(d)? {
            List::Many(v) => v,
            List::One(s) => s.split(',').map(str::to_owned).collect(),
        };
        Ok(items
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_sections_take_defaults() {
        let r: RazorpaySettings = serde_json::from_str("{}").unwrap();
        assert_eq!(r.base_url, "https://api.razorpay.com");
        assert!(!r.is_configured());
        assert!(r.validate().is_empty(), "{:?}", r.validate());
        let s: StripeSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(s.webhook_tolerance_secs, 300);
        assert!(s.validate().is_empty());
        let p: PaymentsSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(
            p.gateway_order(),
            vec![GatewayKind::Razorpay, GatewayKind::Stripe]
        );
        assert!(p.validate().is_empty());
        let sb: SandboxSettings = serde_json::from_str("{}").unwrap();
        assert!(sb.validate().is_empty(), "{:?}", sb.validate());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<RazorpaySettings>(r#"{"key_idd":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("key_idd"), "{err}");
        assert!(serde_json::from_str::<PaymentsSettings>(r#"{"gateway":"x"}"#).is_err());
    }

    #[test]
    fn gateways_accept_a_comma_string_and_report_unknown_names() {
        let p: PaymentsSettings =
            serde_json::from_str(r#"{"gateways":"Stripe, razorpay"}"#).unwrap();
        assert_eq!(
            p.gateway_order(),
            vec![GatewayKind::Stripe, GatewayKind::Razorpay]
        );
        let p: PaymentsSettings =
            serde_json::from_str(r#"{"gateways":["razorpay","paypal","razorpay"]}"#).unwrap();
        let problems = p.validate();
        assert!(
            problems
                .iter()
                .any(|m| m.starts_with("payments.gateways: unknown gateway `paypal`"))
        );
        assert!(problems.iter().any(|m| m.contains("listed twice")));
    }

    #[test]
    fn numeric_secrets_and_rotation_lists() {
        let r: RazorpaySettings = serde_json::from_str(
            r#"{"key_id":"rzp_test_1","key_secret":123456,"webhook_secret":"old, new ,"}"#,
        )
        .unwrap();
        assert!(r.is_configured());
        let secrets: Vec<String> = r
            .webhook_secrets()
            .iter()
            .map(|s| s.expose_secret().to_owned())
            .collect();
        assert_eq!(secrets, vec!["old", "new"]);
        assert_eq!(r.key_secret.unwrap().expose_secret(), "123456");
    }

    #[test]
    fn half_configured_gateways_are_reported() {
        let r = RazorpaySettings {
            key_id: "rzp_test_1".into(),
            ..Default::default()
        };
        assert!(
            r.validate()
                .iter()
                .any(|m| m.starts_with("razorpay.key_secret:"))
        );
        let s = StripeSettings {
            secret_key: Some("sk_test".into()),
            base_url: "ftp://x".into(),
            ..Default::default()
        };
        let problems = s.validate();
        assert!(
            problems
                .iter()
                .any(|m| m.starts_with("stripe.webhook_secret:"))
        );
        assert!(problems.iter().any(|m| m.starts_with("stripe.base_url:")));
    }

    #[test]
    fn sandbox_client_settings_match_its_secrets() {
        let sb = SandboxSettings::default();
        let r = sb.razorpay_client("http://127.0.0.1:9/sandbox/");
        assert_eq!(r.base_url, "http://127.0.0.1:9/sandbox/razorpay");
        assert!(r.validate().is_empty(), "{:?}", r.validate());
        let s = sb.stripe_client("http://127.0.0.1:9/sandbox");
        assert_eq!(s.base_url, "http://127.0.0.1:9/sandbox/stripe");
        assert!(s.validate().is_empty());
    }
}
