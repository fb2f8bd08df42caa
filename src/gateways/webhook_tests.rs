use axum::http::{HeaderMap, HeaderValue};
use secrecy::SecretString;

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn secrets(list: &[&str]) -> Vec<SecretString> {
    list.iter().map(|s| SecretString::from(*s)).collect()
}

// ---- Razorpay ------------------------------------------------------------

/// razorpay/razorpay-node `test/utils/razorpay-utils.spec.js`,
/// `validateWebhookSignature`: body, secret `123456` and the signature below.
#[test]
fn razorpay_node_webhook_vector() {
    let body = br#"{"a":1,"b":2,"c":{"d":3}}"#;
    let sig = "2fe04e22977002e6c7cb553adab8b460cb9e2a4970d5953cb27a8472752e3bbc";
    assert_eq!(sign_razorpay(&SecretString::from("123456"), body), sig);
    let h = headers(&[
        (RAZORPAY_SIGNATURE_HEADER, sig),
        (RAZORPAY_EVENT_ID_HEADER, "evt_1"),
    ]);
    // The signature passes; the body is not a Razorpay event, so parsing says so.
    assert!(matches!(
        verify_razorpay(&h, body, &secrets(&["123456"])),
        Err(WebhookError::Malformed(_))
    ));
    let wrong = headers(&[
        (RAZORPAY_SIGNATURE_HEADER, "sdfafds"),
        (RAZORPAY_EVENT_ID_HEADER, "evt_1"),
    ]);
    assert_eq!(
        verify_razorpay(&wrong, body, &secrets(&["123456"])),
        Err(WebhookError::BadSignature)
    );
}

const RZP_CAPTURED: &str = r#"{"entity":"event","account_id":"acc_BFQ7uQEaa7j2z7","event":"payment.captured","contains":["payment"],"payload":{"payment":{"entity":{"id":"pay_DESlfW9H8K9uqM","entity":"payment","amount":50000,"currency":"INR","status":"captured","order_id":"order_DESlLckIVRkHWj","amount_refunded":0,"method":"upi"}}},"created_at":1567674606}"#;

fn rzp_headers(sig: &str) -> HeaderMap {
    headers(&[
        (RAZORPAY_SIGNATURE_HEADER, sig),
        (RAZORPAY_EVENT_ID_HEADER, "KEbGAGFq0Ki5Bq"),
    ])
}

#[test]
fn razorpay_event_is_parsed() {
    let secret = SecretString::from("whsec_rzp");
    let sig = sign_razorpay(&secret, RZP_CAPTURED.as_bytes());
    let event = verify_razorpay(&rzp_headers(&sig), RZP_CAPTURED.as_bytes(), &[secret]).unwrap();
    assert_eq!(event.gateway, GatewayKind::Razorpay);
    assert_eq!(event.event_id, "KEbGAGFq0Ki5Bq");
    assert_eq!(event.kind, WebhookKind::PaymentCaptured);
    assert_eq!(
        event.gateway_order_id.as_deref(),
        Some("order_DESlLckIVRkHWj")
    );
    assert_eq!(event.payment_id.as_deref(), Some("pay_DESlfW9H8K9uqM"));
    assert_eq!(event.amount, Some(50000));
    assert_eq!(event.currency.as_deref(), Some("INR"));
    assert_eq!(event.status, Some(PaymentStatus::Captured));
    assert_eq!(event.created_at, Some(1567674606));
}

#[test]
fn razorpay_rejects_tampered_reserialized_unsigned_and_unknown_secret() {
    let secret = SecretString::from("whsec_rzp");
    let body = RZP_CAPTURED.as_bytes();
    let sig = sign_razorpay(&secret, body);
    let s = [secret.clone()];

    let tampered = RZP_CAPTURED.replace("50000", "5000");
    assert_eq!(
        verify_razorpay(&rzp_headers(&sig), tampered.as_bytes(), &s),
        Err(WebhookError::BadSignature)
    );

    let value: serde_json::Value = serde_json::from_str(RZP_CAPTURED).unwrap();
    let reserialized = serde_json::to_vec_pretty(&value).unwrap();
    assert_eq!(
        verify_razorpay(&rzp_headers(&sig), &reserialized, &s),
        Err(WebhookError::BadSignature)
    );

    let no_sig = headers(&[(RAZORPAY_EVENT_ID_HEADER, "e")]);
    assert_eq!(
        verify_razorpay(&no_sig, body, &s),
        Err(WebhookError::MissingHeader(RAZORPAY_SIGNATURE_HEADER))
    );
    let no_id = headers(&[(RAZORPAY_SIGNATURE_HEADER, sig.as_str())]);
    assert_eq!(
        verify_razorpay(&no_id, body, &s),
        Err(WebhookError::MissingHeader(RAZORPAY_EVENT_ID_HEADER))
    );

    assert_eq!(
        verify_razorpay(&rzp_headers(&sig), body, &secrets(&["other"])),
        Err(WebhookError::BadSignature)
    );
    assert_eq!(
        verify_razorpay(&rzp_headers(&sig), body, &[]),
        Err(WebhookError::NotConfigured)
    );
}

#[test]
fn razorpay_rotated_secret_accepts_old_and_new() {
    let body = RZP_CAPTURED.as_bytes();
    let configured = secrets(&["old_secret", "new_secret"]);
    for signer in ["old_secret", "new_secret"] {
        let sig = sign_razorpay(&SecretString::from(signer), body);
        assert!(verify_razorpay(&rzp_headers(&sig), body, &configured).is_ok());
    }
}

// ---- Stripe --------------------------------------------------------------

/// stripe/stripe-node `test/Webhook.spec.ts`: `EVENT_PAYLOAD_STRING` is
/// `JSON.stringify({id: 'evt_test_webhook', object: 'event'}, null, 2)` and the
/// secret `whsec_test_secret`. The SDK's tests sign at run time, so the cases
/// below follow them with the same inputs.
const SDK_PAYLOAD: &str = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";
const SDK_SECRET: &str = "whsec_test_secret";

fn stripe_headers(value: &str) -> HeaderMap {
    headers(&[(STRIPE_SIGNATURE_HEADER, value)])
}

fn stripe_verify(header: &str, body: &[u8], now: i64, tolerance: u64) -> Result<(), WebhookError> {
    verify_stripe_signature(
        &stripe_headers(header),
        body,
        &secrets(&[SDK_SECRET]),
        tolerance,
        now,
    )
}

#[test]
fn stripe_sdk_cases() {
    let now = 1_700_000_000;
    let body = SDK_PAYLOAD.as_bytes();
    let secret = SecretString::from(SDK_SECRET);

    // valid header and signature
    let good = sign_stripe(&secret, now, body);
    assert_eq!(good.split(',').count(), 2);
    assert_eq!(stripe_verify(&good, body, now, 10), Ok(()));
    // The SDK's payload has no `type`; as an event it is malformed.
    assert!(matches!(
        verify_stripe(
            &stripe_headers(&good),
            body,
            &secrets(&[SDK_SECRET]),
            10,
            now
        ),
        Err(WebhookError::Malformed(_))
    ));

    // "the header does not have the expected format"
    assert!(matches!(
        stripe_verify("I'm not even a real signature header", body, now, 10),
        Err(WebhookError::Malformed(_))
    ));
    assert!(matches!(
        stripe_verify("bad_header", body, now, 10),
        Err(WebhookError::Malformed(_))
    ));

    // "no signatures with the expected scheme" (v0 only)
    let v0 = good.replace("v1=", "v0=");
    assert!(matches!(
        stripe_verify(&v0, body, now, 10),
        Err(WebhookError::Malformed(_))
    ));

    // "no valid signatures for the payload"
    assert_eq!(
        stripe_verify(&format!("t={now},v1=bad_signature"), body, now, 10),
        Err(WebhookError::BadSignature)
    );

    // "timestamp is not within the tolerance" (15 s old, tolerance 10)
    let old = sign_stripe(&secret, now - 15, body);
    assert_eq!(
        stripe_verify(&old, body, now, 10),
        Err(WebhookError::StaleTimestamp { age_secs: 15 })
    );
    // ... and within it (9 s old)
    assert!(stripe_verify(&sign_stripe(&secret, now - 9, body), body, now, 10).is_ok());

    // "header contains at least one valid signature"
    assert!(stripe_verify(&format!("{good},v1=potato"), body, now, 10).is_ok());
    assert!(
        stripe_verify(
            &format!("t={now},v1=potato,{}", &good[good.find("v1=").unwrap()..]),
            body,
            now,
            10
        )
        .is_ok()
    );

    // invalid JSON payload with a valid signature is malformed, not accepted
    let junk = b"} I am not valid JSON; 123][";
    assert!(matches!(
        verify_stripe(
            &stripe_headers(&sign_stripe(&secret, now, junk)),
            junk,
            &secrets(&[SDK_SECRET]),
            10,
            now
        ),
        Err(WebhookError::Malformed(_))
    ));

    // empty header
    assert_eq!(
        stripe_verify("", body, now, 10),
        Err(WebhookError::MissingHeader(STRIPE_SIGNATURE_HEADER))
    );
}

#[test]
fn stripe_rejects_tampered_reserialized_missing_future_and_wrong_secret() {
    let now = 1_700_000_000;
    let secret = SecretString::from("whsec_ours");
    let body = br#"{"id":"evt_1","object":"event","type":"checkout.session.completed","created":1700000000,"data":{"object":{"id":"cs_test_1","object":"checkout.session","amount_total":50000,"currency":"inr","client_reference_id":"ord_tok","payment_intent":"pi_1","payment_status":"paid","status":"complete"}}}"#;
    let good = sign_stripe(&secret, now, body);
    let s = [secret.clone()];
    let check = |h: &HeaderMap, b: &[u8]| verify_stripe(h, b, &s, 300, now);

    let event = check(&stripe_headers(&good), body).unwrap();
    assert_eq!(event.kind, WebhookKind::CheckoutSessionCompleted);
    assert_eq!(event.gateway_order_id.as_deref(), Some("cs_test_1"));
    assert_eq!(event.payment_id.as_deref(), Some("pi_1"));
    assert_eq!(event.amount, Some(50000));
    assert_eq!(event.currency.as_deref(), Some("INR"));
    assert_eq!(event.reference.as_deref(), Some("ord_tok"));
    assert_eq!(event.status, Some(PaymentStatus::Captured));

    let tampered = String::from_utf8_lossy(body).replace("50000", "100");
    assert_eq!(
        check(&stripe_headers(&good), tampered.as_bytes()),
        Err(WebhookError::BadSignature)
    );

    let value: serde_json::Value = serde_json::from_slice(body).unwrap();
    let reserialized = serde_json::to_vec_pretty(&value).unwrap();
    assert_eq!(
        check(&stripe_headers(&good), &reserialized),
        Err(WebhookError::BadSignature)
    );

    assert_eq!(
        check(&HeaderMap::new(), body),
        Err(WebhookError::MissingHeader(STRIPE_SIGNATURE_HEADER))
    );

    // A signature with a timestamp far in the future is as suspect as an old one.
    let future = sign_stripe(&secret, now + 301, body);
    assert_eq!(
        check(&stripe_headers(&future), body),
        Err(WebhookError::StaleTimestamp { age_secs: -301 })
    );

    // Changing t breaks the signature (t is signed).
    let shifted = good.replace(&format!("t={now}"), &format!("t={}", now + 1));
    assert_eq!(
        check(&stripe_headers(&shifted), body),
        Err(WebhookError::BadSignature)
    );

    let other = sign_stripe(&SecretString::from("whsec_other"), now, body);
    assert_eq!(
        check(&stripe_headers(&other), body),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn stripe_rotation_any_v1_against_any_secret() {
    let now = 1_700_000_000;
    let body = SDK_PAYLOAD.as_bytes();
    let old = SecretString::from("whsec_old");
    let new = SecretString::from("whsec_new");
    // During a roll Stripe signs with both secrets: t=..,v1=<old>,v1=<new>.
    let sig_old = sign_stripe(&old, now, body);
    let sig_new = sign_stripe(&new, now, body);
    let both = format!("{sig_old},{}", &sig_new[sig_new.find("v1=").unwrap()..]);
    let only_new = secrets(&["whsec_new"]);
    let check = |h: &str, s: &[SecretString]| {
        verify_stripe_signature(&stripe_headers(h), body, s, 300, now)
    };
    assert_eq!(check(&both, &only_new), Ok(()));
    let configured = secrets(&["whsec_old", "whsec_new"]);
    assert_eq!(check(&sig_new, &configured), Ok(()));
    assert_eq!(check(&sig_old, &configured), Ok(()));
    assert_eq!(check(&sig_old, &only_new), Err(WebhookError::BadSignature));
}

#[test]
fn stripe_charge_refunded_is_parsed() {
    let now = 1_700_000_000;
    let secret = SecretString::from("whsec_ours");
    let body = br#"{"id":"evt_2","object":"event","type":"charge.refunded","created":1700000001,"data":{"object":{"id":"ch_1","object":"charge","amount":50000,"amount_refunded":20000,"refunded":false,"currency":"inr","payment_intent":"pi_1","status":"succeeded"}}}"#;
    let h = stripe_headers(&sign_stripe(&secret, now, body));
    let event = verify_stripe(&h, body, &[secret], 300, now).unwrap();
    assert_eq!(event.kind, WebhookKind::ChargeRefunded);
    assert_eq!(event.payment_id.as_deref(), Some("pi_1"));
    assert_eq!(event.status, Some(PaymentStatus::PartiallyRefunded));
}

#[test]
fn stripe_refund_events_carry_the_refund_and_its_status() {
    let now = 1_700_000_000;
    let secret = SecretString::from("whsec_ours");
    for (event_type, status, kind, mapped) in [
        (
            "refund.updated",
            "succeeded",
            WebhookKind::RefundUpdated,
            RefundStatus::Processed,
        ),
        (
            "charge.refund.updated",
            "requires_action",
            WebhookKind::RefundUpdated,
            RefundStatus::Pending,
        ),
        (
            "refund.updated",
            "canceled",
            WebhookKind::RefundUpdated,
            RefundStatus::Failed,
        ),
        (
            "refund.failed",
            "failed",
            WebhookKind::RefundFailed,
            RefundStatus::Failed,
        ),
    ] {
        let body = format!(
            r#"{{"id":"evt_r","object":"event","type":"{event_type}","created":1700000001,"data":{{"object":{{"id":"re_1","object":"refund","amount":20000,"currency":"inr","payment_intent":"pi_1","charge":"ch_1","status":"{status}"}}}}}}"#
        );
        let h = stripe_headers(&sign_stripe(&secret, now, body.as_bytes()));
        let event =
            verify_stripe(&h, body.as_bytes(), std::slice::from_ref(&secret), 300, now).unwrap();
        assert_eq!(event.kind, kind, "{event_type}");
        assert_eq!(event.refund_id.as_deref(), Some("re_1"));
        assert_eq!(event.payment_id.as_deref(), Some("pi_1"));
        assert_eq!(event.amount, Some(20_000));
        assert_eq!(event.currency.as_deref(), Some("INR"));
        assert_eq!(event.refund_status, Some(mapped), "{event_type} {status}");
        assert_eq!(event.status, None, "a refund says nothing of the payment");
    }
}

#[test]
fn razorpay_refund_events_carry_the_refund_and_its_status() {
    let secret = SecretString::from("whsec_rzp");
    for (event_type, status, kind, mapped) in [
        (
            "refund.processed",
            "processed",
            WebhookKind::RefundProcessed,
            RefundStatus::Processed,
        ),
        (
            "refund.failed",
            "failed",
            WebhookKind::RefundFailed,
            RefundStatus::Failed,
        ),
    ] {
        let body = format!(
            r#"{{"entity":"event","event":"{event_type}","contains":["refund","payment"],"payload":{{"refund":{{"entity":{{"id":"rfnd_1","entity":"refund","amount":20000,"currency":"INR","payment_id":"pay_1","status":"{status}"}}}},"payment":{{"entity":{{"id":"pay_1","entity":"payment","amount":50000,"currency":"INR","status":"captured","order_id":"order_1","amount_refunded":20000}}}}}},"created_at":1700000001}}"#
        );
        let sig = sign_razorpay(&secret, body.as_bytes());
        let event = verify_razorpay(
            &rzp_headers(&sig),
            body.as_bytes(),
            std::slice::from_ref(&secret),
        )
        .unwrap();
        assert_eq!(event.kind, kind);
        assert_eq!(event.refund_id.as_deref(), Some("rfnd_1"));
        assert_eq!(event.payment_id.as_deref(), Some("pay_1"));
        assert_eq!(event.amount, Some(20_000), "the refund's amount");
        assert_eq!(event.refund_status, Some(mapped));
    }
}

// ---- Metric labels ---------------------------------------------------------

#[test]
fn every_kind_is_labelled_by_its_snake_case_name_within_the_closed_set() {
    let kinds = [
        WebhookKind::PaymentAuthorized,
        WebhookKind::PaymentCaptured,
        WebhookKind::PaymentFailed,
        WebhookKind::OrderPaid,
        WebhookKind::RefundProcessed,
        WebhookKind::RefundFailed,
        WebhookKind::RefundUpdated,
        WebhookKind::CheckoutSessionCompleted,
        WebhookKind::CheckoutSessionExpired,
        WebhookKind::ChargeRefunded,
    ];
    for kind in &kinds {
        let serde_name = serde_json::to_value(kind).unwrap();
        assert_eq!(serde_name.as_str(), Some(kind.label()));
        assert!(WebhookKind::LABELS.contains(&kind.label()));
    }
    // a type name from outside never becomes a label of its own
    let other = WebhookKind::parse(GatewayKind::Stripe, "customer.created");
    assert_eq!(other.label(), "other");
    assert_eq!(WebhookKind::LABELS.len(), kinds.len() + 1);
}
