//! Standard Webhooks signatures: `webhook-signature` is `v1,` and the base64 of the
//! HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the secret's
//! bytes (the base64 after `whsec_`); several signatures (a secret being rotated) are
//! separated by spaces and a receiver accepts any.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SECRET_PREFIX: &str = "whsec_";

/// The key bytes of a `whsec_...` secret.
pub fn key(secret: &str) -> anyhow::Result<Vec<u8>> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .context("a webhook secret starts with whsec_")?;
    STANDARD
        .decode(encoded)
        .context("a webhook secret is whsec_ and base64")
}

/// `v1,<base64 signature>` of one message with one secret.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)?)
        .context("an HMAC key of any length is accepted")?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per secret, space-separated.
pub fn header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let signatures: anyhow::Result<Vec<String>> = secrets
        .iter()
        .map(|s| signature(s, id, timestamp, body))
        .collect();
    Ok(signatures?.join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The test vector published with the Standard Webhooks specification.
    #[test]
    fn the_specifications_test_vector() {
        let signed = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signed, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_two_signatures_and_bad_secrets_refused() {
        let a = crate::webhooks_out::new_secret();
        let b = crate::webhooks_out::new_secret();
        assert_ne!(a, b);
        assert_eq!(key(&a).unwrap().len(), 32);
        let both = header(&[&a, &b], "id", 1, b"{}").unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], signature(&a, "id", 1, b"{}").unwrap());
        assert_eq!(parts[1], signature(&b, "id", 1, b"{}").unwrap());
        assert!(signature("secret", "id", 1, b"{}").is_err());
        assert!(signature("whsec_not base64!", "id", 1, b"{}").is_err());
    }
}
