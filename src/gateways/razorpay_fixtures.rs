//! Razorpay's entities and webhook bodies as its documentation gives them
//! (tests/fixtures/razorpay/), read by the client's types and the webhook parser.

use std::path::PathBuf;

use secrecy::SecretString;

use super::*;
use crate::gateways::webhook::{
    RAZORPAY_EVENT_ID_HEADER, RAZORPAY_SIGNATURE_HEADER, WebhookKind, sign_razorpay,
    verify_razorpay,
};

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/razorpay")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn documented_entities_decode_into_our_vocabulary() {
    let order: Order = serde_json::from_str(&fixture("order.json")).unwrap();
    assert_eq!(order_status(&order.status), SessionStatus::Open);
    assert_eq!(order.receipt.as_deref(), Some("ord_7Gd2kQm1"));
    assert_eq!(
        order.notes[IDEMPOTENCY_NOTE],
        "ord_7Gd2kQm1:payment_session"
    );
    check_amount(
        &order.id,
        &Money::new(50_000, "INR"),
        order.amount,
        &order.currency,
    )
    .unwrap();

    let payment = payment_from(serde_json::from_str(&fixture("payment.json")).unwrap());
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!(
        payment.gateway_order_id.as_deref(),
        Some("order_IluGWxBm9U8zJ8")
    );
    assert_eq!((payment.amount, payment.currency.as_str()), (50_000, "INR"));
    assert_eq!(payment.method.as_deref(), Some("upi"));

    let refund = refund_from(serde_json::from_str(&fixture("refund.json")).unwrap());
    assert_eq!(refund.status, RefundStatus::Pending);
    assert_eq!(refund.payment_id, "pay_IluGWxBm9U8zJ8");
    assert_eq!(refund.amount, 20_000);
    assert_eq!(refund.failure_reason, None);
}

#[test]
fn documented_webhooks_are_verified_and_parsed() {
    let secret = SecretString::from("whsec_fixture");
    let cases = [
        (
            "payment.captured",
            WebhookKind::PaymentCaptured,
            Some(PaymentStatus::Captured),
            None,
            50_000,
        ),
        (
            "payment.failed",
            WebhookKind::PaymentFailed,
            Some(PaymentStatus::Failed),
            None,
            50_000,
        ),
        (
            "order.paid",
            WebhookKind::OrderPaid,
            Some(PaymentStatus::Captured),
            None,
            50_000,
        ),
        (
            "refund.processed",
            WebhookKind::RefundProcessed,
            Some(PaymentStatus::PartiallyRefunded),
            Some(RefundStatus::Processed),
            20_000,
        ),
        (
            "refund.failed",
            WebhookKind::RefundFailed,
            Some(PaymentStatus::Captured),
            Some(RefundStatus::Failed),
            20_000,
        ),
    ];
    for (event_type, kind, status, refund_status, amount) in cases {
        let body = fixture(&format!("webhook.{event_type}.json"));
        let mut headers = axum::http::HeaderMap::new();
        let sig = sign_razorpay(&secret, body.as_bytes());
        headers.insert(RAZORPAY_SIGNATURE_HEADER, sig.parse().unwrap());
        headers.insert(RAZORPAY_EVENT_ID_HEADER, "evt_fixture".parse().unwrap());
        let event =
            verify_razorpay(&headers, body.as_bytes(), std::slice::from_ref(&secret)).unwrap();
        assert_eq!(event.kind, kind, "{event_type}");
        assert_eq!(event.status, status, "{event_type}");
        assert_eq!(event.refund_status, refund_status, "{event_type}");
        assert_eq!(event.amount, Some(amount), "{event_type}");
        assert_eq!(event.currency.as_deref(), Some("INR"));
        assert_eq!(event.payment_id.as_deref(), Some("pay_IluGWxBm9U8zJ8"));
        assert_eq!(
            event.gateway_order_id.as_deref(),
            Some("order_IluGWxBm9U8zJ8"),
            "{event_type}"
        );
        if refund_status.is_some() {
            assert_eq!(event.refund_id.as_deref(), Some("rfnd_FgRAHdNOM4ZVbO"));
        }
        if event_type == "order.paid" {
            assert_eq!(event.reference.as_deref(), Some("ord_7Gd2kQm1"));
        }
    }
}
