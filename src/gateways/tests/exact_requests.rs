//! Exact requests and answer validation, against a server that records what
//! it receives and answers from a script.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::config::{RazorpaySettings, StripeSettings};
use crate::gateways::*;
use crate::sandbox::testkit::{fast_payments, order_request};

#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// Status, extra headers, JSON body.
type Reply = (u16, Vec<(&'static str, &'static str)>, Value);

#[derive(Clone, Default)]
struct Script {
    seen: Arc<Mutex<Vec<Seen>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
}

async fn record(
    State(script): State<Script>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    script.seen.lock().unwrap().push(Seen {
        method,
        uri,
        headers,
        body,
    });
    let (status, headers, body) = script.replies.lock().unwrap().pop_front().unwrap_or((
        599,
        vec![],
        json!({"error": "script exhausted"}),
    ));
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
    for (k, v) in headers {
        response.headers_mut().insert(k, v.parse().unwrap());
    }
    response
}

async fn serve(replies: Vec<Reply>) -> (String, Script) {
    let script = Script::default();
    script.replies.lock().unwrap().extend(replies);
    let app = Router::new().fallback(record).with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), script)
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body))).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn stripe(base: &str) -> StripeClient {
    let settings = StripeSettings {
        secret_key: Some(SecretString::from("sk_test_exact")),
        webhook_secret: Some(SecretString::from("whsec_exact")),
        base_url: base.to_owned(),
        timeout_ms: 1_000,
        webhook_tolerance_secs: 300,
    };
    StripeClient::from_settings(&settings, &fast_payments(&["stripe"]))
        .unwrap()
        .unwrap()
}

fn razorpay(base: &str) -> RazorpayClient {
    let settings = RazorpaySettings {
        key_id: "rzp_test_exact".into(),
        key_secret: Some(SecretString::from("exact_secret")),
        webhook_secret: Some(SecretString::from("whsec")),
        base_url: base.to_owned(),
        timeout_ms: 1_000,
        checkout_url_template: None,
    };
    RazorpayClient::from_settings(&settings, &fast_payments(&["razorpay"]))
        .unwrap()
        .unwrap()
}

fn stripe_session(amount: i64, currency: &str, reference: &str) -> Value {
    json!({
        "id": "cs_test_exact", "object": "checkout.session", "amount_total": amount,
        "currency": currency, "client_reference_id": reference, "status": "open",
        "payment_status": "unpaid", "url": "https://checkout.stripe.com/c/pay/cs_test_exact",
        "expires_at": 1_900_000_000
    })
}

#[tokio::test]
async fn stripe_create_session_request_is_exact() {
    let req = order_request("ord_exact");
    let (base, script) = serve(vec![(
        200,
        vec![],
        stripe_session(50_000, "inr", "ord_exact"),
    )])
    .await;
    let session = stripe(&base).create_session(&req).await.unwrap();
    assert_eq!(
        session.checkout_url.as_deref(),
        Some("https://checkout.stripe.com/c/pay/cs_test_exact")
    );
    assert_eq!(session.client_params["session_id"], "cs_test_exact");

    let seen = script.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.uri.path(), "/v1/checkout/sessions");
    assert_eq!(seen.headers["authorization"], "Bearer sk_test_exact");
    assert_eq!(seen.headers["idempotency-key"], "ord_exact:payment_session");
    assert_eq!(
        seen.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let form = form_pairs(&seen.body);
    let expect = [
        ("mode", "payment".to_string()),
        ("line_items[0][price_data][currency]", "inr".into()),
        ("line_items[0][price_data][unit_amount]", "50000".into()),
        (
            "line_items[0][price_data][product_data][name]",
            req.description.clone(),
        ),
        ("line_items[0][quantity]", "1".into()),
        ("client_reference_id", "ord_exact".into()),
        ("success_url", req.return_url.clone()),
        ("cancel_url", req.cancel_url.clone()),
        (
            "expires_at",
            req.expires_at.unwrap().timestamp().to_string(),
        ),
        ("metadata[cart]", "c1".into()),
        ("customer_email", "student@example.com".into()),
    ];
    for (k, v) in expect {
        assert!(
            form.contains(&(k.to_string(), v.clone())),
            "missing {k}={v} in {form:?}"
        );
    }
}

#[tokio::test]
async fn stripe_answers_that_differ_from_the_request_are_mismatches() {
    let req = order_request("ord_exact");
    for (reply, field) in [
        (stripe_session(40_000, "inr", "ord_exact"), "amount"),
        (stripe_session(50_000, "usd", "ord_exact"), "currency"),
        (
            stripe_session(50_000, "inr", "someone_else"),
            "client_reference_id",
        ),
    ] {
        let (base, _) = serve(vec![(200, vec![], reply)]).await;
        match stripe(&base).create_session(&req).await {
            Err(GatewayError::Mismatch {
                field: f,
                object_id,
                ..
            }) => {
                assert_eq!(f, field);
                assert_eq!(object_id.as_deref(), Some("cs_test_exact"));
            }
            other => panic!("expected a {field} mismatch, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn razorpay_create_looks_up_then_posts_and_checks_the_answer() {
    let req = order_request("ord_exact");
    let order = json!({
        "id": "order_exact", "entity": "order", "amount": 50_000, "currency": "USD",
        "receipt": "ord_exact", "status": "created", "notes": {}
    });
    let (base, script) = serve(vec![
        (
            200,
            vec![],
            json!({"entity": "collection", "count": 0, "items": []}),
        ),
        (200, vec![], order),
    ])
    .await;
    match razorpay(&base).create_session(&req).await {
        Err(GatewayError::Mismatch {
            field: "currency",
            object_id,
            ..
        }) => {
            assert_eq!(object_id.as_deref(), Some("order_exact"))
        }
        other => panic!("expected a currency mismatch, got {other:?}"),
    }
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("rzp_test_exact:exact_secret")
    );
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].uri.path(), "/v1/orders");
    assert_eq!(seen[0].uri.query(), Some("receipt=ord_exact&count=100"));
    assert_eq!(seen[1].method, Method::POST);
    assert_eq!(seen[1].uri.path(), "/v1/orders");
    assert_eq!(seen[1].headers["authorization"], auth.as_str());
    let body: Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(body["amount"], 50_000);
    assert_eq!(body["currency"], "INR");
    assert_eq!(body["receipt"], "ord_exact");
    assert_eq!(
        body["notes"]["checkout_idempotency_key"],
        "ord_exact:payment_session"
    );
    assert_eq!(body["notes"]["cart"], "c1");
}

#[tokio::test]
async fn razorpay_refund_sends_the_idempotency_header_and_checks_the_amount() {
    let refund = |amount: i64| {
        json!({"id": "rfnd_exact", "entity": "refund", "amount": amount, "currency": "INR",
               "payment_id": "pay_exact", "status": "processed"})
    };
    let (base, script) = serve(vec![
        // Rate limited first: retried after Retry-After.
        (
            429,
            vec![("retry-after", "0")],
            json!({"error": {"code": "BAD_REQUEST_ERROR", "description": "Too many requests"}}),
        ),
        (200, vec![], refund(20_000)),
        (200, vec![], refund(10_000)),
    ])
    .await;
    let client = razorpay(&base);
    let req = RefundRequest {
        payment_id: "pay_exact".into(),
        amount: 20_000,
        currency: "INR".into(),
        idempotency_key: "ord_exact:refund:1".into(),
        notes: Default::default(),
    };
    let done = client.refund(&req).await.unwrap();
    assert_eq!(
        (done.refund_id.as_str(), done.amount),
        ("rfnd_exact", 20_000)
    );
    {
        let seen = script.seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        for s in seen.iter() {
            assert_eq!(s.uri.path(), "/v1/payments/pay_exact/refund");
            assert_eq!(s.headers["x-refund-idempotency"], "ord_exact:refund:1");
        }
        let body: Value = serde_json::from_slice(&seen[1].body).unwrap();
        assert_eq!(body["amount"], 20_000);
    }
    // The gateway refunding another amount than asked is a mismatch.
    assert!(matches!(
        client.refund(&req).await,
        Err(GatewayError::Mismatch {
            field: "amount",
            ..
        })
    ));
}
