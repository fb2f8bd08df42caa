//! HMAC-SHA256 signing and constant-time verification, the primitive under
//! Razorpay's callback and webhook signatures and Stripe's webhook signatures.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail; fall back to an
    // empty-key MAC rather than panic should that ever change.
    let mut mac = HmacSha256::new_from_slice(secret)
        .unwrap_or_else(|_| <HmacSha256 as hmac::digest::KeyInit>::new(&Default::default()));
    for part in parts {
        mac.update(part);
    }
    mac
}

/// Lower-case hex HMAC-SHA256 of the concatenated parts.
pub fn hmac_sha256_hex(secret: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac(secret, parts).finalize().into_bytes())
}

/// True when `signature_hex` is the HMAC of the parts under `secret`. Compares
/// in constant time (`verify_slice`), so an attacker cannot learn a valid
/// signature byte by byte from response times.
pub fn verify_hex(secret: &[u8], parts: &[&[u8]], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    mac(secret, parts).verify_slice(&signature).is_ok()
}

/// True when the signature matches under any of the secrets (rotation).
pub fn verify_hex_any(secrets: &[SecretString], parts: &[&[u8]], signature_hex: &str) -> bool {
    // No early exit: every secret is tried, so timing does not tell which matched.
    let mut ok = false;
    for secret in secrets {
        ok |= verify_hex(secret.expose_secret().as_bytes(), parts, signature_hex);
    }
    ok
}

/// Razorpay Standard Checkout callback: `razorpay_signature` is
/// hex HMAC-SHA256(key_secret, "{order_id}|{payment_id}").
///
/// `stored_order_id` must be the order id WE created and stored for this
/// checkout, never the `razorpay_order_id` echoed in the callback: otherwise a
/// buyer could present a genuine signature from a cheaper order of their own.
pub fn verify_razorpay_payment(
    key_secret: &SecretString,
    stored_order_id: &str,
    payment_id: &str,
    signature_hex: &str,
) -> bool {
    verify_hex(
        key_secret.expose_secret().as_bytes(),
        &[stored_order_id.as_bytes(), b"|", payment_id.as_bytes()],
        signature_hex,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Fixed HMAC-SHA256 vectors from stripe/stripe-node
    /// `test/crypto/helpers.ts` (secret `test_secret`).
    #[test]
    fn stripe_node_crypto_provider_vectors() {
        let cases: [(&str, &str); 3] = [
            (
                "",
                "f7f9bd47fb987337b5796fdc1fdb9ba221d0d5396814bfcaf9521f43fd8927fd",
            ),
            (
                r#"{"obj1":"hello","obj2":"world"}"#,
                "bebb1a643997f419b315ddba19e6f5411e1ce7f810ba6d3617ce72823092f363",
            ),
            (
                "\u{1F600}",
                "837da296d05c4fe31f61d5d7ead035099d9585a5bcde87de952012a78f0b0c43",
            ),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                hmac_sha256_hex(b"test_secret", &[payload.as_bytes()]),
                expected
            );
            assert!(verify_hex(b"test_secret", &[payload.as_bytes()], expected));
        }
    }

    /// razorpay/razorpay-python `tests/test_client_utility.py`
    /// `test_verify_payment_signature`: key secret `key_secret` (from
    /// `tests/helpers.py`), order `fake_order_id`, payment `fake_payment_id`.
    #[test]
    fn razorpay_python_payment_signature_vector() {
        let secret = SecretString::from("key_secret");
        let sig = "b2335e3b0801106b84a7faff035df56ecffde06918c9ddd1f0fafbb37a51cc89";
        assert!(verify_razorpay_payment(
            &secret,
            "fake_order_id",
            "fake_payment_id",
            sig
        ));
        // The same signature does not vouch for another order id.
        assert!(!verify_razorpay_payment(
            &secret,
            "other_order_id",
            "fake_payment_id",
            sig
        ));
        assert!(!verify_razorpay_payment(
            &secret,
            "fake_order_id",
            "fake_payment_id",
            "test_signature"
        ));
    }

    #[test]
    fn bad_hex_and_wrong_length_are_rejected() {
        let good = hmac_sha256_hex(b"k", &[b"m"]);
        assert!(verify_hex(b"k", &[b"m"], &good));
        assert!(
            verify_hex(b"k", &[b"m"], &good.to_uppercase()),
            "hex case does not matter"
        );
        assert!(!verify_hex(b"k", &[b"m"], &good[..62]));
        assert!(!verify_hex(b"k", &[b"m"], "zz"));
        assert!(!verify_hex(b"k", &[b"m"], ""));
    }

    #[test]
    fn any_of_several_secrets_verifies() {
        let secrets = vec![SecretString::from("old"), SecretString::from("new")];
        let sig = hmac_sha256_hex(b"new", &[b"body"]);
        assert!(verify_hex_any(&secrets, &[b"body"], &sig));
        assert!(!verify_hex_any(&secrets[..1], &[b"body"], &sig));
    }
}
