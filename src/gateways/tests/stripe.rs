use std::time::Duration;

use crate::config::StripeSettings;
use crate::gateways::webhook::{unix_now, verify_stripe};
use crate::gateways::*;
use crate::sandbox::Faults;
use crate::sandbox::testkit::*;

fn client(sb: &TestSandbox) -> StripeClient {
    StripeClient::from_settings(&sb.stripe_settings(), &fast_payments(&["stripe"]))
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn session_pay_fetch_and_refund_once_per_key() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let stripe = client(&sb);
    let req = order_request("ord_stripe_life");
    let money = req.money();

    let session = stripe.create_session(&req).await.unwrap();
    assert!(session.gateway_order_id.starts_with("cs_test_"));
    assert_eq!(session.status, SessionStatus::Open);
    assert_eq!(
        session.checkout_url.as_deref(),
        Some(format!("{}/pay/{}", sb.base, session.gateway_order_id).as_str())
    );
    let expires = session.expires_at.unwrap();
    assert_eq!(expires.timestamp(), req.expires_at.unwrap().timestamp());

    // Failed attempt: still open, the intent shows the failure.
    sb.pay(&session.gateway_order_id, "failed").await;
    let report = stripe
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Open);
    assert_eq!(report.payments[0].status, PaymentStatus::Failed);

    let paid = sb.pay(&session.gateway_order_id, "captured").await;
    let pi = paid["payment_id"].as_str().unwrap().to_owned();
    let report = stripe
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Paid);
    assert_eq!(report.reference.as_deref(), Some("ord_stripe_life"));
    assert_eq!(
        report
            .captured()
            .map(|p| p.payment_id.as_str())
            .collect::<Vec<_>>(),
        vec![pi.as_str()]
    );

    let refund = RefundRequest {
        payment_id: pi.clone(),
        amount: 10_000,
        currency: "INR".into(),
        idempotency_key: "ord_stripe_life:refund:1".into(),
        notes: Default::default(),
    };
    let a = stripe.refund(&refund).await.unwrap();
    let b = stripe.refund(&refund).await.unwrap();
    assert_eq!(a.refund_id, b.refund_id);
    assert_eq!(a.status, RefundStatus::Processed);
    assert_eq!(
        sb.control_get("/refunds").await["stripe"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let payment = stripe.fetch_payment(&pi, &money).await.unwrap();
    assert_eq!(payment.status, PaymentStatus::PartiallyRefunded);
    assert_eq!(payment.amount_refunded, 10_000);

    let too_much = RefundRequest {
        amount: 45_000,
        idempotency_key: "ord_stripe_life:refund:2".into(),
        ..refund.clone()
    };
    assert!(matches!(
        stripe.refund(&too_much).await,
        Err(GatewayError::Rejected { status: 400, code: Some(ref c), .. }) if c == "amount_too_large"
    ));

    assert_eq!(
        stripe
            .cancel_session(&session.gateway_order_id)
            .await
            .unwrap(),
        CancelOutcome::AlreadyPaid
    );
}

#[tokio::test]
async fn cancel_expires_an_open_session_and_says_so_by_webhook() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let receiver = spawn_receiver(0).await;
    sb.state.set_webhook_url(GatewayKind::Stripe, &receiver.url);
    let stripe = client(&sb);
    let session = stripe
        .create_session(&order_request("ord_stripe_cancel"))
        .await
        .unwrap();
    assert_eq!(
        stripe
            .cancel_session(&session.gateway_order_id)
            .await
            .unwrap(),
        CancelOutcome::Cancelled
    );
    // Again: already expired, still reported as cancelled.
    assert_eq!(
        stripe
            .cancel_session(&session.gateway_order_id)
            .await
            .unwrap(),
        CancelOutcome::Cancelled
    );
    assert!(eventually(Duration::from_secs(3), || receiver.bodies().len() == 1).await);
    let (h, b) = &receiver.bodies()[0];
    let secrets = sb.stripe_settings().webhook_secrets();
    let event = verify_stripe(h, b, &secrets, 300, unix_now()).unwrap();
    assert_eq!(event.kind, WebhookKind::CheckoutSessionExpired);
    assert_eq!(
        event.gateway_order_id.as_deref(),
        Some(session.gateway_order_id.as_str())
    );
}

#[tokio::test]
async fn lost_answer_is_retried_with_the_same_idempotency_key() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let stripe = client(&sb);
    sb.faults(
        GatewayKind::Stripe,
        Faults {
            error_next: 2,
            errors_after_processing: true,
            ..Default::default()
        },
    );
    let session = stripe
        .create_session(&order_request("ord_stripe_lost"))
        .await
        .unwrap();
    // Three requests reached the sandbox; one session exists.
    assert_eq!(sb.state.request_count(GatewayKind::Stripe), 3);
    let sessions = sb.control_get("/sessions").await;
    assert_eq!(sessions["stripe"].as_array().unwrap().len(), 1);
    assert_eq!(
        sessions["stripe"][0]["id"],
        session.gateway_order_id.as_str()
    );
}

#[tokio::test]
async fn timeouts_are_retried_then_reported_as_retryable() {
    let sb = spawn_sandbox(fast_sandbox_settings()).await;
    let settings = StripeSettings {
        timeout_ms: 100,
        ..sb.stripe_settings()
    };
    let stripe = StripeClient::from_settings(&settings, &fast_payments(&["stripe"]))
        .unwrap()
        .unwrap();
    sb.faults(
        GatewayKind::Stripe,
        Faults {
            timeout_next: 3,
            ..Default::default()
        },
    );
    let err = stripe
        .create_session(&order_request("ord_stripe_slow"))
        .await
        .unwrap_err();
    assert!(matches!(err, GatewayError::Timeout { .. }), "{err:?}");
    assert!(err.is_retryable() && err.maybe_applied());
    assert_eq!(sb.state.request_count(GatewayKind::Stripe), 3);
}
