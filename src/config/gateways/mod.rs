//! Settings for the gateway clients, failover and the sandbox.
//!
//! The config loader nests these as the sections `razorpay`, `stripe`,
//! `payments` and `sandbox`, so operators set e.g. `CHECKOUT__RAZORPAY__KEY_ID`.
//! Every struct has defaults so an empty section is valid, and rejects unknown
//! keys so a typo fails at start instead of silently using a default.
//! A gateway without keys is simply not offered.

mod payments;
mod razorpay;
mod sandbox;
mod stripe;

pub use payments::PaymentsSettings;
pub use razorpay::RazorpaySettings;
pub use sandbox::SandboxSettings;
pub use stripe::{CaptureMethod, StripeSettings};

use secrecy::{ExposeSecret, SecretString};

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
    use secrecy::SecretString;
    use serde::{Deserialize, Deserializer};

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
    use crate::domain::GatewayKind;

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
