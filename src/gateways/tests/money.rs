//! Capture, void and refunds that settle later, through our clients against the
//! sandbox on real sockets, with its webhooks verified and parsed by our intake's
//! parser.

use std::time::Duration;

use crate::config::{CaptureMethod, SandboxSettings};
use crate::gateways::webhook::{unix_now, verify_razorpay, verify_stripe};
use crate::gateways::*;
use crate::sandbox::Faults;
use crate::sandbox::testkit::*;

fn razorpay(sb: &TestSandbox) -> RazorpayClient {
    RazorpayClient::from_settings(&sb.razorpay_settings(), &fast_payments(&["razorpay"]))
        .unwrap()
        .unwrap()
}

fn stripe(sb: &TestSandbox, capture_method: CaptureMethod) -> StripeClient {
    let settings = crate::config::StripeSettings {
        capture_method,
        ..sb.stripe_settings()
    };
    StripeClient::from_settings(&settings, &fast_payments(&["stripe"]))
        .unwrap()
        .unwrap()
}

/// A sandbox whose webhooks of both gateways go to one receiver.
async fn sandbox(settings: SandboxSettings) -> (TestSandbox, Receiver) {
    let sb = spawn_sandbox(fast_sandbox_settings_with(settings)).await;
    let receiver = spawn_receiver(0).await;
    sb.state
        .set_webhook_url(GatewayKind::Razorpay, &receiver.url);
    sb.state.set_webhook_url(GatewayKind::Stripe, &receiver.url);
    (sb, receiver)
}

fn fast_sandbox_settings_with(settings: SandboxSettings) -> SandboxSettings {
    let fast = fast_sandbox_settings();
    SandboxSettings {
        webhook_max_attempts: fast.webhook_max_attempts,
        webhook_retry_base_ms: fast.webhook_retry_base_ms,
        webhook_retry_max_ms: fast.webhook_retry_max_ms,
        webhook_timeout_ms: fast.webhook_timeout_ms,
        fault_hang_ms: fast.fault_hang_ms,
        ..settings
    }
}

/// Every webhook received so far, verified and parsed as intake does.
fn events(sb: &TestSandbox, receiver: &Receiver) -> Vec<WebhookEvent> {
    let rzp = sb.razorpay_settings().webhook_secrets();
    let stripe = sb.stripe_settings().webhook_secrets();
    receiver
        .bodies()
        .iter()
        .map(|(h, b)| {
            if h.contains_key(webhook::RAZORPAY_SIGNATURE_HEADER) {
                verify_razorpay(h, b, &rzp).unwrap()
            } else {
                verify_stripe(h, b, &stripe, 300, unix_now()).unwrap()
            }
        })
        .collect()
}

async fn events_until(sb: &TestSandbox, receiver: &Receiver, n: usize) -> Vec<WebhookEvent> {
    assert!(
        eventually(Duration::from_secs(5), || receiver.bodies().len() >= n).await,
        "expected {n} webhooks, got {:?}",
        events(sb, receiver)
            .iter()
            .map(|e| e.event_type.clone())
            .collect::<Vec<_>>()
    );
    events(sb, receiver)
}

fn types(events: &[WebhookEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

#[tokio::test]
async fn razorpay_manual_capture_stops_at_authorized_and_captures_once() {
    let (sb, receiver) = sandbox(SandboxSettings {
        razorpay_manual_capture: true,
        ..Default::default()
    })
    .await;
    let rzp = razorpay(&sb);
    let req = order_request("ord_rzp_manual");
    let money = req.money();
    let session = rzp.create_session(&req).await.unwrap();
    let paid = sb.pay(&session.gateway_order_id, "captured").await;
    let pay_id = paid["payment_id"].as_str().unwrap().to_owned();

    let report = rzp
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Attempted);
    assert_eq!(report.payments[0].status, PaymentStatus::Authorized);
    let first = events_until(&sb, &receiver, 1).await;
    assert_eq!(types(&first), ["payment.authorized"]);

    let captured = rzp
        .capture(&pay_id, &money, "ord_rzp_manual:capture")
        .await
        .unwrap();
    assert_eq!(captured.status, PaymentStatus::Captured);
    // Again (a re-run after a lost answer): the same payment, not a second capture.
    let again = rzp
        .capture(&pay_id, &money, "ord_rzp_manual:capture")
        .await
        .unwrap();
    assert_eq!(again.status, PaymentStatus::Captured);
    let all = events_until(&sb, &receiver, 3).await;
    assert_eq!(
        types(&all),
        ["payment.authorized", "payment.captured", "order.paid"]
    );
    assert_eq!(all[1].status, Some(PaymentStatus::Captured));
    let report = rzp
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Paid);
    // Another amount than authorized is refused by the gateway, never partially taken.
    assert!(matches!(
        rzp.capture(&pay_id, &Money::new(40_000, "INR"), "k").await,
        Err(GatewayError::Mismatch { .. })
    ));
    assert_eq!(rzp.void(&pay_id).await.unwrap(), VoidOutcome::LeftToLapse);
}

#[tokio::test]
async fn razorpay_authorization_nobody_captures_is_refunded_by_the_gateway() {
    let (sb, receiver) = sandbox(SandboxSettings {
        razorpay_manual_capture: true,
        authorization_ttl_ms: 150,
        ..Default::default()
    })
    .await;
    let rzp = razorpay(&sb);
    let req = order_request("ord_rzp_lapse");
    let session = rzp.create_session(&req).await.unwrap();
    let paid = sb.pay(&session.gateway_order_id, "captured").await;
    let pay_id = paid["payment_id"].as_str().unwrap().to_owned();
    let all = events_until(&sb, &receiver, 2).await;
    assert_eq!(types(&all), ["payment.authorized", "refund.processed"]);
    assert_eq!(all[1].refund_status, Some(RefundStatus::Processed));
    assert_eq!(
        all[1].payload["payload"]["payment"]["entity"]["captured"],
        false
    );
    let payment = rzp.fetch_payment(&pay_id, &req.money()).await.unwrap();
    assert_eq!(payment.status, PaymentStatus::Refunded);
    // Too late to capture.
    assert!(matches!(
        rzp.capture(&pay_id, &req.money(), "k").await,
        Err(GatewayError::Rejected { status: 400, .. })
    ));
}

#[tokio::test]
async fn stripe_manual_sessions_authorize_then_capture_or_void() {
    let (sb, _receiver) = sandbox(SandboxSettings::default()).await;
    let client = stripe(&sb, CaptureMethod::Manual);
    let req = order_request("ord_stripe_manual");
    let money = req.money();
    let session = client.create_session(&req).await.unwrap();
    let pi = sb.pay(&session.gateway_order_id, "captured").await["payment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = client
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Attempted, "complete, unpaid");
    assert_eq!(report.payments[0].status, PaymentStatus::Authorized);

    let captured = client
        .capture(&pi, &money, "ord_stripe_manual:capture")
        .await
        .unwrap();
    assert_eq!(captured.status, PaymentStatus::Captured);
    // The same key replays; another key finds it captured already.
    for key in ["ord_stripe_manual:capture", "another"] {
        let again = client.capture(&pi, &money, key).await.unwrap();
        assert_eq!(again.status, PaymentStatus::Captured);
    }
    let report = client
        .fetch_session(&session.gateway_order_id, &money)
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Paid);
    assert_eq!(report.payments[0].amount_refunded, 0);
    // Captured money is not voided: it must be refunded.
    assert!(client.void(&pi).await.is_err());

    // A second order that cannot be fulfilled: void, twice, then no capture.
    let req = order_request("ord_stripe_void");
    let session = client.create_session(&req).await.unwrap();
    let pi = sb.pay(&session.gateway_order_id, "captured").await["payment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(client.void(&pi).await.unwrap(), VoidOutcome::Voided);
    assert_eq!(client.void(&pi).await.unwrap(), VoidOutcome::Voided);
    assert!(matches!(
        client.capture(&pi, &money, "ord_stripe_void:capture").await,
        Err(GatewayError::Rejected { status: 400, .. })
    ));
    let payment = client.fetch_payment(&pi, &money).await.unwrap();
    assert_eq!(payment.status, PaymentStatus::Failed, "canceled");
}

#[tokio::test]
async fn stripe_authorization_nobody_captures_is_cancelled() {
    let (sb, receiver) = sandbox(SandboxSettings {
        authorization_ttl_ms: 150,
        ..Default::default()
    })
    .await;
    let client = stripe(&sb, CaptureMethod::Manual);
    let req = order_request("ord_stripe_lapse");
    let session = client.create_session(&req).await.unwrap();
    let pi = sb.pay(&session.gateway_order_id, "captured").await["payment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let all = events_until(&sb, &receiver, 2).await;
    assert_eq!(
        types(&all),
        ["checkout.session.completed", "payment_intent.canceled"]
    );
    assert_eq!(all[1].payment_id.as_deref(), Some(pi.as_str()));
    assert_eq!(
        all[1].payload["data"]["object"]["cancellation_reason"],
        "automatic"
    );
}

#[tokio::test]
async fn refunds_stay_pending_then_settle_processed_or_failed() {
    let (sb, receiver) = sandbox(SandboxSettings {
        refund_pending_ms: 200,
        ..Default::default()
    })
    .await;
    let rzp = razorpay(&sb);
    let client = stripe(&sb, CaptureMethod::Automatic);
    let mut expected_events = 0;
    for gateway in [GatewayKind::Razorpay, GatewayKind::Stripe] {
        let gw: &dyn Gateway = match gateway {
            GatewayKind::Razorpay => &rzp,
            GatewayKind::Stripe => &client,
        };
        for fails in [false, true] {
            let token = format!("ord_{gateway}_{fails}");
            let req = order_request(&token);
            let session = gw.create_session(&req).await.unwrap();
            let payment_id = sb.pay(&session.gateway_order_id, "captured").await["payment_id"]
                .as_str()
                .unwrap()
                .to_owned();
            expected_events += match gateway {
                GatewayKind::Razorpay => 3,
                GatewayKind::Stripe => 1,
            };
            if fails {
                sb.faults(
                    gateway,
                    Faults {
                        refund_fail_next: 1,
                        ..Default::default()
                    },
                );
            }
            let refund = gw
                .refund(&RefundRequest {
                    payment_id: payment_id.clone(),
                    amount: 20_000,
                    currency: "INR".into(),
                    idempotency_key: format!("{token}:refund"),
                    notes: Default::default(),
                })
                .await
                .unwrap();
            // Accepted, not yet processed: the answer says so.
            assert_eq!(refund.status, RefundStatus::Pending, "{gateway} {fails}");
            let read = gw.fetch_refund(&refund.refund_id).await.unwrap();
            assert_eq!(read.status, RefundStatus::Pending);
            let settled = if fails {
                RefundStatus::Failed
            } else {
                RefundStatus::Processed
            };
            let refund_id = refund.refund_id.as_str();
            assert!(
                eventually_async(|| async move {
                    gw.fetch_refund(refund_id).await.unwrap().status == settled
                })
                .await,
                "{gateway} refund never became {settled:?}"
            );
            let read = gw.fetch_refund(&refund.refund_id).await.unwrap();
            assert_eq!(
                read.failure_reason.is_some(),
                fails && gateway == GatewayKind::Stripe
            );
            // A failed refund gives the amount back to the payment.
            let payment = gw.fetch_payment(&payment_id, &req.money()).await.unwrap();
            assert_eq!(payment.amount_refunded, if fails { 0 } else { 20_000 });

            // Stripe: charge.refunded at once; then refund.updated and
            // charge.refund.updated (and refund.failed). Razorpay: one event.
            let (types_now, refund_events): (&[&str], usize) = match (gateway, fails) {
                (GatewayKind::Razorpay, false) => (&["refund.processed"], 1),
                (GatewayKind::Razorpay, true) => (&["refund.failed"], 1),
                (GatewayKind::Stripe, false) => (
                    &["charge.refunded", "refund.updated", "charge.refund.updated"],
                    2,
                ),
                (GatewayKind::Stripe, true) => (
                    &[
                        "charge.refunded",
                        "refund.updated",
                        "charge.refund.updated",
                        "refund.failed",
                    ],
                    3,
                ),
            };
            expected_events += types_now.len();
            let all = events_until(&sb, &receiver, expected_events).await;
            let last = &all[all.len() - types_now.len()..];
            assert_eq!(types(last), types_now, "{gateway} {fails}");
            for event in &last[last.len() - refund_events..] {
                assert_eq!(event.refund_id.as_deref(), Some(refund.refund_id.as_str()));
                assert_eq!(event.refund_status, Some(settled));
                assert_eq!(event.amount, Some(20_000));
                assert_eq!(event.payment_id.as_deref(), Some(payment_id.as_str()));
            }
        }
    }
}

/// Polls an async check every 20 ms for up to 5 s.
async fn eventually_async<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..250 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
