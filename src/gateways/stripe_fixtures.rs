//! Stripe's own example objects (`checkout.session`, `payment_intent`, `refund`,
//! `charge`, `event` from its published API fixtures), read by the client's types and,
//! wrapped in an event each, by the webhook parser. The fixtures live outside the
//! repository (`../shared/gateway-fixtures/` from the project root, or
//! `GATEWAY_FIXTURES_DIR`); without them the test says so and passes.

use std::path::PathBuf;

use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;
use crate::gateways::webhook::{WebhookKind, sign_stripe, verify_stripe};

const FILE: &str = "stripe-fixtures3-subset.json";

fn fixtures() -> Option<Value> {
    let dir = std::env::var_os("GATEWAY_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/gateway-fixtures")
        });
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(e) => {
            eprintln!(
                "SKIPPED: Stripe fixtures not found at {} ({e}); set GATEWAY_FIXTURES_DIR",
                path.display()
            );
            None
        }
    }
}

#[test]
fn stripe_published_objects_decode_into_our_vocabulary() {
    let Some(all) = fixtures() else { return };

    let session: Session = serde_json::from_value(all["checkout.session"].clone()).unwrap();
    assert_eq!(session_status(&session), SessionStatus::Open);
    assert_eq!(
        intent_id(&session.payment_intent).as_deref(),
        all["payment_intent"]["id"].as_str()
    );
    // Stripe's example has no amount: our money check refuses it rather than guessing.
    assert!(
        check_money(
            KIND,
            &session.id,
            &Money::new(1, "USD"),
            session.amount_total,
            session.currency.as_deref()
        )
        .is_err()
    );

    let mut intent = all["payment_intent"].clone();
    let decoded: PaymentIntent = serde_json::from_value(intent.clone()).unwrap();
    let payment = payment_from(decoded, None);
    // `requires_payment_method` after an error: the attempt failed.
    assert_eq!(payment.status, PaymentStatus::Failed);
    assert_eq!((payment.amount, payment.currency.as_str()), (1099, "USD"));
    assert_eq!(payment.method.as_deref(), Some("card"));
    // Expanded with the charge, as fetch_intent asks: its refunds are read from it.
    intent["status"] = json!("succeeded");
    intent["latest_charge"] = all["charge"].clone();
    let payment = payment_from(serde_json::from_value(intent).unwrap(), None);
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!(
        payment.amount_refunded,
        all["charge"]["amount_refunded"].as_i64().unwrap()
    );

    let refund = refund_from(serde_json::from_value(all["refund"].clone()).unwrap());
    assert_eq!(refund.status, RefundStatus::Processed, "succeeded");
    assert_eq!(refund.refund_id, all["refund"]["id"].as_str().unwrap());
    // No PaymentIntent on this refund: the charge names the payment.
    assert_eq!(refund.payment_id, all["refund"]["charge"].as_str().unwrap());
}

#[test]
fn stripe_published_event_wrapping_each_object_is_parsed() {
    let Some(all) = fixtures() else { return };
    let secret = SecretString::from("whsec_fixture");
    let now = 1_721_948_600;
    let parse = |event: &Value| {
        let body = serde_json::to_vec(event).unwrap();
        let mut headers = axum::http::HeaderMap::new();
        let sig = sign_stripe(&secret, now, &body);
        headers.insert(
            crate::gateways::webhook::STRIPE_SIGNATURE_HEADER,
            sig.parse().unwrap(),
        );
        verify_stripe(&headers, &body, std::slice::from_ref(&secret), 300, now).unwrap()
    };

    // The event as published (a `plan.created`): kept by name, not refused.
    let published = parse(&all["event"]);
    assert_eq!(published.kind, WebhookKind::Other("plan.created".into()));
    assert_eq!(published.event_id, all["event"]["id"].as_str().unwrap());

    let wrap = |event_type: &str, object: &str| {
        let mut event = all["event"].clone();
        event["type"] = json!(event_type);
        event["data"]["object"] = all[object].clone();
        parse(&event)
    };
    let session = wrap("checkout.session.expired", "checkout.session");
    assert_eq!(session.kind, WebhookKind::CheckoutSessionExpired);
    assert_eq!(
        session.gateway_order_id.as_deref(),
        all["checkout.session"]["id"].as_str()
    );
    assert_eq!(
        session.payment_id.as_deref(),
        all["payment_intent"]["id"].as_str()
    );
    assert_eq!(session.amount, None, "Stripe's example carries no amount");

    let intent = wrap("payment_intent.payment_failed", "payment_intent");
    assert_eq!(
        intent.payment_id.as_deref(),
        all["payment_intent"]["id"].as_str()
    );
    assert_eq!(intent.status, Some(PaymentStatus::Failed));
    assert_eq!(
        (intent.amount, intent.currency.as_deref()),
        (Some(1099), Some("USD"))
    );

    for (event_type, kind) in [
        ("refund.updated", WebhookKind::RefundUpdated),
        ("charge.refund.updated", WebhookKind::RefundUpdated),
        ("refund.failed", WebhookKind::RefundFailed),
    ] {
        let refund = wrap(event_type, "refund");
        assert_eq!(refund.kind, kind);
        assert_eq!(refund.refund_id.as_deref(), all["refund"]["id"].as_str());
        assert_eq!(refund.refund_status, Some(RefundStatus::Processed));
        assert_eq!(refund.amount, Some(100));
    }

    let charge = wrap("charge.refunded", "charge");
    assert_eq!(charge.kind, WebhookKind::ChargeRefunded);
    assert_eq!(charge.status, Some(PaymentStatus::Captured));
    assert_eq!(charge.amount, Some(100));
}
