//! Sandbox tests over real sockets: API shapes, hosted page, webhooks with
//! retries and faults, idempotency.

use std::time::Duration;

use axum::http::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::testkit::*;
use super::{DeliveryState, Faults};
use crate::gateways::webhook::{unix_now, verify_razorpay, verify_stripe};
use crate::gateways::{GatewayKind, PaymentStatus, WebhookKind};

async fn rzp_order(sb: &TestSandbox, receipt: &str) -> Value {
    let s = sb.state.settings();
    let response = sb
        .http
        .post(format!("{}/razorpay/v1/orders", sb.base))
        .basic_auth(
            &s.razorpay_key_id,
            Some(s.razorpay_key_secret.expose_secret()),
        )
        .json(&json!({"amount": 50000, "currency": "INR", "receipt": receipt}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn stripe_session(sb: &TestSandbox, key: &str) -> Value {
    let form = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "inr"),
        ("line_items[0][price_data][unit_amount]", "50000"),
        ("line_items[0][price_data][product_data][name]", "Course"),
        ("line_items[0][quantity]", "1"),
        ("client_reference_id", "ord_1"),
        ("success_url", "http://shop.test/ok?s={CHECKOUT_SESSION_ID}"),
        ("cancel_url", "http://shop.test/cancel"),
    ];
    let response = sb
        .http
        .post(format!("{}/stripe/v1/checkout/sessions", sb.base))
        .bearer_auth(sb.state.settings().stripe_secret_key.expose_secret())
        .header("Idempotency-Key", key)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn razorpay_api_checks_auth_and_validates_like_the_real_one() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let url = format!("{}/razorpay/v1/orders", sb.base);
    let unauth = sb
        .http
        .post(&url)
        .json(&json!({"amount": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
    let body: Value = unauth.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BAD_REQUEST_ERROR");
    assert_eq!(body["error"]["description"], "Authentication failed");

    let s = sb.state.settings();
    let long = "r".repeat(41);
    let invalid = sb
        .http
        .post(&url)
        .basic_auth(
            &s.razorpay_key_id,
            Some(s.razorpay_key_secret.expose_secret()),
        )
        .json(&json!({"amount": 50000, "currency": "INR", "receipt": long}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 400);
    let body: Value = invalid.json().await.unwrap();
    assert_eq!(body["error"]["field"], "receipt");

    let order = rzp_order(&sb, "ord_1").await;
    assert_eq!(order["entity"], "order");
    assert_eq!(order["status"], "created");
    assert_eq!(order["amount_due"], 50000);
    assert!(order["id"].as_str().unwrap().starts_with("order_"));
}

#[tokio::test]
async fn paying_twice_captures_once() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let order = rzp_order(&sb, "ord_once").await;
    let id = order["id"].as_str().unwrap();
    sb.pay(id, "captured").await;
    let (status, _) = sb
        .control_post(
            &format!("/sessions/{id}/pay"),
            json!({"outcome": "captured"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let payments = sb.control_get("/payments").await;
    let captured: Vec<&Value> = payments["razorpay"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["status"] == "captured")
        .collect();
    assert_eq!(captured.len(), 1);
    let sessions = sb.control_get("/sessions").await;
    assert_eq!(sessions["razorpay"][0]["status"], "paid");
}

#[tokio::test]
async fn failed_then_captured_records_both_attempts() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let order = rzp_order(&sb, "ord_retry").await;
    let id = order["id"].as_str().unwrap();
    let failed = sb.pay(id, "failed").await;
    assert_eq!(failed["callback"]["kind"], "form_post");
    assert!(failed["callback"]["fields"]["error[code]"].is_string());
    sb.pay(id, "captured").await;
    let payments = sb.control_get("/payments").await;
    let statuses: Vec<&str> = payments["razorpay"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["failed", "captured"]);
}

#[tokio::test]
async fn webhook_reaches_a_receiver_that_fails_twice() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let receiver = spawn_receiver(2).await;
    sb.state
        .set_webhook_url(GatewayKind::Razorpay, &receiver.url);
    let order = rzp_order(&sb, "ord_hook").await;
    let id = order["id"].as_str().unwrap();
    sb.pay(id, "captured").await;

    assert!(eventually(Duration::from_secs(3), || receiver.bodies().len() == 3).await);
    let deliveries = sb.state.deliveries();
    assert_eq!(deliveries.len(), 3);
    assert!(
        deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
    );
    // The first event took three attempts: two 500s, then 200.
    let statuses: Vec<Option<u16>> = deliveries[0].attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(200)]);

    let secrets = [sb.state.settings().razorpay_webhook_secret.clone()];
    let kinds: Vec<WebhookKind> = receiver
        .bodies()
        .iter()
        .map(|(h, b)| verify_razorpay(h, b, &secrets).unwrap().kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            WebhookKind::PaymentAuthorized,
            WebhookKind::PaymentCaptured,
            WebhookKind::OrderPaid
        ]
    );
    let (h, b) = &receiver.bodies()[1];
    let event = verify_razorpay(h, b, &secrets).unwrap();
    assert_eq!(event.gateway_order_id.as_deref(), Some(id));
    assert_eq!(event.amount, Some(50000));
    assert_eq!(event.status, Some(PaymentStatus::Captured));
}

#[tokio::test]
async fn webhook_delivery_gives_up_after_the_bound() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let receiver = spawn_receiver(usize::MAX).await;
    sb.state
        .set_webhook_url(GatewayKind::Razorpay, &receiver.url);
    let order = rzp_order(&sb, "ord_down").await;
    sb.pay(order["id"].as_str().unwrap(), "failed").await;
    assert!(
        eventually(Duration::from_secs(3), || {
            sb.state.deliveries().first().map(|d| d.state) == Some(DeliveryState::Failed)
        })
        .await
    );
    assert_eq!(sb.state.deliveries()[0].attempts.len(), 4);
}

#[tokio::test]
async fn webhook_faults_duplicate_reorder_and_drop() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let receiver = spawn_receiver(0).await;
    sb.state
        .set_webhook_url(GatewayKind::Razorpay, &receiver.url);
    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            webhook_duplicate: true,
            webhook_out_of_order: true,
            webhook_delay_ms: 30,
            ..Default::default()
        },
    );
    let order = rzp_order(&sb, "ord_faults").await;
    sb.pay(order["id"].as_str().unwrap(), "captured").await;
    assert!(eventually(Duration::from_secs(3), || receiver.bodies().len() == 6).await);
    let secrets = [sb.state.settings().razorpay_webhook_secret.clone()];
    let events: Vec<_> = receiver
        .bodies()
        .iter()
        .map(|(h, b)| verify_razorpay(h, b, &secrets).unwrap())
        .collect();
    assert_eq!(events[0].kind, WebhookKind::OrderPaid, "reversed order");
    assert_eq!(events[0].event_id, events[1].event_id, "same event twice");
    assert_eq!(events[5].kind, WebhookKind::PaymentAuthorized);

    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            webhook_drop_rate: 1.0,
            ..Default::default()
        },
    );
    let order = rzp_order(&sb, "ord_drop").await;
    sb.pay(order["id"].as_str().unwrap(), "failed").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.bodies().len(), 6);
    assert_eq!(
        sb.state.deliveries().last().map(|d| d.state),
        Some(DeliveryState::Dropped)
    );
}

#[tokio::test]
async fn stripe_webhooks_are_signed_and_trigger_replays() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let receiver = spawn_receiver(0).await;
    let (status, _) = sb
        .control_post("/webhooks/targets", json!({"stripe": receiver.url}))
        .await;
    // PUT route: POST is not allowed.
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    sb.http
        .put(format!("{}/control/webhooks/targets", sb.base))
        .json(&json!({"stripe": receiver.url}))
        .send()
        .await
        .unwrap();
    let session = stripe_session(&sb, "k1").await;
    let id = session["id"].as_str().unwrap();
    let paid = sb.pay(id, "captured").await;
    assert_eq!(
        paid["callback"]["url"],
        format!("http://shop.test/ok?s={id}")
    );
    let (status, _) = sb
        .control_post(
            "/webhooks/trigger",
            json!({"gateway": "stripe", "event": "checkout.session.completed", "object_id": id}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(eventually(Duration::from_secs(3), || receiver.bodies().len() == 2).await);
    let secrets = [sb.state.settings().stripe_webhook_secret.clone()];
    for (h, b) in receiver.bodies() {
        let event = verify_stripe(&h, &b, &secrets, 300, unix_now()).unwrap();
        assert_eq!(event.kind, WebhookKind::CheckoutSessionCompleted);
        assert_eq!(event.gateway_order_id.as_deref(), Some(id));
        assert_eq!(event.reference.as_deref(), Some("ord_1"));
        assert_eq!(event.status, Some(PaymentStatus::Captured));
    }
    let bodies = receiver.bodies();
    let ids: Vec<String> = bodies
        .iter()
        .map(|(h, b)| {
            verify_stripe(h, b, &secrets, 300, unix_now())
                .unwrap()
                .event_id
        })
        .collect();
    assert_ne!(ids[0], ids[1], "a triggered event is a new event");
}

#[tokio::test]
async fn stripe_idempotency_key_replays_and_rejects_other_params() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let a = stripe_session(&sb, "same").await;
    let b = stripe_session(&sb, "same").await;
    assert_eq!(a["id"], b["id"]);
    let sessions = sb.control_get("/sessions").await;
    assert_eq!(sessions["stripe"].as_array().unwrap().len(), 1);

    let other = sb
        .http
        .post(format!("{}/stripe/v1/checkout/sessions", sb.base))
        .bearer_auth(sb.state.settings().stripe_secret_key.expose_secret())
        .header("Idempotency-Key", "same")
        .form(&[("mode", "payment")])
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 400);
    let body: Value = other.json().await.unwrap();
    assert_eq!(body["error"]["type"], "idempotency_error");

    let unauth = sb
        .http
        .get(format!(
            "{}/stripe/v1/checkout/sessions/{}",
            sb.base,
            a["id"].as_str().unwrap()
        ))
        .bearer_auth("sk_test_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(unauth.status(), 401);
}

#[tokio::test]
async fn hosted_page_pays_and_returns_the_buyer_like_the_gateways() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Razorpay: page, then a form POST back with signed fields.
    let order = rzp_order(&sb, "ord_page").await;
    let id = order["id"].as_str().unwrap();
    let page = no_redirect
        .get(format!(
            "{}/pay/{id}?callback_url=http://shop.test/cb",
            sb.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Pay") && page.contains("Fail") && page.contains("Cancel"));
    assert!(page.contains("http://shop.test/cb"));
    let back = no_redirect
        .post(format!("{}/pay/{id}", sb.base))
        .form(&[
            ("outcome", "captured"),
            ("callback_url", "http://shop.test/cb"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(back.contains("action=\"http://shop.test/cb\""));
    assert!(back.contains("razorpay_signature") && back.contains(id));

    // Stripe: success and cancel redirects.
    let session = stripe_session(&sb, "page").await;
    let sid = session["id"].as_str().unwrap();
    assert_eq!(session["url"], format!("{}/pay/{sid}", sb.base));
    let cancel = no_redirect
        .post(format!("{}/pay/{sid}", sb.base))
        .form(&[("outcome", "cancelled")])
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 303);
    assert_eq!(cancel.headers()["location"], "http://shop.test/cancel");
    let ok = no_redirect
        .post(format!("{}/pay/{sid}", sb.base))
        .form(&[("outcome", "captured")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(
        ok.headers()["location"].to_str().unwrap(),
        format!("http://shop.test/ok?s={sid}")
    );
}

#[tokio::test]
async fn api_faults_down_errors_and_method_filter() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            down: true,
            ..Default::default()
        },
    );
    let s = sb.state.settings();
    let get = |path: &str| {
        sb.http
            .get(format!("{}/razorpay{path}", sb.base))
            .basic_auth(
                &s.razorpay_key_id,
                Some(s.razorpay_key_secret.expose_secret()),
            )
            .send()
    };
    let down = get("/v1/orders").await.unwrap();
    assert_eq!(down.status(), 503);
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"]["code"], "SERVER_ERROR");

    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            error_next: 1,
            only_methods: vec!["POST".into()],
            ..Default::default()
        },
    );
    assert_eq!(get("/v1/orders").await.unwrap().status(), 200);
    let post = sb
        .http
        .post(format!("{}/razorpay/v1/orders", sb.base))
        .basic_auth(
            &s.razorpay_key_id,
            Some(s.razorpay_key_secret.expose_secret()),
        )
        .json(&json!({"amount": 50000, "currency": "INR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 500);
    rzp_order(&sb, "after").await;
    assert_eq!(sb.state.request_count(GatewayKind::Razorpay), 4);

    let unknown = sb
        .http
        .get(format!("{}/control/faults/paypal", sb.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let bad_rate = sb
        .http
        .put(format!("{}/control/faults/stripe", sb.base))
        .json(&json!({"error_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_rate.status(), 400);
}

#[tokio::test]
async fn expired_stripe_session_cannot_be_paid() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let session = stripe_session(&sb, "exp").await;
    let id = session["id"].as_str().unwrap();
    let (status, body) = sb
        .control_post(&format!("/sessions/{id}/expire"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "expired");
    let (status, _) = sb
        .control_post(
            &format!("/sessions/{id}/pay"),
            json!({"outcome": "captured"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let events = sb.control_get("/events").await;
    assert_eq!(events[0]["event_type"], "checkout.session.expired");
}
