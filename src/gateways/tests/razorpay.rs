use secrecy::SecretString;

use crate::config::{PaymentsSettings, RazorpaySettings};
use crate::gateways::*;
use crate::sandbox::Faults;
use crate::sandbox::testkit::*;

fn client(sb: &TestSandbox, payments: &PaymentsSettings) -> RazorpayClient {
    RazorpayClient::from_settings(&sb.razorpay_settings(), payments)
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn session_lifecycle_against_the_sandbox() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let rzp = client(&sb, &fast_payments(&["razorpay"]));
    let req = order_request("ord_rzp_life");

    let session = rzp.create_session(&req).await.unwrap();
    assert_eq!(session.gateway, GatewayKind::Razorpay);
    assert!(session.gateway_order_id.starts_with("order_"));
    assert_eq!((session.amount, session.currency.as_str()), (50_000, "INR"));
    assert_eq!(session.status, SessionStatus::Open);
    assert_eq!(session.client_params["key"], "rzp_test_sandbox");
    assert_eq!(
        session.client_params["order_id"],
        session.gateway_order_id.as_str()
    );
    let page = session.checkout_url.clone().unwrap();
    assert!(page.starts_with(&format!(
        "{}/pay/{}?callback_url=",
        sb.base, session.gateway_order_id
    )));

    let money = req.money();
    let report = rzp
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Open);
    assert!(report.payments.is_empty());
    assert_eq!(report.reference.as_deref(), Some("ord_rzp_life"));

    let paid = sb.pay(&session.gateway_order_id, "captured").await;
    let fields = &paid["callback"]["fields"];
    let payment_id = fields["razorpay_payment_id"].as_str().unwrap();
    let signature = fields["razorpay_signature"].as_str().unwrap();
    // The callback verifies against the order id we stored, and only that one.
    assert!(rzp.verify_checkout_callback(&session.gateway_order_id, payment_id, signature));
    let other = rzp
        .create_session(&order_request("ord_rzp_other"))
        .await
        .unwrap();
    assert!(!rzp.verify_checkout_callback(&other.gateway_order_id, payment_id, signature));

    let report = rzp
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Paid);
    assert_eq!(report.captured().count(), 1);
    let payment = rzp.fetch_payment(payment_id, &money).await.unwrap();
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!(
        payment.gateway_order_id.as_deref(),
        Some(session.gateway_order_id.as_str())
    );

    // Razorpay orders cannot be cancelled; a paid one says so.
    assert_eq!(
        rzp.cancel_session(&other.gateway_order_id).await.unwrap(),
        CancelOutcome::Unsupported
    );
    assert_eq!(
        rzp.cancel_session(&session.gateway_order_id).await.unwrap(),
        CancelOutcome::AlreadyPaid
    );

    // Asking with another amount than the order has is a mismatch.
    let wrong = Money::new(40_000, "INR");
    assert!(matches!(
        rzp.fetch_session(&session.gateway_order_id, &wrong).await,
        Err(GatewayError::Mismatch {
            field: "amount",
            ..
        })
    ));
    let wrong = Money::new(50_000, "USD");
    assert!(matches!(
        rzp.fetch_payment(payment_id, &wrong).await,
        Err(GatewayError::Mismatch {
            field: "currency",
            ..
        })
    ));
}

#[tokio::test]
async fn create_is_idempotent_even_when_the_answer_is_lost() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let rzp = client(&sb, &fast_payments(&["razorpay"]));
    let req = order_request("ord_rzp_idem");

    // The order is created, but the answer is a 500.
    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            error_next: 1,
            errors_after_processing: true,
            only_methods: vec!["POST".into()],
            ..Default::default()
        },
    );
    let first = rzp.create_session(&req).await.unwrap();
    let again = rzp.create_session(&req).await.unwrap();
    assert_eq!(first.gateway_order_id, again.gateway_order_id);
    let sessions = sb.control_get("/sessions").await;
    assert_eq!(sessions["razorpay"].as_array().unwrap().len(), 1);

    // Another idempotency key for the same order token is another order.
    let mut next = req.clone();
    next.idempotency_key = "ord_rzp_idem:payment_session:2".into();
    let second = rzp.create_session(&next).await.unwrap();
    assert_ne!(second.gateway_order_id, first.gateway_order_id);
}

#[tokio::test]
async fn create_finds_the_order_whose_answer_timed_out() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let settings = RazorpaySettings {
        timeout_ms: 100,
        ..sb.razorpay_settings()
    };
    let rzp = RazorpayClient::from_settings(&settings, &fast_payments(&["razorpay"]))
        .unwrap()
        .unwrap();
    sb.faults(
        GatewayKind::Razorpay,
        Faults {
            timeout_next: 1,
            errors_after_processing: true,
            only_methods: vec!["POST".into()],
            ..Default::default()
        },
    );
    let session = rzp
        .create_session(&order_request("ord_rzp_slow"))
        .await
        .unwrap();
    let sessions = sb.control_get("/sessions").await;
    let orders = sessions["razorpay"].as_array().unwrap();
    assert_eq!(
        orders.len(),
        1,
        "the retry found the first order instead of making another"
    );
    assert_eq!(orders[0]["id"], session.gateway_order_id.as_str());
}

#[tokio::test]
async fn refund_with_the_same_key_twice_refunds_once() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let rzp = client(&sb, &fast_payments(&["razorpay"]));
    let session = rzp
        .create_session(&order_request("ord_rzp_refund"))
        .await
        .unwrap();
    let paid = sb.pay(&session.gateway_order_id, "captured").await;
    let payment_id = paid["payment_id"].as_str().unwrap().to_owned();

    let partial = RefundRequest {
        payment_id: payment_id.clone(),
        amount: 20_000,
        currency: "INR".into(),
        idempotency_key: "ord_rzp_refund:refund:1".into(),
        notes: Default::default(),
    };
    let a = rzp.refund(&partial).await.unwrap();
    let b = rzp.refund(&partial).await.unwrap();
    assert_eq!(a.refund_id, b.refund_id);
    assert_eq!((a.amount, a.status), (20_000, RefundStatus::Processed));
    let refunds = sb.control_get("/refunds").await;
    assert_eq!(refunds["razorpay"].as_array().unwrap().len(), 1);

    // More than what is left is refused, like the real API.
    let too_much = RefundRequest {
        amount: 40_000,
        idempotency_key: "ord_rzp_refund:refund:2".into(),
        ..partial.clone()
    };
    match rzp.refund(&too_much).await {
        Err(GatewayError::Rejected { status: 400, .. }) => {}
        other => panic!("expected a 400 rejection, got {other:?}"),
    }
    let rest = RefundRequest {
        amount: 30_000,
        idempotency_key: "ord_rzp_refund:refund:3".into(),
        ..partial
    };
    rzp.refund(&rest).await.unwrap();
    let payment = rzp
        .fetch_payment(&payment_id, &Money::new(50_000, "INR"))
        .await
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    assert_eq!(payment.amount_refunded, 50_000);
}

#[tokio::test]
async fn invalid_requests_and_bad_keys_fail_without_retry() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let payments = fast_payments(&["razorpay"]);
    let rzp = client(&sb, &payments);
    let mut req = order_request("ord_rzp_bad");
    req.order_token = "x".repeat(41);
    assert!(matches!(
        rzp.create_session(&req).await,
        Err(GatewayError::InvalidRequest { .. })
    ));
    assert_eq!(sb.state.request_count(GatewayKind::Razorpay), 0);

    let wrong = RazorpaySettings {
        key_secret: Some(SecretString::from("nope")),
        ..sb.razorpay_settings()
    };
    let bad = RazorpayClient::from_settings(&wrong, &payments)
        .unwrap()
        .unwrap();
    let err = bad
        .create_session(&order_request("ord_rzp_auth"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GatewayError::Auth { status: 401, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(sb.state.request_count(GatewayKind::Razorpay), 1, "no retry");
    assert_eq!(bad.breaker().state(), BreakerState::Closed);

    let unconfigured = RazorpaySettings::default();
    assert!(
        RazorpayClient::from_settings(&unconfigured, &payments)
            .unwrap()
            .is_none()
    );
}
