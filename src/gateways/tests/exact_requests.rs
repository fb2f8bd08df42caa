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

use crate::config::{CaptureMethod, RazorpaySettings, StripeSettings};
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
    stripe_capturing(base, CaptureMethod::Automatic)
}

fn stripe_capturing(base: &str, capture_method: CaptureMethod) -> StripeClient {
    let settings = StripeSettings {
        secret_key: Some(SecretString::from("sk_test_exact")),
        webhook_secret: Some(SecretString::from("whsec_exact")),
        base_url: base.to_owned(),
        timeout_ms: 1_000,
        webhook_tolerance_secs: 300,
        capture_method,
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

fn stripe_intent(status: &str, amount: i64) -> Value {
    json!({"id": "pi_exact", "object": "payment_intent", "amount": amount, "currency": "inr",
           "status": status, "payment_method_types": ["card"], "latest_charge": "ch_exact"})
}

#[tokio::test]
async fn stripe_manual_capture_sessions_ask_to_authorize_only() {
    let req = order_request("ord_exact");
    let (base, script) = serve(vec![(
        200,
        vec![],
        stripe_session(50_000, "inr", "ord_exact"),
    )])
    .await;
    stripe_capturing(&base, CaptureMethod::Manual)
        .create_session(&req)
        .await
        .unwrap();
    let form = form_pairs(&script.seen.lock().unwrap()[0].body);
    assert!(form.contains(&(
        "payment_intent_data[capture_method]".into(),
        "manual".into()
    )));
    // The default leaves Stripe's automatic capture alone.
    let (base, script) = serve(vec![(
        200,
        vec![],
        stripe_session(50_000, "inr", "ord_exact"),
    )])
    .await;
    stripe(&base).create_session(&req).await.unwrap();
    let form = form_pairs(&script.seen.lock().unwrap()[0].body);
    assert!(!form.iter().any(|(k, _)| k.contains("capture_method")));
}

#[tokio::test]
async fn stripe_capture_sends_our_amount_and_key_and_reads_a_repeat() {
    let expected = Money::new(50_000, "INR");
    let unexpected_state = json!({"error": {"type": "invalid_request_error",
        "code": "payment_intent_unexpected_state",
        "message": "This PaymentIntent could not be captured because it has a status of succeeded."}});
    let (base, script) = serve(vec![
        (200, vec![], stripe_intent("succeeded", 50_000)),
        // Captured before (a re-run): read it instead.
        (400, vec![], unexpected_state.clone()),
        (200, vec![], stripe_intent("succeeded", 50_000)),
        // Not captured and not capturable: the refusal stands.
        (400, vec![], unexpected_state),
        (200, vec![], stripe_intent("canceled", 50_000)),
        // Another amount than our order's: a mismatch.
        (200, vec![], stripe_intent("succeeded", 40_000)),
    ])
    .await;
    let client = stripe(&base);
    let paid = client
        .capture("pi_exact", &expected, "ord_exact:capture")
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Captured);
    assert_eq!(paid.payment_id, "pi_exact");
    let again = client
        .capture("pi_exact", &expected, "ord_exact:capture")
        .await
        .unwrap();
    assert_eq!(again.status, PaymentStatus::Captured);
    assert!(matches!(
        client.capture("pi_exact", &expected, "k").await,
        Err(GatewayError::Rejected { status: 400, .. })
    ));
    assert!(matches!(
        client.capture("pi_exact", &expected, "k").await,
        Err(GatewayError::Mismatch {
            field: "amount",
            ..
        })
    ));
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].uri.path(), "/v1/payment_intents/pi_exact/capture");
    assert_eq!(seen[0].headers["idempotency-key"], "ord_exact:capture");
    assert_eq!(
        form_pairs(&seen[0].body),
        vec![("amount_to_capture".to_string(), "50000".to_string())]
    );
    assert_eq!(seen[2].method, Method::GET);
    assert_eq!(seen[2].uri.path(), "/v1/payment_intents/pi_exact");
}

#[tokio::test]
async fn stripe_void_cancels_the_intent_and_a_cancelled_one_is_voided() {
    let unexpected_state = |status: &str| {
        json!({"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state",
            "message": format!("You cannot cancel this PaymentIntent because it has a status of {status}.")}})
    };
    let (base, script) = serve(vec![
        (200, vec![], stripe_intent("canceled", 50_000)),
        (400, vec![], unexpected_state("canceled")),
        (200, vec![], stripe_intent("canceled", 50_000)),
        (400, vec![], unexpected_state("succeeded")),
        (200, vec![], stripe_intent("succeeded", 50_000)),
    ])
    .await;
    let client = stripe(&base);
    assert_eq!(client.void("pi_exact").await.unwrap(), VoidOutcome::Voided);
    assert_eq!(client.void("pi_exact").await.unwrap(), VoidOutcome::Voided);
    // A captured payment cannot be voided: the caller must refund.
    assert!(matches!(
        client.void("pi_exact").await,
        Err(GatewayError::Rejected { status: 400, .. })
    ));
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].uri.path(), "/v1/payment_intents/pi_exact/cancel");
    assert_eq!(seen[0].headers["idempotency-key"], "cancel:pi_exact");
}

#[tokio::test]
async fn stripe_refunds_report_the_gateways_status_and_reason() {
    let refund = |status: &str, reason: Value| {
        json!({"id": "re_exact", "object": "refund", "amount": 20_000, "currency": "inr",
               "payment_intent": "pi_exact", "charge": "ch_exact", "status": status,
               "failure_reason": reason})
    };
    let mut replies = vec![(200, vec![], refund("pending", Value::Null))];
    for (status, _) in STRIPE_REFUND_STATUSES {
        let reason = if *status == "failed" {
            json!("expired_or_canceled_card")
        } else {
            Value::Null
        };
        replies.push((200, vec![], refund(status, reason)));
    }
    let (base, script) = serve(replies).await;
    let client = stripe(&base);
    let req = RefundRequest {
        payment_id: "pi_exact".into(),
        amount: 20_000,
        currency: "INR".into(),
        idempotency_key: "ord_exact:refund:1".into(),
        notes: Default::default(),
    };
    // Accepted is not processed: the answer's own status is kept.
    assert_eq!(
        client.refund(&req).await.unwrap().status,
        RefundStatus::Pending
    );
    for (status, mapped) in STRIPE_REFUND_STATUSES {
        let got = client.fetch_refund("re_exact").await.unwrap();
        assert_eq!(got.status, *mapped, "stripe `{status}`");
        assert_eq!((got.amount, got.payment_id.as_str()), (20_000, "pi_exact"));
        // a cancelled refund has no reason of its own: it is named, so no retry is tried
        let reason = match *status {
            "failed" => Some("expired_or_canceled_card"),
            "canceled" => Some("canceled"),
            _ => None,
        };
        assert_eq!(got.failure_reason.as_deref(), reason, "stripe `{status}`");
        assert!(got.status != RefundStatus::Failed || !got.can_retry());
    }
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[1].method, Method::GET);
    assert_eq!(seen[1].uri.path(), "/v1/refunds/re_exact");
}

const STRIPE_REFUND_STATUSES: &[(&str, RefundStatus)] = &[
    ("pending", RefundStatus::Pending),
    ("requires_action", RefundStatus::Pending),
    ("succeeded", RefundStatus::Processed),
    ("failed", RefundStatus::Failed),
    ("canceled", RefundStatus::Failed),
];

fn rzp_payment(status: &str, amount: i64) -> Value {
    json!({"id": "pay_exact", "entity": "payment", "amount": amount, "currency": "INR",
           "status": status, "order_id": "order_exact", "amount_refunded": 0,
           "captured": status == "captured", "method": "upi"})
}

#[tokio::test]
async fn razorpay_capture_sends_amount_and_currency_and_reads_a_repeat() {
    let expected = Money::new(50_000, "INR");
    let already = json!({"error": {"code": "BAD_REQUEST_ERROR",
        "description": "This payment has already been captured"}});
    let (base, script) = serve(vec![
        (200, vec![], rzp_payment("captured", 50_000)),
        (400, vec![], already.clone()),
        (200, vec![], rzp_payment("captured", 50_000)),
        // Refused and still only authorized: the refusal stands.
        (400, vec![], already),
        (200, vec![], rzp_payment("authorized", 50_000)),
        (200, vec![], rzp_payment("captured", 40_000)),
    ])
    .await;
    let client = razorpay(&base);
    let paid = client
        .capture("pay_exact", &expected, "ord_exact:capture")
        .await
        .unwrap();
    assert_eq!(paid.status, PaymentStatus::Captured);
    let again = client.capture("pay_exact", &expected, "k").await.unwrap();
    assert_eq!(again.status, PaymentStatus::Captured);
    assert!(matches!(
        client.capture("pay_exact", &expected, "k").await,
        Err(GatewayError::Rejected { status: 400, .. })
    ));
    assert!(matches!(
        client.capture("pay_exact", &expected, "k").await,
        Err(GatewayError::Mismatch {
            field: "amount",
            ..
        })
    ));
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[0].method, Method::POST);
    assert_eq!(seen[0].uri.path(), "/v1/payments/pay_exact/capture");
    let body: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body, json!({"amount": 50_000, "currency": "INR"}));
    assert_eq!(seen[2].method, Method::GET);
    assert_eq!(seen[2].uri.path(), "/v1/payments/pay_exact");
    // A rejected capture is not retried blindly: one POST per call.
    assert_eq!(seen.iter().filter(|s| s.method == Method::POST).count(), 4);
}

#[tokio::test]
async fn razorpay_void_makes_no_call_and_refunds_are_read_back() {
    let refund = |status: &str| {
        json!({"id": "rfnd_exact", "entity": "refund", "amount": 20_000, "currency": "INR",
               "payment_id": "pay_exact", "status": status})
    };
    let (base, script) = serve(vec![
        (200, vec![], refund("pending")),
        (200, vec![], refund("processed")),
        (200, vec![], refund("failed")),
    ])
    .await;
    let client = razorpay(&base);
    assert_eq!(
        client.void("pay_exact").await.unwrap(),
        VoidOutcome::LeftToLapse
    );
    assert!(script.seen.lock().unwrap().is_empty());
    for mapped in [
        RefundStatus::Pending,
        RefundStatus::Processed,
        RefundStatus::Failed,
    ] {
        let got = client.fetch_refund("rfnd_exact").await.unwrap();
        assert_eq!(got.status, mapped);
        assert_eq!(got.payment_id, "pay_exact");
    }
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].uri.path(), "/v1/refunds/rfnd_exact");
}
